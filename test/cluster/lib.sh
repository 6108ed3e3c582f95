# Helpers shared by the cluster scripts. Sourced after env.sh, never run.

say() { printf '[cluster] %s\n' "$*" >&2; }

# pid_file NAME -> the pid file of a component started by these scripts.
pid_file() { echo "$CLUSTER_RUN/$1.pid"; }
log_file() { echo "$CLUSTER_LOGS/$1.log"; }

# pid_alive PIDFILE [EXPECTED]: true when the file names a live process whose command line contains
# EXPECTED (guards against a stale pid file whose number was reused by something else).
pid_alive() {
  local f=$1 want=${2:-} pid
  [ -s "$f" ] || return 1
  pid=$(cat "$f" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [ -d "/proc/$pid" ] || return 1
  # a zombie is not alive
  [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] || return 1
  if [ -n "$want" ]; then
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$want" || return 1
  fi
  return 0
}

# component_alive NAME: the pid file of NAME exists and names a live process of NAME.
component_alive() { pid_alive "$(pid_file "$1")" "$(component_match "$1")"; }

# What a component's command line contains (the multi-call binary runs under its component's name).
component_match() {
  case $1 in
    registry) echo docker-registry ;;
    containerd) echo "$CLUSTER_STATE/containerd.toml" ;;
    *) echo "$1" ;;
  esac
}

# tail_log NAME|PATH [LINES]: print the end of a component's log to stderr.
tail_log() {
  local f=$1 n=${2:-40}
  [ -f "$f" ] || f=$(log_file "$1")
  if [ -f "$f" ]; then
    printf -- '----- last %s lines of %s -----\n' "$n" "$f" >&2
    tail -n "$n" "$f" >&2
    printf -- '----- end of %s -----\n' "$f" >&2
  else
    printf 'no log file %s\n' "$f" >&2
  fi
}

# die NAME MESSAGE: report a failure of component NAME (its log tail included) and exit 1.
die() {
  local name=$1
  shift
  say "FAILED: $*"
  [ -n "$name" ] && tail_log "$name"
  exit 1
}

# start_daemon NAME CMD...: start CMD in the background in a session of its own (so that it
# outlives the shell, its process group and whatever ran us), stdout and stderr appended to the
# component's log, pid in its pid file. Does nothing when the component already runs.
start_daemon() {
  local name=$1
  shift
  local pf log
  pf=$(pid_file "$name")
  log=$(log_file "$name")
  if component_alive "$name"; then
    say "$name already runs (pid $(cat "$pf"))"
    return 0
  fi
  mkdir -p "$CLUSTER_RUN" "$CLUSTER_LOGS"
  printf '\n===== %s starting %s: %s =====\n' "$(date -u +%FT%TZ)" "$name" "$*" >>"$log"
  setsid "$@" >>"$log" 2>&1 </dev/null &
  echo $! >"$pf"
  sleep 0.2
  component_alive "$name" || die "$name" "$name exited right after its start"
  say "started $name (pid $(cat "$pf"), log $log)"
}

# wait_for NAME SECONDS WHAT CMD...: poll CMD (quietly) every half second until it succeeds; fail
# with NAME's log when SECONDS pass or when NAME's process dies meanwhile.
wait_for() {
  local name=$1 secs=$2 what=$3
  shift 3
  local deadline=$((SECONDS + secs))
  while ! "$@" >/dev/null 2>&1; do
    if [ -n "$name" ] && [ -f "$(pid_file "$name")" ] && ! component_alive "$name"; then
      die "$name" "$name died while waiting for: $what"
    fi
    if ((SECONDS >= deadline)); then
      die "$name" "timed out after ${secs}s waiting for: $what"
    fi
    sleep 0.5
  done
}

# stop_pid PID [SECONDS]: SIGTERM, then SIGKILL after SECONDS (default 15), then wait for it to go.
stop_pid() {
  local pid=$1 secs=${2:-15} i
  [ -d "/proc/$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < secs * 5; i++)); do
    [ -d "/proc/$pid" ] || return 0
    [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] || return 0
    sleep 0.2
  done
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 25; i++)); do
    [ -d "/proc/$pid" ] || return 0
    [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] || return 0
    sleep 0.2
  done
}

# stop_pids SECONDS PID...: SIGTERM to all, SIGKILL to those still there after SECONDS.
stop_pids() {
  local secs=$1 pid i left
  shift
  (($#)) || return 0
  kill -TERM "$@" 2>/dev/null
  for ((i = 0; i < secs * 5; i++)); do
    left=0
    for pid; do [ -d "/proc/$pid" ] && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] && left=1; done
    ((left)) || return 0
    sleep 0.2
  done
  kill -KILL "$@" 2>/dev/null
  sleep 0.2
}

# stop_component NAME [SECONDS]: stop the process named by NAME's pid file, if it still is NAME.
stop_component() {
  local name=$1 pf
  pf=$(pid_file "$name")
  if component_alive "$name"; then
    say "stopping $name (pid $(cat "$pf"))"
    stop_pid "$(cat "$pf")" "${2:-15}"
  fi
  rm -f "$pf"
}

kctl() { "$CLUSTER_BIN/kubectl" --kubeconfig "$KUBECONFIG_PATH" "$@"; }
ctr_k8s() { ctr --address "$CONTAINERD_SOCK" --namespace k8s.io "$@"; }

# The components of the cluster, in start order (dockerd is handled by docker-up.sh).
CLUSTER_COMPONENTS=(registry containerd etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)

# Helpers shared by the cluster scripts. Sourced after env.sh, never run.

say() { printf '[cluster] %s\n' "$*" >&2; }

# pid_file NAME -> the pid file of a component started by these scripts.
pid_file() { echo "$CLUSTER_RUN/$1.pid"; }
log_file() { echo "$CLUSTER_LOGS/$1.log"; }

# proc_stat_field PID N: field N (1-based, as in proc(5)) of /proc/PID/stat; the command name
# (field 2, in parentheses, may hold spaces) is skipped by reading after its closing parenthesis.
proc_stat_field() {
  local n=$2 stat rest
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  rest=${stat##*) }
  # shellcheck disable=SC2086
  set -- $rest
  ((n >= 3 && n - 3 < $#)) || return 1
  shift $((n - 3))
  echo "$1"
}

# pid_exiting PID: true when PID exists but is on its way out: a zombie (Z), dead (X), or its main
# thread is in do_exit (PF_EXITING, 0x4, in the flags field), e.g. right after SIGKILL, while the
# kernel still tears it down and its ports may still be bound.
pid_exiting() {
  local state flags
  [ -d "/proc/$1" ] || return 1
  state=$(proc_stat_field "$1" 3) || return 1
  case $state in Z | X | x) return 0 ;; esac
  flags=$(proc_stat_field "$1" 9) || return 1
  (((flags & 0x4) != 0))
}

# pid_alive PIDFILE [EXPECTED]: true when the file names a live process whose command line contains
# EXPECTED (guards against a stale pid file whose number was reused by something else). A process
# that is exiting (pid_exiting) is not alive.
pid_alive() {
  local f=$1 want=${2:-} pid
  [ -s "$f" ] || return 1
  pid=$(cat "$f" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [ -d "/proc/$pid" ] || return 1
  ! pid_exiting "$pid" || return 1
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
    registry-auth) echo "$AUTH_REGISTRY_DIR/config.yml" ;;
    containerd) echo "$CLUSTER_STATE/containerd.toml" ;;
    coredns) echo "$CLUSTER_STATE/Corefile" ;;
    *) echo "$1" ;;
  esac
}

# component_pid NAME: the pid in NAME's pid file (empty when there is none).
component_pid() { cat "$(pid_file "$1")" 2>/dev/null || true; }

# component_ports NAME: the TCP ports NAME listens on (start_daemon waits until they are free).
component_ports() {
  case $1 in
    registry) echo "$REGISTRY_PORT" ;;
    registry-auth) echo "$AUTH_REGISTRY_PORT" ;;
    etcd) echo "2379 2380 2381" ;;
    kube-apiserver) echo "$API_PORT" ;;
    kube-controller-manager) echo 10257 ;;
    kube-scheduler) echo 10259 ;;
    kubelet) echo "10250 10248" ;;
    kube-proxy) echo "10256 10249" ;;
    coredns) echo "$COREDNS_DNS_PORT $COREDNS_READY_PORT" ;;
  esac
}

# port_listening PORT: some socket listens on TCP PORT (any address, IPv4 or IPv6).
port_listening() {
  local hex
  hex=$(printf ':%04X' "$1")
  awk -v p="$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { found = 1 } END { exit !found }' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# settle_component NAME [SECONDS]: when NAME's process still exists but is exiting (see pid_exiting),
# wait for it to be gone; then, when NAME is not alive, wait for its ports to be free. Bounded by
# SECONDS (default 30); fails with NAME's log when they pass.
settle_component() {
  local name=$1 secs=${2:-30} pid deadline port
  deadline=$((SECONDS + secs))
  pid=$(component_pid "$name")
  if [[ $pid =~ ^[0-9]+$ ]] && pid_exiting "$pid"; then
    say "$name (pid $pid) is still shutting down: waiting for it to exit"
    while [ -d "/proc/$pid" ] && pid_exiting "$pid" && [ "$(proc_stat_field "$pid" 3)" != Z ]; do
      ((SECONDS < deadline)) || die "$name" "$name (pid $pid) was still exiting after ${secs}s"
      sleep 0.2
    done
  fi
  component_alive "$name" && return 0
  for port in $(component_ports "$name"); do
    if port_listening "$port"; then
      say "port $port of $name is still bound (the previous $name is going away): waiting for it"
      while port_listening "$port"; do
        ((SECONDS < deadline)) || die "$name" "port $port of $name was still bound after ${secs}s (see: ss -ltnp 'sport = :$port')"
        sleep 0.2
      done
    fi
  done
}

# component_healthy NAME: NAME's own health check answers (quick: one local request, 5 s at most).
component_healthy() {
  case $1 in
    registry) curl -fsS -m 5 "http://127.0.0.1:$REGISTRY_PORT/v2/" ;;
    # verifies the certificate against the registry's own CA and logs in
    registry-auth) curl -fsS -m 5 --cacert "$AUTH_REGISTRY_DIR/ca.crt" -u "$AUTH_REGISTRY_USER:$(cat "$AUTH_REGISTRY_DIR/password" 2>/dev/null)" "https://$(auth_registry_host)/v2/" ;;
    containerd) timeout 5 ctr --address "$CONTAINERD_SOCK" version ;;
    etcd) curl -fsS -m 5 "$ETCD_CLIENT_URL/health" ;;
    kube-apiserver) kctl --request-timeout=5s get --raw /readyz ;;
    kube-controller-manager) curl -fsSk -m 5 https://127.0.0.1:10257/healthz ;;
    kube-scheduler) curl -fsSk -m 5 https://127.0.0.1:10259/healthz ;;
    kubelet) curl -fsS -m 5 http://127.0.0.1:10248/healthz ;;
    kube-proxy) curl -fsS -m 5 http://127.0.0.1:10256/healthz ;;
    # 200 once the kubernetes plugin has listed services, endpointslices, namespaces and pods
    coredns) curl -fsS -m 5 "http://127.0.0.1:$COREDNS_READY_PORT/ready" ;;
    *) return 1 ;;
  esac >/dev/null 2>&1
}

# stale_dependents: the components of APISERVER_DEPENDENTS that run but started before the running
# kube-apiserver, one a line: they outlived an API server restart.
stale_dependents() {
  local c
  for c in "${APISERVER_DEPENDENTS[@]}"; do
    if started_before "$c" kube-apiserver; then echo "$c"; fi
  done
  return 0
}

# cgroup_layout: v2 when /sys/fs/cgroup is the unified hierarchy (cgroup2fs), else v1 (including
# the hybrid layout, where the unified hierarchy sits beside the v1 ones at /sys/fs/cgroup/unified).
cgroup_layout() {
  if [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ]; then echo v2; else echo v1; fi
}

# write_if_changed FILE: write stdin to FILE only when it differs from FILE's content (a daemon
# watching its config file, as kube-proxy does, exits when it is rewritten, even unchanged).
# Sets CONFIG_CHANGED to 1 when it wrote FILE, else to 0 (for daemons that read their config only
# at start: up.sh restarts them).
CONFIG_CHANGED=0
write_if_changed() {
  local f=$1 tmp
  tmp=$(mktemp "$f.XXXXXX")
  cat >"$tmp"
  if [ -f "$f" ] && cmp -s "$tmp" "$f"; then
    rm -f "$tmp"
    CONFIG_CHANGED=0
  else
    chmod 644 "$tmp"
    mv "$tmp" "$f"
    CONFIG_CHANGED=1
  fi
}

# started_before NAME OTHER: both run, and NAME's process started before OTHER's (start times in
# clock ticks since boot, field 22 of /proc/PID/stat). Used to find what the API server restarted under.
started_before() {
  local a b
  component_alive "$1" && component_alive "$2" || return 1
  a=$(proc_stat_field "$(component_pid "$1")" 22) || return 1
  b=$(proc_stat_field "$(component_pid "$2")" 22) || return 1
  ((a < b))
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

# detach CMD...: exec CMD in a session of its own with only stdin, stdout and stderr open. Whatever
# else the caller holds is closed first: a daemon must not keep, say, the fd of
# `flock /tmp/devloop-e2e.lock bash test/cluster/up.sh` open, or the lock stays taken for as long
# as the daemon runs.
detach() {
  local fd
  for fd in /proc/$BASHPID/fd/*; do
    fd=${fd##*/}
    ((fd > 2)) && eval "exec $fd>&-" 2>/dev/null
  done
  exec setsid "$@"
}

# start_daemon NAME CMD...: start CMD in the background in a session of its own (so that it
# outlives the shell, its process group and whatever ran us), stdout and stderr appended to the
# component's log, pid in its pid file. Does nothing when the component already runs. A previous
# process of NAME that is still exiting is waited for first (settle_component), so is its ports'
# release. The command is remembered: wait_for starts it once more should it exit meanwhile.
declare -A START_CMD=() RESTARTED=()
start_daemon() {
  local name=$1
  shift
  local pf log
  pf=$(pid_file "$name")
  log=$(log_file "$name")
  START_CMD[$name]=$(printf '%q ' "$@")
  settle_component "$name"
  if component_alive "$name"; then
    say "$name already runs (pid $(cat "$pf"))"
    return 0
  fi
  mkdir -p "$CLUSTER_RUN" "$CLUSTER_LOGS"
  printf '\n===== %s starting %s: %s =====\n' "$(date -u +%FT%TZ)" "$name" "$*" >>"$log"
  detach "$@" >>"$log" 2>&1 </dev/null &
  echo $! >"$pf"
  sleep 0.2
  component_alive "$name" || die "$name" "$name exited right after its start"
  say "started $name (pid $(cat "$pf"), log $log)"
}

# wait_for NAME SECONDS WHAT CMD...: poll CMD (quietly) every half second until it succeeds; fail
# with NAME's log when SECONDS pass. When NAME's process dies meanwhile and start_daemon started or
# found it in this run, it is started once more (it was found running while it was shutting down,
# e.g. after a SIGTERM, or it exited on its own: kube-proxy exits when its config file changes);
# a second death fails.
wait_for() {
  local name=$1 secs=$2 what=$3
  shift 3
  local deadline=$((SECONDS + secs))
  while ! "$@" >/dev/null 2>&1; do
    if [ -n "$name" ] && [ -f "$(pid_file "$name")" ] && ! component_alive "$name"; then
      if [ -n "${START_CMD[$name]:-}" ] && [ -z "${RESTARTED[$name]:-}" ]; then
        RESTARTED[$name]=1
        say "$name (pid $(component_pid "$name")) exited while waiting for: $what; starting it again"
        eval "start_daemon $name ${START_CMD[$name]}"
        deadline=$((SECONDS + secs))
        continue
      fi
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

# auth_registry_host: HOST:PORT of the TLS + htpasswd registry (this machine's address, recorded by up.sh).
auth_registry_host() { echo "$(cat "$CLUSTER_STATE/node-ip" 2>/dev/null || echo 127.0.0.1):$AUTH_REGISTRY_PORT"; }

kctl() { "$CLUSTER_BIN/kubectl" --kubeconfig "$KUBECONFIG_PATH" "$@"; }
ctr_k8s() { ctr --address "$CONTAINERD_SOCK" --namespace k8s.io "$@"; }

# The components of the cluster, in start order (dockerd is handled by docker-up.sh).
CLUSTER_COMPONENTS=(registry registry-auth containerd etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy coredns)
# The components that talk to the API server and must start after the running one: cluster:up
# restarts those that started before it (stale_dependents). Each of them, left running, comes
# back after an API server restart only a minute or more later (measurements: README.md). CoreDNS
# watches services, endpointslices, namespaces and pods with the same client-go informers.
# The kubelet is left running: restarting it makes every exec into its pods fail ("unable to
# upgrade connection: pod does not exist") until it has re-synced them, which the fault suite's dev
# loop, syncing at that moment, saw as broken containers. After the short outages of the tests it
# resumed by itself; after a 40 s outage it was measured slow to start newly bound pods.
APISERVER_DEPENDENTS=(kube-controller-manager kube-scheduler kube-proxy coredns)

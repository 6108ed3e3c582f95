#!/usr/bin/env bash
# Makes sure a Docker engine answers on /var/run/docker.sock. Installs Debian's docker.io when
# `dockerd` is missing; starts dockerd in the background when `docker info` fails (no systemd here),
# with its pid file and log under $DOCKER_STATE (default /var/lib/devloop-docker): dockerd.pid,
# dockerd.log. cluster:down stops dockerd only when that pid file says we started it.
# Prints what it did on stderr. Exit 0 when the engine answers.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/env.sh"
source "$here/lib.sh"

docker_pid_file=$DOCKER_STATE/dockerd.pid
docker_log=$DOCKER_STATE/dockerd.log

if ! command -v dockerd >/dev/null 2>&1; then
  say "dockerd missing: installing Debian's docker.io"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >&2
fi

if docker info >/dev/null 2>&1; then
  if pid_alive "$docker_pid_file" dockerd; then
    say "docker engine answers (started by docker-up.sh, pid $(cat "$docker_pid_file"), log $docker_log)"
  else
    say "docker engine answers (not started by us: left alone)"
  fi
else
  mkdir -p "$DOCKER_STATE"
  if pid_alive "$docker_pid_file" dockerd; then
    say "dockerd (pid $(cat "$docker_pid_file")) runs but does not answer yet: waiting"
  else
    printf '\n===== %s starting dockerd =====\n' "$(date -u +%FT%TZ)" >>"$docker_log"
    detach dockerd --host=unix:///var/run/docker.sock >>"$docker_log" 2>&1 </dev/null &
    echo $! >"$docker_pid_file"
    say "started dockerd (pid $!, log $docker_log)"
  fi
  deadline=$((SECONDS + 90))
  until docker info >/dev/null 2>&1; do
    if ! pid_alive "$docker_pid_file" dockerd; then
      say "FAILED: dockerd exited"
      tail_log "$docker_log"
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      say "FAILED: dockerd did not answer within 90s"
      tail_log "$docker_log"
      exit 1
    fi
    sleep 0.5
  done
  say "docker engine answers"
fi

# dockerd sets the FORWARD policy to DROP; pods on the cni0 bridge need it forwarding.
if [ "$(iptables -S FORWARD 2>/dev/null | head -1)" != "-P FORWARD ACCEPT" ]; then
  iptables -P FORWARD ACCEPT
  say "iptables FORWARD policy set to ACCEPT"
fi

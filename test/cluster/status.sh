#!/usr/bin/env bash
# cluster:status - which components of the test cluster run (pid alive or not), where their logs
# are, and the node's readiness when the API server answers. Exit 0 when everything runs, else 1.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/env.sh"
source "$here/lib.sh"

ok=0
printf '%-24s %-8s %-8s %s\n' COMPONENT STATE PID LOG
if docker info >/dev/null 2>&1; then
  if pid_alive "$DOCKER_STATE/dockerd.pid" dockerd; then
    printf '%-24s %-8s %-8s %s\n' dockerd running "$(cat "$DOCKER_STATE/dockerd.pid")" "$DOCKER_STATE/dockerd.log"
  else
    printf '%-24s %-8s %-8s %s\n' dockerd running - "(not started by docker-up.sh)"
  fi
else
  printf '%-24s %-8s %-8s %s\n' dockerd DOWN - "$DOCKER_STATE/dockerd.log"
  ok=1
fi
stale=" $(stale_dependents | tr '\n' ' ')"
for c in "${CLUSTER_COMPONENTS[@]}"; do
  pf=$(pid_file "$c")
  if [[ $stale == *" $c "* ]]; then
    # it outlived an API server restart: cluster:up restarts it
    printf '%-24s %-8s %-8s %s\n' "$c" STALE "$(cat "$pf")" "started before kube-apiserver (pid $(component_pid kube-apiserver)); $(log_file "$c")"
    ok=1
  elif component_alive "$c"; then
    printf '%-24s %-8s %-8s %s\n' "$c" running "$(cat "$pf")" "$(log_file "$c")"
  else
    printf '%-24s %-8s %-8s %s\n' "$c" DOWN - "$(log_file "$c")"
    ok=1
  fi
done

if [ -x "$CLUSTER_BIN/kubectl" ] && [ -s "$KUBECONFIG_PATH" ] && kctl get --raw /readyz >/dev/null 2>&1; then
  echo
  echo "API server https://127.0.0.1:$API_PORT ready; nodes:"
  kctl get nodes -o wide 2>&1 | sed 's/^/  /'
  ready=$(kctl get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)
  [ "$ready" = True ] || ok=1
else
  echo
  echo "API server https://127.0.0.1:$API_PORT does not answer"
  ok=1
fi
echo
echo "cgroups:    $(cgroup_layout) (cgroupfs driver)"
echo "registry:   $REGISTRY_HOST (storage $CLUSTER_STATE/registry)"
echo "registry:   $(auth_registry_host) (TLS, CA $AUTH_REGISTRY_DIR/ca.crt; htpasswd user $AUTH_REGISTRY_USER, password in $AUTH_REGISTRY_DIR/password)"
echo "DNS:        $CLUSTER_DOMAIN at $CLUSTER_DNS_IP (Service kube-system/kube-dns -> CoreDNS on $(cat "$CLUSTER_STATE/node-ip" 2>/dev/null || echo '<node IP>'):$COREDNS_DNS_PORT); no upstream: other names are REFUSED"
echo "logs:       $CLUSTER_LOGS"
echo "state:      $CLUSTER_STATE (binaries: $CLUSTER_BIN)"
echo "kubeconfig: export KUBECONFIG=$KUBECONFIG_PATH   (context $CLUSTER_CONTEXT)"
if ((ok == 0)); then echo "status: up"; else echo "status: NOT fully up (run: npm run cluster:up)"; fi
exit $ok

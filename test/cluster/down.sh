#!/usr/bin/env bash
# cluster:down - stops every process cluster:up started, by pid, and removes the cluster's state:
# kubelet first, then kube-proxy, CoreDNS, the control plane, etcd, the pods' containers and their
# containerd shims, containerd, the registry, and dockerd when docker-up.sh started it (set
# DEVLOOP_KEEP_DOCKER=1 to keep it). Unmounts what the kubelet and containerd mounted, removes the
# cni0 bridge, the pods' network namespaces and iptables chains, and the state directory.
# The built binaries ($DEVLOOP_CLUSTER_CACHE) are kept. Harmless when run twice.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/env.sh"
source "$here/lib.sh"

[ "$(id -u)" = 0 ] || { say "cluster:down needs root"; exit 1; }

# Everything is removed afterwards, so nobody's shutdown needs to be graceful for long (the API
# server would wait for long-running requests such as watches and port-forwards).
stop_component kubelet 10
stop_component kube-proxy 5
stop_component coredns 5
stop_component kube-scheduler 5
stop_component kube-controller-manager 5
stop_component kube-apiserver 5
stop_component etcd 10

# Containers of the pods, then containerd, then the shims. Each task directory of our containerd
# holds the container's init pid, and the shim's pid and socket address.
task_root=$CONTAINERD_RUN/io.containerd.runtime.v2.task
shim_sockets=()
if [ -d "$task_root" ]; then
  for d in "$task_root"/*/*/; do
    [ -f "$d/init.pid" ] || continue
    pid=$(cat "$d/init.pid" 2>/dev/null)
    [[ $pid =~ ^[0-9]+$ ]] && [ -d "/proc/$pid" ] && kill -KILL "$pid" 2>/dev/null
  done
  for d in "$task_root"/*/*/; do
    a=$(cat "$d/address" 2>/dev/null) && shim_sockets+=("${a#unix://}")
  done
fi
stop_component containerd 20
# The shims name our socket on their command line (this also finds those whose task directory is
# gone, say when containerd died in the middle of a create).
shims=()
for p in /proc/[0-9]*; do
  cmd=$({ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null) || continue
  case $cmd in
    *containerd-shim*" -address $CONTAINERD_SOCK "* | *containerd-shim*" -address $CONTAINERD_SOCK") shims+=("${p#/proc/}") ;;
  esac
done
if ((${#shims[@]})); then
  say "stopping ${#shims[@]} containerd shim(s): ${shims[*]}"
  stop_pids 3 "${shims[@]}"
fi
for s in "${shim_sockets[@]}"; do [ -S "$s" ] && rm -f "$s"; done
rm -rf /run/containerd/runc/k8s.io # runc's state of our containers (dockerd's are under moby/)
# Whatever still runs in the pods' cgroups (containers whose shim is gone).
for f in /sys/fs/cgroup/pids/kubepods /sys/fs/cgroup/memory/kubepods /sys/fs/cgroup/kubepods; do
  [ -d "$f" ] || continue
  find "$f" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u | while read -r pid; do
    say "killing pod process $pid left in $f"
    kill -KILL "$pid" 2>/dev/null
  done
  break
done

stop_component registry-auth 5
stop_component registry
# dockerd's trust of the TLS registry's CA (registry-auth.sh); the CA itself goes with the state.
[ -s "$AUTH_REGISTRY_DIR/host" ] && rm -rf "/etc/docker/certs.d/$(cat "$AUTH_REGISTRY_DIR/host")"

if [ "${DEVLOOP_KEEP_DOCKER:-}" != 1 ] && pid_alive "$DOCKER_STATE/dockerd.pid" dockerd; then
  say "stopping dockerd (pid $(cat "$DOCKER_STATE/dockerd.pid"), started by docker-up.sh)"
  stop_pid "$(cat "$DOCKER_STATE/dockerd.pid")" 30
fi
pid_alive "$DOCKER_STATE/dockerd.pid" dockerd || rm -f "$DOCKER_STATE/dockerd.pid"

# Mounts under our state directories (pod volumes, container rootfs, sandbox shm), deepest first,
# and the pods' network namespaces (the CRI plugin names them cni-*; only our containerd runs CRI).
for base in "$CLUSTER_STATE" "$CONTAINERD_RUN"; do
  findmnt -rn -o TARGET | awk -v b="$base" 'index($0, b "/") == 1' | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || say "could not unmount $m"
  done
done
for ns in /var/run/netns/cni-*; do
  [ -e "$ns" ] || continue
  umount "$ns" 2>/dev/null || umount -l "$ns" 2>/dev/null || true
  rm -f "$ns"
done

if ip link show "$CNI_BRIDGE" >/dev/null 2>&1; then
  ip link delete "$CNI_BRIDGE" && say "removed bridge $CNI_BRIDGE"
fi

# iptables: the chains of kube-proxy and the kubelet (KUBE-*), of the CNI bridge and portmap plugins
# (CNI-*) and our own (DEVLOOP-*): first the rules elsewhere that jump to them, then the chains.
# Rules of others (dockerd's) are left as they are.
ours='KUBE-|CNI-|DEVLOOP-'
for ipt in iptables ip6tables; do
  command -v "$ipt-save" >/dev/null || continue
  for t in filter nat mangle raw; do
    rules=$("$ipt-save" -t "$t" 2>/dev/null) || continue
    chains=$(sed -nE "s/^:(($ours)[^ ]*) .*/\1/p" <<<"$rules")
    [ -n "$chains" ] || continue
    cmds=$(
      grep -E -- "^-A .* -j ($ours)" <<<"$rules" | grep -vE -- "^-A ($ours)" | sed 's/^-A /-D /'
      for c in $chains; do echo "-F $c"; done
      for c in $chains; do echo "-X $c"; done
    )
    # one transaction per table; should it fail (a rule changed meanwhile), one command at a time
    if ! printf '*%s\n%s\nCOMMIT\n' "$t" "$cmds" | "$ipt-restore" --noflush 2>/dev/null; then
      while read -r line; do
        eval "$ipt -t $t $line" 2>/dev/null || say "$ipt -t $t $line failed"
      done <<<"$cmds"
    fi
  done
done

# cgroups the kubelet made for the pods (empty now that their processes are gone)
for h in /sys/fs/cgroup/*/; do
  [ -d "$h/kubepods" ] && find "$h/kubepods" -depth -type d -exec rmdir {} \; 2>/dev/null
  [ -d "$h/kubepods.slice" ] && find "$h/kubepods.slice" -depth -type d -exec rmdir {} \; 2>/dev/null
done
[ -d /sys/fs/cgroup/kubepods ] && find /sys/fs/cgroup/kubepods -depth -type d -exec rmdir {} \; 2>/dev/null

rm -f /var/lib/cni/results/"$CNI_NETWORK"-* 2>/dev/null
rm -rf "$CLUSTER_STATE" "$CONTAINERD_RUN"
say "cluster down; state $CLUSTER_STATE removed, binaries kept in $CLUSTER_BIN"
exit 0

#!/usr/bin/env bash
# cluster:up - brings up the project's single-node Kubernetes test cluster on this machine:
# Debian packages (installed when missing), the Kubernetes binaries (built when not cached), the
# docker engine, a registry on localhost:5000, a locally built pause image, containerd, etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy and CoreDNS (the
# cluster DNS, built from its Go module like the Kubernetes binaries; it answers only for
# cluster.local and the reverse zones, never forwards a lookup).
# Idempotent: when everything already runs and answers its health check it prints the status and
# exits 0; components that died are started again (one still exiting is waited for first), and those
# that started before the running API server (it was restarted under them) are restarted. Every wait
# is bounded; on a failure the failing component's log tail is printed and the exit status is 1.
# See README.md next to this file ("What cluster:up checks on a running cluster").
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/env.sh"
source "$here/lib.sh"
source "$here/pki.sh"

[ "$(id -u)" = 0 ] || { say "cluster:up needs root (it starts containerd, the kubelet and dockerd)"; exit 1; }
started_at=$SECONDS
trap 'say "FAILED at up.sh line $LINENO: $BASH_COMMAND (logs: $CLUSTER_LOGS)"' ERR

print_export() {
  say "cluster up: node $NODE_NAME, API https://127.0.0.1:$API_PORT, registry $REGISTRY_HOST, logs $CLUSTER_LOGS"
  echo "export KUBECONFIG=$KUBECONFIG_PATH"
}

# Every component runs, answers its health check (one that is shutting down no longer does), and
# none started before the running API server.
cluster_healthy() {
  local c
  [ -x "$CLUSTER_BIN/kubectl" ] && [ -s "$KUBECONFIG_PATH" ] || return 1
  for c in "${CLUSTER_COMPONENTS[@]}"; do component_alive "$c" && component_healthy "$c" || return 1; done
  [ -z "$(stale_dependents)" ] || return 1
  docker info >/dev/null 2>&1 || return 1
}

if cluster_healthy; then
  "$here/status.sh" >&2 || true
  say "already up: nothing to do"
  print_export
  exit 0
fi

# --- 1. packages --------------------------------------------------------------------------------
need=()
for pair in dockerd:docker.io containerd:containerd runc:runc /usr/lib/cni/bridge:containernetworking-plugins \
  docker-registry:docker-registry /bin/busybox:busybox-static iptables:iptables conntrack:conntrack \
  openssl:openssl curl:curl; do
  probe=${pair%%:*} pkg=${pair#*:}
  if [[ $probe == /* ]]; then [ -e "$probe" ] || need+=("$pkg"); else command -v "$probe" >/dev/null || need+=("$pkg"); fi
done
if ((${#need[@]})); then
  say "installing Debian packages: ${need[*]}"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
fi
command -v go >/dev/null || die "" "go is needed to build the Kubernetes binaries and the pause image (Go 1.24+)"

# --- 2. binaries ----------------------------------------------------------------------------------
if [ ! -f "$CLUSTER_BIN/.complete" ]; then
  say "building Kubernetes $KUBE_VERSION (not cached in $CLUSTER_BIN)"
fi
"$here/build.sh" >/dev/null || die "" "build.sh failed"
[ -f "$COREDNS_BIN/.complete" ] || say "building CoreDNS $COREDNS_VERSION (not cached in $COREDNS_BIN)"
"$here/build-coredns.sh" >/dev/null || die "" "build-coredns.sh failed"

# --- 3. node set-up -------------------------------------------------------------------------------
mkdir -p "$CLUSTER_STATE" "$CLUSTER_LOGS" "$CLUSTER_RUN" "$CLUSTER_PKI"
NODE_IP=$(node_ip)
if [ -s "$CLUSTER_STATE/node-ip" ] && [ "$(cat "$CLUSTER_STATE/node-ip")" != "$NODE_IP" ]; then
  die "" "this machine's address changed ($(cat "$CLUSTER_STATE/node-ip") -> $NODE_IP): run cluster:down, then cluster:up"
fi
echo "$NODE_IP" >"$CLUSTER_STATE/node-ip"
if command -v modprobe >/dev/null && [ -d "/lib/modules/$(uname -r)" ]; then
  modprobe overlay 2>/dev/null || true
  modprobe br_netfilter 2>/dev/null || true
fi
[ -d /proc/sys/net/bridge ] || die "" "bridge netfilter is missing (no /proc/sys/net/bridge; br_netfilter module not loadable)"
sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1
sysctl -qw fs.inotify.max_user_instances=8192 fs.inotify.max_user_watches=524288 || true
# cgroups. v1 (a hierarchy per controller, also "hybrid" with the unified one beside them): what
# our machines have and the only layout exercised here. v2 (the unified hierarchy, the default of
# Debian 12 and of every systemd >= 247 distribution): implemented from the kubelet's and
# containerd's documentation, NOT exercised here. Both run the kubelet with cgroupDriver cgroupfs
# (supported on v2 too) and runc with SystemdCgroup = false; only v1 gets failCgroupV1: false.
CGROUP_LAYOUT=$(cgroup_layout)
if [ "$CGROUP_LAYOUT" = v2 ]; then
  # v2 has no cpuacct: cpu accounting is part of the cpu controller.
  for c in cpu cpuset memory pids; do
    grep -qw "$c" /sys/fs/cgroup/cgroup.controllers ||
      die "" "cgroup v2: controller $c is not in /sys/fs/cgroup/cgroup.controllers (the kubelet needs cpu, cpuset, memory, pids)"
  done
  # The kubelet (cgroupfs driver) makes /sys/fs/cgroup/kubepods: the root must hand these
  # controllers down to its children. Allowed on the real root; in a container with a cgroup
  # namespace of its own, the root must first hold no process (move them to a child cgroup).
  want=""
  for c in cpu cpuset memory pids hugetlb io; do
    if grep -qw "$c" /sys/fs/cgroup/cgroup.controllers && ! grep -qw "$c" /sys/fs/cgroup/cgroup.subtree_control; then
      want+=" +$c"
    fi
  done
  if [ -n "$want" ]; then
    echo "$want" >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null ||
      die "" "cgroup v2: cannot enable${want} in /sys/fs/cgroup/cgroup.subtree_control (inside a container, move its processes out of the root cgroup first)"
    say "cgroup v2: enabled${want} for the root cgroup's children"
  fi
  failcgroupv1_setting=""
else
  for c in cpu cpuacct cpuset memory pids; do
    grep -qw "$c" /proc/self/cgroup ||
      die "" "cgroup v1: controller $c is not mounted (the kubelet needs cpu, cpuacct, cpuset, memory, pids)"
  done
  # cgroup v1 is in maintenance mode in the kubelet (KEP-4569): keep it accepted explicitly
  failcgroupv1_setting="failCgroupV1: false"
fi
say "cgroup $CGROUP_LAYOUT"
[ -e /dev/kmsg ] || say "warning: /dev/kmsg is missing; the kubelet's OOM watcher will complain"
# Pods must not reach anything but this machine and each other: drop what they would forward off
# the node (traffic to the node's own addresses is not forwarded, so it is unaffected).
iptables -N DEVLOOP-POD-EGRESS 2>/dev/null || true
iptables -F DEVLOOP-POD-EGRESS
iptables -A DEVLOOP-POD-EGRESS -o "$CNI_BRIDGE" -j RETURN
iptables -A DEVLOOP-POD-EGRESS -m comment --comment "devloop test cluster: pods talk only to this machine and pods" -j REJECT
iptables -C FORWARD -i "$CNI_BRIDGE" -j DEVLOOP-POD-EGRESS 2>/dev/null || iptables -I FORWARD 1 -i "$CNI_BRIDGE" -j DEVLOOP-POD-EGRESS
# The kubelet's resolvConf: what pods with dnsPolicy Default (and the host network) get; pods with
# the default dnsPolicy ClusterFirst get the cluster DNS (clusterDNS below). A lookup there fails
# fast instead of leaving the machine.
echo "nameserver 127.0.0.1" >"$CLUSTER_STATE/resolv.conf"

# --- 4. certificates, kubeconfigs -----------------------------------------------------------------
ensure_pki "$NODE_IP"

# --- 5. etcd and kube-apiserver (they boot while the images are prepared) --------------------------
start_daemon etcd "$CLUSTER_BIN/etcd" --name=default --data-dir="$CLUSTER_STATE/etcd" \
  --listen-client-urls="$ETCD_CLIENT_URL" --advertise-client-urls="$ETCD_CLIENT_URL" \
  --listen-peer-urls=http://127.0.0.1:2380 --initial-advertise-peer-urls=http://127.0.0.1:2380 \
  --initial-cluster=default=http://127.0.0.1:2380 --listen-metrics-urls=http://127.0.0.1:2381 \
  --quota-backend-bytes=4294967296 --log-level=warn
wait_for etcd 60 "etcd health on $ETCD_CLIENT_URL" curl -fsS "$ETCD_CLIENT_URL/health"

pki=$CLUSTER_PKI
start_daemon kube-apiserver "$CLUSTER_BIN/kube-apiserver" \
  --advertise-address="$NODE_IP" --bind-address=0.0.0.0 --secure-port="$API_PORT" \
  --etcd-servers="$ETCD_CLIENT_URL" \
  --client-ca-file="$pki/ca.crt" --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
  --kubelet-client-certificate="$pki/apiserver-kubelet-client.crt" --kubelet-client-key="$pki/apiserver-kubelet-client.key" \
  --kubelet-certificate-authority="$pki/ca.crt" --kubelet-preferred-address-types=InternalIP,Hostname \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
  --service-cluster-ip-range="$SERVICE_SUBNET" --authorization-mode=Node,RBAC \
  --enable-admission-plugins=NodeRestriction --allow-privileged=true --profiling=false \
  --endpoint-reconciler-type=lease --v=1

# --- 6. docker engine, registry, pause image ------------------------------------------------------
"$here/docker-up.sh" || die "" "docker-up.sh failed"
ln -sf "$DOCKER_STATE/dockerd.log" "$CLUSTER_LOGS/dockerd.log" 2>/dev/null || true

mkdir -p "$CLUSTER_STATE/registry"
write_if_changed "$CLUSTER_STATE/registry.yml" <<EOF
version: 0.1
log:
  level: info
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: $CLUSTER_STATE/registry
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$REGISTRY_PORT
  headers:
    X-Content-Type-Options: [nosniff]
EOF
start_daemon registry docker-registry serve "$CLUSTER_STATE/registry.yml"
wait_for registry 30 "registry on 127.0.0.1:$REGISTRY_PORT" curl -fsS "http://127.0.0.1:$REGISTRY_PORT/v2/"
# The TLS + htpasswd registry (a private registry, as a remote cluster pulls from).
source "$here/registry-auth.sh"

pause_ctx=$DEVLOOP_CLUSTER_CACHE/pause
if [ ! -x "$pause_ctx/pause" ] || [ "$here/pause/main.go" -nt "$pause_ctx/pause" ]; then
  mkdir -p "$pause_ctx"
  (cd "$here/pause" && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$pause_ctx/pause" .) ||
    die "" "building the pause binary failed"
fi
cp "$here/pause/Dockerfile" "$pause_ctx/Dockerfile"
docker build -q -t "$PAUSE_IMAGE" "$pause_ctx" >"$CLUSTER_LOGS/pause-image.log" 2>&1 ||
  die pause-image "docker build of $PAUSE_IMAGE failed"
docker push "$PAUSE_IMAGE" >>"$CLUSTER_LOGS/pause-image.log" 2>&1 ||
  die pause-image "docker push $PAUSE_IMAGE failed"
say "pause image $PAUSE_IMAGE built and pushed"

# --- 7. containerd, CNI ---------------------------------------------------------------------------
mkdir -p "$CNI_CONF_DIR" "$CONTAINERD_ROOT" "$CLUSTER_STATE/cni/networks"
snapshotter=native
if grep -qw overlay /proc/filesystems; then
  t=$(mktemp -d "$CLUSTER_STATE/overlay-probe.XXXX")
  mkdir -p "$t/l" "$t/u" "$t/w" "$t/m"
  if mount -t overlay overlay -o "lowerdir=$t/l,upperdir=$t/u,workdir=$t/w" "$t/m" 2>/dev/null; then
    umount "$t/m"
    snapshotter=overlayfs
  fi
  rm -rf "$t"
fi
restrict_oom=false
oom_setting=""
if ! (echo -999 >/proc/self/oom_score_adj) 2>/dev/null; then
  restrict_oom=true
  oom_setting="oomScoreAdj: 0"
  say "cannot lower oom_score_adj here (no CAP_SYS_RESOURCE): containerd restrict_oom_score_adj = true"
fi
for h in "localhost:$REGISTRY_PORT" "127.0.0.1:$REGISTRY_PORT"; do
  mkdir -p "$CONTAINERD_ROOT/certs.d/$h"
  write_if_changed "$CONTAINERD_ROOT/certs.d/$h/hosts.toml" <<EOF
server = "http://localhost:$REGISTRY_PORT"

[host."http://localhost:$REGISTRY_PORT"]
  capabilities = ["pull", "resolve"]
  skip_verify = true
EOF
done
write_if_changed "$CLUSTER_STATE/containerd.toml" <<EOF
# containerd of the devloop test cluster (written by test/cluster/up.sh)
version = 2
root = "$CONTAINERD_ROOT/root"
state = "$CONTAINERD_RUN"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]

[grpc]
  address = "$CONTAINERD_SOCK"

[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "$CONTAINERD_ROOT/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  stream_server_address = "127.0.0.1"
  # This machine's root lacks CAP_SYS_RESOURCE: runc cannot lower oom_score_adj (the kubelet asks
  # -998 for pod sandboxes, -997 for Guaranteed pods) and would fail with "can't get final child's
  # PID from pipe: EOF". Clamp to containerd's own oom_score_adj instead, as rootless setups do.
  restrict_oom_score_adj = $restrict_oom
  enable_selinux = false

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "$snapshotter"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$CNI_CONF_DIR"

  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$CONTAINERD_ROOT/certs.d"
EOF
write_if_changed "$CNI_CONF_DIR/10-$CNI_NETWORK.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$CNI_NETWORK",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$CNI_BRIDGE",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "$POD_SUBNET" }]],
        "routes": [{ "dst": "0.0.0.0/0" }],
        "dataDir": "$CLUSTER_STATE/cni/networks"
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
start_daemon containerd containerd --config "$CLUSTER_STATE/containerd.toml"
wait_for containerd 30 "containerd on $CONTAINERD_SOCK" ctr --address "$CONTAINERD_SOCK" version
say "containerd snapshotter: $snapshotter"
docker save "$PAUSE_IMAGE" | ctr_k8s images import - >>"$CLUSTER_LOGS/pause-image.log" 2>&1 ||
  die pause-image "importing $PAUSE_IMAGE into containerd failed"

# --- 8. control plane -----------------------------------------------------------------------------
wait_for kube-apiserver 90 "kube-apiserver /readyz" kctl get --raw /readyz
kctl create clusterrolebinding devloop:apiserver-kubelet-api-admin --clusterrole=system:kubelet-api-admin \
  --user=kube-apiserver-kubelet-client --dry-run=client -o yaml | kctl apply -f - >/dev/null ||
  die kube-apiserver "binding system:kubelet-api-admin failed"
kctl apply -f - >/dev/null <<EOF || die kube-apiserver "publishing the local-registry-hosting ConfigMap failed"
apiVersion: v1
kind: ConfigMap
metadata:
  name: local-registry-hosting
  namespace: kube-public
data:
  localRegistryHosting.v1: |
    host: "$REGISTRY_HOST"
    hostFromContainerRuntime: "$REGISTRY_HOST"
    help: "file://$here/README.md"
EOF
# Cluster DNS. CoreDNS runs on this machine (started below) and reads the API as devloop-coredns
# (pki.sh) with the rights of CoreDNS's own deployment manifest. Pods reach it through the Service
# kube-system/kube-dns at the fixed ClusterIP the kubelet hands them (clusterDNS); the Service has
# no selector: its one EndpointSlice, kept here (its managed-by label is not the EndpointSlice
# controller's, which leaves it alone), points at the node's address and CoreDNS's port, and
# kube-proxy routes to it like to any endpoint.
kctl apply -f - >/dev/null <<EOF || die kube-apiserver "creating the kube-dns Service, its EndpointSlice and CoreDNS's RBAC failed"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: devloop:coredns
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: devloop:coredns
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: devloop:coredns
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: devloop-coredns
---
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels:
    k8s-app: kube-dns
    kubernetes.io/name: CoreDNS
spec:
  clusterIP: $CLUSTER_DNS_IP
  ports:
  - {name: dns, port: 53, protocol: UDP, targetPort: $COREDNS_DNS_PORT}
  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: $COREDNS_DNS_PORT}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kube-dns-node
  namespace: kube-system
  labels:
    kubernetes.io/service-name: kube-dns
    endpointslice.kubernetes.io/managed-by: up.test-cluster.devloop.dev
addressType: IPv4
ports:
- {name: dns, port: $COREDNS_DNS_PORT, protocol: UDP}
- {name: dns-tcp, port: $COREDNS_DNS_PORT, protocol: TCP}
endpoints:
- addresses: ["$NODE_IP"]
  conditions: {ready: true}
  nodeName: $NODE_NAME
EOF

# What started against an earlier API server is restarted (see APISERVER_DEPENDENTS in lib.sh).
for c in $(stale_dependents); do
  say "$c (pid $(component_pid "$c")) started before the running kube-apiserver (pid $(component_pid kube-apiserver)): restarting it"
  stop_component "$c" 10
done

start_daemon kube-controller-manager "$CLUSTER_BIN/kube-controller-manager" \
  --kubeconfig="$pki/controller-manager.kubeconfig" \
  --bind-address=127.0.0.1 --leader-elect=false --cluster-name=devloop \
  --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
  --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" \
  --use-service-account-credentials=true --controllers='*' \
  --service-cluster-ip-range="$SERVICE_SUBNET" --profiling=false --v=1
start_daemon kube-scheduler "$CLUSTER_BIN/kube-scheduler" \
  --kubeconfig="$pki/scheduler.kubeconfig" \
  --bind-address=127.0.0.1 --leader-elect=false --profiling=false --v=1

# --- 9. kubelet, kube-proxy -----------------------------------------------------------------------
mkdir -p "$CLUSTER_STATE/kubelet" "$CLUSTER_STATE/pod-logs"
write_if_changed "$CLUSTER_STATE/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
cgroupDriver: cgroupfs
$failcgroupv1_setting
failSwapOn: false
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: $pki/ca.crt
authorization:
  mode: Webhook
tlsCertFile: $pki/kubelet-serving.crt
tlsPrivateKeyFile: $pki/kubelet-serving.key
healthzBindAddress: 127.0.0.1
healthzPort: 10248
readOnlyPort: 0
resolvConf: $CLUSTER_STATE/resolv.conf
clusterDNS: ["$CLUSTER_DNS_IP"]
clusterDomain: $CLUSTER_DOMAIN
podLogsDirectory: $CLUSTER_STATE/pod-logs
registerNode: true
serializeImagePulls: false
imageGCHighThresholdPercent: 100
evictionHard:
  memory.available: "1Mi"
  nodefs.available: "0%"
  nodefs.inodesFree: "0%"
  imagefs.available: "0%"
  imagefs.inodesFree: "0%"
hairpinMode: promiscuous-bridge
maxPods: 110
$oom_setting
EOF
# the kubelet reads its config file only at start (its pods keep running while it restarts)
if ((CONFIG_CHANGED)) && component_alive kubelet; then
  say "kubelet.yaml changed: restarting the kubelet"
  stop_component kubelet 10
fi
start_daemon kubelet "$CLUSTER_BIN/kubelet" --config="$CLUSTER_STATE/kubelet.yaml" \
  --kubeconfig="$pki/kubelet.kubeconfig" --root-dir="$CLUSTER_STATE/kubelet" \
  --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" --v=1

write_if_changed "$CLUSTER_STATE/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: $pki/kube-proxy.kubeconfig
mode: iptables
clusterCIDR: $POD_SUBNET
hostnameOverride: $NODE_NAME
bindAddress: 0.0.0.0
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: ["primary"]
iptables:
  localhostNodePorts: false
conntrack:
  maxPerCore: 0
$oom_setting
EOF
start_daemon kube-proxy "$CLUSTER_BIN/kube-proxy" --config="$CLUSTER_STATE/kube-proxy.yaml" --v=1

# CoreDNS serves the cluster's zones only. No forward plugin, on purpose: a name outside them gets
# REFUSED (no server block matches) and an unknown name inside them NXDOMAIN, so no lookup ever
# leaves the machine. No cache either: a Service is resolvable as soon as CoreDNS's watch sees it.
write_if_changed "$CLUSTER_STATE/Corefile" <<EOF
# CoreDNS of the devloop test cluster (written by test/cluster/up.sh)
$CLUSTER_DOMAIN:$COREDNS_DNS_PORT in-addr.arpa:$COREDNS_DNS_PORT ip6.arpa:$COREDNS_DNS_PORT {
    bind $NODE_IP
    errors
    ready 127.0.0.1:$COREDNS_READY_PORT
    kubernetes $CLUSTER_DOMAIN in-addr.arpa ip6.arpa {
        kubeconfig $pki/coredns.kubeconfig $CLUSTER_CONTEXT
        pods insecure
    }
}
EOF
# no reload plugin: CoreDNS reads its Corefile only at start
if ((CONFIG_CHANGED)) && component_alive coredns; then
  say "Corefile changed: restarting CoreDNS"
  stop_component coredns 5
fi
start_daemon coredns "$COREDNS_BIN/coredns" -conf "$CLUSTER_STATE/Corefile"

# --- 10. ready ------------------------------------------------------------------------------------
wait_for kube-controller-manager 60 "kube-controller-manager /healthz" curl -fsSk https://127.0.0.1:10257/healthz
wait_for kube-scheduler 60 "kube-scheduler /healthz" curl -fsSk https://127.0.0.1:10259/healthz
wait_for kubelet 60 "kubelet /healthz" curl -fsS http://127.0.0.1:10248/healthz
wait_for kubelet 120 "node $NODE_NAME Ready" \
  sh -c "'$CLUSTER_BIN/kubectl' --kubeconfig '$KUBECONFIG_PATH' get node '$NODE_NAME' -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"
wait_for kube-controller-manager 60 "ServiceAccount default/default" kctl -n default get serviceaccount default
wait_for kube-proxy 30 "kube-proxy /healthz" curl -fsS http://127.0.0.1:10256/healthz
wait_for coredns 30 "CoreDNS /ready on 127.0.0.1:$COREDNS_READY_PORT" curl -fsS "http://127.0.0.1:$COREDNS_READY_PORT/ready"

say "up in $((SECONDS - started_at))s"
print_export

# Shared settings of the test cluster scripts. Sourced, never run.
KUBE_VERSION=v1.34.4
DEVLOOP_CLUSTER_CACHE=${DEVLOOP_CLUSTER_CACHE:-$HOME/.cache/devloop-cluster}
CLUSTER_BIN=$DEVLOOP_CLUSTER_CACHE/$KUBE_VERSION/bin
# Runtime state (certificates, etcd data, pid files, logs): removed by cluster:down.
CLUSTER_STATE=${DEVLOOP_CLUSTER_STATE:-/var/lib/devloop-cluster}
CLUSTER_LOGS=$CLUSTER_STATE/logs
CLUSTER_RUN=$CLUSTER_STATE/run
CLUSTER_PKI=$CLUSTER_STATE/pki
KUBECONFIG_PATH=$CLUSTER_STATE/kubeconfig
CLUSTER_CONTEXT=devloop-local
REGISTRY_PORT=5000
POD_SUBNET=10.244.0.0/24
SERVICE_SUBNET=10.96.0.0/16

# --- added by the cluster scripts (up.sh, down.sh, status.sh, docker-up.sh) ---
REGISTRY_HOST=localhost:$REGISTRY_PORT
PAUSE_IMAGE=$REGISTRY_HOST/pause:3.10
# Our own containerd: a socket and state dir of its own, so dockerd (which starts its own managed
# containerd when /run/containerd/containerd.sock is absent) and the cluster never share one.
CONTAINERD_RUN=/run/devloop-containerd
CONTAINERD_SOCK=$CONTAINERD_RUN/containerd.sock
CONTAINERD_ROOT=$CLUSTER_STATE/containerd
CNI_CONF_DIR=$CLUSTER_STATE/cni/net.d
CNI_NETWORK=devloop-pods
CNI_BRIDGE=cni0
API_PORT=6443
ETCD_CLIENT_URL=http://127.0.0.1:2379
# dockerd, when docker-up.sh had to start it: pid file and log live outside the cluster state so a
# docker engine started for builds alone survives cluster:down's state removal bookkeeping.
DOCKER_STATE=${DEVLOOP_DOCKER_STATE:-/var/lib/devloop-docker}
NODE_NAME=$(hostname | tr '[:upper:]' '[:lower:]')
# The machine's own address: the IPv4 address of the default route's interface (a table lookup,
# nothing is sent), else the first global IPv4 address, else loopback.
node_ip() {
  local dev ip
  dev=$(ip -4 -o route show default 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit }}')
  if [ -n "$dev" ]; then
    ip=$(ip -4 -o addr show dev "$dev" scope global 2>/dev/null | awk '{split($4, a, "/"); print a[1]; exit}')
  fi
  [ -n "${ip:-}" ] || ip=$(ip -4 -o addr show scope global 2>/dev/null | awk '{split($4, a, "/"); print a[1]; exit}')
  echo "${ip:-127.0.0.1}"
}
# Cluster DNS: CoreDNS, built from its Go module (build-coredns.sh, module in coredns/), runs on this
# machine next to the other components, listening on the node's address; pods reach it through the
# selector-less Service kube-system/kube-dns at CLUSTER_DNS_IP (kubelet clusterDNS).
COREDNS_VERSION=v1.14.0
COREDNS_BIN=$DEVLOOP_CLUSTER_CACHE/coredns-$COREDNS_VERSION/bin
CLUSTER_DOMAIN=cluster.local
CLUSTER_DNS_IP=10.96.0.10
COREDNS_DNS_PORT=10053
COREDNS_READY_PORT=10055
# The second registry: TLS with its own CA and htpasswd auth, as a private registry of a remote
# cluster would be (registry-auth.sh). It listens on this machine's address (not loopback, so
# dockerd verifies its certificate instead of treating it as an insecure local registry).
AUTH_REGISTRY_PORT=5443
AUTH_REGISTRY_DIR=$CLUSTER_STATE/registry-auth
AUTH_REGISTRY_USER=devloop

# Certificates and kubeconfigs of the test cluster, made with openssl (no kubeadm). Sourced by
# up.sh after env.sh and lib.sh; ensure_pki writes whatever is missing under $CLUSTER_PKI.
#
#   ca.crt/key                   cluster CA: signs every certificate below, and is the client CA
#   apiserver.crt/key            kube-apiserver serving cert (127.0.0.1, localhost, node IP, 10.96.0.1,
#                                kubernetes[.default[.svc[.cluster.local]]], node name)
#   apiserver-kubelet-client.*   apiserver -> kubelet client (O=system:masters)
#   sa.key/sa.pub                service-account token signing keypair
#   admin.*                      CN=devloop-admin O=system:masters (the user kubeconfig)
#   controller-manager.*         CN=system:kube-controller-manager
#   scheduler.*                  CN=system:kube-scheduler
#   kubelet-client.*             CN=system:node:<node> O=system:nodes
#   kubelet-serving.*            kubelet's HTTPS server (node IP, 127.0.0.1, node name)
#   kube-proxy.*                 CN=system:kube-proxy
#   coredns.*                    CN=devloop-coredns (ClusterRole devloop:coredns, bound by up.sh)

# sign_cert NAME CN O KIND [SANS]: key and certificate NAME.{key,crt} signed by the CA.
# KIND is client, server or both; SANS an openssl subjectAltName value.
sign_cert() {
  local name=$1 cn=$2 org=$3 kind=$4 sans=${5:-} subj eku ext
  [ -s "$CLUSTER_PKI/$name.crt" ] && return 0
  subj="/CN=$cn"
  [ -n "$org" ] && subj="/O=$org$subj"
  case $kind in
    client) eku=clientAuth ;;
    server) eku=serverAuth ;;
    *) eku=serverAuth,clientAuth ;;
  esac
  ext=$CLUSTER_PKI/$name.ext
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    echo "authorityKeyIdentifier=keyid"
    [ -n "$sans" ] && echo "subjectAltName=$sans"
  } >"$ext"
  openssl req -new -newkey rsa:2048 -nodes -keyout "$CLUSTER_PKI/$name.key" \
    -subj "$subj" -out "$CLUSTER_PKI/$name.csr" 2>/dev/null
  openssl x509 -req -in "$CLUSTER_PKI/$name.csr" -CA "$CLUSTER_PKI/ca.crt" -CAkey "$CLUSTER_PKI/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 3650 -sha256 -extfile "$ext" \
    -out "$CLUSTER_PKI/$name.crt.tmp" 2>/dev/null
  mv "$CLUSTER_PKI/$name.crt.tmp" "$CLUSTER_PKI/$name.crt"
  rm -f "$CLUSTER_PKI/$name.csr" "$ext"
  chmod 600 "$CLUSTER_PKI/$name.key"
}

# write_kubeconfig FILE CERTNAME [SERVER]: a kubeconfig for the CA-signed client cert CERTNAME,
# with the context devloop-local.
write_kubeconfig() {
  local file=$1 cert=$2 server=${3:-https://127.0.0.1:$API_PORT} user
  user=$(openssl x509 -in "$CLUSTER_PKI/$cert.crt" -noout -subject -nameopt multiline | awk -F' = ' '/commonName/ {print $2}')
  cat >"$file.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: $CLUSTER_CONTEXT
  cluster:
    server: $server
    certificate-authority-data: $(base64 -w0 <"$CLUSTER_PKI/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 <"$CLUSTER_PKI/$cert.crt")
    client-key-data: $(base64 -w0 <"$CLUSTER_PKI/$cert.key")
contexts:
- name: $CLUSTER_CONTEXT
  context:
    cluster: $CLUSTER_CONTEXT
    user: $user
current-context: $CLUSTER_CONTEXT
EOF
  chmod 600 "$file.tmp"
  mv "$file.tmp" "$file"
}

ensure_pki() {
  local ip=$1
  mkdir -p "$CLUSTER_PKI"
  chmod 700 "$CLUSTER_PKI"
  if [ ! -s "$CLUSTER_PKI/ca.crt" ]; then
    openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$CLUSTER_PKI/ca.key" \
      -subj "/CN=devloop-cluster-ca" -days 3650 -sha256 \
      -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
      -out "$CLUSTER_PKI/ca.crt" 2>/dev/null
    chmod 600 "$CLUSTER_PKI/ca.key"
  fi
  sign_cert apiserver kube-apiserver "" server \
    "IP:127.0.0.1,IP:$ip,IP:10.96.0.1,DNS:localhost,DNS:$NODE_NAME,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  sign_cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters client
  sign_cert admin devloop-admin system:masters client
  sign_cert controller-manager system:kube-controller-manager "" client
  sign_cert scheduler system:kube-scheduler "" client
  sign_cert kubelet-client "system:node:$NODE_NAME" system:nodes client
  sign_cert kubelet-serving "system:node:$NODE_NAME" system:nodes server \
    "IP:127.0.0.1,IP:$ip,DNS:localhost,DNS:$NODE_NAME"
  sign_cert kube-proxy system:kube-proxy "" client
  sign_cert coredns devloop-coredns "" client
  if [ ! -s "$CLUSTER_PKI/sa.key" ]; then
    openssl genrsa -out "$CLUSTER_PKI/sa.key" 2048 2>/dev/null
    openssl rsa -in "$CLUSTER_PKI/sa.key" -pubout -out "$CLUSTER_PKI/sa.pub" 2>/dev/null
    chmod 600 "$CLUSTER_PKI/sa.key"
  fi
  write_kubeconfig "$KUBECONFIG_PATH" admin
  write_kubeconfig "$CLUSTER_PKI/controller-manager.kubeconfig" controller-manager
  write_kubeconfig "$CLUSTER_PKI/scheduler.kubeconfig" scheduler
  write_kubeconfig "$CLUSTER_PKI/kubelet.kubeconfig" kubelet-client
  write_kubeconfig "$CLUSTER_PKI/kube-proxy.kubeconfig" kube-proxy
  write_kubeconfig "$CLUSTER_PKI/coredns.kubeconfig" coredns
}

# The second registry of the test cluster, as a remote cluster's private registry would be: TLS
# with a certificate from its own CA, and htpasswd (bcrypt) auth for one user. Sourced by up.sh
# after env.sh and lib.sh, with NODE_IP set; idempotent (keeps the CA, certificate, password and
# config while they are valid; restarts the registry only when its config changed).
#
# Files in $AUTH_REGISTRY_DIR: ca.crt/ca.key (the CA), tls.crt/tls.key (for NODE_IP, 127.0.0.1 and
# localhost), password (of $AUTH_REGISTRY_USER, random, mode 600), htpasswd, config.yml, host
# (HOST:PORT, for tests), storage/. Trust: containerd through certs.d/HOST/hosts.toml (ca =), dockerd
# through /etc/docker/certs.d/HOST/ca.crt (the classic builder reads it on each connection; BuildKit
# when dockerd starts, so a running dockerd is restarted when the CA is new).

auth_host="$NODE_IP:$AUTH_REGISTRY_PORT"
mkdir -p "$AUTH_REGISTRY_DIR/storage"
chmod 700 "$AUTH_REGISTRY_DIR"
(
  cd "$AUTH_REGISTRY_DIR" || exit 1
  if [ ! -s ca.crt ] || [ ! -s ca.key ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 \
      -subj "/CN=devloop test registry CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null || exit 1
    rm -f tls.crt
  fi
  if [ ! -s tls.crt ] || ! openssl x509 -in tls.crt -noout -checkip "$NODE_IP" 2>/dev/null | grep -q 'does match' ||
    ! openssl verify -CAfile ca.crt tls.crt >/dev/null 2>&1; then
    openssl req -newkey rsa:2048 -nodes -keyout tls.key -out tls.csr -subj "/CN=$NODE_IP" 2>/dev/null || exit 1
    printf 'subjectAltName=IP:%s,IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' "$NODE_IP" >tls.ext
    openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out tls.crt -days 825 -extfile tls.ext 2>/dev/null || exit 1
    rm -f tls.csr tls.ext
  fi
  chmod 600 ca.key tls.key
  if [ ! -s password ]; then
    (umask 077 && head -c 24 /dev/urandom | base64 | tr -d '/+=' >password)
  fi
  # bcrypt through the C library's crypt (libxcrypt: $2b$), checked against the current password
  AUTH_REGISTRY_USER=$AUTH_REGISTRY_USER python3 -W ignore - <<'PY' || exit 1
import crypt, os
user = os.environ.get("AUTH_REGISTRY_USER", "devloop")
password = open("password").read().strip()
try:
    name, stored = open("htpasswd").read().strip().split(":", 1)
    if name == user and crypt.crypt(password, stored) == stored:
        raise SystemExit(0)
except (FileNotFoundError, ValueError):
    pass
with open("htpasswd.tmp", "w") as f:
    f.write(f"{user}:{crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))}\n")
os.replace("htpasswd.tmp", "htpasswd")
PY
) || die registry-auth "creating the CA, certificate or htpasswd of the TLS registry in $AUTH_REGISTRY_DIR failed"
echo "$auth_host" >"$AUTH_REGISTRY_DIR/host"

write_if_changed "$AUTH_REGISTRY_DIR/config.yml" <<YML
version: 0.1
log:
  level: info
  fields:
    service: registry-auth
storage:
  filesystem:
    rootdirectory: $AUTH_REGISTRY_DIR/storage
  delete:
    enabled: true
auth:
  htpasswd:
    realm: devloop-test-registry
    path: $AUTH_REGISTRY_DIR/htpasswd
http:
  addr: $auth_host
  tls:
    certificate: $AUTH_REGISTRY_DIR/tls.crt
    key: $AUTH_REGISTRY_DIR/tls.key
  headers:
    X-Content-Type-Options: [nosniff]
YML
if ((CONFIG_CHANGED)) && component_alive registry-auth; then
  say "registry-auth config changed: restarting it"
  stop_component registry-auth
fi

# containerd (the cluster's, reads certs.d on every pull) and dockerd (reads certs.d on every
# connection) trust the CA for this host only.
mkdir -p "$CONTAINERD_ROOT/certs.d/$auth_host" "/etc/docker/certs.d/$auth_host"
write_if_changed "$CONTAINERD_ROOT/certs.d/$auth_host/hosts.toml" <<TOML
server = "https://$auth_host"

[host."https://$auth_host"]
  capabilities = ["pull", "resolve"]
  ca = "$AUTH_REGISTRY_DIR/ca.crt"
TOML
if ! cmp -s "$AUTH_REGISTRY_DIR/ca.crt" "/etc/docker/certs.d/$auth_host/ca.crt"; then
  cp "$AUTH_REGISTRY_DIR/ca.crt" "/etc/docker/certs.d/$auth_host/ca.crt"
  # The classic builder's pulls read certs.d on every connection, but dockerd's BuildKit reads it
  # when dockerd starts (seen with Docker 20.10: x509 errors until a restart). A dockerd that
  # docker-up.sh started and that runs already is restarted, so both builders trust the new CA.
  if pid_alive "$DOCKER_STATE/dockerd.pid" dockerd; then
    say "restarting dockerd (pid $(cat "$DOCKER_STATE/dockerd.pid")) so that its BuildKit trusts the new CA of $auth_host"
    stop_pid "$(cat "$DOCKER_STATE/dockerd.pid")" 30
    bash "$here/docker-up.sh" >&2
  fi
fi

start_daemon registry-auth docker-registry serve "$AUTH_REGISTRY_DIR/config.yml"
wait_for registry-auth 30 "TLS registry on https://$auth_host (htpasswd)" component_healthy registry-auth

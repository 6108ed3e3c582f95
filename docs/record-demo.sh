#!/usr/bin/env bash
# Records the dashboard of a real `npm run demo` session with asciinema into docs/demo.cast and
# renders it to docs/demo.svg with svg-term (npm: svg-term-cli). The recording starts after the
# demo's set-up (run `npm run setup` first): what it records is the command `npm run demo` then
# runs, `devloop dev` in fixtures/microservices. While the dashboard runs, a driver in the
# background does what a user would: creates a post and a comment through the port-forwards, edits
# a Node.js handler (synced, node --watch restarts), edits the Go service (rebuilt, rolled out), then
# presses Ctrl-C (SIGINT to the terminal's foreground process group, as the terminal does). The
# edited fixture files are restored afterwards. Needs the cluster up (npm run setup), asciinema
# (apt-get install asciinema) and svg-term (SVG_TERM, default: svg-term on PATH). The README's
# still, docs/demo.png, is the last screen after the Go service's rebuild, drawn by
# docs/demo-still.py (PyPI: pyte) and rsvg-convert (apt-get install librsvg2-bin).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

if [ "${1:-}" = --inside ]; then
  fixture=fixtures/microservices/services
  handlers=$fixture/posts/handlers.js
  source_go=$fixture/stats/main.go
  cp "$handlers" /tmp/devloop-demo-handlers.js
  cp "$source_go" /tmp/devloop-demo-main.go
  (
    trap '' INT
    exec >/dev/null 2>&1
    ok() { curl -fsS --max-time 2 "$1" >/dev/null 2>&1; }
    for _ in $(seq 600); do ok localhost:14106/ && break; sleep 1; done
    sleep 4
    post=$(curl -fsS -XPOST localhost:14100/posts -d '{"title":"hello from the demo"}' | sed 's/.*"id":"\([^"]*\)".*/\1/')
    sleep 3
    curl -fsS -XPOST "localhost:14101/posts/$post/comments" -d '{"content":"an orange comment"}'
    sleep 5
    sed -i "s/message: 'posts v1'/message: 'posts v2, edited in the demo'/" "$handlers"
    for _ in $(seq 60); do curl -fsS localhost:14100/ | grep -q v2 && break; sleep 1; done
    sleep 5
    sed -i 's/const version = "stats v1"/const version = "stats v2"/' "$source_go"
    for _ in $(seq 300); do curl -fsS localhost:14106/ | grep -q 'stats v2' && break; sleep 1; done
    sleep 6
    kill -INT -- "-$(ps -o pgid= $$ | tr -d ' ')"
  ) &
  trap : INT  # a handler, not an ignore: devloop keeps the default disposition
  status=0
  (cd fixtures/microservices && KUBECONFIG=${KUBECONFIG:-/var/lib/devloop-cluster/kubeconfig} ../../bin/devloop dev) || status=$?
  wait || true
  cp /tmp/devloop-demo-handlers.js "$handlers"
  cp /tmp/devloop-demo-main.go "$source_go"
  exit "$status"
fi

asciinema rec --overwrite --quiet --idle-time-limit 1.5 --cols 120 --rows 36 -c "bash docs/record-demo.sh --inside" docs/demo.cast
"${SVG_TERM:-svg-term}" --in docs/demo.cast --out docs/demo.svg --window --no-cursor
still=$(mktemp --suffix .svg)
python3 docs/demo-still.py docs/demo.cast "$still" pushed stopping
rsvg-convert -o docs/demo.png "$still"
rm -f "$still"
ls -l docs/demo.cast docs/demo.svg docs/demo.png

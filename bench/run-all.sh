#!/usr/bin/env bash
# Runs every benchmark, one after the other, against the real engine and the test cluster
# (started by test/setup.sh), and keeps the output in bench/results/<UTC date>.txt with the machine
# it ran on. Each benchmark runs its baseline side by side in the same run and prints ratios.
# The soak of bench/dev.mjs is shortened with BENCH_SOAK_SECONDS (default here: 120); the long soak
# of bench/soak.mjs runs only with SOAK=1 (SOAK_SECONDS etc. shorten it).
# Every bench/*.mjs is run here except its three helpers, which measure nothing by themselves:
# bench/stats.mjs (the statistics every benchmark reports with), bench/devloop-dev.mjs (starts
# `devloop dev --output json` and collects its events for dev, dev-loop and microservices) and
# bench/kubelet-log.mjs (reads the test cluster's kubelet log for deploy's and dev-loop's phases).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
eval "$(bash test/setup.sh | grep '^export KUBECONFIG=')"
mkdir -p bench/results
out="bench/results/$(date -u +%Y-%m-%dT%H%MZ).txt"
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(. /etc/os-release; echo "$PRETTY_NAME"), kernel $(uname -r), node $(node --version), docker $(docker version --format '{{.Server.Version}}' 2>/dev/null)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
} | tee "$out"
export BENCH_SOAK_SECONDS=${BENCH_SOAK_SECONDS:-120}
# A deploy into a new namespace and a rebuild end when the cluster's pods are Ready, which comes in
# modes about 1 s apart on either side (the readiness probe's period; on a new namespace, whether
# the kubelet's first read of kube-root-ca.crt loses its race with the node authorizer and waits
# 1.6 s): 20 samples per side there, so a p50 does not rest on which mode a few samples fell in.
export BENCH_DEPLOY_ROUNDS=${BENCH_DEPLOY_ROUNDS:-20} BENCH_REBUILD_ROUNDS=${BENCH_REBUILD_ROUNDS:-20}
for bench in build deploy sync watch dev dev-loop microservices buildkit; do
  printf '\n== bench/%s.mjs\n' "$bench" | tee -a "$out"
  node "bench/$bench.mjs" 2>&1 | tee -a "$out"
done
# save-to-new-behaviour once more with a browser's kept-alive connection (the run above opens a
# connection per GET, as curl does): the container runtime's port-forward holds a closed pod
# connection for about 1 s, which a kept-alive client pays on either side
printf '\n== bench/microservices.mjs (BENCH_MICRO_PROBE=keepalive)\n' | tee -a "$out"
BENCH_MICRO_PROBE=keepalive node bench/microservices.mjs 2>&1 | tee -a "$out"
# The soak (bench/soak.mjs: 30 min steady, then 30 min with the API server "down" for 10 of them)
# takes over an hour: only with SOAK=1. Its FAIL verdicts are reported, not fatal to this script.
if [ "${SOAK:-}" = 1 ]; then
  for mode in steady api-down; do
    printf '\n== bench/soak.mjs (%s)\n' "$mode" | tee -a "$out"
    SOAK_MODE=$mode node bench/soak.mjs 2>&1 | tee -a "$out" || echo "soak ($mode): FAIL (see above)" | tee -a "$out"
  done
else
  printf '\n== bench/soak.mjs skipped (over an hour; run with SOAK=1)\n' | tee -a "$out"
fi
echo "results: $out"

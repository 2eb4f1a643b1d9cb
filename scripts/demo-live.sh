#!/usr/bin/env bash
# The live loop on your machine, in one command: watch a canary advance on
# live metrics and a bad version roll back by itself.
#
#   scripts/demo-live.sh            # about three minutes; stops everything at the end
#   KEEP=1 scripts/demo-live.sh     # keep the temporary directory (repository, logs)
#
# It starts, all on loopback and all from this checkout's scripts:
#   - an MLflow tracking server (scripts/mlflow.sh),
#   - three tiny scikit-learn models logged in it (scripts/live.sh train):
#     version 1 and 2 good, version 3 bad (slower, and a 500 for a third of
#     the inputs); modelops registers them from a model manifest,
#   - a model server per version (`mlflow models serve`, scripts/live.sh serve),
#   - Envoy in front of them (scripts/envoy.sh), every answer naming its
#     version in x-modelops-version,
#   - Prometheus scraping Envoy every second (scripts/prometheus.sh scrape),
#   - a bounded load generator sending 30 requests/s (scripts/live/load.py).
# Then it edits the repository as you would and runs `modelops apply` every
# 3 seconds, as a scheduled job would every 15 minutes, printing what each
# run decided and the routing Envoy reports:
#   1. version 2 replaces version 1 by a canary: 20% → 50% → 100%, each stage
#      judged on Envoy's live error rate and p99 latency;
#   2. version 3's canary is rolled back on its error rate, all traffic back
#      on version 2, version 3 Rejected.
# Everything it starts stops when it ends (or on Ctrl-C).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KEEP="${KEEP:-0}"
MODEL=demo-scorer

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { printf 'demo-live.sh: %s\n' "$*" >&2; exit 1; }

say "installing what the demo needs (once)"
"$ROOT/scripts/mlflow.sh" install
"$ROOT/scripts/envoy.sh" install
"$ROOT/scripts/prometheus.sh" install
(cd "$ROOT" && cargo build --quiet --locked)
BIN="$ROOT/target/debug/modelops"

WORK="$(mktemp -d /tmp/modelops-demo.XXXXXX)"
ENVOY_PID=
LOAD_PID=
cleanup() {
    if [[ -n "$LOAD_PID" ]]; then kill "$LOAD_PID" 2>/dev/null || true; fi
    if [[ -n "$ENVOY_PID" ]]; then kill "$ENVOY_PID" 2>/dev/null || true; fi
    "$ROOT/scripts/live.sh" stop "$WORK/servers" || true
    "$ROOT/scripts/prometheus.sh" stop "$WORK/prometheus" || true
    "$ROOT/scripts/mlflow.sh" stop "$WORK/mlflow" || true
    if [[ "$KEEP" == 1 ]]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }

say "MLflow, and three models logged in it"
mkdir -p "$WORK/mlflow" "$WORK/servers" "$WORK/envoy"
MLFLOW_TRACKING_URI="$("$ROOT/scripts/mlflow.sh" start "$WORK/mlflow")"
export MLFLOW_TRACKING_URI
echo "MLflow at $MLFLOW_TRACKING_URI"
"$ROOT/scripts/live.sh" train "$WORK/trained.txt" good good bad 2>/dev/null
mapfile -t SOURCES < <(awk '{ print $4 }' "$WORK/trained.txt")
mapfile -t RUNS < <(awk '{ print $3 }' "$WORK/trained.txt")

REPO="$WORK/repo"
mkdir -p "$REPO/models" "$REPO/deployments" "$REPO/policies"
cat >"$REPO/policies/default.yaml" <<'YAML'
# The demo is about rollouts: no validation gates.
apiVersion: modelops/v1
kind: Policy
metadata: {name: default}
spec:
  staging: &none {metrics: {}, fairness_min: null, signature: {required: false}, latency_p99_max_ms: null, require_pinned_dependencies: false}
  production: *none
  production_requires: {rollout_evidence: false, approvals: []}
YAML
model() {
    cat >"$REPO/models/$MODEL.yaml" <<YAML
apiVersion: modelops/v1
kind: Model
metadata: {name: $MODEL, owner: ml-platform}
spec:
  versions:
    - {version: 1, stage: $1, source: "${SOURCES[0]}", training_run_id: ${RUNS[0]}}
    - {version: 2, stage: $2, source: "${SOURCES[1]}", training_run_id: ${RUNS[1]}}
    - {version: 3, stage: $3, source: "${SOURCES[2]}", training_run_id: ${RUNS[2]}}
YAML
}
commit() {
    git -C "$REPO" add -A
    git -C "$REPO" -c user.name=demo -c user.email=demo@localhost -c commit.gpgsign=false \
        -c core.hooksPath=/dev/null commit -q -m "$1"
    echo "git commit: $1"
}
model Production Staging Development
printf 'apiVersion: modelops/v1\nkind: Config\nspec:\n  registry: {type: mlflow}\n' >"$REPO/modelops.yaml"
git -C "$REPO" init -q
commit "register the three versions"
"$BIN" apply --repo "$REPO" --auto-approve | sed 's/^/  /'

say "a model server per version, Envoy in front, Prometheus scraping Envoy"
declare -A SERVED
for v in 1 2 3; do SERVED[$v]="$("$ROOT/scripts/live.sh" serve "$WORK/servers" "$MODEL" "$v")"; done
ADMIN="$(free_port)"
LISTEN="127.0.0.1:$(free_port)"
"$ROOT/scripts/envoy.sh" bootstrap "$WORK/envoy" "$ADMIN" >"$WORK/envoy.yaml"
"$("$ROOT/scripts/envoy.sh" bin)" -c "$WORK/envoy.yaml" -l warning >"$WORK/envoy.log" 2>&1 &
ENVOY_PID=$!
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$ADMIN/ready" >/dev/null 2>&1 && break; sleep 0.1; done
PROMETHEUS="$("$ROOT/scripts/prometheus.sh" scrape "$WORK/prometheus" "127.0.0.1:$ADMIN")"
echo "Envoy: model on $LISTEN, admin on 127.0.0.1:$ADMIN; Prometheus at $PROMETHEUS"
cat >"$REPO/modelops.yaml" <<YAML
apiVersion: modelops/v1
kind: Config
spec:
  registry: {type: mlflow}   # MLFLOW_TRACKING_URI names the server
  serving:
    targets:
      edge:
        type: envoy
        config_dir: $WORK/envoy
        admin: 127.0.0.1:$ADMIN
        listen: {$MODEL: "$LISTEN"}
        upstreams:
          $MODEL: {"1": "${SERVED[1]}", "2": "${SERVED[2]}", "3": "${SERVED[3]}"}
        health_path: /ping
  metrics:
    prom:
      type: prometheus
      url: $PROMETHEUS
      preset: envoy   # requests, 5xx and p99 from Envoy's own per-version stats
YAML
deployment() {
    cat >"$REPO/deployments/$MODEL.yaml" <<YAML
apiVersion: modelops/v1
kind: Deployment
metadata: {name: $MODEL}
spec:
  model: $MODEL
  target: edge
  # Seconds-long stages on a one-second scrape: a first analysis after 4 s.
  analysis: {provider: prom, warmup: 4s, min_requests: 20}
$1
YAML
}
deployment "  direct: {}"
commit "serve version 1 through Envoy"
"$BIN" apply --repo "$REPO" --auto-approve | sed 's/^/  /'

say "live traffic: 30 requests/s for at most 4 minutes"
python3 "$ROOT/scripts/live/load.py" --url "http://$LISTEN/invocations" \
    --requests 7200 --duration 240 --rate 30 --out "$WORK/load.jsonl" >"$WORK/load.out" &
LOAD_PID=$!

CANARY="  canary:
    stages:
      - {traffic_percent: 20, duration: 12s, rollback_if: {error_rate_increase: 5%, latency_p99_increase: 150ms}}
      - {traffic_percent: 50, duration: 12s, rollback_if: {error_rate_increase: 5%, latency_p99_increase: 150ms}}
      - {traffic_percent: 100, duration: 6s}"
# Applies every 3 s, printing each run's decisions, until the output matches $1.
loop_until() {
    local out
    for _ in $(seq 1 60); do
        out="$("$BIN" apply --repo "$REPO" --auto-approve 2>&1 || true)"
        printf '%s  [routing read from Envoy: %s]\n' "$(date +%T)" \
            "$("$BIN" status "$MODEL" --repo "$REPO" 2>/dev/null | grep -o 'edge: .*' | head -n 1)"
        grep -E '^\s+(start|hold|advance|roll back|~ version|done:)' <<<"$out" | grep -v '^  done: .*record rollout' | sed 's/^ */    /' || true
        grep -q "$1" <<<"$out" && return 0
        sleep 3
    done
    die "no '$1' after 60 applies"
}

say "1. a canary of version 2 (good) replaces version 1"
model Archived Production Development
deployment "$CANARY"
commit "version 2 to Production, by canary"
loop_until "canary completed"

say "2. a canary of version 3 (bad: slower, 500 for a third of inputs)"
model Archived Production Staging
commit "version 3 to Staging"
"$BIN" apply --repo "$REPO" --auto-approve | grep -E '^\s+~ version' | sed 's/^ */    /'
model Archived Archived Production
commit "version 3 to Production, by canary"
loop_until "Rejected"
sleep 5
kill -TERM "$LOAD_PID" 2>/dev/null || true
wait "$LOAD_PID" 2>/dev/null || true
LOAD_PID=

say "what the clients saw"
sed 's/^/  /' "$WORK/load.out"
say "history"
"$BIN" history "$MODEL" --repo "$REPO" | tail -n 8 | sed 's/^/  /'
echo
echo "Version 2 completed its canary on live metrics; version 3 was rolled back by itself."

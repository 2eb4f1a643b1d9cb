#!/usr/bin/env bash
# MLflow benchmark: the read path of `modelops plan` against a real MLflow
# tracking server holding MODELS models x 3 versions, and its number of HTTP
# requests, beside a Python script doing the equivalent reads with
# MlflowClient (bench/mlflow_read.py) in the same run.
#
# Targets: plan's requests <= pages + a small constant; plan at least 2x
# faster than the Python client.
#
# What it does:
#   1. builds target/release/modelops if needed; installs and starts MLflow
#      3.17.2 on a free loopback port (scripts/mlflow.sh);
#   2. generates MODELS models (versions numbered from 1, as MLflow numbers
#      them) and applies them with modelops (timed once: the write path);
#   3. times RUNS runs of `modelops plan --detailed-exitcode` (must exit 0)
#      and of bench/mlflow_read.py, counting each one's HTTP requests in the
#      server's access log;
#   4. prints a table and writes it into BENCHMARKS.md between the
#      `<!-- mlflow:start -->` and `<!-- mlflow:end -->` markers.
#
# Environment: MODELS=1000, RUNS=5, KEEP=1 keeps the temporary directory.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH_DIR")"
MODELS="${MODELS:-1000}"
RUNS="${RUNS:-5}"
KEEP="${KEEP:-0}"
REPORT="${REPORT:-$ROOT/BENCHMARKS.md}"
VENV="$ROOT/.cache/mlflow-venv"

log() { printf '==> %s\n' "$*" >&2; }

BIN="${MODELOPS_BIN:-$ROOT/target/release/modelops}"
if [[ -z "${MODELOPS_BIN:-}" ]]; then
    log "building the release binary"
    (cd "$ROOT" && cargo build --release --locked --quiet)
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/modelops-mlflow-bench.XXXXXX")"
cleanup() {
    for d in "$WORK"/mlflow*; do "$ROOT/scripts/mlflow.sh" stop "$d" || true; done
    if [[ "$KEEP" == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

log "starting MLflow"
mkdir -p "$WORK/mlflow"
URL="$("$ROOT/scripts/mlflow.sh" start "$WORK/mlflow")"
ACCESS_LOG="$WORK/mlflow/server.log"
requests() { grep -c '"\(GET\|POST\|PATCH\|DELETE\) /api/2.0/mlflow/' "$ACCESS_LOG" || true; }

log "generating $MODELS models"
python3 "$BENCH_DIR/gen_repo.py" "$WORK/repo" --models "$MODELS" --deployments 0 --first-version 1 >&2
export MLFLOW_TRACKING_URI="$URL"

log "applying them with modelops (the write path)"
before=$(requests)
start=$(date +%s.%N)
"$BIN" apply --repo "$WORK/repo" --state "$WORK/state" --auto-approve >"$WORK/apply.out" 2>"$WORK/apply.err" || {
    tail -n 20 "$WORK/apply.err" >&2
    exit 1
}
APPLY_S=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
APPLY_REQ=$(($(requests) - before))
log "  apply: ${APPLY_S} s, ${APPLY_REQ} requests"

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

PLAN_TIMES=() PY_TIMES=() PY_READ_TIMES=()
for ((i = 1; i <= RUNS; i++)); do
    before=$(requests)
    start=$(date +%s.%N)
    "$BIN" plan --repo "$WORK/repo" --state "$WORK/state" --detailed-exitcode >"$WORK/plan.out" 2>&1 || {
        echo "plan did not report 'no changes' after apply:" >&2
        tail -n 20 "$WORK/plan.out" >&2
        exit 1
    }
    PLAN_TIMES+=("$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')")
    sleep 0.3
    PLAN_REQ=$(($(requests) - before))

    before=$(requests)
    start=$(date +%s.%N)
    read -r py_s py_models py_versions _ < <("$VENV/bin/python" "$BENCH_DIR/mlflow_read.py" "$URL")
    PY_TIMES+=("$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')")
    PY_READ_TIMES+=("$py_s")
    sleep 0.3
    PY_REQ=$(($(requests) - before))
    log "  run $i: modelops plan ${PLAN_TIMES[-1]} s ($PLAN_REQ requests), MlflowClient script ${PY_TIMES[-1]} s, of which reads ${py_s} s ($PY_REQ requests)"
done
PLAN_S="$(median "${PLAN_TIMES[@]}")"
PY_S="$(median "${PY_TIMES[@]}")"
PY_READ_S="$(median "${PY_READ_TIMES[@]}")"
READ_RATIO=$(awk -v a="$PY_READ_S" -v b="$PLAN_S" 'BEGIN { printf "%.1f", a / b }')
SPEEDUP=$(awk -v a="$PY_S" -v b="$PLAN_S" 'BEGIN { printf "%.1f", a / b }')
VERSIONS=$((MODELS * 3))
# One page of registered models per 1,000, one page of versions per 10,000.
PAGES=$(((MODELS + 999) / 1000 + (VERSIONS + 9999) / 10000))

# Keep-alive: MLflow answers a reused connection about 40 ms slower (headers
# and body in two sends, Nagle and delayed ACKs). Measure the write path both
# ways on a fresh server each, KEEPALIVE_MODELS models.
KEEPALIVE_MODELS="${KEEPALIVE_MODELS:-100}"
python3 "$BENCH_DIR/gen_repo.py" "$WORK/repo-ka" --models "$KEEPALIVE_MODELS" --deployments 0 --first-version 1 >/dev/null
declare -A KA_S
for mode in 0 1; do
    "$ROOT/scripts/mlflow.sh" stop "$WORK/mlflow"
    rm -rf "$WORK/mlflow-ka-$mode" && mkdir -p "$WORK/mlflow-ka-$mode"
    export MLFLOW_TRACKING_URI="$("$ROOT/scripts/mlflow.sh" start "$WORK/mlflow-ka-$mode")"
    start=$(date +%s.%N)
    MODELOPS_HTTP_KEEPALIVE=$mode "$BIN" apply --repo "$WORK/repo-ka" --state "$WORK/state-ka-$mode" --auto-approve >/dev/null 2>"$WORK/ka.err" || {
        tail -n 20 "$WORK/ka.err" >&2
        exit 1
    }
    KA_S[$mode]=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    "$ROOT/scripts/mlflow.sh" stop "$WORK/mlflow-ka-$mode"
    log "  apply of $KEEPALIVE_MODELS models, keep-alive=$mode: ${KA_S[$mode]} s"
done

verdict() { if awk "BEGIN { exit !($1) }"; then echo PASS; else echo FAIL; fi; }
SECTION="<!-- mlflow:start -->
## MLflow read path

Produced by \`bench/mlflow.sh\`$( [[ "$MODELS" != 1000 ]] && printf ' with MODELS=%s' "$MODELS") on $(date -u '+%Y-%m-%d %H:%M') UTC, against MLflow 3.17.2 (one worker, SQLite store) on loopback.
$MODELS models × 3 versions ($VERSIONS versions, with stages, aliases and modelops' tags), written by \`modelops apply\`.
Each read figure is the median of $RUNS runs; requests are counted in the server's access log.

| operation | wall s | HTTP requests |
|---|---:|---:|
| \`modelops apply\` (empty registry → $MODELS models, once) | $APPLY_S | $APPLY_REQ |
| \`modelops plan --detailed-exitcode\` (no changes) | $PLAN_S | $PLAN_REQ |
| MlflowClient script: search models + versions + aliases (\`python bench/mlflow_read.py\`, whole process) | $PY_S | $PY_REQ |
| … of which the reads alone (after \`import mlflow\`) | $PY_READ_S | |

| target | measured | result |
|---|---|---|
| plan requests ≤ pages ($PAGES) + 2 | $PLAN_REQ | $(verdict "$PLAN_REQ <= $PAGES + 2") |
| plan ≥ 2× faster than MlflowClient | ${SPEEDUP}× | $(verdict "$SPEEDUP >= 2") |

Both commands are timed as whole processes, as a user or a CI job runs them: modelops' time includes reading and validating the repository and planning; the script's includes starting Python and importing mlflow. Against the reads alone the ratio is ${READ_RATIO}× (modelops runs its two searches side by side; both tools wait on the same two answers, and the server's time to answer the versions search, a few seconds for 3,000 versions with their tags, bounds both).

Client settings: \`modelops apply\` of $KEEPALIVE_MODELS models onto a fresh server took ${KA_S[0]} s with a new connection per request (what modelops does) and ${KA_S[1]} s reusing kept-alive connections (\`MODELOPS_HTTP_KEEPALIVE=1\`, for this comparison only).
<!-- mlflow:end -->"

printf '%s\n' "$SECTION"
if [[ -f "$REPORT" ]] && grep -q '<!-- mlflow:start -->' "$REPORT"; then
    awk -v section="$SECTION" '
        /<!-- mlflow:start -->/ { print section; skip = 1; next }
        /<!-- mlflow:end -->/ { skip = 0; next }
        !skip { print }
    ' "$REPORT" >"$REPORT.tmp" && mv "$REPORT.tmp" "$REPORT"
else
    printf '\n%s\n' "$SECTION" >>"$REPORT"
fi
log "wrote $REPORT"

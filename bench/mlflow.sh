#!/usr/bin/env bash
# MLflow at scale: `modelops plan` and `apply` of MODELS new models x 3
# versions against real MLflow 3.17.2 servers, timed, with every HTTP
# request counted (artifacts included), on three setups:
#
#   sqlite1      SQLite store, 1 worker (what the tests run)
#   pg4          PostgreSQL 15 store, 4 workers
#   pg4-20ms     the same behind a proxy adding DELAY_MS (20) to every request,
#                as a tracking server on another host would
#
# Targets (issue 17), on pg4-20ms: apply of 1,000 new models < 90 s; the
# initial plan, verifying 3,000 training runs, < 10 s; and at most 12
# requests per new model (9 writes + 3 reads) or each extra justified.
#
# What it does:
#   1. builds target/release/modelops unless MODELOPS_BIN is set; installs
#      MLflow (scripts/mlflow.sh) and psycopg2-binary into its virtualenv;
#   2. initialises a PostgreSQL cluster in a temporary directory from
#      Debian's postgresql (/usr/lib/postgresql/15/bin; as the `postgres`
#      user when run as root), one database per PostgreSQL setup, reached as
#      postgresql+psycopg2://mlflow@127.0.0.1:PORT/DB;
#   3. per setup: a fresh MLflow server, and in front of it
#      bench/latency_proxy.py (delay 0 or DELAY_MS), which counts every
#      request; then times `modelops plan` on the empty registry (initial:
#      every version's training run verified), `modelops apply
#      --auto-approve`, and RUNS runs of `modelops plan --detailed-exitcode`
#      (steady: must exit 0);
#   4. on pg4-20ms, before the apply, logs 3,000 runs and times the two ways
#      modelops has of reading them (`runs/search` by id, 100 a request, vs
#      one `runs/get` each, 16 at once: bench/mlflow_runs.py);
#   5. prints a table and writes it into BENCHMARKS.md between the
#      `<!-- mlflow:start -->` and `<!-- mlflow:end -->` markers.
#
# Environment: MODELS=1000, RUNS=3, DELAY_MS=20, SETUPS="sqlite1 pg4
# pg4-20ms", COMPARE_RUNS=1 (step 4), KEEP=1 keeps the temporary directory,
# BIN_REVISION names the revision MODELOPS_BIN was built from.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH_DIR")"
MODELS="${MODELS:-1000}"
RUNS="${RUNS:-3}"
DELAY_MS="${DELAY_MS:-20}"
SETUPS="${SETUPS:-sqlite1 pg4 pg4-20ms}"
COMPARE_RUNS="${COMPARE_RUNS:-1}"
KEEP="${KEEP:-0}"
REPORT="${REPORT:-$ROOT/BENCHMARKS.md}"
VENV="${MODELOPS_MLFLOW_VENV:-$ROOT/.cache/mlflow-venv}"
PGBIN="${PGBIN:-/usr/lib/postgresql/15/bin}"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'mlflow.sh: %s\n' "$*" >&2; exit 1; }

BIN="${MODELOPS_BIN:-$ROOT/target/release/modelops}"
if [[ -z "${MODELOPS_BIN:-}" ]]; then
    log "building the release binary"
    (cd "$ROOT" && cargo build --release --locked --quiet)
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/modelops-mlflow-bench.XXXXXX")"
chmod 755 "$WORK"
PIDS=()
PG_DATA=""
as_pg() { if [[ "$(id -u)" == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for d in "$WORK"/*/mlflow; do [[ -d "$d" ]] && "$ROOT/scripts/mlflow.sh" stop "$d" || true; done
    [[ -n "$PG_DATA" ]] && as_pg "$PGBIN/pg_ctl" -D "$PG_DATA" -m fast stop >/dev/null 2>&1 || true
    if [[ "$KEEP" == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

"$ROOT/scripts/mlflow.sh" install
if ! "$VENV/bin/python" -c 'import psycopg2' 2>/dev/null; then
    log "installing psycopg2-binary into $VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check psycopg2-binary >&2
fi

PG_PORT=""
start_postgres() {
    [[ -x "$PGBIN/initdb" ]] || die "no PostgreSQL at $PGBIN (apt-get install postgresql)"
    PG_DATA="$WORK/pg/data"
    mkdir -p "$WORK/pg"
    [[ "$(id -u)" == 0 ]] && chown postgres "$WORK/pg"
    as_pg "$PGBIN/initdb" -D "$PG_DATA" --auth=trust -U mlflow >"$WORK/initdb.log" 2>&1 || {
        tail "$WORK/initdb.log" >&2
        die "initdb failed"
    }
    PG_PORT="$(free_port)"
    as_pg "$PGBIN/pg_ctl" -D "$PG_DATA" -l "$WORK/pg/server.log" -w \
        -o "-p $PG_PORT -k $WORK/pg -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
    log "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT"
}

# Proxy in front of the server at $1 (URL), delay $2 ms, counting into $3;
# prints the proxy's URL.
start_proxy() {
    local upstream="${1##*:}" delay="$2" count="$3" portfile="$3.port"
    # Its output goes to a file: a command substitution would wait for it.
    python3 "$BENCH_DIR/latency_proxy.py" "$upstream" "$delay" "$count" "$portfile" >"$count.proxy" 2>&1 &
    echo $! >"$count.pid"
    for _ in $(seq 1 200); do [[ -f "$portfile" ]] && break; sleep 0.05; done
    echo "http://127.0.0.1:$(cat "$portfile")"
}
stop_proxy() { kill "$(cat "$1.pid")" 2>/dev/null || true; }
count() { wc -l <"$1" | tr -d ' '; }
# A plan was printed (exit 1 is expected too: a generated version or two
# fails its gates, and plan says so with 1); no read failed.
planned() {
    if grep -q "^Plan" "$1" && ! grep -q "^error:" "$1"; then return 0; fi
    tail -n 20 "$1" >&2
    return 1
}

log "generating $MODELS models"
python3 "$BENCH_DIR/gen_repo.py" "$WORK/repo" --models "$MODELS" --deployments 0 --first-version 1 >&2

declare -A RESULT
run_setup() {
    local setup="$1" dir="$WORK/$1" workers=1 delay=0 store=""
    mkdir -p "$dir/mlflow"
    case "$setup" in
        sqlite1) ;;
        pg4 | pg4-20ms)
            workers=4
            [[ "$setup" == pg4-20ms ]] && delay="$DELAY_MS"
            [[ -n "$PG_PORT" ]] || start_postgres
            local db="mlflow_${setup//-/_}"
            as_pg "$PGBIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U mlflow "$db"
            store="postgresql+psycopg2://mlflow@127.0.0.1:$PG_PORT/$db"
            ;;
        *) die "unknown setup $setup" ;;
    esac
    log "$setup: starting MLflow ($workers worker(s), ${store:-SQLite}), proxy delay ${delay} ms"
    local url purl
    url="$(MLFLOW_WORKERS=$workers MLFLOW_BACKEND_STORE_URI="${store:-sqlite:///$dir/mlflow/mlflow.db}" "$ROOT/scripts/mlflow.sh" start "$dir/mlflow")"
    purl="$(start_proxy "$url" "$delay" "$dir/requests.log")"
    PIDS+=("$(cat "$dir/requests.log.pid")")
    export MLFLOW_TRACKING_URI="$purl"

    local before start
    before=$(count "$dir/requests.log")
    start=$(now)
    "$BIN" plan --repo "$WORK/repo" --state "$dir/state" >"$dir/plan0.out" 2>&1 || true
    planned "$dir/plan0.out" || die "$setup: initial plan failed"
    RESULT[$setup.plan0]=$(since "$start")
    RESULT[$setup.plan0_req]=$(($(count "$dir/requests.log") - before))
    log "  initial plan: ${RESULT[$setup.plan0]} s, ${RESULT[$setup.plan0_req]} requests"
    # Before the apply, so the registry is still empty for its plans.
    if [[ "$setup" == pg4-20ms && "$COMPARE_RUNS" == 1 ]]; then compare_runs "$dir"; fi

    before=$(count "$dir/requests.log")
    start=$(now)
    # Exit 1 is expected: some generated versions fail their gates and are
    # marked Rejected; the apply itself must complete.
    "$BIN" apply --repo "$WORK/repo" --state "$dir/state" --auto-approve >"$dir/apply.out" 2>"$dir/apply.err" || true
    grep -q "^Apply complete" "$dir/apply.out" "$dir/apply.err" || {
        tail -n 20 "$dir/apply.err" >&2
        die "$setup: apply failed"
    }
    RESULT[$setup.apply]=$(since "$start")
    RESULT[$setup.apply_req]=$(($(count "$dir/requests.log") - before))
    sed -n "$((before + 1)),\$p" "$dir/requests.log" | awk '{ sub(/\?.*/, "", $2); print $1, $2 }' | sort | uniq -c | sort -rn >"$dir/apply-requests.txt"
    log "  apply: ${RESULT[$setup.apply]} s, ${RESULT[$setup.apply_req]} requests"

    local times=() req=0
    for ((i = 1; i <= RUNS; i++)); do
        before=$(count "$dir/requests.log")
        start=$(now)
        "$BIN" plan --repo "$WORK/repo" --state "$dir/state" >"$dir/plan.out" 2>&1 || true
        grep -q "^No changes" "$dir/plan.out" || {
            tail -n 20 "$dir/plan.out" >&2
            die "$setup: plan after apply did not report 'no changes'"
        }
        times+=("$(since "$start")")
        req=$(($(count "$dir/requests.log") - before))
    done
    RESULT[$setup.plan]=$(median "${times[@]}")
    RESULT[$setup.plan_req]=$req
    log "  steady plan: ${RESULT[$setup.plan]} s (median of $RUNS: ${times[*]}), $req requests"
    local added=""
    [[ "$delay" == 0 ]] || added=", +${delay} ms a request"
    local kind="SQLite"
    [[ -z "$store" ]] || kind="PostgreSQL 15"
    RESULT[$setup.server]="$workers worker(s), $kind$added"
    stop_proxy "$dir/requests.log"
    "$ROOT/scripts/mlflow.sh" stop "$dir/mlflow"
}

# 3,000 logged runs, then both ways modelops has of reading them, timed
# (bench/mlflow_runs.py): runs/search by id (the default) and concurrent
# runs/get.
compare_runs() {
    local dir="$1" n=$((MODELS * 3))
    log "  logging $n runs (the manifests' metrics) for the run-read comparison"
    local _n
    read -r _n RESULT[runs.search] RESULT[runs.search.req] RESULT[runs.get] RESULT[runs.get.req] < <(
        "$VENV/bin/python" "$BENCH_DIR/mlflow_runs.py" "$MLFLOW_TRACKING_URI" "$WORK/repo" "$dir/repo-runs")
    log "  reading them: search ${RESULT[runs.search]} s (${RESULT[runs.search.req]} requests), runs/get ${RESULT[runs.get]} s (${RESULT[runs.get.req]} requests)"
}

for s in $SETUPS; do run_setup "$s"; done

verdict() { if awk "BEGIN { exit !($1) }"; then echo PASS; else echo FAIL; fi; }
ROWS=""
for s in $SETUPS; do
    ROWS+="| $s (${RESULT[$s.server]}) | ${RESULT[$s.plan0]} s / ${RESULT[$s.plan0_req]} | ${RESULT[$s.apply]} s / ${RESULT[$s.apply_req]} | $(awk -v r="${RESULT[$s.apply_req]}" -v m="$MODELS" 'BEGIN { printf "%.1f", r / m }') | ${RESULT[$s.plan]} s / ${RESULT[$s.plan_req]} |
"
done
TARGETS=""
if [[ -n "${RESULT[pg4-20ms.apply]:-}" ]]; then
    TARGETS="| target (pg4-20ms) | measured | result |
|---|---|---|
| apply of $MODELS new models < 90 s | ${RESULT[pg4-20ms.apply]} s | $(verdict "${RESULT[pg4-20ms.apply]} < 90") |
| initial plan ($((MODELS * 3)) runs to verify) < 10 s | ${RESULT[pg4-20ms.plan0]} s | $(verdict "${RESULT[pg4-20ms.plan0]} < 10") |
"
fi
RUNS_TEXT=""
if [[ -n "${RESULT[runs.search]:-}" ]]; then
    RUNS_TEXT="Reading $((MODELS * 3)) logged runs through the proxy (pg4-20ms, \`bench/mlflow_runs.py\`, 16 requests at once as modelops sends them): \`experiments/search\` and \`runs/search\` by id, 100 ids a request (the default) ${RESULT[runs.search]} s, ${RESULT[runs.search.req]} requests; one \`runs/get\` per run (\`MODELOPS_MLFLOW_RUNS=get\`) ${RESULT[runs.get]} s, ${RESULT[runs.get.req]} requests."
fi
SECTION="<!-- mlflow:start -->
## MLflow at scale

Produced by \`$( [[ "$MODELS" != 1000 ]] && printf 'MODELS=%s ' "$MODELS")bench/mlflow.sh\` on $(date -u '+%Y-%m-%d %H:%M') UTC: $(nproc) CPUs shared with other work, MLflow 3.17.2, modelops revision ${BIN_REVISION:-$(git -C "$ROOT" rev-parse --short HEAD)}, release build, default \`writers\` (8) and \`readers\` (16).
$MODELS new models × 3 versions (Archived, Production, Staging; each names a training run and a \`runs:/\` source that MLflow does not have), from \`bench/gen_repo.py\`, onto a fresh store per setup.
Every request is counted by \`bench/latency_proxy.py\` in front of the server, artifacts included (its delay is 0 except on pg4-20ms). Seconds are wall time of the whole process.

| setup | initial plan: s / requests | apply: s / requests | requests per model | steady plan: s / requests (median of $RUNS) |
|---|---:|---:|---:|---:|
${ROWS}
${TARGETS}
${RUNS_TEXT}
Requests of the apply by call (first setup), from the proxy's log: see docs/mlflow.md for why each is needed.

\`\`\`text
$(head -n 20 "$WORK/$(echo "$SETUPS" | awk '{print $1}')/apply-requests.txt")
\`\`\`
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

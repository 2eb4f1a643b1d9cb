#!/usr/bin/env bash
# Live rollback benchmark: `modelops rollback` under load, measured from the
# client's side, on Envoy and on nginx, with real model servers.
#
# Target (issue 14): under 1 s from the command's start until every response
# comes from the target version, and no failed request during the switch.
#
# What it does:
#   1. builds target/release/modelops if needed (MODELOPS_BIN skips it);
#      installs and starts MLflow (scripts/mlflow.sh), installs Envoy
#      (scripts/envoy.sh) and nginx (scripts/nginx.sh);
#   2. logs two good scikit-learn models (scripts/live.sh train); for each
#      target (envoy, then nginx) makes a git repository whose registry is the
#      MLflow server and whose target `edge` serves model live-bench-<target>
#      (`direct` strategy, no gates), applies version 1 then version 2 to
#      Production (modelops registers both), and serves both versions with
#      `mlflow models serve` (scripts/live.sh serve) behind the target;
#   3. RUNS times per target, alternating direction: starts the bounded load
#      generator (scripts/live/load.py: RATE requests/s for 5 s, every
#      answer naming its version in x-modelops-version), and 1.5 s in runs
#      `modelops rollback live-bench-<target> --to V --force`, V taking turns
#      between 1 and 2 (from the second run on, after an untimed `--release`
#      of the previous hold; a version that left Production by a rollback is
#      no longer known-good, hence --force). From the load's log: the switch time, from
#      the command's start to the first request after which every answer
#      comes from the target version; and the requests that failed (non-2xx
#      or no answer) in the whole window;
#   4. prints a table and writes it into BENCHMARKS.md between the
#      `<!-- rollback-live:start -->` and `<!-- rollback-live:end -->` markers.
#
# Environment: RUNS=6, RATE=200, KEEP=1 keeps the temporary directory,
# MODELOPS_BIN=path skips the build, REPORT=file.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH_DIR")"
RUNS="${RUNS:-6}"
RATE="${RATE:-200}"
KEEP="${KEEP:-0}"
REPORT="${REPORT:-$ROOT/BENCHMARKS.md}"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'rollback_live.sh: %s\n' "$*" >&2; exit 1; }
for var in RUNS RATE; do
    [[ "${!var}" =~ ^[1-9][0-9]*$ ]] || die "$var must be a positive integer, not '${!var}'"
done

BIN="${MODELOPS_BIN:-$ROOT/target/release/modelops}"
if [[ -z "${MODELOPS_BIN:-}" ]]; then
    log "building the release binary"
    (cd "$ROOT" && cargo build --release --locked --quiet)
fi
"$ROOT/scripts/mlflow.sh" install
"$ROOT/scripts/envoy.sh" install
"$ROOT/scripts/nginx.sh" install
ENVOY_BIN="$("$ROOT/scripts/envoy.sh" bin)"

# No whitespace: nginx.sh refuses it, and modelops splits commands on it.
WORK="$(mktemp -d /tmp/modelops-rollback-live.XXXXXX)"
ENVOY_PID=
LISTEN=
cleanup() {
    if [[ -n "$ENVOY_PID" ]]; then kill "$ENVOY_PID" 2>/dev/null || true; fi
    "$ROOT/scripts/live.sh" stop "$WORK/servers" || true
    "$ROOT/scripts/nginx.sh" stop "$WORK/nginx" 2>/dev/null || true
    "$ROOT/scripts/mlflow.sh" stop "$WORK/mlflow" || true
    if [[ "$KEEP" == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }

log "starting MLflow and logging two good models"
mkdir -p "$WORK/mlflow" "$WORK/servers"
MLFLOW_TRACKING_URI="$("$ROOT/scripts/mlflow.sh" start "$WORK/mlflow")"
export MLFLOW_TRACKING_URI
"$ROOT/scripts/live.sh" train "$WORK/trained.txt" good good
mapfile -t SOURCES < <(awk '{ print $4 }' "$WORK/trained.txt")
mapfile -t RUN_IDS < <(awk '{ print $3 }' "$WORK/trained.txt")

commit() {
    git -C "$1" add -A
    git -C "$1" -c user.name=bench -c user.email=bench@localhost -c commit.gpgsign=false \
        -c core.hooksPath=/dev/null commit -q -m "$2"
}
apply() {
    "$BIN" apply --repo "$1" --auto-approve >"$WORK/apply.out" 2>"$WORK/apply.err" || {
        tail -n 40 "$WORK/apply.out" "$WORK/apply.err" >&2
        die "modelops apply failed"
    }
}
# The model manifest with version 1 and 2 in these stages.
model_yaml() {
    cat <<YAML
apiVersion: modelops/v1
kind: Model
metadata: {name: $1, owner: bench}
spec:
  versions:
    - {version: 1, stage: $2, source: "${SOURCES[0]}", training_run_id: ${RUN_IDS[0]}}
    - {version: 2, stage: $3, source: "${SOURCES[1]}", training_run_id: ${RUN_IDS[1]}}
YAML
}
# Waits until a request through ADDRESS is answered by VERSION (10 s at most).
answers() {
    local address="$1" version="$2" got
    for _ in $(seq 1 200); do
        got="$(curl -s -o /dev/null -D - --max-time 2 -H 'content-type: application/json' \
            -d '{"dataframe_split":{"columns":["f0","f1","f2","f3"],"data":[[0,0,0,0]]}}' \
            "http://$address/invocations" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-modelops-version" { print $2 }')"
        [[ "$got" == "$version" ]] && return 0
        sleep 0.05
    done
    die "$address answers version '${got:-none}', not $version"
}

# Sets up TARGET (envoy | nginx); sets LISTEN to its listen address.
setup() {
    local target="$1" model="live-bench-$1" repo="$WORK/repo-$1" listen block
    listen="127.0.0.1:$(free_port)"
    mkdir -p "$repo/models" "$repo/policies" "$repo/deployments"
    cat >"$repo/policies/default.yaml" <<'YAML'
apiVersion: modelops/v1
kind: Policy
metadata: {name: default}
spec:
  staging: &none {metrics: {}, fairness_min: null, signature: {required: false}, latency_p99_max_ms: null, require_pinned_dependencies: false}
  production: *none
  production_requires: {rollout_evidence: false, approvals: []}
YAML
    model_yaml "$model" Production Staging >"$repo/models/$model.yaml"
    printf 'apiVersion: modelops/v1\nkind: Config\nspec:\n  registry: {type: mlflow}\n' >"$repo/modelops.yaml"
    git -C "$repo" init -q
    commit "$repo" "register versions 1 and 2"
    apply "$repo"
    local v1 v2
    v1="$("$ROOT/scripts/live.sh" serve "$WORK/servers" "$model" 1)"
    v2="$("$ROOT/scripts/live.sh" serve "$WORK/servers" "$model" 2)"
    case "$target" in
        envoy)
            local admin
            admin="$(free_port)"
            mkdir -p "$WORK/envoy"
            "$ROOT/scripts/envoy.sh" bootstrap "$WORK/envoy" "$admin" >"$WORK/envoy.yaml"
            "$ENVOY_BIN" -c "$WORK/envoy.yaml" --log-level warn >"$WORK/envoy.log" 2>&1 &
            ENVOY_PID=$!
            for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$admin/ready" >/dev/null 2>&1 && break; sleep 0.1; done
            block="      edge:
        type: envoy
        config_dir: $WORK/envoy
        admin: 127.0.0.1:$admin"
            ;;
        nginx)
            local nginx
            mkdir -p "$WORK/nginx"
            nginx="$("$ROOT/scripts/nginx.sh" start "$WORK/nginx")"
            block="      edge:
        type: nginx
        config_dir: $nginx/conf.d
        test_command: $("$ROOT/scripts/nginx.sh" test "$nginx")
        reload_command: $("$ROOT/scripts/nginx.sh" reload "$nginx")"
            ;;
    esac
    cat >"$repo/modelops.yaml" <<YAML
apiVersion: modelops/v1
kind: Config
spec:
  registry: {type: mlflow}
  serving:
    targets:
$block
        listen: {$model: "$listen"}
        upstreams:
          $model: {"1": "$v1", "2": "$v2"}
YAML
    printf 'apiVersion: modelops/v1\nkind: Deployment\nmetadata: {name: %s}\nspec:\n  model: %s\n  target: edge\n  direct: {}\n' \
        "$model" "$model" >"$repo/deployments/$model.yaml"
    commit "$repo" "serve version 1 on $target"
    apply "$repo"
    answers "$listen" 1
    model_yaml "$model" Archived Production >"$repo/models/$model.yaml"
    commit "$repo" "version 2 in Production"
    apply "$repo"
    answers "$listen" 2
    LISTEN="$listen"
}

# One measured rollback on TARGET to VERSION; appends "switch_ms failed total" to OUT.
measure() {
    local target="$1" version="$2" listen="$3" out="$4" first="$5" repo="$WORK/repo-$1" model="live-bench-$1"
    local load="$WORK/load-$target-$version-$RANDOM.jsonl" started
    python3 "$ROOT/scripts/live/load.py" --url "http://$listen/invocations" \
        --requests $((RATE * 5)) --duration 5 --rate "$RATE" --concurrency 16 --out "$load" >/dev/null &
    local load_pid=$!
    sleep 1.5
    # Every run after the first ends the previous rollback's hold first
    # (untimed), then rolls back; the versions take turns, and one that left
    # Production by a rollback is no longer known-good, hence --force.
    if [[ "$first" != 1 ]]; then
        "$BIN" rollback "$model" --repo "$repo" --release >"$WORK/rollback.out" 2>&1 ||
            { cat "$WORK/rollback.out" >&2; die "release failed"; }
    fi
    started="$(date +%s.%N)"
    "$BIN" rollback "$model" --repo "$repo" --to "$version" --force --reason bench >"$WORK/rollback.out" 2>&1 ||
        { cat "$WORK/rollback.out" >&2; die "rollback to $version failed"; }
    wait "$load_pid"
    python3 - "$load" "$started" "$version" >>"$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
started, version = float(sys.argv[2]), sys.argv[3]
after = sorted((r for r in rows if r["at"] >= started), key=lambda r: r["at"])
ok = lambda r: r["version"] == version and 200 <= r["status"] < 300
last_bad = max((i for i, r in enumerate(after) if not ok(r)), default=-1)
if last_bad + 1 >= len(after):
    sys.exit(f"no request after the rollback was answered by version {version}")
switch_ms = max(0.0, (after[last_bad + 1]["at"] - started) * 1000) if last_bad >= 0 else 0.0
failed = sum(1 for r in rows if not 200 <= r["status"] < 300)
print(f"{switch_ms:.1f} {failed} {len(rows)}")
PY
}

RESULTS=()
for target in envoy nginx; do
    log "setting up $target"
    setup "$target"
    listen="$LISTEN"
    : >"$WORK/$target.txt"
    for i in $(seq 1 "$RUNS"); do
        if ((i % 2)); then version=1; else version=2; fi
        measure "$target" "$version" "$listen" "$WORK/$target.txt" "$((i == 1))"
        log "$target run $i (to version $version): $(tail -n 1 "$WORK/$target.txt")"
    done
    RESULTS+=("$(sort -n "$WORK/$target.txt" | awk -v t="$target" '
        { s[NR] = $1; f += $2; n += $3 }
        END { printf "| %s | %d | %.0f ms | %.0f ms | %d of %d |", t, NR, s[int((NR + 1) / 2)], s[NR], f, n }')")
    if [[ "$target" == envoy ]]; then kill "$ENVOY_PID"; ENVOY_PID=; fi
    "$ROOT/scripts/live.sh" stop "$WORK/servers"
done

TABLE="$(
    echo "Measured $(date -u +%Y-%m-%d) on $(nproc) cores with \`RUNS=$RUNS RATE=$RATE bench/rollback_live.sh\`:"
    echo "real model servers (\`mlflow models serve\`), $RATE requests/s from \`scripts/live/load.py\`, the switch read from each answer's \`x-modelops-version\`."
    echo
    echo "| target | rollbacks | switch, median | switch, worst | failed requests |"
    echo "|---|---:|---:|---:|---:|"
    printf '%s\n' "${RESULTS[@]}"
    echo
    echo "Target: under 1 s to a full switch, and no failed request."
)"
echo "$TABLE"
python3 - "$REPORT" "$TABLE" <<'PY'
import sys
path, table = sys.argv[1], sys.argv[2]
start, end = "<!-- rollback-live:start -->", "<!-- rollback-live:end -->"
text = open(path).read()
block = f"{start}\n{table}\n{end}"
if start in text and end in text:
    text = text[: text.index(start)] + block + text[text.index(end) + len(end):]
else:
    text = text.rstrip("\n") + "\n\n## Rollback under live traffic\n\n" + block + "\n"
open(path, "w").write(text)
PY
log "wrote $REPORT"

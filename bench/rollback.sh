#!/usr/bin/env bash
# Rollback benchmark: the wall time of `modelops rollback` against a real
# MLflow registry and a real nginx serving target, beside a runbook script
# doing the same moves by hand with MlflowClient and nginx
# (bench/rollback_manual.py), in the same run.
#
# Target: a rollback well under a second (the team guidelines allow 5
# minutes).
#
# What it does:
#   1. builds target/release/modelops if needed; starts MLflow
#      (scripts/mlflow.sh), a private nginx (scripts/nginx.sh) and three
#      upstreams (python3 -m http.server, each answering
#      `fraud-detector <version>`), all on free loopback ports;
#   2. copies example-repo/ into a git repository whose registry is the
#      MLflow server and whose nginx target `edge` serves fraud-detector
#      (`direct` strategy); a copy of the model, fraud-detector-manual, is
#      what the manual script works on, behind its own hand-written nginx
#      fragment and port. Applies, then promotes version 3 of both (2
#      Archived, 3 Production, approved_by, the evidence waived) and applies;
#   3. RUNS times, alternating: `modelops rollback fraud-detector --to 2`,
#      then `--release` and `--to 3`; each followed by the manual script
#      making the same move on fraud-detector-manual. Each command is timed
#      as a whole process; modelops' printed elapsed / serving / registry
#      times and the script's own split are kept; HTTP requests are counted
#      in MLflow's access log. After each one, curl through nginx must
#      answer the target version and MLflow must show it, alone, in
#      Production with the `production` alias;
#   4. prints a table and writes it into BENCHMARKS.md between the
#      `<!-- rollback:start -->` and `<!-- rollback:end -->` markers.
#
# Environment: RUNS=10, KEEP=1 keeps the temporary directory,
# MODELOPS_BIN=path skips the build.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH_DIR")"
RUNS="${RUNS:-10}"
KEEP="${KEEP:-0}"
REPORT="${REPORT:-$ROOT/BENCHMARKS.md}"
PY="$ROOT/.cache/mlflow-venv/bin/python"
MODEL=fraud-detector
MANUAL=fraud-detector-manual

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'rollback.sh: %s\n' "$*" >&2; exit 1; }

BIN="${MODELOPS_BIN:-$ROOT/target/release/modelops}"
if [[ -z "${MODELOPS_BIN:-}" ]]; then
    log "building the release binary"
    (cd "$ROOT" && cargo build --release --locked --quiet)
fi
"$ROOT/scripts/mlflow.sh" install
"$ROOT/scripts/nginx.sh" install

# No whitespace: nginx.sh refuses it, and modelops splits commands on it.
WORK="$(mktemp -d /tmp/modelops-rollback-bench.XXXXXX)"
UPSTREAM_PIDS=()
cleanup() {
    for pid in "${UPSTREAM_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    "$ROOT/scripts/nginx.sh" stop "$WORK/nginx" || true
    "$ROOT/scripts/mlflow.sh" stop "$WORK/mlflow" || true
    if [[ "$KEEP" == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }

log "starting MLflow, nginx and the upstreams"
mkdir -p "$WORK/mlflow" "$WORK/nginx"
URL="$("$ROOT/scripts/mlflow.sh" start "$WORK/mlflow")"
export MLFLOW_TRACKING_URI="$URL"
ACCESS_LOG="$WORK/mlflow/server.log"
requests() { grep -c '"\(GET\|POST\|PATCH\|DELETE\) /api/2.0/mlflow/' "$ACCESS_LOG" || true; }
NGINX="$("$ROOT/scripts/nginx.sh" start "$WORK/nginx")"
TEST_COMMAND="$("$ROOT/scripts/nginx.sh" test "$NGINX")"
RELOAD_COMMAND="$("$ROOT/scripts/nginx.sh" reload "$NGINX")"

declare -A UPSTREAM
for v in 1 2 3; do
    UPSTREAM[$v]="127.0.0.1:$(free_port)"
    mkdir -p "$WORK/upstream/$v"
    printf '%s %s\n' "$MODEL" "$v" >"$WORK/upstream/$v/index.html"
    python3 -m http.server "${UPSTREAM[$v]#*:}" --bind 127.0.0.1 --directory "$WORK/upstream/$v" \
        >"$WORK/upstream/$v.log" 2>&1 &
    UPSTREAM_PIDS+=($!)
done
LISTEN="127.0.0.1:$(free_port)"
MANUAL_LISTEN="127.0.0.1:$(free_port)"
for v in 1 2 3; do
    for _ in $(seq 1 100); do
        curl -fsS "http://${UPSTREAM[$v]}/" >/dev/null 2>&1 && break
        sleep 0.05
    done
done

# What nginx answers on ADDRESS, and where MLflow puts MODEL.
served() { curl -fsS --max-time 2 "http://$1/" 2>/dev/null || true; }
mlflow_production() {
    local versions alias
    versions="$(curl -fsS -G "$URL/api/2.0/mlflow/model-versions/search" --data-urlencode "filter=name='$1'" |
        jq -r '[.model_versions[] | select(.current_stage == "Production") | .version] | join(",")')"
    alias="$(curl -fsS -G "$URL/api/2.0/mlflow/registered-models/get" --data-urlencode "name=$1" |
        jq -r '[.registered_model.aliases[]? | select(.alias == "production") | .version] | join(",")')"
    printf 'stage %s, alias %s' "$versions" "$alias"
}
# Waits up to 5 s for nginx on ADDRESS to answer VERSION, asking every
# 5 ms or so; prints the seconds from RETURNED (when the command
# returned) to the first right answer, and how many requests that took.
# Then checks MLflow.
verify() {
    local address="$1" model="$2" version="$3" returned="$4" got answered asked
    for asked in $(seq 1 1000); do
        got="$(served "$address")"
        [[ "$got" == "$MODEL $version" ]] && break
        sleep 0.005
    done
    answered=$(now)
    [[ "$got" == "$MODEL $version" ]] || die "nginx on $address answers '${got:-nothing}', not version $version of $model"
    local want="stage $version, alias $version" registry
    registry="$(mlflow_production "$model")"
    [[ "$registry" == "$want" ]] || die "MLflow shows $model with $registry, not $want"
    awk -v a="$returned" -v b="$answered" -v n="$asked" 'BEGIN { printf "%.3f %d", b - a, n }'
}

log "making the repository"
REPO="$WORK/repo"
cp -r "$ROOT/example-repo" "$REPO"
rm -rf "$REPO/.modelops"
cat >"$REPO/modelops.yaml" <<EOF
apiVersion: modelops/v1
kind: Config
spec:
  registry:
    type: mlflow   # MLFLOW_TRACKING_URI=$URL
  state:
    lock_timeout: 30s
  metrics:
    observations:
      type: file
      path: observations.yaml
  serving:
    targets:
      edge:
        type: nginx
        config_dir: $NGINX/conf.d
        test_command: $TEST_COMMAND
        reload_command: $RELOAD_COMMAND
        listen: {$MODEL: "$LISTEN"}
        upstreams:
          $MODEL: {"1": "${UPSTREAM[1]}", "2": "${UPSTREAM[2]}", "3": "${UPSTREAM[3]}"}
EOF
cat >"$REPO/deployments/$MODEL.yaml" <<EOF
apiVersion: modelops/v1
kind: Deployment
metadata:
  name: $MODEL
  description: Served by the edge nginx; a new Production version takes all traffic at once.
spec:
  model: $MODEL
  target: edge
  direct: {}
EOF
sed "s/^  name: $MODEL\$/  name: $MANUAL/" "$REPO/models/$MODEL.yaml" >"$REPO/models/$MANUAL.yaml"
grep -q "^  name: $MANUAL\$" "$REPO/models/$MANUAL.yaml" || die "cannot rename the copy of $MODEL"
# The manual script's nginx: the same upstreams, written as a team would.
cat >"$NGINX/conf.d/manual-$MODEL.conf" <<EOF
# $MANUAL, by hand: bench/rollback_manual.py rewrites the proxy_pass line.
upstream manual_fraud_detector_v2 { server ${UPSTREAM[2]}; }
upstream manual_fraud_detector_v3 { server ${UPSTREAM[3]}; }
server {
    listen $MANUAL_LISTEN;
    location / {
        proxy_pass http://manual_fraud_detector_v2;
    }
}
EOF
commit() {
    git -C "$REPO" add -A
    git -C "$REPO" -c user.name=bench -c user.email=bench@localhost -c commit.gpgsign=false \
        -c core.hooksPath=/dev/null commit -q -m "$1"
}
git -C "$REPO" init -q
commit "The example on MLflow and nginx"
apply() {
    "$BIN" apply --repo "$REPO" --auto-approve >"$WORK/apply.out" 2>"$WORK/apply.err" || {
        tail -n 40 "$WORK/apply.out" "$WORK/apply.err" >&2
        die "modelops apply failed"
    }
}
# apply's reload also loads the manual fragment.
apply
verify "$LISTEN" "$MODEL" 2 "$(now)" >/dev/null
verify "$MANUAL_LISTEN" "$MANUAL" 2 "$(now)" >/dev/null

log "promoting version 3 (version 2 Archived)"
python3 - "$REPO" "$MODEL" "$MANUAL" <<'EOF'
import sys
repo, *models = sys.argv[1:]
def edit(path, old, new):
    with open(path) as f:
        text = f.read()
    if text.count(old) != 1:
        sys.exit(f"{path}: expected one {old!r}")
    with open(path, "w") as f:
        f.write(text.replace(old, new))
for m in models:
    path = f"{repo}/models/{m}.yaml"
    edit(path, "    - version: 2\n      stage: Production", "    - version: 2\n      stage: Archived")
    edit(path, "    - version: 3\n      stage: Staging", "    - version: 3\n      stage: Production")
    edit(path, "adds optional device_fingerprint_seen_before.\n",
         "adds optional device_fingerprint_seen_before.\n      approved_by: risk-ml\n")
edit(f"{repo}/policies/default.yaml", "    # evidence_waived_for: [fraud-detector]",
     f"    evidence_waived_for: [{', '.join(models)}]")
EOF
commit "Promote $MODEL version 3"
apply
python3 - "$NGINX/conf.d/manual-$MODEL.conf" <<'EOF'
import sys
path = sys.argv[1]
with open(path) as f:
    text = f.read()
with open(path, "w") as f:
    f.write(text.replace("manual_fraud_detector_v2;", "manual_fraud_detector_v3;"))
EOF
# shellcheck disable=SC2086
$TEST_COMMAND && $RELOAD_COMMAND
verify "$LISTEN" "$MODEL" 3 "$(now)" >/dev/null
verify "$MANUAL_LISTEN" "$MANUAL" 3 "$(now)" >/dev/null

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
minimum() { printf '%s\n' "$@" | sort -g | head -n 1; }
maximum() { printf '%s\n' "$@" | sort -g | tail -n 1; }
# Lets the server's access log catch up before its lines are counted.
settle() { sleep 0.3; }

LOAD_BEFORE="$(cut -d' ' -f1 /proc/loadavg)"
MO_WALL=() MO_ELAPSED=() MO_SERVING=() MO_REGISTRY=() MO_REQ=() MO_VISIBLE=() RELEASE_WALL=()
PY_WALL=() PY_IMPORT=() PY_REGISTRY=() PY_SERVING=() PY_REQ=() PY_VISIBLE=() PY_BARE=()
MO_FIRST=0 PY_FIRST=0 # runs where nginx's first answer was already the new version
for ((i = 1; i <= RUNS; i++)); do
    if ((i % 2)); then to=2; else to=3; fi

    if ((to == 3)); then
        start=$(now)
        "$BIN" rollback "$MODEL" --repo "$REPO" --release >"$WORK/release.out" 2>&1 || {
            cat "$WORK/release.out" >&2
            die "modelops rollback --release failed"
        }
        RELEASE_WALL+=("$(since "$start")")
    fi
    settle
    before=$(requests)
    start=$(now)
    "$BIN" rollback "$MODEL" --repo "$REPO" --to "$to" --reason bench >"$WORK/rollback.out" 2>&1 || {
        cat "$WORK/rollback.out" >&2
        die "modelops rollback --to $to failed"
    }
    returned=$(now)
    MO_WALL+=("$(awk -v a="$start" -v b="$returned" 'BEGIN { printf "%.3f", b - a }')")
    visible="$(verify "$LISTEN" "$MODEL" "$to" "$returned")"
    MO_VISIBLE+=("${visible% *}") visible_mo="$visible"
    ((${visible#* } == 1)) && MO_FIRST=$((MO_FIRST + 1))
    read -r elapsed serving registry < <(sed -n 's/^Rolled back .* in \([0-9.]*\) s (serving \([0-9.]*\) s, registry \([0-9.]*\) s)\.$/\1 \2 \3/p' "$WORK/rollback.out") || {
        cat "$WORK/rollback.out" >&2
        die "no elapsed time in rollback's output"
    }
    MO_ELAPSED+=("$elapsed") MO_SERVING+=("$serving") MO_REGISTRY+=("$registry")
    settle
    MO_REQ+=($(($(requests) - before - 2))) # less verify's 2

    start=$(now)
    "$PY" -c pass
    PY_BARE+=("$(since "$start")")
    settle
    before=$(requests)
    start=$(now)
    "$PY" "$BENCH_DIR/rollback_manual.py" "$MANUAL" "$to" "$NGINX/conf.d/manual-$MODEL.conf" \
        "$TEST_COMMAND" "$RELOAD_COMMAND" >"$WORK/manual.out" 2>&1 || {
        cat "$WORK/manual.out" >&2
        die "bench/rollback_manual.py $MANUAL $to failed"
    }
    returned=$(now)
    PY_WALL+=("$(awk -v a="$start" -v b="$returned" 'BEGIN { printf "%.3f", b - a }')")
    visible="$(verify "$MANUAL_LISTEN" "$MANUAL" "$to" "$returned")"
    PY_VISIBLE+=("${visible% *}")
    ((${visible#* } == 1)) && PY_FIRST=$((PY_FIRST + 1))
    read -r py_import py_registry py_serving <"$WORK/manual.out"
    PY_IMPORT+=("$py_import") PY_REGISTRY+=("$py_registry") PY_SERVING+=("$py_serving")
    settle
    PY_REQ+=($(($(requests) - before - 2)))

    log "  run $i (to $to): modelops rollback ${MO_WALL[-1]} s (printed $elapsed: serving $serving, registry $registry; ${MO_REQ[-1]} requests; nginx +${MO_VISIBLE[-1]} s at curl ${visible_mo#* })$( ((to == 3)) && printf ', release %s s' "${RELEASE_WALL[-1]}"); manual script ${PY_WALL[-1]} s (import $py_import, registry $py_registry, serving $py_serving; ${PY_REQ[-1]} requests; nginx +${PY_VISIBLE[-1]} s at curl ${visible#* }); python -c pass ${PY_BARE[-1]} s"
done

LOAD_AFTER="$(cut -d' ' -f1 /proc/loadavg)"

# One row: label, then the samples.
row() {
    local label="$1"
    shift
    printf '| %s | %.3f | %.3f | %.3f |\n' "$label" "$(median "$@")" "$(minimum "$@")" "$(maximum "$@")"
}
MO_MAX="$(maximum "${MO_WALL[@]}")"
SPEEDUP=$(awk -v a="$(median "${PY_WALL[@]}")" -v b="$(median "${MO_WALL[@]}")" 'BEGIN { printf "%.1f", a / b }')
PY_WORK=$(awk -v a="$(median "${PY_REGISTRY[@]}")" -v b="$(median "${PY_SERVING[@]}")" 'BEGIN { printf "%.3f", a + b }')
SLOWER_THAN_WORK=$(awk -v a="$(median "${MO_WALL[@]}")" -v b="$PY_WORK" 'BEGIN { printf "%.1f", a / b }')
verdict() { if awk "BEGIN { exit !($1) }"; then echo PASS; else echo FAIL; fi; }
CPU="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
MLFLOW_VERSION="$("$PY" -c 'import mlflow; print(mlflow.__version__)')"
NGINX_VERSION="$("${TEST_COMMAND%% *}" -v 2>&1 | sed 's/^nginx version: //')"
PY_VERSION="$("$PY" -c 'import sys; print(sys.version.split()[0])')"
REVISION="$(git -C "$ROOT" rev-parse --short HEAD)"
[[ -n "$(git -C "$ROOT" status --porcelain -- src Cargo.toml Cargo.lock)" ]] && REVISION="$REVISION, with uncommitted changes in src/"
COMMAND=bench/rollback.sh
[[ "$RUNS" == 10 ]] || COMMAND="RUNS=$RUNS $COMMAND"

SECTION="<!-- rollback:start -->
## Rollback

Produced by \`$COMMAND\` on $(date -u '+%Y-%m-%d %H:%M') UTC: $(nproc) CPUs ($CPU), Linux $(uname -r); modelops revision $REVISION, release build; MLflow $MLFLOW_VERSION (one worker, SQLite store), $NGINX_VERSION, Python $PY_VERSION, all on loopback.
The example repository on MLflow, with \`fraud-detector\` served by an nginx target (\`direct\`) in front of three \`python3 -m http.server\` upstreams; version 3 promoted, then $RUNS rollbacks alternating \`modelops rollback fraud-detector --to 2 --reason bench\` and \`--release\` followed by \`--to 3\`. After each one, curl through nginx answered the target version and MLflow showed it alone in Production with the \`production\` alias.
The baseline, \`bench/rollback_manual.py\`, makes the same move on a copy of the model (\`fraud-detector-manual\`, its own hand-written nginx fragment and port) right after each modelops run: MlflowClient reads the \`production\` alias, moves the current version to Archived and the target to Production, points the alias; then it rewrites the fragment's \`proxy_pass\` line, runs \`nginx -t\` and reloads.
Seconds, wall; each command timed as a whole process, as a person runs it. Load average (1 min) $LOAD_BEFORE before the runs and $LOAD_AFTER after: the machine is shared, so spread comes from other work too.

| operation | median | min | max |
|---|---:|---:|---:|
$(row '`modelops rollback` (whole process)' "${MO_WALL[@]}")
$(row '… elapsed as it prints it' "${MO_ELAPSED[@]}")
$(row '… of which serving (fragment, `nginx -t`, reload)' "${MO_SERVING[@]}")
$(row '… of which registry (2 stage moves, aliases, event tags, hold record)' "${MO_REGISTRY[@]}")
$(row '… then nginx answers the new version (after the process exits)' "${MO_VISIBLE[@]}")
$(row '`modelops rollback --release` (before each roll forward)' "${RELEASE_WALL[@]}")
$(row "manual script (\`python bench/rollback_manual.py\`, whole process)" "${PY_WALL[@]}")
$(row '… of which `import mlflow` (after interpreter start-up)' "${PY_IMPORT[@]}")
$(row '… of which registry (alias read, 2 stage moves, alias; MlflowClient reads the model before each write)' "${PY_REGISTRY[@]}")
$(row '… of which serving (rewrite, `nginx -t`, reload)' "${PY_SERVING[@]}")
$(row '… then nginx answers the new version (after the process exits)' "${PY_VISIBLE[@]}")
$(row '`python -c pass` (interpreter start-up alone)' "${PY_BARE[@]}")

MLflow requests per rollback (access log): modelops $(median "${MO_REQ[@]}"), manual script $(median "${PY_REQ[@]}"). *nginx answers* runs from the command's exit to the first curl through the listen port that gets the target version, asking again every 5 ms or so; it is mostly curl's own start-up and round trip (nginx, then the upstream): the first request already got the new version in $MO_FIRST of $RUNS modelops runs and $PY_FIRST of $RUNS script runs. (\`nginx -s reload\` only signals the master, which then starts new workers: the serving time either tool measures ends before nginx has switched.)

| target | measured | result |
|---|---|---|
| rollback well under a second (every run < 1 s) | slowest ${MO_MAX} s | $(verdict "$MO_MAX < 1") |
| within the guidelines' 5 minutes | slowest ${MO_MAX} s | $(verdict "$MO_MAX < 300") |

modelops is ${SPEEDUP}× faster than the script end to end (medians), because the script pays for \`import mlflow\`. The script's registry and serving work alone takes ${PY_WORK} s (median registry + median serving), and modelops' whole process ${SLOWER_THAN_WORK}× that: it sends twice the requests, each on a new connection, because it does more. It takes MLflow's apply lock, reads the whole registry and the model's event history (to check that the target has served), and records the rollback (event tags with reason and actor, the hold record); the script keeps no record and takes no lock. The elapsed time modelops prints starts after the process has started and stops before the lock is released (one more request), hence the difference from its wall time.
<!-- rollback:end -->"

printf '%s\n' "$SECTION"
if [[ -f "$REPORT" ]] && grep -q '<!-- rollback:start -->' "$REPORT"; then
    awk -v section="$SECTION" '
        /<!-- rollback:start -->/ { print section; skip = 1; next }
        /<!-- rollback:end -->/ { skip = 0; next }
        !skip { print }
    ' "$REPORT" >"$REPORT.tmp" && mv "$REPORT.tmp" "$REPORT"
else
    printf '\n%s\n' "$SECTION" >>"$REPORT"
fi
log "wrote $REPORT"

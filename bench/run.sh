#!/usr/bin/env bash
# modelops benchmark: how long validation and planning take on a large
# repository, and how much memory they need.
#
# Why: `modelops plan` runs on every pull request and `modelops apply` on every
# merge and schedule, so their cost on a big repository is a cost every user
# pays. The targets, for 10,000 model manifests (30,000 versions):
#   - validate < 1 s          - plan < 1.5 s
#   - peak memory < 300 MB    - validate >= 20x faster than check-jsonschema
# check-jsonschema is the baseline because checking the files against the
# committed JSON Schema is what a team would do without modelops. (modelops
# validate does more: YAML, schema, then the cross-file semantic rules.)
#
# What it does:
#   1. builds target/release/modelops if missing or older than its sources
#      (skipped when MODELOPS_BIN names a binary);
#   2. generates a repository with bench/gen_repo.py (MODELS model files with
#      three versions each, a few deployments, policies/default.yaml) in a
#      temporary directory, and commits it to a fresh git repository;
#   3. times, with /usr/bin/time, RUNS runs of each command after one untimed
#      warm-up run (median wall time, largest peak RSS):
#        modelops validate --repo R
#        modelops plan --repo R --state EMPTY                    (nothing applied)
#        modelops apply --repo R --state S --auto-approve        (once)
#        modelops plan --repo R --state S --detailed-exitcode    (must exit 0)
#        check-jsonschema --schemafile schemas/model.schema.json models/*.yaml
#   4. prints a table and writes BENCHMARKS.md at the repository root.
#
# It exits non-zero when a command fails; a missed target is reported, not fatal.
#
# Environment:
#   MODELS=10000   number of model manifests
#   RUNS=3         timed runs per command (apply always runs once)
#   CJS_RUNS=RUNS  timed runs of check-jsonschema (about 2 minutes each at 10,000)
#   KEEP=1         keep the temporary directory (its path is printed)
#   MODELOPS_BIN   use this binary instead of building target/release/modelops
#   REPORT=FILE    where to write the report (default: BENCHMARKS.md at the root)
#
# Usage: bench/run.sh

set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH_DIR")"

MODELS="${MODELS:-10000}"
RUNS="${RUNS:-3}"
CJS_RUNS="${CJS_RUNS:-$RUNS}"
KEEP="${KEEP:-0}"
REPORT="${REPORT:-$ROOT/BENCHMARKS.md}"
CJS_VERSION="0.39.0"           # pinned so figures are comparable between runs
VENV="$BENCH_DIR/.venv"
TIME=/usr/bin/time

# Targets, stated for 10,000 models.
TARGET_VALIDATE_S=1.0
TARGET_PLAN_S=1.5
TARGET_RSS_MB=300
TARGET_SPEEDUP=20

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

for var in MODELS RUNS CJS_RUNS; do
    [[ "${!var}" =~ ^[1-9][0-9]*$ ]] || die "$var must be a positive integer, not '${!var}'"
done

# --- tools ---------------------------------------------------------------

ensure_time() {
    [[ -x "$TIME" ]] && return
    log "installing GNU time (/usr/bin/time is missing)"
    local sudo=()
    [[ "$(id -u)" -eq 0 ]] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq time >/dev/null
    [[ -x "$TIME" ]] || die "could not install /usr/bin/time"
}

# Sets BIN. Builds the release binary when it is missing or older than any
# source file, unless MODELOPS_BIN is given.
ensure_binary() {
    if [[ -n "${MODELOPS_BIN:-}" ]]; then
        BIN="$(command -v -- "$MODELOPS_BIN")" || die "MODELOPS_BIN=$MODELOPS_BIN is not an executable"
        BIN="$(realpath -- "$BIN")"
        return
    fi
    BIN="$ROOT/target/release/modelops"
    local inputs=("$ROOT/src" "$ROOT/Cargo.toml" "$ROOT/Cargo.lock")
    [[ -e "$ROOT/build.rs" ]] && inputs+=("$ROOT/build.rs")
    if [[ ! -x "$BIN" ]] || [[ -n "$(find "${inputs[@]}" -newer "$BIN" -print -quit)" ]]; then
        log "building $BIN (cargo build --release)"
        (cd "$ROOT" && cargo build --release)
    else
        log "using $BIN (up to date)"
    fi
}

# check-jsonschema in bench/.venv, installed only when absent or another version.
ensure_check_jsonschema() {
    CJS="$VENV/bin/check-jsonschema"
    if [[ -x "$CJS" ]] && "$CJS" --version 2>/dev/null | grep -q "version $CJS_VERSION\$"; then
        log "using $CJS ($CJS_VERSION, already installed)"
        return
    fi
    log "installing check-jsonschema==$CJS_VERSION into $VENV"
    [[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "check-jsonschema==$CJS_VERSION"
}

# --- measuring -----------------------------------------------------------

median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
        END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

declare -A WALL RSS_KB ALL_RUNS
LABELS=()

# measure KEY RUNS WARMUP CMD... — runs CMD WARMUP times untimed (so the first
# timed run does not pay for cold caches), then RUNS times under /usr/bin/time;
# stores the median wall time in WALL[KEY] and the largest peak RSS in RSS_KB[KEY].
# The last run's stdout and stderr stay in $WORK/KEY.out and $WORK/KEY.err.
# Any non-zero exit stops the benchmark. Before each run the empty state
# directory is recreated, so a plan against it always starts from nothing.
measure() {
    local key="$1" runs="$2" warmup="$3"; shift 3
    local walls=() rss_max=0 i status wall rss
    for ((i = 1; i <= warmup; i++)); do
        rm -rf "$EMPTY_STATE" && mkdir "$EMPTY_STATE"
        "$@" >/dev/null 2>&1 || true
    done
    for ((i = 1; i <= runs; i++)); do
        rm -rf "$EMPTY_STATE" && mkdir "$EMPTY_STATE"
        status=0
        "$TIME" -f '%e %M' -o "$WORK/$key.time" "$@" >"$WORK/$key.out" 2>"$WORK/$key.err" || status=$?
        if [[ "$status" -ne 0 ]]; then
            printf '\nFAILED (exit %s, run %s of %s): %s\n' "$status" "$i" "$runs" "$*" >&2
            printf -- '--- stdout (last 20 lines)\n' >&2; tail -n 20 "$WORK/$key.out" >&2
            printf -- '--- stderr (last 20 lines)\n' >&2; tail -n 20 "$WORK/$key.err" >&2
            if [[ "$status" -eq 2 && " $* " == *" --detailed-exitcode "* ]]; then
                printf 'exit 2: the plan still has changes after apply; a fully applied state must plan to nothing\n' >&2
            fi
            [[ "$KEEP" == 1 ]] || printf '(rerun with KEEP=1 to keep %s for inspection)\n' "$WORK" >&2
            exit 1
        fi
        # GNU time may prefix a status line; the figures are on the last line.
        read -r wall rss < <(tail -n 1 "$WORK/$key.time")
        walls+=("$wall")
        if ((rss > rss_max)); then rss_max=$rss; fi
        log "  $key run $i/$runs: ${wall} s, $((rss / 1024)) MB"
    done
    WALL[$key]="$(median "${walls[@]}")"
    ALL_RUNS[$key]="${walls[*]}"
    RSS_KB[$key]="$rss_max"
    LABELS+=("$key")
}

mb() { awk -v kb="$1" 'BEGIN { printf "%.1f", kb / 1024 }'; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }

# --- setup ---------------------------------------------------------------

ensure_time
ensure_binary
ensure_check_jsonschema

WORK="$(mktemp -d "${TMPDIR:-/tmp}/modelops-bench.XXXXXX")"
cleanup() {
    if [[ "$KEEP" == 1 ]]; then
        log "kept $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

REPO="$WORK/repo"
EMPTY_STATE="$WORK/state-empty"
STATE="$WORK/state-applied"

log "generating $MODELS models in $REPO"
python3 "$BENCH_DIR/gen_repo.py" "$REPO" --models "$MODELS" >&2
(
    cd "$REPO"
    export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@localhost \
        GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@localhost \
        GIT_AUTHOR_DATE="2025-01-01T00:00:00Z" GIT_COMMITTER_DATE="2025-01-01T00:00:00Z"
    git init -q
    git add -A
    git -c commit.gpgsign=false -c core.hooksPath=/dev/null commit -q -m "Benchmark repository: $MODELS models"
)
# Let the kernel write the 80 MB just created back to disk now, not during
# the first measurement.
sync

# The schema check uses the committed schema; without one, the binary writes it.
SCHEMA="$ROOT/schemas/model.schema.json"
SCHEMA_NOTE="committed schemas/model.schema.json"
if [[ ! -f "$SCHEMA" ]]; then
    log "no committed $SCHEMA: generating it with 'modelops schema'"
    "$BIN" schema --out "$WORK/schemas" >&2 || die "modelops schema --out failed"
    SCHEMA="$WORK/schemas/model.schema.json"
    SCHEMA_NOTE="model.schema.json written by 'modelops schema' (none committed)"
fi

# Only the embedded backends: a tracking server in the environment would
# measure the network, not modelops.
unset MLFLOW_TRACKING_URI MLFLOW_TRACKING_USERNAME MLFLOW_TRACKING_PASSWORD MLFLOW_TRACKING_TOKEN MODELOPS_NOW

# --- measurements --------------------------------------------------------

log "modelops validate ($RUNS run(s))"
measure validate "$RUNS" 1 "$BIN" validate --repo "$REPO"

log "modelops plan, empty state ($RUNS run(s))"
measure plan_empty "$RUNS" 1 "$BIN" plan --repo "$REPO" --state "$EMPTY_STATE"

log "modelops apply onto the empty state (1 run)"
measure apply 1 0 "$BIN" apply --repo "$REPO" --state "$STATE" --auto-approve

log "modelops plan --detailed-exitcode, applied state ($RUNS run(s); must report no changes)"
measure plan_applied "$RUNS" 1 "$BIN" plan --repo "$REPO" --state "$STATE" --detailed-exitcode

# One invocation with every file when the arguments fit in ARG_MAX (less the
# environment and a margin); otherwise xargs splits them into batches.
mapfile -t MODEL_FILES < <(cd "$REPO" && find models -name '*.yaml' | sort)
arg_bytes=$(( $(printf '%s\0' "${MODEL_FILES[@]}" "$CJS" --schemafile "$SCHEMA" | wc -c) + $(env | wc -c) + 8192 ))
if ((arg_bytes < $(getconf ARG_MAX))); then
    CJS_HOW="one invocation with all ${#MODEL_FILES[@]} files as arguments"
    log "check-jsonschema, $CJS_HOW ($CJS_RUNS run(s))"
    cd "$REPO"
    measure check_jsonschema "$CJS_RUNS" 0 "$CJS" --schemafile "$SCHEMA" "${MODEL_FILES[@]}"
else
    CJS_HOW="xargs -0 batches (${#MODEL_FILES[@]} files do not fit in one argument list)"
    log "check-jsonschema, $CJS_HOW ($CJS_RUNS run(s))"
    printf '%s\0' "${MODEL_FILES[@]}" >"$WORK/model-files.list"
    cd "$REPO"
    measure check_jsonschema "$CJS_RUNS" 0 xargs -0 -a "$WORK/model-files.list" "$CJS" --schemafile "$SCHEMA"
fi
cd "$ROOT"

# --- report --------------------------------------------------------------

declare -A NAME=(
    [validate]="\`modelops validate\`"
    [plan_empty]="\`modelops plan\` (empty state)"
    [apply]="\`modelops apply --auto-approve\` (empty → applied, 1 run)"
    [plan_applied]="\`modelops plan --detailed-exitcode\` (applied state, no changes)"
    [check_jsonschema]="\`check-jsonschema\` (the $MODELS model files)"
)

# Speedup; %e has 0.01 s resolution, so a validate that rounds to 0 counts as 0.01 s.
validate_s="${WALL[validate]}"
speedup_prefix=""
if ! lt 0 "$validate_s"; then validate_s=0.01; speedup_prefix="≥ "; fi
SPEEDUP="$(awk -v a="${WALL[check_jsonschema]}" -v b="$validate_s" 'BEGIN { printf "%.1f", a / b }')"

# Largest peak RSS among the modelops commands.
max_key=validate
for key in validate plan_empty apply plan_applied; do
    if ((RSS_KB[$key] > RSS_KB[$max_key])); then max_key=$key; fi
done

TARGETS=()
MISSES=()
target() { # target DESCRIPTION MEASURED PASSED(0/1)
    local verdict=PASS
    if [[ "$3" != 1 ]]; then verdict=FAIL; MISSES+=("$1: measured $2"); fi
    TARGETS+=("| $1 | $2 | **$verdict** |")
}
ok() { if "$@"; then echo 1; else echo 0; fi; }
target "validate < ${TARGET_VALIDATE_S} s" "${WALL[validate]} s" "$(ok lt "${WALL[validate]}" "$TARGET_VALIDATE_S")"
target "plan < ${TARGET_PLAN_S} s (empty state)" "${WALL[plan_empty]} s" "$(ok lt "${WALL[plan_empty]}" "$TARGET_PLAN_S")"
target "plan < ${TARGET_PLAN_S} s (applied state)" "${WALL[plan_applied]} s" "$(ok lt "${WALL[plan_applied]}" "$TARGET_PLAN_S")"
target "peak memory < ${TARGET_RSS_MB} MB (every modelops command)" \
    "$(mb "${RSS_KB[$max_key]}") MB (${max_key//_/ })" \
    "$(ok lt "$(mb "${RSS_KB[$max_key]}")" "$TARGET_RSS_MB")"
target "validate ≥ ${TARGET_SPEEDUP}× faster than check-jsonschema" "${speedup_prefix}${SPEEDUP}×" \
    "$(ok ge "$SPEEDUP" "$TARGET_SPEEDUP")"

# The command as run, with the settings that differ from the defaults.
COMMAND="bench/run.sh"
[[ "$CJS_RUNS" != "$RUNS" ]] && COMMAND="CJS_RUNS=$CJS_RUNS $COMMAND"
[[ "$RUNS" != 3 ]] && COMMAND="RUNS=$RUNS $COMMAND"
[[ "$MODELS" != 10000 ]] && COMMAND="MODELS=$MODELS $COMMAND"
[[ -n "${MODELOPS_BIN:-}" ]] && COMMAND="MODELOPS_BIN=$MODELOPS_BIN $COMMAND"

CPU="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
MEM="$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
REVISION="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "no commit yet")"
[[ -n "$(git -C "$ROOT" status --porcelain 2>/dev/null)" ]] && REVISION="$REVISION, with uncommitted changes"
BIN_NOTE="release build"
[[ -n "${MODELOPS_BIN:-}" ]] && BIN_NOTE="binary $BIN"
MODELOPS_VERSION="$("$BIN" --version 2>/dev/null | head -n 1 || true)"
VERSIONS_COUNT=$((MODELS * 3))
DEPLOYMENTS_COUNT="$(find "$REPO/deployments" -name '*.yaml' 2>/dev/null | wc -l)"

TABLE="| operation | wall s (median) | every run, s | peak RSS MB |
|---|---:|---|---:|"
for key in "${LABELS[@]}"; do
    TABLE+=$'\n'"| ${NAME[$key]} | ${WALL[$key]} | ${ALL_RUNS[$key]} | $(mb "${RSS_KB[$key]}") |"
done

SCALE_NOTE=""
if [[ "$MODELS" != 10000 ]]; then
    SCALE_NOTE=$'\n'"> This run used $MODELS models; the targets are stated for 10,000, so these verdicts are indicative only."$'\n'
fi

report() {
    cat <<EOF
# Benchmarks

Produced by \`$COMMAND\` on $(date -u '+%Y-%m-%d %H:%M UTC').

- Machine: $(nproc) CPUs ($CPU), $MEM memory, Linux $(uname -r)
- modelops: ${MODELOPS_VERSION:-version unknown} (revision $REVISION), $BIN_NOTE
- Repository: $MODELS model manifests ($VERSIONS_COUNT versions: Archived, Production and Staging each), $DEPLOYMENTS_COUNT deployments, \`policies/default.yaml\`, \`modelops.yaml\`; generated by \`bench/gen_repo.py\` and committed to git
- Each figure: median wall time and largest peak RSS (GNU time \`%e %M\`) of $RUNS run(s); apply runs once, onto an empty embedded state
- Baseline: check-jsonschema $CJS_VERSION (Python $("$VENV/bin/python" -c 'import platform; print(platform.python_version())')), $CJS_HOW, against the $SCHEMA_NOTE ($CJS_RUNS run(s))

$TABLE

Speedup of \`modelops validate\` over \`check-jsonschema\`: **${speedup_prefix}${SPEEDUP}×** (modelops also checks deployments, the policy, the config and the cross-file rules).

## Targets
$SCALE_NOTE
| target | measured | result |
|---|---|---|
$(printf '%s\n' "${TARGETS[@]}")
EOF
}

# Keep the sections the other benchmarks write into the same file (MLflow,
# rollback, drift, ...): everything from the first `<!-- name:start -->`
# marker on.
MLFLOW_SECTION=""
if [[ -f "$REPORT" ]]; then
    MLFLOW_SECTION="$(sed -n '/<!-- [a-z_-]*:start -->/,$p' "$REPORT")"
fi
printf '\n'
report | tee "$REPORT.new"
if [[ -n "$MLFLOW_SECTION" ]]; then
    printf '\n%s\n' "$MLFLOW_SECTION" >>"$REPORT.new"
fi
mv "$REPORT.new" "$REPORT"
printf '\nwrote %s\n' "$REPORT"

if ((${#MISSES[@]})); then
    printf '\nTARGETS MISSED (%d):\n' "${#MISSES[@]}" >&2
    printf '  - %s\n' "${MISSES[@]}" >&2
else
    printf '\nall targets met\n' >&2
fi

#!/usr/bin/env bash
# Drift benchmark: PSI over 1,000,000 rows x 50 numeric features, reference
# against current, in CSV and in Parquet, by modelops' drift engine (the
# release build of examples/drift_bench.rs, which calls
# modelops::drift::drift_report once) and by a numpy implementation of the
# same rules (bench/drift_numpy.py: pandas/pyarrow load each file whole,
# then np.quantile, np.searchsorted, np.bincount), in the same run on the
# same files.
#
# Target: bounded memory (the engine streams; a 1 GB file must not need
# 1 GB), and no slower than numpy.
#
# What it does:
#   1. builds target/release/examples/drift_bench (cargo build --release
#      --example drift_bench); installs .cache/mlflow-venv if missing
#      (scripts/mlflow.sh install: numpy, pandas, pyarrow come with MLflow);
#   2. generates reference and current data once with
#      `bench/drift_numpy.py generate` into a temporary directory, as CSV
#      (pyarrow's writer) and Parquet (pyarrow's defaults: snappy, one row
#      group per 1Mi rows);
#   3. for each format, one untimed warm-up run of each tool (so both read
#      from the page cache), then RUNS timed runs of each under
#      /usr/bin/time -v: wall time, user + system CPU time, peak RSS; the
#      tools' own elapsed time (after start-up) is kept too;
#   4. checks the two tools' PSIs agree (largest |difference| printed), and
#      writes the table into BENCHMARKS.md between the
#      `<!-- drift:start -->` and `<!-- drift:end -->` markers.
#
# Environment: ROWS=1000000, FEATURES=50, RUNS=3, KEEP=1 keeps the
# temporary directory, DRIFT_BENCH_BIN=path skips the build,
# REPORT=file (default BENCHMARKS.md).
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH_DIR")"
ROWS="${ROWS:-1000000}"
FEATURES="${FEATURES:-50}"
RUNS="${RUNS:-3}"
KEEP="${KEEP:-0}"
REPORT="${REPORT:-$ROOT/BENCHMARKS.md}"
PY="$ROOT/.cache/mlflow-venv/bin/python"

log() { printf '==> %s\n' "$*" >&2; }

BIN="${DRIFT_BENCH_BIN:-$ROOT/target/release/examples/drift_bench}"
if [[ -z "${DRIFT_BENCH_BIN:-}" ]]; then
    log "building the release drift_bench example"
    (cd "$ROOT" && cargo build --release --locked --quiet --example drift_bench)
fi
"$PY" -c 'import numpy, pandas, pyarrow' 2>/dev/null || "$ROOT/scripts/mlflow.sh" install

WORK="$(mktemp -d /tmp/modelops-drift-bench.XXXXXX)"
cleanup() { if [[ "$KEEP" == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi; }
trap cleanup EXIT

log "generating $ROWS rows x $FEATURES features (CSV and Parquet) in $WORK"
"$PY" "$BENCH_DIR/drift_numpy.py" generate "$WORK" "$ROWS" "$FEATURES"

# timed NAME FORMAT RUN COMMAND...: runs COMMAND under /usr/bin/time -v,
# its JSON to $WORK/NAME-FORMAT-RUN.json and time's report beside it.
timed() {
    local name="$1" format="$2" run="$3"
    shift 3
    /usr/bin/time -v -o "$WORK/$name-$format-$run.time" "$@" >"$WORK/$name-$format-$run.json"
}

for format in csv parquet; do
    ref="$WORK/reference.$format"
    cur="$WORK/current.$format"
    log "$format: $(du -h "$ref" | cut -f1) + $(du -h "$cur" | cut -f1); warm-up, then $RUNS runs each"
    for run in $(seq 0 "$RUNS"); do
        timed modelops "$format" "$run" "$BIN" "$ref" "$cur"
        timed numpy "$format" "$run" "$PY" "$BENCH_DIR/drift_numpy.py" psi "$ref" "$cur"
    done
done

K=$(( (ROWS + 99999) / 100000 ))
ROWS_SHOWN="$(printf %d "$ROWS" | sed -e :a -e 's/\([0-9]\)\([0-9]\{3\}\)\($\|,\)/\1,\2\3/;ta')"
LOAD="$(cut -d' ' -f1 /proc/loadavg)"
CPUS="$(nproc)"
CPU_MODEL="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
REVISION="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
VERSIONS="$("$PY" -c 'import sys, numpy, pandas, pyarrow; print(f"Python {sys.version.split()[0]}, numpy {numpy.__version__}, pandas {pandas.__version__}, pyarrow {pyarrow.__version__}")')"
CSV_SIZE="$(du -m "$WORK/reference.csv" | cut -f1)"
PARQUET_SIZE="$(du -m "$WORK/reference.parquet" | cut -f1)"

TABLE="$("$PY" - "$WORK" "$RUNS" <<'EOF'
import json, re, statistics, sys

work, runs = sys.argv[1], int(sys.argv[2])

def time_report(path):
    text = open(path).read()
    def field(label):
        return re.search(re.escape(label) + r"\s*(\S+)", text).group(1)
    clock = field("Elapsed (wall clock) time (h:mm:ss or m:ss):").split(":")
    wall = sum(float(part) * 60 ** i for i, part in enumerate(reversed(clock)))
    cpu = float(field("User time (seconds):")) + float(field("System time (seconds):"))
    return wall, cpu, int(field("Maximum resident set size (kbytes):")) / 1024

rows = []
worst = 0.0
for fmt in ("csv", "parquet"):
    medians = {}
    for tool in ("modelops", "numpy"):
        timed = [time_report(f"{work}/{tool}-{fmt}-{r}.time") for r in range(1, runs + 1)]
        inner = [json.load(open(f"{work}/{tool}-{fmt}-{r}.json"))["elapsed_s"] for r in range(1, runs + 1)]
        wall = [t[0] for t in timed]
        medians[tool] = statistics.median(wall)
        rows.append((fmt, tool, statistics.median(wall), min(wall), max(wall),
                     statistics.median(t[1] for t in timed), statistics.median(inner), max(t[2] for t in timed)))
    ours = json.load(open(f"{work}/modelops-{fmt}-1.json"))["report"]["features"]
    theirs = json.load(open(f"{work}/numpy-{fmt}-1.json"))["psi"]
    assert [f["feature"] for f in ours] == list(theirs), "different features"
    worst = max([worst] + [abs(f["psi"] - theirs[f["feature"]]) for f in ours])
    rows.append((fmt, "ratio", medians["numpy"] / medians["modelops"]))

label = {"csv": "CSV", "parquet": "Parquet"}
print("| format | tool | wall s (median) | min | max | CPU s (user + sys) | elapsed in-process s | peak RSS MiB |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
for row in rows:
    if row[1] == "ratio":
        continue
    fmt, tool, med, lo, hi, cpu, inner, rss = row
    name = "modelops (`drift_bench`)" if tool == "modelops" else "numpy (`drift_numpy.py psi`)"
    print(f"| {label[fmt]} | {name} | {med:.2f} | {lo:.2f} | {hi:.2f} | {cpu:.2f} | {inner:.2f} | {rss:.0f} |")
print()
ratios = [f"{label[r[0]]} {r[2]:.1f}x" for r in rows if r[1] == "ratio"]
print(f"modelops is faster than numpy by (median wall): {', '.join(ratios)}.")
print(f"Largest |PSI difference| between the two over all features and both formats: {worst:.1e}.")
EOF
)"

SECTION="$(cat <<EOF
<!-- drift:start -->
## Drift (PSI)

Produced by \`bench/drift.sh\` on $(date -u '+%Y-%m-%d %H:%M') UTC: $CPUS CPUs ($CPU_MODEL), Linux $(uname -r); modelops revision $REVISION, release build; $VERSIONS.
Data from \`bench/drift_numpy.py generate\`: reference and current, $ROWS_SHOWN rows × $FEATURES numeric features each (normal, 4 decimals, 1-2% nulls in every fifth feature, every tenth shifted in the current window); the reference is $CSV_SIZE MiB as CSV and $PARQUET_SIZE MiB as Parquet (snappy). PSI per feature with 10 quantile bins and a null bin (docs/drift.md), numbers read from the page cache (one warm-up run each); $RUNS timed runs per tool and format, each a whole process under \`/usr/bin/time -v\`. Load average (1 min) after the runs: $LOAD.

$TABLE

modelops streams: the reference three times for CSV (count, sample every ${K}th row for the quantile edges, bin) and twice for Parquet (the footer counts the rows), the current window once, beside the reference's last pass on a second thread; its memory is the 100,000-value samples and the counts, whatever the file size. numpy loads both files whole (pandas' C parser for CSV, pyarrow for Parquet) and then bins in vectorised calls, so its memory grows with the files.
<!-- drift:end -->
EOF
)"

printf '%s\n' "$SECTION"
if [[ -f "$REPORT" ]] && grep -q '<!-- drift:start -->' "$REPORT"; then
    "$PY" - "$REPORT" "$SECTION" <<'EOF'
import re, sys
path, section = sys.argv[1], sys.argv[2]
text = open(path).read()
text = re.sub(r"<!-- drift:start -->.*?<!-- drift:end -->", lambda _: section, text, flags=re.S)
open(path, "w").write(text)
EOF
else
    printf '\n%s\n' "$SECTION" >>"$REPORT"
fi
log "wrote $REPORT"

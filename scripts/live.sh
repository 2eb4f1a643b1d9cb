#!/usr/bin/env bash
# Real model servers for the live loop (tests/cli/live.rs, scripts/demo-live.sh,
# bench/rollback_live.sh): tiny scikit-learn models registered in MLflow and
# served by `mlflow models serve`, on loopback.
#
#   scripts/live.sh train OUT KIND...         # log one model per KIND (good | bad) in
#                                             # $MLFLOW_TRACKING_URI; writes
#                                             # `- KIND RUN_ID SOURCE` lines to OUT
#   scripts/live.sh register MODEL OUT KIND... # the same, each also registered as the
#                                             # next version of MODEL (`VERSION KIND ...`)
#   scripts/live.sh serve DIR MODEL VERSION   # serve models:/MODEL/VERSION on a free
#                                             # loopback port; prints its address;
#                                             # process group in DIR/serve-MODEL-VERSION.pid
#   scripts/live.sh load ARGS...              # the bounded load generator (scripts/live/load.py)
#   scripts/live.sh stop DIR                  # stop every server started in DIR
#
# The model server is MLflow's own (`mlflow models serve --env-manager local`):
# it loads a registered version straight from the registry, from the virtualenv
# scripts/mlflow.sh installs, with no other package. A `bad` version answers
# 40 ms slower and with a 500 for about a third of inputs (scripts/live/train.py).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MODELOPS_MLFLOW_VENV:-$ROOT/.cache/mlflow-venv}"

die() { printf 'live.sh: %s\n' "$*" >&2; exit 1; }

need_venv() {
  [ -x "$VENV/bin/mlflow" ] || die "no MLflow virtualenv at $VENV: run scripts/mlflow.sh install"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

train() {
  local model="$1" out="$2"; shift 2
  need_venv
  local as=()
  [ -n "$model" ] && as=(--model "$model")
  [ -n "${MLFLOW_TRACKING_URI:-}" ] || die "MLFLOW_TRACKING_URI names the registry to register in"
  local kinds=()
  for k in "$@"; do kinds+=(--kind "$k"); done
  "$VENV/bin/python" "$ROOT/scripts/live/train.py" "${as[@]}" --out "$out" "${kinds[@]}" >&2
}

serve() {
  local dir="$1" model="$2" version="$3"
  need_venv
  [ -n "${MLFLOW_TRACKING_URI:-}" ] || die "MLFLOW_TRACKING_URI names the registry to serve from"
  mkdir -p "$dir"
  local port name="serve-$model-$version"
  port="$(free_port)"
  # The server runs uvicorn through `bash -c`, so the virtualenv's bin/ must be
  # on PATH; setsid gives it its own process group, stopped as one.
  PATH="$VENV/bin:$PATH" setsid "$VENV/bin/mlflow" models serve \
    -m "models:/$model/$version" --env-manager local \
    -h 127.0.0.1 -p "$port" --workers 1 >"$dir/$name.log" 2>&1 &
  echo $! >"$dir/$name.pid"
  for _ in $(seq 1 240); do
    if curl -fsS "http://127.0.0.1:$port/ping" >/dev/null 2>&1; then
      echo "127.0.0.1:$port"
      return 0
    fi
    if ! kill -0 "$(cat "$dir/$name.pid")" 2>/dev/null; then
      tail -n 20 "$dir/$name.log" >&2
      die "the server for $model version $version exited before it was ready"
    fi
    sleep 0.25
  done
  tail -n 20 "$dir/$name.log" >&2
  die "the server for $model version $version was not ready within 60 s"
}

stop() {
  local dir="$1" pid
  for f in "$dir"/serve-*.pid; do
    [ -f "$f" ] || continue
    pid="$(cat "$f")"
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$f"
  done
}

case "${1:-}" in
  train) [ $# -ge 3 ] || die "usage: live.sh train OUT KIND..."; shift; train "" "$@" ;;
  register) [ $# -ge 4 ] || die "usage: live.sh register MODEL OUT KIND..."; shift; train "$@" ;;
  serve) [ $# -eq 4 ] || die "usage: live.sh serve DIR MODEL VERSION"; serve "$2" "$3" "$4" ;;
  load) shift; exec python3 "$ROOT/scripts/live/load.py" "$@" ;;
  stop) [ $# -eq 2 ] || die "usage: live.sh stop DIR"; stop "$2" ;;
  *) die "usage: live.sh train OUT KIND... | register MODEL OUT KIND... | serve DIR MODEL VERSION | load ARGS... | stop DIR" ;;
esac

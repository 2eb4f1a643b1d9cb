#!/usr/bin/env bash
# A real MLflow tracking server for tests and benchmarks, on loopback.
#
#   scripts/mlflow.sh install        # the virtualenv (.cache/mlflow-venv), if missing
#   scripts/mlflow.sh start DIR      # start a server with its store in DIR;
#                                    # prints its URL; pid in DIR/server.pid
#   scripts/mlflow.sh stop DIR       # stop the server started in DIR
#
# The server runs with one worker, a SQLite store and job execution off:
# healthy in about 7 s and about 0.5 GB, where MLflow's defaults take 3 GB.
# For benchmarks: MLFLOW_WORKERS=4 and MLFLOW_BACKEND_STORE_URI (such as
# postgresql+psycopg2://user@127.0.0.1:port/db; psycopg2-binary must be in
# the virtualenv) change both.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MODELOPS_MLFLOW_VENV:-$ROOT/.cache/mlflow-venv}"
VERSION="3.17.2"

die() { printf 'mlflow.sh: %s\n' "$*" >&2; exit 1; }

install() {
  if [ -x "$VENV/bin/mlflow" ] && "$VENV/bin/python" -c "import mlflow, sys; sys.exit(mlflow.__version__ != '$VERSION')" 2>/dev/null; then
    return 0
  fi
  echo "installing mlflow==$VERSION into $VENV (about a minute)" >&2
  # A venv whose pip no longer runs (made under another path, then moved)
  # cannot install anything: make it again.
  if [ -d "$VENV" ] && ! "$VENV/bin/pip" --version >/dev/null 2>&1; then
    echo "$VENV is broken (its pip does not run); recreating it" >&2
    rm -rf "$VENV"
  fi
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "mlflow==$VERSION" >&2
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start() {
  local dir="$1"
  install
  mkdir -p "$dir/artifacts"
  local port
  port="$(free_port)"
  MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false nohup "$VENV/bin/mlflow" server \
    --workers "${MLFLOW_WORKERS:-1}" --host 127.0.0.1 --port "$port" \
    --backend-store-uri "${MLFLOW_BACKEND_STORE_URI:-sqlite:///$dir/mlflow.db}" \
    --default-artifact-root "$dir/artifacts" >"$dir/server.log" 2>&1 &
  echo $! >"$dir/server.pid"
  local url="http://127.0.0.1:$port"
  for _ in $(seq 1 120); do
    if curl -fsS "$url/health" >/dev/null 2>&1; then
      echo "$url"
      return 0
    fi
    if ! kill -0 "$(cat "$dir/server.pid")" 2>/dev/null; then
      tail -n 30 "$dir/server.log" >&2
      die "the server exited before it was healthy"
    fi
    sleep 0.5
  done
  tail -n 30 "$dir/server.log" >&2
  die "the server was not healthy within 60 s"
}

stop() {
  local dir="$1" pid
  [ -f "$dir/server.pid" ] || return 0
  pid="$(cat "$dir/server.pid")"
  # mlflow server forks gunicorn/uvicorn: stop the whole process group's children too.
  pkill -TERM -P "$pid" 2>/dev/null || true
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 20); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$dir/server.pid"
}

case "${1:-}" in
  install) install ;;
  start) [ $# -eq 2 ] || die "usage: mlflow.sh start DIR"; start "$2" ;;
  stop) [ $# -eq 2 ] || die "usage: mlflow.sh stop DIR"; stop "$2" ;;
  *) die "usage: mlflow.sh install | start DIR | stop DIR" ;;
esac

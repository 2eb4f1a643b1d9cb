#!/usr/bin/env bash
# A real Prometheus server for tests, on loopback, optionally holding
# samples backfilled from an OpenMetrics file.
#
#   scripts/prometheus.sh install              # prometheus and promtool (apt), if missing
#   scripts/prometheus.sh start DIR [FILE]     # backfill FILE (OpenMetrics) into DIR/data,
#                                              # start a server on it; prints its URL;
#                                              # pid in DIR/server.pid
#   scripts/prometheus.sh scrape DIR HOST:PORT [PATH]
#                                              # start a server in DIR that scrapes
#                                              # http://HOST:PORT/PATH (default
#                                              # /stats/prometheus, Envoy's) every second;
#                                              # prints its URL
#   scripts/prometheus.sh stop DIR             # stop the server started in DIR
#
# Started with `start`, the server scrapes nothing: it only answers queries about what was
# backfilled. Backfilled blocks lie in the past, and Prometheus measures time
# retention from its newest block, not from the clock, so they are kept; the
# retention is set long anyway so that a file spanning years is kept whole.
# Overlapping blocks (a second start on the same DIR) are merged: since 2.39
# Prometheus allows them without a flag.
set -euo pipefail

die() { printf 'prometheus.sh: %s\n' "$*" >&2; exit 1; }

install() {
  if command -v prometheus >/dev/null && command -v promtool >/dev/null; then
    return 0
  fi
  command -v apt-get >/dev/null || die "prometheus and promtool are missing and there is no apt-get: install Prometheus 2.x"
  local sudo=
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "prometheus is missing; installing it needs root or sudo"
    sudo=sudo
  fi
  echo "installing prometheus (apt; Debian bookworm ships 2.42)" >&2
  $sudo apt-get update -qq >&2
  # The package enables a system service; policy may stop it from starting, and
  # this script never uses it either way.
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus >&2
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start() {
  local dir="$1" file="${2:-}"
  command -v prometheus >/dev/null || die "prometheus is not installed (scripts/prometheus.sh install)"
  mkdir -p "$dir/data"
  if [ -n "$file" ]; then
    [ -f "$file" ] || die "no such OpenMetrics file: $file"
    promtool tsdb create-blocks-from openmetrics --quiet "$file" "$dir/data" >"$dir/backfill.log" 2>&1 || {
      cat "$dir/backfill.log" >&2
      die "promtool could not backfill $file"
    }
  fi
  # No scrape targets: the server holds only what was backfilled.
  printf 'global:\n  evaluation_interval: 1h\nscrape_configs: []\n' >"$dir/prometheus.yml"
  serve "$dir"
}

scrape() {
  local dir="$1" target="$2" path="${3:-/stats/prometheus}"
  command -v prometheus >/dev/null || die "prometheus is not installed (scripts/prometheus.sh install)"
  case "$target" in
    127.0.0.1:*|localhost:*|'[::1]':*) ;;
    *) die "scrape targets are loopback only (127.0.0.1:PORT), not $target" ;;
  esac
  mkdir -p "$dir/data"
  cat >"$dir/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1h
scrape_configs:
  - job_name: target
    scrape_interval: 1s
    scrape_timeout: 900ms
    metrics_path: $path
    static_configs:
      - targets: ['$target']
YAML
  serve "$dir"
}

# Starts prometheus on "$1"/prometheus.yml and "$1"/data; prints its URL when ready.
serve() {
  local dir="$1" port
  port="$(free_port)"
  nohup prometheus \
    --config.file="$dir/prometheus.yml" \
    --storage.tsdb.path="$dir/data" \
    --storage.tsdb.retention.time=100y \
    --web.listen-address="127.0.0.1:$port" \
    --log.level=warn >"$dir/server.log" 2>&1 &
  echo $! >"$dir/server.pid"
  local url="http://127.0.0.1:$port"
  for _ in $(seq 1 120); do
    if curl -fsS "$url/-/ready" >/dev/null 2>&1; then
      echo "$url"
      return 0
    fi
    if ! kill -0 "$(cat "$dir/server.pid")" 2>/dev/null; then
      tail -n 30 "$dir/server.log" >&2
      die "the server exited before it was ready"
    fi
    sleep 0.25
  done
  tail -n 30 "$dir/server.log" >&2
  die "the server was not ready within 30 s"
}

stop() {
  local dir="$1" pid
  [ -f "$dir/server.pid" ] || return 0
  pid="$(cat "$dir/server.pid")"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$dir/server.pid"
}

case "${1:-}" in
  install) install ;;
  start) [ $# -ge 2 ] && [ $# -le 3 ] || die "usage: prometheus.sh start DIR [OPENMETRICS_FILE]"; start "$2" "${3:-}" ;;
  scrape) [ $# -ge 3 ] && [ $# -le 4 ] || die "usage: prometheus.sh scrape DIR HOST:PORT [PATH]"; scrape "$2" "$3" "${4:-}" ;;
  stop) [ $# -eq 2 ] || die "usage: prometheus.sh stop DIR"; stop "$2" ;;
  *) die "usage: prometheus.sh install | start DIR [OPENMETRICS_FILE] | scrape DIR HOST:PORT [PATH] | stop DIR" ;;
esac

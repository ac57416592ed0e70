#!/usr/bin/env bash
# CI of the Python module: a fresh virtual environment under target/, the build and test
# dependencies from PyPI, `pip install ./python` (maturin builds the extension with cargo), then
# `pytest python/tests`. Prints each step's wall time.
#
#   SEGLOSS_PY_TORCH=pypi (default) installs PyPI's torch wheel (on Linux it brings the CUDA
#   libraries: the large part of this script's time); =none skips torch (its tests then skip).
#   SEGLOSS_PY_VENV sets the venv path (default target/py-venv); PYTHON the interpreter (python3).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${SEGLOSS_PY_VENV:-target/py-venv}"
case "$venv" in /*) ;; *) venv="$PWD/$venv" ;; esac
torch_from="${SEGLOSS_PY_TORCH:-pypi}"
start=$(date +%s)
step() { printf '\n=== python: %s (%s, +%ss)\n' "$1" "$(date -u +%H:%M:%S)" "$(($(date +%s) - start))"; }

step "fresh venv in $venv"
rm -rf "$venv"
"${PYTHON:-python3}" -m venv "$venv"
py="$venv/bin/python"
"$py" -m pip install --quiet --upgrade pip

step "pip install maturin numpy scipy pytest onnx onnxruntime"
"$py" -m pip install --quiet maturin numpy scipy pytest onnx onnxruntime

case "$torch_from" in
  pypi)
    step "pip install torch (PyPI)"
    "$py" -m pip install --quiet torch
    ;;
  none) step "torch skipped (SEGLOSS_PY_TORCH=none)" ;;
  *) echo "SEGLOSS_PY_TORCH must be pypi or none, not $torch_from" >&2; exit 2 ;;
esac

step "pip install ./python (maturin, cargo --release)"
"$py" -m pip install --quiet ./python

step "pytest python/tests"
# run from python/tests' parent of the package dir so that `import segloss` is the installed one
(cd python/tests && "$py" -m pytest -q -p no:cacheprovider .)

step "done"

#!/bin/sh
# segloss against the reference implementations: agreement and speed (tools/compare/compare.py).
# Writes BENCHMARKS.md and docs/speedups.png; exits 1 if any row disagrees. Not part of CI (the
# reference environment downloads ~6 GB into tools/compare/.venv unless --venv or
# SEGLOSS_COMPARE_VENV names an existing one).
#   tools/compare/run.sh [--threads 2] [--quick] [--venv PATH] [--reps K] [--no-build]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"
export SEGLOSS_COMPARE_CMD="tools/compare/run.sh${*:+ $*}"
exec python3 "$here/compare.py" "$@"

#!/usr/bin/env python3
"""Reads `cargo test --no-run --message-format=json` on stdin and prints, for every test binary of
the kernel crates (unit tests and integration tests), its package directory and its path, one
tab-separated pair per line. .ci/run runs them again at the lower SIMD levels without a rebuild
(`cargo test -p ...` on a subset of the workspace would resolve other features and rebuild)."""
import json
import os
import re
import sys

KERNELS = re.compile(r"/crates/segloss-(core|xent|overlap|lovasz|distance)/Cargo\.toml$")
found = 0
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") != "compiler-artifact" or not m.get("executable") or not m["profile"]["test"]:
        continue
    if KERNELS.search(m["manifest_path"]):
        print(f"{os.path.dirname(m['manifest_path'])}\t{m['executable']}")
        found += 1
if found < 5:
    sys.exit(f"kernel_tests.py: {found} test binaries of the kernel crates found, expected one per crate at least")

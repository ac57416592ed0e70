"""Shared helpers of the segloss Python tests: the repository's golden fixtures (the same JSON
files the Rust tests read; format in crates/segloss-core/src/golden/mod.rs) and small inputs."""

from __future__ import annotations

import glob
import json
import os
from typing import Any, Dict, List, Tuple

import numpy as np

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# Where the Rust tests keep their fixtures: the facade's tests/fixtures and each crate's.
FIXTURE_GLOBS = ["tests/fixtures/*.json", "crates/*/tests/fixtures/*.json", "tools/*/tests/fixtures/*.json"]

DTYPES = {"float32": np.float32, "float64": np.float64, "int64": np.int64, "int32": np.int32, "uint8": np.uint8}


def fixture_files() -> List[str]:
    out: List[str] = []
    for g in FIXTURE_GLOBS:
        out += sorted(glob.glob(os.path.join(REPO, g)))
    return out


def tensor(t: Dict[str, Any]) -> np.ndarray:
    """A fixture tensor as a numpy array of its dtype."""
    return np.asarray(t["data"], dtype=DTYPES[t["dtype"]]).reshape(t["shape"])


def load_cases() -> Tuple[List[Tuple[str, Dict[str, Any], Dict[str, Any]]], List[Tuple[str, Dict[str, Any]]]]:
    """(loss cases, map cases): each loss case with its file's header; ids are `file:case`."""
    losses, maps = [], []
    for path in fixture_files():
        with open(path) as f:
            fx = json.load(f)
        rel = os.path.relpath(path, REPO)
        for case in fx["cases"]:
            case = dict(case, file=rel)
            if set(case["inputs"]) <= {"pred", "target", "weight"}:
                losses.append((f"{rel}:{case['name']}", case, fx))
            else:
                maps.append((f"{rel}:{case['name']}", case))
    return losses, maps


def split_spec(spec: str) -> Tuple[str, Dict[str, str]]:
    """`name:key=value,...` with bracketed lists kept whole (the distance cases' specs)."""
    name, _, rest = spec.partition(":")
    keys: Dict[str, str] = {}
    depth, cur = 0, ""
    for ch in rest + ",":
        if ch == "," and depth == 0:
            if cur:
                k, _, v = cur.partition("=")
                keys[k] = v
            cur = ""
            continue
        depth += ch == "["
        depth -= ch == "]"
        cur += ch
    return name, keys


def logits(shape, seed=0, dtype=np.float32) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 2.0, size=shape).astype(dtype)


def labels(shape, classes, seed=1, dtype=np.int64) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, classes, size=shape).astype(dtype)


def binary(shape, seed=2, dtype=np.float32) -> np.ndarray:
    return (np.random.default_rng(seed).random(shape) < 0.4).astype(dtype)

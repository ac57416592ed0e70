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


Cases = List[Tuple[str, Dict[str, Any], Dict[str, Any]]]


def load_cases() -> Tuple[Cases, List[Tuple[str, Dict[str, Any]]], Cases, Cases]:
    """(loss cases, map cases, relation cases, per-image cases), ids `file:case`, the loss,
    relation and per-image cases each with its file's header. A loss case is an equality of the
    value and gradient; a relation case (`extra.relation`, e.g. MONAI's focal sum with
    `ignore_index`, a sum of per-image means) relates the value to per-image segloss values; a
    per-image case (an `upstream` input) holds the per-image values (`expected.map`) and their
    vector-Jacobian product (`expected.grad`)."""
    losses, maps, relations, per_image = [], [], [], []
    for path in fixture_files():
        with open(path) as f:
            fx = json.load(f)
        rel = os.path.relpath(path, REPO)
        for case in fx["cases"]:
            case = dict(case, file=rel)
            cid = f"{rel}:{case['name']}"
            if "relation" in case.get("extra", {}):
                relations.append((cid, case, fx))
            elif set(case["inputs"]) == {"pred", "target", "upstream"}:
                per_image.append((cid, case, fx))
            elif set(case["inputs"]) <= {"pred", "target", "weight"}:
                losses.append((cid, case, fx))
            else:
                maps.append((cid, case))
    return losses, maps, relations, per_image


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

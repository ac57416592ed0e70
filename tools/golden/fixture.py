"""The one golden-fixture format of segloss, written by every script in tools/golden and read by
`segloss_core::golden` (crates/segloss-core/src/golden.rs, feature `testing`).

    {"generator": "tools/golden/<script>.py",
     "versions": {"python": "3.11.7", "torch": "...", ...},
     "extra": {...},                                  # optional: notes for the whole file
     "cases": [
       {"name": "dice_binary_2d",                     # unique in the file
        "spec": "dice:reduce=batch",                  # a segloss spec string (distance maps: "edt:spacing=[1,2]")
        "python": "DiceLoss(sigmoid=True)(pred, target)",   # the exact Python line of the reference
        "inputs": {"pred": T, "target": T, "weight": T},    # distance maps: {"mask": T} / {"labels": T}
        "expected": {"value": 0.25, "grad": T, "map": T},   # each optional
        "extra": {...}},                              # optional: what else a test reads (anchor, ...)
       ...]}

Every tensor T is {"shape": [...], "dtype": "float32|float64|int64|uint8|int32", "data": [...]}, the
data flat in row-major order. float32 data is written as the shortest decimal that reads back to
the same float32 (through float64, as serde_json and numpy read it; checked here), float64 data and
values as Python's repr (the shortest decimal that reads back to the same float64), integral
values of either as JSON integers. Nothing is rounded beyond that: float64 references are stored
as computed. The file holds one case per line.
"""
import json
import math
import os

import numpy as np

DTYPES = {
    np.dtype(np.float32): "float32",
    np.dtype(np.float64): "float64",
    np.dtype(np.int64): "int64",
    np.dtype(np.int32): "int32",
    np.dtype(np.uint8): "uint8",
}
CASE_KEYS = ("name", "spec", "python", "inputs", "expected", "extra")
EXPECTED_KEYS = ("value", "grad", "map")


def _num(x):
    """A finite float as a JSON number: an integer when integral (exactly), else its repr."""
    x = float(x)
    assert math.isfinite(x), f"non-finite value {x}"
    if x.is_integer() and abs(x) < 2**53:
        return int(x)
    return x


def _f32(v):
    """The float64 whose repr is the shortest decimal of the float32 `v` (which reads back to `v`)."""
    s = float(str(v))
    assert np.float32(s) == v, f"{v!r}: {s!r} does not read back to the same float32"
    return _num(s)


def tensor(a, dtype=None):
    """A tensor T of the array `a` (its dtype, or `dtype` when given: the values must fit it exactly)."""
    a = np.asarray(a)
    if dtype is not None:
        b = a.astype(dtype)
        assert np.array_equal(b, a), f"the values do not fit {dtype}"
        a = b
    name = DTYPES.get(a.dtype)
    assert name is not None, f"unsupported dtype {a.dtype}"
    flat = a.reshape(-1)
    if name == "float32":
        data = [_f32(v) for v in flat]
    elif name == "float64":
        data = [_num(v) for v in flat.tolist()]
    else:
        data = [int(v) for v in flat.tolist()]
    return {"shape": [int(d) for d in a.shape], "dtype": name, "data": data}


def case(name, spec, python, inputs, value=None, grad=None, map=None, extra=None):
    """One case. `inputs`: {name: array}; `grad`, `map`: arrays (float64 as computed); `extra`: a
    JSON object of anything else a test reads."""
    assert name and spec and python, (name, spec, python)
    expected = {}
    if value is not None:
        expected["value"] = _num(value)
    if grad is not None:
        expected["grad"] = tensor(grad)
    if map is not None:
        expected["map"] = tensor(map)
    assert expected, f"{name}: nothing expected"
    c = {"name": name, "spec": spec, "python": python,
         "inputs": {k: tensor(v) for k, v in inputs.items()}, "expected": expected}
    if extra:
        c["extra"] = extra
    return c


def f32(a):
    """`a` as a float32 array."""
    return np.asarray(a, dtype=np.float32)


class Draws:
    """The random inputs the golden scripts share, drawn from their own generator `rng` (so each
    script's cases stay as its seed makes them)."""

    def __init__(self, rng):
        self.rng = rng

    def logits(self, shape, scale=2.0):
        """float32 N(0, scale) logits."""
        return f32(self.rng.normal(0.0, scale, size=shape))

    def labels(self, shape, c):
        """int64 labels uniform in [0, c)."""
        return self.rng.integers(0, c, size=shape).astype(np.int64)


def spec(name, keys):
    """`name:key=value,...` with the keys in order; numbers written as `num`, lists in brackets."""
    def text(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (list, tuple)):
            return "[" + ",".join(text(x) for x in v) + "]"
        if isinstance(v, (int, float, np.integer, np.floating)):
            return str(_num(v))
        return str(v)

    return name + (":" + ",".join(f"{k}={text(v)}" for k, v in keys.items()) if keys else "")


def write(path, generator, versions, cases, extra=None):
    """Writes the fixture (one case per line) and returns its size in bytes."""
    names = [c["name"] for c in cases]
    assert len(set(names)) == len(names), "case names repeat"
    for c in cases:
        assert set(c) <= set(CASE_KEYS) and set(c["expected"]) <= set(EXPECTED_KEYS), c["name"]
    head = {"generator": generator, "versions": versions}
    if extra:
        head["extra"] = extra
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write("{\n")
        for k, v in head.items():
            f.write(f"{json.dumps(k)}: {json.dumps(v, allow_nan=False)},\n")
        f.write('"cases": [\n')
        f.write(",\n".join(json.dumps(c, separators=(",", ":"), allow_nan=False) for c in cases))
        f.write("\n]}\n")
    size = os.path.getsize(path)
    print(f"wrote {len(cases)} cases to {os.path.normpath(path)} ({size} bytes)")
    return size

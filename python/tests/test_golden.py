"""Every golden fixture of the Rust tests, through the Python API: the same JSON files (the
facade's tests/fixtures and each crate's tests/fixtures), the same tolerances.

Loss cases (written by tools/golden/*.py from MONAI, smp, torch, nnU-Net, ... in float64 on
float32 inputs): `|value - ref| <= 1e-5 |ref| + 1e-7` and `max |grad - ref| <= 1e-4 max |ref|`
(a fixture's own `extra.tolerance` when it gives numbers). Map cases (tools/golden/distance.py,
scipy): edt equal to the float32 rounding of scipy's distances (2 ulp with a spacing), label equal
up to the numbering, U-Net weights within 1e-3 of the per-object recipe.
"""

from __future__ import annotations

import numpy as np
import pytest

import segloss
from conftest import load_cases, split_spec, tensor

LOSS_CASES, MAP_CASES, RELATION_CASES, PER_IMAGE_CASES = load_cases()

VALUE_RTOL, VALUE_ATOL, GRAD_RTOL = 1e-5, 1e-7, 1e-4
SPACING_ULPS = 2
UNET_TOL = 1e-3


def tolerances(fx):
    tol = fx.get("extra", {}).get("tolerance")
    if isinstance(tol, dict):
        return (tol.get("value_rtol", VALUE_RTOL), tol.get("value_atol", VALUE_ATOL), tol.get("grad_rtol_of_max", GRAD_RTOL))
    return VALUE_RTOL, VALUE_ATOL, GRAD_RTOL


def test_the_fixtures_are_found():
    files = {c["file"] for _, c, _ in LOSS_CASES} | {c["file"] for _, c in MAP_CASES}
    assert "tests/fixtures/xent.json" in files
    assert "crates/segloss-distance/tests/fixtures/distance.json" in files
    assert len(LOSS_CASES) > 150 and len(MAP_CASES) >= 10
    assert len(RELATION_CASES) >= 2 and len(PER_IMAGE_CASES) >= 7


@pytest.mark.parametrize("case,fx", [(c, f) for _, c, f in RELATION_CASES], ids=[i for i, _, _ in RELATION_CASES])
def test_relation_case(case, fx):
    # per_image_mean: MONAI's focal `reduction="sum"` with `ignore_index` is the sum over the
    # images of segloss's sum on each image divided by that image's kept elements (pixels)
    assert case["extra"]["relation"] == "per_image_mean", case["name"]
    where = f"{case['file']}: {case['name']} (spec {case['spec']!r})\n  python: {case['python']}"
    loss = segloss.Loss(case["spec"])
    pred, target = tensor(case["inputs"]["pred"]), tensor(case["inputs"]["target"])
    ignore = float(split_spec(case["spec"])[1]["ignore_index"])
    values = loss.per_image(pred, target)
    kept = [(target[i] != ignore).sum() for i in range(target.shape[0])]
    got = sum(v / k for v, k in zip(values, kept))
    want = case["expected"]["value"]
    assert abs(got - want) <= VALUE_RTOL * abs(want), f"{where}\n  per-image means {got!r}, reference {want!r}"


@pytest.mark.parametrize("case,fx", [(c, f) for _, c, f in PER_IMAGE_CASES], ids=[i for i, _, _ in PER_IMAGE_CASES])
def test_per_image_case(case, fx):
    where = f"{case['file']}: {case['name']} (spec {case['spec']!r})\n  python: {case['python']}"
    loss = segloss.Loss(case["spec"])
    ins = {k: tensor(v) for k, v in case["inputs"].items()}
    values, grad = loss.per_image_vjp(ins["pred"], ins["target"], ins["upstream"])
    want = tensor(case["expected"]["map"]).astype(np.float64)
    assert np.abs(values - want).max() <= VALUE_RTOL * np.abs(want).max(), f"{where}\n  values {values}, reference {want}"
    ref = tensor(case["expected"]["grad"]).astype(np.float64)
    err = np.abs(grad.astype(np.float64) - ref).max()
    assert err <= GRAD_RTOL * np.abs(ref).max(), f"{where}\n  product max |diff| {err:e}"


@pytest.mark.parametrize("case,fx", [(c, f) for _, c, f in LOSS_CASES], ids=[i for i, _, _ in LOSS_CASES])
def test_loss_case(case, fx):
    vr, va, gr = tolerances(fx)
    where = f"{case['file']}: {case['name']} (spec {case['spec']!r})\n  python: {case['python']}"
    loss = segloss.Loss(case["spec"])
    ins = {k: tensor(v) for k, v in case["inputs"].items()}
    want = case["expected"]["value"]
    for pred in (ins["pred"], ins["pred"].astype(np.float64)):
        value, grad = loss.value_and_grad(pred, ins["target"], ins.get("weight"))
        assert grad.dtype == pred.dtype and grad.shape == pred.shape
        assert abs(value - want) <= vr * abs(want) + va, f"{where}\n  value {value!r}, reference {want!r}"
        assert loss(pred, ins["target"], ins.get("weight")) == value, where
        if "grad" in case["expected"]:
            ref = tensor(case["expected"]["grad"]).astype(np.float64)
            err = np.abs(grad.astype(np.float64) - ref)
            scale = np.abs(ref).max()
            worst = np.unravel_index(int(np.argmax(err)), err.shape)
            assert err.max() <= gr * scale, f"{where}\n  gradient max |diff| {err.max():e} > {gr} * {scale:e} at {worst}"


@pytest.mark.parametrize("case", [c for _, c in MAP_CASES], ids=[i for i, _ in MAP_CASES])
def test_map_case(case):
    name, keys = split_spec(case["spec"])
    where = f"{case['file']}: {case['name']} (spec {case['spec']!r})\n  python: {case['python']}"
    want = tensor(case["expected"]["map"]) if "map" in case["expected"] else None
    if name == "edt":
        mask = tensor(case["inputs"]["mask"])
        spacing = [float(x) for x in keys["spacing"].strip("[]").split(",")] if "spacing" in keys else None
        got = segloss.edt(mask, spacing=spacing)
        assert got.dtype == np.float32 and got.shape == mask.shape
        ref = want.astype(np.float32)
        if spacing is None:
            np.testing.assert_array_equal(got, ref, err_msg=where)
        else:
            ulps = np.abs(got.view(np.int32).astype(np.int64) - ref.view(np.int32).astype(np.int64))
            assert ulps.max() <= SPACING_ULPS, where
    elif name == "label":
        mask = tensor(case["inputs"]["mask"])
        conn = int(float(keys["connectivity"])) if "connectivity" in keys else None
        got, n = segloss.label(mask, connectivity=conn)
        assert n == case["expected"]["value"], where
        assert got.dtype == np.int32
        # the same partition: a one-to-one map between the two numberings, 0 on 0
        pairs = set(zip(got.ravel().tolist(), want.ravel().tolist()))
        assert len({a for a, _ in pairs}) == len(pairs) == len({b for _, b in pairs}), where
        assert all((a == 0) == (b == 0) for a, b in pairs), where
    elif name.startswith("unet_weights"):
        labels = tensor(case["inputs"]["labels"])
        cw = keys.get("class_weights", "balanced")
        cw = "balanced" if cw == "balanced" else tuple(float(x) for x in cw.strip("[]").split(","))
        conn = int(float(keys["connectivity"])) if "connectivity" in keys else None
        arr = labels.astype(bool) if name == "unet_weights_from_mask" else labels
        got = segloss.unet_weights(arr, w0=float(keys["w0"]), sigma=float(keys["sigma"]), class_weights=cw, connectivity=conn)
        err = np.abs(got.astype(np.float64) - want).max()
        assert err <= UNET_TOL, f"{where}\n  max error {err}"
    else:
        pytest.fail(f"{where}\n  a map this test does not know: add it here")

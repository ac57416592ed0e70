"""Golden values for `wasserstein_dice` (crates/segloss-overlap/tests/fixtures/wasserstein_dice.json).

Run: /work/venv/py/bin/python tools/golden/wasserstein_dice.py

Every case calls MONAI's own `GeneralizedWassersteinDiceLoss(dist_matrix, weighting_mode,
smooth_nr, smooth_dr, reduction="mean" | "sum")` in float64 on float32 inputs (logits; int64 labels), with
the value and the torch-autograd gradient with respect to the logits as computed. The spec of
each case is the segloss spec that LOSSES.md says equals the call (`dist_matrix=uniform`, the
default, is MONAI's `1 - eye(C)`; `weighting_mode="GDL"` is `weighting_mode=gdl`). MONAI computes
its class weights alpha in float32 (`.float()`), so its gdl values differ from an all-float64
computation by about 1e-8 relative. The format is fixture.py's.
"""
import os
import sys

import monai
import numpy as np
import torch
from monai.losses import GeneralizedWassersteinDiceLoss

import fixture

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "crates", "segloss-overlap", "tests", "fixtures",
                   "wasserstein_dice.json")
rng = np.random.default_rng(20261215)
cases = []


draw = fixture.Draws(rng)
f32, logits = fixture.f32, draw.logits
labels = draw.labels


def blobs(n, spatial, c):
    """Spatially coherent labels (runs of one class, as real masks have)."""
    lab = np.zeros((n,) + spatial, dtype=np.int64)
    for i in range(n):
        for _ in range(6):
            k = int(rng.integers(0, c))
            lo = [int(rng.integers(0, s)) for s in spatial]
            hi = [min(s, l + int(rng.integers(1, max(2, s // 2 + 1)))) for s, l in zip(spatial, lo)]
            lab[(i,) + tuple(slice(l, h) for l, h in zip(lo, hi))] = k
    return lab


# a non-symmetric matrix with a non-zero diagonal entry and largest entry 4 (normalised by MONAI)
M3 = [[0.0, 1.0, 2.0], [0.5, 0.0, 1.5], [4.0, 0.25, 0.5]]
M5 = [[0.0, 1.0, 1.0, 2.0, 3.0],
      [1.0, 0.0, 0.5, 1.0, 1.5],
      [2.0, 0.5, 0.0, 0.5, 2.0],
      [3.0, 1.0, 0.25, 0.0, 1.0],
      [1.0, 2.0, 3.0, 0.5, 0.1]]
M2 = [[0.0, 0.7], [0.3, 0.0]]


def run(pred, target, dist, mode, nr, dr, reduction="mean"):
    loss = GeneralizedWassersteinDiceLoss(dist_matrix=torch.tensor(dist, dtype=torch.float64), weighting_mode=mode,
                                          smooth_nr=nr, smooth_dr=dr, reduction=reduction)
    x = torch.tensor(pred.astype(np.float64), requires_grad=True)
    v = loss(x, torch.tensor(target))
    v.backward()
    return float(v.item()), x.grad.numpy().astype(np.float64)


def add(case_id, pred, target, dist=None, mode="default", nr=1e-5, dr=1e-5, smooth=None, note=None, reduction="mean"):
    c = pred.shape[1]
    keys = {}
    if dist is not None:
        keys["dist_matrix"] = dist
        mat = np.asarray(dist, dtype=np.float64)
        mat_text = f"torch.tensor({dist}, dtype=torch.float64)"
    else:
        mat = 1.0 - np.eye(c)
        mat_text = f"1 - torch.eye({c}, dtype=torch.float64)"
    if mode == "GDL":
        keys["weighting_mode"] = "gdl"
    if smooth is not None:
        keys["smooth"] = smooth
        nr = dr = smooth
    elif (nr, dr) != (1e-5, 1e-5):
        keys["smooth_nr"] = nr
        keys["smooth_dr"] = dr
    if reduction != "mean":
        keys["reduction"] = reduction
    value, grad = run(pred, target, mat, mode, nr, dr, reduction)
    call = (f"GeneralizedWassersteinDiceLoss(dist_matrix={mat_text}, weighting_mode={mode!r}, smooth_nr={nr!r}, "
            f"smooth_dr={dr!r}, reduction={reduction!r})(pred, target)")
    cases.append(fixture.case(case_id, fixture.spec("wasserstein_dice", keys), call,
                              {"pred": f32(pred), "target": target}, value=value, grad=grad,
                              extra={"note": note} if note else None))


add("uniform_2d_c5", logits((2, 5, 9, 11)), labels((2, 9, 11), 5))
add("uniform_2d_c5_gdl", logits((2, 5, 9, 11)), blobs(2, (9, 11), 5), mode="GDL")
add("nonsym_2d_c3", logits((3, 3, 8, 7)), labels((3, 1, 8, 7), 3), dist=M3)
add("nonsym_2d_c3_gdl", logits((3, 3, 8, 7)), blobs(3, (8, 7), 3), dist=M3, mode="GDL")
add("nonsym_3d_c5", logits((2, 5, 4, 5, 6)), blobs(2, (4, 5, 6), 5), dist=M5)
add("nonsym_3d_c5_gdl", logits((2, 5, 4, 5, 6)), labels((2, 1, 4, 5, 6), 5), dist=M5, mode="GDL")
add("c2_nonsym", logits((2, 2, 6, 6)), labels((2, 6, 6), 2), dist=M2)
add("c2_uniform_gdl", logits((2, 2, 6, 6)), labels((2, 6, 6), 2), mode="GDL")
bg = labels((2, 7, 7), 3)
bg[1] = 0
add("background_only_image", logits((2, 3, 7, 7)), bg, dist=M3,
    note="image 1 has background labels only: TP = 0 there (default mode), loss 1 - nr/(sum W + dr)")
add("background_only_image_gdl", logits((2, 3, 7, 7)), bg, dist=M3, mode="GDL")
add("large_logits_c5", logits((2, 5, 6, 6), scale=60.0), labels((2, 6, 6), 5), dist=M5,
    note="logits of scale 60: saturated softmax")
add("large_logits_c5_gdl", logits((2, 5, 6, 6), scale=60.0), blobs(2, (6, 6), 5), dist=M5, mode="GDL")
add("smooth_keys", logits((2, 3, 5, 5)), labels((2, 5, 5), 3), dist=M3, nr=0.5, dr=2.0)
add("smooth_both", logits((2, 3, 5, 5)), labels((2, 5, 5), 3), mode="GDL", smooth=1.0)
add("one_axis_c3", logits((2, 3, 40)), labels((2, 40), 3), dist=M3)
# more than one block of 1024 pixels per image, coherent labels (the SIMD path's broadcasts)
add("multi_block_c3", logits((1, 3, 33, 34)), blobs(1, (33, 34), 3), dist=M3)
add("multi_block_c3_gdl", logits((1, 3, 34, 33)), blobs(1, (34, 33), 3), dist=M3, mode="GDL")
# reduction="sum": the sum of the image losses (drawn last: the cases above keep their inputs)
add("sum_nonsym_c3", logits((3, 3, 6, 7)), labels((3, 6, 7), 3), dist=M3, reduction="sum")
add("sum_uniform_c4_gdl", logits((4, 4, 5, 6)), blobs(4, (5, 6), 4), mode="GDL", reduction="sum")

fixture.write(
    OUT,
    "tools/golden/wasserstein_dice.py",
    {"python": sys.version.split()[0], "torch": torch.__version__, "monai": monai.__version__, "numpy": np.__version__},
    cases,
    extra={"dtype": "reference computed in float64 on float32 inputs"},
)

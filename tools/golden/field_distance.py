"""Golden values for the distance-map losses `boundary` and `hausdorff_dt`
(crates/segloss-distance/tests/fixtures/field_distance.json).

Run: /work/venv/py/bin/python tools/golden/field_distance.py

Each case holds the segloss spec, the Python call that produced the reference (`python`), the
inputs `pred` (float32 values; the reference runs in float64 on exactly those values) and `target`
(float32 masks, or int64 labels `[N, *S]`), the value and the gradient with respect to pred
(torch autograd, float64). The format is fixture.py's.

Anchors:
- MONAI's own classes, `BoundaryLoss(sigmoid|softmax, to_onehot_y=True, include_background=b)` and
  `HausdorffDTLoss(alpha, include_background, sigmoid|softmax, to_onehot_y=True)`, at unit spacing
  (MONAI has no spacing). MONAI rounds its maps to float32 (about 1e-7 relative).
- `classes=[...]`: MONAI `BoundaryLoss(..., include_background=True, reduction="none")`, whose
  [N, C] per-pair values are averaged over the listed channels.
- Spacing (no MONAI anchor): Kervadec et al.'s `one_hot2dist(seg, resolution)` and `SurfaceLoss`
  (github.com/LIVIAETS/boundary-loss, utils.py and losses.py) written out below with scipy
  `distance_transform_edt(sampling=...)`, in float64, for `boundary`; MONAI's HausdorffDT formula
  written out the same way with `sampling=` for `hausdorff_dt`. The same written-out formulas give
  the one-spatial-axis cases (MONAI's classes take 2D and 3D only).

Probabilities within 1e-3 of 0.5 are avoided in the hausdorff_dt inputs (the map of the prediction
jumps there, and float32 rounding could put a pixel on the other side).
"""
import os
import sys
import warnings

import monai
import numpy as np
import scipy
import torch
from monai.losses import BoundaryLoss, HausdorffDTLoss
from scipy.ndimage import distance_transform_edt

import fixture

warnings.filterwarnings("ignore")
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "crates", "segloss-distance", "tests", "fixtures", "field_distance.json")
rng = np.random.default_rng(20261127)
cases = []


draw = fixture.Draws(rng)
f32, logits = fixture.f32, draw.logits


def away_from_half(x, softmax):
    """Logits whose probabilities are not within 1e-3 of 0.5 (redrawn where they are)."""
    x = x.copy()
    for _ in range(100):
        t = torch.tensor(x.astype(np.float64))
        p = torch.softmax(t, 1) if softmax else torch.sigmoid(t)
        near = (p - 0.5).abs() < 1e-3
        if not near.any():
            return x
        if softmax:
            px = near.any(dim=1, keepdim=True).expand_as(t).numpy()
        else:
            px = near.numpy()
        x[px] = logits(x.shape)[px]
    raise RuntimeError("could not move the probabilities away from 0.5")


def blobs(shape, frac=0.35):
    """A float mask of smooth random blobs (thresholded smoothed noise)."""
    from scipy.ndimage import gaussian_filter
    noise = gaussian_filter(rng.normal(size=shape), sigma=1.2)
    return f32(noise > np.quantile(noise, 1.0 - frac))


def labels(shape, c):
    from scipy.ndimage import gaussian_filter
    noise = np.stack([gaussian_filter(rng.normal(size=shape), sigma=1.0) for _ in range(c)])
    return noise.argmax(0).astype(np.int64)


def run(fn, pred, target):
    x = torch.tensor(pred.astype(np.float64), requires_grad=True)
    t = torch.tensor(target) if target.dtype == np.int64 else torch.tensor(target.astype(np.float64))
    v = fn(x, t)
    v.backward()
    return float(v.item()), x.grad.numpy().astype(np.float64)


def add(case_id, name, keys, call, fn, pred, target):
    value, grad = run(fn, pred, target)
    tr = target if target.dtype == np.int64 else f32(target)
    cases.append(fixture.case(case_id, fixture.spec(name, keys), call, {"pred": f32(pred), "target": tr},
                              value=value, grad=grad))


def onehot_y(fn):
    """MONAI's to_onehot_y wants [N, 1, *S] labels: ours are [N, *S]."""
    return lambda x, t: fn(x, t.unsqueeze(1) if t.dtype == torch.int64 else t)


# --- Kervadec et al., boundary-loss repository (utils.py `one_hot2dist`, losses.py `SurfaceLoss`),
# with dtype=float64 (the repository's default dtype=None on int32 one-hots truncates distances).
def one_hot2dist(seg, resolution, dtype=np.float64):
    K = len(seg)
    res = np.zeros_like(seg, dtype=dtype)
    for k in range(K):
        posmask = seg[k].astype(bool)
        if posmask.any():
            negmask = ~posmask
            res[k] = distance_transform_edt(negmask, sampling=resolution) * negmask \
                - (distance_transform_edt(posmask, sampling=resolution) - 1) * posmask
    return res


def surface_loss(idc, resolution, act):
    """SurfaceLoss(idc)(probs, dist_maps): einsum("bk...,bk...->bk...", pc, dc).mean()."""
    def fn(x, t):
        probs = act(x)
        c = x.shape[1]
        seg = (torch.nn.functional.one_hot(t, c).movedim(-1, 1) if t.dtype == torch.int64 else (t > 0.5)).numpy().astype(np.int32)
        # where a class fills an image Kervadec's code gets scipy's meaningless all-ones EDT: not used
        assert not any(s[k].all() for s in seg for k in idc), "a class fills an image"
        dist = torch.tensor(np.stack([one_hot2dist(s, resolution) for s in seg]))
        return (probs[:, idc] * dist[:, idc]).mean()
    return fn


# --- MONAI's HausdorffDTLoss formula with scipy's `sampling` (MONAI has none).
def field(img, sampling):
    m = img > 0.5
    if m.any() and not m.all():
        return distance_transform_edt(m, sampling=sampling) + distance_transform_edt(~m, sampling=sampling)
    return np.zeros(img.shape)


def hausdorff_formula(alpha, channels, sampling, act):
    def fn(x, t):
        p = act(x)
        c = x.shape[1]
        g = torch.nn.functional.one_hot(t, c).movedim(-1, 1).double() if t.dtype == torch.int64 else t
        terms = []
        for k in channels:
            pd = torch.tensor(np.stack([field(a, sampling) for a in p[:, k].detach().numpy()]))
            gd = torch.tensor(np.stack([field(a, sampling) for a in g[:, k].numpy()]))
            terms.append(((p[:, k] - g[:, k]) ** 2 * (pd ** alpha + gd ** alpha)).mean())
        return torch.stack(terms).mean()
    return fn


def boundary_formula(channels, sampling, act):
    """sum p phi / (N |K| |S|), phi from one_hot2dist (every channel, including a full one)."""
    def fn(x, t):
        p = act(x)
        c = x.shape[1]
        g = (torch.nn.functional.one_hot(t, c).movedim(-1, 1) if t.dtype == torch.int64 else (t > 0.5)).numpy().astype(np.int32)
        phi = np.zeros(g.shape)
        for n in range(g.shape[0]):
            for k in range(c):
                m = g[n, k].astype(bool)
                if m.any() and not m.all():
                    phi[n, k] = one_hot2dist(g[n, k:k + 1], sampling)[0]
        return (p[:, channels] * torch.tensor(phi)[:, channels]).mean()
    return fn


sig = torch.sigmoid
soft = lambda x: torch.softmax(x, 1)
ident = lambda x: x


def main():
    # ---------------- boundary: MONAI BoundaryLoss ----------------
    p = logits((2, 1, 9, 11)); t = blobs((2, 1, 9, 11))
    add("boundary_binary_2d", "boundary", {}, "BoundaryLoss(sigmoid=True, to_onehot_y=True)(pred, target)",
        BoundaryLoss(sigmoid=True, to_onehot_y=True), p, t)

    p = logits((3, 1, 6, 7)); t = blobs((3, 1, 6, 7)); t[0] = 0.0; t[1] = 1.0
    add("boundary_binary_empty_and_full", "boundary", {},
        "BoundaryLoss(sigmoid=True, to_onehot_y=True)(pred, target)  # image 0 empty, image 1 full: maps 0",
        BoundaryLoss(sigmoid=True, to_onehot_y=True), p, t)

    p = logits((2, 4, 8, 9)); t = labels((2, 8, 9), 4); t[0][t[0] == 3] = 1; t[1] = 2
    add("boundary_multiclass_2d", "boundary", {},
        "BoundaryLoss(softmax=True, to_onehot_y=True, include_background=False)(pred, target[:, None])  # class 3 absent from image 0, image 1 all class 2",
        onehot_y(BoundaryLoss(softmax=True, to_onehot_y=True, include_background=False)), p, t)
    p = logits((2, 4, 8, 9)); t = labels((2, 8, 9), 4)
    add("boundary_multiclass_2d_background", "boundary", {"include_background": True},
        "BoundaryLoss(softmax=True, to_onehot_y=True, include_background=True)(pred, target[:, None])",
        onehot_y(BoundaryLoss(softmax=True, to_onehot_y=True, include_background=True)), p, t)
    add("boundary_multiclass_classes_1_3", "boundary", {"classes": [1, 3]},
        "BoundaryLoss(softmax=True, to_onehot_y=True, include_background=True, reduction='none')(pred, target[:, None])[:, [1, 3]].mean()",
        onehot_y(lambda x, y: BoundaryLoss(softmax=True, to_onehot_y=True, include_background=True, reduction="none")(x, y)[:, [1, 3]].mean()),
        p, t)

    p = logits((2, 3, 7, 8)); t = blobs((2, 3, 7, 8)); t[1, 2] = 0.0
    add("boundary_multilabel_2d", "boundary", {}, "BoundaryLoss(sigmoid=True, include_background=True)(pred, target)",
        BoundaryLoss(sigmoid=True, include_background=True), p, t)
    add("boundary_multilabel_2d_no_background", "boundary", {"include_background": False},
        "BoundaryLoss(sigmoid=True, include_background=False)(pred, target)",
        BoundaryLoss(sigmoid=True, include_background=False), p, t)

    p = logits((1, 1, 5, 6, 7)); t = blobs((1, 1, 5, 6, 7))
    add("boundary_binary_3d", "boundary", {}, "BoundaryLoss(sigmoid=True, to_onehot_y=True)(pred, target)",
        BoundaryLoss(sigmoid=True, to_onehot_y=True), p, t)
    p = logits((2, 3, 4, 5, 6)); t = labels((2, 4, 5, 6), 3)
    add("boundary_multiclass_3d", "boundary", {}, "BoundaryLoss(softmax=True, to_onehot_y=True, include_background=False)(pred, target[:, None])",
        onehot_y(BoundaryLoss(softmax=True, to_onehot_y=True, include_background=False)), p, t)

    p = f32(torch.softmax(torch.tensor(logits((2, 3, 6, 7)).astype(np.float64)), 1).numpy()); t = labels((2, 6, 7), 3)
    add("boundary_multiclass_probabilities", "boundary", {"from_logits": False},
        "BoundaryLoss(to_onehot_y=True, include_background=False)(probs, target[:, None])",
        onehot_y(BoundaryLoss(to_onehot_y=True, include_background=False)), p, t)

    # ---------------- boundary: Kervadec's one_hot2dist with spacing ----------------
    p = logits((2, 3, 8, 9)); t = labels((2, 8, 9), 3)
    add("boundary_spacing_kervadec_2d", "boundary", {"classes": [0, 1, 2], "spacing": [0.5, 2.0]},
        "SurfaceLoss(idc=[0, 1, 2])(softmax(pred), one_hot2dist(one_hot(target), resolution=(0.5, 2.0), dtype=float64))",
        surface_loss([0, 1, 2], (0.5, 2.0), soft), p, t)
    p = logits((2, 3, 8, 9)); t = labels((2, 8, 9), 3)
    add("boundary_spacing_kervadec_2d_uniform", "boundary", {"spacing": 1.5},
        "SurfaceLoss(idc=[1, 2])(softmax(pred), one_hot2dist(one_hot(target), resolution=(1.5, 1.5), dtype=float64))",
        surface_loss([1, 2], (1.5, 1.5), soft), p, t)
    p = logits((1, 3, 4, 5, 6)); t = labels((1, 4, 5, 6), 3)
    add("boundary_spacing_kervadec_3d", "boundary", {"spacing": [2.0, 0.7, 1.0]},
        "SurfaceLoss(idc=[1, 2])(softmax(pred), one_hot2dist(one_hot(target), resolution=(2.0, 0.7, 1.0), dtype=float64))",
        surface_loss([1, 2], (2.0, 0.7, 1.0), soft), p, t)
    p = logits((2, 1, 23)); t = blobs((2, 1, 23))
    add("boundary_1d_formula", "boundary", {"spacing": 0.5},
        "mean(sigmoid(pred) * phi), phi = one_hot2dist(mask, resolution=(0.5,)) per (image, channel), 0 for an empty or full mask (one spatial axis: no MONAI anchor)",
        boundary_formula([0], (0.5,), sig), p, t)

    # ---------------- hausdorff_dt: MONAI HausdorffDTLoss ----------------
    p = away_from_half(logits((2, 1, 9, 11)), False); t = blobs((2, 1, 9, 11))
    add("hausdorff_binary_2d", "hausdorff_dt", {}, "HausdorffDTLoss(sigmoid=True, to_onehot_y=True)(pred, target)",
        HausdorffDTLoss(sigmoid=True, to_onehot_y=True), p, t)
    p = away_from_half(logits((3, 1, 6, 7)), False); p[2] = np.abs(p[2]); t = blobs((3, 1, 6, 7)); t[0] = 0.0; t[1] = 1.0
    add("hausdorff_binary_empty_and_full", "hausdorff_dt", {},
        "HausdorffDTLoss(sigmoid=True, to_onehot_y=True)(pred, target)  # target empty in image 0, full in 1; prediction full in image 2",
        HausdorffDTLoss(sigmoid=True, to_onehot_y=True), p, t)
    p = away_from_half(logits((2, 1, 9, 11)), False); t = blobs((2, 1, 9, 11))
    add("hausdorff_binary_alpha_1_5", "hausdorff_dt", {"alpha": 1.5}, "HausdorffDTLoss(alpha=1.5, sigmoid=True, to_onehot_y=True)(pred, target)",
        HausdorffDTLoss(alpha=1.5, sigmoid=True, to_onehot_y=True), p, t)

    p = away_from_half(logits((2, 4, 8, 9)), True); t = labels((2, 8, 9), 4); t[0][t[0] == 3] = 1; t[1] = 2
    add("hausdorff_multiclass_2d", "hausdorff_dt", {},
        "HausdorffDTLoss(softmax=True, to_onehot_y=True, include_background=False)(pred, target[:, None])  # class 3 absent from image 0, image 1 all class 2",
        onehot_y(HausdorffDTLoss(softmax=True, to_onehot_y=True, include_background=False)), p, t)
    p = away_from_half(logits((2, 4, 8, 9)), True); t = labels((2, 8, 9), 4)
    add("hausdorff_multiclass_2d_alpha_background", "hausdorff_dt", {"alpha": 3.0, "include_background": True},
        "HausdorffDTLoss(alpha=3.0, softmax=True, to_onehot_y=True, include_background=True)(pred, target[:, None])",
        onehot_y(HausdorffDTLoss(alpha=3.0, softmax=True, to_onehot_y=True, include_background=True)), p, t)

    p = away_from_half(logits((2, 3, 7, 8)), False); t = blobs((2, 3, 7, 8)); t[1, 2] = 0.0
    add("hausdorff_multilabel_2d", "hausdorff_dt", {}, "HausdorffDTLoss(sigmoid=True, include_background=True)(pred, target)",
        HausdorffDTLoss(sigmoid=True, include_background=True), p, t)
    t = f32(np.round(rng.random((2, 3, 7, 8)), 3))
    add("hausdorff_multilabel_soft_targets_no_background", "hausdorff_dt", {"include_background": False},
        "HausdorffDTLoss(sigmoid=True, include_background=False)(pred, target)  # soft targets: G = target > 0.5",
        HausdorffDTLoss(sigmoid=True, include_background=False), p, t)

    p = away_from_half(logits((1, 1, 5, 6, 7)), False); t = blobs((1, 1, 5, 6, 7))
    add("hausdorff_binary_3d", "hausdorff_dt", {}, "HausdorffDTLoss(sigmoid=True, to_onehot_y=True)(pred, target)",
        HausdorffDTLoss(sigmoid=True, to_onehot_y=True), p, t)
    p = away_from_half(logits((2, 3, 4, 5, 6)), True); t = labels((2, 4, 5, 6), 3)
    add("hausdorff_multiclass_3d", "hausdorff_dt", {}, "HausdorffDTLoss(softmax=True, to_onehot_y=True)(pred, target[:, None])",
        onehot_y(HausdorffDTLoss(softmax=True, to_onehot_y=True)), p, t)

    pr = torch.softmax(torch.tensor(away_from_half(logits((2, 3, 6, 7)), True).astype(np.float64)), 1).numpy()
    p = f32(pr); t = labels((2, 6, 7), 3)
    assert (np.abs(p.astype(np.float64) - 0.5) > 1e-3).all()
    add("hausdorff_multiclass_probabilities", "hausdorff_dt", {"from_logits": False},
        "HausdorffDTLoss(to_onehot_y=True)(probs, target[:, None])",
        onehot_y(HausdorffDTLoss(to_onehot_y=True)), p, t)

    # ---------------- hausdorff_dt: MONAI's formula with sampling ----------------
    p = away_from_half(logits((2, 3, 8, 9)), True); t = labels((2, 8, 9), 3)
    add("hausdorff_spacing_formula_2d", "hausdorff_dt", {"spacing": [0.5, 2.0]},
        "mean over channels 1, 2 of mean((p - g)^2 (d_P^2 + d_G^2)), d_M = edt(M, sampling=(0.5, 2.0)) + edt(~M, sampling=(0.5, 2.0)) (MONAI's HausdorffDTLoss formula, softmax)",
        hausdorff_formula(2.0, [1, 2], (0.5, 2.0), soft), p, t)
    p = away_from_half(logits((1, 2, 4, 5, 6)), False); t = blobs((1, 2, 4, 5, 6))
    add("hausdorff_spacing_formula_3d", "hausdorff_dt", {"alpha": 1.0, "spacing": [2.0, 0.7, 1.0]},
        "mean over channels of mean((p - g)^2 (d_P + d_G)), d_M = edt(M, sampling=(2.0, 0.7, 1.0)) + edt(~M, ...) (MONAI's formula, sigmoid)",
        hausdorff_formula(1.0, [0, 1], (2.0, 0.7, 1.0), sig), p, t)
    p = away_from_half(logits((2, 1, 23)), False); t = blobs((2, 1, 23))
    add("hausdorff_1d_formula", "hausdorff_dt", {},
        "mean((p - g)^2 (d_P^2 + d_G^2)), d_M = edt(M) + edt(~M) per (image, channel) (MONAI's formula; one spatial axis: no MONAI anchor)",
        hausdorff_formula(2.0, [0], None, sig), p, t)

    fixture.write(
        OUT,
        "tools/golden/field_distance.py",
        {"python": sys.version.split()[0], "torch": torch.__version__, "monai": monai.__version__,
         "numpy": np.__version__, "scipy": scipy.__version__},
        cases,
        extra={"dtype": "reference computed in float64 on float32 inputs"},
    )


if __name__ == "__main__":
    main()

"""Golden values for `cldice` and `dice_cldice` (crates/segloss-overlap/tests/fixtures/cldice.json).

Run: /work/venv/py/bin/python tools/golden/cldice.py

The references are MONAI's own classes, `monai.losses.SoftclDiceLoss` and `SoftDiceclDiceLoss`
(MONAI 1.6), run in float64 on the float32 inputs stored in the fixture; the gradient is torch's
autograd with respect to `pred`. MONAI has no `batch` argument: `reduce=batch` is the same class on
the batch folded into one image, `[N, C, *S] -> [1, N*C, *S]` (the skeletons are per channel and
the sums run over channels and pixels of the one image: exactly the batch's Tprec and Tsens), with
the activation applied before the fold (softmax over the real channels). Tie cases: probabilities
with exact 0/1 regions (`from_logits=false`), where torch's pooling and `minimum` subgradients
decide the gradient, and saturated logits (f32 sigmoid exactly 1 above about 17): there the f32
probabilities segloss computes are fed to MONAI as probabilities and the gradient is chained
through the sigmoid as `p (1 - p)` (in float64, a sigmoid of 30 is not 1 and would break the
ties). The format is fixture.py's.
"""
import os
import sys
import warnings

import monai
import numpy as np
import torch
from monai.losses import DiceLoss, SoftclDiceLoss, SoftDiceclDiceLoss

import fixture

warnings.filterwarnings("ignore")
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "crates", "segloss-overlap", "tests", "fixtures", "cldice.json")
rng = np.random.default_rng(20260315)
cases = []


draw = fixture.Draws(rng)
f32, logits = fixture.f32, draw.logits
labels = draw.labels


def blobs(shape, frac=0.4):
    """A float 0/1 target with tubular-ish structure: random pixels, thickened along the last axis."""
    m = rng.random(shape) < frac
    m = m | np.roll(m, 1, axis=-1)
    return f32(m)


def run(fn, pred, target):
    x = torch.tensor(pred.astype(np.float64), requires_grad=True)
    t = torch.tensor(target) if target.dtype == np.int64 else torch.tensor(target.astype(np.float64))
    v = fn(x, t)
    v.backward()
    return float(v.item()), x.grad.numpy().astype(np.float64)


def add(case_id, name, keys, call, fn, pred, target):
    value, grad = run(fn, pred, target)
    cases.append(fixture.case(case_id, fixture.spec(name, keys), call,
                              {"pred": f32(pred), "target": target if target.dtype == np.int64 else f32(target)},
                              value=value, grad=grad))


def act(x, kind):
    if kind == "sigmoid":
        return torch.sigmoid(x)
    if kind == "softmax":
        return torch.softmax(x, dim=1)
    return x


def onehot(t, c):
    """MONAI's one-hot of [N, 1, *S] labels (to_onehot_y=True), or float targets as they are."""
    if t.dtype == torch.int64:
        return monai.networks.one_hot(t, num_classes=c)
    return t


def folded(loss, kind, include_background=True):
    """reduce=batch: `loss` on [1, N*C', *S] after the activation (C' the kept channels)."""
    def f(x, t):
        p = act(x, kind)
        g = onehot(t, x.shape[1])
        if not include_background and x.shape[1] > 1:
            p, g = p[:, 1:], g[:, 1:]
        return loss(p.reshape(1, -1, *p.shape[2:]), g.reshape(1, -1, *g.shape[2:]))
    return f


def dice_plus(dice, cl, alpha):
    return lambda x, t: (1 - alpha) * dice(x, t) + alpha * cl(x, t)


def f32_sigmoid_fed(loss):
    """The loss on the float32 sigmoid of the logits, fed as probabilities; the gradient chained as
    p (1 - p) (what segloss computes, ties of saturated probabilities included)."""
    class Fn(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            p = torch.sigmoid(x.float()).double()
            ctx.save_for_backward(p)
            return p

        @staticmethod
        def backward(ctx, g):
            (p,) = ctx.saved_tensors
            return g * p * (1 - p)

    return lambda x, t: loss(Fn.apply(x), t)


# --- cldice: MONAI SoftclDiceLoss -----------------------------------------------------------------
p = logits((2, 1, 16, 16)); t = blobs((2, 1, 16, 16))
add("cldice_binary_2d", "cldice", {}, "SoftclDiceLoss(sigmoid=True)(pred, target)",
    SoftclDiceLoss(sigmoid=True), p, t)
for it in (0, 5):
    add(f"cldice_binary_2d_iters{it}", "cldice", {"iters": it}, f"SoftclDiceLoss(iter_={it}, sigmoid=True)(pred, target)",
        SoftclDiceLoss(iter_=it, sigmoid=True), p, t)

p = logits((2, 3, 12, 13)); t = labels((2, 1, 12, 13), 3)
add("cldice_multiclass_2d", "cldice", {}, "SoftclDiceLoss(softmax=True, to_onehot_y=True)(pred, target)",
    SoftclDiceLoss(softmax=True, to_onehot_y=True), p, t)
add("cldice_multiclass_2d_no_background", "cldice", {"include_background": False, "iters": 2},
    "SoftclDiceLoss(iter_=2, softmax=True, to_onehot_y=True, include_background=False)(pred, target)",
    SoftclDiceLoss(iter_=2, softmax=True, to_onehot_y=True, include_background=False), p, t)

p = logits((2, 3, 10, 11)); t = blobs((2, 3, 10, 11))
add("cldice_multilabel_2d_smoothing", "cldice", {"smooth_nr": 0.5, "smooth_dr": 2, "smooth_hm": 0.001},
    "SoftclDiceLoss(smooth_nr=0.5, smooth_dr=2.0, smooth=1e-3, sigmoid=True)(pred, target)",
    SoftclDiceLoss(smooth_nr=0.5, smooth_dr=2.0, smooth=1e-3, sigmoid=True), p, t)
add("cldice_multilabel_2d_smooth", "cldice", {"smooth": 0.25},
    "SoftclDiceLoss(smooth_nr=0.25, smooth_dr=0.25, sigmoid=True)(pred, target)",
    SoftclDiceLoss(smooth_nr=0.25, smooth_dr=0.25, sigmoid=True), p, t)

p = logits((2, 1, 6, 7, 8)); t = blobs((2, 1, 6, 7, 8))
add("cldice_binary_3d", "cldice", {}, "SoftclDiceLoss(sigmoid=True)(pred, target)", SoftclDiceLoss(sigmoid=True), p, t)
p = logits((1, 3, 5, 6, 7)); t = labels((1, 1, 5, 6, 7), 3)
add("cldice_multiclass_3d_iters5", "cldice", {"iters": 5}, "SoftclDiceLoss(iter_=5, softmax=True, to_onehot_y=True)(pred, target)",
    SoftclDiceLoss(iter_=5, softmax=True, to_onehot_y=True), p, t)

# reduce=batch: the batch folded into one image
p = logits((3, 1, 9, 10)); t = blobs((3, 1, 9, 10))
add("cldice_binary_2d_batch", "cldice", {"reduce": "batch"},
    "SoftclDiceLoss()(sigmoid(pred).reshape(1, N*C, H, W), target.reshape(1, N*C, H, W))",
    folded(SoftclDiceLoss(), "sigmoid"), p, t)
p = logits((2, 3, 8, 9)); t = labels((2, 1, 8, 9), 3)
add("cldice_multiclass_2d_batch_no_background", "cldice", {"reduce": "batch", "include_background": False},
    "SoftclDiceLoss()(softmax(pred, 1)[:, 1:].reshape(1, N*(C-1), H, W), one_hot(target)[:, 1:].reshape(1, N*(C-1), H, W))",
    folded(SoftclDiceLoss(), "softmax", include_background=False), p, t)
p = logits((2, 2, 4, 5, 6)); t = blobs((2, 2, 4, 5, 6))
add("cldice_multilabel_3d_batch", "cldice", {"reduce": "batch", "iters": 2},
    "SoftclDiceLoss(iter_=2)(sigmoid(pred).reshape(1, N*C, D, H, W), target.reshape(1, N*C, D, H, W))",
    folded(SoftclDiceLoss(iter_=2), "sigmoid"), p, t)

# ties: probabilities with exact 0/1 regions (the subgradient rules decide the gradient)
def saturated_probs(shape):
    p = f32(rng.random(shape))
    r = rng.random(shape)
    p[r < 0.35] = 1.0
    p[r > 0.75] = 0.0
    return p


p = saturated_probs((2, 1, 12, 12)); t = blobs((2, 1, 12, 12))
add("cldice_ties_binary_2d_probabilities", "cldice", {"from_logits": False}, "SoftclDiceLoss()(pred, target)  # pred: probabilities, exact 0/1 regions",
    SoftclDiceLoss(), p, t)
p = f32(np.zeros((2, 1, 12, 12))); p[:, :, 3:9, 2:10] = 1.0; p[:, :, 5, 4:7] = 0.5
t = f32(np.zeros((2, 1, 12, 12))); t[:, :, 4:8, 3:9] = 1.0
add("cldice_ties_binary_2d_plateaus", "cldice", {"from_logits": False, "iters": 5}, "SoftclDiceLoss(iter_=5)(pred, target)  # pred: plateaus of 1 and 0.5",
    SoftclDiceLoss(iter_=5), p, t)
p = saturated_probs((1, 2, 5, 6, 7)); t = blobs((1, 2, 5, 6, 7))
add("cldice_ties_multilabel_3d_probabilities", "cldice", {"from_logits": False}, "SoftclDiceLoss()(pred, target)  # pred: probabilities, exact 0/1 regions",
    SoftclDiceLoss(), p, t)
lab = labels((2, 1, 10, 11), 3)
p = f32(np.eye(3)[lab[:, 0]].transpose(0, 3, 1, 2)); mix = rng.random((2, 10, 11)) < 0.3
p[:, 0][mix] = 0.5; p[:, 1][mix] = 0.25; p[:, 2][mix] = 0.25
t = labels((2, 1, 10, 11), 3)
add("cldice_ties_multiclass_2d_probabilities", "cldice", {"from_logits": False, "mode": "multiclass"},
    "SoftclDiceLoss(to_onehot_y=True)(pred, target)  # pred: one-hot probabilities with (0.5, 0.25, 0.25) pixels",
    SoftclDiceLoss(to_onehot_y=True), p, t)
# saturated logits: the f32 sigmoid is exactly 1 (0 below -104), as segloss computes it
x = logits((2, 1, 12, 12)); r = rng.random(x.shape); x[r < 0.3] = f32(rng.uniform(18, 40, size=(r < 0.3).sum())); x[r > 0.8] = -30.0
t = blobs((2, 1, 12, 12))
add("cldice_ties_binary_2d_saturated_logits", "cldice", {},
    "SoftclDiceLoss()(p, target), p = float32 sigmoid(pred) fed as probabilities, grad_pred = grad_p * p (1 - p)",
    f32_sigmoid_fed(SoftclDiceLoss()), x, t)

# --- dice_cldice: MONAI SoftDiceclDiceLoss --------------------------------------------------------
p = logits((2, 1, 14, 15)); t = blobs((2, 1, 14, 15))
add("dice_cldice_binary_2d", "dice_cldice", {}, "SoftDiceclDiceLoss(sigmoid=True)(pred, target)",
    SoftDiceclDiceLoss(sigmoid=True), p, t)
p = logits((2, 3, 11, 12)); t = labels((2, 1, 11, 12), 3)
add("dice_cldice_multiclass_2d_alpha", "dice_cldice", {"alpha": 0.3, "iters": 2, "include_background": False},
    "SoftDiceclDiceLoss(iter_=2, alpha=0.3, include_background=False, softmax=True, to_onehot_y=True)(pred, target)",
    SoftDiceclDiceLoss(iter_=2, alpha=0.3, include_background=False, softmax=True, to_onehot_y=True), p, t)
p = logits((1, 2, 5, 6, 7)); t = blobs((1, 2, 5, 6, 7))
add("dice_cldice_multilabel_3d_smoothing", "dice_cldice", {"alpha": 0.7, "smooth_nr": 0.5, "smooth_dr": 2, "smooth_hm": 0.01},
    "SoftDiceclDiceLoss(alpha=0.7, smooth_nr=0.5, smooth_dr=2.0, smooth=0.01, sigmoid=True)(pred, target)",
    SoftDiceclDiceLoss(alpha=0.7, smooth_nr=0.5, smooth_dr=2.0, smooth=0.01, sigmoid=True), p, t)
p = logits((3, 1, 9, 10)); t = blobs((3, 1, 9, 10))
add("dice_cldice_binary_2d_batch", "dice_cldice", {"reduce": "batch", "alpha": 0.4},
    "0.6 * DiceLoss(sigmoid=True, batch=True, smooth_nr=1, smooth_dr=1)(pred, target) + 0.4 * SoftclDiceLoss()(sigmoid(pred).reshape(1, N*C, H, W), target.reshape(1, N*C, H, W))",
    dice_plus(DiceLoss(sigmoid=True, batch=True, smooth_nr=1.0, smooth_dr=1.0), folded(SoftclDiceLoss(), "sigmoid"), 0.4), p, t)
p = saturated_probs((2, 1, 12, 12)); t = blobs((2, 1, 12, 12))
add("dice_cldice_ties_binary_2d_probabilities", "dice_cldice", {"from_logits": False},
    "SoftDiceclDiceLoss()(pred, target)  # pred: probabilities, exact 0/1 regions", SoftDiceclDiceLoss(), p, t)

fixture.write(
    OUT,
    "tools/golden/cldice.py",
    {"python": sys.version.split()[0], "torch": torch.__version__, "monai": monai.__version__, "numpy": np.__version__},
    cases,
    extra={"dtype": "reference computed in float64 on float32 inputs"},
)

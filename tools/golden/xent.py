#!/usr/bin/env python3
"""Golden values for the cross-entropy family of segloss (bce, wce, balanced_ce, focal,
distance_bce, ce), written to tests/fixtures/xent.json and checked by tests/golden_xent.rs.

Run from the workspace root:

    KERAS_BACKEND=torch /work/venv/py/bin/python tools/golden/xent.py

Every reference is computed in float64 torch from float32 inputs: the inputs are drawn as
float32, stored exactly as float32 tensors (fixture.py's format: `pred`, `target` float32, uint8
or int64 labels, optional `weight`) and promoted to float64 leaf tensors `x` (pred), `y` (target:
float64, or int64 for integer labels) and `w` (optional weight). Each case stores the Python
expression that produced its reference (`python`), evaluated here verbatim with `eval`; the
expected `value` is that expression and `grad` its gradient with respect to `x` from torch autograd
(float64, as computed). `extra.anchor`, when present, is a second expression (the library call,
where the stored one is a float64 re-statement) evaluated on the same inputs at generation time,
which agreed with the stored reference within the test's own tolerances.

Anchors (see LOSSES.md):
- bce: torch `binary_cross_entropy_with_logits(pos_weight=q)`; Keras 3 `binary_crossentropy`
  (KERAS_BACKEND=torch, so the gradient is torch autograd) for logits and probabilities.
  Keras clips probabilities to [1e-7, 1 - 1e-7] in the input's dtype; the origin write-up and
  segloss work in float32, where the bounds round to float32 (1 - 1e-7 becomes 1 - 2^-23), and
  with p exactly 1 the two clips give visibly different losses (15.94 vs 16.12). So the float64
  Keras call gets `clip32(p)`, the same clip with the float32 bounds, after which Keras' own
  float64 clip is a no-op. (torch.clamp's gradient is 0 at and outside the bounds; no input sits
  exactly on a bound.) `keras.losses.binary_crossentropy` averages the last axis in float32 even
  for float64 input (keras.ops.mean computes in result_type(float64, "float32") = float32), so the
  stored expression is its float64 body: Keras' label smoothing line, y * (1 - s) + 0.5 * s, then
  `keras.ops.binary_crossentropy` (the per-element op it calls), averaged in float64; the
  `keras.losses` call itself is the checked anchor.
- wce: TF `weighted_cross_entropy_with_logits(labels, logits, pos_weight)`. TensorFlow is not
  installed: its documented formula, (1 - z) x + (1 + (q - 1) z) (log1p(exp(-|x|)) + max(-x, 0)),
  is `tf_wce` below, checked equal to torch `binary_cross_entropy_with_logits(pos_weight=q)`
  (which the cases use) to 1e-12. With probabilities: the origin write-up's construction, clip p
  to [1e-7, 1 - 1e-7] in float32, logit = log(p / (1 - p)), then weighted_cross_entropy_with_logits.
- balanced_ce: the origin write-up's formula, re-stated in float64 (`balanced_ce` below);
  beta=auto is sum(1 - y) / count over the batch, a constant for the gradient.
- focal binary/multilabel: torchvision `sigmoid_focal_loss(alpha, gamma, reduction)` on labels in
  {0, 1} (alpha=none <-> alpha=-1). Its autograd gives NaN where 1 - p_t is exactly 0 and
  gamma < 1 (logits of +-1e4), and it differs from the origin form on soft labels: there the
  reference is `focal_origin`, a log-space float64 re-statement checked against torchvision.
- focal multiclass: C x MONAI `FocalLoss(use_softmax=True, to_onehot_y=True, gamma,
  weight=class_weights)` (reduction mean = mean over N*C*S elements, so C x MONAI is the mean over
  pixels). MONAI casts its input to float32 (`input.float()`), so the stored reference is the
  float64 re-statement `focal_softmax`, checked against C x MONAI at generation time. Cases with
  ignored pixels are checked against MONAI's own `ignore_index` (`monai_focal_ignore`): MONAI 1.6
  then divides by the number of non-ignored pixels, so segloss equals MONAI itself there, without
  the factor C. Per-pixel weights, sum/none and logits of +-1e4 use `focal_softmax` alone.
- distance_bce: (1 - beta) * BCE-with-logits with per-pixel pos_weight beta/(1 - beta) + exp(-d^2),
  d the weight input (here scipy `distance_transform_edt` of the object mask).
- ce: torch `cross_entropy(weight, ignore_index, label_smoothing)` with integer labels or class
  probabilities. Per-pixel weight maps multiply each term of torch's reduction='none' map and
  keep torch's normalizer (with class probabilities: the number of pixels). The weight of a
  softmax loss is one value per pixel, [N, *S] or [N, 1, *S] (`w.squeeze(1)`), for labels and
  class probabilities alike; pred's shape is an error (tests/harness.rs, segloss-xent's tests).
  Multiclass focal takes no class probabilities (an error), so it has no such case.
Reductions: sum is the sum of the map; `none` is, through the Loss trait, the map's sum and the
gradient of that sum. Per-pixel weights multiply each term and leave every normalizer unchanged
(torch's `weight=` argument of binary_cross_entropy_with_logits does exactly that for mean).
"""

import os
import platform

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import monai  # noqa: E402
import numpy as np  # noqa: E402
import scipy  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import torchvision  # noqa: E402
from monai.losses import FocalLoss  # noqa: E402
from scipy.ndimage import distance_transform_edt  # noqa: E402
from torchvision.ops import sigmoid_focal_loss  # noqa: E402

import fixture  # noqa: E402

assert keras.backend.backend() == "torch", "run with KERAS_BACKEND=torch"
torch.set_default_dtype(torch.float64)  # torch.tensor([1, 2, 0.5]) in the expressions is float64

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "xent.json")

VALUE_RTOL, VALUE_ATOL, GRAD_RTOL = 1e-5, 1e-7, 1e-4

# Keras' epsilon clip, with the bounds rounded to float32 as they are for a float32 tensor.
EPS32 = float(np.float32(1e-7))
ONE_MINUS_EPS32 = float(np.float32(1.0 - 1e-7))
assert ONE_MINUS_EPS32 == 1.0 - 2.0**-23

rng = np.random.default_rng(20261126)


# ---------------------------------------------------------------- re-statements (float64) ----


def clip32(p):
    """Keras' clip of probabilities to [1e-7, 1 - 1e-7], with the bounds of a float32 tensor."""
    return torch.clamp(p, EPS32, ONE_MINUS_EPS32)


def tf_wce(labels, logits, pos_weight):
    """TF weighted_cross_entropy_with_logits, its documented formula written out (no reduction)."""
    z, x, q = labels, logits, pos_weight
    return (1 - z) * x + (1 + (q - 1) * z) * (torch.log1p(torch.exp(-x.abs())) + torch.clamp(-x, min=0))


def wce_logits(labels, logits, pos_weight):
    """weighted_cross_entropy_with_logits (no reduction) = torch BCE-with-logits with pos_weight."""
    q = torch.as_tensor(pos_weight, dtype=torch.float64)
    return F.binary_cross_entropy_with_logits(logits, labels, pos_weight=q, reduction="none")


def wce_probs(labels, p, pos_weight):
    """The origin write-up's wce on probabilities: clip in float32, logit = log(p/(1-p)), wce."""
    pc = clip32(p)
    return wce_logits(labels, torch.log(pc / (1 - pc)), pos_weight)


def balanced_ce(x, y, beta, from_logits=True):
    """-(beta y log p + (1 - beta)(1 - y) log(1 - p)) per element (origin write-up; HED for auto)."""
    if beta == "auto":
        beta = torch.clamp((1 - y).sum() / y.numel(), EPS32, ONE_MINUS_EPS32).detach()
    if from_logits:
        log_p, log_1mp = F.logsigmoid(x), F.logsigmoid(-x)
    else:
        pc = clip32(x)
        log_p, log_1mp = torch.log(pc), torch.log1p(-pc)
    return -(beta * y * log_p + (1 - beta) * (1 - y) * log_1mp)


def focal_origin(x, y, gamma, alpha):
    """-(a y (1-p)^g log p + b (1-y) p^g log(1-p)) per element, in log space so that autograd
    stays finite at p = 0 and 1 for every gamma >= 0; a = alpha, b = 1 - alpha, both 1 for None."""
    a, b = (1.0, 1.0) if alpha is None else (alpha, 1.0 - alpha)
    log_p, log_1mp = F.logsigmoid(x), F.logsigmoid(-x)
    return -(a * y * torch.exp(gamma * log_1mp) * log_p + b * (1 - y) * torch.exp(gamma * log_p) * log_1mp)


def focal_softmax(x, t, gamma, class_weights=None, ignore_index=-100, weight=None, reduction="mean"):
    """Multiclass focal: -w_t (1 - p_t)^g log p_t per pixel, with log(1 - p_t) taken as
    logsumexp over the other classes minus logsumexp over all (finite gradients for every gamma);
    mean over the non-ignored pixels, not divided by the weights."""
    C = x.shape[1]
    keep = t != ignore_index
    tc = torch.where(keep, t, torch.zeros_like(t))
    lse = torch.logsumexp(x, dim=1)
    log_pt = torch.gather(x, 1, tc.unsqueeze(1)).squeeze(1) - lse
    others = x.masked_fill(F.one_hot(tc, C).movedim(-1, 1).bool(), float("-inf"))
    log_1mpt = torch.logsumexp(others, dim=1) - lse
    cw = torch.ones(C, dtype=torch.float64) if class_weights is None else torch.tensor(class_weights, dtype=torch.float64)
    per_pixel = -cw[tc] * torch.exp(gamma * log_1mpt) * log_pt
    if weight is not None:
        per_pixel = per_pixel * weight
    per_pixel = torch.where(keep, per_pixel, torch.zeros_like(per_pixel))
    if reduction == "mean":
        return per_pixel.sum() / keep.sum()
    return per_pixel.sum()


def monai_focal(x, t, gamma, class_weights=None):
    """C x MONAI's softmax FocalLoss (mean over N*C*S elements), labels [N, *S] -> [N, 1, *S]."""
    loss = FocalLoss(use_softmax=True, to_onehot_y=True, gamma=gamma, weight=class_weights)
    return x.shape[1] * loss(x, t.unsqueeze(1))


def monai_focal_ignore(x, t, gamma, class_weights=None, ignore_index=-100):
    """MONAI's softmax FocalLoss with `ignore_index` (no factor C): with an ignore_index, MONAI
    1.6 divides the sum by the mask's sum, the number of non-ignored pixels (one mask value per
    pixel, shared by the channels), which is segloss' normalizer."""
    loss = FocalLoss(use_softmax=True, to_onehot_y=True, gamma=gamma, weight=class_weights, ignore_index=ignore_index)
    return loss(x, t.unsqueeze(1))


def ce_weighted(x, t, class_weights=None, ignore_index=-100, label_smoothing=0.0, weight=None):
    """torch cross_entropy's mean with a per-pixel weight map multiplying each term of its
    reduction='none' map, torch's normalizer (sum of w_t over non-ignored pixels) unchanged."""
    cw = None if class_weights is None else torch.tensor(class_weights, dtype=torch.float64)
    m = F.cross_entropy(x, t, weight=cw, ignore_index=ignore_index, label_smoothing=label_smoothing, reduction="none")
    keep = t != ignore_index
    norm = keep.sum() if cw is None else cw[torch.where(keep, t, torch.zeros_like(t))][keep].sum()
    return (m * weight).sum() / norm


# ------------------------------------------------------------------------- input helpers ----


def f32(a):
    return np.asarray(a, dtype=np.float32)


def logits(shape, scale=2.0):
    return f32(rng.normal(0.0, scale, shape))


def probs(shape, with_extremes=True):
    p = f32(rng.uniform(0.002, 0.998, shape))
    if with_extremes:
        flat = p.reshape(-1)
        idx = rng.choice(flat.size, size=max(4, flat.size // 8), replace=False)
        flat[idx[: len(idx) // 2]] = 0.0
        flat[idx[len(idx) // 2 :]] = 1.0
    return p


def hard(shape):
    return f32(rng.integers(0, 2, shape))


def soft(shape):
    y = f32(rng.uniform(0.0, 1.0, shape))
    flat = y.reshape(-1)
    flat[:3] = [0.0, 1.0, 0.5]
    return y


def labels(shape, classes, dtype="i64", ignore=None, frac=0.2):
    t = rng.integers(0, classes, shape)
    if ignore is not None:
        t[rng.uniform(size=shape) < frac] = ignore
    return t.astype(np.uint8 if dtype == "u8" else np.int64), dtype


def class_probs(shape):
    z = rng.normal(0.0, 1.5, shape)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    return f32(p)


def big(x, frac=0.25):
    """Replaces a fraction of the logits by +-1e4."""
    x = x.copy()
    flat = x.reshape(-1)
    idx = rng.choice(flat.size, size=int(flat.size * frac), replace=False)
    flat[idx] = f32(rng.choice([-1e4, 1e4], size=idx.size))
    return x


def big_softmax(x, frac=0.3):
    """Sets one channel of a fraction of the pixels to +-1e4 (axis 1 is the class axis)."""
    x = x.copy()
    n, c = x.shape[:2]
    pix = x.reshape(n, c, -1)
    for i in range(n):
        for j in range(pix.shape[2]):
            if rng.uniform() < frac:
                pix[i, rng.integers(0, c), j] = rng.choice([-1e4, 1e4])
    return x


def edt_per_image(mask):
    """scipy distance_transform_edt of each image of a [N, 1, *S] mask (the distance map d)."""
    return f32(np.stack([distance_transform_edt(m) for m in mask.reshape(mask.shape[0], *mask.shape[2:])]).reshape(mask.shape))


def blob_mask(shape):
    """[N, 1, *S] masks with one box-shaped object per image, plus a few random pixels."""
    m = np.zeros(shape, dtype=np.float32)
    for i in range(shape[0]):
        sl = tuple(slice(int(rng.integers(0, s // 2)), int(rng.integers(s // 2 + 1, s + 1))) for s in shape[2:])
        m[(i, 0) + sl] = 1.0
    m[rng.uniform(size=shape) < 0.08] = 1.0
    for i in range(shape[0]):
        m[(i, 0) + (0,) * (len(shape) - 2)] = 0.0  # a background pixel in every image
    return m


# ---------------------------------------------------------------------------- the cases ----

CASES = []
NAMES = set()


def to_torch(a, dtype):
    if dtype == "f32":
        return torch.tensor(a, dtype=torch.float64)
    return torch.tensor(a.astype(np.int64))


def evaluate(expr, pred, target, tdtype, weight):
    x = torch.tensor(pred, dtype=torch.float64, requires_grad=True)
    y = to_torch(target, tdtype)
    w = None if weight is None else torch.tensor(weight, dtype=torch.float64)
    env = dict(
        torch=torch,
        F=F,
        keras=keras,
        sigmoid_focal_loss=sigmoid_focal_loss,
        x=x,
        y=y,
        w=w,
        clip32=clip32,
        tf_wce=tf_wce,
        wce_logits=wce_logits,
        wce_probs=wce_probs,
        balanced_ce=balanced_ce,
        focal_origin=focal_origin,
        focal_softmax=focal_softmax,
        monai_focal=monai_focal,
        monai_focal_ignore=monai_focal_ignore,
        ce_weighted=ce_weighted,
    )
    val = eval(expr, env)
    assert val.dim() == 0, expr
    val.backward()
    g = x.grad.detach().numpy()
    return float(val.detach()), g


def close(a_val, a_grad, b_val, b_grad):
    ok_v = abs(a_val - b_val) <= VALUE_RTOL * abs(b_val) + VALUE_ATOL
    ok_g = np.max(np.abs(a_grad - b_grad)) <= GRAD_RTOL * np.max(np.abs(b_grad))
    return ok_v and ok_g


def add(name, spec, expr, pred, target, tdtype="f32", weight=None, anchor=None):
    """Adds a case. `anchor`: another expression (a library call) that must agree with `expr`
    on the same inputs within the test's tolerances."""
    assert name not in NAMES, name
    NAMES.add(name)
    pred = f32(pred)
    if tdtype == "f32":
        target = f32(target)
    weight = None if weight is None else f32(weight)
    val, grad = evaluate(expr, pred, target, tdtype, weight)
    assert np.isfinite(val) and np.all(np.isfinite(grad)), (name, val)
    if anchor is not None:
        a_val, a_grad = evaluate(anchor, pred, target, tdtype, weight)
        assert close(a_val, a_grad, val, grad), (name, anchor, a_val, val, np.max(np.abs(a_grad - grad)))
    inputs = {"pred": pred, "target": target}
    if weight is not None:
        inputs["weight"] = weight
    assert target.dtype == {"f32": np.float32, "u8": np.uint8, "i64": np.int64}[tdtype], (name, target.dtype)
    case = fixture.case(name, spec, expr, inputs, value=val, grad=grad, extra={"anchor": anchor} if anchor is not None else None)
    CASES.append(case)


B = [2, 1, 5, 7]  # binary
ML = [2, 3, 4, 5]  # multilabel / multiclass
VOC = [1, 21, 3, 3]  # many classes
V3 = [1, 2, 3, 4, 5]  # 3D
MLP = [2, 4, 5]  # labels of ML

# Sanity of the re-statements against the libraries on random inputs (not stored).
_x = torch.tensor(logits(ML), dtype=torch.float64)
_y = torch.tensor(hard(ML), dtype=torch.float64)
_s = torch.tensor(soft(ML), dtype=torch.float64)
for _q in (0.3, 1.0, 2.5):
    assert torch.allclose(tf_wce(_s, _x, _q), wce_logits(_s, _x, _q), rtol=1e-12, atol=1e-12)
for _g in (0.0, 0.5, 2.0):
    for _a in (None, 0.25):
        assert torch.allclose(
            focal_origin(_x, _y, _g, _a), sigmoid_focal_loss(_x, _y, alpha=-1 if _a is None else _a, gamma=_g), rtol=1e-12, atol=1e-14
        )

# ---- bce
add("bce_default", "bce", "F.binary_cross_entropy_with_logits(x, y)", logits(B), hard(B))
add("bce_pos_weight", "bce:pos_weight=2.5", "F.binary_cross_entropy_with_logits(x, y, pos_weight=torch.tensor(2.5))", logits(B), hard(B))
add(
    "bce_soft_pos_weight",
    "bce:pos_weight=0.5",
    "F.binary_cross_entropy_with_logits(x, y, pos_weight=torch.tensor(0.5))",
    logits(B),
    soft(B),
)
add(
    "bce_keras_logits_smoothing",
    "bce:label_smoothing=0.1",
    "keras.ops.binary_crossentropy(y * (1.0 - 0.1) + 0.5 * 0.1, x, from_logits=True).mean()",
    logits(B),
    hard(B),
    anchor="keras.losses.binary_crossentropy(y, x, from_logits=True, label_smoothing=0.1).mean()",
)
add(
    "bce_keras_probs",
    "bce:from_logits=false",
    "keras.ops.binary_crossentropy(y, clip32(x), from_logits=False).mean()",
    probs(B),
    hard(B),
    anchor="keras.losses.binary_crossentropy(y, clip32(x), from_logits=False).mean()",
)
add(
    "bce_keras_probs_smoothing_soft",
    "bce:from_logits=false,label_smoothing=0.2",
    "keras.ops.binary_crossentropy(y * (1.0 - 0.2) + 0.5 * 0.2, clip32(x), from_logits=False).mean()",
    probs(B),
    soft(B),
    anchor="keras.losses.binary_crossentropy(y, clip32(x), from_logits=False, label_smoothing=0.2).mean()",
)
add(
    "bce_keras_multilabel_logits",
    "bce",
    "F.binary_cross_entropy_with_logits(x, y)",
    logits(ML),
    hard(ML),
    anchor="keras.losses.binary_crossentropy(y, x, from_logits=True).mean()",
)
add("bce_sum", "bce:reduction=sum", "F.binary_cross_entropy_with_logits(x, y, reduction='sum')", logits(B), hard(B))
add(
    "bce_none_pos_weight",
    "bce:pos_weight=3,reduction=none",
    "F.binary_cross_entropy_with_logits(x, y, pos_weight=torch.tensor(3.0), reduction='none').sum()",
    logits(B),
    soft(B),
)
add(
    "bce_weight_map",
    "bce",
    "F.binary_cross_entropy_with_logits(x, y, weight=w)",
    logits(B),
    hard(B),
    weight=f32(rng.uniform(0, 3, B)),
)
add(
    "bce_weight_per_pixel_pos_weight",
    "bce:pos_weight=2",
    "F.binary_cross_entropy_with_logits(x, y, weight=w.unsqueeze(1), pos_weight=torch.tensor(2.0))",
    logits(B),
    hard(B),
    weight=f32(rng.uniform(0, 3, [2, 5, 7])),
)
add(
    "bce_no_channel_axis",
    "bce:mode=binary",
    "F.binary_cross_entropy_with_logits(x, y)",
    logits([2, 5, 7]),
    hard([2, 5, 7]),
)
add(
    "bce_no_channel_axis_weight_sum",
    "bce:mode=binary,reduction=sum",
    "F.binary_cross_entropy_with_logits(x, y, weight=w, reduction='sum')",
    logits([2, 5, 7]),
    soft([2, 5, 7]),
    weight=f32(rng.uniform(0, 2, [2, 5, 7])),
)
_t, _ = labels([2, 5, 7], 2, "u8")
add("bce_u8_labels", "bce", "F.binary_cross_entropy_with_logits(x, y.double().unsqueeze(1))", logits(B), _t, "u8")
add(
    "bce_multilabel_weight_broadcast",
    "bce:pos_weight=1.5",
    "F.binary_cross_entropy_with_logits(x, y, weight=w.unsqueeze(1), pos_weight=torch.tensor(1.5))",
    logits(ML),
    soft(ML),
    weight=f32(rng.uniform(0, 2, [2, 4, 5])),
)
add("bce_3d_multilabel", "bce", "F.binary_cross_entropy_with_logits(x, y)", logits(V3), hard(V3))
add("bce_3d_binary", "bce:pos_weight=0.7", "F.binary_cross_entropy_with_logits(x, y, pos_weight=torch.tensor(0.7))", logits([1, 1, 3, 4, 5]), hard([1, 1, 3, 4, 5]))
add("bce_large_logits", "bce", "F.binary_cross_entropy_with_logits(x, y)", big(logits(B)), hard(B))
add(
    "bce_large_logits_pos_weight_sum",
    "bce:pos_weight=4,reduction=sum",
    "F.binary_cross_entropy_with_logits(x, y, pos_weight=torch.tensor(4.0), reduction='sum')",
    big(logits(ML)),
    soft(ML),
)

# ---- wce
add("wce_beta2", "wce:beta=2", "wce_logits(y, x, 2.0).mean()", logits(B), hard(B), anchor="tf_wce(y, x, 2.0).mean()")
add("wce_beta03_sum_soft", "wce:beta=0.3,reduction=sum", "wce_logits(y, x, 0.3).sum()", logits(ML), soft(ML))
add("wce_probs", "wce:beta=3,from_logits=false", "wce_probs(y, x, 3.0).mean()", probs(B), hard(B))
add("wce_probs_soft_none", "wce:beta=0.5,from_logits=false,reduction=none", "wce_probs(y, x, 0.5).sum()", probs(ML), soft(ML))
add("wce_weight_map", "wce:beta=5", "(wce_logits(y, x, 5.0) * w).mean()", logits(ML), hard(ML), weight=f32(rng.uniform(0, 2, ML)))
add("wce_large_logits", "wce:beta=2", "wce_logits(y, x, 2.0).mean()", big(logits(B)), hard(B), anchor="tf_wce(y, x, 2.0).mean()")

# ---- balanced_ce
add("balanced_ce_default", "balanced_ce", "balanced_ce(x, y, 0.5).mean()", logits(B), hard(B))
add("balanced_ce_beta08", "balanced_ce:beta=0.8", "balanced_ce(x, y, 0.8).mean()", logits(B), hard(B))
add("balanced_ce_auto", "balanced_ce:beta=auto", "balanced_ce(x, y, 'auto').mean()", logits(B), f32(rng.uniform(size=B) < 0.2))
add(
    "balanced_ce_auto_soft_weight",
    "balanced_ce:beta=auto",
    "(balanced_ce(x, y, 'auto') * w).mean()",
    logits(ML),
    soft(ML),
    weight=f32(rng.uniform(0, 2, ML)),
)
add("balanced_ce_probs", "balanced_ce:beta=0.3,from_logits=false", "balanced_ce(x, y, 0.3, from_logits=False).mean()", probs(B), hard(B))
add("balanced_ce_auto_probs_sum", "balanced_ce:beta=auto,from_logits=false,reduction=sum", "balanced_ce(x, y, 'auto', from_logits=False).sum()", probs(B), soft(B))
add("balanced_ce_none_3d", "balanced_ce:beta=0.6,reduction=none", "balanced_ce(x, y, 0.6).sum()", logits(V3), hard(V3))
add("balanced_ce_large_logits", "balanced_ce:beta=0.25", "balanced_ce(x, y, 0.25).mean()", big(logits(B)), hard(B))

# ---- focal, binary and multilabel
add("focal_default", "focal", "sigmoid_focal_loss(x, y, alpha=0.25, gamma=2, reduction='mean')", logits(B), hard(B))
add(
    "focal_gamma05_alpha_none",
    "focal:gamma=0.5,alpha=none",
    "sigmoid_focal_loss(x, y, alpha=-1, gamma=0.5, reduction='mean')",
    logits(B),
    hard(B),
)
add(
    "focal_gamma0_alpha_none_is_bce",
    "focal:gamma=0,alpha=none",
    "sigmoid_focal_loss(x, y, alpha=-1, gamma=0, reduction='mean')",
    logits(B),
    hard(B),
    anchor="F.binary_cross_entropy_with_logits(x, y)",
)
add("focal_gamma0_alpha03", "focal:gamma=0,alpha=0.3", "sigmoid_focal_loss(x, y, alpha=0.3, gamma=0, reduction='mean')", logits(B), hard(B))
add("focal_gamma1_alpha06", "focal:gamma=1,alpha=0.6", "sigmoid_focal_loss(x, y, alpha=0.6, gamma=1, reduction='mean')", logits(B), hard(B))
add("focal_gamma3_sum", "focal:gamma=3,reduction=sum", "sigmoid_focal_loss(x, y, alpha=0.25, gamma=3, reduction='sum')", logits(B), hard(B))
add(
    "focal_multilabel_gamma05",
    "focal:gamma=0.5,alpha=0.25",
    "sigmoid_focal_loss(x, y, alpha=0.25, gamma=0.5, reduction='mean')",
    logits(ML),
    hard(ML),
)
add(
    "focal_none_gamma15",
    "focal:gamma=1.5,alpha=0.75,reduction=none",
    "sigmoid_focal_loss(x, y, alpha=0.75, gamma=1.5, reduction='none').sum()",
    logits(B),
    hard(B),
)
add(
    "focal_weight_map",
    "focal:gamma=2,alpha=0.25",
    "(sigmoid_focal_loss(x, y, alpha=0.25, gamma=2) * w).mean()",
    logits(B),
    hard(B),
    weight=f32(rng.uniform(0, 3, B)),
)
add(
    "focal_multilabel_weight_broadcast",
    "focal:gamma=2,alpha=none",
    "(sigmoid_focal_loss(x, y, alpha=-1, gamma=2) * w.unsqueeze(1)).mean()",
    logits(ML),
    hard(ML),
    weight=f32(rng.uniform(0, 3, [2, 4, 5])),
)
add(
    "focal_probs_gamma05",
    "focal:gamma=0.5,alpha=0.25,from_logits=false",
    "sigmoid_focal_loss(torch.logit(clip32(x)), y, alpha=0.25, gamma=0.5, reduction='mean')",
    probs(B),
    hard(B),
)
add(
    "focal_probs_gamma2_alpha_none",
    "focal:gamma=2,alpha=none,from_logits=false",
    "sigmoid_focal_loss(torch.logit(clip32(x)), y, alpha=-1, gamma=2, reduction='mean')",
    probs(B),
    hard(B),
)
add(
    "focal_large_logits_gamma2",
    "focal:gamma=2",
    "sigmoid_focal_loss(x, y, alpha=0.25, gamma=2, reduction='mean')",
    big(logits(B)),
    hard(B),
)
_x = big(logits(B))
_y = hard(B)
add(
    "focal_large_logits_gamma05",
    "focal:gamma=0.5,alpha=none",
    "focal_origin(x, y, 0.5, None).mean()",
    _x,
    _y,
)
add(
    "focal_soft_labels_origin_form",
    "focal:gamma=2,alpha=0.25",
    "focal_origin(x, y, 2.0, 0.25).mean()",
    logits(B),
    soft(B),
)
add("focal_soft_labels_gamma05_sum", "focal:gamma=0.5,alpha=none,reduction=sum", "focal_origin(x, y, 0.5, None).sum()", logits(ML), soft(ML))
add("focal_3d_multilabel", "focal:gamma=2", "sigmoid_focal_loss(x, y, alpha=0.25, gamma=2, reduction='mean')", logits(V3), hard(V3))
add(
    "focal_no_channel_axis",
    "focal:gamma=0.5,alpha=0.4,mode=binary",
    "sigmoid_focal_loss(x, y, alpha=0.4, gamma=0.5, reduction='mean')",
    logits([2, 5, 7]),
    hard([2, 5, 7]),
)

# ---- focal, multiclass (anchor: C x MONAI FocalLoss when no pixel is ignored)
_t, _d = labels(MLP, 3)
add("focal_mc_gamma2", "focal", "focal_softmax(x, y, 2.0)", logits(ML), _t, _d, anchor="monai_focal(x, y, 2.0)")
_t, _d = labels(MLP, 3)
add("focal_mc_gamma05", "focal:gamma=0.5", "focal_softmax(x, y, 0.5)", logits(ML), _t, _d, anchor="monai_focal(x, y, 0.5)")
_t, _d = labels(MLP, 3)
add("focal_mc_gamma0_is_ce", "focal:gamma=0", "focal_softmax(x, y, 0.0)", logits(ML), _t, _d, anchor="monai_focal(x, y, 0.0)")
_t, _d = labels([2, 5, 7], 3)
add(
    "focal_mc_gamma0_ce_anchor",
    "focal:gamma=0,mode=multiclass",
    "focal_softmax(x, y, 0.0)",
    logits([2, 3, 5, 7]),
    _t,
    _d,
    anchor="F.cross_entropy(x, y)",
)
CW21 = [round(0.5 + 0.1 * k, 1) for k in range(21)]
_t, _d = labels([1, 3, 3], 21, "u8")
add(
    "focal_mc_voc_class_weights",
    "focal:gamma=2,class_weights=[" + ",".join("%g" % v for v in CW21) + "]",
    "focal_softmax(x, y, 2.0, class_weights=%r)" % CW21,
    logits(VOC),
    _t,
    _d,
    anchor="monai_focal(x, y, 2.0, class_weights=%r)" % CW21,
)
_t, _d = labels(MLP, 3)
add(
    "focal_mc_class_weights_gamma15",
    "focal:gamma=1.5,class_weights=[1,2,0.5]",
    "focal_softmax(x, y, 1.5, class_weights=[1, 2, 0.5])",
    logits(ML),
    _t,
    _d,
    anchor="monai_focal(x, y, 1.5, class_weights=[1, 2, 0.5])",
)
_t, _d = labels([1, 3, 4, 5], 2)
add("focal_mc_3d", "focal:gamma=2", "focal_softmax(x, y, 2.0)", logits(V3), _t, _d, anchor="monai_focal(x, y, 2.0)")
_t, _d = labels([1, 1, 3, 3], 21, "u8", ignore=255)
add(
    "focal_mc_ignore255_u8_labels_n1s",
    "focal:gamma=2,ignore_index=255",
    "focal_softmax(x, y.squeeze(1), 2.0, ignore_index=255)",
    logits(VOC),
    _t,
    _d,
    anchor="monai_focal_ignore(x, y.squeeze(1), 2.0, ignore_index=255)",
)
_t, _d = labels(MLP, 3, ignore=1, frac=0.0)
add(
    "focal_mc_ignore_inside",
    "focal:gamma=0.5,ignore_index=1,class_weights=[2,1,0.5]",
    "focal_softmax(x, y, 0.5, class_weights=[2, 1, 0.5], ignore_index=1)",
    logits(ML),
    _t,
    _d,
    anchor="monai_focal_ignore(x, y, 0.5, class_weights=[2, 1, 0.5], ignore_index=1)",
)
_t, _d = labels(MLP, 3, ignore=-100)
add(
    "focal_mc_ignore_default_i64",
    "focal:gamma=2,mode=multiclass",
    "focal_softmax(x, y, 2.0)",
    logits(ML),
    _t,
    _d,
    anchor="monai_focal_ignore(x, y, 2.0, ignore_index=-100)",
)
_t, _d = labels(MLP, 3)
add("focal_mc_sum", "focal:gamma=2,reduction=sum", "focal_softmax(x, y, 2.0, reduction='sum')", logits(ML), _t, _d)
_t, _d = labels(MLP, 3, ignore=7)
add(
    "focal_mc_none_ignore",
    "focal:gamma=1,ignore_index=7,reduction=none",
    "focal_softmax(x, y, 1.0, ignore_index=7, reduction='sum')",
    logits(ML),
    _t,
    _d,
)
_t, _d = labels(MLP, 3, ignore=-100)
add(
    "focal_mc_weight_map",
    "focal:gamma=2,class_weights=[1,2,0.5]",
    "focal_softmax(x, y, 2.0, class_weights=[1, 2, 0.5], weight=w)",
    logits(ML),
    _t,
    _d,
    weight=f32(rng.uniform(0, 3, [2, 4, 5])),
)
_t, _d = labels(MLP, 3)
add("focal_mc_large_logits_gamma05", "focal:gamma=0.5", "focal_softmax(x, y, 0.5)", big_softmax(logits(ML)), _t, _d)
_t, _d = labels(MLP, 3)
add("focal_mc_large_logits_gamma2", "focal:gamma=2", "focal_softmax(x, y, 2.0)", big_softmax(logits(ML)), _t, _d)

# ---- distance_bce (d = scipy distance_transform_edt of the object mask)
_m = blob_mask(B)
add(
    "distance_bce_default",
    "distance_bce",
    "(0.5 * F.binary_cross_entropy_with_logits(x, y, pos_weight=1.0 + torch.exp(-w**2), reduction='none')).mean()",
    logits(B),
    _m,
    weight=edt_per_image(_m),
)
_m = blob_mask(B)
add(
    "distance_bce_beta07_sum",
    "distance_bce:beta=0.7,reduction=sum",
    "((1 - 0.7) * F.binary_cross_entropy_with_logits(x, y, pos_weight=0.7 / (1 - 0.7) + torch.exp(-w**2), reduction='none')).sum()",
    logits(B),
    _m,
    weight=edt_per_image(_m),
)
_m = blob_mask([1, 1, 3, 4, 5])
add(
    "distance_bce_3d_beta03",
    "distance_bce:beta=0.3",
    "((1 - 0.3) * F.binary_cross_entropy_with_logits(x, y, pos_weight=0.3 / (1 - 0.3) + torch.exp(-w**2), reduction='none')).mean()",
    logits([1, 1, 3, 4, 5]),
    _m,
    weight=edt_per_image(_m),
)
_m = blob_mask(B)
add(
    "distance_bce_probs",
    "distance_bce:beta=0.6,from_logits=false",
    "((1 - 0.6) * wce_probs(y, x, 0.6 / (1 - 0.6) + torch.exp(-w**2))).mean()",
    probs(B),
    _m,
    weight=edt_per_image(_m),
)
_m = blob_mask(B)
add(
    "distance_bce_large_logits_none",
    "distance_bce:beta=0.5,reduction=none",
    "(0.5 * F.binary_cross_entropy_with_logits(x, y, pos_weight=1.0 + torch.exp(-w**2), reduction='none')).sum()",
    big(logits(B)),
    _m,
    weight=edt_per_image(_m),
)

# ---- ce
_t, _d = labels(MLP, 3)
add("ce_default", "ce", "F.cross_entropy(x, y)", logits(ML), _t, _d)
_t, _d = labels(MLP, 3)
add(
    "ce_class_weights",
    "ce:class_weights=[1,2,0.5]",
    "F.cross_entropy(x, y, weight=torch.tensor([1, 2, 0.5]))",
    logits(ML),
    _t,
    _d,
)
_t, _d = labels([1, 3, 3], 21, "u8", ignore=255)
add(
    "ce_voc_ignore255_class_weights",
    "ce:class_weights=[" + ",".join("%g" % v for v in CW21) + "],ignore_index=255",
    "F.cross_entropy(x, y, weight=torch.tensor(%r), ignore_index=255)" % CW21,
    logits(VOC),
    _t,
    _d,
)
_t, _d = labels(MLP, 3)
add("ce_ignore_inside", "ce:ignore_index=2", "F.cross_entropy(x, y, ignore_index=2)", logits(ML), _t, _d)
_t, _d = labels(MLP, 3, ignore=255)
add(
    "ce_smoothing_weights_ignore",
    "ce:class_weights=[1,2,0.5],ignore_index=255,label_smoothing=0.1",
    "F.cross_entropy(x, y, weight=torch.tensor([1, 2, 0.5]), ignore_index=255, label_smoothing=0.1)",
    logits(ML),
    _t,
    _d,
)
_t, _d = labels([1, 3, 3], 21, "u8", ignore=4)
add(
    "ce_voc_smoothing_ignore_inside",
    "ce:ignore_index=4,label_smoothing=0.2",
    "F.cross_entropy(x, y, ignore_index=4, label_smoothing=0.2)",
    logits(VOC),
    _t,
    _d,
)
add(
    "ce_probs_target",
    "ce:mode=multiclass",
    "F.cross_entropy(x, y)",
    logits(ML),
    class_probs(ML),
)
add(
    "ce_probs_target_weights_smoothing",
    "ce:mode=multiclass,class_weights=[1,2,0.5],label_smoothing=0.15",
    "F.cross_entropy(x, y, weight=torch.tensor([1, 2, 0.5]), label_smoothing=0.15)",
    logits(ML),
    class_probs(ML),
)
_t, _d = labels([1, 3, 4, 5], 2)
add("ce_3d_labels", "ce:class_weights=[0.3,1.7]", "F.cross_entropy(x, y, weight=torch.tensor([0.3, 1.7]))", logits(V3), _t, _d)
add("ce_3d_probs_smoothing", "ce:mode=multiclass,label_smoothing=0.05", "F.cross_entropy(x, y, label_smoothing=0.05)", logits(V3), class_probs(V3))
_t, _d = labels(MLP, 3, ignore=255)
add(
    "ce_sum",
    "ce:class_weights=[1,2,0.5],ignore_index=255,reduction=sum",
    "F.cross_entropy(x, y, weight=torch.tensor([1, 2, 0.5]), ignore_index=255, reduction='sum')",
    logits(ML),
    _t,
    _d,
)
_t, _d = labels(MLP, 3, ignore=255)
add(
    "ce_none_smoothing",
    "ce:class_weights=[1,2,0.5],ignore_index=255,label_smoothing=0.1,reduction=none",
    "F.cross_entropy(x, y, weight=torch.tensor([1, 2, 0.5]), ignore_index=255, label_smoothing=0.1, reduction='none').sum()",
    logits(ML),
    _t,
    _d,
)
add(
    "ce_probs_sum",
    "ce:mode=multiclass,reduction=sum",
    "F.cross_entropy(x, y, reduction='sum')",
    logits(ML),
    class_probs(ML),
)
_t, _d = labels(MLP, 3, ignore=255)
add(
    "ce_weight_map",
    "ce:class_weights=[1,2,0.5],ignore_index=255,label_smoothing=0.1",
    "ce_weighted(x, y, class_weights=[1, 2, 0.5], ignore_index=255, label_smoothing=0.1, weight=w)",
    logits(ML),
    _t,
    _d,
    weight=f32(rng.uniform(0, 3, [2, 4, 5])),
)
_t, _d = labels(MLP, 3)
add(
    "ce_weight_map_plain",
    "ce",
    "ce_weighted(x, y, weight=w)",
    logits(ML),
    _t,
    _d,
    weight=f32(rng.uniform(0, 3, [2, 4, 5])),
)
_t, _d = labels(MLP, 3)
add("ce_large_logits", "ce", "F.cross_entropy(x, y)", big_softmax(logits(ML)), _t, _d)
_t, _d = labels(MLP, 3, ignore=255)
add(
    "ce_large_logits_smoothing",
    "ce:ignore_index=255,label_smoothing=0.1,class_weights=[1,2,0.5]",
    "F.cross_entropy(x, y, weight=torch.tensor([1, 2, 0.5]), ignore_index=255, label_smoothing=0.1)",
    big_softmax(logits(ML)),
    _t,
    _d,
)
_t, _d = labels([2, 1, 4, 5], 3)
add("ce_labels_n1s", "ce", "F.cross_entropy(x, y.squeeze(1))", logits(ML), _t, _d)
_t, _d = labels(MLP, 3, ignore=-100)
add("ce_ignore_default_i64", "ce", "F.cross_entropy(x, y)", logits(ML), _t, _d)

# ---- edge values of the keys, logits where float32 cancels (|x| ~ 10..40), several blocks
add(
    "bce_tiny_pos_weight_all_positive",
    "bce:pos_weight=0.0001",
    "F.binary_cross_entropy_with_logits(x, y, pos_weight=torch.tensor(0.0001))",
    logits(B),
    f32(np.ones(B)),
)
add("bce_pos_weight0", "bce:pos_weight=0", "F.binary_cross_entropy_with_logits(x, y, pos_weight=torch.tensor(0.0))", logits(B), hard(B))
add(
    "bce_keras_smoothing1",
    "bce:label_smoothing=1",
    "keras.ops.binary_crossentropy(y * (1.0 - 1.0) + 0.5 * 1.0, x, from_logits=True).mean()",
    logits(B),
    hard(B),
    anchor="keras.losses.binary_crossentropy(y, x, from_logits=True, label_smoothing=1.0).mean()",
)
add("bce_moderate_logits", "bce:pos_weight=2", "F.binary_cross_entropy_with_logits(x, y, pos_weight=torch.tensor(2.0))", logits(ML, 14.0), hard(ML))
add("wce_beta50", "wce:beta=50", "wce_logits(y, x, 50.0).mean()", logits(B), hard(B))
add("wce_beta001_probs", "wce:beta=0.01,from_logits=false", "wce_probs(y, x, 0.01).mean()", probs(B), soft(B))
add("balanced_ce_auto_all_ones", "balanced_ce:beta=auto", "balanced_ce(x, y, 'auto').mean()", logits(B), f32(np.ones(B)))
add("balanced_ce_auto_all_zeros", "balanced_ce:beta=auto", "balanced_ce(x, y, 'auto').mean()", logits(B), f32(np.zeros(B)))
add("focal_alpha1", "focal:gamma=2,alpha=1", "sigmoid_focal_loss(x, y, alpha=1.0, gamma=2, reduction='mean')", logits(B), hard(B))
add("focal_alpha0_gamma05", "focal:gamma=0.5,alpha=0", "sigmoid_focal_loss(x, y, alpha=0.0, gamma=0.5, reduction='mean')", logits(B), hard(B))
add(
    "focal_moderate_logits_gamma05",
    "focal:gamma=0.5,alpha=none",
    "sigmoid_focal_loss(x, y, alpha=-1, gamma=0.5, reduction='mean')",
    logits(ML, 14.0),
    hard(ML),
)
add(
    "focal_moderate_logits_gamma3",
    "focal:gamma=3,alpha=0.25",
    "sigmoid_focal_loss(x, y, alpha=0.25, gamma=3, reduction='mean')",
    logits(ML, 14.0),
    hard(ML),
)
_t, _d = labels(MLP, 3)
add("focal_mc_moderate_logits_gamma05", "focal:gamma=0.5", "focal_softmax(x, y, 0.5)", logits(ML, 14.0), _t, _d)
_t, _d = labels(MLP, 3)
add(
    "focal_mc_class_weight_zero",
    "focal:gamma=2,class_weights=[0,1,2]",
    "focal_softmax(x, y, 2.0, class_weights=[0, 1, 2])",
    logits(ML),
    _t,
    _d,
    anchor="monai_focal(x, y, 2.0, class_weights=[0, 1, 2])",
)
_t, _d = labels(MLP, 3)
add("ce_moderate_logits", "ce:label_smoothing=0.1", "F.cross_entropy(x, y, label_smoothing=0.1)", logits(ML, 14.0), _t, _d)
_t, _d = labels(MLP, 3)
add("ce_class_weight_zero", "ce:class_weights=[0,1,2]", "F.cross_entropy(x, y, weight=torch.tensor([0, 1, 2.0]))", logits(ML), _t, _d)
_t, _d = labels(MLP, 3)
add("ce_label_smoothing1", "ce:label_smoothing=1", "F.cross_entropy(x, y, label_smoothing=1.0)", logits(ML), _t, _d)
_t, _d = labels([1, 33, 33], 3, "u8", ignore=255)
add(
    "ce_two_softmax_blocks",
    "ce:class_weights=[1,2,0.5],ignore_index=255,label_smoothing=0.1",
    "F.cross_entropy(x, y, weight=torch.tensor([1, 2, 0.5]), ignore_index=255, label_smoothing=0.1)",
    logits([1, 3, 33, 33]),
    _t,
    _d,
)
_t, _d = labels([1, 33, 33], 3)
add(
    "focal_mc_two_softmax_blocks",
    "focal:gamma=0.5,class_weights=[1,2,0.5]",
    "focal_softmax(x, y, 0.5, class_weights=[1, 2, 0.5])",
    logits([1, 3, 33, 33]),
    _t,
    _d,
    anchor="monai_focal(x, y, 0.5, class_weights=[1, 2, 0.5])",
)

add(
    "focal_probs_soft_labels",
    "focal:gamma=0.5,alpha=0.25,from_logits=false",
    "focal_origin(torch.logit(clip32(x)), y, 0.5, 0.25).mean()",
    probs(B),
    soft(B),
)
add(
    "bce_probs_pos_weight_smoothing",
    "bce:pos_weight=2,label_smoothing=0.1,from_logits=false",
    "wce_probs(y * (1 - 0.1) + 0.1 / 2, x, 2.0).mean()",
    probs(B),
    hard(B),
)
add(
    "bce_weight_smoothing_pos_weight",
    "bce:pos_weight=3,label_smoothing=0.05",
    "F.binary_cross_entropy_with_logits(x, y * (1 - 0.05) + 0.05 / 2, weight=w, pos_weight=torch.tensor(3.0))",
    logits(ML),
    soft(ML),
    weight=f32(rng.uniform(0, 2, ML)),
)
add(
    "ce_probs_target_weight_map",
    "ce:mode=multiclass,class_weights=[1,2,0.5]",
    "(F.cross_entropy(x, y, weight=torch.tensor([1, 2, 0.5]), reduction='none') * w).mean()",
    logits(ML),
    class_probs(ML),
    weight=f32(rng.uniform(0, 3, [2, 4, 5])),
)
_t, _d = labels([2, 7], 3)
add("ce_1d", "ce:class_weights=[1,2,0.5],label_smoothing=0.1", "F.cross_entropy(x, y, weight=torch.tensor([1, 2, 0.5]), label_smoothing=0.1)", logits([2, 3, 7]), _t, _d)
add("bce_1d", "bce", "F.binary_cross_entropy_with_logits(x, y)", logits([2, 1, 9]), hard([2, 1, 9]))
add("bce_1d_no_channel_axis", "bce:mode=binary,pos_weight=2", "F.binary_cross_entropy_with_logits(x, y, pos_weight=torch.tensor(2.0))", logits([3, 8]), hard([3, 8]))
_t, _d = labels([2, 7], 3)
add("focal_mc_1d", "focal:gamma=2", "focal_softmax(x, y, 2.0)", logits([2, 3, 7]), _t, _d, anchor="monai_focal(x, y, 2.0)")
add(
    "balanced_ce_multilabel_weight_broadcast",
    "balanced_ce:beta=0.7",
    "(balanced_ce(x, y, 0.7) * w.unsqueeze(1)).mean()",
    logits(ML),
    hard(ML),
    weight=f32(rng.uniform(0, 2, [2, 4, 5])),
)

# ---- appended (issue 12): class-probability targets with a per-pixel weight ([N, *S] or
# [N, 1, *S]; the weight of a softmax loss is one value per pixel, pred's shape is an error), the
# mean over pixels as for every class-probability case; huge class weights (a common factor of the
# weights cancels in ce's mean over labels and multiplies everything else).
add(
    "ce_probs_pixel_weight",
    "ce:mode=multiclass",
    "(F.cross_entropy(x, y, reduction='none') * w).mean()",
    logits(ML),
    class_probs(ML),
    weight=f32(rng.uniform(0, 3, [2, 4, 5])),
)
add(
    "ce_probs_pixel_weight_n1s",
    "ce:mode=multiclass",
    "(F.cross_entropy(x, y, reduction='none') * w.squeeze(1)).mean()",
    logits(ML),
    class_probs(ML),
    weight=f32(rng.uniform(0, 3, [2, 1, 4, 5])),
)
add(
    "ce_probs_pixel_weight_smoothing",
    "ce:mode=multiclass,label_smoothing=0.1",
    "(F.cross_entropy(x, y, reduction='none', label_smoothing=0.1) * w).mean()",
    logits(ML),
    class_probs(ML),
    weight=f32(rng.uniform(0, 3, [2, 4, 5])),
)
add(
    "ce_probs_pixel_weight_class_weights_smoothing_n1s",
    "ce:mode=multiclass,class_weights=[1,2,0.5],label_smoothing=0.2",
    "(F.cross_entropy(x, y, weight=torch.tensor([1, 2, 0.5]), reduction='none', label_smoothing=0.2) * w.squeeze(1)).mean()",
    logits(ML),
    class_probs(ML),
    weight=f32(rng.uniform(0, 3, [2, 1, 4, 5])),
)
add(
    "ce_probs_pixel_weight_sum",
    "ce:mode=multiclass,class_weights=[0.5,1,2],reduction=sum",
    "(F.cross_entropy(x, y, weight=torch.tensor([0.5, 1, 2.0]), reduction='none') * w).sum()",
    logits(ML),
    class_probs(ML),
    weight=f32(rng.uniform(0, 3, [2, 4, 5])),
)
add(
    "ce_probs_pixel_weight_none_smoothing",
    "ce:mode=multiclass,label_smoothing=0.05,reduction=none",
    "(F.cross_entropy(x, y, reduction='none', label_smoothing=0.05) * w).sum()",
    logits(ML),
    class_probs(ML),
    weight=f32(rng.uniform(0, 3, [2, 4, 5])),
)
add(
    "ce_probs_pixel_weight_3d",
    "ce:mode=multiclass,class_weights=[0.3,1.7],label_smoothing=0.1",
    "(F.cross_entropy(x, y, weight=torch.tensor([0.3, 1.7]), reduction='none', label_smoothing=0.1) * w.squeeze(1)).mean()",
    logits(V3),
    class_probs(V3),
    weight=f32(rng.uniform(0, 3, [1, 1, 3, 4, 5])),
)
add(
    "ce_probs_pixel_weight_large_logits",
    "ce:mode=multiclass,class_weights=[1,2,0.5]",
    "(F.cross_entropy(x, y, weight=torch.tensor([1, 2, 0.5]), reduction='none') * w).mean()",
    big_softmax(logits(ML)),
    class_probs(ML),
    weight=f32(rng.uniform(0, 3, [2, 4, 5])),
)
_t, _d = labels(MLP, 3, ignore=-100)
add(
    "focal_mc_weight_map_n1s",
    "focal:gamma=1.5,class_weights=[0.5,2,1]",
    "focal_softmax(x, y, 1.5, class_weights=[0.5, 2, 1], weight=w.squeeze(1))",
    logits(ML),
    _t,
    _d,
    weight=f32(rng.uniform(0, 3, [2, 1, 4, 5])),
)
_t, _d = labels(MLP, 3, ignore=255)
add(
    "ce_huge_equal_class_weights",
    "ce:class_weights=[1e38,1e38,1e38],ignore_index=255,label_smoothing=0.1",
    "F.cross_entropy(x, y, weight=torch.tensor([1e38, 1e38, 1e38]), ignore_index=255, label_smoothing=0.1)",
    logits(ML),
    _t,
    _d,
    anchor="F.cross_entropy(x, y, ignore_index=255, label_smoothing=0.1)",
)
_t, _d = labels(MLP, 3)
add(
    "ce_huge_class_weights",
    "ce:class_weights=[1e38,3e38,5e37]",
    "F.cross_entropy(x, y, weight=torch.tensor([1e38, 3e38, 5e37]))",
    logits(ML),
    _t,
    _d,
)
add(
    "ce_probs_huge_class_weights",
    "ce:mode=multiclass,class_weights=[1e38,1e38,5e37]",
    "F.cross_entropy(x, y, weight=torch.tensor([1e38, 1e38, 5e37]))",
    logits(ML),
    class_probs(ML),
)
_t, _d = labels(MLP, 3)
add(
    "focal_mc_huge_class_weights",
    "focal:gamma=2,class_weights=[1e38,1e38,1e38]",
    "focal_softmax(x, y, 2.0, class_weights=[1e38, 1e38, 1e38])",
    logits(ML),
    _t,
    _d,
    anchor="1e38 * monai_focal(x, y, 2.0)",
)
add(
    "bce_pos_weight_at_the_bound",
    "bce:pos_weight=1e12",
    "F.binary_cross_entropy_with_logits(x, y, pos_weight=torch.tensor(1e12))",
    logits(B),
    soft(B),
)


def main():
    note = (
        "References in float64 torch from float32 inputs; value = python expression, grad = its "
        "torch autograd gradient with respect to x (pred). reduction=none cases store the map's sum. "
        "TensorFlow is not installed: TF weighted_cross_entropy_with_logits is its documented formula, "
        "equal to torch binary_cross_entropy_with_logits(pos_weight). Multiclass focal references are "
        "float64 re-statements checked against C x MONAI FocalLoss (which computes in float32); Keras "
        "cases store keras.ops.binary_crossentropy after Keras' smoothing line, averaged in float64, "
        "checked against keras.losses.binary_crossentropy (whose last-axis mean runs in float32). "
        "`extra.anchor`: the library call each stored expression was checked against at generation time."
    )
    versions = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "monai": monai.__version__,
        "keras": keras.__version__ + " (backend " + keras.backend.backend() + ")",
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "tensorflow": "not installed",
    }
    tolerance = {"value_rtol": VALUE_RTOL, "value_atol": VALUE_ATOL, "grad_rtol_of_max": GRAD_RTOL}
    size = fixture.write(
        OUT,
        "tools/golden/xent.py (KERAS_BACKEND=torch /work/venv/py/bin/python tools/golden/xent.py)",
        versions,
        CASES,
        extra={"note": note, "tolerance": tolerance},
    )
    assert size < 1_000_000


if __name__ == "__main__":
    main()

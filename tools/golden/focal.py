#!/usr/bin/env python3
"""Golden values for the parity options of `focal` (segloss-xent): `class_weights` in binary and
multilabel mode, `include_background` in every mode, `ignore_index` in binary and multilabel
mode and `reduction=sum`, written to crates/segloss-xent/tests/fixtures/focal.json and checked by
crates/segloss-xent/tests/focal.rs.

Run from the workspace root:

    /work/venv/py/bin/python tools/golden/focal.py

Every reference is a library call in float64 torch on float32 inputs (drawn with fixture.Draws,
stored exactly): `value` is the stored Python expression (`python`), `grad` its autograd gradient
with respect to `x` (pred). The expressions see `x` (pred), `y` (the target: float64, or int64
labels [N, *S]), `w` (an optional weight map), `S` (pixels per image) and the calls below.

- `monai(x, t, **kw)` is MONAI 1.6's `monai.losses.FocalLoss(**kw)(x, t)` itself. Its forward
  casts `input.float()` and `target.float()` to float32; for the float64 reference the call runs
  with `torch.Tensor.float` made the identity on float64 tensors (`monai_f64` below), so every
  other line of MONAI's forward runs as written, in float64. Each MONAI case is also evaluated
  without that patch (MONAI in float32, as shipped) and must agree within the test's tolerances
  (`extra.monai_float32` holds that value).
- `smp(mode, **kw)(x, t)` is segmentation_models_pytorch 0.6.0's `FocalLoss(mode, **kw)`, which
  keeps the input's dtype.
- `sigmoid_focal_loss` is torchvision's `torchvision.ops.sigmoid_focal_loss`.

What MONAI computes (monai/losses/focal_loss.py, 1.6.1), and so what each case states:
- sigmoid (use_softmax=False): the elementwise `(1 - p_t)^gamma bce` times alpha's factor times
  `weight` (a scalar, or one value per channel after the background is dropped: C - 1 values when
  include_background=False; a sequence with one channel is a ValueError, so one channel takes a
  scalar weight), `mean` over N * C_kept * S. segloss `focal:alpha=none,class_weights=[...]` is
  MONAI `FocalLoss(weight=...)`, with `class_weights` one per channel of pred (the background's
  value unused when include_background=false).
- include_background=False drops channel 0 of input and target before the sigmoid/softmax: the
  softmax runs over channels 1..C-1, and pixels labelled 0 have an all-zero one-hot row (no term).
  MONAI's mean is over N (C-1) S elements, segloss's over the N S pixels: segloss multiclass =
  (C - 1) x MONAI. With one channel MONAI warns and ignores the flag; so does segloss.
- ignore_index: MONAI masks the loss with a [N, 1, *S] mask of the original target and divides
  the sum by the mask's sum. With labels (to_onehot_y) or a one-channel float target the mask is
  `target != ignore_index`, so segloss equals MONAI itself (multiclass without the factor C,
  binary elementwise). With C > 1 float channels MONAI reads the target as one-hot (an index in
  [0, C) masks the pixels where that channel is 1, any other value the pixels whose channels are
  all 0): segloss's multilabel ignore is elementwise instead, checked against torchvision on the
  kept elements and against MONAI's elementwise (one-channel) path channel by channel.
- reduction="sum": MONAI takes the spatial mean per (image, channel) and sums those (its
  backward-compatibility flag `average_spatial_dims`), i.e. segloss's `sum` / S without
  ignore_index; with ignore_index each (image, channel) is divided by its own kept count. segloss's
  `sum` is the sum of its unreduced map (torchvision's `reduction="sum"`). The exact cases state
  `S * monai(..., reduction="sum")`; the ignore_index form is the `relation` case
  (`extra.relation = "per_image_mean"`), checked by a dedicated test from per-image evaluations.
- smp: binary `FocalLoss("binary", ignore_index)` filters the kept elements and takes their mean
  (= segloss); multilabel `class_weights` give sum_c w_c L_c / sum_c w_c over the per-class means
  L_c, so segloss = smp x sum(w) / C (mean) and smp x sum(w) (sum); smp's multilabel ignore_index
  raises an IndexError (its mask is [N, C, *S], the per-class target [N, *S]) and smp has no
  binary class weights (a ValueError) and no include_background.
"""

import contextlib
import importlib.metadata
import os
import platform
import warnings

import monai as monai_lib
import numpy as np
import segmentation_models_pytorch
import torch
import torch.nn.functional as F
import torchvision
from monai.losses import FocalLoss
from segmentation_models_pytorch.losses import FocalLoss as SmpFocalLoss
from torchvision.ops import sigmoid_focal_loss

import fixture

torch.set_default_dtype(torch.float64)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "crates", "segloss-xent", "tests", "fixtures", "focal.json")

VALUE_RTOL, VALUE_ATOL, GRAD_RTOL = 1e-5, 1e-7, 1e-4

EPS32 = float(np.float32(1e-7))
ONE_MINUS_EPS32 = float(np.float32(1.0 - 1e-7))

rng = np.random.default_rng(20261128)
draws = fixture.Draws(rng)
CASES = []
F64 = True  # MONAI in float64 (monai_f64); False: MONAI as shipped (float32), for the agreement check


@contextlib.contextmanager
def monai_f64():
    """`Tensor.float()` as the identity on float64 tensors (MONAI's FocalLoss casts its inputs
    with it); every other tensor converts as usual."""
    orig = torch.Tensor.float

    def keep64(self, *a, **k):
        return self if self.dtype == torch.float64 else orig(self, *a, **k)

    torch.Tensor.float = keep64
    try:
        yield
    finally:
        torch.Tensor.float = orig


def monai(x, t, **kw):
    """MONAI's FocalLoss(**kw)(x, t), in float64 (see monai_f64) unless F64 is off."""
    with warnings.catch_warnings():
        # single channel: MONAI warns that it ignores include_background=False
        warnings.filterwarnings("ignore", message="single channel prediction")
        with monai_f64() if F64 else contextlib.nullcontext():
            return FocalLoss(**kw)(x, t)


def smp(mode, **kw):
    return SmpFocalLoss(mode, **kw)


def clip32(p):
    """The family's probability clip, [1e-7, 1 - 1e-7] with float32 bounds."""
    return torch.clamp(p, EPS32, ONE_MINUS_EPS32)


def per_channel(v, rank):
    """A [1, C, 1, ...] tensor of per-channel values."""
    t = torch.tensor(v, dtype=torch.float64)
    return t.view([1, -1] + [1] * (rank - 2))


def evaluate(expr, pred, target, weight):
    x = torch.tensor(pred.astype(np.float64), requires_grad=True)
    y = torch.tensor(target) if target.dtype == np.int64 else torch.tensor(target.astype(np.float64))
    w = None if weight is None else torch.tensor(weight.astype(np.float64))
    S = int(np.prod(pred.shape[2:]))
    env = dict(torch=torch, F=F, monai=monai, smp=smp, sigmoid_focal_loss=sigmoid_focal_loss, clip32=clip32, per_channel=per_channel,
               x=x, y=y, w=w, S=S)
    v = eval(expr, env)
    assert v.dim() == 0, expr
    v.backward()
    return float(v.detach()), x.grad.detach().numpy()


def add(name, spec, expr, pred, target, weight=None, extra=None, grad=True):
    global F64
    pred = fixture.f32(pred)
    if target.dtype != np.int64:
        target = fixture.f32(target)
    weight = None if weight is None else fixture.f32(weight)
    val, g = evaluate(expr, pred, target, weight)
    assert np.isfinite(val) and np.all(np.isfinite(g)), (name, val)
    extra = dict(extra or {})
    if "monai(" in expr:
        F64 = False
        v32, g32 = evaluate(expr, pred, target, weight)
        F64 = True
        assert abs(v32 - val) <= VALUE_RTOL * abs(val) + VALUE_ATOL, (name, v32, val)
        assert np.max(np.abs(g32 - g)) <= GRAD_RTOL * max(np.max(np.abs(g)), 1e-300) or np.max(np.abs(g)) == 0, name
        extra["monai_float32"] = v32
    inputs = {"pred": pred, "target": target}
    if weight is not None:
        inputs["weight"] = weight
    CASES.append(fixture.case(name, spec, expr, inputs, value=val, grad=g if grad else None, extra=extra or None))


def hard(shape, p=0.4):
    return (rng.uniform(size=shape) < p).astype(np.float32)


def sprinkle(t, value, frac=0.2):
    t = t.copy()
    t[rng.uniform(size=t.shape) < frac] = value
    return t


def labels(shape, c):
    return draws.labels(shape, c)


logits = draws.logits
ML = [2, 3, 5, 6]
B = [2, 1, 5, 7]
V3 = [2, 3, 3, 4, 5]
W3 = [0.5, 2.0, 1.5]


def spec(keys):
    return fixture.spec("focal", keys)


def main():
    # ---- class_weights, binary and multilabel: MONAI FocalLoss(weight=...) (use_softmax=False)
    x, y = logits(ML), hard(ML)
    add("ml_class_weights", spec({"alpha": "none", "class_weights": W3}), "monai(x, y, weight=[0.5, 2.0, 1.5])", x, y)
    x, y = logits(ML), hard(ML)
    add("ml_class_weights_alpha03", spec({"alpha": 0.3, "class_weights": W3}), "monai(x, y, alpha=0.3, weight=[0.5, 2.0, 1.5])", x, y)
    x, y = logits(V3), hard(V3)
    add("ml_class_weights_gamma05_3d", spec({"gamma": 0.5, "alpha": "none", "class_weights": [1, 0, 3]}),
        "monai(x, y, gamma=0.5, weight=[1.0, 0.0, 3.0])", x, y)
    x, y = logits(B), hard(B)
    add("bin_class_weight_scalar", spec({"alpha": "none", "class_weights": [2.5]}), "monai(x, y, weight=2.5)", x, y)
    x, y = logits(B), hard(B)
    add("bin_class_weight_torchvision", spec({"gamma": 1.5, "class_weights": [0.4]}),
        "0.4 * sigmoid_focal_loss(x, y, alpha=0.25, gamma=1.5, reduction='mean')", x, y)
    x, y = logits(ML), hard(ML)
    add("ml_class_weights_smp", spec({"alpha": "none", "class_weights": W3}),
        "smp('multilabel', class_weights=[0.5, 2.0, 1.5])(x, y) * (0.5 + 2.0 + 1.5) / 3", x, y)
    x, y = logits(ML), hard(ML)
    add("ml_class_weights_smp_sum", spec({"alpha": 0.25, "class_weights": W3, "reduction": "sum"}),
        "smp('multilabel', alpha=0.25, class_weights=[0.5, 2.0, 1.5], reduction='sum')(x, y) * (0.5 + 2.0 + 1.5)", x, y)
    x, y = logits(ML), hard(ML)
    wmap = rng.uniform(0.2, 2.0, size=ML)
    add("ml_class_weights_weight_map", spec({"alpha": "none", "class_weights": W3}),
        "(monai(x, y, weight=[0.5, 2.0, 1.5], reduction='none') * w).mean()", x, y, weight=wmap)

    # ---- include_background=false, binary and multilabel
    x, y = logits(ML), hard(ML)
    add("ml_no_background", spec({"alpha": "none", "include_background": False}), "monai(x, y, include_background=False)", x, y)
    x, y = logits(ML), hard(ML)
    add("ml_no_background_class_weights_alpha", spec({"alpha": 0.6, "include_background": False, "class_weights": [7, 2, 0.5]}),
        "monai(x, y, include_background=False, alpha=0.6, weight=[2.0, 0.5])", x, y,
        extra={"note": "class_weights has one value per channel of pred; the background's (7) is unused"})
    x, y = logits(B), hard(B)
    add("bin_no_background_is_ignored", spec({"alpha": "none", "include_background": False}),
        "monai(x, y, include_background=False)", x, y, extra={"note": "one channel: MONAI warns and ignores include_background=False"})
    x = np.asarray(rng.uniform(0.002, 0.998, ML), dtype=np.float32)
    y = hard(ML)
    add("ml_no_background_probabilities", spec({"gamma": 1.5, "include_background": False, "from_logits": False}),
        "sigmoid_focal_loss(torch.logit(clip32(x))[:, 1:], y[:, 1:], alpha=0.25, gamma=1.5, reduction='mean')", x, y)

    # ---- include_background=false, multiclass: (C - 1) x MONAI (softmax over channels 1..C-1)
    x, t = logits([2, 4, 5, 6]), labels([2, 5, 6], 4)
    add("mc_no_background", spec({"include_background": False}),
        "3 * monai(x, y.unsqueeze(1), use_softmax=True, to_onehot_y=True, include_background=False)", x, t)
    x, t = logits([2, 4, 5, 6]), labels([2, 5, 6], 4)
    add("mc_no_background_class_weights_gamma05", spec({"gamma": 0.5, "include_background": False, "class_weights": [9, 2, 0.5, 3]}),
        "3 * monai(x, y.unsqueeze(1), gamma=0.5, use_softmax=True, to_onehot_y=True, include_background=False, weight=[2.0, 0.5, 3.0])",
        x, t)
    x, t = logits(V3), labels([2, 3, 4, 5], 3)
    add("mc_no_background_gamma0_3d", spec({"gamma": 0, "include_background": False}),
        "2 * monai(x, y.unsqueeze(1), gamma=0.0, use_softmax=True, to_onehot_y=True, include_background=False)", x, t)
    x, t = logits([2, 2, 5, 6]), labels([2, 5, 6], 2)
    add("mc_no_background_two_classes_is_zero", spec({"include_background": False}),
        "1 * monai(x, y.unsqueeze(1), use_softmax=True, to_onehot_y=True, include_background=False)", x, t,
        extra={"note": "a softmax over the one kept channel is 1: every term and the gradient are 0"})
    x, t = logits([2, 4, 5, 6]), labels([2, 5, 6], 4)
    t[rng.uniform(size=t.shape) < 0.2] = 255
    add("mc_no_background_ignore255", spec({"include_background": False, "ignore_index": 255}),
        "monai(x, y.unsqueeze(1), use_softmax=True, to_onehot_y=True, include_background=False, ignore_index=255)", x, t,
        extra={"note": "with ignore_index MONAI divides by the kept pixels: segloss = MONAI, no factor"})
    x, t = logits([2, 4, 5, 6]), labels([2, 5, 6], 4)
    add("mc_no_background_ignore_class2_weights", spec({"include_background": False, "ignore_index": 2, "class_weights": [1, 2, 0.5, 3]}),
        "monai(x, y.unsqueeze(1), use_softmax=True, to_onehot_y=True, include_background=False, ignore_index=2, weight=[2.0, 0.5, 3.0])",
        x, t)
    x, t = logits([2, 3, 5, 6]), labels([2, 5, 6], 3)
    t[rng.uniform(size=t.shape) < 0.2] = -100
    add("mc_ignore_default_class_weights", spec({"gamma": 1.5, "class_weights": [1, 2, 0.5]}),
        "monai(x, y.unsqueeze(1), gamma=1.5, use_softmax=True, to_onehot_y=True, ignore_index=-100, weight=[1.0, 2.0, 0.5])", x, t)

    # ---- the MONAI and smp arguments segloss maps to other keys (docs/LOSSES.md, focal's tables)
    x, t = logits([2, 3, 5, 6]), labels([2, 5, 6], 3)
    add("mc_monai_softmax_scalar_alpha_is_class_weights", spec({"class_weights": [0.75, 0.25, 0.25]}),
        "3 * monai(x, y.unsqueeze(1), use_softmax=True, to_onehot_y=True, alpha=0.25)", x, t,
        extra={"note": "MONAI's softmax scalar alpha weights the background 1 - alpha and every other class alpha"})
    x, t = logits([2, 3, 5, 6]), labels([2, 5, 6], 3)
    add("mc_monai_softmax_alpha_sequence_is_class_weights", spec({"gamma": 1.5, "class_weights": [0.2, 1, 3]}),
        "3 * monai(x, y.unsqueeze(1), gamma=1.5, use_softmax=True, to_onehot_y=True, alpha=[0.2, 1.0, 3.0])", x, t)
    x, t = logits([2, 3, 5, 6]), labels([2, 5, 6], 3)
    onehot = np.moveaxis(np.eye(3, dtype=np.float32)[t], -1, 1)
    add("smp_multiclass_mode_is_multilabel_on_one_hot", spec({"alpha": "none", "mode": "multilabel"}),
        "smp('multiclass')(x, y.argmax(1))", x, onehot,
        extra={"note": "smp's multiclass mode is a sigmoid focal loss per class on the one-hot target, not a softmax"})

    # ---- ignore_index, binary and multilabel
    x, y = logits(B), sprinkle(hard(B), 255)
    add("bin_ignore255", spec({"alpha": "none", "ignore_index": 255}), "monai(x, y, ignore_index=255)", x, y)
    x, y = logits(B), sprinkle(hard(B), 255)
    add("bin_ignore255_alpha_weight", spec({"alpha": 0.25, "ignore_index": 255, "class_weights": [2]}),
        "monai(x, y, alpha=0.25, weight=2.0, ignore_index=255)", x, y)
    x, y = logits(B), sprinkle(hard(B), -100)
    add("bin_ignore_default", spec({"alpha": "none"}), "monai(x, y, ignore_index=-100)", x, y,
        extra={"note": "the default ignore_index -100 applies in binary mode too"})
    x, y = logits(B), hard(B)
    add("bin_ignore_label_0", spec({"gamma": 0.5, "alpha": "none", "ignore_index": 0}), "monai(x, y, gamma=0.5, ignore_index=0)", x, y)
    x, y = logits([2, 5, 7]), sprinkle(hard([2, 5, 7]), 255)
    add("bin_no_channel_ignore255", spec({"alpha": "none", "ignore_index": 255, "mode": "binary"}),
        "monai(x.unsqueeze(1), y.unsqueeze(1), ignore_index=255)", x, y)
    x, y = logits(B), sprinkle(hard(B), 255)
    add("bin_ignore255_smp", spec({"alpha": 0.25, "ignore_index": 255}), "smp('binary', alpha=0.25, ignore_index=255)(x, y)", x, y)
    x, y = logits(ML), sprinkle(hard(ML), 255)
    add("ml_ignore255_torchvision", spec({"ignore_index": 255}),
        "sigmoid_focal_loss(x[y != 255], y[y != 255], alpha=0.25, gamma=2, reduction='mean')", x, y)
    x, y = logits(ML), sprinkle(hard(ML), 255)
    add("ml_ignore255_class_weights_monai_per_channel", spec({"alpha": "none", "ignore_index": 255, "class_weights": W3}),
        "sum(monai(x[:, c:c + 1], y[:, c:c + 1], weight=wc, ignore_index=255, reduction='none').sum()"
        " for c, wc in enumerate([0.5, 2.0, 1.5])) / (y != 255).sum()", x, y,
        extra={"note": "MONAI's elementwise (one-channel) ignore path per channel; its multi-channel path masks pixels instead"})
    x, y = logits(ML), sprinkle(hard(ML), 255)
    add("ml_ignore255_no_background_weight_map", spec({"gamma": 0.5, "alpha": "none", "ignore_index": 255, "include_background": False}),
        "sum((monai(x[:, c:c + 1], y[:, c:c + 1], gamma=0.5, ignore_index=255, reduction='none') * w[:, c:c + 1]).sum()"
        " for c in (1, 2)) / (y[:, 1:] != 255).sum()", x, y, weight=rng.uniform(0.2, 2.0, size=ML))
    x = np.asarray(rng.uniform(0.002, 0.998, ML), dtype=np.float32)
    y = sprinkle(hard(ML), 255)
    add("ml_ignore255_probabilities_class_weights", spec({"ignore_index": 255, "class_weights": W3, "from_logits": False}),
        "(sigmoid_focal_loss(torch.logit(clip32(x)), torch.where(y != 255, y, 0), alpha=0.25, gamma=2, reduction='none')"
        " * per_channel([0.5, 2.0, 1.5], 4) * (y != 255)).sum() / (y != 255).sum()", x, y)
    x, y = logits(B), np.full(B, 255, dtype=np.float32)
    add("bin_all_ignored_is_zero", spec({"ignore_index": 255}), "monai(x, y, ignore_index=255)", x, y,
        extra={"note": "MONAI divides 0 by the clamped mask sum: 0, with a zero gradient"})

    # ---- reduction=sum: segloss's sum is the sum of the map; MONAI's is S x smaller (no ignore_index)
    x, y = logits(ML), hard(ML)
    add("ml_sum_monai", spec({"alpha": "none", "class_weights": W3, "reduction": "sum"}),
        "S * monai(x, y, weight=[0.5, 2.0, 1.5], reduction='sum')", x, y)
    x, y = logits(ML), hard(ML)
    add("ml_sum_no_background_monai", spec({"alpha": 0.3, "include_background": False, "reduction": "sum"}),
        "S * monai(x, y, alpha=0.3, include_background=False, reduction='sum')", x, y)
    x, y = logits(B), hard(B)
    add("bin_sum_monai", spec({"alpha": "none", "class_weights": [2], "reduction": "sum"}),
        "S * monai(x, y, weight=2.0, reduction='sum')", x, y)
    x, y = logits(B), hard(B)
    add("bin_sum_torchvision_class_weight", spec({"gamma": 0.5, "class_weights": [3], "reduction": "sum"}),
        "3 * sigmoid_focal_loss(x, y, alpha=0.25, gamma=0.5, reduction='sum')", x, y)
    x, t = logits([2, 4, 5, 6]), labels([2, 5, 6], 4)
    add("mc_sum_monai", spec({"class_weights": [1, 2, 0.5, 3], "reduction": "sum"}),
        "S * monai(x, y.unsqueeze(1), use_softmax=True, to_onehot_y=True, weight=[1.0, 2.0, 0.5, 3.0], reduction='sum')", x, t)
    x, t = logits([2, 4, 5, 6]), labels([2, 5, 6], 4)
    add("mc_sum_no_background_monai", spec({"gamma": 1.5, "include_background": False, "reduction": "sum"}),
        "S * monai(x, y.unsqueeze(1), gamma=1.5, use_softmax=True, to_onehot_y=True, include_background=False, reduction='sum')", x, t)
    x, y = logits(B), sprinkle(hard(B), 255)
    add("bin_sum_ignore_monai_none", spec({"alpha": "none", "ignore_index": 255, "reduction": "sum"}),
        "monai(x, y, ignore_index=255, reduction='none').sum()", x, y)
    x, t = logits([2, 4, 5, 6]), labels([2, 5, 6], 4)
    t[rng.uniform(size=t.shape) < 0.2] = 255
    add("mc_sum_ignore_monai_none", spec({"ignore_index": 255, "include_background": False, "reduction": "sum"}),
        "monai(x, y.unsqueeze(1), use_softmax=True, to_onehot_y=True, include_background=False, ignore_index=255, reduction='none').sum()",
        x, t)
    # MONAI's sum with ignore_index: per (image, channel), the sum over the kept pixels divided by
    # their count; the relation to segloss (per-image evaluations) is checked by its own test
    x, y = logits(B), sprinkle(hard(B), 255, frac=0.3)
    add("relation_bin_sum_ignore_monai", spec({"alpha": "none", "ignore_index": 255, "reduction": "sum"}),
        "monai(x, y, ignore_index=255, reduction='sum')", x, y, grad=False, extra={"relation": "per_image_mean"})
    x, t = logits([3, 4, 5, 6]), labels([3, 5, 6], 4)
    t[rng.uniform(size=t.shape) < 0.3] = 255
    add("relation_mc_sum_ignore_monai", spec({"ignore_index": 255, "reduction": "sum"}),
        "monai(x, y.unsqueeze(1), use_softmax=True, to_onehot_y=True, ignore_index=255, reduction='sum')", x, t, grad=False,
        extra={"relation": "per_image_mean"})

    versions = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "monai": monai_lib.__version__,
        "segmentation_models_pytorch": segmentation_models_pytorch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
    }
    assert versions["monai"].startswith("1.6"), versions
    assert importlib.metadata.version("segmentation_models_pytorch").startswith("0.6"), versions
    note = (
        "MONAI 1.6 FocalLoss itself in float64 (Tensor.float made the identity on float64 tensors during the call; "
        "extra.monai_float32 is the call as shipped, in float32), smp 0.6 FocalLoss, torchvision sigmoid_focal_loss; "
        "float64 torch on the stored float32 inputs, grad = autograd with respect to pred. "
        "relation cases state MONAI's reduction='sum' with ignore_index, not a segloss value."
    )
    tolerance = {"value_rtol": VALUE_RTOL, "value_atol": VALUE_ATOL, "grad_rtol_of_max": GRAD_RTOL}
    size = fixture.write(OUT, "tools/golden/focal.py", versions, CASES, extra={"note": note, "tolerance": tolerance})
    assert size < 1_000_000


if __name__ == "__main__":
    main()

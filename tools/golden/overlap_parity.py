#!/usr/bin/env python3
"""Golden values for the overlap family's parity keys with MONAI and segmentation_models_pytorch
(`soft_label`, `ignore_mode`, `reduction=sum`, and `eps` where `smooth_dr` < `eps`), written to
crates/segloss-overlap/tests/fixtures/overlap_parity.json and checked by
crates/segloss-overlap/tests/parity.rs.

Run from the workspace root:

    /work/venv/py/bin/python tools/golden/overlap_parity.py

Every reference is the library's own class, called in float64 on the float32 inputs stored in the
case (`python` is the exact call); `value` is its output and `grad` its autograd gradient with
respect to `pred`. No factor is applied anywhere: each case is an equality.

- `soft_label=true`: MONAI 1.6 `DiceLoss` / `TverskyLoss` / `GeneralizedDiceLoss(soft_label=True)`
  (`monai.losses.utils.compute_tp_fp_fn`: I = (|p|_1 + |g|_1 - |p - g|_1) / 2, FP = P - I,
  FN = G - I; with `squared_pred=True` MONAI always takes the norm form of order 2, which is
  sum p g identically), and smp 0.6 `DiceLoss` / `JaccardLoss` / `TverskyLoss`, whose
  `soft_tversky_score` always takes that form (I + s) / (I + a FP + b FN + s), clamped at eps:
  smp `DiceLoss(smooth=s)` is `dice:soft_label=true,reduce=batch,smooth=2s`. torch's `abs`
  backward takes the subgradient 0 at p = g; the `ties` case puts p = g on a third of the pixels.
- `ignore_mode=mask`: MONAI 1.6's `ignore_index` inside [0, C) (the pixels carrying it are masked
  in every channel by `create_ignore_mask` / `mask_loss_inputs`, that class's channel stays in
  the mean). MONAI's `GeneralizedDiceLoss` has no `ignore_index`: its cases call it on the inputs
  masked by those same two MONAI helpers, as `DiceLoss` masks them.
- `reduction=sum`: MONAI's `reduction="sum"` (with `weight=w`: the sum of w_c L_nc, which is
  segloss's `class_weights=w`, with no normalisation).
- `eps`: MONAI with `smooth_dr` below segloss's default eps (1e-7) on near-empty pairs, where a
  clamp at eps would decide the value (the `GeneralizedDiceLoss(smooth_nr=1e-8, smooth_dr=1e-8)`
  empty-foreground case of issue 18 is 0.0).
"""

import os
import platform

import monai
import numpy as np
import segmentation_models_pytorch as smp
import torch
from monai.losses import DiceLoss, GeneralizedDiceLoss, TverskyLoss
from monai.losses.utils import mask_loss_inputs
from monai.metrics.utils import create_ignore_mask
from monai.networks import one_hot

import fixture

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "crates", "segloss-overlap", "tests", "fixtures", "overlap_parity.json")

VALUE_RTOL, VALUE_ATOL, GRAD_RTOL = 1e-5, 1e-7, 1e-4

rng = np.random.default_rng(20261218)
draws = fixture.Draws(rng)
logits = draws.logits
CASES = []


def labels(shape, c, ignore=None, frac=0.2):
    """int64 labels [N, 1, *S] in [0, c) (MONAI's layout), every class present, a fraction set to `ignore`."""
    t = draws.labels(shape, c)
    if ignore is not None:
        t[rng.random(shape) < frac] = ignore
    assert all((t == k).any() for k in range(c)), "a class is absent"
    return t


def binary(shape, frac=0.3):
    return fixture.f32(rng.random(shape) < frac)


def soft(shape):
    """Soft targets in (0, 1) with 3 decimals (exact 0 and 1 mixed in)."""
    return fixture.f32(np.round(rng.random(shape), 3))


def run(fn, pred, target):
    x = torch.tensor(pred.astype(np.float64), requires_grad=True)
    t = torch.tensor(target) if target.dtype == np.int64 else torch.tensor(target.astype(np.float64))
    v = fn(x, t)
    assert v.dim() == 0
    v.backward()
    return float(v.detach()), x.grad.numpy().astype(np.float64)


def add(name, loss, keys, python, fn, pred, target, extra=None):
    pred = fixture.f32(pred)
    target = target if target.dtype == np.int64 else fixture.f32(target)
    value, grad = run(fn, pred, target)
    assert np.isfinite(value) and np.all(np.isfinite(grad)), (name, value)
    CASES.append(fixture.case(name, fixture.spec(loss, keys), python, {"pred": pred, "target": target},
                              value=value, grad=grad, extra=extra))


def log_cosh(loss):
    return lambda x, t: torch.log(torch.cosh(loss(x, t)))


def gdl_masked(ignore, **kw):
    """MONAI's GeneralizedDiceLoss on softmax probabilities and one-hot targets masked by MONAI's
    own `create_ignore_mask` / `mask_loss_inputs` (what DiceLoss does with `ignore_index`)."""
    loss = GeneralizedDiceLoss(**kw)

    def f(x, t):
        p = torch.softmax(x, 1)
        y = one_hot(t, num_classes=x.shape[1])
        p, y = mask_loss_inputs(p, y, ignore, mask=create_ignore_mask(t, ignore))
        return loss(p, y)

    return f


def all_present(t, axis=1):
    """smp zeroes the loss of a channel with G = 0 but still divides by C: equal only when every
    channel is present over the batch."""
    assert (t.sum(axis=tuple(i for i in range(t.ndim) if i != axis)) > 0).all(), "a channel is empty"


# --- soft_label, MONAI ---------------------------------------------------------------------------
p = logits((2, 1, 8, 8)); t = soft((2, 1, 8, 8))
add("dice_soft_label_binary", "dice", {"soft_label": True},
    "DiceLoss(sigmoid=True, soft_label=True)(pred, target)", DiceLoss(sigmoid=True, soft_label=True), p, t)

p = logits((2, 3, 4, 5, 6)); t = soft((2, 3, 4, 5, 6))
add("dice_soft_label_3d_multilabel_batch", "dice", {"soft_label": True, "reduce": "batch", "smooth_nr": 0.5, "smooth_dr": 1},
    "DiceLoss(sigmoid=True, soft_label=True, batch=True, smooth_nr=0.5, smooth_dr=1.0)(pred, target)",
    DiceLoss(sigmoid=True, soft_label=True, batch=True, smooth_nr=0.5, smooth_dr=1.0), p, t)

p = logits((2, 3, 6, 5)); t = soft((2, 3, 6, 5))
add("dice_soft_label_squared", "dice", {"soft_label": True, "squared": True},
    "DiceLoss(sigmoid=True, soft_label=True, squared_pred=True)(pred, target)  # the order-2 form is sum p g",
    DiceLoss(sigmoid=True, soft_label=True, squared_pred=True), p, t)

p = logits((2, 4, 5, 6)); t = soft((2, 4, 5, 6)); t = fixture.f32(t / t.sum(axis=1, keepdims=True))
add("dice_soft_label_class_probabilities", "dice", {"mode": "multiclass", "soft_label": True},
    "DiceLoss(softmax=True, soft_label=True)(pred, class_probabilities)", DiceLoss(softmax=True, soft_label=True), p, t)

p = logits((2, 3, 6, 7)); t = labels((2, 1, 6, 7), 3)
add("dice_soft_label_hard_labels", "dice", {"soft_label": True},
    "DiceLoss(softmax=True, to_onehot_y=True, soft_label=True)(pred, target)",
    DiceLoss(softmax=True, to_onehot_y=True, soft_label=True), p, t)

p = fixture.f32(rng.random((2, 2, 6, 6))); t = soft((2, 2, 6, 6))
tie = rng.random(t.shape) < 0.35
p[tie] = t[tie]
add("dice_soft_label_probabilities_ties", "dice", {"soft_label": True, "from_logits": False},
    "DiceLoss(soft_label=True)(probs, target)  # probs = target on 35% of the elements: abs' subgradient 0",
    DiceLoss(soft_label=True), p, t, extra={"ties": int(tie.sum())})

p = logits((2, 2, 7, 7)); t = soft((2, 2, 7, 7))
add("jaccard_soft_label", "jaccard", {"soft_label": True},
    "DiceLoss(sigmoid=True, jaccard=True, soft_label=True, smooth_nr=2e-5, smooth_dr=2e-5)(pred, target)",
    DiceLoss(sigmoid=True, jaccard=True, soft_label=True, smooth_nr=2e-5, smooth_dr=2e-5), p, t)

p = logits((2, 3, 6, 6)); t = soft((2, 3, 6, 6))
add("tversky_soft_label", "tversky", {"soft_label": True, "alpha": 0.3, "beta": 0.7},
    "TverskyLoss(sigmoid=True, soft_label=True, alpha=0.3, beta=0.7)(pred, target)",
    TverskyLoss(sigmoid=True, soft_label=True, alpha=0.3, beta=0.7), p, t)

p = logits((2, 1, 3, 4, 5)); t = soft((2, 1, 3, 4, 5))
add("tversky_soft_label_3d_batch", "tversky", {"soft_label": True, "alpha": 0.8, "beta": 0.2, "reduce": "batch", "smooth": 1},
    "TverskyLoss(sigmoid=True, soft_label=True, alpha=0.8, beta=0.2, batch=True, smooth_nr=1.0, smooth_dr=1.0)(pred, target)",
    TverskyLoss(sigmoid=True, soft_label=True, alpha=0.8, beta=0.2, batch=True, smooth_nr=1.0, smooth_dr=1.0), p, t)

p = logits((3, 3, 6, 6)); t = soft((3, 3, 6, 6)); t[1, 2] = 0.0
add("gdl_soft_label", "generalized_dice", {"soft_label": True},
    "GeneralizedDiceLoss(sigmoid=True, soft_label=True)(pred, target)  # channel 2 of image 1 empty",
    GeneralizedDiceLoss(sigmoid=True, soft_label=True), p, t)

p = logits((2, 2, 4, 4, 3)); t = soft((2, 2, 4, 4, 3))
add("gdl_soft_label_simple_batch", "generalized_dice", {"soft_label": True, "weight_type": "simple", "reduce": "batch"},
    "GeneralizedDiceLoss(sigmoid=True, soft_label=True, w_type='simple', batch=True)(pred, target)",
    GeneralizedDiceLoss(sigmoid=True, soft_label=True, w_type="simple", batch=True), p, t)

p = logits((2, 1, 8, 8)); t = soft((2, 1, 8, 8))
add("log_cosh_dice_soft_label", "log_cosh_dice", {"soft_label": True},
    "log(cosh(DiceLoss(sigmoid=True, soft_label=True)(pred, target)))", log_cosh(DiceLoss(sigmoid=True, soft_label=True)), p, t)

# --- soft_label, segmentation_models_pytorch (always this form; reduce=batch, smooth doubled for Dice)
p = logits((2, 1, 8, 8)); t = soft((2, 1, 8, 8)); all_present(t)
add("smp_dice_binary_soft", "dice", {"reduce": "batch", "smooth": 0, "soft_label": True},
    "smp.losses.DiceLoss('binary', smooth=0.0)(pred, target)", smp.losses.DiceLoss("binary", smooth=0.0), p, t)

p = logits((2, 3, 5, 7)); t = soft((2, 3, 5, 7)); all_present(t)
add("smp_dice_multilabel_soft_smooth", "dice", {"reduce": "batch", "smooth": 1, "soft_label": True},
    "smp.losses.DiceLoss('multilabel', smooth=0.5)(pred, target)  # smp's Dice smooth s is segloss's 2 s",
    smp.losses.DiceLoss("multilabel", smooth=0.5), p, t)

p = logits((2, 3, 5, 7)); t = soft((2, 3, 5, 7)); all_present(t)
add("smp_dice_multilabel_class_weights", "dice", {"reduce": "batch", "smooth": 0, "soft_label": True, "class_weights": [1, 2, 0.5]},
    "smp.losses.DiceLoss('multilabel', smooth=0.0, class_weights=[1.0, 2.0, 0.5])(pred, target)",
    smp.losses.DiceLoss("multilabel", smooth=0.0, class_weights=[1.0, 2.0, 0.5]), p, t)

p = logits((2, 4, 6, 6)); t = labels((2, 6, 6), 4)
add("smp_dice_multiclass_soft_label", "dice", {"reduce": "batch", "smooth": 0, "soft_label": True},
    "smp.losses.DiceLoss('multiclass', smooth=0.0)(pred, target)", smp.losses.DiceLoss("multiclass", smooth=0.0), p, t)

p = logits((2, 3, 7, 7)); t = labels((2, 7, 7), 3, ignore=255)
add("smp_dice_multiclass_ignored_pixels", "dice", {"reduce": "batch", "smooth": 0, "soft_label": True, "ignore_index": 255},
    "smp.losses.DiceLoss('multiclass', smooth=0.0, ignore_index=255)(pred, target)",
    smp.losses.DiceLoss("multiclass", smooth=0.0, ignore_index=255), p, t)

p = fixture.f32(rng.random((2, 1, 7, 6))); t = soft((2, 1, 7, 6)); all_present(t)
add("smp_dice_binary_probabilities", "dice", {"reduce": "batch", "smooth": 2, "soft_label": True, "from_logits": False},
    "smp.losses.DiceLoss('binary', smooth=1.0, from_logits=False)(probs, target)",
    smp.losses.DiceLoss("binary", smooth=1.0, from_logits=False), p, t)

p = logits((2, 3, 6, 5)); t = soft((2, 3, 6, 5)); all_present(t)
add("smp_jaccard_multilabel_soft", "jaccard", {"reduce": "batch", "smooth": 0, "soft_label": True},
    "smp.losses.JaccardLoss('multilabel', smooth=0.0)(pred, target)", smp.losses.JaccardLoss("multilabel", smooth=0.0), p, t)

p = logits((2, 1, 8, 8)); t = soft((2, 1, 8, 8)); all_present(t)
add("smp_jaccard_binary_log_smooth", "jaccard", {"reduce": "batch", "smooth": 1, "soft_label": True, "log": True},
    "smp.losses.JaccardLoss('binary', smooth=1.0, log_loss=True)(pred, target)",
    smp.losses.JaccardLoss("binary", smooth=1.0, log_loss=True), p, t)

p = logits((2, 4, 6, 6)); t = labels((2, 6, 6), 4)
add("smp_jaccard_multiclass", "jaccard", {"reduce": "batch", "smooth": 0, "soft_label": True},
    "smp.losses.JaccardLoss('multiclass', smooth=0.0)(pred, target)", smp.losses.JaccardLoss("multiclass", smooth=0.0), p, t)

p = logits((2, 3, 6, 6)); t = soft((2, 3, 6, 6)); all_present(t)
add("smp_tversky_multilabel_soft", "tversky", {"reduce": "batch", "smooth": 1, "soft_label": True, "alpha": 0.3, "beta": 0.7},
    "smp.losses.TverskyLoss('multilabel', smooth=1.0, alpha=0.3, beta=0.7)(pred, target)",
    smp.losses.TverskyLoss("multilabel", smooth=1.0, alpha=0.3, beta=0.7), p, t)

p = logits((2, 1, 8, 8)); t = soft((2, 1, 8, 8)); all_present(t)
add("smp_tversky_binary_gamma", "tversky", {"reduce": "batch", "smooth": 0, "soft_label": True, "alpha": 0.6, "beta": 0.4, "gamma": 2},
    "smp.losses.TverskyLoss('binary', smooth=0.0, alpha=0.6, beta=0.4, gamma=2.0)(pred, target)  # one pair: mean^gamma = pair^gamma",
    smp.losses.TverskyLoss("binary", smooth=0.0, alpha=0.6, beta=0.4, gamma=2.0), p, t)

# --- ignore_mode=mask: MONAI 1.6's ignore_index inside [0, C) --------------------------------------
p = logits((2, 3, 7, 7)); t = labels((2, 1, 7, 7), 3)
add("dice_ignore_mode_mask", "dice", {"ignore_index": 1, "ignore_mode": "mask"},
    "DiceLoss(softmax=True, to_onehot_y=True, ignore_index=1)(pred, target)",
    DiceLoss(softmax=True, to_onehot_y=True, ignore_index=1), p, t)

p = logits((2, 4, 6, 6)); t = labels((2, 1, 6, 6), 4)
add("dice_ignore_mode_mask_batch_soft_label", "dice",
    {"ignore_index": 2, "ignore_mode": "mask", "reduce": "batch", "soft_label": True},
    "DiceLoss(softmax=True, to_onehot_y=True, ignore_index=2, batch=True, soft_label=True)(pred, target)",
    DiceLoss(softmax=True, to_onehot_y=True, ignore_index=2, batch=True, soft_label=True), p, t)

p = logits((2, 4, 6, 5)); t = labels((2, 1, 6, 5), 4)
add("dice_ignore_mode_mask_no_background", "dice", {"ignore_index": 3, "ignore_mode": "mask", "include_background": False},
    "DiceLoss(softmax=True, to_onehot_y=True, ignore_index=3, include_background=False)(pred, target)",
    DiceLoss(softmax=True, to_onehot_y=True, ignore_index=3, include_background=False), p, t)

p = logits((2, 3, 6, 6)); t = labels((2, 1, 6, 6), 3)
add("dice_ignore_mode_mask_squared", "dice", {"ignore_index": 0, "ignore_mode": "mask", "squared": True},
    "DiceLoss(softmax=True, to_onehot_y=True, ignore_index=0, squared_pred=True)(pred, target)",
    DiceLoss(softmax=True, to_onehot_y=True, ignore_index=0, squared_pred=True), p, t)

p = logits((2, 1, 8, 8)); t = binary((2, 1, 8, 8)); t[rng.random(t.shape) < 0.2] = 255
add("dice_ignore_mode_mask_binary", "dice", {"ignore_index": 255, "ignore_mode": "mask"},
    "DiceLoss(sigmoid=True, ignore_index=255)(pred, target)  # binary: both modes mask the elements",
    DiceLoss(sigmoid=True, ignore_index=255), p, t)

p = logits((2, 3, 6, 6)); t = labels((2, 1, 6, 6), 3)
add("jaccard_ignore_mode_mask", "jaccard", {"ignore_index": 2, "ignore_mode": "mask"},
    "DiceLoss(softmax=True, to_onehot_y=True, jaccard=True, ignore_index=2, smooth_nr=2e-5, smooth_dr=2e-5)(pred, target)",
    DiceLoss(softmax=True, to_onehot_y=True, jaccard=True, ignore_index=2, smooth_nr=2e-5, smooth_dr=2e-5), p, t)

p = logits((2, 3, 7, 6)); t = labels((2, 1, 7, 6), 3)
add("tversky_ignore_mode_mask", "tversky", {"ignore_index": 1, "ignore_mode": "mask", "alpha": 0.3, "beta": 0.7},
    "TverskyLoss(softmax=True, to_onehot_y=True, ignore_index=1, alpha=0.3, beta=0.7)(pred, target)",
    TverskyLoss(softmax=True, to_onehot_y=True, ignore_index=1, alpha=0.3, beta=0.7), p, t)

p = logits((2, 3, 6, 6)); t = labels((2, 1, 6, 6), 3)
add("gdl_ignore_mode_mask", "generalized_dice", {"ignore_index": 1, "ignore_mode": "mask"},
    "GeneralizedDiceLoss()(*mask_loss_inputs(softmax(pred, 1), one_hot(target, 3), 1, mask=create_ignore_mask(target, 1)))"
    "  # MONAI's GDL has no ignore_index: DiceLoss's masking helpers",
    gdl_masked(1), p, t)

p = logits((2, 3, 7, 7)); t = labels((2, 1, 7, 7), 3)
add("log_cosh_dice_ignore_mode_mask", "log_cosh_dice", {"ignore_index": 1, "ignore_mode": "mask"},
    "log(cosh(DiceLoss(softmax=True, to_onehot_y=True, ignore_index=1)(pred, target)))",
    log_cosh(DiceLoss(softmax=True, to_onehot_y=True, ignore_index=1)), p, t)

# --- reduction=sum -------------------------------------------------------------------------------
p = logits((2, 3, 6, 7)); t = labels((2, 1, 6, 7), 3)
add("dice_reduction_sum", "dice", {"reduction": "sum"},
    "DiceLoss(softmax=True, to_onehot_y=True, reduction='sum')(pred, target)",
    DiceLoss(softmax=True, to_onehot_y=True, reduction="sum"), p, t)

p = logits((2, 4, 6, 6)); t = labels((2, 1, 6, 6), 4)
add("dice_reduction_sum_class_weights", "dice", {"reduction": "sum", "class_weights": [0.5, 2, 1, 3]},
    "DiceLoss(softmax=True, to_onehot_y=True, weight=[0.5, 2.0, 1.0, 3.0], reduction='sum')(pred, target)",
    DiceLoss(softmax=True, to_onehot_y=True, weight=[0.5, 2.0, 1.0, 3.0], reduction="sum"), p, t)

p = logits((2, 3, 6, 6)); t = labels((2, 1, 6, 6), 3)
add("dice_reduction_sum_no_background_weights", "dice",
    {"reduction": "sum", "include_background": False, "class_weights": [1, 2, 0.5]},
    "DiceLoss(softmax=True, to_onehot_y=True, include_background=False, weight=[2.0, 0.5], reduction='sum')(pred, target)"
    "  # MONAI's weight has no background entry",
    DiceLoss(softmax=True, to_onehot_y=True, include_background=False, weight=[2.0, 0.5], reduction="sum"), p, t)

p = logits((3, 3, 5, 5)); t = soft((3, 3, 5, 5))
add("dice_reduction_sum_batch_multilabel", "dice", {"reduction": "sum", "reduce": "batch"},
    "DiceLoss(sigmoid=True, batch=True, reduction='sum')(pred, target)", DiceLoss(sigmoid=True, batch=True, reduction="sum"), p, t)

p = logits((3, 1, 8, 8)); t = binary((3, 1, 8, 8))
add("dice_reduction_sum_binary_squared", "dice", {"reduction": "sum", "squared": True},
    "DiceLoss(sigmoid=True, squared_pred=True, reduction='sum')(pred, target)",
    DiceLoss(sigmoid=True, squared_pred=True, reduction="sum"), p, t)

p = logits((2, 3, 7, 7)); t = labels((2, 1, 7, 7), 3, ignore=255)
add("dice_reduction_sum_ignored_pixels", "dice", {"reduction": "sum", "ignore_index": 255},
    "DiceLoss(softmax=True, to_onehot_y=True, ignore_index=255, reduction='sum')(pred, target)",
    DiceLoss(softmax=True, to_onehot_y=True, ignore_index=255, reduction="sum"), p, t)

p = logits((2, 3, 6, 6)); t = labels((2, 1, 6, 6), 3)
add("dice_reduction_sum_mask_soft_label", "dice", {"reduction": "sum", "ignore_index": 1, "ignore_mode": "mask", "soft_label": True},
    "DiceLoss(softmax=True, to_onehot_y=True, ignore_index=1, soft_label=True, reduction='sum')(pred, target)",
    DiceLoss(softmax=True, to_onehot_y=True, ignore_index=1, soft_label=True, reduction="sum"), p, t)

p = logits((2, 3, 6, 6)); t = labels((2, 1, 6, 6), 3)
add("jaccard_reduction_sum", "jaccard", {"reduction": "sum"},
    "DiceLoss(softmax=True, to_onehot_y=True, jaccard=True, smooth_nr=2e-5, smooth_dr=2e-5, reduction='sum')(pred, target)",
    DiceLoss(softmax=True, to_onehot_y=True, jaccard=True, smooth_nr=2e-5, smooth_dr=2e-5, reduction="sum"), p, t)

p = logits((2, 4, 6, 6)); t = labels((2, 1, 6, 6), 4)
add("tversky_reduction_sum", "tversky", {"reduction": "sum", "alpha": 0.7, "beta": 0.3},
    "TverskyLoss(softmax=True, to_onehot_y=True, alpha=0.7, beta=0.3, reduction='sum')(pred, target)",
    TverskyLoss(softmax=True, to_onehot_y=True, alpha=0.7, beta=0.3, reduction="sum"), p, t)

p = logits((2, 2, 4, 4, 3)); t = soft((2, 2, 4, 4, 3))
add("tversky_reduction_sum_batch_soft_label", "tversky", {"reduction": "sum", "reduce": "batch", "soft_label": True},
    "TverskyLoss(sigmoid=True, batch=True, soft_label=True, reduction='sum')(pred, target)",
    TverskyLoss(sigmoid=True, batch=True, soft_label=True, reduction="sum"), p, t)

p = logits((3, 4, 6, 6)); t = labels((3, 1, 6, 6), 4); t[1][t[1] == 3] = 0
add("gdl_reduction_sum", "generalized_dice", {"reduction": "sum"},
    "GeneralizedDiceLoss(softmax=True, to_onehot_y=True, reduction='sum')(pred, target)  # class 3 absent from image 1",
    GeneralizedDiceLoss(softmax=True, to_onehot_y=True, reduction="sum"), p, t)

p = logits((2, 3, 5, 5)); t = labels((2, 1, 5, 5), 3)
add("gdl_reduction_sum_batch", "generalized_dice", {"reduction": "sum", "reduce": "batch", "weight_type": "simple"},
    "GeneralizedDiceLoss(softmax=True, to_onehot_y=True, batch=True, w_type='simple', reduction='sum')(pred, target)",
    GeneralizedDiceLoss(softmax=True, to_onehot_y=True, batch=True, w_type="simple", reduction="sum"), p, t)

p = logits((2, 3, 6, 6)); t = labels((2, 1, 6, 6), 3)
add("log_cosh_dice_reduction_sum", "log_cosh_dice", {"reduction": "sum"},
    "log(cosh(DiceLoss(softmax=True, to_onehot_y=True, reduction='sum')(pred, target)))",
    log_cosh(DiceLoss(softmax=True, to_onehot_y=True, reduction="sum")), p, t)

# --- eps: smooth_dr below eps on near-empty pairs ---------------------------------------------
p = logits((2, 1, 6, 6)); t = fixture.f32(np.zeros((2, 1, 6, 6)))
add("gdl_smooth_1e-8_empty_foreground", "generalized_dice", {"smooth": 1e-8},
    "GeneralizedDiceLoss(sigmoid=True, smooth_nr=1e-8, smooth_dr=1e-8)(pred, zeros)  # 0.0; a clamp at 1e-7 gives 0.9",
    GeneralizedDiceLoss(sigmoid=True, smooth_nr=1e-8, smooth_dr=1e-8), p, t)

p = logits((2, 1, 6, 6)); t = fixture.f32(np.zeros((2, 1, 6, 6)))
add("gdl_smooth_dr_1e-8_empty_foreground", "generalized_dice", {"smooth_dr": 1e-8},
    "GeneralizedDiceLoss(sigmoid=True, smooth_dr=1e-8)(pred, zeros)  # 1 - 1e-5/1e-8",
    GeneralizedDiceLoss(sigmoid=True, smooth_dr=1e-8), p, t)

p = logits((2, 3, 6, 6)); t = np.zeros((2, 1, 6, 6), dtype=np.int64)
add("gdl_smooth_1e-8_no_foreground_class", "generalized_dice", {"smooth": 1e-8, "include_background": False},
    "GeneralizedDiceLoss(softmax=True, to_onehot_y=True, include_background=False, smooth_nr=1e-8, smooth_dr=1e-8)(pred, zeros)",
    GeneralizedDiceLoss(softmax=True, to_onehot_y=True, include_background=False, smooth_nr=1e-8, smooth_dr=1e-8), p, t)

p = fixture.f32(logits((2, 1, 6, 6), 1.0) - 25.0); t = fixture.f32(np.zeros((2, 1, 6, 6)))
add("dice_smooth_1e-8_tiny_denominator", "dice", {"smooth": 1e-8},
    "DiceLoss(sigmoid=True, smooth_nr=1e-8, smooth_dr=1e-8)(pred, zeros)  # pred ~ -25: P + dr < 1e-7",
    DiceLoss(sigmoid=True, smooth_nr=1e-8, smooth_dr=1e-8), p, t)

p = fixture.f32(logits((2, 2, 5, 5), 1.0) - 24.0); t = fixture.f32(np.zeros((2, 2, 5, 5)))
add("tversky_smooth_1e-8_tiny_denominator", "tversky", {"smooth": 1e-8, "alpha": 0.7, "beta": 0.3},
    "TverskyLoss(sigmoid=True, alpha=0.7, beta=0.3, smooth_nr=1e-8, smooth_dr=1e-8)(pred, zeros)",
    TverskyLoss(sigmoid=True, alpha=0.7, beta=0.3, smooth_nr=1e-8, smooth_dr=1e-8), p, t)

p = fixture.f32(logits((2, 1, 6, 6), 1.0) - 25.0); t = fixture.f32(np.zeros((2, 1, 6, 6)))
add("jaccard_smooth_1e-8_tiny_denominator", "jaccard", {"smooth": 5e-9},
    "DiceLoss(sigmoid=True, jaccard=True, smooth_nr=1e-8, smooth_dr=1e-8)(pred, zeros)",
    DiceLoss(sigmoid=True, jaccard=True, smooth_nr=1e-8, smooth_dr=1e-8), p, t)

fixture.write(
    OUT,
    "tools/golden/overlap_parity.py",
    {"python": platform.python_version(), "torch": torch.__version__, "monai": monai.__version__,
     "segmentation_models_pytorch": smp.__version__, "numpy": np.__version__},
    CASES,
    extra={"dtype": "reference computed in float64 on float32 inputs",
           "tolerance": {"value_rtol": VALUE_RTOL, "value_atol": VALUE_ATOL, "grad_rtol_of_max": GRAD_RTOL}},
)

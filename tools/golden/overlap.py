"""Golden values for the overlap family (crates/segloss-overlap/tests/fixtures/overlap.json).

Run: /work/venv/py/bin/python tools/golden/overlap.py

Each case holds the segloss spec (name + keys), the Python call that produced the reference
(`python`), the inputs `pred` and `target` (float32 values, or int64 labels; the reference runs in
float64 on exactly those values), the value and the gradient with respect to pred (float64, as
computed). Where LOSSES.md relates the anchor by a factor (MONAI's `weight`), the stored value and
gradient are the anchor's times that factor, and `python` says so. The format is fixture.py's.
"""
import os
import sys

import monai
import numpy as np
import segmentation_models_pytorch as smp
import torch
from monai.losses import DiceLoss, GeneralizedDiceLoss, TverskyLoss

import fixture

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "crates", "segloss-overlap", "tests", "fixtures", "overlap.json")
rng = np.random.default_rng(20261126)
cases = []


def f32(a):
    return np.asarray(a, dtype=np.float32)


def logits(shape, scale=2.0):
    return f32(rng.normal(0.0, scale, size=shape))


def labels(shape, c, absent=()):
    lab = rng.integers(0, c, size=shape)
    for k in absent:
        lab[lab == k] = (k + 1) % c
    return lab.astype(np.int64)


def binary(shape, frac=0.3):
    return f32(rng.random(shape) < frac)


def soft(shape):
    return f32(np.round(rng.random(shape), 3))


def all_present(t, c, axis=1):
    """smp equals ours only when every channel has G > 0 over the batch."""
    if t.dtype == np.int64:
        assert all((t == k).any() for k in range(c)), "a class is absent"
    else:
        assert (t.sum(axis=tuple(i for i in range(t.ndim) if i != axis)) > 0).all(), "a channel is empty"


def run(fn, pred, target):
    x = torch.tensor(pred.astype(np.float64), requires_grad=True)
    t = torch.tensor(target) if target.dtype == np.int64 else torch.tensor(target.astype(np.float64))
    v = fn(x, t)
    v.backward()
    return float(v.item()), x.grad.numpy().astype(np.float64)


def add(case_id, name, keys, call, fn, pred, target, factor=1.0, target_for_rust=None):
    value, grad = run(fn, pred, target)
    tr = target if target_for_rust is None else target_for_rust
    cases.append(
        fixture.case(
            case_id,
            fixture.spec(name, keys),
            call,
            {"pred": f32(pred), "target": tr if tr.dtype == np.int64 else f32(tr)},
            value=value * factor,
            grad=grad * factor,
        )
    )


# --- dice, MONAI -----------------------------------------------------------------------------
p = logits((2, 1, 8, 8)); t = binary((2, 1, 8, 8))
add("dice_binary_2d", "dice", {}, "DiceLoss(sigmoid=True)(pred, target)", DiceLoss(sigmoid=True), p, t)

p = logits((2, 3, 6, 7)); t = labels((2, 1, 6, 7), 3)
add("dice_multiclass_softmax", "dice", {}, "DiceLoss(softmax=True, to_onehot_y=True)(pred, target)",
    DiceLoss(softmax=True, to_onehot_y=True), p, t)

p = logits((2, 3, 4, 5, 6)); t = soft((2, 3, 4, 5, 6))
add("dice_3d_multilabel_soft_batch_squared", "dice", {"reduce": "batch", "squared": "true"},
    "DiceLoss(sigmoid=True, batch=True, squared_pred=True)(pred, target)",
    DiceLoss(sigmoid=True, batch=True, squared_pred=True), p, t)

p = logits((2, 4, 5, 5)); t = labels((2, 1, 5, 5), 4)
add("dice_smooth_nr_dr", "dice", {"smooth_nr": "0.5", "smooth_dr": "1"},
    "DiceLoss(softmax=True, to_onehot_y=True, smooth_nr=0.5, smooth_dr=1.0)(pred, target)",
    DiceLoss(softmax=True, to_onehot_y=True, smooth_nr=0.5, smooth_dr=1.0), p, t)

w = [0.5, 2.0, 1.0, 3.0]
p = logits((2, 4, 6, 6)); t = labels((2, 1, 6, 6), 4)
add("dice_class_weights", "dice", {"class_weights": "[0.5,2,1,3]"},
    "DiceLoss(softmax=True, to_onehot_y=True, weight=[0.5, 2, 1, 3])(pred, target) * C / sum(weight)",
    DiceLoss(softmax=True, to_onehot_y=True, weight=w), p, t, factor=4 / sum(w))

p = f32(rng.random((2, 3, 6, 6))); p = f32(p / p.sum(axis=1, keepdims=True)); t = labels((2, 1, 6, 6), 3)
add("dice_probabilities", "dice", {"from_logits": "false"}, "DiceLoss(to_onehot_y=True)(probs, target)",
    DiceLoss(to_onehot_y=True), p, t)

p = logits((2, 3, 6, 6)); t = labels((2, 1, 6, 6), 3)
add("dice_no_background", "dice", {"include_background": "false"},
    "DiceLoss(softmax=True, to_onehot_y=True, include_background=False)(pred, target)",
    DiceLoss(softmax=True, to_onehot_y=True, include_background=False), p, t)

p = logits((3, 1, 7, 9)); t = binary((3, 1, 7, 9)); t[1] = 0.0
add("dice_empty_target_image", "dice", {}, "DiceLoss(sigmoid=True)(pred, target)  # image 1 has no positive pixel",
    DiceLoss(sigmoid=True), p, t)

p = logits((2, 1, 9, 9)); t = f32(np.zeros((2, 1, 9, 9)))
add("dice_all_empty_batch", "dice", {}, "DiceLoss(sigmoid=True)(pred, zeros)", DiceLoss(sigmoid=True), p, t)

p = logits((2, 4, 6, 6)); t = labels((2, 1, 6, 6), 4, absent=(2,))
add("dice_class_absent_from_batch", "dice", {}, "DiceLoss(softmax=True, to_onehot_y=True)(pred, target)  # class 2 absent",
    DiceLoss(softmax=True, to_onehot_y=True), p, t)

p = logits((2, 3, 7, 7)); t = labels((2, 1, 7, 7), 3); t[rng.random(t.shape) < 0.25] = 255
add("dice_ignored_pixels", "dice", {"ignore_index": "255"},
    "DiceLoss(softmax=True, to_onehot_y=True, ignore_index=255)(pred, target)",
    DiceLoss(softmax=True, to_onehot_y=True, ignore_index=255), p, t)

p = logits((3, 2, 8, 8)); t = labels((3, 1, 8, 8), 2)
add("dice_c2", "dice", {}, "DiceLoss(softmax=True, to_onehot_y=True)(pred, target)", DiceLoss(softmax=True, to_onehot_y=True), p, t)

p = logits((2, 21, 8, 8)); t = labels((2, 1, 8, 8), 21)
add("dice_c21", "dice", {}, "DiceLoss(softmax=True, to_onehot_y=True)(pred, target)", DiceLoss(softmax=True, to_onehot_y=True), p, t)

p = logits((2, 21, 8, 8)); t = labels((2, 1, 8, 8), 21)
add("dice_c21_batch_squared", "dice", {"reduce": "batch", "squared": "true"},
    "DiceLoss(softmax=True, to_onehot_y=True, batch=True, squared_pred=True)(pred, target)",
    DiceLoss(softmax=True, to_onehot_y=True, batch=True, squared_pred=True), p, t)

p = logits((2, 3, 5, 6)); t = soft((2, 3, 5, 6)); t = f32(t / t.sum(axis=1, keepdims=True))
add("dice_multiclass_class_probabilities", "dice", {"mode": "multiclass"},
    "DiceLoss(softmax=True)(pred, class_probabilities)", DiceLoss(softmax=True), p, t)

# --- jaccard ---------------------------------------------------------------------------------
p = logits((2, 3, 6, 6)); t = labels((2, 1, 6, 6), 3)
add("jaccard_softmax", "jaccard", {}, "DiceLoss(softmax=True, to_onehot_y=True, jaccard=True, smooth_nr=2e-5, smooth_dr=2e-5)(pred, target)",
    DiceLoss(softmax=True, to_onehot_y=True, jaccard=True, smooth_nr=2e-5, smooth_dr=2e-5), p, t)

p = logits((2, 2, 4, 4, 4)); t = soft((2, 2, 4, 4, 4))
add("jaccard_3d_soft_batch", "jaccard", {"reduce": "batch", "smooth": "0.5"},
    "DiceLoss(sigmoid=True, jaccard=True, batch=True, smooth_nr=1.0, smooth_dr=1.0)(pred, target)",
    DiceLoss(sigmoid=True, jaccard=True, batch=True, smooth_nr=1.0, smooth_dr=1.0), p, t)

# --- tversky ---------------------------------------------------------------------------------
p = logits((2, 1, 8, 8)); t = binary((2, 1, 8, 8))
add("tversky_binary", "tversky", {"alpha": "0.3", "beta": "0.7"}, "TverskyLoss(sigmoid=True, alpha=0.3, beta=0.7)(pred, target)",
    TverskyLoss(sigmoid=True, alpha=0.3, beta=0.7), p, t)

p = logits((2, 4, 6, 6)); t = labels((2, 1, 6, 6), 4)
add("tversky_softmax", "tversky", {"alpha": "0.7", "beta": "0.3", "smooth_nr": "1", "smooth_dr": "1"},
    "TverskyLoss(softmax=True, to_onehot_y=True, alpha=0.7, beta=0.3, smooth_nr=1.0, smooth_dr=1.0)(pred, target)",
    TverskyLoss(softmax=True, to_onehot_y=True, alpha=0.7, beta=0.3, smooth_nr=1.0, smooth_dr=1.0), p, t)

p = logits((2, 3, 3, 4, 5)); t = soft((2, 3, 3, 4, 5))
add("tversky_3d_soft_batch", "tversky", {"alpha": "0.4", "beta": "0.9", "reduce": "batch"},
    "TverskyLoss(sigmoid=True, alpha=0.4, beta=0.9, batch=True)(pred, target)",
    TverskyLoss(sigmoid=True, alpha=0.4, beta=0.9, batch=True), p, t)

p = logits((2, 3, 7, 7)); t = labels((2, 1, 7, 7), 3); t[rng.random(t.shape) < 0.2] = 255
add("tversky_ignored_pixels", "tversky", {"ignore_index": "255"},
    "TverskyLoss(softmax=True, to_onehot_y=True, ignore_index=255)(pred, target)",
    TverskyLoss(softmax=True, to_onehot_y=True, ignore_index=255), p, t)

# --- generalized dice ------------------------------------------------------------------------
p = logits((3, 4, 6, 6)); t = labels((3, 1, 6, 6), 4); t[1][t[1] == 3] = 0
add("gdl_square_absent_in_image", "generalized_dice", {},
    "GeneralizedDiceLoss(softmax=True, to_onehot_y=True)(pred, target)  # class 3 absent from image 1",
    GeneralizedDiceLoss(softmax=True, to_onehot_y=True), p, t)

p = logits((2, 3, 5, 5)); t = labels((2, 1, 5, 5), 3, absent=(1,))
add("gdl_simple_batch", "generalized_dice", {"weight_type": "simple", "reduce": "batch"},
    "GeneralizedDiceLoss(softmax=True, to_onehot_y=True, w_type='simple', batch=True)(pred, target)  # class 1 absent",
    GeneralizedDiceLoss(softmax=True, to_onehot_y=True, w_type="simple", batch=True), p, t)

p = logits((2, 2, 4, 4, 3)); t = soft((2, 2, 4, 4, 3))
add("gdl_uniform_3d_soft", "generalized_dice", {"weight_type": "uniform", "smooth_nr": "0.1", "smooth_dr": "0.2"},
    "GeneralizedDiceLoss(sigmoid=True, w_type='uniform', smooth_nr=0.1, smooth_dr=0.2)(pred, target)",
    GeneralizedDiceLoss(sigmoid=True, w_type="uniform", smooth_nr=0.1, smooth_dr=0.2), p, t)

p = logits((2, 1, 6, 6)); t = f32(np.zeros((2, 1, 6, 6)))
add("gdl_all_empty", "generalized_dice", {}, "GeneralizedDiceLoss(sigmoid=True)(pred, zeros)", GeneralizedDiceLoss(sigmoid=True), p, t)

# --- segmentation_models_pytorch -------------------------------------------------------------
p = logits((2, 4, 6, 6)); t = labels((2, 6, 6), 4); all_present(t, 4)
add("smp_multiclass", "dice", {"reduce": "batch", "smooth": "0"}, "smp.losses.DiceLoss('multiclass', smooth=0)(pred, target)",
    smp.losses.DiceLoss("multiclass", smooth=0.0), p, t)

p = logits((2, 1, 8, 8)); t = binary((2, 1, 8, 8)); all_present(t, 1)
add("smp_binary", "dice", {"reduce": "batch", "smooth": "0"}, "smp.losses.DiceLoss('binary', smooth=0)(pred, target)",
    smp.losses.DiceLoss("binary", smooth=0.0), p, t)

p = logits((2, 3, 5, 7)); t = binary((2, 3, 5, 7), 0.5); all_present(t, 3)
add("smp_multilabel_log", "dice", {"reduce": "batch", "smooth": "0", "log": "true"},
    "smp.losses.DiceLoss('multilabel', smooth=0, log_loss=True)(pred, target)",
    smp.losses.DiceLoss("multilabel", smooth=0.0, log_loss=True), p, t)

# --- log-cosh Dice (Jadon 2020): log(cosh(L)), L the Dice loss -----------------------------------
def log_cosh(loss):
    """log(cosh(loss(x, t))), as Jadon applies it to the final Dice scalar."""
    return lambda x, t: torch.log(torch.cosh(loss(x, t)))


def jadon_log_cosh_dice_loss(y_pred, y_true):
    """Jadon's `log_cosh_dice_loss(y_true, y_pred)` (loss-functions repository), in torch."""
    smooth = 1.0
    y_true_f = torch.flatten(y_true)
    y_pred_f = torch.flatten(y_pred)
    intersection = torch.sum(y_true_f * y_pred_f)
    score = (2.0 * intersection + smooth) / (torch.sum(y_true_f) + torch.sum(y_pred_f) + smooth)
    x = 1 - score
    return torch.log((torch.exp(x) + torch.exp(-x)) / 2.0)


p = logits((2, 1, 8, 8)); t = binary((2, 1, 8, 8))
add("log_cosh_dice_binary", "log_cosh_dice", {}, "log(cosh(DiceLoss(sigmoid=True)(pred, target)))",
    log_cosh(DiceLoss(sigmoid=True)), p, t)

p = logits((2, 3, 7, 7)); t = labels((2, 1, 7, 7), 3); t[rng.random(t.shape) < 0.25] = 255
add("log_cosh_dice_ignored_pixels", "log_cosh_dice", {"ignore_index": "255"},
    "log(cosh(DiceLoss(softmax=True, to_onehot_y=True, ignore_index=255)(pred, target)))",
    log_cosh(DiceLoss(softmax=True, to_onehot_y=True, ignore_index=255)), p, t)

p = logits((2, 3, 4, 5, 6)); t = soft((2, 3, 4, 5, 6))
add("log_cosh_dice_3d_multilabel_soft_batch_squared", "log_cosh_dice", {"reduce": "batch", "squared": "true"},
    "log(cosh(DiceLoss(sigmoid=True, batch=True, squared_pred=True)(pred, target)))",
    log_cosh(DiceLoss(sigmoid=True, batch=True, squared_pred=True)), p, t)

p = f32(rng.random((3, 1, 6, 6))); t = binary((3, 1, 6, 6))
add("log_cosh_dice_jadon", "log_cosh_dice", {"reduce": "batch", "smooth": "1", "from_logits": "false"},
    "log_cosh_dice_loss(target, probs)  # Jadon's code: log((exp(x) + exp(-x)) / 2), x = 1 - (2 I + 1)/(G + P + 1) over the batch",
    jadon_log_cosh_dice_loss, p, t)

fixture.write(
    OUT,
    "tools/golden/overlap.py",
    {"python": sys.version.split()[0], "torch": torch.__version__, "monai": monai.__version__,
     "segmentation_models_pytorch": smp.__version__, "numpy": np.__version__},
    cases,
    extra={"dtype": "reference computed in float64 on float32 inputs"},
)

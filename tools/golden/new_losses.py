#!/usr/bin/env python3
"""Golden values for `mcc` and `unified_focal` (segloss-overlap), written to
crates/segloss-overlap/tests/fixtures/new_losses.json and checked by
crates/segloss-overlap/tests/new_losses.rs.

Run from the workspace root:

    /work/venv/py/bin/python tools/golden/new_losses.py

Every reference is the library's own class, called in float64 on float32 inputs:

- `mcc`: segmentation_models_pytorch 0.6 `MCCLoss(eps)` (smp.losses.MCCLoss). smp takes
  probabilities and applies no activation: the logit cases call it on `torch.sigmoid(pred)`
  (segloss's default `from_logits=true`), the `from_logits=false` cases on `pred` itself. smp pools
  every element of the batch (all images, all channels) into one set of counts, each `+ eps`.
- `unified_focal`: MONAI 1.6 `AsymmetricUnifiedFocalLoss(to_onehot_y, num_classes=2, weight,
  gamma, delta)` (monai.losses.AsymmetricUnifiedFocalLoss). MONAI applies no activation either
  (its docstring speaks of a sigmoid, its code only clamps to [1e-7, 1 - 1e-7]): the logit cases
  call it on `torch.sigmoid(pred)` (one channel; MONAI expands it to [1 - p, p]) or
  `torch.softmax(pred, 1)` (two channels), the `from_logits=false` cases on `pred` itself.
  Labels go in as [N, 1, *S] with `to_onehot_y=True`; two-channel class probabilities with
  `to_onehot_y=False`. Its `reduction` has no effect (the two sub-losses are built with their
  default mean), so none is passed.

`value` is the stored Python call and `grad` its torch-autograd gradient with respect to `pred`
(through the sigmoid or softmax for the logit cases; torch.clamp's gradient is 0 outside the
bounds, 1 inside and on them). One case stores no gradient: `delta=1` with an image whose
foreground is empty has `1 - TI = 0` there, where MONAI's `pow(0, 1 - gamma)` has an infinite
derivative (segloss takes 0).
"""

import os
import sys
import warnings

import monai
import numpy as np
import segmentation_models_pytorch as smp
import torch
from monai.losses import AsymmetricUnifiedFocalLoss
from segmentation_models_pytorch.losses import MCCLoss

import fixture

warnings.filterwarnings("ignore", message="single channel prediction")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "crates", "segloss-overlap", "tests", "fixtures", "new_losses.json")

rng = np.random.default_rng(20270118)
draw = fixture.Draws(rng)
f32, logits, labels = fixture.f32, draw.logits, draw.labels
cases = []


def mask(shape, p=0.4):
    return f32(rng.random(shape) < p)


def soft(shape):
    return f32(rng.random(shape))


def probs_of(x, two):
    """float32 probabilities of float32 logits: the softmax over axis 1 (two) or the sigmoid."""
    t = torch.tensor(x.astype(np.float64))
    p = torch.softmax(t, 1) if two else torch.sigmoid(t)
    return f32(p.numpy())


def run(fn, pred, activation, grad=True):
    """The value of `fn(activation(pred))` and its gradient with respect to `pred`, in float64."""
    x = torch.tensor(pred.astype(np.float64), requires_grad=True)
    v = fn(activation(x))
    if not grad:
        return float(v.item()), None
    v.backward()
    return float(v.item()), x.grad.numpy().astype(np.float64)


ACT = {
    "sigmoid": (torch.sigmoid, "torch.sigmoid(pred)"),
    "softmax": (lambda t: torch.softmax(t, 1), "torch.softmax(pred, 1)"),
    "none": (lambda t: t, "pred"),
}


def add_mcc(name, pred, target, eps=None, from_logits=True, mode=None, note=None):
    keys = {}
    if eps is not None:
        keys["smooth"] = eps
    if not from_logits:
        keys["from_logits"] = False
    if mode is not None:
        keys["mode"] = mode
    e = 1e-5 if eps is None else eps
    act, act_text = ACT["sigmoid" if from_logits else "none"]
    y = torch.tensor(target.astype(np.float64))
    value, grad = run(lambda p: MCCLoss(eps=e)(p, y), pred, act)
    call = f"MCCLoss(eps={e!r})({act_text}, target)"
    cases.append(fixture.case(name, fixture.spec("mcc", keys), call, {"pred": pred, "target": target},
                              value=value, grad=grad, extra={"note": note} if note else None))


def add_uf(name, pred, target, weight=None, gamma=None, delta=None, from_logits=True, mode=None,
           grad=True, note=None):
    two = pred.shape[1] == 2
    keys = {}
    for k, v in (("weight", weight), ("delta", delta), ("gamma", gamma)):
        if v is not None:
            keys[k] = v
    if not from_logits:
        keys["from_logits"] = False
    if mode is not None:
        keys["mode"] = mode
    w = 0.5 if weight is None else weight
    g = 0.5 if gamma is None else gamma
    d = 0.7 if delta is None else delta
    act, act_text = ACT[("softmax" if two else "sigmoid") if from_logits else "none"]
    lab = target.dtype == np.int64
    if lab:
        y = torch.tensor(target[:, None])  # labels [N, 1, *S], one-hot by MONAI
        y_text = "target[:, None]"
    else:
        y = torch.tensor(target.astype(np.float64))
        y_text = "target"
    loss = AsymmetricUnifiedFocalLoss(to_onehot_y=lab, num_classes=2, weight=w, gamma=g, delta=d)
    value, gr = run(lambda p: loss(p, y), pred, act, grad=grad)
    call = (f"AsymmetricUnifiedFocalLoss(to_onehot_y={lab}, num_classes=2, weight={w!r}, gamma={g!r}, "
            f"delta={d!r})({act_text}, {y_text})")
    cases.append(fixture.case(name, fixture.spec("unified_focal", keys), call, {"pred": pred, "target": target},
                              value=value, grad=gr, extra={"note": note} if note else None))


# --- mcc: smp MCCLoss ---------------------------------------------------------------------------
add_mcc("mcc_binary_2d", logits((2, 1, 9, 11)), mask((2, 1, 9, 11)))
add_mcc("mcc_binary_no_channel", logits((3, 8, 7)), mask((3, 8, 7)), mode="binary",
        note="pred [N, H, W] (smp accepts (N, H, W)); segloss reads it with mode=binary")
add_mcc("mcc_binary_probabilities", probs_of(logits((2, 1, 8, 9)), False), mask((2, 1, 8, 9)), from_logits=False)
add_mcc("mcc_binary_soft_targets", logits((2, 1, 7, 7)), soft((2, 1, 7, 7)))
add_mcc("mcc_multilabel_3ch", logits((2, 3, 6, 5)), mask((2, 3, 6, 5)),
        note="smp flattens every channel of every image into one set of counts")
add_mcc("mcc_multilabel_probabilities", probs_of(logits((2, 3, 5, 4)), False), soft((2, 3, 5, 4)), from_logits=False)
add_mcc("mcc_eps_1e-3", logits((2, 1, 6, 6)), mask((2, 1, 6, 6)), eps=1e-3)
add_mcc("mcc_eps_1", logits((2, 1, 6, 6)), mask((2, 1, 6, 6)), eps=1.0)
add_mcc("mcc_3d", logits((2, 1, 4, 5, 6)), mask((2, 1, 4, 5, 6)))
add_mcc("mcc_1d", logits((2, 2, 40)), mask((2, 2, 40)))
empty = mask((2, 1, 8, 8))
empty[0] = 0.0
add_mcc("mcc_empty_image", logits((2, 1, 8, 8)), empty, note="image 0 has an empty target")
add_mcc("mcc_empty_batch", logits((2, 1, 5, 5)), f32(np.zeros((2, 1, 5, 5))),
        note="no foreground anywhere: TP and FN are eps alone")
add_mcc("mcc_full_batch", logits((1, 1, 5, 5)), f32(np.ones((1, 1, 5, 5))))
add_mcc("mcc_large_logits", logits((2, 1, 6, 6), scale=40.0), mask((2, 1, 6, 6)), note="saturated sigmoid")
# several blocks of 8192 elements (the reduction's row segments)
add_mcc("mcc_multi_block", logits((1, 1, 92, 90)), mask((1, 1, 92, 90)))
u8 = (rng.random((2, 1, 6, 7)) < 0.5).astype(np.uint8)
add_mcc("mcc_uint8_target", logits((2, 1, 6, 7)), u8, note="uint8 0/1 targets")

# --- unified_focal: MONAI AsymmetricUnifiedFocalLoss -----------------------------------------
add_uf("uf_binary_2d", logits((2, 1, 9, 11)), mask((2, 1, 9, 11)))
add_uf("uf_binary_probabilities", probs_of(logits((2, 1, 8, 9)), False), mask((2, 1, 8, 9)), from_logits=False)
add_uf("uf_binary_soft_targets", logits((2, 1, 7, 7)), soft((2, 1, 7, 7)))
add_uf("uf_two_channel_labels", logits((2, 2, 8, 7)), labels((2, 8, 7), 2))
add_uf("uf_two_channel_class_probabilities", logits((2, 2, 6, 6)), probs_of(logits((2, 2, 6, 6)), True),
       mode="multiclass")
add_uf("uf_two_channel_probabilities_unnormalised", soft((2, 2, 6, 7)), labels((2, 6, 7), 2), from_logits=False,
       note="two independent probabilities per pixel (not summing to 1): MONAI takes them as given")
add_uf("uf_keys", logits((2, 1, 8, 8)), mask((2, 1, 8, 8)), weight=0.3, gamma=0.25, delta=0.6)
add_uf("uf_keys_two_channel", logits((2, 2, 7, 6)), labels((2, 7, 6), 2), weight=0.8, gamma=0.75, delta=0.4)
add_uf("uf_gamma_0", logits((2, 1, 6, 6)), mask((2, 1, 6, 6)), gamma=0.0)
add_uf("uf_gamma_1", logits((2, 2, 6, 6)), labels((2, 6, 6), 2), gamma=1.0)
add_uf("uf_weight_0", logits((2, 1, 6, 6)), mask((2, 1, 6, 6)), weight=0.0, note="the focal Tversky term alone")
add_uf("uf_weight_1", logits((2, 1, 6, 6)), mask((2, 1, 6, 6)), weight=1.0, note="the asymmetric focal term alone")
add_uf("uf_delta_0.5", logits((2, 2, 6, 5)), labels((2, 6, 5), 2), delta=0.5)
add_uf("uf_saturated_logits", logits((2, 1, 7, 7), scale=30.0), mask((2, 1, 7, 7)),
       note="most probabilities beyond the clamp [1e-7, 1 - 1e-7]: gradient 0 there")
add_uf("uf_saturated_logits_two_channel", logits((2, 2, 6, 6), scale=30.0), labels((2, 6, 6), 2))
clamped = soft((2, 1, 6, 6))
clamped.reshape(-1)[::5] = 0.0
clamped.reshape(-1)[1::7] = 1.0
clamped.reshape(-1)[2::9] = 3e-8
add_uf("uf_probabilities_at_the_clamp", clamped, mask((2, 1, 6, 6)), from_logits=False,
       note="probabilities 0, 1 and 3e-8: clamped, gradient 0")
empty = mask((2, 1, 8, 8))
empty[0] = 0.0
add_uf("uf_empty_foreground_image", logits((2, 1, 8, 8)), empty)
full = mask((2, 1, 8, 8))
full[1] = 1.0
add_uf("uf_full_foreground_image", logits((2, 1, 8, 8)), full)
add_uf("uf_delta_1_empty_foreground", logits((2, 1, 6, 6)), empty[:, :, :6, :6].copy(), delta=1.0, grad=False,
       note="1 - TI = 0 for the foreground of image 0: MONAI's gradient is not finite there (pow at 0)")
add_uf("uf_3d", logits((2, 1, 4, 5, 6)), mask((2, 1, 4, 5, 6)))
add_uf("uf_3d_two_channel", logits((2, 2, 3, 4, 5)), labels((2, 3, 4, 5), 2))
add_uf("uf_multi_block", logits((2, 1, 40, 41)), mask((2, 1, 40, 41)), note="two blocks of 1024 pixels per image")
add_uf("uf_multi_block_two_channel", logits((1, 2, 33, 34)), labels((1, 33, 34), 2))

fixture.write(
    OUT,
    "tools/golden/new_losses.py",
    {"python": sys.version.split()[0], "torch": torch.__version__, "monai": monai.__version__,
     "segmentation_models_pytorch": smp.__version__, "numpy": np.__version__},
    cases,
    extra={"dtype": "reference computed in float64 on float32 inputs"},
)

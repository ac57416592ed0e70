#!/usr/bin/env python3
"""Golden values of the unreduced per-image values (`Loss::per_image`) and their
vector-Jacobian product, from the libraries' own `reduction="none"` outputs, written to
tests/fixtures/per_image.json and checked by tests/per_image.rs.

Run from the workspace root:

    /work/venv/py/bin/python tools/golden/per_image.py

Each case calls the reference in float64 on the float32 inputs with `reduction="none"` and
reduces what that output holds beyond the image axis with a mean (`python` is the exact line):
MONAI's `GeneralizedWassersteinDiceLoss` and `GeneralizedDiceLoss` already give one value per
image; `DiceLoss` and `TverskyLoss` one per (image, class), averaged over the classes; torch's
`binary_cross_entropy_with_logits` and `cross_entropy` and MONAI's `FocalLoss` one per element
(or pixel), averaged over the image. `expected.map` is that [N] vector, `expected.grad` the
autograd gradient of `sum_i upstream[i] * values[i]` with respect to `pred` (`inputs.upstream`).
"""

import os
import platform

import monai
import numpy as np
import torch
import torch.nn.functional as F
from monai.losses import DiceLoss, FocalLoss, GeneralizedDiceLoss, GeneralizedWassersteinDiceLoss, TverskyLoss

import fixture

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "per_image.json")

rng = np.random.default_rng(20261127)
draws = fixture.Draws(rng)
CASES = []
UPSTREAM = fixture.f32([1.5, -0.25, 0.0, 2.0])


def add(name, spec, python, fn, pred, target):
    n = pred.shape[0]
    up = UPSTREAM[:n]
    x = torch.tensor(pred.astype(np.float64), requires_grad=True)
    t = torch.tensor(target) if target.dtype == np.int64 else torch.tensor(target.astype(np.float64))
    values = fn(x, t)
    assert values.shape == (n,), (name, values.shape)
    (values * torch.tensor(up.astype(np.float64))).sum().backward()
    v = values.detach().numpy().astype(np.float64)
    CASES.append(fixture.case(name, spec, python, {"pred": pred, "target": target, "upstream": up},
                              grad=x.grad.numpy().astype(np.float64), map=v))


def per_image_mean(out):
    return out.reshape(out.shape[0], -1).mean(dim=1)


p = draws.logits((3, 4, 6, 7)); t = draws.labels((3, 6, 7), 4)
add("wasserstein_dice", "wasserstein_dice",
    "GeneralizedWassersteinDiceLoss(dist_matrix=1 - eye(4), reduction='none')(pred, target)",
    lambda x, y: GeneralizedWassersteinDiceLoss(dist_matrix=np.ones((4, 4)) - np.eye(4), reduction="none")(x, y), p, t)

p = draws.logits((3, 4, 6, 7)); t = draws.labels((3, 1, 6, 7), 4)
add("dice_multiclass", "dice",
    "DiceLoss(softmax=True, to_onehot_y=True, reduction='none')(pred, target).mean over (C, 1, 1)",
    lambda x, y: per_image_mean(DiceLoss(softmax=True, to_onehot_y=True, reduction="none")(x, y)), p, t)

p = draws.logits((4, 1, 5, 6)); t = fixture.f32(rng.random((4, 1, 5, 6)) < 0.3)
add("tversky_binary", "tversky:alpha=0.3,beta=0.7",
    "TverskyLoss(sigmoid=True, alpha=0.3, beta=0.7, reduction='none')(pred, target).mean over (C, 1, 1)",
    lambda x, y: per_image_mean(TverskyLoss(sigmoid=True, alpha=0.3, beta=0.7, reduction="none")(x, y)), p, t)

p = draws.logits((3, 3, 5, 6)); t = draws.labels((3, 1, 5, 6), 3)
add("generalized_dice", "generalized_dice",
    "GeneralizedDiceLoss(softmax=True, to_onehot_y=True, reduction='none')(pred, target).reshape(N)",
    lambda x, y: per_image_mean(GeneralizedDiceLoss(softmax=True, to_onehot_y=True, reduction="none")(x, y)), p, t)

p = draws.logits((4, 1, 5, 6)); t = fixture.f32(rng.random((4, 1, 5, 6)) < 0.3)
add("bce", "bce",
    "binary_cross_entropy_with_logits(pred, target, reduction='none').mean(dim=(1, 2, 3))",
    lambda x, y: per_image_mean(F.binary_cross_entropy_with_logits(x, y, reduction="none")), p, t)

p = draws.logits((3, 4, 5, 6)); t = draws.labels((3, 5, 6), 4)
add("ce", "ce",
    "cross_entropy(pred, target, reduction='none').mean(dim=(1, 2))",
    lambda x, y: per_image_mean(F.cross_entropy(x, y, reduction="none")), p, t)

p = draws.logits((3, 2, 5, 6)); t = fixture.f32(rng.random((3, 2, 5, 6)) < 0.4)
add("focal_multilabel", "focal:mode=multilabel,gamma=2,alpha=0.25",
    "FocalLoss(gamma=2.0, alpha=0.25, reduction='none')(pred, target).mean(dim=(1, 2, 3))",
    lambda x, y: per_image_mean(FocalLoss(gamma=2.0, alpha=0.25, reduction="none")(x, y)), p, t)

fixture.write(
    OUT,
    "tools/golden/per_image.py",
    {"python": platform.python_version(), "torch": torch.__version__, "monai": monai.__version__, "numpy": np.__version__},
    CASES,
    extra={"dtype": "reference computed in float64 on float32 inputs", "map": "the per-image values [N]",
           "grad": "d sum_i upstream[i] values[i] / d pred"},
)

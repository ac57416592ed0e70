#!/usr/bin/env python3
"""Golden values for segloss-lovasz.

Re-states the reference algorithm of bermanmaxim/LovaszSoftmax (pytorch/lovasz_losses.py:
lovasz_grad, lovasz_hinge / lovasz_hinge_flat, lovasz_softmax / lovasz_softmax_flat, with
flatten_binary_scores / flatten_probas, ignore handling and per_image) in float64 PyTorch, takes the
gradient from autograd (so the Jaccard gradient g is held constant, as in the reference), checks the
re-statement against segmentation_models_pytorch's LovaszLoss (binary and multiclass), and writes
crates/segloss-lovasz/tests/fixtures/lovasz.json in fixture.py's format: each case's spec uses
segloss' `reduce=image|batch` for the reference's `per_image=True|False`, `python` is the
re-statement's call, `extra.smp` the smp call it was checked against (where one applies).

Deviations of the re-statement from the reference, all stated in LOSSES.md:
- flatten_probas moves axis 1 last for any number of spatial axes (the reference assumes 4D; smp
  does the same with movedim);
- an image/problem whose pixels are all ignored gives a scalar 0 (the reference's
  lovasz_softmax_flat returns the empty tensor `probas * 0.`, which breaks the per-image mean);
- multilabel: one hinge problem per (image, channel) pair with per_image (per channel over the
  batch without), averaged over problems (smp pools the channels of an image into one problem).

Inputs are float32 values (stored exactly, as float32 tensors) evaluated in float64, and tie-free: the
sorted errors of every problem are at least MIN_GAP apart, so float32 rounding in Rust cannot
reorder them.

Run: /work/venv/py/bin/python tools/golden/lovasz.py   (from the workspace root)
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
import segmentation_models_pytorch as smp
from segmentation_models_pytorch.losses import LovaszLoss

import fixture

torch.set_default_dtype(torch.float64)
MIN_GAP = 1e-5
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "crates", "segloss-lovasz", "tests", "fixtures", "lovasz.json")


# ----------------------------------------------------------------------------------------------
# The reference algorithm (bermanmaxim/LovaszSoftmax, pytorch/lovasz_losses.py), re-stated.

def lovasz_grad(gt_sorted):
    p = len(gt_sorted)
    gts = gt_sorted.sum()
    intersection = gts - gt_sorted.double().cumsum(0)
    union = gts + (1 - gt_sorted).double().cumsum(0)
    jaccard = 1.0 - intersection / union
    if p > 1:
        jaccard[1:p] = jaccard[1:p] - jaccard[0:-1]
    return jaccard


def mean(values, empty=0):
    values = list(values)
    if not values:
        return empty
    acc = values[0]
    for v in values[1:]:
        acc = acc + v
    return acc / len(values)


def flatten_binary_scores(scores, labels, ignore=None):
    scores = scores.reshape(-1)
    labels = labels.reshape(-1)
    if ignore is None:
        return scores, labels
    valid = labels != ignore
    return scores[valid], labels[valid]


def lovasz_hinge_flat(logits, labels):
    if len(labels) == 0:
        return logits.sum() * 0.0
    signs = 2.0 * labels.double() - 1.0
    errors = 1.0 - logits * signs
    errors_sorted, perm = torch.sort(errors, dim=0, descending=True)
    gt_sorted = labels[perm]
    grad = lovasz_grad(gt_sorted)
    return torch.dot(F.relu(errors_sorted), grad)


def lovasz_hinge(logits, labels, per_image=True, ignore=None):
    if per_image:
        return mean(lovasz_hinge_flat(*flatten_binary_scores(lg.unsqueeze(0), lb.unsqueeze(0), ignore))
                    for lg, lb in zip(logits, labels))
    return lovasz_hinge_flat(*flatten_binary_scores(logits, labels, ignore))


def flatten_probas(probas, labels, ignore=None):
    C = probas.size(1)
    probas = torch.movedim(probas, 1, -1).reshape(-1, C)
    labels = labels.reshape(-1)
    if ignore is None:
        return probas, labels
    valid = labels != ignore
    return probas[valid], labels[valid]


def lovasz_softmax_flat(probas, labels, classes="present"):
    if probas.numel() == 0:
        return probas.sum() * 0.0  # the reference returns `probas * 0.` (an empty tensor)
    C = probas.size(1)
    losses = []
    for c in range(C):
        fg = (labels == c).double()
        if classes == "present" and fg.sum() == 0:
            continue
        errors = (fg - probas[:, c]).abs()
        errors_sorted, perm = torch.sort(errors, 0, descending=True)
        losses.append(torch.dot(errors_sorted, lovasz_grad(fg[perm])))
    return mean(losses)


def lovasz_softmax(probas, labels, classes="present", per_image=False, ignore=None):
    if per_image:
        return mean(lovasz_softmax_flat(*flatten_probas(p.unsqueeze(0), l.unsqueeze(0), ignore), classes=classes)
                    for p, l in zip(probas, labels))
    return lovasz_softmax_flat(*flatten_probas(probas, labels, ignore), classes=classes)


def lovasz_hinge_multilabel(logits, labels, per_image=True, ignore=None):
    """segloss' multilabel hinge: one problem per (image, channel) pair, or per channel."""
    N, C = logits.shape[:2]
    if per_image:
        return lovasz_hinge(logits.reshape(N * C, -1), labels.reshape(N * C, -1), per_image=True, ignore=ignore)
    return mean(lovasz_hinge_flat(*flatten_binary_scores(logits[:, c], labels[:, c], ignore)) for c in range(C))


# ----------------------------------------------------------------------------------------------
# Inputs

def f32(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def gaps_ok(errors):
    e = np.sort(np.asarray(errors).ravel())
    return len(e) < 2 or np.min(np.diff(e)) > MIN_GAP


def hinge_problems(x, y, per_image, ignore, multilabel):
    N, C = x.shape[:2]
    if per_image:
        groups = [(x[n, c], y[n, c] if y.ndim == x.ndim else y[n]) for n in range(N) for c in range(C)]
    else:
        groups = [(x[:, c], y[:, c] if y.ndim == x.ndim else y) for c in range(C)]
    for xs, ys in groups:
        xs, ys = xs.ravel(), ys.ravel()
        valid = ys != ignore if ignore is not None else np.ones_like(ys, dtype=bool)
        yield 1.0 - xs[valid] * (2.0 * ys[valid] - 1.0)


def softmax_np(z):
    m = z.max(axis=1, keepdims=True)
    e = np.exp(z - m)
    return e / e.sum(axis=1, keepdims=True)


def softmax_problems(p, lab, per_image, ignore):
    N, C = p.shape[:2]
    groups = [[n] for n in range(N)] if per_image else [list(range(N))]
    for g in groups:
        for c in range(C):
            ps = p[g][:, c].ravel()
            ls = lab[g].ravel()
            valid = ls != ignore if ignore is not None else np.ones_like(ls, dtype=bool)
            yield np.abs((ls[valid] == c) - ps[valid])


def draw_logits(rng, shape, scale=2.0):
    return f32(rng.uniform(-scale, scale, size=shape))


CASES = []


def check_smp(name, sv, sgrad, v, grad):
    """smp computes lovasz_grad in float32 (`.float()`), so it runs in float32 and is compared with
    the float32 tolerances of the Rust golden test."""
    ref, got = v.item(), sv.item()
    assert abs(got - ref) <= 1e-5 * abs(ref) + 1e-7, (name, got, ref)
    scale = grad.abs().max().item()
    diff = (sgrad.double() - grad).abs().max().item()
    assert diff <= 1e-4 * scale, (name, diff, scale)


def record(name, loss, params, pred, target, target_dtype, value, grad, python, smp_line):
    inputs = {"pred": pred.astype(np.float32), "target": target.astype(np.float32 if target_dtype == "f32" else np.int64)}
    assert np.array_equal(inputs["pred"], pred) and np.array_equal(inputs["target"], target), f"{name}: inputs are not exact"
    CASES.append(fixture.case(name, fixture.spec(loss, params), python, inputs, value=float(value), grad=np.asarray(grad),
                              extra={"smp": smp_line} if smp_line else None))


def hinge_case(name, rng, shape, per_image, ignore=None, target_dtype="f32", tweak=None, multilabel=False, smp_check=True,
               target_shape=None):
    for _ in range(1000):
        x = draw_logits(rng, shape)
        y = (rng.uniform(size=shape) < 0.4).astype(np.float64)
        if target_shape is not None:
            y = y.reshape(target_shape)
        if tweak is not None:
            tweak(y)
        if all(gaps_ok(e) for e in hinge_problems(x, y, per_image, ignore, multilabel)):
            break
    else:
        raise RuntimeError(f"{name}: no tie-free draw")
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.tensor(y)
    if multilabel:
        v = lovasz_hinge_multilabel(xt, yt, per_image=per_image, ignore=ignore)
        python = f"lovasz_hinge_multilabel(x, y, per_image={per_image}, ignore={ignore})"
    else:
        v = lovasz_hinge(xt, yt, per_image=per_image, ignore=ignore)
        python = f"lovasz_hinge(x, y, per_image={per_image}, ignore={ignore})"
    v.backward()
    smp_line = None
    if smp_check and not multilabel:
        xs = torch.tensor(x, dtype=torch.float32, requires_grad=True)
        ys = torch.tensor(y).long() if target_dtype != "f32" else torch.tensor(y, dtype=torch.float32)
        sv = LovaszLoss("binary", per_image=per_image, ignore_index=ignore)(xs, ys)
        sv.backward()
        check_smp(name, sv, xs.grad, v, xt.grad)
        smp_line = f"LovaszLoss('binary', per_image={per_image}, ignore_index={ignore})(x, y)"
    params = {"reduce": "image" if per_image else "batch"}
    if ignore is not None:
        params["ignore_index"] = ignore
    if multilabel:
        params["mode"] = "multilabel"
    record(name, "lovasz_hinge", params, x, y, target_dtype, v.item(), xt.grad.numpy(), python, smp_line)


def softmax_case(name, rng, shape, classes="present", per_image=False, ignore=None, from_logits=True, tweak=None,
                 smp_check=True, n_labels=None):
    N, C = shape[:2]
    lab_shape = (N,) + tuple(shape[2:])
    for _ in range(1000):
        z = draw_logits(rng, shape, 3.0)
        lab = rng.integers(0, n_labels or C, size=lab_shape)
        if tweak is not None:
            tweak(lab)
        if not from_logits:
            z = f32(softmax_np(z))
        p = softmax_np(z) if from_logits else z
        if all(gaps_ok(e) for e in softmax_problems(p, lab, per_image, ignore)):
            break
    else:
        raise RuntimeError(f"{name}: no tie-free draw")
    zt = torch.tensor(z, requires_grad=True)
    lt = torch.tensor(lab)
    probas = zt.softmax(dim=1) if from_logits else zt
    v = lovasz_softmax(probas, lt, classes=classes, per_image=per_image, ignore=ignore)
    v.backward()
    pre = "softmax(z, 1)" if from_logits else "p"
    python = f"lovasz_softmax({pre}, labels, classes='{classes}', per_image={per_image}, ignore={ignore})"
    smp_line = None
    if smp_check and from_logits and classes == "present":
        zs = torch.tensor(z, dtype=torch.float32, requires_grad=True)
        sv = LovaszLoss("multiclass", per_image=per_image, ignore_index=ignore)(zs, torch.tensor(lab))
        sv.backward()
        check_smp(name, sv, zs.grad, v, zt.grad)
        smp_line = f"LovaszLoss('multiclass', per_image={per_image}, ignore_index={ignore})(z, labels)"
    params = {"classes": classes, "reduce": "image" if per_image else "batch", "from_logits": from_logits}
    if ignore is not None:
        params["ignore_index"] = ignore
    record(name, "lovasz_softmax", params, z, lab, "i64", v.item(), zt.grad.numpy(), python, smp_line)


def main():
    rng = np.random.default_rng(20260426)

    def no_positive_in_image_1(y):
        y[1] = 0.0

    def ignore_some(y, val=255):
        def f(a):
            m = rng.uniform(size=a.shape) < 0.2
            a[m] = val
        return f

    def all_ignored_image_0(val):
        def f(a):
            ignore_some(a, val)(a)
            a[0] = val
        return f

    hinge_case("hinge_binary_per_image", rng, (3, 1, 6, 7), per_image=True)
    hinge_case("hinge_binary_batch", rng, (3, 1, 6, 7), per_image=False)
    hinge_case("hinge_binary_nchw_target_nhw_int", rng, (2, 1, 5, 8), per_image=True, target_dtype="i64", target_shape=(2, 5, 8))
    hinge_case("hinge_no_positive_image", rng, (3, 1, 5, 6), per_image=True, tweak=no_positive_in_image_1)
    hinge_case("hinge_ignore_255_int", rng, (3, 1, 6, 6), per_image=True, ignore=255, target_dtype="i64", tweak=ignore_some(None))
    hinge_case("hinge_ignore_batch_float_minus1", rng, (2, 1, 6, 6), per_image=False, ignore=-1, tweak=ignore_some(None, -1))
    hinge_case("hinge_all_ignored_image", rng, (3, 1, 5, 5), per_image=True, ignore=255, target_dtype="i64",
               tweak=all_ignored_image_0(255))
    hinge_case("hinge_3d", rng, (2, 1, 3, 4, 5), per_image=True)
    hinge_case("hinge_3d_batch", rng, (2, 1, 3, 4, 5), per_image=False)
    hinge_case("hinge_multilabel_per_image", rng, (2, 3, 5, 6), per_image=True, multilabel=True)
    hinge_case("hinge_multilabel_batch", rng, (2, 3, 5, 6), per_image=False, multilabel=True)
    hinge_case("hinge_multilabel_ignore", rng, (2, 3, 4, 5), per_image=True, multilabel=True, ignore=255,
               tweak=ignore_some(None))

    def absent_class_2(lab):
        lab[lab == 2] = 0

    softmax_case("softmax_present_batch", rng, (2, 4, 5, 6))
    softmax_case("softmax_present_absent_class", rng, (2, 4, 5, 6), tweak=absent_class_2)
    softmax_case("softmax_all_absent_class", rng, (2, 4, 5, 6), classes="all", tweak=absent_class_2)
    softmax_case("softmax_present_per_image", rng, (3, 3, 5, 5), per_image=True)
    softmax_case("softmax_all_per_image", rng, (3, 3, 5, 5), classes="all", per_image=True)
    softmax_case("softmax_ignore_255", rng, (2, 4, 5, 6), ignore=255, tweak=ignore_some(None))
    softmax_case("softmax_all_ignored_image_per_image", rng, (3, 3, 4, 5), per_image=True, ignore=255,
                 tweak=all_ignored_image_0(255), smp_check=False)
    softmax_case("softmax_all_ignored_image_batch", rng, (3, 3, 4, 5), per_image=False, ignore=255,
                 tweak=all_ignored_image_0(255))
    softmax_case("softmax_ignore_class_0", rng, (2, 3, 5, 5), ignore=0, classes="all")
    softmax_case("softmax_3d", rng, (2, 3, 3, 4, 3))
    softmax_case("softmax_3d_per_image_all", rng, (2, 3, 3, 4, 3), per_image=True, classes="all")
    softmax_case("softmax_probabilities", rng, (2, 3, 5, 6), from_logits=False)
    softmax_case("softmax_probabilities_per_image_all", rng, (2, 3, 5, 6), from_logits=False, per_image=True, classes="all")
    # smp reads a 3D tensor as [B, H, W] sigmoid output, so it cannot check one spatial axis
    softmax_case("softmax_1d", rng, (2, 5, 17), smp_check=False)

    fixture.write(
        OUT,
        "tools/golden/lovasz.py",
        {
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "numpy": np.__version__,
            "segmentation_models_pytorch": smp.__version__,
        },
        CASES,
        extra={
            "reference": "bermanmaxim/LovaszSoftmax pytorch/lovasz_losses.py, re-stated in float64 (see the script)",
            "tolerance": "value: |v - ref| <= 1e-5 |ref| + 1e-7; grad: max |g - ref| <= 1e-4 max |ref|",
        },
    )

if __name__ == "__main__":
    main()

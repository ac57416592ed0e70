#!/usr/bin/env python3
"""Golden values for `topk_ce` (segloss-xent), written to
crates/segloss-xent/tests/fixtures/topk_ce.json and checked by crates/segloss-xent/tests/topk_ce.rs.

Run from the workspace root (nnU-Net v2 installed without its dependencies, which this module
does not need: `/work/venv/py/bin/pip install --no-deps nnunetv2`):

    /work/venv/py/bin/python tools/golden/topk_ce.py

Anchor (multiclass): nnU-Net v2's own class, imported and called directly,
`nnunetv2.training.loss.robust_ce_loss.TopKLoss(weight, ignore_index, k, label_smoothing)`, on
float64 logits and a float64 target of shape [N, 1, *S] (nnU-Net's convention; it casts to long).
Its forward is

    res = CrossEntropyLoss(weight, ignore_index=ignore_index, reduce=False, label_smoothing=...)(inp, target)
    res, _ = torch.topk(res.view((-1, )), int(num_voxels * self.k / 100), sorted=False)
    return res.mean()

so the selection is over the whole batch, ignored pixels have a 0 term and still count, and the
mean divides by n_k (never by the class weights). Where int(n k / 100) = 0 nnU-Net returns NaN
(the mean of no term); segloss keeps one term (n_k = max(1, ...)), so the `k=0.01` cases store
nnU-Net's TopKLoss called with a k that keeps exactly one term (`TopKLoss(k=150 / n)`:
int(n * (150 / n) / 100) = int(1.5) = 1), the same loss as segloss's k=0.01 on these inputs.

Binary and multilabel `topk_ce` are segloss's extension, with no nnU-Net anchor: the reference is
the same selection written in torch, `torch.topk` over
`F.binary_cross_entropy_with_logits(x, y, reduction='none')` (with probabilities,
`F.binary_cross_entropy` on the probabilities clipped to float32's [1e-7, 1 - 1e-7], the family's
clip), terms at ignored targets set to 0 and kept in n.

Every reference is float64 torch on float32 inputs drawn at random (no exact ties between the
terms, so torch.topk's choice among equal values never matters); `value` is the stored Python
expression and `grad` its autograd gradient with respect to `x` (pred); torch.topk's backward sends
each selected term's gradient, times 1/n_k, as segloss does.
"""

import os
import platform
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from nnunetv2.training.loss.robust_ce_loss import TopKLoss

import fixture

torch.set_default_dtype(torch.float64)
# TopKLoss passes torch's legacy `reduce=False` (nnU-Net's line, kept as it is): silence the notice
warnings.filterwarnings("ignore", message="size_average and reduce args will be deprecated")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "crates", "segloss-xent", "tests", "fixtures", "topk_ce.json")

VALUE_RTOL, VALUE_ATOL, GRAD_RTOL = 1e-5, 1e-7, 1e-4

EPS32 = float(np.float32(1e-7))
ONE_MINUS_EPS32 = float(np.float32(1.0 - 1e-7))

rng = np.random.default_rng(20261127)
CASES = []


def nnunet_topk(x, t, k, weight=None, ignore_index=-100, label_smoothing=0.0):
    """nnU-Net v2's TopKLoss itself; t is the [N, 1, *S] target as float64, as nnU-Net feeds it."""
    w = None if weight is None else torch.tensor(weight, dtype=torch.float64)
    return TopKLoss(weight=w, ignore_index=ignore_index, k=k, label_smoothing=label_smoothing)(x, t)


def bce_topk(x, y, k, ignore_index=-100, from_logits=True):
    """segloss's binary/multilabel extension: the same selection over BCE terms (no nnU-Net anchor)."""
    keep = y != ignore_index
    yc = torch.where(keep, y, torch.zeros_like(y))
    if from_logits:
        m = F.binary_cross_entropy_with_logits(x, yc, reduction="none")
    else:
        m = F.binary_cross_entropy(torch.clamp(x, EPS32, ONE_MINUS_EPS32), yc, reduction="none")
    m = torch.where(keep, m, torch.zeros_like(m))
    n = m.numel()
    n_k = max(1, int(n * k / 100))
    return torch.topk(m.reshape(-1), n_k, sorted=False).values.mean()


def evaluate(expr, pred, target):
    x = torch.tensor(pred, dtype=torch.float64, requires_grad=True)
    y = torch.tensor(target.astype(np.float64))
    env = dict(torch=torch, F=F, TopKLoss=TopKLoss, nnunet_topk=nnunet_topk, bce_topk=bce_topk, x=x, t=y, y=y)
    val = eval(expr, env)
    assert val.dim() == 0, expr
    val.backward()
    return float(val.detach()), x.grad.detach().numpy()


def no_tie_at_the_cut(m, n_k):
    """The n_k-th largest term is larger than the next one (torch.topk's choice among equal
    values is unspecified), unless it is 0: zero terms (ignored elements) have a zero gradient, so
    which of them is kept changes nothing."""
    m = np.sort(np.asarray(m).reshape(-1))[::-1]
    return n_k == m.size or m[n_k - 1] > m[n_k] or m[n_k - 1] == 0


def ce_map(weight, ignore_index, label_smoothing):
    def f(pred, target):
        w = None if weight is None else torch.tensor(weight, dtype=torch.float64)
        x = torch.tensor(pred, dtype=torch.float64)
        t = torch.tensor(target[:, 0].astype(np.int64))
        m = F.cross_entropy(x, t, weight=w, ignore_index=ignore_index, label_smoothing=label_smoothing, reduction="none")
        return m.numpy()  # 0 at ignored pixels

    return f


def add(name, spec, expr, pred, target, extra, term_map):
    pred = np.asarray(pred, dtype=np.float32)
    val, grad = evaluate(expr, pred, target)
    assert np.isfinite(val) and np.all(np.isfinite(grad)), (name, val)
    assert no_tie_at_the_cut(term_map(pred, target), extra["n_k"]), f"{name}: tied terms at the cut"
    case = fixture.case(name, spec, expr, {"pred": pred, "target": target}, value=val, grad=grad, extra=extra)
    CASES.append(case)


logits = fixture.Draws(rng).logits


def labels(shape, classes, ignore=None, frac=0.2):
    """Integer labels [N, 1, *S] (nnU-Net's target layout), a fraction set to `ignore`."""
    t = rng.integers(0, classes, shape).astype(np.int64)
    if ignore is not None:
        t[rng.uniform(size=shape) < frac] = ignore
    return t


def mc(name, k, shape, keys=None, scale=2.0, ignore=None, weight=None, smoothing=0.0, one_term=False):
    """A multiclass case: segloss `topk_ce` with `keys` against nnU-Net's TopKLoss."""
    n_img, c, sp = shape[0], shape[1], shape[2:]
    t = labels([n_img, 1, *sp], c, ignore=ignore)
    x = logits(shape, scale)
    ignore_index = -100 if ignore is None else ignore
    n = int(np.prod([n_img, *sp]))
    # nnU-Net gives NaN where int(n k / 100) = 0: then the call keeps one term with k = 150 / n
    args = [f"k={k!r}" if not one_term else f"k=150 / {n}"]
    if weight is not None:
        args.append(f"weight={weight!r}")
    if ignore is not None:
        args.append(f"ignore_index={ignore}")
    if smoothing:
        args.append(f"label_smoothing={smoothing!r}")
    expr = "nnunet_topk(x, t, " + ", ".join(args) + ")"
    sk = {"k": k}
    if weight is not None:
        sk["class_weights"] = weight
    if ignore is not None:
        sk["ignore_index"] = ignore
    if smoothing:
        sk["label_smoothing"] = smoothing
    sk.update(keys or {})
    n_k = max(1, int(n * k / 100))
    extra = {"n": n, "n_k": n_k, "anchor": "nnU-Net v2 TopKLoss"}
    if one_term:
        assert int(n * k / 100) == 0 and int(n * (150 / n) / 100) == 1
        extra["note"] = f"nnU-Net gives NaN for k={k} (int({n} * {k} / 100) = 0); TopKLoss(k=150/n) keeps the one term segloss keeps"
    add(name, fixture.spec("topk_ce", sk), expr, x, t, extra, ce_map(weight, ignore_index, smoothing))


def sig(name, k, x, y, ignore=None, from_logits=True, mode=None):
    """A binary/multilabel case (segloss's extension) against torch.topk over BCE terms."""
    args = [f"k={k!r}"]
    if ignore is not None:
        args.append(f"ignore_index={ignore}")
    if not from_logits:
        args.append("from_logits=False")
    expr = "bce_topk(x, y, " + ", ".join(args) + ")"
    sk = {"k": k}
    if ignore is not None:
        sk["ignore_index"] = ignore
    if not from_logits:
        sk["from_logits"] = False
    if mode:
        sk["mode"] = mode
    n = x.size
    extra = {"n": n, "n_k": max(1, int(n * k / 100)), "anchor": "none (segloss extension): torch.topk over binary_cross_entropy_with_logits terms"}
    y = np.asarray(y, dtype=np.float32)

    def bce_map(pred, target):
        xx, yy = torch.tensor(pred, dtype=torch.float64), torch.tensor(target, dtype=torch.float64)
        keep = yy != (-100 if ignore is None else ignore)
        yc = torch.where(keep, yy, torch.zeros_like(yy))
        p = xx if from_logits else torch.clamp(xx, EPS32, ONE_MINUS_EPS32)
        m = F.binary_cross_entropy_with_logits(p, yc, reduction="none") if from_logits else F.binary_cross_entropy(p, yc, reduction="none")
        return torch.where(keep, m, torch.zeros_like(m)).numpy()

    add(name, fixture.spec("topk_ce", sk), expr, x, y, extra, bce_map)


def main():
    # multiclass against nnU-Net's TopKLoss
    mc("mc_k10_2d", 10, [2, 4, 9, 11])
    mc("mc_k50_2d", 50, [2, 4, 9, 11])
    mc("mc_k100_2d", 100, [2, 3, 6, 7])
    mc("mc_k0.01_nk1", 0.01, [2, 4, 9, 11], one_term=True)
    mc("mc_k12.5_class_weights", 12.5, [2, 4, 8, 9], weight=[1.0, 2.0, 0.5, 3.0])
    mc("mc_k30_ignore_255", 30, [2, 3, 10, 10], ignore=255)
    mc("mc_k90_ignore_255_beyond_kept", 90, [2, 3, 10, 10], ignore=255)
    mc("mc_k20_ignore_class_1", 20, [2, 3, 8, 8], ignore=1)
    mc("mc_k10_smoothing", 10, [2, 5, 9, 9], smoothing=0.1)
    mc("mc_k25_weights_smoothing_ignore", 25, [2, 3, 9, 9], weight=[0.5, 2.0, 1.0], smoothing=0.2, ignore=255)
    mc("mc_k10_3d", 10, [2, 3, 4, 5, 6])
    mc("mc_k5_1d", 5, [3, 4, 40])
    mc("mc_k10_large_logits", 10, [2, 4, 9, 11], scale=1e3)
    mc("mc_k10_class_weights_large_logits", 10, [2, 3, 8, 8], scale=300.0, weight=[2.0, 1.0, 0.25])

    # binary and multilabel: segloss's extension, against torch.topk over BCE terms
    x = logits([2, 1, 9, 11])
    sig("bin_k10_hard", 10, x, (rng.uniform(size=x.shape) < 0.3).astype(np.float32))
    x = logits([2, 1, 9, 11])
    sig("bin_k50_soft", 50, x, rng.uniform(size=x.shape).astype(np.float32))
    x = logits([2, 1, 9, 11])
    sig("bin_k0.01_nk1", 0.01, x, (rng.uniform(size=x.shape) < 0.5).astype(np.float32))
    x = logits([2, 3, 7, 8])
    sig("multilabel_k20", 20, x, (rng.uniform(size=x.shape) < 0.4).astype(np.float32))
    x = logits([2, 1, 9, 11])
    y = (rng.uniform(size=x.shape) < 0.3).astype(np.float32)
    y[rng.uniform(size=x.shape) < 0.25] = -100
    sig("bin_k20_ignore", 20, x, y, ignore=-100)
    x = np.asarray(rng.uniform(0.002, 0.998, [2, 1, 9, 11]), dtype=np.float32)
    sig("bin_k10_probabilities", 10, x, (rng.uniform(size=x.shape) < 0.3).astype(np.float32), from_logits=False)
    x = logits([2, 1, 4, 5, 6], scale=500.0)
    sig("bin_k10_3d_large_logits", 10, x, (rng.uniform(size=x.shape) < 0.3).astype(np.float32))
    x = logits([2, 9, 11])
    sig("bin_no_channel_k10", 10, x, (rng.uniform(size=x.shape) < 0.3).astype(np.float32), mode="binary")

    import nnunetv2

    versions = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "nnunetv2": getattr(nnunetv2, "__version__", None) or __import__("importlib.metadata").metadata.version("nnunetv2"),
        "numpy": np.__version__,
    }
    note = (
        "Multiclass: nnU-Net v2 TopKLoss (robust_ce_loss.py) called directly in float64 on float32 logits and "
        "the [N, 1, *S] target as float64; binary/multilabel: segloss's extension, torch.topk over "
        "binary_cross_entropy_with_logits(reduction='none') terms (no nnU-Net anchor). grad = torch autograd "
        "with respect to pred. Inputs are random floats: no two terms tie."
    )
    tolerance = {"value_rtol": VALUE_RTOL, "value_atol": VALUE_ATOL, "grad_rtol_of_max": GRAD_RTOL}
    size = fixture.write(OUT, "tools/golden/topk_ce.py", versions, CASES, extra={"note": note, "tolerance": tolerance})
    assert size < 1_000_000


if __name__ == "__main__":
    main()

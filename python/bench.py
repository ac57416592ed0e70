"""Speed of the segloss Python module against the references, in one run, same thread count.

    python python/bench.py [--threads 2] [--runs 5]

Prints a Markdown table (median wall times): segloss.edt against scipy's distance_transform_edt
(and edt.edt when the `edt` package is installed), segloss.unet_weights against the per-object
scipy recipe, segloss.torch.Loss("lovasz_softmax") forward + backward against smp's LovaszLoss
(when segmentation_models_pytorch is installed), and the cost of one call on a tiny input.
Each row also gives the largest difference between the two results (on the timed inputs).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import sys

# Python puts this script's directory (python/) first on the path, where the package's sources
# lack the compiled extension: drop it, so that the installed wheel is the one timed.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]

import numpy as np  # noqa: E402
from scipy import ndimage  # noqa: E402

import segloss  # noqa: E402


def median_ms(f, runs, warmup=1):
    for _ in range(warmup):
        f()
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(ts)


def discs(shape, count, seed):
    """A mask of `count` random touching discs (balls in 3D)."""
    rng = np.random.default_rng(seed)
    grid = np.indices(shape)
    mask = np.zeros(shape, bool)
    r = max(shape) / np.sqrt(count) / 1.6
    for _ in range(count):
        c = [rng.uniform(0, s) for s in shape]
        d2 = sum((g - ci) ** 2 for g, ci in zip(grid, c))
        mask |= d2 < (r * rng.uniform(0.6, 1.0)) ** 2
    return mask


def cells(shape, count, seed):
    """An instance-label image of `count` touching cells (Voronoi cells of random seeds, with a
    one-pixel gap and a background margin)."""
    rng = np.random.default_rng(seed)
    pts = np.stack([rng.uniform(0, s, count) for s in shape], axis=1)
    grid = np.indices(shape).reshape(len(shape), -1).T
    d = ((grid[:, None, :] - pts[None]) ** 2).sum(-1)
    order = np.sort(d, axis=1)
    lab = (np.argmin(d, axis=1) + 1).astype(np.int32)
    lab[np.sqrt(order[:, 1]) - np.sqrt(order[:, 0]) < 1.5] = 0
    lab[order[:, 0] > (max(shape) / np.sqrt(count) * 0.45) ** 2] = 0
    return lab.reshape(shape)


def unet_per_object(labels, w0=10.0, sigma=5.0):
    ids = [k for k in np.unique(labels) if k != 0]
    fg = labels != 0
    n, n1 = labels.size, int(fg.sum())
    wc = np.where(fg, n / (2 * n1), n / (2 * (n - n1)))
    d = np.sort(np.stack([ndimage.distance_transform_edt(labels != k) for k in ids]), axis=0)
    return wc + np.where(fg, 0.0, w0 * np.exp(-((d[0] + d[1]) ** 2) / (2 * sigma**2)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    load_start = os.getloadavg()
    segloss.set_threads(a.threads)
    rows = []

    def row(what, ref_name, ref_ms, ms, diff):
        rows.append((what, ref_name, ref_ms, ms, diff))

    # EDT
    for shape, count in [((2048, 2048), 400), ((128, 128, 128), 150)]:
        mask = discs(shape, count, 1)
        got = segloss.edt(mask)
        ref = ndimage.distance_transform_edt(mask)
        diff = float(np.abs(got - ref).max())
        ms = median_ms(lambda: segloss.edt(mask), a.runs)
        name = "x".join(map(str, shape))
        row(f"edt {name} mask", "scipy distance_transform_edt (1 thread)", median_ms(lambda: ndimage.distance_transform_edt(mask), 3), ms, diff)
        try:
            import edt as edt_pkg

            e = edt_pkg.edt(mask, parallel=a.threads)
            row(f"edt {name} mask", f"edt.edt(parallel={a.threads})", median_ms(lambda: edt_pkg.edt(mask, parallel=a.threads), a.runs), ms, float(np.abs(got - e).max()))
        except ImportError:
            pass

    # U-Net weight map
    lab = cells((512, 512), 60, 2)
    got = segloss.unet_weights(lab)
    ref = unet_per_object(lab)
    row("unet_weights 512x512, %d cells" % (len(np.unique(lab)) - 1), "scipy per-object distance_transform_edt(labels != k)",
        median_ms(lambda: unet_per_object(lab), 3, warmup=0), median_ms(lambda: segloss.unet_weights(lab), a.runs), float(np.abs(got - ref).max()))

    # Lovász softmax through torch, forward + backward
    try:
        import torch
        import segmentation_models_pytorch as smp

        import segloss.torch as st

        torch.set_num_threads(a.threads)
        g = torch.Generator().manual_seed(3)
        x = torch.randn((4, 21, 256, 256), generator=g)
        y = torch.randint(0, 21, (4, 256, 256), generator=g)
        ours, theirs = st.Loss("lovasz_softmax:reduce=batch"), smp.losses.LovaszLoss("multiclass", per_image=False)

        def step(crit):
            p = x.clone().requires_grad_(True)
            crit(p, y).backward()
            return p.grad

        diff = float((step(ours) - step(theirs)).abs().max())
        row("lovasz_softmax [4, 21, 256, 256], fwd+bwd", "smp LovaszLoss('multiclass', per_image=False)",
            median_ms(lambda: step(theirs), 3), median_ms(lambda: step(ours), a.runs), diff)
    except ImportError as e:
        print(f"(torch rows skipped: {e})")

    print(f"Python {platform.python_version()}, numpy {np.__version__}, threads {a.threads}, segloss {segloss.__version__}\n")
    print("| workload | reference | reference ms | segloss ms | speed-up | max diff |")
    print("|---|---|---:|---:|---:|---:|")
    for what, ref_name, ref_ms, ms, diff in rows:
        print(f"| {what} | {ref_name} | {ref_ms:.3g} | {ms:.3g} | {ref_ms / ms:.1f}x | {diff:.1e} |")

    # call overhead on a tiny input: the module setting (threads=2), the default (one thread per
    # core, threads=None), and through segloss.torch (forward + backward, autograd included)
    p = np.random.default_rng(0).normal(size=(1, 1, 4, 4)).astype(np.float32)
    t = (p > 0).astype(np.float32)
    loss = segloss.Loss("bce")
    calls = [("loss(pred, target)", lambda: loss(p, t)), ("loss.value_and_grad(pred, target)", lambda: loss.value_and_grad(p, t))]
    try:
        import torch

        import segloss.torch as st

        crit, tp, tt = st.Loss("bce"), torch.from_numpy(p), torch.from_numpy(t)

        def torch_step():
            x = tp.clone().requires_grad_(True)
            crit(x, tt).backward()

        calls.append(("segloss.torch.Loss forward + backward", torch_step))
    except ImportError:
        pass
    print()
    for threads in (a.threads, None):
        segloss.set_threads(threads)
        for name, f in calls:
            print(f"tiny input [1, 1, 4, 4], threads={threads}, {name}: {tiny_us(f):.1f} us per call")
    la = os.getloadavg()
    print(f"\nload average (1, 5, 15 min) at the start: {load_start[0]:.2f}, {load_start[1]:.2f}, {load_start[2]:.2f}; at the end: {la[0]:.2f}, {la[1]:.2f}, {la[2]:.2f}")


def tiny_us(f, n=20000):
    """Microseconds per call of `f`, after 1000 warm-up calls."""
    for _ in range(1000):
        f()
    t0 = time.perf_counter()
    for _ in range(n):
        f()
    return 1e6 * (time.perf_counter() - t0) / n


if __name__ == "__main__":
    main()

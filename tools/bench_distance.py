#!/usr/bin/env python3
"""Python side of benches/distance.rs: times the same workloads on the same inputs.

- EDT of a 2048 x 2048 mask of random discs: the `edt` package (seung-lab, parallel=2 and 1),
  OpenCV's distanceTransform(DIST_L2, DIST_MASK_PRECISE) (2 threads and 1), scipy;
- EDT of a 128^3 volume of random balls: `edt` (parallel=2 and 1), scipy;
- U-Net weight map of 512 x 512 labels of 60 random cells: the per-object scipy construction
  (d_k = distance_transform_edt(labels != k), the two smallest over k; Ronneberger et al. eq. 2).

The inputs come from the generator documented in benches/distance.rs (splitmix64, one draw per
axis for the centre, one for the radius, integer ball test), re-implemented here; the printed
checksums equal the Rust bench's (`cargo bench --bench distance` prints them on stderr).

Setup: /work/venv/py/bin/pip install edt opencv-python-headless
Run:   /work/venv/py/bin/python tools/bench_distance.py [--repeat 10]
"""

import argparse
import importlib.metadata
import json
import os
import platform
import time

import numpy as np
import scipy
from scipy import ndimage

MASK64 = (1 << 64) - 1


class SplitMix:
    def __init__(self, seed):
        self.state = seed & MASK64

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)


def balls(shape, count, r0, r_span, seed, dtype, labelled):
    """The generator of benches/distance.rs: ball k (1-based) gets 1 (mask) or k (labels)."""
    rng = SplitMix(seed)
    a = np.zeros(shape, dtype=dtype)
    for k in range(1, count + 1):
        c = [rng.next() % s for s in shape]
        r = r0 + rng.next() % r_span
        lo = [max(ci - r, 0) for ci in c]
        hi = [min(ci + r + 1, s) for ci, s in zip(c, shape)]
        grids = np.ogrid[tuple(slice(l, h) for l, h in zip(lo, hi))]
        d2 = sum((g.astype(np.int64) - ci) ** 2 for g, ci in zip(grids, c))
        region = a[tuple(slice(l, h) for l, h in zip(lo, hi))]
        region[d2 <= r * r] = k if labelled else 1
    return a


def checksum(m):
    idx = np.flatnonzero(m).astype(np.uint64)
    return int(idx.size), int(np.sum(idx % np.uint64(1_000_003), dtype=np.uint64))


def timeit(fn, repeat):
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return {"median_ms": 1e3 * times[len(times) // 2], "min_ms": 1e3 * times[0]}


def unet_per_object(labels, w0=10.0, sigma=5.0):
    objects = [k for k in np.unique(labels) if k != 0]
    d = np.stack([ndimage.distance_transform_edt(labels != k) for k in objects])
    d.sort(axis=0)
    n = labels.size
    n_obj = int(np.count_nonzero(labels))
    wb, wo = n / (2 * (n - n_obj)), n / (2 * n_obj)
    term = w0 * np.exp(-((d[0] + d[1]) ** 2) / (2 * sigma * sigma))
    return np.where(labels != 0, wo, wb + term)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=10)
    args = ap.parse_args()

    import cv2
    import edt

    m2 = balls((2048, 2048), 500, 4, 60, 1, np.uint8, False)
    m3 = balls((128, 128, 128), 150, 3, 20, 2, np.uint8, False)
    cells = balls((512, 512), 60, 8, 12, 3, np.int32, True)
    print(f"mask 2048x2048: (foreground, checksum) = {checksum(m2)}")
    print(f"mask 128^3: (foreground, checksum) = {checksum(m3)}")
    print(f"cells 512x512: {len(np.unique(cells)) - 1} objects, label sum {int(cells.sum())}")

    # Same answers (edt and OpenCV against scipy), so the timings compare like with like.
    ref2 = ndimage.distance_transform_edt(m2)
    assert np.abs(edt.edt(m2, parallel=2) - ref2).max() < 1e-3
    cv2.setNumThreads(2)
    assert np.abs(cv2.distanceTransform(m2, cv2.DIST_L2, cv2.DIST_MASK_PRECISE) - ref2).max() < 1e-3

    results = {
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "edt": importlib.metadata.version("edt"),
            "opencv": cv2.__version__,
            "cpus": os.cpu_count(),
        }
    }
    r = {}
    r["edt parallel=2"] = timeit(lambda: edt.edt(m2, parallel=2), args.repeat)
    r["edt parallel=1"] = timeit(lambda: edt.edt(m2, parallel=1), args.repeat)
    cv2.setNumThreads(2)
    r["opencv DIST_MASK_PRECISE threads=2"] = timeit(lambda: cv2.distanceTransform(m2, cv2.DIST_L2, cv2.DIST_MASK_PRECISE), args.repeat)
    cv2.setNumThreads(1)
    r["opencv DIST_MASK_PRECISE threads=1"] = timeit(lambda: cv2.distanceTransform(m2, cv2.DIST_L2, cv2.DIST_MASK_PRECISE), args.repeat)
    cv2.setNumThreads(2)
    r["scipy distance_transform_edt"] = timeit(lambda: ndimage.distance_transform_edt(m2), max(3, args.repeat // 3))
    results["edt 2048x2048"] = r

    r = {}
    r["edt parallel=2"] = timeit(lambda: edt.edt(m3, parallel=2), args.repeat)
    r["edt parallel=1"] = timeit(lambda: edt.edt(m3, parallel=1), args.repeat)
    r["scipy distance_transform_edt"] = timeit(lambda: ndimage.distance_transform_edt(m3), max(3, args.repeat // 3))
    results["edt 128^3"] = r

    results["unet 512x512 cells"] = {"scipy per-object": timeit(lambda: unet_per_object(cells), max(3, args.repeat // 3))}
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

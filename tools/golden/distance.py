#!/usr/bin/env python3
"""Golden fixtures of segloss-distance from scipy.

Writes crates/segloss-distance/tests/fixtures/distance.json in fixture.py's format: for every
case a spec naming the map and its keys (`edt:spacing=[1.5,0.7]`, `label:connectivity=8`,
`unet_weights_from_instances:w0=10,sigma=5,class_weights=balanced`, `unet_weights_from_mask:...`
after the segloss functions), its inputs (`mask`, or `labels` as the Python line names them), the
Python line that produced the expected output (`python`), and that output (`map`; for `label` the
number of objects is `value`); plus the versions of Python, numpy and scipy.

- edt: scipy.ndimage.distance_transform_edt(mask, sampling=...) (f64 distances);
- label: scipy.ndimage.label(mask, structure=generate_binary_structure(rank, 1 or rank));
- unet: the per-object construction of Ronneberger et al. 2015, eq. 2:
  d_k = distance_transform_edt(labels != k) for every object k, d1 <= d2 the two smallest,
  w = w_c + w0 exp(-(d1 + d2)^2 / (2 sigma^2)) on background, w_c on objects (balanced
  w_c = n / (2 n_c) or fixed [a, b]); a binary mask is labelled by scipy.ndimage.label first.

Run: /work/venv/py/bin/python tools/golden/distance.py
"""

import os
import platform

import numpy as np
import scipy
from scipy import ndimage

import fixture

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "crates", "segloss-distance", "tests", "fixtures", "distance.json")


def rand_mask(shape, p, seed):
    return (np.random.default_rng(seed).random(shape) < p).astype(np.uint8)


def unet_per_object(labels, w0=10.0, sigma=5.0, class_weights=None):
    n = labels.size
    n_obj = int(np.count_nonzero(labels))
    n_bg = n - n_obj
    if class_weights is None:
        wb = n / (2 * n_bg) if n_bg else 0.0
        wo = n / (2 * n_obj) if n_obj else 0.0
    else:
        wb, wo = class_weights
    objects = [k for k in np.unique(labels) if k != 0]
    if len(objects) < 2:
        term = np.zeros(labels.shape)
    else:
        d = np.stack([ndimage.distance_transform_edt(labels != k) for k in objects])
        d.sort(axis=0)
        term = w0 * np.exp(-((d[0] + d[1]) ** 2) / (2 * sigma * sigma))
    return np.where(labels != 0, wo, wb + term)


def blobs(shape, specs):
    """Instance labels: each spec (label, centre, radius) paints a ball, later ones on top."""
    lab = np.zeros(shape, dtype=np.int64)
    grids = np.indices(shape)
    for k, centre, r in specs:
        d2 = sum((g - c) ** 2 for g, c in zip(grids, centre))
        lab[d2 <= r * r] = k
    return lab


def main():
    cases = []

    def edt_case(name, mask, sampling, python):
        env = {"mask": mask, "sampling": sampling, "ndimage": ndimage}
        d = eval(python, env)
        keys = {} if sampling is None else {"spacing": sampling}
        cases.append(fixture.case(name, fixture.spec("edt", keys), python, {"mask": mask}, map=d))

    edt_case("2d_random", rand_mask((7, 9), 0.7, 1), None, "ndimage.distance_transform_edt(mask)")
    edt_case("2d_spacing", rand_mask((8, 6), 0.75, 2), [1.5, 0.7], "ndimage.distance_transform_edt(mask, sampling=sampling)")
    edt_case("3d_random", rand_mask((4, 5, 6), 0.8, 3), None, "ndimage.distance_transform_edt(mask)")
    edt_case("3d_spacing", rand_mask((5, 4, 6), 0.85, 4), [2.0, 1.0, 0.5], "ndimage.distance_transform_edt(mask, sampling=sampling)")
    edt_case("all_zero", np.zeros((3, 4), np.uint8), None, "ndimage.distance_transform_edt(mask)")
    edt_case("one_pixel", np.zeros((1, 1), np.uint8), None, "ndimage.distance_transform_edt(mask)")
    one_bg = np.ones((5, 7), np.uint8)
    one_bg[2, 3] = 0
    edt_case("one_background_pixel", one_bg, [2.0, 0.5], "ndimage.distance_transform_edt(mask, sampling=sampling)")
    edt_case("single_line", np.array([[1, 1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1]], np.uint8), None, "ndimage.distance_transform_edt(mask)")
    edt_case("discs_2d", (blobs((24, 30), [(1, (6, 8), 5), (1, (15, 20), 7), (1, (20, 4), 3)]) != 0).astype(np.uint8), None,
             "ndimage.distance_transform_edt(mask)")

    def label_case(name, mask, full):
        rank = mask.ndim
        python = f"ndimage.label(mask, structure=ndimage.generate_binary_structure({rank}, {rank if full else 1}))"
        lab, n = eval(python, {"mask": mask, "ndimage": ndimage})
        conn = {(2, False): 4, (2, True): 8, (3, False): 6, (3, True): 26}[(rank, full)]
        cases.append(fixture.case(name, fixture.spec("label", {"connectivity": conn}), python, {"mask": mask}, value=int(n), map=lab))

    m2 = rand_mask((10, 12), 0.45, 5)
    label_case("label_2d_4", m2, False)
    label_case("label_2d_8", m2, True)
    m3 = rand_mask((5, 6, 7), 0.3, 6)
    label_case("label_3d_6", m3, False)
    label_case("label_3d_26", m3, True)

    def unet_case(name, labels, python, w0=10.0, sigma=5.0, class_weights=None, source="instances", connectivity=None):
        env = {"labels": labels, "unet_per_object": unet_per_object, "ndimage": ndimage, "w0": w0, "sigma": sigma,
               "class_weights": class_weights}
        w = eval(python, env)
        keys = {"w0": w0, "sigma": sigma, "class_weights": "balanced" if class_weights is None else class_weights}
        if connectivity is not None:
            keys["connectivity"] = connectivity
        cases.append(fixture.case(name, fixture.spec(f"unet_weights_from_{source}", keys), python, {"labels": labels}, map=w))

    cells = blobs((24, 28), [(3, (5, 5), 3), (9, (6, 14), 3), (4, (16, 9), 4), (12, (17, 21), 3)])
    unet_case("unet_instances", cells, "unet_per_object(labels)")
    unet_case("unet_instances_fixed", cells, "unet_per_object(labels, w0=w0, sigma=sigma, class_weights=class_weights)",
              w0=5.0, sigma=3.0, class_weights=[1.0, 2.0])
    touching = np.zeros((8, 10), np.int64)
    touching[2:6, 2:5] = 1
    touching[2:6, 5:8] = 2
    unet_case("unet_touching", touching, "unet_per_object(labels)")
    one = np.zeros((9, 9), np.int64)
    one[3:6, 3:6] = 7
    unet_case("unet_one_object", one, "unet_per_object(labels)")
    vol = blobs((6, 10, 12), [(1, (1, 2, 3), 2), (2, (4, 6, 8), 2), (3, (2, 8, 2), 1)])
    unet_case("unet_3d", vol, "unet_per_object(labels, sigma=sigma)", sigma=2.0)
    mask = rand_mask((16, 18), 0.25, 7)
    unet_case("unet_mask_4", mask.astype(np.int64), "unet_per_object(ndimage.label(labels)[0])", source="mask", connectivity=4)
    unet_case("unet_mask_8", mask.astype(np.int64),
              "unet_per_object(ndimage.label(labels, structure=ndimage.generate_binary_structure(2, 2))[0])",
              source="mask", connectivity=8)

    fixture.write(OUT, "tools/golden/distance.py",
                  {"python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__}, cases)

if __name__ == "__main__":
    main()

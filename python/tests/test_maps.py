"""segloss.edt, segloss.label and segloss.unet_weights against scipy.ndimage (random masks, 2D
and 3D, spacing, every dtype, any strides) and their errors."""

from __future__ import annotations

import numpy as np
import pytest

import segloss

ndimage = pytest.importorskip("scipy.ndimage")


def blobs(shape, seed, density=0.5, sigma=2.0):
    """A random mask of touching blobs (smoothed noise, thresholded)."""
    rng = np.random.default_rng(seed)
    return ndimage.gaussian_filter(rng.random(shape), sigma) > np.quantile(ndimage.gaussian_filter(rng.random(shape), sigma), 1 - density)


def ulps(a, b):
    return np.abs(a.astype(np.float32).view(np.int32).astype(np.int64) - b.astype(np.float32).view(np.int32).astype(np.int64)).max()


@pytest.mark.parametrize("shape,seed", [((64, 80), 0), ((1, 50), 1), ((37, 1), 2), ((16, 20, 24), 3), ((130, 97), 4)])
def test_edt_equals_scipy(shape, seed):
    mask = np.random.default_rng(seed).random(shape) < 0.9  # sparse zeros: long distances
    mask.flat[0] = False
    ref = ndimage.distance_transform_edt(mask)
    got = segloss.edt(mask)
    assert got.dtype == np.float32 and got.shape == mask.shape
    np.testing.assert_array_equal(got, ref.astype(np.float32))
    sq = segloss.edt(mask, squared=True)
    np.testing.assert_array_equal(sq, np.round(ref * ref).astype(np.float32))


@pytest.mark.parametrize("spacing", [(1.5, 0.7), 2.5, [0.3, 1.0]])
def test_edt_spacing_equals_scipy_sampling(spacing):
    mask = blobs((60, 70), 5)
    ref = ndimage.distance_transform_edt(mask, sampling=spacing)
    assert ulps(segloss.edt(mask, spacing=spacing), ref) <= 2


def test_edt_3d_spacing_and_every_mask_dtype_and_layout():
    mask = blobs((12, 30, 25), 6)
    ref = ndimage.distance_transform_edt(mask, sampling=(2.0, 1.0, 0.5)).astype(np.float32)
    want = segloss.edt(mask, spacing=(2.0, 1.0, 0.5))
    assert ulps(want, ref) <= 2
    for m in [mask.astype(t) for t in (np.uint8, np.int8, np.int32, np.uint32, np.int64, np.float32, np.float64)] + [
        np.asfortranarray(mask),
        mask[::-1][::-1],
        np.where(mask, np.nan, 0.0),  # NaN is nonzero (scipy too)
    ]:
        np.testing.assert_array_equal(segloss.edt(m, spacing=(2.0, 1.0, 0.5)), want, err_msg=str(m.dtype))
    strided = np.zeros((12, 60, 25), bool)
    strided[:, ::2] = mask
    np.testing.assert_array_equal(segloss.edt(strided[:, ::2], spacing=(2.0, 1.0, 0.5)), want)


def test_edt_without_zero_is_inf():
    assert np.isinf(segloss.edt(np.ones((4, 5), bool))).all()


@pytest.mark.parametrize("shape,conn,rank_conn", [((80, 90), 4, 1), ((80, 90), 8, 2), ((20, 24, 22), 6, 1), ((20, 24, 22), 26, 3), ((80, 90), None, 1)])
def test_label_equals_scipy_up_to_numbering(shape, conn, rank_conn):
    mask = np.random.default_rng(7).random(shape) < 0.45
    ref, n_ref = ndimage.label(mask, ndimage.generate_binary_structure(len(shape), rank_conn))
    got, n = segloss.label(mask, connectivity=conn)
    assert n == n_ref and got.dtype == np.int32
    pairs = set(zip(got.ravel().tolist(), ref.ravel().tolist()))
    assert len(pairs) == n + 1 and (0, 0) in pairs
    # numbered in raster order of each component's first pixel: 1, 2, 3, ...
    firsts = [int(x) for x in got.ravel() if x]
    seen = list(dict.fromkeys(firsts))
    assert seen == list(range(1, n + 1))


def unet_per_object(labels, w0=10.0, sigma=5.0, class_weights="balanced"):
    """The per-object recipe of Ronneberger et al. 2015, eq. 2, with scipy."""
    ids = [k for k in np.unique(labels) if k != 0]
    fg = labels != 0
    if class_weights == "balanced":
        n, n1 = labels.size, int(fg.sum())
        wc = np.where(fg, n / (2 * n1) if n1 else 0.0, n / (2 * (n - n1)) if n - n1 else 0.0)
    else:
        wc = np.where(fg, class_weights[1], class_weights[0])
    if len(ids) < 2:
        return wc
    d = np.sort(np.stack([ndimage.distance_transform_edt(labels != k) for k in ids]), axis=0)
    border = w0 * np.exp(-((d[0] + d[1]) ** 2) / (2 * sigma**2))
    return wc + np.where(fg, 0.0, border)


@pytest.mark.parametrize("seed,w0,sigma,cw", [(0, 10.0, 5.0, None), (1, 5.0, 3.0, (1.0, 2.0)), (2, 10.0, 8.0, "balanced")])
def test_unet_weights_equal_the_per_object_recipe(seed, w0, sigma, cw):
    inst, k = ndimage.label(blobs((96, 110), seed, density=0.3, sigma=3.0))
    assert k >= 3
    ref = unet_per_object(inst, w0, sigma, "balanced" if cw is None else cw)
    for lab in (inst, inst.astype(np.uint8) if k < 256 else inst, inst.astype(np.int64), np.asfortranarray(inst)):
        got = segloss.unet_weights(lab, w0=w0, sigma=sigma, class_weights=cw)
        assert got.dtype == np.float32 and np.abs(got - ref).max() <= 1e-3
    # a boolean mask: its connected components are the objects
    got = segloss.unet_weights(inst > 0, w0=w0, sigma=sigma, class_weights=cw)
    assert np.abs(got - ref).max() <= 1e-3


def test_unet_weights_3d_and_one_object():
    inst, _ = ndimage.label(blobs((10, 30, 28), 9, density=0.3, sigma=2.0))
    np.testing.assert_allclose(segloss.unet_weights(inst, sigma=3.0), unet_per_object(inst, sigma=3.0), atol=1e-3)
    one = np.zeros((10, 12), np.int32)
    one[2:5, 3:6] = 7
    np.testing.assert_allclose(segloss.unet_weights(one), unet_per_object(one), atol=1e-6)


@pytest.mark.parametrize(
    "call,exc,needles",
    [
        (lambda: segloss.edt(np.ones(5, bool)), ValueError, ["mask", "[5]", "2D"]),
        (lambda: segloss.edt(np.ones((2, 2, 2, 2), bool)), ValueError, ["mask", "rank 4"]),
        (lambda: segloss.edt(np.ones((0, 3), bool)), ValueError, ["empty", "mask"]),
        (lambda: segloss.edt(np.array(True)), ValueError, ["mask", "[]"]),
        (lambda: segloss.edt(np.ones((3, 3)), spacing=(1.0,)), ValueError, ["spacing", "2 values"]),
        (lambda: segloss.edt(np.ones((3, 3)), spacing=(1.0, -1.0)), ValueError, ["spacing", "-1"]),
        (lambda: segloss.edt(np.ones((3, 3)), spacing=(1.0, np.nan)), ValueError, ["spacing", "NaN"]),
        (lambda: segloss.edt(np.ones((3, 3)), spacing="ab"), TypeError, ["spacing"]),
        (lambda: segloss.edt(np.ones((3, 3), object)), TypeError, ["mask", "object"]),
        (lambda: segloss.label(np.ones((3, 3)), connectivity=6), ValueError, ["connectivity", "6"]),
        (lambda: segloss.unet_weights(-np.ones((3, 3), np.int32)), ValueError, ["label out of range", "-1"]),
        (lambda: segloss.unet_weights(np.ones((3, 3), np.float32)), TypeError, ["labels", "float32"]),
        (lambda: segloss.unet_weights(np.ones((3, 3), np.int32), sigma=0), ValueError, ["sigma", "0"]),
        (lambda: segloss.unet_weights(np.ones((3, 3), np.int32), w0=-1), ValueError, ["w0", "-1"]),
        (lambda: segloss.unet_weights(np.ones((3, 3), np.int32), class_weights="x"), ValueError, ["class_weights", "x"]),
        (lambda: segloss.unet_weights(np.ones((3, 3), np.int32), class_weights=(1, 2, 3)), ValueError, ["class_weights"]),
    ],
)
def test_map_errors(call, exc, needles):
    with pytest.raises(exc) as e:
        call()
    for n in needles:
        assert n.lower() in str(e.value).lower(), (n, str(e.value))


def test_maps_same_bits_for_any_thread_count():
    inst, _ = ndimage.label(blobs((200, 180), 3, density=0.3, sigma=3.0))
    e1, w1 = segloss.edt(inst > 0, threads=1), segloss.unet_weights(inst, threads=1)
    for t in (2, 3):
        np.testing.assert_array_equal(segloss.edt(inst > 0, threads=t), e1)
        np.testing.assert_array_equal(segloss.unet_weights(inst, threads=t), w1)

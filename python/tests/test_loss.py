"""segloss.Loss and segloss.catalogue: the registry through Python, input dtypes and layouts,
errors, threads."""

from __future__ import annotations

import pickle
import threading
import time

import numpy as np
import pytest

import segloss
from conftest import binary, labels, logits

# one spec of each kind of input: binary, multiclass labels, multilabel, a weighted sum
SPECS = [
    ("bce", (2, 1, 17, 19), "binary"),
    ("focal:gamma=2,alpha=0.25", (2, 1, 17, 19), "binary"),
    ("dice", (2, 3, 11, 13), "labels"),
    ("0.5*ce+lovasz_softmax", (2, 3, 11, 13), "labels"),
    ("lovasz_hinge", (2, 1, 9, 10), "binary"),
    ("jaccard:mode=multilabel", (2, 3, 8, 9), "multilabel"),
]


def inputs(kind, shape, seed=0):
    pred = logits(shape, seed)
    n, c, *s = shape
    if kind == "labels":
        return pred, labels((n, *s), c, seed + 1)
    return pred, binary(shape, seed + 2)


def test_catalogue_lists_the_registry():
    cat = segloss.catalogue()
    for name in ["bce", "focal", "ce", "dice", "lovasz_softmax", "lovasz_hinge"]:
        assert name in cat
    for name, d in cat.items():
        assert d["name"] == name and d["formula"] and d["anchor"], name
        assert d["modes"] and set(d["modes"]) <= {"binary", "multiclass", "multilabel"}, name
        assert d["weight"] in ("none", "optional", "required"), name
        assert d["unreduced"] == "[N]", name  # the shape of Loss.per_image's values
        assert "mode" in d["keys"] and all({"default", "doc"} <= set(k) for k in d["keys"].values()), name
    assert cat["focal"]["keys"]["gamma"]["default"] == "2"
    # the module docstring carries every loss's formula and reference, from the registry
    for name, d in cat.items():
        assert f"``{name}``" in segloss.__doc__ and d["anchor"] in segloss.__doc__
    assert "reference:" in segloss.describe("focal") and "gamma = 2" in segloss.describe("focal")


def test_spec_is_parsed_once_and_printed_canonically():
    loss = segloss.Loss("focal:gamma=2.0,alpha=0.25")
    assert loss.spec == str(loss) == "focal:gamma=2,alpha=0.25"
    assert repr(loss) == "segloss.Loss('focal:gamma=2,alpha=0.25')"
    assert segloss.Loss(loss.spec).spec == loss.spec
    assert segloss.Loss("0.5*ce+lovasz_softmax").names == ["ce", "lovasz_softmax"]
    again = pickle.loads(pickle.dumps(segloss.Loss("bce", threads=2, check_finite=True)))
    assert (again.spec, again.threads, again.check_finite) == ("bce", 2, True)


@pytest.mark.parametrize("spec,shape,kind", SPECS)
def test_value_and_grad_agree_with_call_and_finite_differences(spec, shape, kind):
    pred, target = inputs(kind, shape)
    loss = segloss.Loss(spec)
    v, g = loss.value_and_grad(pred, target)
    assert g.dtype == np.float32 and g.shape == pred.shape and g.flags.c_contiguous
    assert loss(pred, target) == v
    # central differences in float64 preds (computed in float32): a few elements
    rng = np.random.default_rng(3)
    p64 = pred.astype(np.float64)
    for _ in range(4):
        i = tuple(int(rng.integers(0, d)) for d in shape)
        h = 1e-2
        up, dn = p64.copy(), p64.copy()
        up[i] += h
        dn[i] -= h
        fd = (loss(up, target) - loss(dn, target)) / (2 * h)
        assert abs(fd - g[i]) <= 2e-3 * max(1.0, abs(float(g[i]))) + 5e-5, (spec, i, fd, g[i])


@pytest.mark.parametrize("spec,shape,kind", SPECS)
def test_float64_pred_gives_float64_gradient_of_the_float32_values(spec, shape, kind):
    pred, target = inputs(kind, shape)
    loss = segloss.Loss(spec)
    v32, g32 = loss.value_and_grad(pred, target)
    v64, g64 = loss.value_and_grad(pred.astype(np.float64), target)
    assert g64.dtype == np.float64 and v64 == v32
    np.testing.assert_array_equal(g64, g32.astype(np.float64))


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64])
def test_every_integer_label_dtype_gives_the_same_result(dtype):
    pred, target = inputs("labels", (2, 3, 11, 13))
    loss = segloss.Loss("ce+dice")
    want = loss.value_and_grad(pred, target)
    got = loss.value_and_grad(pred, target.astype(dtype))
    assert got[0] == want[0]
    np.testing.assert_array_equal(got[1], want[1])


def test_binary_targets_as_bool_uint8_float64_and_big_endian():
    pred, target = inputs("binary", (2, 1, 17, 19))
    loss = segloss.Loss("bce+dice")
    want = loss.value_and_grad(pred, target)
    for t in [target.astype(bool), target.astype(np.uint8), target.astype(np.float64), target.astype(">f4")]:
        got = loss.value_and_grad(pred, t)
        assert got[0] == want[0], t.dtype
        np.testing.assert_array_equal(got[1], want[1])
    got = loss.value_and_grad(pred.astype(">f4"), target)
    assert got[0] == want[0]
    # lists go through numpy.asarray
    assert loss(pred.tolist(), target.tolist()) == pytest.approx(want[0], rel=1e-6)


@pytest.mark.parametrize("spec,shape,kind", SPECS)
def test_any_strides_give_the_same_bits(spec, shape, kind):
    pred, target = inputs(kind, shape)
    loss = segloss.Loss(spec)
    want = loss.value_and_grad(pred, target)
    # a transposed copy viewed back, a slice of a bigger array, a reversed copy
    fortran = np.asfortranarray(pred)
    big = np.zeros((shape[0], shape[1], shape[2] * 2, shape[3] + 3), np.float32)
    big[:, :, ::2, 1:-2] = pred
    sliced = big[:, :, ::2, 1:-2]
    rev = pred[..., ::-1].copy()[..., ::-1]
    for p in (fortran, sliced, rev):
        assert not p.flags.c_contiguous or p is rev
        v, g = loss.value_and_grad(p, target)
        assert v == want[0]
        np.testing.assert_array_equal(g, want[1])
    tt = np.asfortranarray(target)
    assert loss(pred, tt) == want[0]


def test_weights():
    pred, target = inputs("binary", (2, 1, 17, 19))
    w = np.random.default_rng(5).random((2, 17, 19)).astype(np.float32)
    loss = segloss.Loss("bce")
    v1 = loss(pred, target, w)
    assert v1 != loss(pred, target)
    assert loss(pred, target, w.astype(np.float64)) == v1
    assert loss(pred, target, weight=w[:, None]) == v1
    assert loss(pred, target, np.ones((2, 17, 19), np.int64)) == loss(pred, target)


@pytest.mark.parametrize(
    "call,exc,needles",
    [
        (lambda l, p, t: l(p.astype(np.int32), t), TypeError, ["pred", "float32 or float64", "int32"]),
        (lambda l, p, t: l(p.astype(np.float16), t), TypeError, ["pred", "float16"]),
        (lambda l, p, t: l(p.astype(np.complex64), t), TypeError, ["pred", "complex64"]),
        (lambda l, p, t: l(p.astype(object), t), TypeError, ["pred", "object"]),
        (lambda l, p, t: l(p, t.astype("U1")), TypeError, ["target", "<U1"]),
        (lambda l, p, t: l(p, t.astype(object)), TypeError, ["target"]),
        (lambda l, p, t: l(p, t[:, :5]), ValueError, ["shape mismatch", "[2, 3, 11, 13]", "[2, 5, 13]"]),
        (lambda l, p, t: l(p[0], t), ValueError, ["pred", "[3, 11, 13]"]),
        (lambda l, p, t: l(np.float32(1.0), t), ValueError, ["pred", "[]"]),
        (lambda l, p, t: l(p[:, :, :0], t[:, :0]), ValueError, ["empty", "pred"]),
        (lambda l, p, t: l(p, t + 7), ValueError, ["label out of range", "10"]),
        (lambda l, p, t: l(p, t, np.ones((3, 3), np.float32)), ValueError, ["weight", "[3, 3]"]),
        (lambda l, p, t: l(p, t, threads=0), ValueError, ["threads", "0"]),
        (lambda l, p, t: l(p, t, "x"), TypeError, ["weight"]),
    ],
)
def test_bad_inputs_raise_with_segloss_message(call, exc, needles):
    pred, target = inputs("labels", (2, 3, 11, 13))
    with pytest.raises(exc) as e:
        call(segloss.Loss("ce"), pred, target)
    for n in needles:
        assert n in str(e.value), (n, str(e.value))


@pytest.mark.parametrize(
    "spec,needles",
    [
        ("focal:gamma=-1", ["gamma", "-1"]),
        ("focal:gama=2", ["gama"]),
        ("nosuchloss", ["nosuchloss", "known"]),
        ("bce+", ["expected a loss name"]),
        ("", ["expected a loss name"]),
    ],
)
def test_bad_specs_name_the_key_and_value(spec, needles):
    with pytest.raises(ValueError) as e:
        segloss.Loss(spec)
    for n in needles:
        assert n in str(e.value)
    with pytest.raises(TypeError):
        segloss.Loss(3)  # type: ignore[arg-type]


def test_nan_propagates_by_default_and_raises_with_check_finite():
    pred, target = inputs("binary", (2, 1, 17, 19))
    pred[1, 0, 3, 4] = np.nan
    assert np.isnan(segloss.Loss("bce")(pred, target))
    with pytest.raises(ValueError) as e:
        segloss.Loss("bce", check_finite=True)(pred, target)
    assert "pred" in str(e.value) and "[1, 0, 3, 4]" in str(e.value) and "NaN" in str(e.value)
    t = target.copy()
    t[0, 0, 1, 2] = np.inf
    with pytest.raises(ValueError, match="target"):
        segloss.Loss("bce", check_finite=True)(np.nan_to_num(pred), t)


@pytest.mark.parametrize("spec,kind", [("bce+dice", "binary"), ("ce+lovasz_softmax", "labels"), ("focal", "labels"), ("jaccard:mode=multilabel", "multilabel")])
def test_same_bits_for_any_thread_count(spec, kind):
    shape = (4, 3, 96, 80) if kind != "binary" else (4, 1, 96, 80)
    pred, target = inputs(kind, shape, seed=11)
    loss = segloss.Loss(spec)
    want = loss.value_and_grad(pred, target, threads=1)
    for t in (2, 3, 5):
        v, g = loss.value_and_grad(pred, target, threads=t)
        assert v == want[0], t
        np.testing.assert_array_equal(g, want[1])
        assert segloss.Loss(spec, threads=t)(pred, target) == want[0]
    old = segloss.get_threads()
    try:
        segloss.set_threads(3)
        assert segloss.get_threads() == 3 and loss(pred, target) == want[0]
        with pytest.raises(ValueError, match="threads"):
            segloss.set_threads(0)
    finally:
        segloss.set_threads(old)


def test_the_gil_is_released_while_the_kernels_run():
    pred, target = inputs("labels", (8, 4, 256, 256), seed=4)
    loss = segloss.Loss("lovasz_softmax")
    t0 = time.perf_counter()
    loss.value_and_grad(pred, target, threads=1)
    alone = time.perf_counter() - t0
    ticks = 0
    done = threading.Event()

    def work():
        for _ in range(3):
            loss.value_and_grad(pred, target, threads=1)
        done.set()

    th = threading.Thread(target=work)
    th.start()
    while not done.is_set():
        ticks += 1
        time.sleep(0.001)
    th.join()
    # with the GIL held for 3 calls the main thread could not tick at all in that time
    assert ticks >= max(5, int(alone * 3 / 0.001 / 20)), (ticks, alone)


def _edt_sum(seed):
    import segloss as s

    m = np.random.default_rng(seed).random((64, 64)) < 0.8
    return float(s.edt(m).sum()), s.Loss("bce")(logits((1, 1, 8, 8)), binary((1, 1, 8, 8)))


def test_works_in_forked_children_after_the_parent_used_its_threads():
    # a DataLoader worker is a fork of a process whose pools ran: the child must not wait on them
    import multiprocessing as mp

    segloss.Loss("bce")(logits((4, 1, 64, 64)), binary((4, 1, 64, 64)))
    segloss.edt(np.ones((64, 64), bool) ^ np.eye(64, dtype=bool), threads=2)
    want = [_edt_sum(s) for s in range(3)]
    with mp.get_context("fork").Pool(2) as p:
        got = p.map_async(_edt_sum, range(3)).get(timeout=60)
    assert got == want


@pytest.mark.parametrize("spec,shape,kind", SPECS)
def test_per_image_values_and_vjp(spec, shape, kind):
    # three images: image i alone through loss(...) and value_and_grad(...) is the reference
    shape = (3, *shape[1:])
    pred, target = inputs(kind, shape, seed=5)
    loss = segloss.Loss(spec)
    values = loss.per_image(pred, target)
    assert values.dtype == np.float64 and values.shape == (3,)
    up = np.array([1.5, -0.25, 0.0], dtype=np.float32)
    v2, g = loss.per_image_vjp(pred, target, up)
    assert g.dtype == np.float32 and g.shape == pred.shape
    for i in range(3):
        vi, gi = loss.value_and_grad(pred[i : i + 1], target[i : i + 1])
        assert values[i] == vi == v2[i], (spec, i)
        # the kernels take the upstream inside (one f32 rounding more or less than up * gi)
        np.testing.assert_allclose(g[i : i + 1], up[i] * gi, rtol=1e-5, atol=1e-6 * float(np.abs(gi).max()))
    assert not g[2].any()
    # upstream None: every image's own gradient; float64 pred: a float64 gradient
    _, ones = loss.per_image_vjp(pred.astype(np.float64), target)
    assert ones.dtype == np.float64
    for i in range(3):
        np.testing.assert_array_equal(ones[i : i + 1], loss.value_and_grad(pred[i : i + 1], target[i : i + 1])[1])
    with pytest.raises(ValueError, match=r"upstream.*\[4\].*pred.*\[3, "):
        loss.per_image_vjp(pred, target, np.ones(4, dtype=np.float32))
    with pytest.raises(ValueError, match=r"upstream.*shape \[3\]"):
        loss.per_image_vjp(pred, target, np.ones((3, 1), dtype=np.float32))

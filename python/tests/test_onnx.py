"""segloss.export_onnx and attach_onnx: the graphs run in ONNX Runtime and give the native
values (skipped when onnxruntime is not installed); errors without it."""

from __future__ import annotations

import numpy as np
import pytest

import segloss
from conftest import binary, labels, logits


def test_export_returns_model_bytes_and_errors_name_the_key():
    b = segloss.export_onnx("bce+dice", rank=4)
    assert isinstance(b, bytes) and len(b) > 100 and b"segloss" in b
    with pytest.raises(ValueError, match="mode"):
        segloss.export_onnx("bce", mode="sideways")
    with pytest.raises(ValueError, match="rank"):
        segloss.export_onnx("bce", rank=9)
    with pytest.raises(ValueError, match="opset"):
        segloss.export_onnx("bce", opset=3)
    with pytest.raises(ValueError, match="gamma"):
        segloss.export_onnx("focal:gamma=-2")
    with pytest.raises(ValueError, match="not an ONNX model"):
        segloss.attach_onnx(b"\x01\x02garbage", "logits", "bce")
    with pytest.raises(ValueError, match="to"):
        segloss.attach_onnx(b, "no_such_output", "bce")


CASES = [
    ("bce+0.5*focal:gamma=2", "binary", dict(rank=4), False),
    ("dice", "labels", dict(rank=4, mode="multiclass", classes=3), False),
    ("ce+lovasz_softmax", "labels", dict(rank=4, classes=3), False),
    ("bce", "binary", dict(rank=4, with_weight=True), True),
    ("lovasz_hinge", "binary", dict(rank=4), False),
]


@pytest.mark.parametrize("spec,kind,opts,weighted", CASES)
def test_exported_graph_runs_in_onnxruntime(spec, kind, opts, weighted):
    ort = pytest.importorskip("onnxruntime")
    shape = (2, 1, 9, 11) if kind == "binary" else (2, 3, 9, 11)
    pred = logits(shape, 4)
    target = labels((2, 9, 11), 3, 5) if kind == "labels" else binary(shape, 6)
    feeds = {"pred": pred, "target": target}
    native = segloss.Loss(spec)
    if weighted:
        w = np.random.default_rng(7).random(shape).astype(np.float32)
        feeds["weight"] = w
        want = native(pred, target, w)
    else:
        want = native(pred, target)
    sess = ort.InferenceSession(segloss.export_onnx(spec, **opts), providers=["CPUExecutionProvider"])
    (got,) = sess.run(["loss"], feeds)
    assert abs(float(got) - want) <= 1e-5 * abs(want) + 1e-6


def test_attached_graph_runs_in_onnxruntime():
    ort = pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 3, "H", "W"])
    g = helper.make_graph([helper.make_node("Mul", ["x", "two"], ["logits"])], "m", [x], [y],
                          [helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    out = segloss.attach_onnx(m.SerializeToString(), "logits", "ce")
    sess = ort.InferenceSession(out, providers=["CPUExecutionProvider"])
    xv = logits((2, 3, 5, 6), 8)
    t = labels((2, 5, 6), 3, 9)
    logits_out, loss = sess.run(["logits", "loss"], {"x": xv, "target": t})
    np.testing.assert_array_equal(logits_out, 2 * xv)
    want = segloss.Loss("ce")(2 * xv, t)
    assert abs(float(loss) - want) <= 1e-5 * abs(want) + 1e-6

"""Runs the models dumped by the Rust tests in ONNX Runtime and the ONNX checker.

    SEGLOSS_ONNX_DUMP=/tmp/segloss-onnx-dump cargo test -p segloss-onnx
    /work/venv/py/bin/python tools/segloss-onnx/tests/ort_check.py /tmp/segloss-onnx-dump

For every dumped case: `onnx.checker.check_model(full_check=True)` (types and shape inference
with strict mode), the inferred type of every output equal to the declared one, and the `loss`
ONNX Runtime computes within 1e-5 relative (plus 1e-7 absolute) of the native value recorded by
the Rust test. This shows the graphs rely on nothing tract-specific. Prints the library versions.
"""

import glob
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort

REL_TOL = 1e-5
ABS_FLOOR = 1e-7


def main(d):
    print(f"onnx {onnx.__version__}, onnxruntime {ort.__version__}, numpy {np.__version__}")
    sessions = {}
    checked = set()
    failures = []
    cases = sorted(glob.glob(os.path.join(d, "*.json")))
    for path in cases:
        case = json.load(open(path))
        mpath = os.path.join(d, case["model"])
        if mpath not in checked:
            m = onnx.load(mpath)
            onnx.checker.check_model(m, full_check=True)
            inferred = onnx.shape_inference.infer_shapes(m, check_type=True, strict_mode=True)
            for o in inferred.graph.output:
                if o.type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
                    failures.append(f"{case['spec']}: output {o.name} is not float")
            checked.add(mpath)
        if mpath not in sessions:
            sessions[mpath] = ort.InferenceSession(mpath, providers=["CPUExecutionProvider"])
        s = sessions[mpath]
        feeds = {}
        for name, v in case["inputs"].items():
            feeds[name] = np.asarray(v["data"], dtype=v["dtype"]).reshape(v["shape"])
        out = s.run(["loss"], feeds)[0]
        got, want = float(out), float(case["native"])
        if out.shape != () or not abs(got - want) <= REL_TOL * abs(want) + ABS_FLOOR:
            failures.append(f"{case['spec']} ({os.path.basename(path)}): ort {got} vs native {want}")
    print(f"{len(cases)} cases, {len(checked)} models checked")
    for f in failures:
        print("FAIL", f)
    return 1 if failures or not cases else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

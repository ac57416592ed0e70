#!/usr/bin/env python3
"""Is it the same loss, and is it faster? segloss against the reference implementations.

For every loss of docs/LOSSES.md that has an "equal" anchor in a Python library
(PyTorch, torchvision, MONAI, segmentation_models_pytorch, nnU-Net v2) and for the distance transforms
(scipy, edt, OpenCV) and the U-Net weight map (scipy, per object), this script

1. checks agreement on the same random inputs: it writes .npy files, runs
   `segloss eval SPEC --pred P --target T --grad-out G.npy --json` and compares the value and the
   gradient with the reference computed in float64 (|value - ref| <= 1e-5 |ref| + 1e-7,
   max |grad - ref| <= 1e-4 max |ref grad|); it exports the loss with
   `segloss export SPEC --rank 4 -o F.onnx` and runs the graph in ONNX Runtime on the same inputs
   (value within the same 1e-5 relative bound); for the distance verbs it compares the .npy
   written by `segloss edt` / `segloss weight-map` with the reference (EDT to 1e-4 absolute, the
   U-Net map to 1e-3);
2. times, in the same run and with the same number of threads T (torch.set_num_threads(T),
   `segloss bench ... --threads T`, its time-based runs), the reference (forward plus backward,
   loss.backward(), median of the timed runs after warm-up) on data of the same shape and kind as
   `segloss bench SPEC --shape ... --json` generates;
3. writes BENCHMARKS.md and docs/speedups.png at the root of the repository.

A row that disagrees shows FAIL instead of its speed-up, and the script exits with 1.

Run (from anywhere):
    tools/compare/run.sh [--threads 2] [--quick] [--venv PATH]
    python3 tools/compare/compare.py [same flags]

Without --venv (or SEGLOSS_COMPARE_VENV) it creates tools/compare/.venv and pip installs the
reference stack (torch, torchvision, MONAI, smp, nnU-Net v2, scipy, edt, OpenCV, ONNX, ONNX
Runtime, matplotlib: ~6 GB). It builds the CLI once (`cargo build --release -p segloss-cli`) unless
--no-build or --segloss is given. Not part of CI.
"""

import argparse
import os
import shlex
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
REQUIREMENTS = [
    # (pip name, import name)
    ("torch", "torch"),
    ("segmentation_models_pytorch", "segmentation_models_pytorch"),
    ("monai", "monai"),
    ("torchvision", "torchvision"),
    ("scipy", "scipy"),
    ("numpy", "numpy"),
    ("edt", "edt"),
    ("opencv-python-headless", "cv2"),
    ("onnxruntime", "onnxruntime"),
    ("onnx", "onnx"),
    ("matplotlib", "matplotlib"),
    ("nnunetv2", "nnunetv2"),
]
INNER = "SEGLOSS_COMPARE_INNER"


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--venv", help="Python virtual environment to use (default: $SEGLOSS_COMPARE_VENV, else tools/compare/.venv, created)")
    ap.add_argument("--threads", type=int, default=2, help="threads for both sides (default 2)")
    ap.add_argument("--quick", action="store_true", help="smaller shapes and fewer repetitions (for trying the script)")
    ap.add_argument("--reps", type=int, help="timed repetitions per loss (default 10, 3 with --quick; scipy transforms a third of it, at least 3)")
    ap.add_argument("--no-build", action="store_true", help="do not run cargo build; use the existing target/release/segloss")
    ap.add_argument("--segloss", help="path of the segloss binary (implies --no-build)")
    ap.add_argument("--only", help="only rows whose workload, loss or reference contains this text, or one of several texts separated by | (debugging, partial runs)")
    ap.add_argument("--out-md", default=str(ROOT / "BENCHMARKS.md"), help="the Markdown report (default BENCHMARKS.md)")
    ap.add_argument("--out-png", default=str(ROOT / "docs" / "speedups.png"), help="the bar chart (default docs/speedups.png)")
    ap.add_argument("--workdir", help="where the .npy/.onnx files go (default: a temporary folder)")
    a = ap.parse_args(argv)
    if a.threads < 1:
        ap.error("--threads must be >= 1")
    if a.reps is not None and a.reps < 1:
        ap.error("--reps must be >= 1")
    return a


# ---------------------------------------------------------------------------------------------
# Bootstrap: find or make the virtual environment, then re-run this script inside it.


def venv_python(venv):
    return Path(venv) / "bin" / "python"


def missing_modules(python):
    code = "import importlib.util,sys; print(' '.join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))"
    out = subprocess.run([str(python), "-c", code, *[m for _, m in REQUIREMENTS]], capture_output=True, text=True, check=True).stdout
    names = set(out.split())
    return [pip for pip, mod in REQUIREMENTS if mod in names]


def bootstrap(args, argv):
    venv = args.venv or os.environ.get("SEGLOSS_COMPARE_VENV")
    if venv is None:
        venv = str(HERE / ".venv")
        if not venv_python(venv).exists():
            print(f"compare: creating {venv} (the reference stack downloads ~6 GB)", file=sys.stderr)
            subprocess.run([sys.executable, "-m", "venv", venv], check=True)
            subprocess.run([str(venv_python(venv)), "-m", "pip", "install", "--upgrade", "pip"], check=True)
    py = venv_python(venv)
    if not py.exists():
        sys.exit(f"compare: --venv {venv}: no bin/python there")
    missing = missing_modules(py)
    if missing:
        print(f"compare: pip install {' '.join(missing)} into {venv}", file=sys.stderr)
        subprocess.run([str(py), "-m", "pip", "install", *missing], check=True)
    env = dict(os.environ)
    env[INNER] = "1"
    t = str(args.threads)
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[k] = t
    env.setdefault("SEGLOSS_COMPARE_CMD", " ".join(["python3", "tools/compare/compare.py", *map(shlex.quote, argv)]).strip())
    os.execve(str(py), [str(py), str(Path(__file__).resolve()), *argv], env)


# ---------------------------------------------------------------------------------------------
# The comparison proper (inside the virtual environment).

VALUE_RTOL, VALUE_ATOL = 1e-5, 1e-7  # |value - ref| <= VALUE_RTOL |ref| + VALUE_ATOL
GRAD_RTOL = 1e-4  # max |grad - ref| <= GRAD_RTOL max |ref grad|
EDT_ATOL = 1e-4  # the exact EDT against the references
UNET_ATOL = 1e-3  # LOSSES.md: the U-Net map is exact to 1e-3 absolute
SPREAD = 1.3  # a row whose 90th-percentile run is over SPREAD x its fastest run (either side) gets a dagger
BOUNDARY_MAP_INPUT = "boundary_map"  # segloss-onnx's extra graph input of `boundary` (field.rs)
NO_ONNX_FORM = "has no ONNX form"  # ExportError::Unsupported, the documented export error of `hausdorff_dt`


def boundary_map(shape, y, multiclass):
    """`segloss_distance::boundary_map` with the default keys, written out (docs/LOSSES.md,
    boundary): per kept (image, channel), G = {g > 0.5}, phi = edt(not G) outside G, 1 - edt(G)
    inside, 0 where G is empty or fills the image; 0 on the dropped channels (multiclass: the
    background, channel 0)."""
    import numpy as np
    from scipy.ndimage import distance_transform_edt

    n, c = shape[0], shape[1]
    out = np.zeros(shape, dtype=np.float32)
    for i in range(n):
        for k in range(1 if multiclass else 0, c):
            g = (y[i] == k) if multiclass else (y[i, k] > 0.5)
            if g.any() and not g.all():
                out[i, k] = np.where(g, 1.0 - distance_transform_edt(g), distance_transform_edt(~g))
    return out


def main_inner(args):
    import datetime
    import importlib.metadata
    import json
    import platform
    import shutil
    import statistics
    import tempfile
    import time

    import numpy as np

    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass

    import cv2
    import edt as edtlib
    import monai.losses as ml
    import onnxruntime as ort
    import scipy
    import segmentation_models_pytorch as smp
    import segmentation_models_pytorch.losses.lovasz as smp_lovasz
    import torchvision
    from scipy import ndimage
    from torchvision.ops import sigmoid_focal_loss

    T = args.threads
    load_start = os.getloadavg()
    quick = args.quick
    reps = args.reps or (3 if quick else 10)
    slow_reps = max(3, reps // 3)
    only = [t for t in (args.only or "").lower().split("|") if t]

    # ---- the CLI ----
    segloss = args.segloss
    if segloss is None:
        target_dir = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
        if not target_dir.is_absolute():
            target_dir = ROOT / target_dir
        segloss = str(target_dir / "release" / "segloss")
        if not args.no_build:
            env = dict(os.environ)
            env.setdefault("CARGO_BUILD_JOBS", "1")
            print("compare: cargo build --release -p segloss-cli", file=sys.stderr)
            subprocess.run(["cargo", "build", "--release", "-p", "segloss-cli"], cwd=ROOT, env=env, check=True)
    if not Path(segloss).exists():
        sys.exit(f"compare: no segloss binary at {segloss} (build it, or pass --segloss PATH)")

    def cli(*a, check=True):
        r = subprocess.run([segloss, *map(str, a)], capture_output=True, text=True)
        if check and r.returncode != 0:
            raise RuntimeError(f"segloss {' '.join(map(str, a))}: exit {r.returncode}: {r.stderr.strip()}")
        return r

    has_export = cli("export", "--help", check=False).returncode == 0

    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="segloss-compare-"))
    work.mkdir(parents=True, exist_ok=True)

    spreads = []  # p90 / min of each timing since the last row

    def p90(times):
        # nearest rank, as `segloss bench` reports it
        s = sorted(times)
        return s[max(1, -(-9 * len(s) // 10)) - 1]

    def median_ms(times):
        med = statistics.median(times)
        spreads.append(p90(times) / max(min(times), 1e-12))
        return 1e3 * med

    def time_fn(fn, n, warm=1):
        out = None
        for _ in range(warm):
            out = fn()
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t0)
        return median_ms(times), out

    def time_torch(loss_fn, x, y, n):
        def step():
            x.grad = None
            loss_fn(x, y).backward()

        t0 = time.perf_counter()
        for _ in range(2):
            step()
        if time.perf_counter() - t0 > 1.0:  # over 0.5 s a run: fewer timed runs
            n = min(n, slow_reps)
        times = []
        for _ in range(n):
            x.grad = None
            t0 = time.perf_counter()
            loss_fn(x, y).backward()
            times.append(time.perf_counter() - t0)
        return median_ms(times)

    def bench(target, shape, n):
        # let the reference's OpenMP workers stop spinning (they busy-wait for a while after each
        # torch call and would otherwise share the two cores with segloss)
        time.sleep(1.0)
        # `segloss bench`'s time-based runs (at least 1 s and 50 runs after 0.2 s of warm-up);
        # `n` only in --quick runs
        iters = ["--iters", n] if quick else []
        r = cli("bench", target, "--shape", ",".join(map(str, shape)), "--threads", T, *iters, "--json")
        o = json.loads(r.stdout)
        spreads.append(o["spread"])
        return o["median_ms"]

    # ---- the workloads ----
    if quick:
        w1, w2 = [2, 1, 128, 128], [2, 21, 64, 64]
        edt2, edt3, unet2, cells_n = [512, 512], [48, 48, 48], [192, 192], 15
    else:
        w1, w2 = [8, 1, 512, 512], [4, 21, 256, 256]
        edt2, edt3, unet2, cells_n = [2048, 2048], [128, 128, 128], [512, 512], 60
    W1 = f"W1 binary {w1}"
    W2 = f"W2 {w2[1]}-class {w2}"
    agree_bin, agree_mc = [2, 1, 64, 64], [2, 21, 32, 32]

    def wrap(cls, **kw):
        m = cls(**kw)
        return lambda x, y: m(x, y)

    def wrap_onehot(cls, **kw):
        m = cls(**kw)
        return lambda x, y: m(x, y.unsqueeze(1))

    C = w2[1]

    def wasserstein_uniform(x, y):
        # the uniform matrix in the dtype of the logits (float64 for the agreement check)
        return ml.GeneralizedWassersteinDiceLoss(dist_matrix=1.0 - torch.eye(C, dtype=x.dtype))(x, y)

    from nnunetv2.training.loss.robust_ce_loss import TopKLoss

    nnunet_topk = TopKLoss(k=10)
    # (workload, spec, reference name, reference fn(x, y)); binary y: float of x's shape,
    # multiclass y: int64 labels [N, *S].
    cases = [
        (W1, "bce", "torch binary_cross_entropy_with_logits", lambda x, y: F.binary_cross_entropy_with_logits(x, y)),
        (W1, "bce:pos_weight=2", "torch binary_cross_entropy_with_logits(pos_weight=2)",
         lambda x, y: F.binary_cross_entropy_with_logits(x, y, pos_weight=torch.full((1,), 2.0, dtype=x.dtype))),
        (W1, "focal", "torchvision sigmoid_focal_loss(alpha=0.25, gamma=2)",
         lambda x, y: sigmoid_focal_loss(x, y, alpha=0.25, gamma=2.0, reduction="mean")),
        (W1, "dice", "MONAI DiceLoss(sigmoid=True)", wrap(ml.DiceLoss, sigmoid=True)),
        (W1, "dice:reduce=batch", "MONAI DiceLoss(sigmoid=True, batch=True)", wrap(ml.DiceLoss, sigmoid=True, batch=True)),
        (W1, "dice:squared=true", "MONAI DiceLoss(sigmoid=True, squared_pred=True)", wrap(ml.DiceLoss, sigmoid=True, squared_pred=True)),
        (W1, "jaccard", "MONAI DiceLoss(sigmoid=True, jaccard=True, smooth_nr=smooth_dr=2e-5)",
         wrap(ml.DiceLoss, sigmoid=True, jaccard=True, smooth_nr=2e-5, smooth_dr=2e-5)),
        (W1, "tversky", "MONAI TverskyLoss(sigmoid=True)", wrap(ml.TverskyLoss, sigmoid=True)),
        (W1, "generalized_dice", "MONAI GeneralizedDiceLoss(sigmoid=True)", wrap(ml.GeneralizedDiceLoss, sigmoid=True)),
        (W1, "dice:reduce=batch,smooth=0", "smp DiceLoss('binary', smooth=0)", wrap(smp.losses.DiceLoss, mode="binary", smooth=0.0)),
        (W1, "lovasz_hinge:per_image=true", "smp LovaszLoss('binary', per_image=True)",
         wrap(smp.losses.LovaszLoss, mode="binary", per_image=True)),
        (W1, "lovasz_hinge:per_image=false", "smp LovaszLoss('binary', per_image=False)",
         wrap(smp.losses.LovaszLoss, mode="binary", per_image=False)),
        (W2, "ce", "torch cross_entropy", lambda x, y: F.cross_entropy(x, y)),
        (W2, "ce:label_smoothing=0.1", "torch cross_entropy(label_smoothing=0.1)", lambda x, y: F.cross_entropy(x, y, label_smoothing=0.1)),
        (W2, "focal", f"C x MONAI FocalLoss(use_softmax=True, to_onehot_y=True) (C = {C})", None),
        (W2, "dice", "MONAI DiceLoss(softmax=True, to_onehot_y=True)", wrap_onehot(ml.DiceLoss, softmax=True, to_onehot_y=True)),
        (W2, "jaccard", "MONAI DiceLoss(softmax=True, to_onehot_y=True, jaccard=True, smooth_nr=smooth_dr=2e-5)",
         wrap_onehot(ml.DiceLoss, softmax=True, to_onehot_y=True, jaccard=True, smooth_nr=2e-5, smooth_dr=2e-5)),
        (W2, "tversky", "MONAI TverskyLoss(softmax=True, to_onehot_y=True)", wrap_onehot(ml.TverskyLoss, softmax=True, to_onehot_y=True)),
        (W2, "generalized_dice", "MONAI GeneralizedDiceLoss(softmax=True, to_onehot_y=True)",
         wrap_onehot(ml.GeneralizedDiceLoss, softmax=True, to_onehot_y=True)),
        (W2, "dice:reduce=batch,smooth=0", "smp DiceLoss('multiclass', smooth=0)", wrap(smp.losses.DiceLoss, mode="multiclass", smooth=0.0)),
        (W2, "lovasz_softmax:per_image=false", "smp LovaszLoss('multiclass', per_image=False)",
         wrap(smp.losses.LovaszLoss, mode="multiclass", per_image=False)),
        (W2, "lovasz_softmax:per_image=true", "smp LovaszLoss('multiclass', per_image=True)",
         wrap(smp.losses.LovaszLoss, mode="multiclass", per_image=True)),
        # the field's losses (issue 15), called as their golden scripts call them (tools/golden/)
        (W1, "boundary", "MONAI BoundaryLoss(sigmoid=True, to_onehot_y=True)", wrap(ml.BoundaryLoss, sigmoid=True, to_onehot_y=True)),
        (W2, "boundary", "MONAI BoundaryLoss(softmax=True, to_onehot_y=True, include_background=False)",
         wrap_onehot(ml.BoundaryLoss, softmax=True, to_onehot_y=True, include_background=False)),
        (W1, "hausdorff_dt", "MONAI HausdorffDTLoss(sigmoid=True, to_onehot_y=True)", wrap(ml.HausdorffDTLoss, sigmoid=True, to_onehot_y=True)),
        (W1, "cldice", "MONAI SoftclDiceLoss(sigmoid=True)", wrap(ml.SoftclDiceLoss, sigmoid=True)),
        (W2, "cldice", "MONAI SoftclDiceLoss(softmax=True, to_onehot_y=True)", wrap_onehot(ml.SoftclDiceLoss, softmax=True, to_onehot_y=True)),
        (W2, "wasserstein_dice", f"MONAI GeneralizedWassersteinDiceLoss(dist_matrix=1 - eye({C}))", wasserstein_uniform),
        (W2, "topk_ce", "nnU-Net v2 TopKLoss(k=10)", lambda x, y: nnunet_topk(x, y.unsqueeze(1))),
    ]

    monai_focal = ml.FocalLoss(use_softmax=True, to_onehot_y=True, gamma=2.0)

    def focal_mc(x, y):
        # MONAI averages over N C *S; segloss (and torch-style focal) over N *S: times C.
        return x.shape[1] * monai_focal(x, y.unsqueeze(1))

    cases = [(w, s, r, focal_mc if f is None else f) for (w, s, r, f) in cases]

    # ---- data ----
    def bin_data(shape, seed):
        rng = np.random.default_rng(seed)
        y = (rng.random(shape) < 0.3).astype(np.float32)
        x = ((2 * y - 1) + rng.standard_normal(shape, dtype=np.float32)).astype(np.float32)
        return x, y

    def mc_data(shape, seed):
        rng = np.random.default_rng(seed)
        n, c, s = shape[0], shape[1], shape[2:]
        y = rng.integers(0, c, size=[n, *s], dtype=np.int64)
        flat = y.reshape(n, -1)
        flat[:, :c] = np.arange(c)  # every class present in every image (smp's Dice anchor)
        x = rng.standard_normal(shape, dtype=np.float32)
        x += 2.0 * (np.arange(c).reshape(1, c, *[1] * len(s)) == y[:, None]).astype(np.float32)
        return x, y

    def lovasz_grad64(gt_sorted):
        """smp.losses.lovasz._lovasz_grad with float64 instead of float32 casts."""
        g = gt_sorted.double()
        p = len(g)
        gts = g.sum()
        intersection = gts - g.cumsum(0)
        union = gts + (1 - g).cumsum(0)
        jaccard = 1.0 - intersection / union
        if p > 1:
            jaccard[1:p] = jaccard[1:p] - jaccard[0:-1]
        return jaccard

    def close_value(v, ref):
        return abs(v - ref) <= VALUE_RTOL * abs(ref) + VALUE_ATOL

    onnx_cache = {}

    def onnx_value(spec, multiclass, x, y):
        if not has_export:
            return None, "no `segloss export`"
        key = (spec, multiclass)
        if key not in onnx_cache:
            path = work / f"{len(onnx_cache)}.onnx"
            a = ["export", spec, "--rank", x.ndim, "-o", path]
            if multiclass:
                a += ["--mode", "multiclass"]
            r = cli(*a, check=False)
            if r.returncode != 0:
                onnx_cache[key] = (None, r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}")
            else:
                so = ort.SessionOptions()
                so.intra_op_num_threads = T
                so.inter_op_num_threads = 1
                # no busy-waiting ORT threads left behind to steal the CPU from the timings
                so.add_session_config_entry("session.intra_op.allow_spinning", "0")
                onnx_cache[key] = (ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"]), None)
        sess, err = onnx_cache[key]
        if sess is None:
            return None, err
        feeds = {"pred": x.astype(np.float32), "target": y.astype(np.int64) if multiclass else y.astype(np.float32)}
        if BOUNDARY_MAP_INPUT in {i.name for i in sess.get_inputs()}:
            feeds[BOUNDARY_MAP_INPUT] = boundary_map(x.shape, y, multiclass)
        out = sess.run(["loss"], feeds)[0]
        return float(np.asarray(out).reshape(())), None

    rows = []
    failures = []

    def keep(*texts):
        return not only or any(o in t.lower() for o in only for t in texts)

    # ---- losses ----
    data_w1 = data_w2 = None
    for i, (wl, spec, ref_name, fn) in enumerate(cases):
        if not keep(wl, spec, ref_name):
            continue
        multiclass = wl == W2
        print(f"compare: {wl}: {spec} vs {ref_name}", file=sys.stderr)
        row = {"workload": wl, "what": spec, "reference": ref_name, "notes": []}
        # agreement, float64 reference on the float32 inputs segloss reads
        ashape = agree_mc if multiclass else agree_bin
        x, y = (mc_data if multiclass else bin_data)(ashape, 1000 + i)
        p_path, t_path, g_path = work / f"p{i}.npy", work / f"t{i}.npy", work / f"g{i}.npy"
        np.save(p_path, x)
        np.save(t_path, y)
        x64 = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        y64 = torch.tensor(y) if multiclass else torch.tensor(y, dtype=torch.float64)
        if "lovasz" in spec:
            # smp computes the Jaccard gradient in float32 (`.float()`, and torch.dot then refuses
            # float64 errors); its first differences lose ~1e-7 absolute. The float64 check runs
            # the same code in float64.
            saved, smp_lovasz._lovasz_grad = smp_lovasz._lovasz_grad, lovasz_grad64
            row["notes"].append("the float64 agreement reference runs smp's `_lovasz_grad` with its `.float()` casts replaced by "
                                "`.double()` (in float32 its first differences of Jaccard values are off by ~1e-7 absolute, "
                                "more than the gradient tolerance); the timing runs smp as shipped")
            try:
                ref = fn(x64, y64)
            finally:
                smp_lovasz._lovasz_grad = saved
        else:
            ref = fn(x64, y64)
        ref.backward()
        ref_v = float(ref.detach())
        ref_g = x64.grad.detach().double().numpy()
        r = cli("eval", spec, "--pred", p_path, "--target", t_path, "--grad-out", g_path, "--json", "--threads", T, check=False)
        if r.returncode != 0:
            row["error"] = f"segloss eval failed: {r.stderr.strip()}"
            v = g = None
        else:
            v = float(json.loads(r.stdout)["loss"])
            g = np.load(g_path).astype(np.float64)
        ok = v is not None
        if v is not None:
            row["value_diff"] = abs(v - ref_v)
            row["value_ok"] = close_value(v, ref_v)
            gmax = float(np.abs(ref_g).max())
            row["grad_diff"] = float(np.abs(g - ref_g).max())
            row["grad_ok"] = row["grad_diff"] <= GRAD_RTOL * gmax
            row["ref_value"], row["value"] = ref_v, v
            ok = row["value_ok"] and row["grad_ok"]
        ov, oerr = onnx_value(spec, multiclass, x, y)
        if ov is None and oerr and NO_ONNX_FORM in oerr:
            row["onnx"] = "no ONNX form"
            row["notes"].append("no ONNX form: `segloss export` gives the documented error (its map is the distance transform "
                                "of the prediction's own mask, which no ONNX operator computes; docs/LOSSES.md)")
        elif ov is None:
            row["onnx"] = f"n/a ({oerr})"
            if has_export:
                ok = False
        else:
            row["onnx_diff"] = abs(ov - ref_v)
            row["onnx_ok"] = close_value(ov, ref_v)
            ok = ok and row["onnx_ok"]
        row["ok"] = ok
        # timing, float32 as in training
        if multiclass:
            if data_w2 is None:
                data_w2 = mc_data(w2, 7)
            xt, yt = data_w2
            xt_t, yt_t = torch.tensor(xt, requires_grad=True), torch.tensor(yt)
        else:
            if data_w1 is None:
                data_w1 = bin_data(w1, 7)
            xt, yt = data_w1
            xt_t, yt_t = torch.tensor(xt, requires_grad=True), torch.tensor(yt)
        row["ref_ms"] = time_torch(fn, xt_t, yt_t, reps)
        try:
            row["segloss_ms"] = bench(spec, w2 if multiclass else w1, reps)
        except RuntimeError as e:
            row["segloss_ms"], row["ok"], ok = float("nan"), False, False
            row["error"] = str(e)
        row["spread"] = max(spreads, default=1.0)
        spreads.clear()
        rows.append(row)
        if not ok:
            failures.append(row)

    # ---- distance transforms and weight maps ----
    # The masks of `segloss bench edt|unet_weights` (tools/segloss-cli/src/data.rs `blobs`),
    # re-implemented with the same generator and the same float32 arithmetic.
    def blobs(shape, seed=0xD157):
        rng = SplitMix(seed)
        flat = len(shape) == 2
        d3 = (1, *shape) if flat else tuple(shape)
        m = np.zeros(d3, np.uint8)
        f = np.float32
        step = f(24)

        def cells(n):
            return int(np.ceil(f(n) / step))

        def rg(c, r, n):
            return max(int(np.floor(c - r)), 0), min(int(np.ceil(c + r)) + 1, n)

        for gz in range(1 if flat else cells(d3[0])):
            for gy in range(cells(d3[1])):
                for gx in range(cells(d3[2])):
                    r = f(8) + rng.uniform() * f(5)
                    cz = f(0) if flat else (f(gz) + f(0.5)) * step + (rng.uniform() - f(0.5)) * f(6)
                    cy = (f(gy) + f(0.5)) * step + (rng.uniform() - f(0.5)) * f(6)
                    cx = (f(gx) + f(0.5)) * step + (rng.uniform() - f(0.5)) * f(6)
                    z0, z1 = (0, 1) if flat else rg(cz, r, d3[0])
                    y0, y1 = rg(cy, r, d3[1])
                    x0, x1 = rg(cx, r, d3[2])
                    zz = np.zeros(1, f) if flat else np.arange(z0, z1, dtype=f) - cz
                    yy = np.arange(y0, y1, dtype=f) - cy
                    xx = np.arange(x0, x1, dtype=f) - cx
                    d2 = zz[:, None, None] * zz[:, None, None] + yy[None, :, None] * yy[None, :, None] + xx[None, None, :] * xx[None, None, :]
                    m[z0:z1, y0:y1, x0:x1][d2 <= r * r] = 1
        return m[0] if flat else m

    def unet_per_object(labels, w0=10.0, sigma=5.0):
        """Ronneberger et al. eq. 2 the slow, obvious way: d_k = scipy EDT(labels != k) for every
        object k, d1 <= d2 the two smallest (kept as running minima, not a stack)."""
        objects = [k for k in np.unique(labels) if k != 0]
        d1 = np.full(labels.shape, np.inf)
        d2 = np.full(labels.shape, np.inf)
        for k in objects:
            d = ndimage.distance_transform_edt(labels != k)
            d2 = np.minimum(d2, np.maximum(d1, d))
            d1 = np.minimum(d1, d)
        n = labels.size
        n_obj = int(np.count_nonzero(labels))
        wb, wo = n / (2 * (n - n_obj)), n / (2 * n_obj)
        term = w0 * np.exp(-((d1 + d2) ** 2) / (2 * sigma * sigma)) if len(objects) >= 2 else 0.0
        return np.where(labels != 0, wo, wb + term)

    def balls(shape, count, r0, r_span, seed):
        """tools/bench_distance.py's labelled cells: ball k (1-based) gets label k."""
        rng = SplitMix(seed)
        a = np.zeros(shape, dtype=np.int32)
        for k in range(1, count + 1):
            c = [rng.next() % s for s in shape]
            r = r0 + rng.next() % r_span
            lo = [max(ci - r, 0) for ci in c]
            hi = [min(ci + r + 1, s) for ci, s in zip(c, shape)]
            grids = np.ogrid[tuple(slice(lo_, hi_) for lo_, hi_ in zip(lo, hi))]
            d2 = sum((g.astype(np.int64) - ci) ** 2 for g, ci in zip(grids, c))
            a[tuple(slice(lo_, hi_) for lo_, hi_ in zip(lo, hi))][d2 <= r * r] = k
        return a

    def dist_row(wl, what, ref_name, ref_ms, seg_ms, diff, tol, note=None, short=None):
        row = {"workload": wl, "what": what, "reference": ref_name, "short": short, "ref_ms": ref_ms, "segloss_ms": seg_ms,
               "value_diff": diff, "value_ok": diff <= tol, "ok": diff <= tol, "notes": [note] if note else [],
               "spread": max(spreads, default=1.0)}
        spreads.clear()
        rows.append(row)
        if not row["ok"]:
            failures.append(row)

    def segloss_map(verb, inp, *extra):
        out = work / f"{verb}-out.npy"
        cli(verb, inp, "-o", out, "--threads", T, *extra)
        return np.load(out).astype(np.float64)

    cv2.setNumThreads(T)
    for shape in (edt2, edt3):
        wl = f"EDT {'x'.join(map(str, shape))} mask"
        if not keep(wl, "edt", "scipy edt opencv"):
            continue
        print(f"compare: {wl}", file=sys.stderr)
        mask = blobs(shape)
        mpath = work / "mask.npy"
        np.save(mpath, mask)
        mine = segloss_map("edt", mpath)
        seg_ms = bench("edt", shape, reps)
        seg_spread = spreads[:]
        refs = [("scipy distance_transform_edt (1 thread)", "scipy EDT", lambda: ndimage.distance_transform_edt(mask), slow_reps),
                (f"edt.edt(parallel={T})", "edt package", lambda: edtlib.edt(mask, parallel=T), reps)]
        if len(shape) == 2:
            refs.append((f"OpenCV distanceTransform(DIST_L2, DIST_MASK_PRECISE), {T} threads", "OpenCV",
                         lambda: cv2.distanceTransform(mask, cv2.DIST_L2, cv2.DIST_MASK_PRECISE), reps))
        for name, short, fn, n in refs:
            if not keep(wl, "edt", name):
                continue
            spreads.extend(seg_spread)
            ms, out = time_fn(fn, n)
            diff = float(np.abs(mine - np.asarray(out, dtype=np.float64)).max())
            dist_row(wl, "edt", name, ms, seg_ms, diff, EDT_ATOL, short=short)

    wl = f"U-Net map {'x'.join(map(str, unet2))} mask"
    if keep(wl, "unet_weights", "scipy"):
        print(f"compare: {wl}", file=sys.stderr)
        mask = blobs(unet2)
        labels, n_obj = ndimage.label(mask)
        mpath = work / "unet-mask.npy"
        np.save(mpath, mask)
        mine = segloss_map("weight-map", mpath, "--input", "mask")
        seg_ms = bench("unet_weights", unet2, reps)
        ms, out = time_fn(lambda: unet_per_object(ndimage.label(mask)[0]), slow_reps)
        diff = float(np.abs(mine - out).max())
        dist_row(f"{wl} ({n_obj} touching-disc components)", "unet_weights", "scipy ndimage.label + per-object distance_transform_edt",
                 ms, seg_ms, diff, UNET_ATOL, short="scipy per-object")

    wl = f"U-Net map {unet2[0]}x{unet2[1]}, {cells_n} cells"
    if keep(wl, "weight-map", "scipy"):
        print(f"compare: {wl}", file=sys.stderr)
        cells = balls(tuple(unet2), cells_n, 8, 12, 3)
        cpath = work / "cells.npy"
        np.save(cpath, cells)
        mine = segloss_map("weight-map", cpath, "--input", "instances")
        seg_ms, _ = time_fn(lambda: cli("weight-map", cpath, "-o", work / "w.npy", "--input", "instances", "--threads", T), reps)
        ms, out = time_fn(lambda: unet_per_object(cells), slow_reps)
        diff = float(np.abs(mine - out).max())
        dist_row(wl, "weight-map (CLI process: start-up and .npy I/O included)", "scipy per-object distance_transform_edt(labels != k)",
                 ms, seg_ms, diff, UNET_ATOL, short="scipy per-object")

    # ---- report ----
    def version(dist):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return "?"

    def git(*a):
        r = subprocess.run(["git", "-C", str(ROOT), *a], capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else "?"

    rev = git("rev-parse", "--short", "HEAD")
    dirty = git("status", "--porcelain", "--untracked-files=no")
    seg_version = f"{rev}{' + uncommitted changes' if dirty and dirty != '?' else ''}"
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 ** 2:.1f} GiB"
    except OSError:
        pass

    def fmt_ms(v):
        if v != v:
            return "-"
        return f"{v:.3g}" if v < 100 else f"{v:.0f}"

    def fmt_speed(v):
        return f"{v:.1f}x" if v >= 1 else f"{v:.2g}x"

    def fmt_diff(v, ok=True):
        s = f"{v:.1e}" if v else "0"
        return s if ok else f"**{s} FAIL**"

    def sci(v):
        return f"{v:.0e}".replace("e-0", "e-")

    lines = []
    cmd = os.environ.get("SEGLOSS_COMPARE_CMD", "python3 tools/compare/compare.py")
    lines += [
        "# Benchmarks: segloss against the reference implementations",
        "",
        "Regenerated by this command, from the root of the repository (not part of CI: the reference "
        "environment, PyTorch, torchvision, MONAI, segmentation_models_pytorch, nnU-Net v2, scipy, edt, OpenCV, ONNX "
        "and ONNX Runtime, downloads ~6 GB; without `--venv` the script creates `tools/compare/.venv`):",
        "",
        "```sh",
        cmd,
        "```",
        "",
    ]
    if quick:
        lines += ["**Quick run (`--quick`): small shapes and few repetitions; the timings mean little.**", ""]
    lines += [
        "Two questions, one table. *Is it the same loss?* On random inputs ([2, 1, 64, 64] binary, "
        f"[2, 21, 32, 32] 21-class), `segloss eval SPEC --grad-out G.npy` is compared with the reference "
        f"computed in float64: |value - ref| <= {sci(VALUE_RTOL)} |ref| + {sci(VALUE_ATOL)} and max |grad - ref| <= "
        f"{sci(GRAD_RTOL)} max |ref grad|; the graph of `segloss export SPEC` runs in ONNX Runtime on the same "
        "inputs (value within the same bound). The distance maps written by `segloss edt` / `segloss weight-map` "
        f"are compared with the reference's on the benchmarked mask (EDT to {sci(EDT_ATOL)}, U-Net map to "
        f"{sci(UNET_ATOL)} absolute). *Is it faster?* In the same run, with the same number of threads, the "
        "reference's forward plus backward (`loss.backward()`, median of the timed runs after two warm-up "
        "runs) against `segloss bench SPEC --shape ... --threads T` (forward and backward into a preallocated "
        "gradient, median of its time-based runs), on data of the same shape and kind (binary: float targets, "
        "30% positive; multiclass: integer labels, every class present).",
        "",
        f"Workloads: W1, logits {w1} with binary float targets (30% positive, logits leaning toward the "
        f"target plus N(0, 1) noise); W2, logits {w2} with integer labels in [0, {C}); EDT of "
        f"{'x'.join(map(str, edt2))} and {'x'.join(map(str, edt3))} masks of touching discs (balls) "
        "(`segloss bench edt`); the U-Net weight map of a "
        f"{'x'.join(map(str, unet2))} mask of touching discs (`segloss bench unet_weights`, the objects are "
        f"its connected components) and of a {'x'.join(map(str, unet2))} label image of {cells_n} cells "
        "(`segloss weight-map`).",
        "",
        "## Machine and versions",
        "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- CPU: {cpu}, {os.cpu_count()} logical cores; memory {mem}",
        f"- threads: {T} on both sides (torch.set_num_threads({T}), ONNX Runtime and OpenCV {T}, "
        f"`edt.edt(parallel={T})`, `segloss ... --threads {T}`; scipy's transforms are single-threaded)",
        f"- load average (1, 5, 15 min) at the start: {', '.join(f'{v:.2f}' for v in load_start)}; at the end: "
        f"{', '.join(f'{v:.2f}' for v in os.getloadavg())}",
        f"- timed runs: the reference {reps} per loss and per fast transform, {slow_reps} for scipy's transforms, the "
        "per-object map and a reference taking over 0.5 s a run; segloss's `bench` its time-based runs (0.2 s of "
        "warm-up, then at least 1 s and 50 runs" + (f"; here {reps} runs, --quick" if quick else "") + "); every "
        "time is a median, † flags a 90th percentile over 1.3 times the fastest run",
        f"- segloss: git {seg_version} (`cargo build --release -p segloss-cli`)",
        f"- Python {platform.python_version()}: torch {torch.__version__}, torchvision {torchvision.__version__}, "
        f"monai {version('monai')}, segmentation_models_pytorch {version('segmentation_models_pytorch')}, "
        f"nnunetv2 {version('nnunetv2')}, scipy {scipy.__version__}, numpy {np.__version__}, edt {version('edt')}, opencv {cv2.__version__}, "
        f"onnx {version('onnx')}, onnxruntime {ort.__version__}",
        "",
        "## Results",
        "",
        "| workload | loss / transform | reference | reference ms | segloss ms | speed-up | max value diff | max grad diff | onnx diff |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        speed = fmt_speed(r["ref_ms"] / r["segloss_ms"]) if r["ok"] else "**FAIL**"
        if r["ok"] and r["spread"] > SPREAD:
            speed += " †"
        vd = fmt_diff(r["value_diff"], r.get("value_ok", True)) if "value_diff" in r else r.get("error", "?")
        gd = fmt_diff(r["grad_diff"], r["grad_ok"]) if "grad_diff" in r else "-"
        od = fmt_diff(r["onnx_diff"], r["onnx_ok"]) if "onnx_diff" in r else r.get("onnx", "-")
        what = f"`{r['what']}`" if " " not in r["what"] else r["what"]
        lines.append(f"| {r['workload']} | {what} | {r['reference']} | {fmt_ms(r['ref_ms'])} | {fmt_ms(r['segloss_ms'])} | {speed} | {vd} | {gd} | {od} |")
    lines.append("")
    grouped = {}
    for r in rows:
        for n in r["notes"]:
            grouped.setdefault(n, []).append(f"{r['workload'].split(' [')[0]} `{r['what']}`")
    notes = [f"- {n}: {', '.join(w)}" for n, w in grouped.items()]
    lines += [
        "Value differences are absolute (loss values are O(0.1-1)); grad differences are the largest "
        "absolute difference over the gradient; for the maps, the largest absolute difference over the "
        "map. A row outside its tolerance shows FAIL instead of its speed-up, and the script exits with 1.",
        "",
        "`segloss bench` generates its data itself; the reference is timed on data generated by this script "
        "with the same shape and kind (for the distance rows the same masks, re-implemented from "
        "`tools/segloss-cli/src/data.rs`). The `weight-map` row times the whole `segloss weight-map` process "
        "(start-up, reading and writing .npy) against the per-object scipy construction on labelled cells.",
        "",
    ]
    lines += [
        "One row by hand (the segloss side):",
        "",
        "```sh",
        "cargo build --release -p segloss-cli",
        f"target/release/segloss bench dice --shape {','.join(map(str, w1))} --threads {T} --json",
        f"target/release/segloss bench edt --shape {','.join(map(str, edt2))} --threads {T} --json",
        "target/release/segloss eval dice --pred P.npy --target T.npy --grad-out G.npy --json",
        "target/release/segloss export dice --rank 4 -o dice.onnx",
        "```",
        "",
    ]
    if any(r["spread"] > SPREAD for r in rows):
        notes.append(f"- †: the timed runs of this row spread widely (on one side the 90th-percentile run is over {SPREAD:g} "
                     "times the fastest run): take its speed-up as a rough figure")
    if load_start[0] > 0.7 * (os.cpu_count() or 1) / 2:
        notes.append(
            "- the machine was shared during this run (load average above): both sides' timings are affected, the "
            "reference's most (PyTorch's OpenMP threads wait for a free core at every parallel region), so the "
            "speed-ups here are less reliable than on a quiet machine")
    if notes:
        lines += ["Notes:", "", *notes, ""]
    if failures:
        lines += ["## Disagreements", ""]
        for r in failures:
            lines.append(f"- {r['workload']} `{r['what']}` vs {r['reference']}: " + ", ".join(
                f"{k} = {r[k]}" for k in ("value", "ref_value", "value_diff", "grad_diff", "onnx_diff", "onnx", "error") if k in r))
        lines.append("")
    md = "\n".join(lines)
    Path(args.out_md).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out_md).write_text(md)
    print(md)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def short_workload(w):
        return w.split(" [")[0].split(" (")[0].replace(" mask", "")

    labels = [f"{short_workload(r['workload'])}: {r['what'].split(' (')[0]}  vs  {r.get('short') or r['reference'].split('(')[0].strip()}" for r in rows]
    speeds = [r["ref_ms"] / r["segloss_ms"] if r["segloss_ms"] == r["segloss_ms"] else 1.0 for r in rows]
    colours = ["tab:blue" if r["ok"] else "tab:red" for r in rows]
    fig, ax = plt.subplots(figsize=(11, 0.3 * len(rows) + 1.8))
    ys = list(range(len(rows)))[::-1]
    ax.barh(ys, speeds, color=colours)
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", lw=0.8)
    ax.set_yticks(ys)
    ax.set_yticklabels(labels, fontsize=7)
    for yv, s, r in zip(ys, speeds, rows):
        ax.text(s, yv, f" {fmt_speed(s)}" if r["ok"] else " FAIL", va="center", fontsize=7)
    ax.set_xlim(min(0.5, min(speeds) / 2), max(speeds) * 4)
    ax.set_xlabel("speed-up of segloss (reference time / segloss time, log scale)", fontsize=8)
    ax.set_title(f"segloss {rev} vs the reference implementations\n{T} threads, {cpu}, {os.cpu_count()} cores"
                 + (" (quick run)" if quick else ""), fontsize=9)
    fig.tight_layout()
    Path(args.out_png).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out_png, dpi=120)
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        print(f"compare: {len(failures)} row(s) disagree: " + "; ".join(f"{r['workload']} {r['what']}" for r in failures), file=sys.stderr)
        return 1
    return 0


class SplitMix:
    """SplitMix64, as tools/segloss-cli/src/data.rs (`Rng`) and tools/bench_distance.py."""

    MASK = (1 << 64) - 1

    def __init__(self, seed):
        self.state = seed & self.MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & self.MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & self.MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & self.MASK
        return z ^ (z >> 31)

    def uniform(self):
        import numpy as np

        return np.float32(self.next() >> 40) / np.float32(1 << 24)


if __name__ == "__main__":
    argv = sys.argv[1:]
    a = parse_args(argv)
    if os.environ.get(INNER) != "1":
        bootstrap(a, argv)
    sys.exit(main_inner(a))

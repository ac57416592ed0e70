#!/usr/bin/env python3
"""Interleaved timing of several segloss binaries (or one binary at several SIMD levels).

    python3 tools/compare/interleave.py ROUNDS NAME=PATH[:VAR=VALUE...] [NAME=PATH...]

Each round runs `PATH bench SPEC --shape SHAPE --threads 2 --json` for every workload and every
binary in turn (so that the machine's load drifts over all of them alike), and prints a Markdown
table of the median over the rounds of each run's median time, in ms. `:VAR=VALUE` sets an
environment variable for that binary's runs (e.g. `now_avx2=target/release/segloss:SEGLOSS_SIMD=avx2`);
SEGLOSS_SIMD is otherwise unset. The workloads are BENCHMARKS.md's (W1, W2, the EDT and U-Net
masks); `ONLY="spec;spec@shape"` keeps some of them, `EXTRA="spec@shape;..."` adds others. Every
run's median, minimum and 90th percentile go to the JSON file named by `--json-out` (default: none).

This is how BENCHMARKS.md's before/now/levels/v3 tables are measured.
"""

import json
import os
import statistics
import subprocess
import sys

WORKLOADS = [
    ("bce", "8,1,512,512"),
    ("focal", "8,1,512,512"),
    ("dice", "8,1,512,512"),
    ("ce", "4,21,256,256"),
    ("dice", "4,21,256,256"),
    ("lovasz_hinge", "8,1,512,512"),
    ("lovasz_softmax", "4,21,256,256"),
    ("edt", "2048,2048"),
    ("edt", "128,128,128"),
    ("boundary", "8,1,512,512"),
    ("boundary", "4,21,256,256"),
    ("hausdorff_dt", "8,1,512,512"),
    ("cldice", "8,1,512,512"),
    ("wasserstein_dice", "4,21,256,256"),
    ("topk_ce", "4,21,256,256"),
    ("unet_weights", "512,512"),
]


def main(argv):
    json_out = None
    if "--json-out" in argv:
        i = argv.index("--json-out")
        json_out = argv[i + 1]
        argv = argv[:i] + argv[i + 2 :]
    if len(argv) < 2 or not argv[0].isdigit():
        sys.exit(__doc__)
    rounds = int(argv[0])
    work = list(WORKLOADS)
    if os.environ.get("EXTRA"):
        work += [tuple(e.split("@")) for e in os.environ["EXTRA"].split(";")]
    if os.environ.get("ONLY"):
        keep = os.environ["ONLY"].split(";")
        work = [w for w in work if w[0] in keep or f"{w[0]}@{w[1]}" in keep]
    bins = []
    for a in argv[1:]:
        name, rest = a.split("=", 1)
        path, *envs = rest.split(":")
        env = dict(os.environ)
        env.pop("SEGLOSS_SIMD", None)
        for e in envs:
            k, v = e.split("=", 1)
            env[k] = v
        bins.append((name, path, env))
    res = {}
    for r in range(rounds):
        for spec, shape in work:
            for name, path, env in bins:
                cmd = [path, "bench", spec, "--shape", shape, "--threads", "2", "--json"]
                out = subprocess.run(cmd, env=env, capture_output=True, text=True)
                if out.returncode != 0:
                    print(f"{name} {spec} [{shape}]: {out.stderr.strip()}", file=sys.stderr)
                    continue
                j = json.loads(out.stdout)
                res.setdefault((spec, shape), {}).setdefault(name, []).append((j["median_ms"], j["min_ms"], j["p90_ms"]))
        print(f"round {r + 1} of {rounds} done", file=sys.stderr, flush=True)
    names = [b[0] for b in bins]
    print("| workload | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for (spec, shape), d in res.items():
        cells = [f"{statistics.median(x[0] for x in d[n]):.3g}" if d.get(n) else "-" for n in names]
        print(f"| {spec} [{shape}] | " + " | ".join(cells) + " |")
    if json_out:
        with open(json_out, "w") as f:
            json.dump({f"{k[0]}@{k[1]}": v for k, v in res.items()}, f)


if __name__ == "__main__":
    main(sys.argv[1:])

#!/usr/bin/env python3
"""Each loss against the least work it can do: `segloss bench SPEC --roofline` for every loss of
the catalogue at its defaults, on W1 (logits [8, 1, 512, 512], binary float targets) for the
losses that take binary inputs and on W2 (logits [4, 21, 256, 256], integer labels) for those that
take multiclass ones, printed as the Markdown table of BENCHMARKS.md's section "The limit".

    python3 tools/compare/roofline.py [--segloss target/release/segloss] [--threads 2]

The stream reads pred and the target and writes a gradient of pred's shape (the bytes every loss
must move); for lovasz_hinge and lovasz_softmax also an 8-bit LSD radix sort of as many 32-bit
keys, one sort per (image, channel). The distance maps of the EDT and U-Net workloads (`edt`,
`unet_weights`) are timed against a stream that reads the mask and writes an f32 map. A fraction
is the limit's median time over the loss's: 1 is the loss at the speed of the bare memory traffic
(or the bare sort). Required keys get the value 2.
"""

import argparse
import json
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORKLOADS = [("W1", "8,1,512,512", "binary"), ("W2", "4,21,256,256", "multiclass")]
# the distance maps of BENCHMARKS.md's workloads: (row label, shape, bench target)
MAPS = [("EDT 2048x2048", "2048,2048", "edt"), ("EDT 128^3", "128,128,128", "edt"), ("U-Net map 512x512", "512,512", "unet_weights")]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--segloss", default=os.path.join(ROOT, "target", "release", "segloss"))
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    cat = json.loads(subprocess.run([a.segloss, "list", "--json"], capture_output=True, text=True, check=True).stdout)
    print("| workload | loss | loss ms | stream ms | stream fraction | sort ms | sort fraction | p90/min |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    skipped = []
    for wl, shape, mode in WORKLOADS:
        for d in cat:
            if mode not in d["modes"]:
                continue
            req = ",".join(f"{k['key']}=2" for k in d["keys"] if k["default"] == "required")
            spec = d["name"] + (":" + req if req else "")
            cmd = [a.segloss, "bench", spec, "--shape", shape, "--threads", str(a.threads), "--roofline", "--json"]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                # e.g. unified_focal's multiclass form takes two channels, not W2's 21
                skipped.append(f"- not run on {wl}: `{spec}`: {r.stderr.strip().splitlines()[-1]}")
                continue
            j = json.loads(r.stdout)
            sort = (f"{j['sort_ms']:.3g} | {j['sort_fraction']:.2f}") if "sort_ms" in j else " | "
            print(f"| {wl} | `{spec}` | {j['median_ms']:.3g} | {j['stream_ms']:.3g} | {j['stream_fraction']:.2f} | {sort} | {j['spread']:.2f} |")
    for wl, shape, target in MAPS:
        cmd = [a.segloss, "bench", target, "--shape", shape, "--threads", str(a.threads), "--roofline", "--json"]
        j = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
        print(f"| {wl} | `{target}` | {j['median_ms']:.3g} | {j['stream_ms']:.3g} | {j['stream_fraction']:.2f} |  |  | {j['spread']:.2f} |")
    if skipped:
        print()
        print("\n".join(skipped))


if __name__ == "__main__":
    main()

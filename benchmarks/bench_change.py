"""Change detection throughput and peak memory on a large pair, against change-vector analysis in the same run.

The large pair is made by tiling two real NAIP dates (4 bands, 5 m, North Dakota) into >= 10000 x 10000 px
GeoTIFFs in a temporary folder. Each method runs in its own child process, which reports its wall time and
peak RSS (ru_maxrss). CVA covers the whole scene; the Galileo methods cover the whole scene too unless
`--galileo-rows N` (and `--cva-rows N` for CVA) limits them to a full-width strip of N rows of the same large
files (on a shared 2-core CPU a full-scene Galileo pass takes hours). Usage:

    python benchmarks/bench_change.py [--size 10240] [--galileo-rows 512] [--threads 1] [--methods cva,zeroshot]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
NAIP = ("naip-timeseries/m_4709963_se_14_1_20150926.tif", "naip-timeseries/m_4709963_se_14_1_20200831.tif")


def make_large(src: Path, dst: Path, size: int) -> None:
    """Repeats a real scene into a size x size tiled GeoTIFF, one source-sized block at a time."""
    import numpy as np
    import rasterio
    from rasterio.windows import Window

    with rasterio.open(src) as s:
        data = s.read()
        prof = s.profile | {"width": size, "height": size, "tiled": True, "blockxsize": 512, "blockysize": 512,
                            "compress": "deflate", "BIGTIFF": "IF_SAFER"}
    _, h, w = data.shape
    with rasterio.open(dst, "w", **prof) as d:
        for r in range(0, size, h):
            for c in range(0, size, w):
                hh, ww = min(h, size - r), min(w, size - c)
                block = data[:, :hh, :ww] if (r // h + c // w) % 2 == 0 else np.flip(data, 2)[:, :hh, :ww]
                d.write(block, window=Window(c, r, ww, hh))


def child(args: argparse.Namespace) -> None:
    """Runs one method and prints a JSON line with its timing and peak memory."""
    import resource

    import torch

    torch.set_num_threads(args.threads)
    from tools.change.pipeline import run_change

    window = None if args.rows <= 0 else (0, 0, args.size, args.rows)
    t0 = time.perf_counter()
    summary = run_change(args.before, args.after, Path(args.out), method=args.method, window=window)
    dt = time.perf_counter() - t0
    px = summary["width"] * summary["height"]
    print(json.dumps({"method": args.method, "pixels": px, "seconds": dt, "mpx_s": px / dt / 1e6,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "changed_percent": summary["changed_percent"], "n_patches": summary["n_patches"]}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=10240)
    ap.add_argument("--galileo-rows", type=int, default=512, help="rows of the large pair for Galileo; 0 = all")
    ap.add_argument("--cva-rows", type=int, default=0, help="rows of the large pair for CVA; 0 = all")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--methods", default="cva,zeroshot")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--before"), ap.add_argument("--after"), ap.add_argument("--out")
    ap.add_argument("--method"), ap.add_argument("--rows", type=int, default=0)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    os.environ.setdefault("SENTINELLE_DATA_MIRROR", str(ROOT.parent / "shared" / "geodata"))
    os.environ.setdefault("SENTINELLE_MODELS_MIRROR", str(ROOT.parent / "shared" / "models"))
    os.environ.setdefault("SENTINELLE_OFFLINE", "1")
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    from tools.data import geodata_path

    with tempfile.TemporaryDirectory(prefix="bench_change_") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        pair = [tmp / "before.tif", tmp / "after.tif"]
        for src, dst in zip(NAIP, pair, strict=True):
            make_large(geodata_path(src), dst, args.size)
        print(f"large pair {args.size}x{args.size} px x 4 bands written in {time.perf_counter() - t0:.0f}s")
        rows = []
        for method in args.methods.split(","):
            n_rows = args.cva_rows if method == "cva" else args.galileo_rows
            cmd = [sys.executable, __file__, "--child", "--before", str(pair[0]), "--after", str(pair[1]),
                   "--out", str(tmp / f"out_{method}"), "--method", method, "--rows", str(n_rows),
                   "--size", str(args.size), "--threads", str(args.threads)]
            res = subprocess.run(cmd, capture_output=True, text=True, check=False)
            line = [x for x in res.stdout.splitlines() if x.startswith("{")]
            if res.returncode or not line:
                print(res.stderr[-2000:])
                continue
            rows.append(json.loads(line[-1]))
            r = rows[-1]
            print(f"  {method}: {r['pixels'] / 1e6:.1f} Mpx in {r['seconds']:.0f}s", flush=True)
    print(f"\n{'method':10s} {'Mpx':>8s} {'seconds':>8s} {'Mpx/s':>8s} {'peak RSS MB':>12s}")
    for r in rows:
        mpx, sec, rate, rss = r["pixels"] / 1e6, r["seconds"], r["mpx_s"], r["peak_rss_mb"]
        print(f"{r['method']:10s} {mpx:8.1f} {sec:8.1f} {rate:8.3f} {rss:12.0f}")


if __name__ == "__main__":
    main()

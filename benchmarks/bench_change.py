"""Change detection throughput and peak memory, every method side by side in one run.

Two pairs: a large pair made by tiling two real NAIP dates (North Dakota, 5 m) into >= 10000 x 10000 px GeoTIFFs
in a temporary folder, and the largest OSCD city (Beirut, 1070 x 1180 px, 13 Sentinel-2 bands). The NAIP tiles
are written as RGB at 1 m (`--naip-res`) so that the very-high-resolution regime, and with it its change head,
applies; at its own 5 m and 4 bands the pair has no head. Methods: cva, zeroshot, head (full resolution) and
head:N (the sparse preview: the head on every N-th pixel). Each runs in its own child process, which reports its
wall time, CPU time and peak RSS (ru_maxrss), twice: "cold" with an empty Galileo embedding cache (the first
question on a pair nobody warmed), then "cached" in a fresh child reading the embeddings the cold run stored (a
question on a catalog pair `sentinelle change precompute` warmed, as the server does at start). The `catalog`
pair is Beirut as `sentinelle demo-catalog` stores it in SENTINELLE_DATA_DIR (one 13-band COG per date): what a
chat question reads; the `oscd` pair resamples the 20 m and 60 m band files on the fly. CVA covers the
whole NAIP scene; the Galileo methods cover the whole scene too unless `--galileo-rows N`
(and `--cva-rows N` for CVA) limits them to a full-width strip of N rows of the same large files (on a shared
2-core CPU a full-scene Galileo pass takes hours; a full-scene CVA of the 1 m RGB pair spends minutes polygonising
its noisy Otsu mask). Wall times on a machine shared with other work are noisy: the CPU seconds column is the
steadier figure. Heads come from `<data_dir>/models` (SENTINELLE_DATA_DIR;
`sentinelle change train-head --if-missing` fits them). Usage:

    python benchmarks/bench_change.py [--size 10240] [--galileo-rows 512] [--threads 2] \
        [--methods cva,zeroshot,head,head:4] [--pairs naip,oscd]
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
OSCD_CITY = "oscd-s2/images/beirut"  # the largest OSCD city


def make_large(src: Path, dst: Path, size: int, res: float | None = None) -> None:
    """Repeats a real scene into a size x size tiled GeoTIFF, one source-sized block at a time; with `res`, its
    RGB bands only, at that pixel size (metres)."""
    import numpy as np
    import rasterio
    from rasterio.transform import Affine
    from rasterio.windows import Window

    with rasterio.open(src) as s:
        data = s.read()
        prof = s.profile | {"width": size, "height": size, "tiled": True, "blockxsize": 512, "blockysize": 512,
                            "compress": "deflate", "BIGTIFF": "IF_SAFER"}
        if res is not None:
            t = s.transform
            data = data[:3]
            prof |= {"count": 3, "transform": Affine(res, 0, t.c, 0, -res, t.f), "photometric": "RGB"}
    _, h, w = data.shape
    with rasterio.open(dst, "w", **prof) as d:
        for r in range(0, size, h):
            for c in range(0, size, w):
                hh, ww = min(h, size - r), min(w, size - c)
                block = data[:, :hh, :ww] if (r // h + c // w) % 2 == 0 else np.flip(data, 2)[:, :hh, :ww]
                d.write(block, window=Window(c, r, ww, hh))


def catalog_pair() -> list[str]:
    """Scene ids of Beirut's two dates in the catalog of SENTINELLE_DATA_DIR (empty when it has none)."""
    try:
        from tools.catalog import open_catalog

        ids = sorted(i.id for i in open_catalog().items() if i.id.startswith("s2-beirut-imgs-"))
    except Exception:  # no catalog there
        return []
    return ids if len(ids) == 2 else []


def child(args: argparse.Namespace) -> None:
    """Runs one method and prints a JSON line with its timing and peak memory."""
    import resource

    import torch

    torch.set_num_threads(args.threads)
    from tools.change import scoring
    from tools.change.pipeline import get_encoder, run_change

    scoring.SCORE_WORKERS = args.threads
    method, _, stride = args.method.partition(":")
    window = None if args.rows <= 0 else (0, 0, args.size, args.rows)
    if method != "cva":
        get_encoder("nano")  # loaded once per process in the app: not part of a question's time
    t0, c0 = time.perf_counter(), time.process_time()
    summary = run_change(args.before, args.after, Path(args.out), method=method, window=window,
                         stride=int(stride or 1))
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    px = summary["width"] * summary["height"]
    print(json.dumps({"method": args.method, "pixels": px, "seconds": dt, "cpu_seconds": cpu, "mpx_s": px / dt / 1e6,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "changed_percent": summary["changed_percent"], "n_patches": summary["n_patches"],
                      "ran": summary["method"]}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=10240)
    ap.add_argument("--galileo-rows", type=int, default=512, help="rows of the large pair for Galileo; 0 = all")
    ap.add_argument("--cva-rows", type=int, default=0, help="rows of the large pair for CVA; 0 = all")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--methods", default="cva,zeroshot,head,head:4")
    ap.add_argument("--pairs", default="naip,oscd,catalog",
                    help="naip (the large pair), oscd (Beirut's band files), catalog (Beirut as the demo catalog "
                         "stores it: one 13-band COG per date, what a chat question reads)")
    ap.add_argument("--naip-res", type=float, default=1.0, help="pixel size (m) the NAIP RGB tiles are written at")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--before"), ap.add_argument("--after"), ap.add_argument("--out")
    ap.add_argument("--method"), ap.add_argument("--rows", type=int, default=0)
    ap.add_argument("--cache-dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        from tools.change import embeddings

        embeddings.cache_dir = lambda: Path(args.cache_dir)  # empty (cold) or filled by the cold run (cached)
        child(args)
        return
    os.environ.setdefault("SENTINELLE_DATA_MIRROR", str(ROOT.parent / "shared" / "geodata"))
    os.environ.setdefault("SENTINELLE_MODELS_MIRROR", str(ROOT.parent / "shared" / "models"))
    os.environ.setdefault("SENTINELLE_OFFLINE", "1")
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    from tools.data import geodata_path

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_change_") as tmp:
        tmp = Path(tmp)
        pairs = {}
        if "naip" in args.pairs:
            t0 = time.perf_counter()
            pairs["naip"] = [tmp / "before.tif", tmp / "after.tif"]
            for src, dst in zip(NAIP, pairs["naip"], strict=True):
                make_large(geodata_path(src), dst, args.size, args.naip_res)
            print(f"large pair {args.size}x{args.size} px RGB at {args.naip_res:g} m written in "
                  f"{time.perf_counter() - t0:.0f}s")
        if "oscd" in args.pairs.split(","):
            pairs["oscd"] = [geodata_path(OSCD_CITY) / "imgs_1", geodata_path(OSCD_CITY) / "imgs_2"]
        if "catalog" in args.pairs.split(","):
            ids = catalog_pair()
            if ids:
                pairs["catalog"] = ids
            else:
                print("  catalog: no Beirut pair in the catalog of SENTINELLE_DATA_DIR (`sentinelle demo-catalog`)")
        for name, pair in pairs.items():
            for method in args.methods.split(","):
                n_rows = 0 if name != "naip" else args.cva_rows if method == "cva" else args.galileo_rows
                tag = f"{name}_{method.replace(':', '_')}"
                row: dict = {"pair": name}
                for run in ("cold", "cached") if method != "cva" else ("cold",):
                    cmd = [sys.executable, __file__, "--child", "--before", str(pair[0]), "--after", str(pair[1]),
                           "--out", str(tmp / f"out_{tag}_{run}"), "--cache-dir", str(tmp / f"galileo_{tag}"),
                           "--method", method, "--rows", str(n_rows), "--size", str(args.size),
                           "--threads", str(args.threads)]
                    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
                    line = [x for x in res.stdout.splitlines() if x.startswith("{")]
                    if res.returncode or not line:
                        print(f"  {name} {method} {run}: failed\n{res.stderr[-1500:]}")
                        break
                    out = json.loads(line[-1])
                    row.update({k: v for k, v in out.items() if k in ("method", "pixels", "ran", "changed_percent")})
                    row[run] = out
                    print(f"  {name} {method} {run}: {out['pixels'] / 1e6:.2f} Mpx in {out['seconds']:.1f}s",
                          flush=True)
                if "cold" in row:
                    rows.append(row)
    print(f"\n{'':34s}{'cold (empty Galileo cache)':^36s} {'cached embeddings':^36s}")
    print(f"{'pair':6s} {'method':9s} {'ran':9s} {'Mpx':>7s} " + 2 * f"{'wall s':>7s} {'CPU s':>7s} {'Mpx/s':>7s} "
          f"{'RSS MB':>7s}  " + f"{'changed %':>9s}")
    for r in rows:
        cells = ""
        for run in ("cold", "cached"):
            m = r.get(run)
            cells += (f"{m['seconds']:7.1f} {m['cpu_seconds']:7.1f} {m['mpx_s']:7.3f} {m['peak_rss_mb']:7.0f}  "
                      if m else f"{'-':>7s} {'-':>7s} {'-':>7s} {'-':>7s}  ")
        print(f"{r['pair']:6s} {r['method']:9s} {r['ran']:9s} {r['pixels'] / 1e6:7.2f} {cells}"
              f"{r['changed_percent']:9.2f}")


if __name__ == "__main__":
    main()

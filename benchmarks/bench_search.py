"""Scene-search benchmark: index throughput on real chips, and query latency at 10k / 100k chips.

Latency uses synthetic vectors (clustered; 286-d by default like the default `efficientnet-lite0-scenes` encoder,
`--dim 1280` for the raw EfficientNet-Lite0 head) with realistic chip metadata (dates
2015-2024, three platforms, cloud cover, 2.5 km chip footprints over a few regions, 100 chips per scene). Each
query runs two ways in the same process: plain chroma `where` (the baseline) and the side table (filters resolved
on numpy columns, rows sorted by platform/date/scene; few rows gathered, contiguous spans scored in place).
Recall@10 is against exact brute force over the filtered rows; CPU ms (process time, all threads) shows the
cost without the wait for a busy shared CPU; the 1-minute load average is printed with each size (2 shared cores
here: run it with `nice -n -5` when allowed). Prints a markdown table.

    .venv/bin/python benchmarks/bench_search.py [--sizes 10000 100000] [--queries 100] [--dim 286]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.search.index import ChipIndex, Filters  # noqa: E402

PLATFORMS = ["sentinel-2", "landsat-8", "naip"]
REGIONS = [(2.35, 48.85), (4.47, 51.92), (118.8, 32.06), (-74.5, -8.4), (-122.4, 37.7), (10.0, 53.55)]
T0, T1 = 1420070400, 1735689599  # 2015-01-01 .. 2024-12-31


def synthetic(n: int, dim: int, rng: np.random.Generator) -> tuple[np.ndarray, list[dict], list[str]]:
    centres = rng.normal(size=(64, dim)).astype(np.float32)
    vecs = centres[rng.integers(0, 64, n)] + 0.6 * rng.normal(size=(n, dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    metas, ids = [], []
    n_scenes = max(1, n // 100)
    scene_t = rng.integers(T0, T1, n_scenes)
    scene_p = rng.integers(0, len(PLATFORMS), n_scenes)
    scene_c = rng.uniform(0, 100, n_scenes)
    scene_r = rng.integers(0, len(REGIONS), n_scenes)
    for i in range(n):
        s = i // 100
        lon0, lat0 = REGIONS[scene_r[s]]
        lon, lat = lon0 + rng.uniform(-1, 1), lat0 + rng.uniform(-1, 1)
        d = 0.0125
        metas.append(
            {
                "scene_id": f"scene-{s}",
                "datetime": int(scene_t[s]),
                "platform": PLATFORMS[scene_p[s]],
                "cloud_cover": float(round(scene_c[s], 1)),
                "west": lon - d,
                "south": lat - d,
                "east": lon + d,
                "north": lat + d,
                "lon": lon,
                "lat": lat,
                "class": "Forest",
            }
        )
        ids.append(f"scene-{s}@{i}")
    return vecs, metas, ids


def fill(index: ChipIndex, vecs: np.ndarray, metas: list[dict], ids: list[str]) -> float:
    t = time.perf_counter()
    for start in range(0, len(ids), 5000):
        sl = slice(start, start + 5000)
        index.img.add(ids=ids[sl], embeddings=vecs[sl], metadatas=metas[sl])
    return time.perf_counter() - t


def scenarios() -> dict[str, Filters]:
    lon, lat = REGIONS[1]
    return {
        "no filter": Filters(),
        "date range (1 year)": Filters(start=1483228800, end=1514764799),
        "platform + cloud < 20": Filters(platform="sentinel-2", max_cloud_cover=20.0),
        "bbox (place) + 2 years": Filters(
            bbox=[lon - 0.5, lat - 0.5, lon + 0.5, lat + 0.5], start=1483228800, end=1546300799
        ),
        "platform only (1/3)": Filters(platform="landsat-8"),
    }


def pct(times: list[float]) -> tuple[float, float]:
    a = np.array(times) * 1000
    return float(np.percentile(a, 50)), float(np.percentile(a, 95))


def bench_latency(n: int, dim: int, n_queries: int, rng: np.random.Generator) -> list[tuple]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        index = ChipIndex(root=Path(tmp), encoder="bench")
        vecs, metas, ids = synthetic(n, dim, rng)
        fill_s = fill(index, vecs, metas, ids)
        t = time.perf_counter()
        table = index.table("img")
        table_s = time.perf_counter() - t

        print(
            f"n={n}: chroma add {fill_s:.1f} s ({n / fill_s:.0f} vectors/s), side table build {table_s:.1f} s",
            file=sys.stderr,
        )
        queries = vecs[rng.integers(0, n, n_queries)] + 0.1 * rng.normal(size=(n_queries, dim)).astype(np.float32)
        for name, filters in scenarios().items():
            selectivity = float(table.mask(filters).mean())
            mask = table.mask(filters)
            base, ours, recall_base, recall_ours, cpu_base, cpu_ours = [], [], [], [], [], []
            for q in queries:
                truth = set(table.ids[np.argsort(-np.where(mask, table.vectors @ q, -np.inf))[: min(10, mask.sum())]])
                t, c = time.perf_counter(), time.process_time()
                ref = index.query_where(q, 10, filters)
                base.append(time.perf_counter() - t)
                cpu_base.append(time.process_time() - c)
                t, c = time.perf_counter(), time.process_time()
                got = index.query(q, 10, filters)
                ours.append(time.perf_counter() - t)
                cpu_ours.append(time.process_time() - c)
                recall_base.append(len(truth & {h.id for h in ref}) / max(1, len(truth)))
                recall_ours.append(len(truth & {h.id for h in got}) / max(1, len(truth)))
            rows.append(
                (
                    n,
                    name,
                    selectivity,
                    *pct(base),
                    *pct(ours),
                    float(np.mean(recall_base)),
                    float(np.mean(recall_ours)),
                    pct(cpu_base)[1],
                    pct(cpu_ours)[1],
                )
            )
    return rows


def bench_throughput(n: int) -> tuple[int, float]:
    """Chips/s end to end (encoder + k-NN classes + description embedding + chroma upsert) on real AID images."""
    from tools.data import geodata_path
    from tools.search.chips import iter_labelled_chips
    from tools.search.encoders import get_encoder
    from tools.search.indexer import default_bank, store_batch

    chips = [c for _, c in zip(range(n), iter_labelled_chips(geodata_path("aid-scenes")), strict=False)]
    bank = default_bank()  # the default encoder's own probe classes
    with tempfile.TemporaryDirectory(prefix="bench-index-") as tmp:
        index = ChipIndex(root=Path(tmp))
        encoder = get_encoder(index.encoder)
        store_batch(index, encoder, chips[:2], {}, bank)  # load the models outside the timing
        t = time.perf_counter()
        for start in range(2, len(chips), 32):
            store_batch(index, encoder, chips[start : start + 32], {}, bank)
        return len(chips) - 2, time.perf_counter() - t


def main() -> None:
    import os

    os.environ.setdefault("SENTINELLE_DATA_MIRROR", str(Path(__file__).resolve().parents[2] / "shared" / "geodata"))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--dim", type=int, default=286, help="vector size (default encoder: 256 + 30 classes)")
    parser.add_argument("--throughput-chips", type=int, default=98, help="0 to skip")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    if args.throughput_chips:
        n, secs = bench_throughput(args.throughput_chips)
        print(f"\nindex throughput: {n} real chips (150x150 AID, 1 thread) in {secs:.1f} s = {n / secs:.1f} chips/s\n")
    print(
        "| chips | query | selectivity | chroma where p50 ms | p95 | side table p50 ms | p95 "
        "| recall@10 chroma | ours | CPU p95 chroma | ours |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for n in args.sizes:
        print(f"n={n}, dim={args.dim}: load average before {os.getloadavg()[0]:.2f}", file=sys.stderr)
        for row in bench_latency(n, args.dim, args.queries, rng):
            n_, name, sel, b50, b95, o50, o95, rb, ro, cb, co = row
            print(
                f"| {n_} | {name} | {sel:.3f} | {b50:.1f} | {b95:.1f} | {o50:.1f} | {o95:.1f} | {rb:.2f} "
                f"| {ro:.2f} | {cb:.1f} | {co:.1f} |",
                flush=True,
            )
        print(f"n={n}, dim={args.dim}: load average after {os.getloadavg()[0]:.2f}", file=sys.stderr)


if __name__ == "__main__":
    main()

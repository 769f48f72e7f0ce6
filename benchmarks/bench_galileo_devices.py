"""Galileo encoder on each available torch device: reference outputs reproduced there, and change-tile throughput.

For the GPU deployment (deploy/README.md): the change detector's cost is the Galileo encoder, run twice per tile
(once per date). This script needs only torch and numpy, so it runs on a bare GPU machine:

1. the four reference cases of `reference_io.npz` (authors' code on a real OSCD Paris crop) on every device, fp32,
   and the largest deviation under bf16 autocast on CUDA;
2. throughput in the pipeline's own tile shapes (regime "s2": 64 px tiles, patch 8, 13 bands; regime "vhr": 128 px
   RGB tiles average-pooled x4, patch 4), for several batch sizes, as core megapixels per second of a two-date pair
   (core = tile minus the overlap the pipeline discards). CPU with all cores and with one core is the baseline,
   measured in the same process.

    python benchmarks/bench_galileo_devices.py --models ../shared/models/galileo-nano [--json out.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
CASES = ["single_date_all_s2_p4", "single_date_all_s2_p8", "two_dates_all_s2_p4", "single_date_rgb_only_p4"]
INPUTS = ["s_t_x", "sp_x", "t_x", "st_x", "s_t_m", "sp_m", "t_m", "st_m", "months"]
# (regime, tile px fed to the encoder, patch, core px per tile at full resolution, reference case giving the mask)
# vhr: 128 px tiles with 32 px overlap, average-pooled x4 before encoding (tools/change/band_features.py REGIMES).
REGIMES = [("s2", 64, 8, 48, "single_date_all_s2_p8"), ("vhr", 32, 4, 64, "single_date_rgb_only_p4")]


def load_galileo_module():
    """Imports tools/change/galileo.py alone: the `tools` package pulls in rasterio and friends."""
    spec = importlib.util.spec_from_file_location("galileo", ROOT / "tools" / "change" / "galileo.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["galileo"] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


def check_references(encoder, ref, device: torch.device) -> dict[str, float]:
    """Largest absolute deviation from the reference outputs, per case, fp32 (and bf16 autocast on CUDA)."""
    result = {}
    for case in CASES:
        args = [torch.from_numpy(ref[f"{case}/in/{n}"]).to(device) for n in INPUTS]
        patch = int(ref[f"{case}/patch_size"])
        modes = [("fp32", False)] + ([("bf16", True)] if device.type == "cuda" else [])
        for label, autocast in modes:
            with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                out = encoder(*args, patch_size=patch)
            err = max(
                float(np.abs(o.float().cpu().numpy() - ref[f"{case}/out/{i}"]).max()) for i, o in enumerate(out[:4])
            )
            result[f"{case}/{label}"] = err
    return result


def tile_inputs(ref, tile: int, batch: int, mask_case: str, device: torch.device) -> list[torch.Tensor]:
    """A batch of real normalised S2 tiles (the reference crop mirrored up to `tile` px) in the pipeline's layout."""
    x = ref["single_date_all_s2_p8/in/s_t_x"][0]  # (32, 32, 1, 13)
    while x.shape[0] < tile:
        x = np.concatenate([x, x[::-1]], axis=0)
        x = np.concatenate([x, x[:, ::-1]], axis=1)
    x = x[:tile, :tile]
    group_mask = ref[f"{mask_case}/in/s_t_m"][0, 0, 0, 0]  # (7,) 1 = group absent
    s_t_x = torch.from_numpy(np.ascontiguousarray(x)).expand(batch, tile, tile, 1, 13).contiguous()
    s_t_m = torch.from_numpy(group_mask).expand(batch, tile, tile, 1, 7).contiguous()
    zeros = torch.zeros
    return [
        t.to(device)
        for t in (
            s_t_x,
            zeros(batch, tile, tile, 16),
            zeros(batch, 1, 6),
            zeros(batch, 18),
            s_t_m,
            torch.ones(batch, tile, tile, 3),
            torch.ones(batch, 1, 3),
            torch.ones(batch, 4),
            torch.full((batch, 1), 5, dtype=torch.long),
        )
    ]


def throughput(encoder, ref, device: torch.device, autocast: bool, batches: list[int], seconds: float) -> list[dict]:
    """Core Mpx/s of a two-date pair for each regime and batch size (two encoder calls per tile)."""
    rows = []
    for name, tile, patch, core, mask_case in REGIMES:
        for batch in batches:
            args = tile_inputs(ref, tile, batch, mask_case, device)

            def step(args=args, patch=patch):
                with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                    encoder(*args, patch_size=patch)
                    encoder(*args, patch_size=patch)

            step()
            _sync(device)
            n, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds or n < 2:
                step()
                n += 1
            _sync(device)
            elapsed = (time.perf_counter() - start) / n
            rows.append(
                {
                    "regime": name,
                    "batch": batch,
                    "ms_per_batch": 1000 * elapsed,
                    "tiles_per_s": batch / elapsed,
                    "core_mpx_per_s": batch * core * core / elapsed / 1e6,
                }
            )
    return rows


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_models = Path(os.environ.get("SENTINELLE_MODELS_MIRROR", ROOT / "data" / "models")) / "galileo-nano"
    parser.add_argument("--models", type=Path, default=default_models, help="folder with encoder.pt, config.json")
    parser.add_argument("--batches", default="1,8,64,256")
    parser.add_argument("--seconds", type=float, default=2.0, help="timed seconds per configuration")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    galileo = load_galileo_module()
    ref = np.load(args.models / "reference_io.npz")
    batches = [int(b) for b in args.batches.split(",")]
    report: dict = {"torch": torch.__version__, "cpu_threads": torch.get_num_threads(), "runs": []}
    devices = [("cpu", False, torch.get_num_threads()), ("cpu", False, 1)]
    if torch.cuda.is_available():
        report["gpu"] = torch.cuda.get_device_name(0)
        devices += [("cuda", False, None), ("cuda", True, None)]
    all_threads = torch.get_num_threads()
    for dev_name, autocast, threads in devices:
        torch.set_num_threads(threads or all_threads)
        device = torch.device(dev_name)
        encoder = galileo.load_encoder(args.models / "encoder.pt", args.models / "config.json").to(device).eval()
        label = f"{dev_name}{'-bf16' if autocast else ''}{f'-{threads}t' if threads else ''}"
        run = {"device": label}
        if not autocast and threads != 1:
            run["reference_max_abs_err"] = check_references(encoder, ref, device)
        cpu_batches = [b for b in batches if b <= 64] if dev_name == "cpu" else batches
        run["throughput"] = throughput(encoder, ref, device, autocast, cpu_batches, args.seconds)
        report["runs"].append(run)
        best = max(r["core_mpx_per_s"] for r in run["throughput"] if r["regime"] == "s2")
        print(
            f"{label:>12}: best s2 {best:8.3f} Mpx/s  " + json.dumps(run.get("reference_max_abs_err", {})), flush=True
        )
    for run in report["runs"]:
        for r in run["throughput"]:
            print(
                f"{run['device']:>12} {r['regime']:>4} batch {r['batch']:>4}: {r['ms_per_batch']:9.1f} ms "
                f"{r['tiles_per_s']:9.1f} tiles/s {r['core_mpx_per_s']:8.3f} Mpx/s"
            )
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

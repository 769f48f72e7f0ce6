"""Very-high-resolution change accuracy on unseen pairs under the VHR round protocol of docs/change-accuracy.md.

Pairs: the 6 LEVIR + 5 DSIFN labelled pairs of `levir-dsifn-samples`. Each held-out pair is predicted by a model
fitted on the other pairs minus those of its source image (`tools.change.protocol.folds` over `Pair.group`).
Splits: `decision` (LEVIR and DSIFN pairs 1-3 by file name: every choice is made there), `reported` (the other 5),
`all` (leave-one-out over the 11, for the record). A pair's fold does not depend on the split, so every split whose
pairs all got a held-out prediction is scored. Held-out probability maps are kept as npz under --work, so a blend
of the decoder with the HGB head (run with --split all) reuses both runs. Results go as JSON lines to --out. Usage:

    python benchmarks/change_accuracy_vhr.py hgb --split all               # baseline: the shipped head's fit
    python benchmarks/change_accuracy_vhr.py decoder configs.json --split decision [--blend]
    python benchmarks/change_accuracy_vhr.py score NAME[,NAME]    # saved maps of every split run, + blends

configs.json: {"name": {"widths": [32, 24, 16, 8], "full_res": false, "epochs": 30, "batch": 8, "lr": 0.002,
"weight_decay": 0.0001, "dice": 1.0, "tta": true, "seed": 0}} (fields of `tools.change.vhr_decoder.DecoderConfig`).
`--blend` also scores w * (p_dec - 0.5) + (1 - w) * (p_hgb - t_hgb) > 0 for w in 0.25 / 0.5 / 0.75 when the hgb run is
in --work.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from tools.change.labels import Pair, confusion, metrics, read_label
from tools.change.protocol import folds
from tools.change.training import dev_pairs
from tools.change.vhr_decoder import DecoderConfig, Encoded, encode_pair, fit_decoder, predict, read_rgb

DECISION_PER_DATASET = 3
BLEND_WEIGHTS = (0.25, 0.5, 0.75)


class It:
    """One labelled pair as `protocol.folds` sees it."""

    def __init__(self, pair: Pair) -> None:
        self.pair, self.group, self.name = pair, pair.group, pair.name
        self.label = read_label(pair)
        self.valid = np.ones_like(self.label, bool)


def split_names(items: list[It], split: str) -> list[str]:
    """Pair names of a split: the first DECISION_PER_DATASET of each dataset by file name are the decision pairs."""
    out = []
    for ds in sorted({it.pair.dataset for it in items}):
        names = sorted(it.name for it in items if it.pair.dataset == ds)
        if split == "decision":
            out += names[:DECISION_PER_DATASET]
        elif split == "reported":
            out += names[DECISION_PER_DATASET:]
        else:
            out += names
    return out


def held_out_folds(items: list[It], names: list[str]):
    """(group, training items, held-out items among `names`) for every group holding a pair of `names`."""
    groups = {it.group for it in items if it.name in names}
    return [(g, tr, [t for t in te if t.name in names]) for g, tr, te in folds(items) if g in groups]


def score(items: list[It], names: list[str], masks: dict[str, np.ndarray]) -> dict:
    """Pooled F1 (and P/R/IoU) over the split's pairs, per dataset, and per pair."""
    conf = {n: confusion(masks[n], it.label, it.valid) for it in items for n in [it.name] if n in names}
    by_ds: dict[str, np.ndarray] = {}
    for it in items:
        if it.name in conf:
            by_ds[it.pair.dataset] = by_ds.get(it.pair.dataset, np.zeros(4, int)) + conf[it.name]
    total = sum(conf.values(), np.zeros(4, int))
    return {
        **{k: round(v, 4) for k, v in metrics(total).items()},
        **{f"f1_{ds}": round(metrics(c)["f1"], 4) for ds, c in sorted(by_ds.items())},
        "pairs": {n: round(metrics(c)["f1"], 4) for n, c in conf.items()},
    }


def emit(out: Path, record: dict) -> None:
    line = json.dumps({**record, "load": round(os.getloadavg()[0], 2), "time": time.strftime("%H:%M:%S")})
    print(line, flush=True)
    with out.open("a") as f:
        f.write(line + "\n")


def emit_splits(out: Path, items: list[It], masks: dict[str, np.ndarray], record: dict) -> None:
    """One line per split whose pairs all have a held-out prediction (a pair's fold does not depend on the split)."""
    for split in ("decision", "reported", "all"):
        names = split_names(items, split)
        if all(n in masks for n in names):
            emit(out, {"split": split, **record, **score(items, names, masks)})


def run_hgb(items: list[It], names: list[str], work: Path, split: str, out: Path) -> None:
    """The shipped VHR head (`training.fit_head`, HGB, inner out-of-fold per-pair threshold) under the same folds."""
    from tools.change.training import collect, fit_head

    t0 = time.perf_counter()
    data, fnames = collect("vhr")
    by_name = {p.name: (p, x, y, v) for p, x, y, v in data}
    probs, thresholds, masks = {}, {}, {}
    for g, train, test in held_out_folds(items, names):
        head = fit_head([by_name[t.name] for t in train], fnames, "hgb", "vhr")
        for t in test:
            probs[t.name] = head.predict_map(by_name[t.name][1]).astype(np.float32)
            thresholds[t.name] = head.threshold
            masks[t.name] = probs[t.name] > head.threshold
        print(f"hgb fold {g}: {time.perf_counter() - t0:.0f}s", flush=True)
    np.savez(work / "hgb.npz", **{f"p_{n}": p for n, p in probs.items()},
             **{f"t_{n}": np.float32(t) for n, t in thresholds.items()})
    emit_splits(out, items, masks, {"config": "hgb_v3", "s": round(time.perf_counter() - t0)})


def encoded(items: list[It], work: Path) -> dict[str, Encoded]:
    """Frozen encoder maps of every pair's 8 dihedral variants, computed once and cached under `work`."""
    out = {}
    for it in items:
        path = work / f"enc_{it.pair.dataset}_{it.name}.npz"
        if path.exists():
            z = np.load(path)
            out[it.name] = Encoded({k[2:]: z[k] for k in z.files if k.startswith("m_")}, z["rgb"], z["label"])
            continue
        enc = encode_pair(read_rgb(it.pair.before), read_rgb(it.pair.after), it.label)
        np.savez(path, rgb=enc.rgb, label=enc.label, **{f"m_{k}": v for k, v in enc.maps.items()})
        out[it.name] = enc
    return out


def run_decoder(items: list[It], names: list[str], work: Path, split: str, out: Path, configs: dict, blend: bool
                ) -> None:
    enc = encoded(items, work)
    hgb = np.load(work / "hgb.npz") if blend and (work / "hgb.npz").exists() else None
    for cname, cfg in configs.items():
        config = DecoderConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()})
        t0 = time.perf_counter()
        probs = {}
        for g, train, test in held_out_folds(items, names):
            net = fit_decoder([enc[t.name] for t in train], config)
            for t in test:
                probs[t.name] = predict(net, enc[t.name], config.tta)
            print(f"{cname} fold {g}: {time.perf_counter() - t0:.0f}s", flush=True)
        np.savez(work / f"dec_{cname}_{split}.npz", **{f"p_{n}": p for n, p in probs.items()})
        secs = round(time.perf_counter() - t0)
        emit_splits(out, items, {n: p > 0.5 for n, p in probs.items()}, {"config": cname, "s": secs, **cfg})
        if hgb is not None and all(f"p_{n}" in hgb.files for n in probs):
            for w in BLEND_WEIGHTS:
                masks = {n: w * (p - 0.5) + (1 - w) * (hgb[f"p_{n}"] - hgb[f"t_{n}"]) > 0 for n, p in probs.items()}
                emit_splits(out, items, masks, {"config": f"{cname}+hgb", "w": w})


def run_score(items: list[It], work: Path, out: Path, configs: list[str]) -> None:
    """Scores saved held-out maps without refitting: each decoder config's maps of every split run so far
    (`dec_<config>_<split>.npz`, merged: a pair's fold is the same in every split), alone and blended with the saved
    HGB maps."""
    hgb = np.load(work / "hgb.npz") if (work / "hgb.npz").exists() else None
    for cname in configs:
        probs: dict[str, np.ndarray] = {}
        for split in ("decision", "reported", "all"):
            if (work / f"dec_{cname}_{split}.npz").exists():
                dec = np.load(work / f"dec_{cname}_{split}.npz")
                probs.update({k[2:]: dec[k] for k in dec.files})
        emit_splits(out, items, {n: p > 0.5 for n, p in probs.items()}, {"config": cname, "from": "saved maps"})
        for w in BLEND_WEIGHTS if hgb is not None else ():
            masks = {n: w * (p - 0.5) + (1 - w) * (hgb[f"p_{n}"] - hgb[f"t_{n}"]) > 0 for n, p in probs.items()}
            emit_splits(out, items, masks, {"config": f"{cname}+hgb", "w": w})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", choices=["hgb", "decoder", "score"])
    ap.add_argument("configs", nargs="?", help="decoder configs (JSON file); for score: comma-separated config names")
    ap.add_argument("--split", choices=["decision", "reported", "all"], default="decision")
    ap.add_argument("--work", type=Path, default=Path("/tmp/change_accuracy_vhr"))
    ap.add_argument("--out", type=Path, default=Path("change_accuracy_vhr.jsonl"))
    ap.add_argument("--blend", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    args.work.mkdir(parents=True, exist_ok=True)
    items = [It(p) for p in dev_pairs("vhr")]
    names = split_names(items, args.split)
    if args.model == "hgb":
        run_hgb(items, names, args.work, args.split, args.out)
    elif args.model == "score":
        run_score(items, args.work, args.out, args.configs.split(","))
    else:
        configs = json.loads(Path(args.configs).read_text()) if args.configs else {"default": {}}
        run_decoder(items, names, args.work, args.split, args.out, configs, args.blend)


if __name__ == "__main__":
    main()

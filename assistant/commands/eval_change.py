"""`sentinelle eval change [--oscd DIR] [--pairs DIR] [--sampled DIR]`: F1, IoU, precision, recall per dataset and
method. With no folder given, all three development sets of the data mirror are scored.

Pairs a head was trained on are scored with a head retrained without their city / source image
(leave-one-out), so development data never scores a model that saw it; other pairs use the cached head.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("change", help="score change detection on OSCD cities and LEVIR/DSIFN-style pairs")
    p.add_argument("--oscd", type=Path, help="OSCD folder (images/, labels/); default: the sample data")
    p.add_argument("--pairs", type=Path, help="folder with A/ B/ label/ (or several such folders)")
    p.add_argument(
        "--sampled", type=Path,
        help="folder(s) with two rasters and change.bmp/unchanged.bmp sampled references (e.g. Landsat Taizhou)",
    )
    p.add_argument("--methods", default="zeroshot,head,cva", help="comma-separated: zeroshot,head,cva")
    p.add_argument("--json", action="store_true", help="print the full results as JSON")
    p.set_defaults(func=_run)


class _HeadPicker:
    """Full head for unseen pairs; leave-one-group-out heads for pairs the full head was trained on."""

    def __init__(self) -> None:
        self._data: dict = {}
        self._heads: dict = {}

    def __call__(self, pair):
        from tools.change.job import prepare
        from tools.change.training import collect, dev_pairs, fit_head, load_or_train_head

        regime = prepare(pair.before, pair.after, method="cva").regime.name
        head = load_or_train_head(regime)
        if head is None:
            return None
        dev_names = {p.name for p in dev_pairs(regime)}
        if pair.name not in set(head.trained_on) or pair.name not in dev_names:
            return head
        if regime not in self._data:
            self._data[regime] = collect(regime)
        data, names = self._data[regime]
        group = next(p.group for p, *_ in data if p.name == pair.name)
        key = (regime, group)
        if key not in self._heads:
            self._heads[key] = fit_head([d for d in data if d[0].group != group], names, head.kind, regime)
        return self._heads[key]


def _run(args: argparse.Namespace) -> int:
    import torch

    from tools.change.accuracy import ab_pairs, evaluate, oscd_pairs, sampled_pairs
    from tools.data import geodata_path

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    none_given = args.oscd is None and args.pairs is None and args.sampled is None
    oscd = args.oscd or (geodata_path("oscd-s2") if none_given else None)
    vhr = args.pairs or (geodata_path("levir-dsifn-samples") if none_given else None)
    sampled = args.sampled or (geodata_path("landsat-cd-taizhou-nanjing") if none_given else None)
    pairs = [
        *(oscd_pairs(oscd) if oscd else []),
        *(ab_pairs(vhr) if vhr else []),
        *(sampled_pairs(sampled) if sampled else []),
    ]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    results = evaluate(pairs, methods, progress=lambda m: print(m, flush=True), head_for=_HeadPicker())
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    width = max([10, *(len(ds) for ds in results)])
    print(f"\n{'dataset':{width}s} {'method':9s} {'pairs':>5s} {'F1':>6s} {'IoU':>6s} {'P':>6s} {'R':>6s}")
    for ds, by_method in results.items():
        for method, r in by_method.items():
            print(
                f"{ds:{width}s} {method:9s} {len(r['pairs']):5d} {r['f1']:6.3f} {r['iou']:6.3f} "
                f"{r['precision']:6.3f} {r['recall']:6.3f}"
            )
    for ds, by_method in results.items():
        scored = [m for m in methods if m in by_method]
        print(f"\n{ds}: per pair F1 (" + ", ".join(scored) + ")")
        for name in next(iter(by_method.values()))["pairs"]:
            cells = [by_method[m]["pairs"].get(name) for m in scored]
            f1s = " ".join(f"{c['f1']:6.3f}" if c else "     -" for c in cells)
            print(f"  {name:22s} {f1s}")
    return 0

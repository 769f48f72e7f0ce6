"""`sentinelle eval landcover`: land cover from a few labels, spectral indices vs Galileo embeddings side by side.

The protocol (block split written down before scoring, classes kept, classifier) is in `tools.services.landcover`.
"""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("landcover", help="land cover with few labels: index baseline vs Galileo embeddings")
    parser.add_argument("--labels", type=int, nargs="+", default=None,
                        help="labels per class to train with (default: 10 50 200)")
    parser.add_argument("--seeds", type=int, default=None, help="random label draws per setting (default: 5)")
    parser.add_argument("--json", action="store_true", help="print the scores as JSON")
    parser.set_defaults(func=run)


def table(scores: dict) -> str:
    """The side-by-side table: one line per fold and number of labels."""
    head = (f"{'split':<24} {'labels/class':>12} {'test px':>8} | {'index OA':>8} {'macro-F1':>8} | "
            f"{'Galileo OA':>10} {'macro-F1':>8} | forest F1: rule / index / Galileo")
    lines = [head, "-" * len(head)]
    for r in scores["rows"]:
        lines.append(
            f"{r['fold']:<24} {r['labels_per_class']:>12} {r['test_pixels']:>8} | {r['indices_oa']:>8.3f} "
            f"{r['indices_macro_f1']:>8.3f} | {r['galileo_oa']:>10.3f} {r['galileo_macro_f1']:>8.3f} | "
            f"{r['forest_rule_f1']:.3f} / {r['indices_forest_f1']:.3f} / {r['galileo_forest_f1']:.3f}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from tools.services.landcover import LABELS_PER_CLASS, SEEDS, evaluate

    scores = evaluate(tuple(args.labels or LABELS_PER_CLASS), args.seeds or SEEDS,
                      progress=lambda m: print(m, file=sys.stderr, flush=True))
    if args.json:
        print(json.dumps(scores))
        return 0
    print(f"data: {scores['data']}; clear dates {', '.join(scores['dates'])}")
    print(f"classes (pixels): {', '.join(f'{k} ({v})' for k, v in scores['class_pixels'].items())}")
    print(f"split: {scores['split']}; {scores['seeds']} label draws per line (means shown)")
    print(f"classifier: {scores['classifier']}")
    print(table(scores))
    return 0

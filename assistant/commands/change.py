"""`sentinelle change BEFORE AFTER --out DIR`: change map between two dates; `sentinelle change train-head`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from assistant.errors import BadInputError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "change",
        help="change map between two images (raster, per-band folder or catalog scene id); or `change train-head`, "
        "`change precompute`",
        description="sentinelle change BEFORE AFTER --out DIR [--method auto|zeroshot|head|cva]\n"
        "sentinelle change train-head [--regime s2|vhr|all] [--kinds hgb,logreg]\n"
        "sentinelle change precompute [--max-pairs N]  (Galileo embeddings of the catalog's pairs, cached)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="BEFORE AFTER", help="two inputs, or 'train-head', 'precompute'")
    p.add_argument("--out", type=Path, help="output folder (score.tif, mask.tif, changes.geojson, summary.json)")
    p.add_argument("--method", default="auto", choices=["auto", "zeroshot", "head", "cva"])
    p.add_argument("--encoder", default="nano", choices=["nano", "tiny", "base"], help="Galileo size")
    p.add_argument("--threshold", type=float, help="override the decision threshold on the score")
    p.add_argument("--clouds", action="store_true", help="leave out clouds and shadows (ukis-csmask)")
    p.add_argument(
        "--window",
        type=int,
        nargs=4,
        metavar=("COL", "ROW", "WIDTH", "HEIGHT"),
        help="process only this pixel window of BEFORE (georeferenced inputs)",
    )
    p.add_argument("--regime", default="all", choices=["s2", "vhr", "all"], help="train-head: which head")
    p.add_argument(
        "--kinds",
        default="hgb,logreg",
        help="train-head: classifiers validated leave-one-out; the best is kept (hgb, logreg)",
    )
    p.add_argument(
        "--if-missing",
        action="store_true",
        help="train-head: only regimes without a usable head, fitted once without validation (used by `make demo`)",
    )
    p.add_argument("--max-pairs", type=int, help="precompute: at most this many catalog pairs (default: all)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import torch

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    if args.inputs[0] == "train-head":
        return _train(args)
    if args.inputs == ["precompute"]:
        return _precompute(args)
    if len(args.inputs) != 2:
        raise BadInputError("give two inputs: sentinelle change BEFORE AFTER --out DIR")
    if args.out is None:
        raise BadInputError("--out DIR is required")
    if args.out.exists() and not args.out.is_dir():
        raise BadInputError(f"--out {args.out.name}: a file of that name exists; give a folder (new or existing)")
    from assistant.commands.progress import terminal_progress
    from tools.change.pipeline import run_change

    with terminal_progress(not args.quiet) as update:
        summary = run_change(
            args.inputs[0],
            args.inputs[1],
            args.out,
            method=args.method,
            progress=update,
            encoder_size=args.encoder,
            threshold=args.threshold,
            clouds=args.clouds,
            window=tuple(args.window) if args.window else None,
        )
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        km2 = f"{summary['changed_km2']:.3f} km², " if summary["changed_km2"] is not None else ""
        print(
            f"{summary['method']} ({summary['model'] or 'no model'}): {km2}{summary['changed_percent']:.2f}% "
            f"changed, {summary['n_patches']} patches; outputs in {args.out}"
        )
    return 0


def _precompute(args: argparse.Namespace) -> int:
    """Caches the Galileo embeddings of every catalog pair a change question may compare (the server runs this
    in the background at start), so a first question only reads them."""
    from tools.change.precompute import warm_catalog

    def say(fraction: float, message: str) -> None:
        if not args.quiet:
            print(f"{fraction:4.0%} {message}", flush=True)

    done = warm_catalog(max_pairs=args.max_pairs, encoder_size=args.encoder, progress=say)
    print(f"Galileo embeddings: {done.encoded_dates} date(s) encoded, {done.pairs} pair(s) visited "
          f"({done.skipped} not cacheable) in {done.seconds:.0f} s")
    return 0


def _train(args: argparse.Namespace) -> int:
    from tools.change.head import HEAD_REGIMES, head_path, load_head
    from tools.change.training import train_head

    regimes = list(HEAD_REGIMES) if args.regime == "all" else [args.regime]
    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    if not kinds or set(kinds) - {"hgb", "logreg"}:
        raise BadInputError("--kinds: a comma-separated list of hgb, logreg")
    for regime in regimes:
        if args.if_missing:
            if load_head(regime) is not None:
                print(f"{regime}: a head is already cached at {head_path(regime)}")
                continue
            # the kind train-head keeps when it validates (hgb on both regimes, see README), fitted once
            train_head(regime, kinds=kinds[:1], progress=print, validate=False)
            print(f"{regime}: fitted {kinds[0]} without validation, saved to {head_path(regime)}")
            continue
        head = train_head(regime, kinds=kinds, progress=print)
        v = head.validation.get(head.kind, {})
        print(
            f"{regime}: kept {head.kind}, threshold {head.threshold:.2f}, leave-one-out F1 {v.get('f1', 0):.3f} "
            f"IoU {v.get('iou', 0):.3f} P {v.get('precision', 0):.3f} R {v.get('recall', 0):.3f}"
        )
        print(f"  saved to {head_path(regime)}")
    return 0

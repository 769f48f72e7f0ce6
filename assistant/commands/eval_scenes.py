"""`sentinelle eval scenes DIR`: top-1/top-3 scene-type accuracy on a labelled folder (labels.csv: path,label).

Images that are also in the reader's exemplar bank (same bytes) are scored by probes refit without them
(k-fold over the bank, `--folds`; `--folds 0` = leave-one-out), so the score never sees its own answers.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("scenes", help="scene-type accuracy of the image reader on a labelled folder")
    parser.add_argument("dir", type=Path, help="folder with labels.csv (path,label) and the images")
    parser.add_argument("--folds", type=int, default=10, help="CV folds for images in the bank (0 = leave-one-out)")
    parser.add_argument("--json", action="store_true", help="print the scores as JSON")
    parser.set_defaults(func=run)


def evaluate(folder: Path, folds: int = 10) -> dict:
    from tools.reader import bank

    rows = bank.read_labels(folder)
    classifier = bank.get_classifier(lambda f, m: print(f"[{f:4.0%}] {m}", file=sys.stderr, flush=True))
    in_bank = {h: i for i, h in enumerate(classifier.hashes)}
    hashes = [bank.file_hash(r.path) for r in rows]
    probs = np.zeros((len(rows), len(classifier.classes)), dtype=np.float32)
    seen = [i for i, h in enumerate(hashes) if h in in_bank]
    unseen = [i for i, h in enumerate(hashes) if h not in in_bank]
    if seen:
        oof = bank.cross_validate(classifier, folds=folds if folds > 0 else len(classifier.labels))
        for i in seen:
            probs[i] = oof[in_bank[hashes[i]]]
    if unseen:
        feats = bank.embed([bank.load_rgb(rows[i].path) for i in unseen])
        probs[unseen] = classifier.predict(feats)
    truth = [r.label for r in rows]
    order = np.argsort(-probs, axis=1)
    top1 = [classifier.classes[o[0]] == t for o, t in zip(order, truth, strict=True)]
    top3 = [t in {classifier.classes[j] for j in o[:3]} for o, t in zip(order, truth, strict=True)]
    unknown = sorted({t for t in truth if t not in classifier.classes})
    protocol = []
    if seen:
        how = "leave-one-out" if folds <= 0 else f"{folds}-fold CV"
        protocol.append(f"{len(seen)} bank images scored out-of-fold ({how}, probe refit per fold)")
    if unseen:
        protocol.append(f"{len(unseen)} held-out images scored by the full bank")
    return {
        "images": len(rows), "top1": float(np.mean(top1)), "top3": float(np.mean(top3)),
        "protocol": "; ".join(protocol), "labels_not_in_bank": unknown, "model": bank.MODEL_DESCRIPTION,
    }  # fmt: skip


def run(args: argparse.Namespace) -> int:
    scores = evaluate(args.dir, args.folds)
    if args.json:
        print(json.dumps(scores))
        return 0
    print(f"images: {scores['images']}  top-1: {scores['top1']:.3f}  top-3: {scores['top3']:.3f}")
    print(f"protocol: {scores['protocol']}")
    if scores["labels_not_in_bank"]:
        print(f"labels the bank does not know (always wrong): {', '.join(scores['labels_not_in_bank'])}")
    print(f"model: {scores['model']}")
    return 0

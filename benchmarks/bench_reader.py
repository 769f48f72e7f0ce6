"""Offline image reader: per-image latency once loaded (goal < 0.2 s on CPU), against a baseline in the same run.

Baseline = what was measured before this reader: one view, head features only, k-NN (k=5) over the bank.
Reader = 4 flip views, multi-stage features, logistic-regression probe trained on every view; and the whole
`read_image` call (decode + classify + template answer). With `--accuracy`, both are also scored on the bank's
labelled folder (10-fold stratified CV, fitted per fold; k-NN and probe see only the training folds).

    python benchmarks/bench_reader.py [--images 30] [--threads 1] [--accuracy]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _timed(fn, items) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds per item (CPU time is what a quiet machine's wall time would be, single thread)."""
    wall, cpu = [], []
    for item in items:
        start, start_cpu = time.perf_counter(), time.process_time()
        fn(item)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return wall, cpu


def _knn_scores(train: np.ndarray, labels: np.ndarray, classes: list[str], query: np.ndarray, k: int = 5):
    sims = query @ train.T
    scores = np.zeros((len(query), len(classes)))
    for row, idx in enumerate(np.argsort(-sims, axis=1)[:, :k]):
        for j in idx:
            scores[row, classes.index(labels[j])] += 1
    return scores


def _accuracy(rows, images) -> dict[str, tuple[float, float]]:
    from sklearn.model_selection import StratifiedKFold

    from tools.image_features import embed_rgb
    from tools.reader import bank

    labels = np.array([r.label for r in rows])
    classes = sorted(set(labels))
    base = embed_rgb(images)
    ours, ours_views = bank.embed_training(images)
    y = np.array([classes.index(label) for label in labels])
    scores = {"baseline": np.zeros((len(rows), len(classes))), "reader": np.zeros((len(rows), len(classes)))}
    for train, test in StratifiedKFold(10, shuffle=True, random_state=0).split(base, labels):
        scores["baseline"][test] = _knn_scores(base[train], labels[train], classes, base[test])
        probe = bank.SceneClassifier.fit(ours[train], labels[train], view_features=ours_views[train])
        p = probe.predict(ours[test])
        scores["reader"][np.ix_(test, [classes.index(c) for c in probe.classes])] = p
    out = {}
    for name, s in scores.items():
        order = np.argsort(-s, axis=1)
        out[name] = (float(np.mean(order[:, 0] == y)), float(np.mean((order[:, :3] == y[:, None]).any(axis=1))))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=30, help="images timed per method")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--accuracy", action="store_true", help="also score both methods (10-fold CV, slow)")
    args = parser.parse_args()
    os.environ.setdefault("SENTINELLE_VLM_BACKEND", "offline")
    import torch

    torch.set_num_threads(args.threads)
    from tools.image_features import embed_rgb, get_model
    from tools.reader import bank, read_image

    source = bank.default_source()
    rows = bank.read_labels(source)
    picked = rows[:: max(1, len(rows) // args.images)][: args.images]
    images = [bank.load_rgb(r.path) for r in picked]
    start = time.perf_counter()
    get_model()
    classifier = bank.get_classifier()
    print(f"load (model + bank): {time.perf_counter() - start:.2f} s; {len(classifier.labels)} exemplars, "
          f"torch threads {torch.get_num_threads()}, cpu count {os.cpu_count()}")  # fmt: skip
    base_train = embed_rgb([bank.load_rgb(r.path) for r in rows]) if args.accuracy else classifier.features
    base_labels = np.array([r.label for r in rows]) if args.accuracy else classifier.labels
    embed_rgb(images[:1])
    bank.embed(images[:1])  # warm-up

    def baseline(img):
        feat = embed_rgb([img])
        if base_train.shape[1] == feat.shape[1]:
            _knn_scores(base_train, base_labels, classifier.classes, feat)

    def reader(img):
        classifier.predict(bank.embed([img]))

    def whole(row):
        read_image("What kind of scene is this?", image=str(row.path))

    table = [("baseline: 1 view, head, k-NN k=5", _timed(baseline, images)),
             ("reader: 4 views, multi-stage, probe", _timed(reader, images)),
             ("read_image() end to end", _timed(whole, picked))]  # fmt: skip
    print(f"\n{'method':40} {'median ms':>10} {'p90 ms':>8} {'max ms':>8} {'cpu ms':>8}   (n={len(images)})")
    for name, (wall, cpu) in table:
        ms = sorted(t * 1000 for t in wall)
        p90 = ms[min(len(ms) - 1, int(0.9 * len(ms)))]
        print(f"{name:40} {statistics.median(ms):10.1f} {p90:8.1f} {ms[-1]:8.1f} {statistics.median(cpu) * 1000:8.1f}")
    if args.accuracy:
        print("\nscoring both on all bank images, 10-fold CV ...")
        all_images = [bank.load_rgb(r.path) for r in rows]
        for name, (top1, top3) in _accuracy(rows, all_images).items():
            print(f"{name:40} top-1 {top1:.3f}  top-3 {top3:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

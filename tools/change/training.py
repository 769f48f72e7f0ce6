"""Fitting the supervised change head on the labelled development pairs (see `tools.change.head` for the model).

Features are computed tile by tile exactly as the pipeline scores a scene (`tools.change.job`), so training and
inference see the same values. Weights go to `<data_dir>/models/`, never to git.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import joblib
import numpy as np

from tools.change.head import (
    HEAD_REGIMES,
    PER_PAIR_THRESHOLD,
    SAMPLES_NEG,
    SAMPLES_POS,
    THRESHOLD_FOLDS,
    ChangeHead,
    cached_head,
    head_path,
    usable_head,
)
from tools.change.job import prepare, read_padded, score_batch, tile_windows, valid_pixels
from tools.change.labels import Pair, ab_pairs, confusion, metrics, oscd_pairs, read_label
from tools.change.sources import AlignedReader
from tools.core.results import ProgressCallback, no_progress


def dev_pairs(regime: str) -> list[Pair]:
    """The labelled development pairs for a regime, from the data mirror / data dir."""
    from tools.data import geodata_path

    if regime == "s2":
        return oscd_pairs(geodata_path("oscd-s2"))
    if regime == "vhr":
        return ab_pairs(geodata_path("levir-dsifn-samples"))
    return []


def pair_features(pair: Pair) -> tuple[list[str], np.ndarray, np.ndarray, str]:
    """Features of every pixel of a pair on its before grid: (names, X (H, W, F) float32, valid (H, W), regime).

    Computed tile by tile exactly as the pipeline scores a scene, so training and inference see the same values.
    """
    job = prepare(pair.before, pair.after, method="zeroshot")
    grid, regime = job.grid, job.regime
    cores = tile_windows(grid, regime)
    names: list[str] = []
    arr = None
    valid = np.zeros((grid.height, grid.width), bool)
    o = regime.overlap
    with AlignedReader(job.before, grid) as r1, AlignedReader(job.after, grid) as r2:
        for i in range(0, len(cores), regime.batch):
            batch = cores[i : i + regime.batch]
            raw1 = np.stack([read_padded(r1, w, grid, regime) for w in batch])
            raw2 = np.stack([read_padded(r2, w, grid, regime) for w in batch])
            feats = score_batch(job, raw1, raw2, want_features=True)["features"]
            if arr is None:
                names = sorted(feats)
                arr = np.zeros((grid.height, grid.width, len(names)), np.float32)
            for k, w in enumerate(batch):
                h, wd, r, c = int(w.height), int(w.width), int(w.row_off), int(w.col_off)
                arr[r : r + h, c : c + wd] = np.stack([feats[n][k, o : o + h, o : o + wd] for n in names], -1)
                valid[r : r + h, c : c + wd] = valid_pixels(
                    raw1[k][:, o : o + h, o : o + wd], job.before.nodata
                ) & valid_pixels(raw2[k][:, o : o + h, o : o + wd], job.after.nodata)
    return names, arr, valid, regime.name


def _make_model(kind: str):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "hgb":
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(
            max_iter=150,
            learning_rate=0.08,
            max_leaf_nodes=31,
            min_samples_leaf=200,
            l2_regularization=1.0,
            random_state=0,
        )
    if kind == "logreg":
        return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=500))
    raise ValueError(f"unknown head kind '{kind}' (hgb, logreg)")


def _sample(x: np.ndarray, y: np.ndarray, valid: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Class-balanced pixel sample of one pair (every pair weighs about the same)."""
    x, y, valid = x.reshape(-1, x.shape[-1]), y.ravel(), valid.ravel()
    pos = np.flatnonzero(y & valid)
    neg = np.flatnonzero(~y & valid)
    pos = rng.choice(pos, min(len(pos), SAMPLES_POS), replace=False) if len(pos) else pos
    neg = rng.choice(neg, min(len(neg), SAMPLES_NEG), replace=False) if len(neg) else neg
    idx = np.concatenate([pos, neg])
    return x[idx], y[idx]


def _best_threshold(probs: list[np.ndarray], labels: list[np.ndarray], per_pair: bool = False) -> float:
    """Threshold maximising F1 over the given pairs' pixels: pooled, or averaged over pairs when `per_pair`
    (then one pair with most of its pixels changed, as DSIFN has, does not set the threshold for all)."""
    grid = np.linspace(0.05, 0.95, 91)
    best, best_f1 = 0.5, -1.0
    p, t = (None, None) if per_pair else (np.concatenate(probs), np.concatenate(labels))
    for th in grid:
        if per_pair:
            f1 = float(np.mean([metrics(confusion(pp > th, tt))["f1"] for pp, tt in zip(probs, labels, strict=True)]))
        else:
            f1 = metrics(confusion(p > th, t))["f1"]
        if f1 > best_f1:
            best, best_f1 = float(th), f1
    return best


def _fit_model(data, names: list[str], kind: str, regime: str, seed: int) -> ChangeHead:
    rng = np.random.default_rng(seed)
    xs, ys = zip(*[_sample(x, y, v, rng) for _, x, y, v in data], strict=True)
    model = _make_model(kind)
    model.fit(np.nan_to_num(np.concatenate(xs)), np.concatenate(ys))
    return ChangeHead(kind, regime, names, model, 0.5, trained_on=[p.name for p, *_ in data])


def fit_head(
    data: list[tuple[Pair, np.ndarray, np.ndarray, np.ndarray]], names: list[str], kind: str, regime: str, seed: int = 0
) -> ChangeHead:
    """Trains on sampled pixels of the given pairs (x (H, W, F), label (H, W), valid (H, W)).

    The threshold maximises F1 (pooled, or mean per pair: PER_PAIR_THRESHOLD) over out-of-fold predictions:
    the training groups are split in THRESHOLD_FOLDS folds, each predicted by a model fitted on the others
    (in-sample probabilities of a boosted model are overconfident: their threshold is too high for unseen pairs).
    """
    head = _fit_model(data, names, kind, regime, seed)
    groups = sorted({p.group for p, *_ in data})
    probs, labels = [], []
    if len(groups) >= 2:
        folds = [groups[i::THRESHOLD_FOLDS] for i in range(min(THRESHOLD_FOLDS, len(groups)))]
        for fold in folds:
            inner = _fit_model([d for d in data if d[0].group not in fold], names, kind, regime, seed)
            for _, x, y, v in (d for d in data if d[0].group in fold):
                probs.append(inner.predict_map(x)[v])
                labels.append(y[v])
    else:  # a single group: in-sample is all there is
        probs = [head.predict_map(x)[v] for _, x, _, v in data]
        labels = [y[v] for _, _, y, v in data]
    head.threshold = _best_threshold(probs, labels, PER_PAIR_THRESHOLD.get(regime, False))
    return head


def leave_one_out(data, names: list[str], kind: str, regime: str) -> dict:
    """Leave-one-group-out (city / source image): pooled, per-pair and mean per-pair F1 (and IoU/P/R) of pairs never
    trained on."""
    groups = sorted({p.group for p, *_ in data})
    total = np.zeros(4, int)
    per_pair = {}
    for g in groups:
        train = [d for d in data if d[0].group != g]
        test = [d for d in data if d[0].group == g]
        if not train:
            continue
        head = fit_head(train, names, kind, regime)
        for p, x, y, v in test:
            c = confusion(head.predict_map(x) > head.threshold, y, v)
            total += c
            per_pair[p.name] = metrics(c)
    mean_pair_f1 = float(np.mean([r["f1"] for r in per_pair.values()])) if per_pair else 0.0
    return {**metrics(total), "confusion": total.tolist(), "pairs": per_pair, "mean_pair_f1": mean_pair_f1}


def collect(regime: str, progress: Callable[[str], None] = lambda m: None):
    """Features and labels of all development pairs of a regime."""
    data, names = [], []
    for pair in dev_pairs(regime):
        t0 = time.perf_counter()
        names, x, v, _ = pair_features(pair)
        y = read_label(pair)
        data.append((pair, x, y, v))
        progress(f"features {pair.dataset}/{pair.name}: {x.shape[0] * x.shape[1]} px, {time.perf_counter() - t0:.1f}s")
    return data, names


def train_head(
    regime: str,
    kinds: tuple[str, ...] = ("hgb", "logreg"),
    progress: Callable[[str], None] = print,
    validate: bool = True,
) -> ChangeHead:
    """Validates each kind leave-one-out, keeps the best, retrains it on all pairs and caches it."""
    data, names = collect(regime, progress)
    if not data:
        raise ValueError(f"no labelled development pairs for regime '{regime}'")
    validation = {}
    if validate:
        for kind in kinds:
            validation[kind] = leave_one_out(data, names, kind, regime)
            progress(
                f"{regime} {kind}: leave-one-out F1 {validation[kind]['f1']:.3f} pooled, "
                f"{validation[kind]['mean_pair_f1']:.3f} mean per pair"
            )
        # Same objective as the threshold: on VHR a kind that fails whole pairs (logreg: F1 0.00 on one LEVIR
        # image) must not win on pooled pixels.
        key = "mean_pair_f1" if PER_PAIR_THRESHOLD.get(regime, False) else "f1"
        best = max(kinds, key=lambda k: validation[k][key])
    else:
        best = kinds[0]
    head = fit_head(data, names, best, regime)
    head.validation = validation
    path = head_path(regime)
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(head, path)
    path.with_suffix(".json").write_text(
        json.dumps(
            {
                "kind": best,
                "threshold": head.threshold,
                "features": names,
                "trained_on": head.trained_on,
                "validation": {
                    k: {
                        **{m: v[m] for m in ("f1", "iou", "precision", "recall", "mean_pair_f1")},
                        "pairs": {n: round(r["f1"], 4) for n, r in v["pairs"].items()},
                    }
                    for k, v in validation.items()
                },
            },
            indent=2,
        )
    )
    return head


def load_or_train_head(regime: str, bm=None, progress: ProgressCallback = no_progress) -> ChangeHead | None:
    """The cached head for a regime, fitted first (once, without validation) when none can be read; None when it
    cannot be had here (no development pairs) or is not usable for `bm`. A fit takes minutes: `progress` hears
    of each development pair read."""
    head = cached_head(regime)
    if head is None and regime in HEAD_REGIMES:
        n_pairs = max(len(dev_pairs(regime)), 1)
        read = [0]

        def pair_read(message: str) -> None:
            read[0] += 1
            progress(min(read[0] / n_pairs, 1.0) * 0.9, f"fitting the change head (first use): {message}")

        progress(0.0, f"fitting the change head (first use): reading {n_pairs} labelled pairs")
        try:
            head = train_head(regime, validate=False, progress=pair_read)
        except Exception:  # no development data here: zero-shot fallback
            return None
    return usable_head(head, regime, bm)

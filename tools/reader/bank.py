"""Scene-type classifier: a linear probe over EfficientNet-Lite0 features of labelled exemplar scenes.

The exemplar bank is built at set-up from a labelled folder (`labels.csv`: path,label; by default the AID sample
`geodata_path("aid-scenes")`) and cached as `<data_dir>/models/reader_bank.npz`, keyed by a hash of the file list and
of the feature recipe, so a changed folder or model rebuilds it. It is never committed.

Measured on the 300-image AID sample (30 classes), 10-fold stratified CV, bank refit per fold (see
`sentinelle eval scenes`): single-view head features + k-NN (k=5) 72% top-1; 4 flip views, multi-stage pooled
features, logistic-regression probe trained on every view, calibrated: 88% top-1 / 97% top-3; this recipe adds
power normalisation and trains on 5 crops as well (prediction still reads the 4 flips): 90% / 97.7%; v5 averages
the logistic probe with a shrinkage LDA in logit space (`tools.reader.discriminant`): 91.3% / 97.3% (10-fold, refit
per fold), and on the half of the images a half-bank was not fitted on, top-1 0.813 -> 0.820 and image->image
P@4 0.713 -> 0.750 (docs/search-and-reader-eval.md; fine-tuning the network's last block did not help there).
"""

from __future__ import annotations

import csv
import hashlib
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tools.core.errors import BadInputError
from tools.core.results import ProgressCallback, no_progress
from tools.core.settings import get_settings

RECIPE = "lite0-levels-pow-flip4-crop5train-logreg+lda-v5"
PROBE_C = 10.0
LDA_WEIGHT = 0.5  # share of the shrinkage-LDA logits in the probe (0 = logistic regression alone)
MODEL_DESCRIPTION = "EfficientNet-Lite0 (ImageNet) features + logistic-regression/LDA probe on AID exemplar scenes"

_lock = threading.Lock()


@dataclass(frozen=True)
class Exemplar:
    path: Path
    label: str


def read_labels(folder: Path) -> list[Exemplar]:
    """Rows of `folder/labels.csv` (columns path,label) whose image exists."""
    labels_csv = folder / "labels.csv"
    if not labels_csv.is_file():
        raise BadInputError(f"'{folder}' has no labels.csv (columns: path,label)")
    with labels_csv.open(newline="", encoding="utf-8") as handle:
        rows = [Exemplar(folder / r["path"], r["label"]) for r in csv.DictReader(handle) if r.get("path")]
    rows = [r for r in rows if r.path.is_file()]
    if not rows:
        raise BadInputError(f"labels.csv in '{folder}' lists no existing images")
    return rows


def file_hash(path: Path) -> str:
    """Content hash of an image: recognises bank images under other paths (honest evaluation)."""
    return hashlib.sha1(path.read_bytes()).hexdigest()


def load_rgb(path: Path) -> np.ndarray:
    from tools.reader.inputs import load

    return load(path).rgb


def embed(images: Sequence[np.ndarray]) -> np.ndarray:
    """The scene descriptor the probe predicts from (multi-stage features averaged over 4 flip views)."""
    from tools.image_features import embed_views

    return embed_views(images, tta=True, levels=True)


def embed_training(images: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(averaged descriptors (N, D), per-view descriptors (N, TRAIN_VIEWS, D)): the probe trains on every view,
    4 flips then 5 crops (view 0 is the whole image)."""
    from tools.image_features import embed_views

    return embed_views(images, tta=True, levels=True, per_view=True, crops=True)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@dataclass
class SceneClassifier:
    """Centred, L2-normalised features -> linear probe -> class probabilities."""

    classes: list[str]
    mean: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    features: np.ndarray
    labels: np.ndarray
    hashes: list[str]
    key: str
    temperature: float = 1.0
    view_features: np.ndarray | None = None
    ood_limit: float | None = None  # computed on first use from the bank itself (`ood_threshold`)

    @staticmethod
    def fit(features: np.ndarray, labels: Sequence[str], hashes: list[str] | None = None, key: str = "",
            view_features: np.ndarray | None = None) -> SceneClassifier:  # fmt: skip
        """Fit the probe; with per-view descriptors each view is a training sample (10-fold CV on AID: +1 point)."""
        from sklearn.linear_model import LogisticRegression

        labels = np.asarray(labels)
        classes = sorted(set(labels.tolist()))
        if len(classes) < 2:
            raise BadInputError("a scene bank needs at least two labelled classes")
        mean = features.mean(axis=0)
        train, train_labels = features, labels
        if view_features is not None:
            train = view_features.reshape(-1, view_features.shape[-1])
            train_labels = np.repeat(labels, view_features.shape[1])
        probe = LogisticRegression(C=PROBE_C, max_iter=3000).fit(_centre(train, mean), train_labels)
        coef, intercept = probe.coef_, probe.intercept_
        if len(classes) == 2:  # binary: one row scores classes_[1] against classes_[0]; softmax([0, z]) = sigmoid(z)
            coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.concatenate([[0.0], intercept])
        order = [list(probe.classes_).index(c) for c in classes]
        coef, intercept = _blend_discriminant(coef[order], intercept[order], _centre(train, mean), train_labels,
                                              classes, _centre(features, mean))  # fmt: skip
        return SceneClassifier(classes, mean.astype(np.float32), coef.astype(np.float32),
                               intercept.astype(np.float32), features.astype(np.float32),
                               labels, hashes or [], key, view_features=view_features)  # fmt: skip

    def predict(self, features: np.ndarray) -> np.ndarray:
        """(N, classes) probabilities, temperature-scaled so a score of 0.8 is right about 80% of the time."""
        return softmax((_centre(features, self.mean) @ self.coef.T + self.intercept) / self.temperature)

    def calibrate(self, folds: int = 10) -> float:
        """Fit the softmax temperature on out-of-fold predictions (min. negative log-likelihood over a grid).

        The L2-regularised probe is under-confident on its own (on AID: mean top score 0.57 at 88% accuracy).
        """
        oof = np.log(np.clip(cross_validate(self, folds), 1e-12, 1.0))
        truth = np.array([self.classes.index(label) for label in self.labels])

        def nll(t: float) -> float:
            return float(-np.log(softmax(oof / t)[np.arange(len(truth)), truth] + 1e-12).mean())

        self.temperature = min((0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.85, 1.0), key=nll)
        return self.temperature

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # one temp file per writer: parallel workers (Dask indexing) may build the same bank at once
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.{threading.get_ident()}.tmp.npz")
        views = self.view_features if self.view_features is not None else np.zeros(0, dtype=np.float32)
        np.savez_compressed(tmp, classes=np.array(self.classes), mean=self.mean, coef=self.coef,
                            intercept=self.intercept, features=self.features, labels=self.labels,
                            hashes=np.array(self.hashes), key=np.array(self.key),
                            temperature=np.array(self.temperature),
                            view_features=views)  # fmt: skip
        tmp.replace(path)

    @staticmethod
    def load(path: Path) -> SceneClassifier:
        with np.load(path, allow_pickle=False) as data:
            views = data["view_features"] if data["view_features"].ndim == 3 else None
            return SceneClassifier([str(c) for c in data["classes"]], data["mean"], data["coef"], data["intercept"],
                                   data["features"], data["labels"].astype(str), [str(h) for h in data["hashes"]],
                                   str(data["key"]), float(data["temperature"]), views)  # fmt: skip


OOD_PERCENTILE = 99.0  # an image farther from every exemplar than 99% of the exemplars are from each other


def nearest_distance(classifier: SceneClassifier, features: np.ndarray) -> np.ndarray:
    """Cosine distance (0..2) from each descriptor to its nearest bank exemplar, in the space the probe reads.

    A far nearest exemplar means the image resembles nothing the probe was fitted on, so its softmax score says
    nothing (a 1x1 picture or random noise still gets a 'confident' class).
    """
    bank = _centre(classifier.features.astype(np.float32), classifier.mean)
    sims = _centre(np.asarray(features, dtype=np.float32), classifier.mean) @ bank.T
    return 1.0 - sims.max(axis=1)


def loo_nearest_distances(classifier: SceneClassifier) -> np.ndarray:
    """Each exemplar's distance to its nearest *other* exemplar: how far a new image of a known kind may lie."""
    bank = _centre(classifier.features.astype(np.float32), classifier.mean)
    sims = bank @ bank.T
    np.fill_diagonal(sims, -np.inf)
    return 1.0 - sims.max(axis=1)


def ood_threshold(classifier: SceneClassifier) -> float:
    """The largest nearest-exemplar distance the reader still trusts: the bank's own 99th percentile (LOO)."""
    if classifier.ood_limit is None:
        classifier.ood_limit = float(np.percentile(loo_nearest_distances(classifier), OOD_PERCENTILE))
    return classifier.ood_limit


def _blend_discriminant(coef: np.ndarray, intercept: np.ndarray, train: np.ndarray, train_labels: np.ndarray,
                        classes: list[str], scale_on: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Average the logistic probe with a shrinkage LDA in logit space (`LDA_WEIGHT`), the LDA's logits first
    rescaled to the probe's spread on the exemplars, so the calibration grid and the search temperature still fit."""
    from tools.reader.discriminant import shrunk_lda

    if LDA_WEIGHT <= 0:
        return coef, intercept
    try:
        lda_coef, lda_intercept = shrunk_lda(train, train_labels, classes)
    except (ValueError, np.linalg.LinAlgError):
        return coef, intercept  # degenerate bank (e.g. one exemplar per class): the probe alone
    spread_probe = float((scale_on @ coef.T + intercept).std(axis=1).mean())
    spread_lda = float((scale_on @ lda_coef.T + lda_intercept).std(axis=1).mean())
    if not np.isfinite(spread_lda) or spread_lda <= 1e-12 or not np.all(np.isfinite(lda_coef)):
        return coef, intercept
    s = spread_probe / spread_lda
    return ((1 - LDA_WEIGHT) * coef + LDA_WEIGHT * s * lda_coef,
            (1 - LDA_WEIGHT) * intercept + LDA_WEIGHT * s * lda_intercept)  # fmt: skip


def _centre(features: np.ndarray, mean: np.ndarray) -> np.ndarray:
    x = features - mean
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def bank_key(rows: list[Exemplar]) -> str:
    from tools.image_features import model_fingerprint

    digest = hashlib.sha256()
    for row in rows:
        digest.update(f"{row.path.name}|{row.label}|{row.path.stat().st_size}\n".encode())
    digest.update(f"{RECIPE}|{model_fingerprint()}".encode())
    return digest.hexdigest()[:16]


def default_source() -> Path:
    from tools.data import geodata_path

    return geodata_path("aid-scenes")


def bank_path() -> Path:
    return get_settings().models_dir / "reader_bank.npz"


def build(source: Path | None = None, *, progress: ProgressCallback = no_progress,
          cache: Path | None = None) -> SceneClassifier:  # fmt: skip
    """Embed the labelled exemplars and fit the probe; reuse the cached bank when its key matches."""
    source = source or default_source()
    rows = read_labels(source)
    key = bank_key(rows)
    cache = cache or bank_path()
    if cache.is_file():
        try:
            cached = SceneClassifier.load(cache)
            if cached.key == key:
                return cached
        except (OSError, ValueError, KeyError):
            pass  # unreadable or old cache: rebuild it
    feats, view_feats = [], []
    step = 16
    for start in range(0, len(rows), step):
        chunk = rows[start : start + step]
        progress(start / len(rows), f"building the scene bank: {start}/{len(rows)} exemplars")
        averaged, per_view = embed_training([load_rgb(r.path) for r in chunk])
        feats.append(averaged)
        view_feats.append(per_view)
    features, view_features = np.concatenate(feats), np.concatenate(view_feats)
    classifier = SceneClassifier.fit(features, [r.label for r in rows], [file_hash(r.path) for r in rows], key,
                                     view_features=view_features)  # fmt: skip
    progress(0.95, "calibrating the scene scores")
    classifier.calibrate()
    classifier.save(cache)
    progress(1.0, f"scene bank ready: {len(rows)} exemplars, {len(classifier.classes)} classes")
    return classifier


_loaded: dict[tuple[str, str], SceneClassifier] = {}


def get_classifier(progress: ProgressCallback = no_progress) -> SceneClassifier:
    """The process-wide classifier, built (first run: about a minute) or read from its cache once; thread-safe."""
    key = (str(default_source()), str(bank_path()))
    with _lock:
        if key not in _loaded:
            _loaded[key] = build(Path(key[0]), cache=Path(key[1]), progress=progress)
        return _loaded[key]


def clear_cache() -> None:
    """Forget loaded classifiers (tests that swap the source or the data dir)."""
    with _lock:
        _loaded.clear()


def ranked(probs: np.ndarray, classes: list[str], top: int = 5,
           allowed: Sequence[str] | None = None) -> list[list[object]]:  # fmt: skip
    """[[label, score], ...] best first; with `allowed`, only those classes, renormalised."""
    idx = np.arange(len(classes))
    if allowed:
        idx = np.array([i for i, c in enumerate(classes) if c in set(allowed)])
    scores = probs[idx] / max(float(probs[idx].sum()), 1e-12)
    order = np.argsort(-scores)[:top]
    return [[classes[idx[i]], round(float(scores[i]), 4)] for i in order]


def cross_validate(classifier: SceneClassifier, folds: int = 10, seed: int = 0) -> np.ndarray:
    """Out-of-fold probabilities for the bank's own exemplars: each scored by a probe that never saw it."""
    from sklearn.model_selection import StratifiedKFold

    labels = classifier.labels
    n_min = min(np.unique(labels, return_counts=True)[1])
    folds = max(2, min(folds, int(n_min))) if folds < len(labels) else folds
    probs = np.zeros((len(labels), len(classifier.classes)), dtype=np.float32)
    if folds >= len(labels):
        splits = [(np.delete(np.arange(len(labels)), i), np.array([i])) for i in range(len(labels))]
    else:
        splits = StratifiedKFold(folds, shuffle=True, random_state=seed).split(classifier.features, labels)
    for train, test in splits:
        views = classifier.view_features[train] if classifier.view_features is not None else None
        part = SceneClassifier.fit(classifier.features[train], labels[train], view_features=views)
        p = part.predict(classifier.features[test])
        cols = [classifier.classes.index(c) for c in part.classes]
        probs[np.ix_(test, cols)] = p
    return probs

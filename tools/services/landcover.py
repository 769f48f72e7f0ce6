"""Land cover from a few labels: the spectral-index baseline against Galileo embeddings, on held-out ground.

Data: the eo-learn Slovenia patch (`eo-learn-s2`): 5 Sentinel-2 L1C scenes (101 x 100 px, 13 bands, TOA
reflectance) and a per-pixel land-cover map (eo-learn's LULC ids). The scenes' dates are not given; each one is
found by matching its NDVI to the patch's 68-date NDVI series (an exact match, error 0). Clouded scenes are left
out by their mean blue reflectance.

Protocol (written before any score was looked at):
- split in blocks, not random pixels: fold A trains on the west half (columns < 50) and tests on the east half,
  fold B the reverse; the BUFFER columns each side of the cut are in neither set, so no test pixel shares a
  Galileo patch (or its neighbours) with a training pixel;
- classes: those with at least MIN_PIXELS labelled pixels in both halves (cultivated land, 11 pixels all in the
  east, is left out);
- n labels per class drawn at random from the training half (all of a class when it has fewer), SEEDS draws;
  the same draws for both feature sets;
- one classifier for both (standardised features, multinomial logistic regression), so only the features differ:
  (a) spectral indices of every clear date (NDVI, NDWI, MNDWI, NDBI, NBR), (b) Galileo nano embeddings (the mean
  of the visible groups' tokens of every date, patch PATCH px, interpolated back to pixels);
- scores on every labelled test pixel of the kept classes: overall accuracy and macro-F1; for the forest measure,
  forest-vs-rest F1 of the app's own forest rule (`themes`), of (a) and of (b).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tools.core.errors import DataUnavailableError

# eo-learn's LULC ids (its example data's class list)
CLASS_NAMES = {1: "cultivated land", 2: "forest", 3: "grassland", 4: "shrubland", 5: "water", 6: "wetland",
               8: "artificial surface", 9: "bare land"}
S2_BANDS = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]
CLOUDY_BLUE = 0.12  # a scene whose mean blue TOA reflectance is above this is mostly cloud (here: 0.30 and 0.15)
SPLIT_COLUMN = 50
BUFFER = 4  # columns left out on each side of the cut
MIN_PIXELS = 20
LABELS_PER_CLASS = (10, 50, 200)
SEEDS = 5
PATCH = 2  # Galileo patch size (pixels) and TILE (pixels per side of a tile encoded at once), chosen on the
TILE = 16  # training half only (north -> south of the west half, 50 labels/class): macro-F1 0.50 vs 0.43 (p4, t32)
BATCH = 16  # tiles per encoder call
FOREST_ID = 2


@dataclass
class LandCoverData:
    """Clear scenes (T, H, W, 13) TOA reflectance, their dates, and the label map (H, W)."""

    scenes: np.ndarray
    dates: list[str]
    labels: np.ndarray
    dropped: list[str] = field(default_factory=list)  # why scenes were left out


def load_eolearn() -> LandCoverData:
    """The eo-learn patch: its clear scenes, dated from the NDVI series, and its labels."""
    from tools.data import geodata_path

    try:
        scenes = np.load(geodata_path("eo-learn-s2/REFERENCE_SCENES.npy"))
        labels = np.load(geodata_path("eo-learn-s2/mask_timeless/LULC.npy"))[..., 0].astype(np.int64)
        ndvi = np.load(geodata_path("eo-learn-s2/data/NDVI.npy"))[..., 0]
        stamps = json.loads(geodata_path("eo-learn-s2/timestamps.json").read_text())
    except FileNotFoundError as exc:
        raise DataUnavailableError(f"the eo-learn land-cover patch is missing ({exc.filename})") from None
    keep, dates, dropped = [], [], []
    for i, scene in enumerate(scenes):
        blue = float(np.nanmean(scene[..., 1]))
        own = _nd(scene[..., 7], scene[..., 3])
        errors = [float(np.nanmean(np.abs(own - ndvi[t]))) for t in range(len(ndvi))]
        when = str(stamps[int(np.argmin(errors))])[:10]
        if blue > CLOUDY_BLUE:
            dropped.append(f"scene {i} ({when}): mean blue reflectance {blue:.2f}, clouded")
            continue
        keep.append(i)
        dates.append(when)
    order = np.argsort(dates)
    return LandCoverData(scenes[keep][order].astype(np.float32), [dates[k] for k in order], labels, dropped)


def _nd(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(a + b != 0, (a - b) / (a + b), 0.0).astype(np.float32)


def index_features(data: LandCoverData) -> np.ndarray:
    """(H, W, 5 x T): NDVI, NDWI, MNDWI, NDBI, NBR of every clear date."""
    b = {name: data.scenes[..., k] for k, name in enumerate(S2_BANDS)}
    per_date = [_nd(b["B08"], b["B04"]), _nd(b["B03"], b["B08"]), _nd(b["B03"], b["B11"]),
                _nd(b["B11"], b["B08"]), _nd(b["B08"], b["B12"])]
    return np.concatenate([np.moveaxis(f, 0, -1) for f in per_date], axis=-1)


def forest_rule(data: LandCoverData) -> np.ndarray:
    """The app's forest class (`themes.THEMES['vegetation']`) on the latest clear date, as (H, W) bool."""
    from tools.services.themes import THEMES

    last = data.scenes[-1]
    scene = {"red": last[..., 3], "nir": last[..., 7], "swir16": last[..., 11]}
    return np.asarray(THEMES["vegetation"].classify(scene), bool)


def galileo_features(data: LandCoverData, patch: int = PATCH, tile: int = TILE) -> np.ndarray:
    """(H, W, 128) Galileo nano embeddings: every clear date in one pass, tiles with half-tile overlap, patch
    tokens averaged over the visible groups and the dates, interpolated to pixels, overlaps averaged."""
    import torch
    import torch.nn.functional as F

    from tools.change.bands import band_map_from_names, month_index, to_galileo
    from tools.change.galileo import load_encoder
    from tools.change.weights import encoder_files

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    weights, config = encoder_files("nano")
    encoder = load_encoder(weights, config, "nano")
    bm = band_map_from_names(list(S2_BANDS), sensor="sentinel-2")
    bm.scaling, bm.dn_factor = "s2dn", 10000.0
    x = np.stack([to_galileo(np.moveaxis(s, -1, 0), bm) for s in data.scenes], axis=2)  # (H, W, T, 13)
    h, w, t, _ = x.shape
    step = tile // 2
    ph, pw = max(tile, -(-h // step) * step), max(tile, -(-w // step) * step)
    padded = np.pad(x, ((0, ph - h), (0, pw - w), (0, 0), (0, 0)), mode="reflect")
    group_mask = torch.from_numpy(bm.group_mask)
    visible = [i for i, m in enumerate(bm.group_mask) if m == 0]
    months = torch.tensor([[month_index(d) for d in data.dates]], dtype=torch.long)
    total = np.zeros((ph, pw, encoder.cfg.embedding_size), np.float32)
    count = np.zeros((ph, pw, 1), np.float32)
    corners = [(r, c) for r in range(0, ph - tile + 1, step) for c in range(0, pw - tile + 1, step)]
    for k in range(0, len(corners), BATCH):
        batch = corners[k : k + BATCH]
        b = len(batch)
        s_t_x = torch.from_numpy(np.stack([padded[r : r + tile, c : c + tile] for r, c in batch]))
        with torch.no_grad():
            out = encoder(s_t_x, s_t_x.new_zeros(b, tile, tile, 16), s_t_x.new_zeros(b, t, 6), s_t_x.new_zeros(b, 18),
                          group_mask.expand(b, tile, tile, t, 7), s_t_x.new_ones(b, tile, tile, 3),
                          s_t_x.new_ones(b, t, 3), s_t_x.new_ones(b, 4), months.expand(b, t), patch_size=patch)[0]
        emb = out[:, :, :, :, visible, :].mean(dim=(3, 4))  # (b, tile/p, tile/p, D)
        up = F.interpolate(emb.permute(0, 3, 1, 2), size=(tile, tile), mode="bilinear", align_corners=False)
        for (r, c), one in zip(batch, up.permute(0, 2, 3, 1).numpy(), strict=True):
            total[r : r + tile, c : c + tile] += one
            count[r : r + tile, c : c + tile] += 1
    return (total / np.maximum(count, 1))[:h, :w]


@dataclass(frozen=True)
class Fold:
    """One block split: which pixels train and which test."""

    name: str
    train: np.ndarray  # bool (H, W)
    test: np.ndarray


def block_folds(shape: tuple[int, int], column: int = SPLIT_COLUMN, buffer: int = BUFFER) -> list[Fold]:
    """West -> east and east -> west, the `buffer` columns on each side of the cut in neither set."""
    cols = np.arange(shape[1])[None, :].repeat(shape[0], axis=0)
    west, east = cols < column - buffer, cols >= column + buffer
    return [Fold("train west, test east", west, east), Fold("train east, test west", east, west)]


def kept_classes(labels: np.ndarray, folds: list[Fold], minimum: int = MIN_PIXELS) -> list[int]:
    """Classes with at least `minimum` labelled pixels on both sides of every fold."""
    ids = [int(c) for c in np.unique(labels) if c in CLASS_NAMES]
    return [c for c in ids if all(((labels == c) & f.train).sum() >= minimum and ((labels == c) & f.test).sum()
                                  >= minimum for f in folds)]


def sample_labels(labels: np.ndarray, where: np.ndarray, classes: list[int], n: int,
                  rng: np.random.Generator) -> np.ndarray:
    """Flat pixel indices: `n` labelled pixels per class (all of a class that has fewer) inside `where`."""
    flat, inside = labels.ravel(), where.ravel()
    picks = []
    for c in classes:
        pool = np.flatnonzero((flat == c) & inside)
        picks.append(rng.choice(pool, size=min(n, pool.size), replace=False))
    return np.concatenate(picks)


def _fit_predict(features: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
    model.fit(features[train], y[train])
    return model.predict(features[test])


def _scores(truth: np.ndarray, pred: np.ndarray) -> tuple[float, float, float]:
    """(overall accuracy, macro-F1, forest-vs-rest F1)."""
    from sklearn.metrics import f1_score

    forest = f1_score(truth == FOREST_ID, pred == FOREST_ID, zero_division=0)
    return float((truth == pred).mean()), float(f1_score(truth, pred, average="macro", zero_division=0)), float(forest)


def evaluate(labels_per_class: tuple[int, ...] = LABELS_PER_CLASS, seeds: int = SEEDS,
             progress: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    """Index baseline vs Galileo embeddings on both block folds, for each number of labels per class."""
    from sklearn.metrics import f1_score

    data = load_eolearn()
    progress(f"{len(data.dates)} clear dates: {', '.join(data.dates)}")
    feats = {"indices": index_features(data)}
    progress("encoding with Galileo nano")
    feats["galileo"] = galileo_features(data)
    h, w = data.labels.shape
    folds = block_folds((h, w))
    classes = kept_classes(data.labels, folds)
    y = data.labels.ravel()
    flat = {k: v.reshape(h * w, -1) for k, v in feats.items()}
    rule = forest_rule(data).ravel()
    rows: list[dict[str, Any]] = []
    for fold in folds:
        test = np.flatnonzero(fold.test.ravel() & np.isin(y, classes))
        rule_f1 = float(f1_score(y[test] == FOREST_ID, rule[test], zero_division=0))
        for n in labels_per_class:
            scores: dict[str, list[tuple[float, float, float]]] = {k: [] for k in flat}
            for seed in range(seeds):
                train = sample_labels(data.labels, fold.train, classes, n, np.random.default_rng(seed))
                for name, x in flat.items():
                    scores[name].append(_scores(y[test], _fit_predict(x, y, train, test)))
            row: dict[str, Any] = {"fold": fold.name, "labels_per_class": n, "test_pixels": int(test.size),
                                   "forest_rule_f1": round(rule_f1, 3)}
            for name, values in scores.items():
                arr = np.array(values)
                row[f"{name}_oa"], row[f"{name}_macro_f1"], row[f"{name}_forest_f1"] = (
                    round(float(v), 3) for v in arr.mean(axis=0))
                row[f"{name}_macro_f1_sd"] = round(float(arr[:, 1].std()), 3)
            rows.append(row)
            progress(f"{fold.name}, {n} labels/class: indices F1 {row['indices_macro_f1']:.3f}, "
                     f"Galileo F1 {row['galileo_macro_f1']:.3f}")
    return {
        "data": "eo-learn-s2 (Slovenia, Sentinel-2 L1C, 101 x 100 px at 10 m)",
        "dates": data.dates, "dropped": data.dropped,
        "classes": {str(c): CLASS_NAMES[c] for c in classes},
        "class_pixels": {CLASS_NAMES[c]: int((data.labels == c).sum()) for c in classes},
        "split": f"blocks: columns < {SPLIT_COLUMN - BUFFER} vs >= {SPLIT_COLUMN + BUFFER} (both ways), "
                 f"{2 * BUFFER} columns of buffer",
        "classifier": "standardised features + multinomial logistic regression (same for both)",
        "features": {"indices": "NDVI, NDWI, MNDWI, NDBI, NBR of each clear date",
                     "galileo": f"Galileo nano, patch {PATCH} px, tiles {TILE} px, mean of groups and dates"},
        "seeds": seeds, "rows": rows,
    }

"""Labelled change pairs and their scores: OSCD cities (1 = no change, 2 = change), LEVIR/DSIFN-style folders
(`A/`, `B/`, `label/` with 0/255), and folders with sampled reference pixels (two rasters beside `change.bmp` and
`unchanged.bmp`, as the Taizhou/Nanjing Landsat pairs ship: only the marked pixels are scored); confusion counts and
F1/IoU/precision/recall. Read by the head's training and by the evaluation, below both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tools.core.errors import BadInputError
from tools.rasters.open import open_raster, read_errors


@dataclass(frozen=True)
class Pair:
    """One labelled bi-temporal pair; `group` is what leave-one-out validation holds out together."""

    dataset: str
    name: str
    before: Path
    after: Path
    label: Path
    group: str
    unchanged: Path | None = None  # sampled references: the unchanged-pixel mask (else every pixel is labelled)


def oscd_pairs(root: Path) -> list[Pair]:
    """OSCD layout: images/<city>/imgs_1|imgs_2 and labels/<city>/cm/<city>-cm.tif."""
    root = Path(root)
    pairs = []
    for city_dir in sorted((root / "images").iterdir()) if (root / "images").is_dir() else []:
        city = city_dir.name
        label = root / "labels" / city / "cm" / f"{city}-cm.tif"
        if (city_dir / "imgs_1").is_dir() and (city_dir / "imgs_2").is_dir() and label.exists():
            pairs.append(Pair("OSCD", city, city_dir / "imgs_1", city_dir / "imgs_2", label, city))
    return pairs


def ab_pairs(root: Path) -> list[Pair]:
    """LEVIR/DSIFN layout: <root>/[<dataset>/]A|B|label/<name>.png; several dataset folders allowed."""
    root = Path(root)
    roots = [root] if (root / "A").is_dir() else [d for d in sorted(root.iterdir()) if (d / "A").is_dir()]
    pairs = []
    for d in roots:
        for a in sorted((d / "A").iterdir()):
            b, lab = d / "B" / a.name, d / "label" / a.name
            if b.exists() and lab.exists():
                group = "_".join(a.stem.split("_")[:2]) if d.name.upper().startswith("LEVIR") else a.stem
                pairs.append(Pair(d.name, a.stem, a, b, lab, group))
    return pairs


SAMPLED_MASKS = ("change.bmp", "unchanged.bmp")
_SIDECARS = {".hdr", ".jpg", ".jpeg", ".png", ".bmp", ".md", ".txt", ".xml", ".aux"}


def sampled_pairs(root: Path) -> list[Pair]:
    """Folders (root or its subfolders) holding two rasters and `change.bmp` / `unchanged.bmp` masks (0/255).

    The rasters are taken in name order as before and after (Landsat scene ids and year-named files sort by date).
    """
    root = Path(root)
    dirs = [root] if (root / SAMPLED_MASKS[0]).exists() else sorted(d for d in root.iterdir() if d.is_dir())
    pairs = []
    for d in dirs:
        if not all((d / m).exists() for m in SAMPLED_MASKS):
            continue
        rasters = sorted(f for f in d.iterdir() if f.is_file() and f.suffix.lower() not in _SIDECARS)
        if len(rasters) != 2:
            raise BadInputError(f"{d} should hold exactly two rasters beside its masks, found {len(rasters)}")
        name = d.name
        pairs.append(Pair(root.name, name, rasters[0], rasters[1], d / SAMPLED_MASKS[0], name, d / SAMPLED_MASKS[1]))
    return pairs


def read_band(path: Path) -> np.ndarray:
    """Band 1 of a label or mask file."""
    """Band 1 of a label or mask (OSCD GeoTIFF, LEVIR PNG, Taizhou/Nanjing `change.bmp`)."""
    with open_raster(path) as src, read_errors(path.name):
        return src.read(1)


def read_label(pair: Pair) -> np.ndarray:
    """Boolean change label on the before grid."""
    lab = read_band(pair.label)
    return lab == 2 if pair.dataset == "OSCD" else lab > 127


def labelled_pixels(pair: Pair, label: np.ndarray) -> np.ndarray | None:
    """Where the reference says something: None when every pixel is labelled, else changed (`label`, from
    `read_label`) | unchanged samples."""
    if pair.unchanged is None:
        return None
    return label | (read_band(pair.unchanged) > 127)


def confusion(pred: np.ndarray, label: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """[tp, fp, fn, tn] over valid pixels."""
    if pred.shape != label.shape:
        raise BadInputError(f"prediction {pred.shape} and label {label.shape} differ in size")
    v = np.ones_like(label, bool) if valid is None else valid
    p, t = pred & v, label & v
    tp = int((p & t).sum())
    fp = int((p & ~t).sum())
    fn = int((~p & t & v).sum())
    return np.array([tp, fp, fn, int(v.sum()) - tp - fp - fn])


def metrics(c: np.ndarray) -> dict[str, float]:
    tp, fp, fn, _ = (float(x) for x in c)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    iou = tp / (tp + fp + fn) if tp + fp + fn else 0.0
    return {"f1": f1, "iou": iou, "precision": precision, "recall": recall}

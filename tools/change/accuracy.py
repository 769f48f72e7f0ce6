"""Scoring change maps against labelled pairs: OSCD cities (1 = no change, 2 = change), LEVIR/DSIFN-style
folders (`A/`, `B/`, `label/` with 0/255), and folders with sampled reference pixels (two rasters beside
`change.bmp` and `unchanged.bmp`, as the Taizhou/Nanjing Landsat pairs ship: only the marked pixels are scored).
Metrics are pooled over all labelled pixels of a dataset (and listed per pair).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tools.change.labels import (  # noqa: F401 - re-exported: the evaluation's vocabulary
    SAMPLED_MASKS,
    Pair,
    ab_pairs,
    confusion,
    labelled_pixels,
    metrics,
    oscd_pairs,
    read_band,
    read_label,
    sampled_pairs,
)
from tools.change.pipeline import run_change


def evaluate(pairs: list[Pair], methods: list[str], progress: Callable[[str], None] = print,
             head_for: Callable[[Pair], object] | None = None) -> dict:
    """Runs the pipeline on every pair and method; returns pooled and per-pair metrics per dataset/method."""
    results: dict = {}
    for method in methods:
        for pair in pairs:
            head = head_for(pair) if (head_for and method == "head") else None
            if method == "head" and head is None:
                progress(f"{pair.dataset} {pair.name} {method}: no trained head for this imagery, not scored")
                continue
            with tempfile.TemporaryDirectory() as tmp:
                summary = run_change(pair.before, pair.after, Path(tmp), method=method, head=head)
                mask = read_band(Path(tmp) / "mask.tif")
            label = read_label(pair)
            labelled = labelled_pixels(pair, label)
            valid = mask != 255 if labelled is None else (mask != 255) & labelled
            c = confusion(mask == 1, label, valid)
            entry = results.setdefault(pair.dataset, {}).setdefault(method, {"confusion": np.zeros(4, int),
                                                                             "pairs": {}})
            entry["confusion"] += c
            entry["pairs"][pair.name] = {**metrics(c), "seconds": summary["seconds"]}
            progress(f"{pair.dataset} {pair.name} {method}: F1 {metrics(c)['f1']:.3f}")
    for ds in results.values():
        for entry in ds.values():
            entry.update(metrics(entry["confusion"]))
            entry["confusion"] = entry["confusion"].tolist()
    return results

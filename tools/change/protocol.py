"""The accuracy protocol for change heads on unseen places (docs/change-accuracy.md): leave-one-group-out where
each fold's model, scaling and threshold come from a function that is handed the training groups only.

Decisions are made on the decision split (the 7 first OSCD cities); the reported figure is leave-one-city-out over
every labelled city, with the pooled F1, per-city F1, the F1 without Abu Dhabi and over the cities no decision saw.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

import numpy as np

from tools.change.labels import confusion, metrics

DECISION_CITIES = ("abudhabi", "bercy", "bordeaux", "nantes", "paris", "rennes", "saclay_e")
ADDED_CITIES = ("beihai", "beirut", "cupertino", "pisa")  # added 2026-12-04: never used for a decision


class Item(Protocol):
    """One labelled pair as the protocol sees it: its group, label and valid mask."""

    @property
    def group(self) -> str: ...
    @property
    def label(self) -> np.ndarray: ...
    @property
    def valid(self) -> np.ndarray: ...


T = TypeVar("T", bound=Item)
Predictor = Callable[[T], np.ndarray]  # item -> boolean change mask on its grid


def folds(items: Sequence[T], groups: Sequence[str] | None = None) -> list[tuple[str, list[T], list[T]]]:
    """(held-out group, training items, held-out items) per group; `groups` restricts the split to those groups
    (items of other groups are neither trained on nor scored)."""
    keep = [it for it in items if groups is None or it.group in groups]
    names = sorted({it.group for it in keep})
    return [(g, [it for it in keep if it.group != g], [it for it in keep if it.group == g]) for g in names]


def leave_one_group_out(
    items: Sequence[T], fit: Callable[[list[T]], Predictor], groups: Sequence[str] | None = None
) -> dict:
    """Fits `fit(training items)` once per held-out group and scores its masks on the held-out items only.

    Returns pooled metrics, per-group metrics and confusions ([tp, fp, fn, tn])."""
    per_group: dict[str, np.ndarray] = {}
    for g, train, test in folds(items, groups):
        if any(it.group == g for it in train):
            raise AssertionError(f"held-out group {g} leaked into its training set")
        predict = fit(train)
        per_group[g] = sum((confusion(predict(it), it.label, it.valid) for it in test), np.zeros(4, int))
    return summarize(per_group)


def summarize(per_group: dict[str, np.ndarray], exclude: str = "abudhabi") -> dict:
    """Pooled F1 (and IoU/P/R), per-group F1, pooled F1 without `exclude`, and over the added cities when present."""
    total = sum(per_group.values(), np.zeros(4, int))
    without = sum((c for g, c in per_group.items() if g != exclude), np.zeros(4, int))
    added = [c for g, c in per_group.items() if g in ADDED_CITIES]
    out = {
        **metrics(total),
        "f1_without_" + exclude: metrics(without)["f1"],
        "groups": {g: {**metrics(c), "confusion": c.tolist()} for g, c in sorted(per_group.items())},
    }
    if added:
        out["f1_added"] = metrics(sum(added, np.zeros(4, int)))["f1"]
    return out

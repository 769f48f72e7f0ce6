"""A small scene bank of real AID images for reader tests (the full 300-image bank takes minutes on 2 cores)."""

from __future__ import annotations

import csv
from pathlib import Path


def aid_rows(classes: list[str]) -> list[dict]:
    """labels.csv rows of the AID sample for these classes, with the absolute path under 'abs'."""
    from tools.data import geodata_path

    root = geodata_path("aid-scenes")
    with (root / "labels.csv").open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["label"] in classes]
    for r in rows:
        r["abs"] = str(root / r["path"])
    return rows


def write_bank_source(folder: Path, classes: list[str], per_class: int) -> tuple[Path, list[dict]]:
    """A labelled folder of the first `per_class` AID images of each class; returns it and the held-out rows."""
    bank_rows, held_out = [], []
    for label in classes:
        rows = [r for r in aid_rows(classes) if r["label"] == label]
        bank_rows += rows[:per_class]
        held_out += rows[per_class:]
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "labels.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label"])
        writer.writerows([r["abs"], r["label"]] for r in bank_rows)
    return folder, held_out

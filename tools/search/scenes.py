"""Ranked chips -> ranked scenes: a search answers in scenes (one per image), each with its best chip and how many
of its chips matched, so a scene with many similar tiles is listed once instead of filling the answer."""

from __future__ import annotations

from typing import Any

MAX_SCENE_CHIPS = 20
"""Chip ids kept per scene in the facts (the count says how many matched)."""


def group_by_scene(rows: list[dict[str, Any]], items: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Chip result rows (best first) grouped by scene, in the order of each scene's best chip.

    A row's scene is its `scene_id` (a stored image without a catalog scene is its own scene). The scene's footprint
    is the catalog item's bbox when the catalog has it, else the best chip's; the thumbnail, the catalog's.
    """
    items = items or {}
    scenes: dict[str, dict[str, Any]] = {}
    for row in rows:
        key = str(row.get("scene_id") or row.get("chip_id") or "")
        if not key:
            continue
        scene = scenes.get(key)
        if scene is None:
            item = items.get(key)
            bbox = list(item.bbox) if item is not None and getattr(item, "bbox", None) else row.get("bbox")
            scene = {
                "rank": len(scenes) + 1,
                "scene_id": key,
                "best_chip": row.get("chip_id"),
                "score": row.get("score"),
                "chips": 0,
                "chip_ids": [],
                "date": row.get("date"),
                "place": row.get("place"),
                "platform": row.get("platform"),
                "class": row.get("class"),
                "class_name": row.get("class_name"),
                "bbox": [float(v) for v in bbox] if bbox else None,
                "thumbnail": row.get("thumbnail"),
            }
            scenes[key] = scene
        scene["chips"] += 1
        if row.get("chip_id") and len(scene["chip_ids"]) < MAX_SCENE_CHIPS:
            scene["chip_ids"].append(row["chip_id"])
    return list(scenes.values())

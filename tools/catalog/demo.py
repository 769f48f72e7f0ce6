"""The demo catalog: every georeferenced scene of the sample data (mirror or data dir), ingested once."""

from __future__ import annotations

import re
from pathlib import Path

from tools.catalog.store import IngestReport, open_catalog
from tools.core.results import ProgressCallback, no_progress
from tools.ingest_read import Refusal, SceneSource, discover

# Files of the sample data that are labels, masks or previews of a scene already ingested, not scenes themselves.
_NOT_SCENES = re.compile(r"(/labels?/|/pair/|/derived/abudhabi_|-cm\.tif$|/cm\.png$|change\.bmp$|unchanged\.bmp$)",
                         re.IGNORECASE)


_NOT_IMAGERY_SUFFIXES = {".json", ".geojson", ".7z", ".md", ".txt", ".csv"}


def demo_sources() -> tuple[list[SceneSource], list[Refusal], list[Refusal]]:
    """Scenes of every sample-data folder (mirror or data dir): (georeferenced scenes, skipped, refused)."""
    from tools.core.errors import DataUnavailableError
    from tools.data import geodata_path, load_registry
    from tools.ingest_read import is_georeferenced

    scenes: list[SceneSource] = []
    skipped: list[Refusal] = []
    refused: list[Refusal] = []
    registry = [e for e in load_registry() if e.kind == "geodata"]
    groups = {e.group for e in registry if Path(e.relpath).suffix.lower() not in _NOT_IMAGERY_SUFFIXES}
    for group in sorted(groups):  # sets of vectors and documents only (the Natural Earth base map) hold no scenes
        try:
            folder = geodata_path(group)
        except DataUnavailableError as exc:
            refused.append(Refusal(group, str(exc)))
            continue
        found, bad = discover([folder])
        refused.extend(bad)
        for source in found:
            label = Path(source.label).as_posix()
            if _NOT_SCENES.search(label):
                skipped.append(Refusal(source.label, "label, mask or preview of another scene"))
            elif not is_georeferenced(source):
                skipped.append(Refusal(source.label, "not georeferenced"))
            else:
                scenes.append(source)
    return scenes, skipped, refused


def build_demo_catalog(progress: ProgressCallback = no_progress, root: Path | None = None) -> IngestReport:
    """Ingest every georeferenced scene of the sample data into the catalog (idempotent)."""
    scenes, skipped, refused = demo_sources()
    report = open_catalog(root).ingest([], sources=scenes, progress=progress, georeferenced_only=True)
    report.skipped = skipped + report.skipped
    report.refused = refused + report.refused
    return report

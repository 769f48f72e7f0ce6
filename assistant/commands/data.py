"""`sentinelle data fetch|list|registry`: the curated demo data and model weights (see tools/data.py)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("data", help="sample data and model weights")
    inner = parser.add_subparsers(dest="data_command", required=True)

    fetch = inner.add_parser("fetch", help="put the demo data and weights into the data dir (mirror or download)")
    fetch.add_argument("--only", nargs="+", metavar="NAME", help="only these sets (see `sentinelle data list`)")
    fetch.add_argument("--quiet", action="store_true", help="no progress bar")
    fetch.set_defaults(func=_fetch)

    listing = inner.add_parser("list", help="list the data sets of the registry")
    listing.set_defaults(func=_list)

    reg = inner.add_parser("registry", help="(maintainers) rebuild tools/data_registry.json from local mirrors")
    reg.add_argument("--geodata", type=Path, required=True, help="mirror of the sample data (../shared/geodata)")
    reg.add_argument("--models", type=Path, required=True, help="mirror of the model weights (../shared/models)")
    reg.set_defaults(func=_registry)


def _fetch(args: argparse.Namespace) -> int:
    from assistant.commands.progress import terminal_progress
    from assistant.config import get_settings
    from tools.data import fetch

    with terminal_progress(not args.quiet, "data fetch") as progress:
        report = fetch(args.only, progress=progress)
    settings = get_settings()
    print(
        f"{report.total} files ready under {settings.data_dir} "
        f"({len(report.present)} already there, {len(report.copied)} from the mirror, "
        f"{len(report.downloaded)} downloaded)"
    )
    if report.skipped:
        print(f"{len(report.skipped)} mirror-only files skipped (no public source; set SENTINELLE_DATA_MIRROR)")
    return 0


def _list(args: argparse.Namespace) -> int:
    from tools.data import load_registry

    groups: dict[str, list] = {}
    for entry in load_registry():
        groups.setdefault(entry.group, []).append(entry)
    for name, entries in sorted(groups.items()):
        size = sum(e.size for e in entries) / 1e6
        mirror_only = sum(e.mirror_only for e in entries)
        print(f"{name:32s} {entries[0].kind:8s} {len(entries):4d} files {size:7.1f} MB  mirror-only: {mirror_only}")
    return 0


def _registry(args: argparse.Namespace) -> int:
    from tools.data import REGISTRY_PATH, write_registry

    count = write_registry(args.geodata, args.models)
    print(f"{count} files registered in {REGISTRY_PATH}")
    return 0

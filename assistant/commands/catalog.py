"""`sentinelle ingest`, `sentinelle demo-catalog`, `sentinelle catalog list|search|show`: the STAC scene catalog."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    ingest = sub.add_parser("ingest", help="add rasters/images (files or folders) to the scene catalog")
    ingest.add_argument("paths", nargs="+", type=Path, help="GeoTIFF/COG, ENVI, JPEG/PNG, or a per-band product folder")
    ingest.add_argument("--place", help="place name for these scenes (overrides what the files say)")
    ingest.add_argument("--datetime", help="acquisition date (YYYY, YYYY-MM-DD or ISO datetime)")
    ingest.add_argument("--json", action="store_true", help="print the items as JSON")
    ingest.set_defaults(func=_ingest)

    demo = sub.add_parser("demo-catalog", help="ingest every georeferenced scene of the sample data (idempotent)")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(func=_demo)

    cat = sub.add_parser("catalog", help="list or search the scene catalog")
    inner = cat.add_subparsers(dest="catalog_command", required=True)
    listing = inner.add_parser("list", help="every scene")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=_list)
    search = inner.add_parser("search", help="scenes matching filters")
    search.add_argument("--bbox", nargs=4, type=float, metavar=("W", "S", "E", "N"), help="EPSG:4326 bounds")
    search.add_argument("--place", help="place or country name (case/accent-insensitive)")
    search.add_argument("--start", help="from this date (YYYY or YYYY-MM-DD)")
    search.add_argument("--end", help="until this date (YYYY or YYYY-MM-DD)")
    search.add_argument("--platform", help="platform or constellation (sentinel-2, landsat, landsat-8, naip ...)")
    search.add_argument("--max-cloud-cover", type=float, help="percent")
    search.add_argument("--json", action="store_true")
    search.set_defaults(func=_search)
    show = inner.add_parser("show", help="one scene's STAC Item as JSON")
    show.add_argument("item_id")
    show.set_defaults(func=_show)


def _summary(item) -> str:
    from tools.catalog import item_interval

    props = item.properties
    interval = item_interval(item)
    if interval is None:
        when = "date unknown"
    elif interval[0] == interval[1]:
        when = interval[0].date().isoformat()
    else:
        when = f"{interval[0].date().isoformat()}..{interval[1].date().isoformat()}"
    place = props.get("sentinelle:place") or "-"
    if props.get("sentinelle:country") and props["sentinelle:country"] not in place:
        place = f"{place}, {props['sentinelle:country']}"
    where = "" if props.get("sentinelle:georeferenced") else "  (no location)"
    cloud = f"  cloud {props['eo:cloud_cover']}%" if props.get("eo:cloud_cover") is not None else ""
    return f"{item.id:60s} {when:22s} {props.get('platform', '-'):12s} {place}{cloud}{where}"


def _print_items(items, as_json: bool) -> None:
    if as_json:
        print(json.dumps([it.to_dict(include_self_link=False, transform_hrefs=False) for it in items], indent=1))
    else:
        for item in items:
            print(_summary(item))
        print(f"{len(items)} scenes")


def _ingest(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from tools.catalog import open_catalog

    with tqdm(total=100, desc="ingest", disable=args.json or not sys.stderr.isatty(),
              bar_format="{l_bar}{bar}| {elapsed}") as bar:
        def progress(fraction: float, message: str) -> None:
            bar.set_postfix_str(message[-50:], refresh=False)
            bar.n = round(fraction * 100)
            bar.refresh()

        report = open_catalog().ingest(args.paths, place=args.place, datetime=args.datetime, progress=progress)
    if args.json:
        _print_items(report.items, True)
    else:
        for item in report.items:
            print(("new     " if item.id in report.new else "updated ") + _summary(item))
    for bad in report.refused:
        print(f"refused {bad.path}: {bad.reason}", file=sys.stderr)
    print(f"{len(report.new)} new, {len(report.updated)} updated, {len(report.refused)} refused", file=sys.stderr)
    return 1 if report.refused and not report.items else 0


def _demo(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from assistant.config import get_settings
    from tools.catalog import build_demo_catalog

    started = time.perf_counter()
    with tqdm(total=100, desc="demo catalog", disable=args.quiet, bar_format="{l_bar}{bar}| {elapsed}") as bar:
        def progress(fraction: float, message: str) -> None:
            bar.set_postfix_str(message[-50:], refresh=False)
            bar.n = round(fraction * 100)
            bar.refresh()

        report = build_demo_catalog(progress=progress)
    took = time.perf_counter() - started
    print(f"{len(report.items)} scenes in {get_settings().catalog_root} ({len(report.new)} new, "
          f"{len(report.updated)} updated) in {took:.1f} s")
    for place, count in sorted(Counter(it.properties.get("sentinelle:place", "-") for it in report.items).items()):
        print(f"  {count:3d}  {place}")
    reasons = Counter(s.reason for s in report.skipped)
    for reason, count in sorted(reasons.items()):
        print(f"skipped {count} files: {reason}")
    for bad in report.refused:
        print(f"refused {bad.path}: {bad.reason}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from tools.catalog import open_catalog

    _print_items(open_catalog().items(), args.json)
    return 0


def _search(args: argparse.Namespace) -> int:
    from tools.catalog import open_catalog

    items = open_catalog().search(bbox=args.bbox, place=args.place, start=args.start, end=args.end,
                                  platform=args.platform, max_cloud_cover=args.max_cloud_cover)
    _print_items(items, args.json)
    return 0


def _show(args: argparse.Namespace) -> int:
    from tools.catalog import open_catalog

    item = open_catalog().get(args.item_id)
    print(json.dumps(item.to_dict(include_self_link=False, transform_hrefs=False), indent=1))
    return 0

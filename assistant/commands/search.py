"""`sentinelle search` (text or image queries over the chip index) and `sentinelle index` (fill the index)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tools.search.names import DEFAULT_ENCODER, RAW_ENCODER  # no heavy imports: the CLI starts fast


def register(sub: argparse._SubParsersAction) -> None:
    search = sub.add_parser("search", help="find scenes by text, example image, place and date")
    search.add_argument("query", nargs="?", help="what to look for, e.g. 'airports' or 'forêt près de Paris'")
    search.add_argument("--image", help="example image: a file, an indexed chip id, or a catalog scene id[@r_c_h_w]")
    search.add_argument("--place", help="place name (gazetteer or catalog place)")
    search.add_argument("--start", help="first date, YYYY-MM-DD")
    search.add_argument("--end", help="last date, YYYY-MM-DD")
    search.add_argument("--platform", help="sentinel-2, landsat, naip ...")
    search.add_argument("--max-cloud", type=float, help="largest cloud cover, percent")
    search.add_argument("--k", type=int, default=10, help="number of results")
    search.add_argument("--index", type=Path, help="chroma folder (default: the configured index)")
    search.add_argument("--encoder", default=DEFAULT_ENCODER, help="image encoder of the index")
    search.add_argument("--json", action="store_true", help="print the full result as JSON")
    search.set_defaults(func=run_search)

    index = sub.add_parser("index", help="cut catalog scenes (or a labelled folder) into chips and index them")
    index.add_argument("--catalog", type=Path, help="STAC catalog folder (default: the configured catalog)")
    index.add_argument("--chip", default="256", help="chip size: pixels (256) or metres (2560m)")
    index.add_argument("--stride", help="step between chips, pixels or metres (default: the chip size)")
    index.add_argument("--labelled", type=Path, help="also index a labelled image folder (labels.csv)")
    index.add_argument("--index", type=Path, help="chroma folder (default: the configured index)")
    index.add_argument(
        "--encoder",
        default=DEFAULT_ENCODER,
        help=f"image encoder: {DEFAULT_ENCODER} (default), {RAW_ENCODER}, galileo-nano, clip[:id]",
    )
    index.add_argument("--json", action="store_true", help="print the counts as JSON")
    index.set_defaults(func=run_index)


def run_search(args: argparse.Namespace) -> int:
    from assistant.errors import BadInputError
    from tools.search.query import find_scenes

    if not args.query and not args.image and not args.place and not args.start and not args.platform:
        raise BadInputError("give a query, --image, or catalog filters (--place, --start/--end, --platform)")
    result = find_scenes(
        query=args.query,
        place=args.place,
        start_date=args.start,
        end_date=args.end,
        max_cloud_cover=args.max_cloud,
        image=args.image,
        platform=args.platform,
        k=args.k,
        index_dir=args.index,
        encoder=args.encoder,
    )
    if args.json:
        print(json.dumps(result.model_dump(), indent=2, ensure_ascii=False, default=str))
        return 0
    facts = result.facts
    print(f"{facts['count']} result(s), mode={facts['mode']}, model={result.model}")
    for row in facts["results"]:
        score = f"{row['score']:.3f}" if row.get("score") is not None else "  -  "
        what = row.get("class_name") or ""
        print(
            f"{row['rank']:>3}  {score}  {row.get('date') or '':10}  {row.get('platform') or '':12}  "
            f"{what:24}  {row.get('chip_id') or row['scene_id']}"
        )
    return 0


def run_index(args: argparse.Namespace) -> int:
    from assistant.commands.progress import terminal_progress
    from tools.search.index import ChipIndex, open_index
    from tools.search.indexer import index_catalog, index_labelled

    index = ChipIndex(root=args.index, encoder=args.encoder) if args.index else open_index(encoder=args.encoder)
    report = {}
    if args.labelled:
        with terminal_progress(not args.json, "indexing labelled images") as progress:
            report["labelled"] = index_labelled(index, args.labelled, progress=progress)
    if args.catalog or not args.labelled:
        with terminal_progress(not args.json, "indexing the catalog") as progress:
            report["catalog"] = index_catalog(index, args.catalog, args.chip, args.stride, progress=progress)
    report["index_size"] = index.count()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for part, stats in report.items():
            print(f"{part}: {stats}")
    return 0

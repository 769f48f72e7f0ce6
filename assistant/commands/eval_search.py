"""`sentinelle eval search DIR`: precision@5/@10 of text (EN/FR class names, EN/FR paraphrases) and image queries."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tools.search.names import DEFAULT_ENCODER, RAW_ENCODER  # no heavy imports: the CLI starts fast


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("search", help="precision@k of scene search on a labelled folder (labels.csv)")
    parser.add_argument("folder", type=Path, help="labelled images: <folder>/labels.csv with columns path,label")
    parser.add_argument(
        "--encoder",
        default=None,
        help=f"image encoder (default: {DEFAULT_ENCODER}; {RAW_ENCODER} = raw ImageNet)",
    )
    parser.add_argument("--json", action="store_true", help="print everything, per class too, as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from assistant.commands.progress import terminal_progress
    from tools.search.evaluation import evaluate_folder

    with terminal_progress(not args.json, "evaluating") as progress:
        report = evaluate_folder(args.folder, encoder=args.encoder or DEFAULT_ENCODER, progress=progress)
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return 0
    print(
        f"{report['images']} images, {report['classes']} classes, encoder {report['encoder']}; "
        f"scene classes in the descriptions (held out) accuracy {report['knn_accuracy_loo']:.3f}"
    )
    print(f"protocol: {report['protocol']}")
    print(f"{'queries':34} {'P@5':>6} {'P@10':>6}")
    names = {
        "text_en": "text, English class names",
        "text_fr": "text, French class names",
        "text_fr_untranslated": "text, French, no FR->EN vocabulary",
        "para_en_dev": "paraphrases, English, dev half",
        "para_fr_dev": "paraphrases, French, dev half",
        "para_en_heldout": "paraphrases, English, held-out half",
        "para_fr_heldout": "paraphrases, French, held-out half",
        "image": "image, held-out vectors (LOO)",
        "image_base_only": "image, base features only",
    }
    for key, name in names.items():
        if key not in report:
            continue
        print(f"{name:34} {report[key]['p@5']:6.3f} {report[key]['p@10']:6.3f}")
    print(
        f"index {report['index']['chips_added']} chips in {report['index']['seconds']} s; "
        f"text query {report['text_query_ms']} ms, image query {report['image_query_ms']} ms"
    )
    return 0

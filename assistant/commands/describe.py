"""`sentinelle describe IMAGE`: ask the image reader about one image, or a batch of them (models loaded once)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from assistant.errors import BadInputError, SentinelleError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("describe", help="answer a question about an image (scene type, cover, clouds)")
    parser.add_argument("image", nargs="?", help="image file (JPEG, PNG, GeoTIFF)")
    parser.add_argument("--question", "-q", default="", help="the question (default: describe the scene)")
    parser.add_argument("--scene", help="catalog scene id instead of a file")
    parser.add_argument("--bbox", help="window of the scene: west,south,east,north (degrees)")
    parser.add_argument("--language", choices=["en", "fr"], default="en", help="answer language")
    parser.add_argument("--batch", type=Path, help='JSONL file, one {"id", "image", "question"?} per line')
    parser.add_argument("--json", action="store_true", help="print JSON: answer, facts, model")
    parser.set_defaults(func=run)


def _payload(result: Any) -> dict[str, Any]:
    facts = {k: v for k, v in result.facts.items() if k != "answer"}
    return {"answer": result.facts.get("answer"), "facts": facts, "model": result.model,
            "layers": [layer.model_dump(exclude_none=True) for layer in result.layers]}  # fmt: skip


def _progress(fraction: float, message: str) -> None:
    """Long steps (building the scene bank on first use) are reported on stderr; stdout stays JSON."""
    if "bank" in message or "calibrat" in message:
        print(f"[{fraction:4.0%}] {message}", file=sys.stderr, flush=True)


def _bbox(text: str | None) -> list[float] | None:
    if not text:
        return None
    try:
        return [float(v) for v in text.split(",")]
    except ValueError as exc:
        raise BadInputError("--bbox must be west,south,east,north in degrees") from exc


def run(args: argparse.Namespace) -> int:
    from tools.reader import read_image

    if args.batch:
        return run_batch(args)
    if not args.image and not args.scene:
        raise BadInputError("give an image file or --scene ID (or --batch FILE.jsonl)")
    streamed = []

    def on_token(text: str) -> None:
        if not args.json:
            streamed.append(text)
            print(text, end="", flush=True)

    result = read_image(args.question, image=args.image, scene_id=args.scene, bbox=_bbox(args.bbox),
                        language=args.language, on_token=on_token, progress=_progress)  # fmt: skip
    if args.json:
        print(json.dumps(_payload(result), ensure_ascii=False, default=str))
        return 0
    if streamed:
        print()
    else:
        print(result.facts.get("answer", ""))
    classes = ", ".join(f"{label} {score:.2f}" for label, score in result.facts.get("scene_classes", [])[:3])
    if classes:
        print(f"scene classes: {classes}")
    print(f"model: {result.model}")
    return 0


def run_batch(args: argparse.Namespace) -> int:
    """One JSON object per input line; a bad line or image gives an `error` object, the batch goes on."""
    from tools.reader import read_image

    base = args.batch.parent
    try:
        lines = args.batch.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise BadInputError(f"cannot read batch file '{args.batch}'") from exc
    failures = 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            print(json.dumps({"id": None, "line": number, "error": "not a JSON object"}), flush=True)
            failures += 1
            continue
        image = row.get("image")
        if image and not Path(image).is_absolute() and not Path(image).exists():
            image = str(base / image)
        try:
            result = read_image(row.get("question") or args.question, image=image, scene_id=row.get("scene_id"),
                                bbox=row.get("bbox"), language=row.get("language") or args.language,
                                progress=_progress)  # fmt: skip
            out = {"id": row.get("id"), **_payload(result)}
        except SentinelleError as exc:
            out = {"id": row.get("id"), "error": str(exc)}
            failures += 1
        print(json.dumps(out, ensure_ascii=False, default=str), flush=True)
    if failures:
        print(f"{failures} line(s) failed", file=sys.stderr)
    return 0

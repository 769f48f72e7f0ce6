"""`sentinelle ask`: one question (or a JSONL batch) through the agent, headless.

`--json` prints `{"tool_calls": [{"name", "args"}], "answer", "language", "layers"}` per question (with `id` in
batch mode); without it the answer streams as text with tool steps and progress on stderr. Models load once.
A batch line's `image` may be a path or `aid:<Class>` (an AID image of that class under `--images-root`).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from assistant.errors import BadInputError, SentinelleError
from assistant.events import LayerAdded, TextDelta, ToolFinished, ToolProgress, ToolStarted
from assistant.session import Session
from assistant.turns import TurnFold

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("ask", help="ask the assistant a question (headless)")
    parser.add_argument("question", nargs="?", help="the question (omit with --batch)")
    parser.add_argument("--image", help="attach an image file")
    parser.add_argument("--batch", type=Path, help='JSONL file of {"id", "question", "image"?} lines')
    parser.add_argument("--json", action="store_true", help="print JSON objects instead of streaming text")
    parser.add_argument("--images-root", type=Path, help="folder of AID class folders for 'aid:<Class>' images")
    parser.add_argument("--plan-only", action="store_true", help="route without running tools (router mode)")
    parser.set_defaults(func=run)


def resolve_image(value: str | None, images_root: Path | None = None) -> str | None:
    """A path, or 'aid:<Class>' -> the first image of that class (images root, else the AID sample data)."""
    if not value:
        return None
    if not value.startswith("aid:"):
        path = Path(value)
        if not path.exists():
            raise BadInputError(f"image not found: {value}")
        return str(path)
    cls = value.split(":", 1)[1]
    roots = []
    if images_root:
        roots += [images_root / cls, images_root / "aid-scenes" / cls]
    else:
        from tools.data import geodata_path

        roots.append(geodata_path(f"aid-scenes/{cls}"))
    for folder in roots:
        if folder.is_dir():
            suffixes = (".jpg", ".jpeg", ".png", ".tif", ".tiff")
            files = sorted(p for p in folder.iterdir() if p.suffix.lower() in suffixes)
            if files:
                return str(files[0])
    raise BadInputError(f"no image of class '{cls}' under {roots[0].parent}")


def answer_record(assistant: Any, question: str, image: str | None, plan_only: bool = False,
                  echo: bool = False) -> dict[str, Any]:
    """Run one question; the JSON record of its tool calls, answer, language and layers."""
    session = Session()
    if plan_only:
        plan = assistant.plan(question, image, session)
        calls = [] if plan.tool == "none" else [{"name": plan.tool, "args": plan.args, "executed": False}]
        return {"tool_calls": calls, "answer": "", "language": plan.language, "layers": [],
                **({"clarify": plan.clarify} if plan.clarify else {})}
    folded = TurnFold()
    for event in assistant.stream(question, image=image, session=session):
        folded.feed(event)
        if echo:
            _echo(event)
    if echo:
        print()
    calls: list[dict[str, Any]] = [{"name": step.name, "args": step.args} for step in folded.steps]
    if not calls and folded.clarify is not None:
        calls.append({"name": folded.clarify.tool, "args": folded.clarify.args, "executed": False})
    record = {"tool_calls": calls, "answer": folded.text, "language": folded.language or "en",
              "layers": [layer.model_dump(exclude_none=True) for layer in folded.layers]}
    if folded.failures:
        record["errors"] = folded.failures
    return record


def _echo(event: Any) -> None:
    """Tool steps, progress and layers on stderr, the answer's text on stdout, as they stream."""
    if isinstance(event, ToolStarted):
        print(f"[tool] {event.name} {json.dumps(event.args, ensure_ascii=False)}", file=sys.stderr)
    elif isinstance(event, ToolProgress):
        print(f"[progress] {event.name} {event.fraction:.0%} {event.message}", file=sys.stderr)
    elif isinstance(event, ToolFinished):
        status = "ok" if event.ok else f"error: {event.error}"
        print(f"[done] {event.name} in {event.duration_s:.2f} s ({status})", file=sys.stderr)
    elif isinstance(event, LayerAdded):
        print(f"[map] {event.layer.kind} {event.layer.name}", file=sys.stderr)
    elif isinstance(event, TextDelta):
        print(event.text, end="", flush=True)


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    finally:
        _finish_refinements()


def _finish_refinements() -> None:
    """Change answers come from a fast preview refined in the background; a headless run waits for the
    full-resolution maps before it exits, so the files it leaves are the refined ones."""
    from tools.change.refine import running_refinements, wait_all_refinements

    if running_refinements():
        print("[refine] finishing the full-resolution change map(s)…", file=sys.stderr, flush=True)
        wait_all_refinements()


def _run(args: argparse.Namespace) -> int:
    from assistant.agent import Assistant

    assistant = Assistant()
    if args.batch:
        assistant.warm_up()
        with open(args.batch, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row: Any = json.loads(line)
                except ValueError:
                    row = None
                try:
                    if not isinstance(row, dict) or not isinstance(row.get("question"), str):
                        raise BadInputError(f"line {n} is not a JSON object with a \"question\" string")
                    image = resolve_image(row.get("image"), args.images_root)
                    record = answer_record(assistant, row["question"], image, args.plan_only)
                except SentinelleError as exc:
                    record = {"tool_calls": [], "answer": str(exc), "language": "en", "layers": [],
                              "errors": [str(exc)]}
                except Exception:  # noqa: BLE001 - one line's bug must not end the batch; the log has the details
                    log.exception("batch line %d failed", n)
                    message = f"line {n}: internal error (logged); the batch goes on"
                    record = {"tool_calls": [], "answer": message, "language": "en", "layers": [], "errors": [message]}
                record = {"id": row.get("id", n) if isinstance(row, dict) else n, **record}
                print(json.dumps(record, ensure_ascii=False, default=str), flush=True)
        return 0
    if not args.question:
        raise BadInputError("give a question, or --batch FILE.jsonl")
    image = resolve_image(args.image, args.images_root)
    record = answer_record(assistant, args.question, image, args.plan_only, echo=not args.json)
    if args.json:
        print(json.dumps(record, ensure_ascii=False, default=str))
    return 0

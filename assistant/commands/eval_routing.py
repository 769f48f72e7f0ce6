"""`sentinelle eval routing FILE.jsonl`: tool and argument accuracy of the planner on labelled questions.

File format (../shared/eval/questions_dev.jsonl): `{"id", "question", "image"?, "expect": {"tool", "place"?,
"years"?}}`. Tool accuracy counts every line; place/date accuracy counts lines that expect a place or years (the
right tool AND every expected argument). Places compare case-, accent- and hyphen-insensitively; years compare
with the start (and end) years of the date arguments. Routing only by default; `--execute` runs the tools too.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from tools.core.text import fold_text


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("routing", help="tool and argument accuracy of the agent's planner")
    parser.add_argument("file", type=Path, help="JSONL of labelled questions")
    parser.add_argument("--images-root", type=Path, help="folder of AID class folders for 'aid:<Class>' images")
    parser.add_argument("--execute", action="store_true", help="run the tools (full agent), not only the planner")
    parser.add_argument("--json", action="store_true", help="print the per-question records as JSON lines")
    parser.set_defaults(func=run)


def arg_years(args: dict[str, Any]) -> list[int]:
    years = []
    for key in ("start_date", "end_date"):
        value = args.get(key)
        if value and str(value)[:4].isdigit():
            year = int(str(value)[:4])
            if year not in years:
                years.append(year)
    return years


def score_call(expect: dict[str, Any], call: dict[str, Any] | None) -> dict[str, Any]:
    """Did the call match the expectation? {'tool', 'place', 'years', 'args'} booleans (None = not expected)."""
    name = call["name"] if call else "none"
    args = call.get("args", {}) if call else {}
    out: dict[str, Any] = {"tool": name == expect["tool"], "place": None, "years": None}
    if "place" in expect:
        out["place"] = fold_text(str(args.get("place") or "")) == fold_text(expect["place"])
    if "years" in expect:
        got = arg_years(args)
        want = list(expect["years"])
        # a single year may come as a full-year range or an open 'since' range
        out["years"] = got == want or (len(want) == 1 and got[:1] == want and len(got) <= 1)
    checks = [v for k, v in out.items() if k != "tool" and v is not None]
    out["args"] = (out["tool"] and all(checks)) if checks else None
    return out


def run(args: argparse.Namespace) -> int:
    from assistant.agent import Assistant
    from assistant.commands.ask import answer_record, resolve_image

    assistant = Assistant()
    assistant.warm_up()
    rows = [json.loads(line) for line in args.file.read_text(encoding="utf-8").splitlines() if line.strip()]
    n_tool = n_args = ok_tool = ok_args = 0
    misses = []
    for row in rows:
        image = resolve_image(row.get("image"), args.images_root)
        record = answer_record(assistant, row["question"], image, plan_only=not args.execute)
        call = record["tool_calls"][0] if record["tool_calls"] else None
        verdict = score_call(row["expect"], call)
        n_tool += 1
        ok_tool += verdict["tool"]
        if verdict["args"] is not None:
            n_args += 1
            ok_args += bool(verdict["args"])
        if not verdict["tool"] or verdict["args"] is False:
            misses.append((row, call))
        if args.json:
            print(json.dumps({"id": row.get("id"), "call": call, "verdict": verdict}, ensure_ascii=False, default=str))
    for row, call in misses:
        print(f"MISS {row.get('id')}: {row['question']!r} -> {call} (expected {row['expect']})")
    tool_acc = ok_tool / n_tool if n_tool else 0.0
    args_acc = ok_args / n_args if n_args else 0.0
    print(f"tool accuracy: {ok_tool}/{n_tool} = {tool_acc:.1%}")
    print(f"place/date accuracy: {ok_args}/{n_args} = {args_acc:.1%}")
    return 0

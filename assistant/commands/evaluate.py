"""`sentinelle eval <what>`: each evaluation lives in its own module `eval_<what>.py` with `register(subparsers)`."""

from __future__ import annotations

import argparse
import importlib

EVALUATIONS = ["routing", "scenes", "search", "change", "landcover"]


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("eval", help="score a component on labelled data")
    inner = parser.add_subparsers(dest="evaluation", required=True)
    for name in EVALUATIONS:
        importlib.import_module(f"assistant.commands.eval_{name}").register(inner)

"""`sentinelle` command line: one subcommand module per job under `assistant/commands/`.

Each command module defines `register(subparsers)`, which adds its parser and sets `func(args) -> int`.
Errors a user can cause (`SentinelleError`) print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from assistant.errors import SentinelleError

# Module names under assistant.commands; each registers one or more subcommands.
COMMAND_MODULES = ["data", "catalog", "serve", "ask", "describe", "change", "search", "evaluate"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sentinelle", description="Sentinelle geo-assistant")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"assistant.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SentinelleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

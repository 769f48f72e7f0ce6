"""`sentinelle serve`: the web app (chat + map + tiles) on one server."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("serve", help="start the web app (Gradio chat beside the map)")
    parser.add_argument("--host", default=None, help="address to listen on (default: settings.host)")
    parser.add_argument("--port", type=int, default=None, help="port (default: settings.port)")
    parser.add_argument("--share", action="store_true", default=None,
                        help="also ask Gradio for a public link (needs internet)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from assistant.ui.server import serve

    return serve(host=args.host, port=args.port, share=args.share)

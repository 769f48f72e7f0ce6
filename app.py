"""Builds the Sentinelle server (Gradio UI + map + tile routes on one FastAPI app).

`python app.py` is the same as `sentinelle serve`; `uvicorn app:app` also works (the app is built on import
of `app` only when asked for, see `__getattr__`).
"""

from __future__ import annotations

import sys

from assistant.ui.server import build_app, serve

__all__ = ["build_app", "serve"]


def __getattr__(name: str):
    if name == "app":
        return build_app()
    raise AttributeError(name)


if __name__ == "__main__":
    sys.exit(serve())

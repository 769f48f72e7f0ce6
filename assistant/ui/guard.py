"""What every response of the server obeys, whichever route answers: one ASGI middleware in front of the app.

- Content-Security-Policy on every response: the map page runs only this server's scripts; the Gradio page loads
  nothing from another origin (it needs its own inline scripts and styles); nothing may frame either but us.
- Gradio's file routes serve only what Gradio itself put in its upload/cache folders: never a path of the data
  dir or of the system named in the URL, never an outside URL fetched on the client's behalf.
- With `SENTINELLE_AUTH`, our own routes (static files, map, map data, uploads, tiles) need the login cookie.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from assistant.config import get_settings
from assistant.ui.map import STATIC_URL, map_csp

GRADIO_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; media-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
    "frame-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'self'"
)
"""The Gradio page: its own inline bootstrap scripts and styles, and `new Function` (gr.HTML evaluates its template
with it; without 'unsafe-eval' the map iframe is never drawn); everything else from this origin only."""

PROTECTED_PREFIXES = (STATIC_URL + "/", "/map/", "/api/", "/tiles/", "/basemap/")
"""Our routes: behind the login when auth is on (Gradio guards its own routes)."""
FILE_ROUTES = ("/gradio_api/file=", "/gradio_api/file/")
REFUSED_ROUTES = ("/gradio_api/proxy=",)


def gradio_served_folders() -> list[Path]:
    """Where Gradio keeps what it serves: the upload/cache folder (uploads, and every file a component returned,
    copied there by Gradio) and the cached examples."""
    from gradio import utils

    return [Path(utils.get_upload_folder()).resolve(), Path(os.path.abspath(utils.get_cache_folder())).resolve()]


def file_route_allowed(path: str) -> bool:
    """Whether a `/gradio_api/file=<path>` request names a file in Gradio's own folders (no URL, no other path)."""
    for prefix in FILE_ROUTES:
        if path.startswith(prefix):
            target = path[len(prefix):]  # already decoded once, as the route will see it
            break
    else:
        return True
    if "://" in target or target.startswith("//") or "\x00" in target:
        return False
    try:
        resolved = Path(os.path.abspath(target)).resolve()
    except (OSError, RuntimeError, ValueError):
        return False
    return any(resolved.is_relative_to(folder) for folder in gradio_served_folders())


def logged_in(app: Any, scope: Scope) -> bool:
    """True when the request carries a login cookie of the mounted Gradio app (or auth is off)."""
    if not get_settings().auth:
        return True
    gradio_app = next((getattr(r, "app", None) for r in app.routes
                       if hasattr(getattr(r, "app", None), "tokens")), None)
    if gradio_app is None:
        return False
    cookies = Request(scope).cookies
    token = cookies.get(f"access-token-{gradio_app.cookie_id}") or cookies.get(
        f"access-token-unsecure-{gradio_app.cookie_id}"
    )
    return gradio_app.tokens.get(token) is not None


class GuardMiddleware:
    """The checks above, before the request reaches any route, and the headers, on every response."""

    def __init__(self, app: ASGIApp, root: Callable[[], Any]) -> None:
        self.app = app
        self.root = root  # the FastAPI app, whose routes hold the mounted Gradio app (its login tokens)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if path.startswith(REFUSED_ROUTES) or not file_route_allowed(path):
            await _plain(send, 403, "File not allowed.")
            return
        if path.startswith(PROTECTED_PREFIXES) and not logged_in(self.root(), scope):
            await _plain(send, 401, "Not authenticated.")
            return
        policy = map_csp() if path.startswith("/map/") else GRADIO_CSP

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = policy
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "same-origin"
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _plain(send: Send, status: int, text: str) -> None:
    body = text.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})

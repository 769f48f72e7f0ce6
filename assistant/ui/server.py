"""The Sentinelle server: the Gradio page, the map page and its data, and the tile routes on one FastAPI app.

`app.py` at the repository root and `sentinelle serve` both call `serve()` here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
import time
from pathlib import Path

import gradio as gr
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from assistant import head_fitting
from assistant.config import get_settings
from assistant.errors import SentinelleError
from assistant.ui.basemap_routes import router as basemap_router
from assistant.ui.guard import GuardMiddleware
from assistant.ui.handlers import Handlers, default_assistant
from assistant.ui.layout import build_blocks, launch_settings
from assistant.ui.map import STATIC_DIR, STATIC_URL, live_map_page
from assistant.ui.store import STORE, SessionStore
from assistant.ui.upload import preview_file

log = logging.getLogger("sentinelle.app")
LONG_POLL_S = 25.0
GRADIO_THREADS = 64
POLL_STEP_S = 0.1


def _gradio_app(app: FastAPI):
    for route in app.routes:
        inner = getattr(route, "app", None)
        if inner is not None and hasattr(inner, "tokens") and hasattr(inner, "cookie_id"):
            return inner
    return None


def _require_login(request: Request) -> None:
    """With `settings.auth`, the map and its data need the same login cookie as the Gradio page."""
    if not get_settings().auth:
        return
    gradio_app = _gradio_app(request.app)
    if gradio_app is None:
        raise HTTPException(status_code=401, detail="Not authenticated")
    cookie = request.cookies.get(f"access-token-{gradio_app.cookie_id}") or request.cookies.get(
        f"access-token-unsecure-{gradio_app.cookie_id}"
    )
    if gradio_app.tokens.get(cookie) is None:
        raise HTTPException(status_code=401, detail="Not authenticated")


WARM = threading.Event()
"""Set once the agent's models are loaded (reported by /healthz as `warm`)."""


def _warm_up() -> None:
    """Load the agent's models while the page opens, so the first question doesn't wait for them."""
    started = time.perf_counter()
    try:
        assistant = default_assistant()
        if hasattr(assistant, "warm_up"):
            assistant.warm_up()
        log.info("agent warm in %.1f s", time.perf_counter() - started)
    except Exception as exc:  # noqa: BLE001 - the first question will report the real problem in the chat
        log.warning("warm-up failed: %s", exc)
    finally:
        WARM.set()
    try:
        from tools import basemap

        basemap.warm_up()  # the world view every first page opens on
    except Exception as exc:  # noqa: BLE001 - the base map then builds on demand
        log.warning("base map warm-up failed: %s", exc)


def _tiles_router():
    """The tile endpoints (`assistant.ui.tiles_routes`); the app still runs (no imagery) when they fail to import."""
    try:
        # rio_tiler imported lazily by many tile threads at once fails on its circular imports ("partially
        # initialized module"), so it is imported here, once, before any request.
        import rio_tiler.io  # noqa: F401

        from assistant.ui.tiles_routes import router
    except Exception as exc:  # noqa: BLE001 - show the chat even when the tile server is broken
        log.warning("tile routes unavailable: %s", exc)
        return None
    return router


def build_app(handlers: Handlers | None = None, store: SessionStore = STORE) -> FastAPI:
    """The whole server. Tests pass their own handlers (fake assistant) and store."""
    warm_on_start = handlers is None
    if handlers is None:
        handlers = Handlers(store=store)
    else:
        WARM.set()  # a given assistant (tests) is ready as it is
    store = handlers.store

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        # Warm up when the server starts serving, not when the app object is built: a thread loading torch
        # while the interpreter exits aborts the process (seen in tests that only build the app).
        thread = None
        if warm_on_start:
            thread = threading.Thread(target=_warm_up, name="warm-up", daemon=True)
            thread.start()
            head_fitting.start()  # the page opens now; detect_change uses zero-shot until the heads exist
        yield
        if thread is not None:
            head_fitting.stop()
            thread.join(timeout=30)

    app = FastAPI(title="Sentinelle", lifespan=lifespan)
    auth = [Depends(_require_login)]

    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="sentinelle-static")

    @app.get("/map/{sid}", response_class=HTMLResponse, dependencies=auth)
    async def map_page(sid: str) -> HTMLResponse:
        return HTMLResponse(live_map_page(sid), headers={"Cache-Control": "no-store"})

    @app.get("/api/map/{sid}", dependencies=auth)
    async def map_state(sid: str, rev: int = 0) -> JSONResponse:
        """Long poll: answers at once when the map is behind, else when the session changes (or after 25 s)."""
        waited = 0.0
        while store.revision(sid) == rev and waited < LONG_POLL_S:
            await asyncio.sleep(POLL_STEP_S)
            waited += POLL_STEP_S
        try:
            _, state = store.map_state(sid)
        except SentinelleError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from exc
        return JSONResponse(state, headers={"Cache-Control": "no-store"})

    @app.get("/api/uploads/{sid}/{name}", dependencies=auth)
    async def upload_preview(sid: str, name: str) -> FileResponse:
        try:
            return FileResponse(preview_file(sid, name), media_type="image/png")
        except SentinelleError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from exc

    @app.get("/healthz")
    def health() -> dict:
        return {"ok": True, "warm": WARM.is_set(), "sessions": len(store)}

    router = _tiles_router()
    if router is not None:
        app.include_router(router, dependencies=auth)
    app.include_router(basemap_router, dependencies=auth)

    blocks = build_blocks(handlers)
    blocks.queue(default_concurrency_limit=8)
    # Gradio runs handlers on AnyIO's default thread pool (40 threads) unless max_threads differs; tile requests
    # share that pool and, when many wait for a tile read, chat answers would stall. A pool of its own avoids that.
    blocks.max_threads = GRADIO_THREADS
    app = gr.mount_gradio_app(app, blocks, path="/", ssr_mode=False, footer_links=[], **launch_settings())
    # `mount_gradio_app` never sets `has_launched`, and Gradio skips its own path checks until it is set: files a
    # client names must then be uploads, and files a handler returns must be in `allowed_paths`, not blocked.
    blocks.has_launched = True
    app.add_middleware(GuardMiddleware, root=lambda: app)
    return app


def open_share_tunnel(port: int) -> str | None:
    """A public gradio.live link to the local server; None with a printed reason when it cannot be made."""
    if get_settings().offline:
        print("--share needs internet, and SENTINELLE_OFFLINE is set: serving locally only.", file=sys.stderr)
        return None
    try:
        import secrets

        from gradio import networking

        url = networking.setup_tunnel("127.0.0.1", port, secrets.token_urlsafe(32), None, None)
    except Exception as exc:  # noqa: BLE001 - no tunnel is not fatal: the local server still runs
        print(f"--share failed ({exc}); no public link (is this machine online?). Serving locally only.",
              file=sys.stderr)
        return None
    return url


def serve(host: str | None = None, port: int | None = None, share: bool | None = None) -> int:
    """Run the server until interrupted."""
    import uvicorn

    settings = get_settings()
    host = host or settings.host
    port = port or settings.port
    share = settings.share if share is None else share
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    app = build_app()
    print(f"Sentinelle on http://{host}:{port}  (auth: {'on' if settings.auth else 'off'})", flush=True)
    if share:
        def _tunnel() -> None:
            url = open_share_tunnel(port)
            if url:
                print(f"Public link: {url}", flush=True)

        threading.Timer(2.0, _tunnel).start()
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=2)
    return 0


if __name__ == "__main__":
    sys.exit(serve())

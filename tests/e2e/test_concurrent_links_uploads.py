"""Ten browser sessions at once, each restored from its own signed link and each uploading its own georeferenced
image, then asking about another town: every page keeps only its own history, upload and map layers."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from browser_helpers import shot
from rasterio.transform import from_bounds
from test_browser import PLACES, ask, map_layers, open_app, wait_answer
from test_security_browser import sign_as_the_server

from assistant.events import MapLayer
from assistant.session import ChatTurn, Session

pytestmark = pytest.mark.e2e


def _upload(path, k: int):
    """A small RGB GeoTIFF of its own colour and place (a degree apart per session)."""
    west, south = -4.0 + k, 47.0
    with rasterio.open(path, "w", driver="GTiff", width=64, height=64, count=3, dtype="uint8", crs="EPSG:4326",
                       transform=from_bounds(west, south, west + 0.2, south + 0.2, 64, 64)) as dst:
        dst.write(np.full((3, 64, 64), 20 * k + 30, np.uint8))
    return path


def _link_session(k: int) -> Session:
    return Session(
        turns=[ChatTurn(role="user", content=f"marker question {k:02d}"),
               ChatTurn(role="assistant", content=f"marker answer {k:02d}")],
        layers=[MapLayer(name=f"pin {k:02d}", kind="marker", point=[-4.0 + k, 46.5])],
    )


def test_ten_sessions_with_restored_links_and_uploads_stay_apart(browser, app_url, tmp_path, tmp_path_factory,
                                                                 monkeypatch):
    sign_as_the_server(browser, app_url, tmp_path_factory, monkeypatch)

    n = len(PLACES)
    contexts = [browser.new_context(viewport={"width": 1200, "height": 800}) for _ in range(n)]
    pages = [ctx.new_page() for ctx in contexts]
    try:
        frames = [open_app(pg, f"{app_url}/?s={_link_session(k).to_token()}") for k, pg in enumerate(pages)]
        for k, (pg, place) in enumerate(zip(pages, PLACES, strict=True)):
            ask(pg, f"Where is {place}?", attach=str(_upload(tmp_path / f"upload_{k:02d}.tif", k)))
        for k, (pg, frame) in enumerate(zip(pages, frames, strict=True)):
            wait_answer(pg, n_answers=2)
            chat = pg.locator("#sn-chat").inner_text()
            assert f"marker question {k:02d}" in chat and f"marker answer {k:02d}" in chat
            others = [j for j in range(n) if j != k]
            assert not any(f"marker question {j:02d}" in chat for j in others), chat[:500]
            frame.wait_for_function(f"(document.body.getAttribute('data-layers') || '').includes('upload_{k:02d}')",
                                    timeout=30_000)
            layers = map_layers(frame)
            assert f"pin {k:02d}" in layers, layers
            assert not any(f"pin {j:02d}" in layers or f"upload_{j:02d}" in name for j in others for name in layers)
        shot(pages[3], "links_uploads_session_3")
    finally:
        for ctx in contexts:
            ctx.close()

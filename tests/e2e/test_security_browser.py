"""Share links carrying script, opened in Chromium: no script runs, no request leaves the server, the page works.

Two links carry the same payload (markup in the chat, a tile layer's attribution, a legend label with quotes, a
popup, a layer name, a remote markdown image): one hand-made (unsigned, refused with one line), one signed with the
server's own key (accepted, so every rendering defence is exercised: chat sanitising, map.js text-only DOM, CSP).
"""

from __future__ import annotations

import base64
import os
import zlib
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from assistant.events import MapLayer
from assistant.session import ChatTurn, Session

pytestmark = pytest.mark.e2e

HOOK = "window.__pwned=1;try{window.parent.__pwned=1}catch(e){}"
EVIL_IMG = f"<img src=x onerror=\"{HOOK}\">"
EVIL = f"{EVIL_IMG}<script>{HOOK}</script>"
REMOTE = "![pixel](http://attacker.example/pixel.png)"
BOUNDS = [2.15, 48.70, 2.20, 48.73]


def _payload() -> Session:
    ring = [[2.16, 48.71], [2.19, 48.71], [2.19, 48.72], [2.16, 48.72], [2.16, 48.71]]
    polygon = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
               "properties": {"note": EVIL, "x' onmouseover='" + HOOK: "y"}}
    return Session(
        turns=[ChatTurn(role="user", content=f"hello {EVIL}"),
               ChatTurn(role="assistant", content=f"Answer {EVIL} {REMOTE} done.")],
        layers=[
            MapLayer(name="imagery", kind="tiles", url="/tiles/scenes/no-such-scene/{z}/{x}/{y}.png", bounds=BOUNDS,
                     style={"attribution": EVIL, "opacity": 0.5}),
            MapLayer(name=f"zone {EVIL}", kind="geojson", data=polygon, style={"color": "#e31a1c"},
                     legend={f"label' onmouseover='{HOOK}' x='": "#e31a1c", EVIL: "red"}, fly_to=True),
            MapLayer(name=f"place {EVIL}", kind="marker", point=[2.17, 48.715]),
        ],
    )


def _unsigned(session: Session) -> str:
    raw = zlib.compress(session.model_dump_json(exclude_none=True).encode(), 9)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _server_key(tmp_path_factory) -> str:
    """The key the server made in its data dir (it exists once the server has read a link)."""
    folder = os.environ.get("SENTINELLE_E2E_DATA_DIR")
    if folder:
        candidates = [Path(folder) / "secret_key"]
    else:
        candidates = list(tmp_path_factory.getbasetemp().glob("e2e*/data/secret_key"))
    assert candidates and candidates[0].is_file(), "the server's secret key was not found"
    return candidates[0].read_text().strip()


def _watch(page) -> dict:
    seen: dict = {"requests": [], "dialogs": []}
    page.on("request", lambda request: seen["requests"].append(request.url))

    def on_dialog(dialog) -> None:
        seen["dialogs"].append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return seen


def _open(page, url: str):
    page.goto(url)
    page.wait_for_selector("#sn-map iframe", timeout=60_000)
    page.frame_locator("#sn-map iframe").locator(".leaflet-container").wait_for(timeout=30_000)
    page.wait_for_selector("#sn-chat [data-testid=bot]", timeout=30_000)
    return page.frame(url=lambda u: "/map/" in u)


def _assert_nothing_ran(page, frame, seen: dict, app_url: str) -> None:
    page.wait_for_timeout(1500)  # let any injected handler fire (images error out at once)
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert frame.evaluate("typeof window.__pwned") == "undefined"
    assert seen["dialogs"] == []
    host = urlsplit(app_url).hostname
    outside = [u for u in seen["requests"] if urlsplit(u).scheme in ("http", "https", "ws", "wss")
               and urlsplit(u).hostname != host]
    assert outside == [], outside


def test_forged_link_with_script_is_refused_and_runs_nothing(browser, app_url):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    seen = _watch(page)
    frame = _open(page, f"{app_url}/?s={_unsigned(_payload())}")
    bot = page.locator("#sn-chat [data-testid=bot]").all_inner_texts()
    assert len(bot) == 1 and "not made by this server" in bot[0]
    assert frame.evaluate("document.body.getAttribute('data-layer-count') || '0'") == "0"
    _assert_nothing_ran(page, frame, seen, app_url)
    context.close()


def sign_as_the_server(browser, app_url, tmp_path_factory, monkeypatch) -> None:
    """Make `Session.to_token()` in this process sign with the test server's own key."""
    from assistant.config import get_settings

    warm = browser.new_context().new_page()  # the server makes its key when it first reads a link
    warm.goto(f"{app_url}/?s=a.b.c")
    warm.wait_for_selector("#sn-chat [data-testid=bot]", timeout=60_000)
    warm.context.close()
    monkeypatch.setenv("SENTINELLE_SECRET_KEY", _server_key(tmp_path_factory))
    get_settings.cache_clear()


def test_signed_link_with_script_renders_as_text(browser, app_url, tmp_path_factory, monkeypatch):
    sign_as_the_server(browser, app_url, tmp_path_factory, monkeypatch)
    token = _payload().to_token()

    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    seen = _watch(page)
    frame = _open(page, f"{app_url}/?s={token}")
    chat = page.locator("#sn-chat").inner_text()
    assert "Answer" in chat and "done." in chat and "not made by this server" not in chat
    assert page.locator("#sn-chat img[src='x'], #sn-chat script").count() == 0
    assert page.locator("#sn-chat img[src*='attacker']").count() == 0
    frame.wait_for_function("document.body.getAttribute('data-layer-count') === '3'", timeout=30_000)
    frame.evaluate("""() => { const m = window.sentinelleLeaflet;
        m.eachLayer(l => { if (l.getPopup && l.getPopup()) l.openPopup(); });
        document.querySelectorAll('.leaflet-interactive').forEach(
            el => el.dispatchEvent(new MouseEvent('mouseover', {bubbles: true}))); }""")
    legend = frame.locator(".sn-legend").inner_text()
    assert f"label' onmouseover='{HOOK}' x='" in legend  # the quote-laden label, shown as text
    assert frame.locator(".sn-legend img, .leaflet-control-attribution img, .leaflet-control-layers img, "
                         ".leaflet-popup img, .sn-popup img").count() == 0
    assert "<img" not in frame.locator(".leaflet-control-attribution").inner_html()
    _assert_nothing_ran(page, frame, seen, app_url)
    context.close()


def test_report_with_script_in_its_layers_runs_nothing(browser, tmp_path, monkeypatch):
    """The exported report draws layers that no link check has seen: map.js and the report's CSP hold alone."""
    from assistant.config import get_settings
    from assistant.ui.share import report_html

    monkeypatch.setenv("SENTINELLE_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    session = _payload()
    session.layers[1].legend = {"changed": f"red'><img src=x onerror=\"{HOOK}\">", EVIL: "#e31a1c"}
    session.layers[1].data["properties"]["style"] = {"color": "red", "className": EVIL, "pane": "popupPane"}
    report = tmp_path / "report.html"
    report.write_text(report_html(session, base_url="http://127.0.0.1:9"), encoding="utf-8")

    context = browser.new_context(offline=True, viewport={"width": 1400, "height": 900})
    page = context.new_page()
    seen = _watch(page)
    page.goto(report.as_uri())
    page.wait_for_selector("#map path.sn-layer", timeout=30_000)
    page.evaluate("""() => { const m = window.sentinelleLeaflet;
        m.eachLayer(l => { if (l.getPopup && l.getPopup()) l.openPopup(); });
        document.querySelectorAll('.leaflet-interactive').forEach(
            el => el.dispatchEvent(new MouseEvent('mouseover', {bubbles: true}))); }""")
    assert EVIL in page.locator(".sn-legend").inner_text()
    assert page.locator("#map img[src='x'], .conv img[src='x'], .sn-legend img").count() == 0
    page.wait_for_timeout(1000)
    assert page.evaluate("typeof window.__pwned") == "undefined" and seen["dialogs"] == []
    outside = [u for u in seen["requests"] if urlsplit(u).scheme in ("http", "https")
               and urlsplit(u).hostname != "127.0.0.1"]
    assert outside == [], outside
    context.close()

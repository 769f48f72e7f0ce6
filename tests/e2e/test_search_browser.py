"""A scene search in the browser: the answer lists each scene once in words, the top scenes' thumbnails show under it,
a click on one flies the map to that scene, and nothing is fetched from outside 127.0.0.1.

The app runs on its own small data dir (the four SpaceNet Rotterdam scenes, `helpers.search_data`), with the real
agent, so this test does not need the demo catalog.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from browser_helpers import shot
from helpers.search_data import build_rotterdam
from test_browser import ask, open_app, wait_answer

pytestmark = pytest.mark.e2e

QUESTION = "Trouve des images de zones industrielles près du port de Rotterdam"
THUMBS_JS = """() => Array.from(document.querySelectorAll('#sn-chat [data-testid=bot] img'))
  .filter(img => (img.getAttribute('src') || '').includes('/gradio_api/file'))
  .map(img => ({src: img.currentSrc || img.src, w: img.naturalWidth, h: img.getBoundingClientRect().height}))"""


def _local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("data", "blob", "about") or parts.hostname == "127.0.0.1"


@pytest.fixture(scope="module")
def search_app(tmp_path_factory):
    """The app serving a data dir that holds only the Rotterdam catalog and its chip index."""
    from browser_helpers import CHROMIUM

    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (run `make e2e-deps`: apt-get install chromium)")
    data = tmp_path_factory.mktemp("search-e2e") / "data"
    env = {**os.environ, "SENTINELLE_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "SENTINELLE_DATA_DIR": str(data)}
    for name in ("SENTINELLE_CATALOG_DIR", "SENTINELLE_CHROMA_PATH"):
        env.pop(name, None)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SENTINELLE_DATA_DIR", str(data))
        for name in ("SENTINELLE_CATALOG_DIR", "SENTINELLE_CHROMA_PATH"):
            mp.delenv(name, raising=False)
        items = build_rotterdam(data)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (tmp_path_factory.getbasetemp() / "search-server.log").open("w")
    serve = Path(__file__).with_name("serve_app.py")
    proc = subprocess.Popen([sys.executable, str(serve), str(port), "real"], cwd=Path(__file__).parents[2], env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: see {log.name}")
        try:
            urllib.request.urlopen(url + "/healthz", timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline:
                proc.terminate()
                raise RuntimeError("server did not start within 120 s") from None
            time.sleep(0.5)
    yield url, items
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_search_answer_shows_distinct_scenes_with_thumbnails_that_fly_the_map(page, search_app):
    url, items = search_app
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    frame = open_app(page, url)
    ask(page, QUESTION)
    answer = next(text for text in wait_answer(page) if "J'ai trouvé" in text)
    assert "« zones industrielles près du port »" in answer
    assert not any(item.id in answer for item in items) and "@" not in answer
    listed = answer.split("Les meilleures : ", 1)[1].split(". Leurs emprises", 1)[0].split("; ")
    assert len(listed) >= 2 and len({label.strip() for label in listed}) == len(listed)

    page.wait_for_function(f"() => ({THUMBS_JS})().filter(t => t.w > 0).length >= 2", timeout=60_000)
    shot(page, "search-thumbnails")
    thumbs = page.evaluate(THUMBS_JS)
    assert len(listed) <= len(thumbs) <= 6  # the top scenes (at most 6), of which the answer names the first 3
    assert len({t["src"] for t in thumbs}) == len(thumbs) and all(t["w"] > 0 for t in thumbs)
    assert all(_local(t["src"]) and "scene-thumb-" in t["src"] for t in thumbs)
    assert all(0 < t["h"] <= 112.5 for t in thumbs), thumbs  # shown small (layout.CSS), not at full width

    # the second thumbnail is the second scene of the answer, whose label gives the centre of its footprint
    # ('51,89° N 4,35° E', said because the scenes share place and date); a click flies the map there
    m = re.search(r"(\d+,\d+)° N (\d+,\d+)° E", listed[1])
    assert m, listed[1]
    lat, lon = (float(v.replace(",", ".")) for v in m.groups())
    page.locator("#sn-chat [data-testid=bot] img[src*='/gradio_api/file']").nth(1).click()
    frame.wait_for_function(
        f"""() => {{ const c = window.sentinelleLeaflet.getCenter();
          return Math.abs(c.lat - {lat}) < 0.006 && Math.abs(c.lng - {lon}) < 0.006
                 && window.sentinelleLeaflet.getZoom() >= 15; }}""",
        timeout=30_000,
    )
    frame.wait_for_timeout(1000)
    shot(page, "search-thumbnail-clicked")
    outside = [u for u in requests if not _local(u)]
    assert not outside, f"requests left 127.0.0.1: {outside[:5]}"

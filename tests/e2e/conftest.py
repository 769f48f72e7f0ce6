"""Browser tests: the app in a subprocess on a free port with a temp data dir, driven by Debian's chromium.

The agent is the real one (`assistant.agent`); set SENTINELLE_E2E_AGENT=fake to check the UI alone. The real agent
needs a demo catalog and chip index: SENTINELLE_E2E_DATA_DIR names a data dir that has them; by default a temp data
dir reads the project's `data/catalog` and `data/chroma` when `make demo` built them, else (or with
SENTINELLE_E2E_FRESH_DATA=1) builds both in the temp dir.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from browser_helpers import CHROMIUM, CHROMIUM_ARGS, agent_mode

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).parent))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _data_dir(tmp: Path, env: dict[str, str], mode: str) -> Path:
    """A temp data dir (uploads, exports and results of the tests go there). With the real agent it needs a demo
    catalog and chip index: the project's own (`data/`, read only) when built, else built here."""
    if os.environ.get("SENTINELLE_E2E_DATA_DIR"):
        return Path(os.environ["SENTINELLE_E2E_DATA_DIR"])
    data = tmp / "data"
    project = ROOT / "data"
    reuse = not os.environ.get("SENTINELLE_E2E_FRESH_DATA")
    if mode == "real" and reuse and (project / "catalog" / "catalog.json").exists() and (project / "chroma").is_dir():
        env["SENTINELLE_CATALOG_DIR"] = str(project / "catalog")
        env["SENTINELLE_CHROMA_PATH"] = str(project / "chroma")
    elif mode == "real":
        cli = str(Path(sys.executable).with_name("sentinelle"))
        for command in (["demo-catalog"], ["index"]):  # what a demo data dir holds: the catalog and its chip index
            subprocess.run([cli, *command], env={**env, "SENTINELLE_DATA_DIR": str(data)}, cwd=ROOT, check=True,
                           timeout=1800, stdout=subprocess.DEVNULL)
    return data


@pytest.fixture(scope="session")
def app_url(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (run `make e2e-deps`: apt-get install chromium)")
    mode = agent_mode()
    env = {**os.environ, "SENTINELLE_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    data = _data_dir(tmp_path_factory.mktemp("e2e"), env, mode)
    env["SENTINELLE_DATA_DIR"] = str(data)
    port = _free_port()
    log = (tmp_path_factory.getbasetemp() / "server.log").open("w")
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("serve_app.py")), str(port), mode],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: see {log.name}")
        try:
            urllib.request.urlopen(url + "/healthz", timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    else:
        proc.terminate()
        raise RuntimeError("server did not start within 120 s")
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (run `make e2e-deps`: apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    yield pg
    context.close()

"""Time from question to first streamed answer text in the web UI (headless Chromium), p50/p95.

Baseline in the same run: the same questions straight through `Assistant.stream` in-process (time to the first
`TextDelta`), so the table shows what the UI adds. The server runs in a subprocess with the real agent, offline.

    .venv/bin/python benchmarks/ui_first_text.py [--data-dir DIR] [--repeat 1]

DIR must hold a demo catalog and index (`sentinelle demo-catalog`, `sentinelle index`); default: the settings'
data dir. Change questions are left out unless --with-change: in router mode their first text comes after the whole
change detection, so they measure the change tool, not the UI.

Measured here (2026-11-25; 2 CPU cores shared with other jobs, load average ~10; router planner, offline; 10 questions
x 2, each in a fresh browser context, after warm-up; `--repeat 2`):

    agent in-process (baseline)    p50 0.027 s   p95 0.292 s   n=20
    web UI, browser                p50 0.342 s   p95 0.638 s   n=20
    server start until /healthz warm: 13.7 s; first question after warm-up: 0.38 s

Outside this script, in the browser on the same machine: the change question's first text comes after the change
detection itself (308 s on the first, cold run under heavy load; 18-20 s on later runs), and the first image question
waits ~140 s once while the reader builds its exemplar bank (0.4 s afterwards).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = [
    "Where is Rennes?",
    "Où se trouve Bordeaux ?",
    "Find Sentinel-2 scenes of Nantes",
    "Trouve des images d'aéroports",
    "Where is Paris?",
    "Which scenes do you have over Pucallpa?",
    "Find images of forests",
    "Bonjour !",
    "Where is Saclay?",
    "Scènes Landsat de Pucallpa entre 1990 et 2010",
]
CHANGE_QUESTIONS = [
    "What changed around Saclay between 2016 and 2017?",
    "Quels changements à Bercy entre 2015 et 2018 ?",
]
ANSWERS_JS = """() => Array.from(document.querySelectorAll('#sn-chat [data-testid=bot]'))
  .filter(el => !el.querySelector('.thought-group') && !el.closest('.thought-group'))
  .map(el => el.innerText.trim()).filter(t => t && t !== '…').length"""
BUSY_JS = "() => !!document.querySelector('#sn-input textarea[disabled]')"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_warm(url: str, limit_s: float = 600.0) -> float:
    """Seconds until the server at `url` says its agent is warm (/healthz), at most `limit_s`."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit_s:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
                if json.load(response).get("warm"):
                    break
        except OSError:
            pass
        time.sleep(0.5)
    return time.perf_counter() - started


def baseline(questions: list[str]) -> list[float]:
    """Time to the first TextDelta from the agent itself (models already loaded)."""
    from assistant.agent import Assistant
    from assistant.events import TextDelta
    from assistant.session import Session

    agent = Assistant()
    for _ in agent.stream("Where is Paris?", session=Session()):
        pass
    out = []
    for question in questions:
        start = time.perf_counter()
        first = None
        for event in agent.stream(question, session=Session()):
            if first is None and isinstance(event, TextDelta):
                first = time.perf_counter() - start
        out.append(first if first is not None else float("nan"))
    return out


def ui(url: str, questions: list[str]) -> tuple[float, list[float]]:
    """(cold first question, warm times): each question in a fresh browser context, as a new user."""
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
    times = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=args)
        for i, question in enumerate(["Where is Paris?", *questions]):
            context = browser.new_context()
            page = context.new_page()
            page.goto(url)
            page.wait_for_selector("#sn-map iframe", timeout=60_000)
            box = page.locator("#sn-input textarea")
            box.fill(question)
            start = time.perf_counter()
            box.press("Enter")
            page.wait_for_function(f"() => ({ANSWERS_JS})() >= 1", polling="raf", timeout=300_000)
            times.append(time.perf_counter() - start)
            page.wait_for_function(f"() => !({BUSY_JS})()", timeout=300_000)
            context.close()
            print(f"  ui {i:2d} {times[-1]:6.2f} s  {question}", file=sys.stderr)
        browser.close()
    return times[0], times[1:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--with-change", action="store_true",
                        help="add change questions (their first text waits for the whole change detection)")
    opts = parser.parse_args()
    env = {**os.environ, "SENTINELLE_OFFLINE": os.environ.get("SENTINELLE_OFFLINE", "1"), "OMP_NUM_THREADS": "1"}
    env.setdefault("SENTINELLE_DATA_MIRROR", str(ROOT.parent / "shared" / "geodata"))
    env.setdefault("SENTINELLE_MODELS_MIRROR", str(ROOT.parent / "shared" / "models"))
    if opts.data_dir:
        env["SENTINELLE_DATA_DIR"] = opts.data_dir
    os.environ.update(env)
    questions = (QUESTIONS + (CHANGE_QUESTIONS if opts.with_change else [])) * opts.repeat
    port = free_port()
    server = subprocess.Popen([sys.executable, str(ROOT / "tests" / "e2e" / "serve_app.py"), str(port), "real"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        warm_up_s = wait_warm(url)
        cold, warm = ui(url, questions)
    finally:
        server.terminate()
        server.wait(timeout=20)
    base = baseline(questions)
    print(f"{'question':52s} {'agent first delta (s)':>22s} {'UI first text (s)':>18s}")
    for q, b, u in zip(questions, base, warm, strict=True):
        print(f"{q[:52]:52s} {b:22.3f} {u:18.3f}")
    print(f"\nserver start until the agent is warm (/healthz warm): {warm_up_s:.1f} s")
    print(f"first question in the UI after warm-up (first page, first agent call): {cold:.2f} s")
    for name, values in (("agent in-process (baseline)", base), ("web UI, browser", warm)):
        print(f"{name:30s} p50 {statistics.median(values):6.3f} s   p95 {pct(values, 95):6.3f} s   n={len(values)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

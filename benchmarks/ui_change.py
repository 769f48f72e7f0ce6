"""Change questions in the web UI (headless Chromium): seconds from Enter to the answer, as a jury member waits.

Two cases, each in a fresh browser context on a server with the real agent:
- a Sentinel-2 city pair of the demo catalog ("What changed in Beirut between 2015 and 2017?");
- a very-high-resolution pair of two uploads (LEVIR, 256 x 256 px at 0.5 m): the before image is attached with a
  first question, the after image with "What changed compared to the previous image?"; the second turn is timed.

Baseline in the same run: the same catalog question straight through `Assistant.stream` in-process, so the table
shows what the browser and server add. By default the catalog's pairs are warmed first (`sentinelle change
precompute`) and the heads fitted (`train-head --if-missing`), as a server does in the background after it starts;
`--cold` skips both (empty Galileo cache: the first question encodes both dates itself).

    .venv/bin/python benchmarks/ui_change.py --data-dir DIR [--repeat 2] [--cold]

DIR must hold a demo catalog and index (`sentinelle demo-catalog`, `sentinelle index`).

Measured here (2026-12-05, 2 cores, load average 0.7, heads v3 fitted, catalog warmed, `--repeat 2`):

    agent in-process, city pair (baseline)   median 4.43 s   max 4.56 s
    browser, Sentinel-2 city pair (Beirut)   median 5.22 s   max 5.64 s
    browser, VHR upload pair (LEVIR 256²)    median 1.25 s   max 1.37 s

The same day after the VHR tiles went from 128 to 256 px (load 0.8): 3.55 / 4.83 / 1.61 s medians (max 4.30 / 5.00 /
1.62 s): a 256² upload pair is ~0.35 s slower (Galileo over 16 x 16 patches per tile instead of 8 x 8), a 2048² one
~1.6x faster.

On 2026-12-04 (load 2.5, before the faster cached path and the shared encodings): 5.84 / 7.01 / 1.81 s medians.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))
from browser_helpers import attach as attach_file  # noqa: E402
from ui_first_text import ANSWERS_JS, BUSY_JS, ROOT, free_port, wait_warm  # noqa: E402

CITY_QUESTION = "What changed in Beirut between 2015 and 2017?"
PAIR = "LEVIR/{side}/test_77_0512_0256.png"


def prepare(env: dict[str, str]) -> None:
    """What the server does in the background after it starts, done first and timed."""
    for args in (["change", "train-head", "--if-missing"], ["change", "precompute", "--quiet"]):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "assistant.cli", *args], cwd=ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        print(f"  sentinelle {' '.join(args)}: {time.perf_counter() - start:.1f} s", file=sys.stderr)


def _answer(page, question: str, attach: str | None, n_answers: int) -> tuple[float, str]:
    """(seconds from Enter to the n-th answer and the input enabled again, the answer text)."""
    if attach:
        attach_file(page, attach)
    box = page.locator("#sn-input textarea")
    box.fill(question)
    start = time.perf_counter()
    box.press("Enter")
    page.wait_for_function(f"() => ({ANSWERS_JS})() >= {n_answers}", polling="raf", timeout=600_000)
    page.wait_for_function(f"() => !({BUSY_JS})()", timeout=600_000)
    elapsed = time.perf_counter() - start
    texts = page.evaluate("""() => Array.from(document.querySelectorAll('#sn-chat [data-testid=bot]'))
      .map(el => el.innerText.trim()).filter(t => t && t !== '…')""")
    return elapsed, (texts[-1] if texts else "")


def browser_runs(url: str, repeat: int, pair_dir: Path, gap_s: float) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
    times: dict[str, list[float]] = {"city": [], "vhr uploads": []}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=args)
        for _ in range(repeat):
            for case in times:
                context = browser.new_context()
                page = context.new_page()
                page.goto(url)
                page.wait_for_selector("#sn-map iframe", timeout=60_000)
                if case == "city":
                    elapsed, text = _answer(page, CITY_QUESTION, None, 1)
                else:
                    _answer(page, "What is in this image?", str(pair_dir / "before.png"), 1)
                    elapsed, text = _answer(page, "What changed compared to the previous image?",
                                            str(pair_dir / "after.png"), 2)
                times[case].append(elapsed)
                print(f"  {case:12s} {elapsed:6.2f} s  {text[:100]!r}", file=sys.stderr)
                context.close()
                time.sleep(gap_s)  # the previous answer's full-resolution refinement lands first
        browser.close()
    return times


def baseline(repeat: int) -> list[float]:
    """The city question through the agent in-process, after one warm-up call."""
    from assistant.agent import Assistant
    from assistant.session import Session
    from tools.change.refine import wait_all_refinements

    agent = Assistant()
    for _ in agent.stream("Where is Paris?", session=Session()):
        pass
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in agent.stream(CITY_QUESTION, session=Session()):
            pass
        out.append(time.perf_counter() - start)
        wait_all_refinements()  # as the browser runs' gap lets it land; and the process must not exit mid-way
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--cold", action="store_true", help="no warm-up: empty Galileo cache, heads as they are")
    parser.add_argument("--gap", type=float, default=45.0,
                        help="seconds between questions (0: each one asked while the last refinement runs)")
    opts = parser.parse_args()
    env = {**os.environ, "SENTINELLE_OFFLINE": "1", "SENTINELLE_DATA_DIR": opts.data_dir,
           "SENTINELLE_CHANGE_PRECOMPUTE": "0"}  # warmed (or not) on purpose here, not behind the benchmark's back
    env.setdefault("SENTINELLE_DATA_MIRROR", str(ROOT.parent / "shared" / "geodata"))
    env.setdefault("SENTINELLE_MODELS_MIRROR", str(ROOT.parent / "shared" / "models"))
    os.environ.update(env)
    if opts.cold:
        shutil.rmtree(Path(opts.data_dir) / "cache" / "galileo", ignore_errors=True)
    else:
        prepare(env)
    from tools.data import geodata_path

    with tempfile.TemporaryDirectory() as tmp:
        pair_dir = Path(tmp)
        for side, name in (("A", "before.png"), ("B", "after.png")):
            shutil.copyfile(geodata_path("levir-dsifn-samples/" + PAIR.format(side=side)), pair_dir / name)
        port = free_port()
        server = subprocess.Popen([sys.executable, str(ROOT / "tests" / "e2e" / "serve_app.py"), str(port), "real"],
                                  cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            print(f"  server warm in {wait_warm(url):.1f} s", file=sys.stderr)
            times = browser_runs(url, opts.repeat, pair_dir, opts.gap)
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
    base = baseline(opts.repeat)
    print(f"{'case':40s} {'median s':>9s} {'max s':>7s}  n   (load average {os.getloadavg()[0]:.1f})")
    for name, values in (("agent in-process, city pair (baseline)", base),
                         ("browser, Sentinel-2 city pair (Beirut)", times["city"]),
                         ("browser, VHR upload pair (LEVIR 256²)", times["vhr uploads"])):
        print(f"{name:40s} {statistics.median(values):9.2f} {max(values):7.2f}  {len(values)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

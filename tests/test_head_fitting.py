"""The page opens before the change heads are fitted: zero-shot answers say so, and fitting runs in the background."""

from __future__ import annotations

import time

from test_change_pipeline import _crop_city

from assistant import head_fitting
from assistant.answers import compose
from tools.change.pipeline import run_change
from tools.core.results import ToolResult


def test_auto_without_a_fitted_head_answers_zero_shot_and_says_why(tmp_data_dir, tmp_path):
    before = _crop_city("rennes", 1, tmp_path / "imgs_1", size=48)
    after = _crop_city("rennes", 2, tmp_path / "imgs_2", size=48)
    summary = run_change(before, after, tmp_path / "out", method="auto")
    assert summary["method"] == "zeroshot" and "head_missing" in summary["caveats"]
    assert head_fitting.state() == "missing" and "zero-shot" in head_fitting.status_line()

    result = ToolResult(tool="detect_change", facts={k: summary[k] for k in ("method", "changed_percent", "caveats")})
    assert "not fitted on this server yet" in compose(result, {"place": "Rennes"}, "en")
    assert "pas encore ajusté" in compose(result, {"place": "Rennes"}, "fr")


def test_a_cached_head_removes_the_caveat(tmp_data_dir, tmp_path):
    from tools.change.head import HEAD_REGIMES, head_path

    for regime in HEAD_REGIMES:  # present but unreadable: load_head falls back to zero-shot
        head_path(regime).parent.mkdir(parents=True, exist_ok=True)
        head_path(regime).write_bytes(b"")
    before = _crop_city("rennes", 1, tmp_path / "imgs_1", size=48)
    after = _crop_city("rennes", 2, tmp_path / "imgs_2", size=48)
    summary = run_change(before, after, tmp_path / "out", method="auto")
    assert summary["method"] == "zeroshot" and "head_missing" not in summary["caveats"]
    assert head_fitting.state() == "ready"


def test_fitting_starts_once_in_a_child_process_and_stops_with_the_server(tmp_data_dir):
    assert head_fitting.start()
    try:
        assert head_fitting.state() == "fitting"
        assert not head_fitting.start()  # already running: not started twice
        assert "background" in head_fitting.status_line()
    finally:
        head_fitting.stop()
    deadline = time.monotonic() + 30
    while head_fitting.state() == "fitting" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert head_fitting.state() == "failed"  # stopped before the heads existed
    assert (tmp_data_dir / "logs" / "train-head.log").is_file()


def test_a_killed_server_takes_its_background_fitting_with_it(tmp_data_dir):
    """A server killed outright (SIGKILL: no shutdown code runs) must not leave a fitting running behind it."""
    import os
    import signal
    import subprocess
    import sys

    server = subprocess.Popen(
        [sys.executable, "-c", "import time; from assistant import head_fitting; head_fitting.start(); "
                               "print(head_fitting._process.pid, flush=True); time.sleep(120)"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "SENTINELLE_CHANGE_PRECOMPUTE": "0"},
    )
    child = int(server.stdout.readline())
    os.kill(server.pid, signal.SIGKILL)
    server.wait(10)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        # the child was re-parented: reap it if it is ours to reap, else wait for it to go
        time.sleep(0.2)
    else:
        os.kill(child, signal.SIGKILL)
        raise AssertionError("the background fitting outlived its server")

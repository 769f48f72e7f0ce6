"""Change heads fitted in the background, so the web page opens before they are ready.

Fitting the Sentinel-2 and VHR heads on the development pairs takes minutes on two cores. The server starts
`sentinelle change train-head --if-missing` as a low-priority child process when it starts serving; until the heads
exist, `detect_change` answers with zero-shot and says so (the `head_missing` caveat), and the status line under the
title says which method answers.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from typing import Literal

from assistant.config import get_settings

log = logging.getLogger(__name__)
State = Literal["ready", "fitting", "failed", "missing"]

_lock = threading.Lock()
_process: subprocess.Popen | None = None


def heads_ready() -> bool:
    """True when a head is cached for every regime that has one (whatever their version: load_head checks it)."""
    from tools.change.head import HEAD_REGIMES, head_path

    return all(head_path(regime).exists() for regime in HEAD_REGIMES)


def state() -> State:
    """Where the background fitting stands."""
    if heads_ready():
        return "ready"
    with _lock:
        if _process is None:
            return "missing"
        if _process.poll() is None:
            return "fitting"
        return "failed"


def start() -> bool:
    """Start fitting the missing heads in a child process (once per server); False when nothing needs doing."""
    global _process
    if heads_ready():
        return False
    with _lock:
        if _process is not None and _process.poll() is None:
            return False
        logs = get_settings().data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-c", "import sys; from assistant.cli import main; sys.exit(main())",
                   "change", "train-head", "--if-missing"]
        with open(logs / "train-head.log", "ab") as out:
            # niced: chat answers keep the CPU first; a separate process so fitting never holds the server's GIL
            _process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        preexec_fn=lambda: os.nice(10))
    log.info("fitting change heads in the background (pid %s), log in %s", _process.pid, logs / "train-head.log")
    return True


def stop() -> None:
    """End a fitting still running when the server stops (the next start resumes: --if-missing)."""
    with _lock:
        if _process is not None and _process.poll() is None:
            _process.terminate()


def status_line() -> str:
    """The change detector's part of the status line."""
    return {
        "ready": "change: **trained heads** (Sentinel-2, VHR)",
        "fitting": "change: **zero-shot** while the trained heads are fitted in the background",
        "failed": "change: **zero-shot** (fitting the trained heads failed: see data/logs/train-head.log)",
        "missing": "change: **zero-shot** (no trained heads: `sentinelle change train-head`)",
    }[state()]

"""Change heads fitted in the background, so the web page opens before they are ready.

Fitting the Sentinel-2 and VHR heads on the development pairs takes minutes on two cores. The server starts
`sentinelle change train-head --if-missing` as a low-priority child process when it starts serving; until the heads
exist, `detect_change` answers with zero-shot and says so (the `head_missing` caveat), and the status line under the
title says which method answers. Beside it, a second low-priority child (`sentinelle change precompute`) caches
the Galileo embeddings of every catalog pair a change question may compare, so a first question on the demo
catalog only reads them (`tools.change.precompute`; off with SENTINELLE_CHANGE_PRECOMPUTE=0).
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
_embedder: subprocess.Popen | None = None


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


def _spawn(args: list[str], log_name: str) -> subprocess.Popen:
    """`sentinelle <args>` as a niced child process writing to <data_dir>/logs/<log_name>."""
    logs = get_settings().data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-c", "import sys; from assistant.cli import main; sys.exit(main())", *args]
    with open(logs / log_name, "ab") as out:
        # niced: chat answers keep the CPU first; a separate process so the work never holds the server's GIL
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                preexec_fn=_child_setup)


def _child_setup() -> None:
    """In the child, before it runs: lower its priority, and (Linux) have the kernel send it SIGTERM when the server
    dies, even by SIGKILL, so no fitting or warm-up outlives the server that started it. The signal follows the
    thread that started the child: `start` runs on the server's main thread (the lifespan), which lives as long as
    the server."""
    os.nice(10)
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: `stop` at shutdown is the only guard
        pass


def start() -> bool:
    """Start fitting the missing heads in a child process (once per server); False when nothing needs doing.
    Also starts the Galileo warm-up of the catalog's pairs (`start_precompute`)."""
    global _process
    start_precompute()
    if heads_ready():
        return False
    with _lock:
        if _process is not None and _process.poll() is None:
            return False
        _process = _spawn(["change", "train-head", "--if-missing"], "train-head.log")
    log.info("fitting change heads in the background (pid %s), log in %s", _process.pid,
             get_settings().data_dir / "logs" / "train-head.log")
    return True


def start_precompute() -> bool:
    """Cache the Galileo embeddings of the catalog's change pairs in a child process (once per server, unless
    `change_precompute` is off); False when not started. Pairs already cached cost a read each."""
    global _embedder
    if not get_settings().change_precompute:
        return False
    with _lock:
        if _embedder is not None and _embedder.poll() is None:
            return False
        _embedder = _spawn(["change", "precompute", "--quiet"], "change-precompute.log")
    log.info("caching Galileo embeddings of the catalog's pairs (pid %s)", _embedder.pid)
    return True


def precompute_running() -> bool:
    with _lock:
        return _embedder is not None and _embedder.poll() is None


def stop() -> None:
    """End a fitting or a warm-up still running when the server stops (the next start resumes where they were)."""
    with _lock:
        for child in (_process, _embedder):
            if child is not None and child.poll() is None:
                child.terminate()


def status_line() -> str:
    """The change detector's part of the status line."""
    return {
        "ready": "change: **trained heads** (Sentinel-2, VHR)",
        "fitting": "change: **zero-shot** while the trained heads are fitted in the background",
        "failed": "change: **zero-shot** (fitting the trained heads failed: see data/logs/train-head.log)",
        "missing": "change: **zero-shot** (no trained heads: `sentinelle change train-head`)",
    }[state()]

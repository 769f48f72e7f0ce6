"""Shared by the browser tests and their fixtures: which agent runs, the browser to use, screenshots."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "e2e"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


def agent_mode() -> str:
    wanted = os.environ.get("SENTINELLE_E2E_AGENT")
    if wanted:
        return wanted
    return "real" if importlib.util.find_spec("assistant.agent") is not None else "fake"


def shot(page, name: str) -> None:
    """Keep a screenshot under artifacts/e2e/ (gitignored) as evidence of what the browser showed."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def attach(page, path: str) -> None:
    """Attach a file in the chat input and wait until the input shows it (Gradio uploads it on selection)."""
    page.locator("#sn-input input[type=file]").set_input_files(path)
    page.wait_for_selector("#sn-input img, #sn-input .thumbnail-item, #sn-input [data-testid=file]",
                           timeout=30_000, state="attached")

"""Start the app for browser tests: `python serve_app.py PORT [fake|real]`.

`real` serves exactly what `sentinelle serve` serves (the agent, catalog and tiles of the data dir in the
environment); `fake` swaps in `FakeAssistant` (slow tool on request) for UI-only checks.
"""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn

sys.path.insert(0, str(Path(__file__).parent))


def main() -> None:
    port = int(sys.argv[1])
    mode = sys.argv[2] if len(sys.argv) > 2 else "real"
    from assistant.ui.handlers import Handlers
    from assistant.ui.server import build_app

    if mode == "fake":
        from fake_agent import FakeAssistant

        fake = FakeAssistant(tool_delay_s=0.3, word_delay_s=0.02)
        app = build_app(Handlers(assistant=lambda: fake))
    else:
        app = build_app()
    # as `sentinelle serve`: open long polls do not hold a shutdown (the tests' teardown would kill the server, and
    # with it the chance to stop its background children)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=2)


if __name__ == "__main__":
    main()

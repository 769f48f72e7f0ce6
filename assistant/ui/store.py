"""Live sessions of the web app, keyed by a random id, plus frozen snapshots for share links.

The chat handler (a Gradio worker thread) writes a user's `Session` here; the map iframe of the same user
long-polls `/api/map/<sid>` and redraws when the revision changes. Each browser tab gets its own id, so
sessions never mix; a restored deep link is copied under a fresh id so two viewers of one link don't share state.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections import OrderedDict
from pathlib import Path

from assistant.config import get_settings
from assistant.errors import NotFoundError
from assistant.events import MapLayer
from assistant.session import Session

_ID = re.compile(r"^[0-9a-f]{8,32}$")
MAX_LIVE = 500


class SessionStore:
    """Thread-safe map of live sessions: sid -> (Session, revision)."""

    def __init__(self, max_live: int = MAX_LIVE) -> None:
        self._lock = threading.Lock()
        self._live: OrderedDict[str, tuple[Session, int]] = OrderedDict()
        self._max = max_live

    def create(self, session: Session | None = None) -> str:
        """Register a session (a new empty one by default) under a fresh id and return the id."""
        sid = uuid.uuid4().hex
        session = session.model_copy(deep=True) if session is not None else Session()
        session.id = sid[:12]
        with self._lock:
            self._live[sid] = (session, 1)
            while len(self._live) > self._max:
                self._live.popitem(last=False)
        return sid

    def get(self, sid: str) -> Session:
        """The live session (a deep copy: callers change it and `put` it back)."""
        with self._lock:
            if sid not in self._live:
                raise NotFoundError("This session has expired; reload the page.")
            self._live.move_to_end(sid)
            return self._live[sid][0].model_copy(deep=True)

    def put(self, sid: str, session: Session) -> int:
        """Store a new state for `sid` and bump its revision (the map redraws)."""
        with self._lock:
            rev = self._live[sid][1] + 1 if sid in self._live else 1
            self._live[sid] = (session.model_copy(deep=True), rev)
            self._live.move_to_end(sid)
            return rev

    def add_layer(self, sid: str, layer: MapLayer) -> int:
        """Add one map layer to a live session (called for each `LayerAdded` event while a turn streams)."""
        with self._lock:
            session, rev = self._live[sid]
            session.add_layer(layer)
            self._live[sid] = (session, rev + 1)
            return rev + 1

    def map_state(self, sid: str) -> tuple[int, dict]:
        """What the map needs: revision, layers and last view."""
        with self._lock:
            if sid not in self._live:
                raise NotFoundError("unknown session")
            session, rev = self._live[sid]
            return rev, {
                "rev": rev,
                "layers": [layer.model_dump(exclude_none=True) for layer in session.layers],
                "view": session.view,
            }

    def revision(self, sid: str) -> int | None:
        with self._lock:
            entry = self._live.get(sid)
            return entry[1] if entry else None

    def __len__(self) -> int:
        return len(self._live)


def shared_dir() -> Path:
    """Where frozen share snapshots live (inside the data dir)."""
    return get_settings().data_dir / "shared_sessions"


def save_snapshot(session: Session) -> str:
    """Freeze a session to disk for a share link; returns the snapshot id."""
    snap_id = uuid.uuid4().hex[:16]
    folder = shared_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{snap_id}.json").write_text(session.model_dump_json(exclude_none=True))
    return snap_id


def load_snapshot(snap_id: str) -> Session:
    """A frozen session by id; only ids of the form we generate are looked up (no path traversal)."""
    if not _ID.match(snap_id or ""):
        raise NotFoundError("This shared link is not valid.")
    path = shared_dir() / f"{snap_id}.json"
    if not path.is_file():
        raise NotFoundError("This shared link has expired or does not exist on this server.")
    return Session.model_validate(json.loads(path.read_text()))


STORE = SessionStore()
"""The process-wide store used by the app."""

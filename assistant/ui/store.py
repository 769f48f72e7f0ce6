"""Live sessions of the web app, keyed by a random id, plus frozen snapshots for share links.

The chat handler (a Gradio worker thread) writes a user's `Session` here; the map iframe of the same user
long-polls `/api/map/<sid>` and redraws when the revision changes. Each browser tab gets its own id, so
sessions never mix; a restored deep link is copied under a fresh id so two viewers of one link don't share state.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import uuid
import zlib
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from assistant.config import get_settings
from assistant.errors import BadInputError, NotFoundError
from assistant.events import MapLayer
from assistant.links import secret_key
from assistant.session import Session

_ID = re.compile(r"^[0-9a-f]{8,32}$")
MAX_LIVE = 500


class SessionStore:
    """Thread-safe map of live sessions: sid -> (compressed Session JSON, revision).

    Sessions are kept compressed: a restored link that inflates to megabytes of JSON costs its compressed size
    here, and the least recently used sessions are dropped past `sessions_max_mb` (or `max_live` sessions).
    """

    def __init__(self, max_live: int = MAX_LIVE, max_bytes: int | None = None) -> None:
        self._lock = threading.Lock()
        self._live: OrderedDict[str, tuple[bytes, int]] = OrderedDict()
        self._max = max_live
        self._max_bytes = max_bytes
        self._bytes = 0

    @staticmethod
    def _pack(session: Session) -> bytes:
        return zlib.compress(session.model_dump_json(exclude_none=True).encode(), 1)

    @staticmethod
    def _unpack(packed: bytes) -> Session:
        return Session.model_validate_json(zlib.decompress(packed))

    def _budget(self) -> int:
        if self._max_bytes is not None:
            return self._max_bytes
        return int(get_settings().sessions_max_mb * 1e6)

    def _set(self, sid: str, packed: bytes, rev: int) -> None:
        """Store under the lock, then drop the oldest sessions past the count or memory budget (never `sid`)."""
        old = self._live.get(sid)
        self._bytes += len(packed) - (len(old[0]) if old else 0)
        self._live[sid] = (packed, rev)
        self._live.move_to_end(sid)
        budget = self._budget()
        while len(self._live) > 1 and (len(self._live) > self._max or self._bytes > budget):
            _, (dropped, _) = self._live.popitem(last=False)
            self._bytes -= len(dropped)

    def create(self, session: Session | None = None) -> str:
        """Register a session (a new empty one by default) under a fresh id and return the id."""
        sid = uuid.uuid4().hex
        session = session.model_copy() if session is not None else Session()  # packed below: no deep copy
        session.id = sid[:12]
        packed = self._pack(session)
        with self._lock:
            self._set(sid, packed, 1)
        return sid

    def get(self, sid: str) -> Session:
        """The live session (a copy: callers change it and `put` it back)."""
        with self._lock:
            if sid not in self._live:
                raise NotFoundError("This session has expired; reload the page.")
            self._live.move_to_end(sid)
            packed = self._live[sid][0]
        return self._unpack(packed)

    def put(self, sid: str, session: Session) -> int:
        """Store a new state for `sid` and bump its revision (the map redraws)."""
        packed = self._pack(session)
        with self._lock:
            rev = self._live[sid][1] + 1 if sid in self._live else 1
            self._set(sid, packed, rev)
            return rev

    def add_layer(self, sid: str, layer: MapLayer) -> int:
        """Add one map layer to a live session (called for each `LayerAdded` event while a turn streams)."""
        with self._lock:
            packed, rev = self._live[sid]
            session = self._unpack(packed)
            session.add_layer(layer)
            self._set(sid, self._pack(session), rev + 1)
            return rev + 1

    def update(self, sid: str, change: Callable[[Session], bool]) -> int | None:
        """Changes a live session in place, under the lock (background updates such as a refined change map);
        the new revision, None when the session is gone or `change` said it changed nothing."""
        with self._lock:
            if sid not in self._live:
                return None
            packed, rev = self._live[sid]
            session = self._unpack(packed)
            if not change(session):
                return None
            self._set(sid, self._pack(session), rev + 1)
            return rev + 1

    def map_state(self, sid: str) -> tuple[int, dict]:
        """What the map needs: revision, layers and last view."""
        with self._lock:
            if sid not in self._live:
                raise NotFoundError("unknown session")
            packed, rev = self._live[sid]
        data = json.loads(zlib.decompress(packed))
        return rev, {"rev": rev, "layers": data.get("layers", []), "view": data.get("view")}

    def revision(self, sid: str) -> int | None:
        with self._lock:
            entry = self._live.get(sid)
            return entry[1] if entry else None

    def memory_bytes(self) -> int:
        """Compressed bytes held by the live sessions."""
        with self._lock:
            return self._bytes

    def __len__(self) -> int:
        return len(self._live)


def shared_dir() -> Path:
    """Where frozen share snapshots live (inside the data dir)."""
    return get_settings().data_dir / "shared_sessions"


def save_snapshot(session: Session) -> str:
    """Freeze a session to disk for a share link; returns the snapshot id. Refused past `snapshot_max_bytes`."""
    data = session.model_dump_json(exclude_none=True).encode()
    limit = get_settings().snapshot_max_bytes
    if len(data) > limit:
        raise BadInputError(f"This conversation is too large to share ({len(data) / 1e6:.1f} MB; the limit is "
                            f"{limit / 1e6:g} MB).")
    # Named by a keyed hash of the content: sharing the same conversation again (a button pressed over and over)
    # writes nothing new, and the id stays unguessable without the server's key.
    snap_id = hmac.new(secret_key(), b"snapshot." + data, hashlib.sha256).hexdigest()[:32]
    folder = shared_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{snap_id}.json"
    if not path.is_file():
        path.write_bytes(data)
    return snap_id


def load_snapshot(snap_id: str) -> Session:
    """A frozen session by id; only ids of the form we generate are looked up (no path traversal), and only
    files within `snapshot_max_bytes` are read."""
    if not _ID.match(snap_id or ""):
        raise NotFoundError("This shared link is not valid.")
    path = shared_dir() / f"{snap_id}.json"
    if not path.is_file():
        raise NotFoundError("This shared link has expired or does not exist on this server.")
    limit = get_settings().snapshot_max_bytes
    with path.open("rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise BadInputError(f"This shared conversation is larger than {limit / 1e6:g} MB; it is refused.")
    return Session.model_validate_json(data)


STORE = SessionStore()
"""The process-wide store used by the app."""

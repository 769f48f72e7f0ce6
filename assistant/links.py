"""Signed, bounded share-link tokens: only this server can make one, and reading one costs bounded memory.

A token is `<payload>.<issued>.<signature>` (URL-safe base64, no padding): payload is zlib-compressed JSON,
issued is the creation time (seconds, base 36) and signature the HMAC-SHA256 of both under the server's secret.
The signature is checked before anything is decompressed, decompression stops at `link_max_bytes`, and a payload
of more than `link_max_items` arrays/objects is refused before it is parsed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import threading
import time
import zlib
from pathlib import Path

from assistant.config import get_settings
from assistant.errors import BadInputError

VERSION = "v1"
_KEY_FILE = "secret_key"
_keys: dict[str, bytes] = {}
_keys_lock = threading.Lock()


class LinkRefused(BadInputError):
    """A share link this server will not open (altered, expired, too large); the message says which."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def secret_key() -> bytes:
    """The signing key: `SENTINELLE_SECRET_KEY`, else a random one kept (mode 0600) in `<data_dir>/secret_key`."""
    settings = get_settings()
    if settings.secret_key is not None and settings.secret_key.get_secret_value():
        return settings.secret_key.get_secret_value().encode()
    path = Path(settings.data_dir) / _KEY_FILE
    with _keys_lock:
        if str(path) in _keys:
            return _keys[str(path)]
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            try:  # O_EXCL: two processes starting at once keep the first key written
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as fh:
                    fh.write(secrets.token_hex(32))
            except FileExistsError:
                pass
        key = path.read_text().strip().encode()
        if len(key) < 32:
            raise BadInputError(f"the secret key in {path.name} is too short; delete it to make a new one")
        _keys[str(path)] = key
        return key


def _signature(key: bytes, signed: str) -> bytes:
    return hmac.new(key, f"{VERSION}.{signed}".encode(), hashlib.sha256).digest()


def sign(data: bytes, now: float | None = None) -> str:
    """A token carrying `data` (compressed), signed with the server's key."""
    payload = _b64(zlib.compress(data, 9))
    issued = int(time.time() if now is None else now)
    signed = f"{payload}.{_base36(issued)}"
    return f"{signed}.{_b64(_signature(secret_key(), signed))}"


def unsign(token: str, now: float | None = None) -> bytes:
    """The data of a token made by `sign`; `LinkRefused` when it is too long, altered, expired or too large."""
    settings = get_settings()
    if len(token) > settings.link_max_chars:
        raise LinkRefused(f"This shared link is too long ({len(token)} characters; the limit is "
                          f"{settings.link_max_chars}).")
    parts = token.split(".")
    if len(parts) != 3:
        raise LinkRefused("This shared link is damaged or was not made by this server.")
    payload, issued_text, signature = parts
    try:
        expected = _signature(secret_key(), f"{payload}.{issued_text}")
        genuine = hmac.compare_digest(expected, _unb64(signature))
        issued = int(issued_text, 36)
    except (ValueError, binascii.Error):
        genuine = False
    if not genuine:
        raise LinkRefused("This shared link is damaged or was altered (its signature does not match).")
    max_age = settings.link_max_age_days
    age_days = ((time.time() if now is None else now) - issued) / 86400
    if max_age is not None and age_days > max_age:
        raise LinkRefused(f"This shared link has expired (links are valid for {max_age:g} days).")
    data = bounded_decompress(_unb64(payload), settings.link_max_bytes)
    if data.count(b"[") + data.count(b"{") > settings.link_max_items:  # brackets in strings count too: stricter
        raise LinkRefused(f"This shared link holds more than {settings.link_max_items} items; it is refused.")
    return data


def bounded_decompress(raw: bytes, max_bytes: int) -> bytes:
    """zlib data inflated to at most `max_bytes`; a larger result (a 'zip bomb') is refused without being built."""
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(raw, max_bytes + 1)
    except zlib.error as exc:
        raise LinkRefused("This shared link is damaged (it may have been cut when copied).") from exc
    if len(data) > max_bytes or inflater.unconsumed_tail:
        raise LinkRefused(f"This shared link holds more than {max_bytes / 1e6:g} MB; it is refused.")
    if not inflater.eof:
        raise LinkRefused("This shared link is damaged (it may have been cut when copied).")
    return data


def _base36(value: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        value, rest = divmod(value, 36)
        out = digits[rest] + out
        if value == 0:
            return out

"""Errors a user can cause. Each carries a one-line message fit for the chat; anything else is a bug."""

from __future__ import annotations


class SentinelleError(Exception):
    """Base class: the message is shown to the user as is."""


class DataUnavailableError(SentinelleError):
    """A file, scene or weight is missing and cannot be fetched (offline, no mirror)."""


class BadInputError(SentinelleError):
    """A file or argument the user gave cannot be used (corrupt, unsupported, too large, out of range)."""


class NotFoundError(SentinelleError):
    """A place, scene or date range with nothing behind it."""


class ModelUnavailableError(SentinelleError):
    """A model server is down, slow, or a model's weights are missing."""

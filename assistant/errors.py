"""Errors a user can cause: the library's own (`tools.core.errors`), re-exported for the application."""

from tools.core.errors import (
    BadInputError,
    DataUnavailableError,
    ModelUnavailableError,
    NotFoundError,
    SentinelleError,
)

__all__ = ["BadInputError", "DataUnavailableError", "ModelUnavailableError", "NotFoundError", "SentinelleError"]

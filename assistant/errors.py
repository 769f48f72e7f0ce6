"""Errors a user can cause: the library's own (`tools.core.errors`), re-exported for the application."""

from tools.core.errors import (
    BadInputError,
    DataUnavailableError,
    ModelUnavailableError,
    NotFoundError,
    SentinelleError,
)

__all__ = ["BadInputError", "DataUnavailableError", "InvalidDateError", "ModelUnavailableError", "NotFoundError",
           "SentinelleError"]


class InvalidDateError(BadInputError):
    """A question names a date that does not exist ('2016-02-30', '2017-13-45'): said in one line, never guessed."""

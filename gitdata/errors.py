"""The one user-facing error type, and the exit codes it maps to.

Every failure a user can cause or fix (bad input, missing bytes, an unreachable store) is a
GitDataError with a one-line message and a hint line. `cli.main` is the only place that turns
it into output and an exit status; anything else escaping there is a bug.
"""

from __future__ import annotations

from collections.abc import Sequence

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_BUG = 3
EXIT_INTERRUPTED = 130


class GitDataError(Exception):
    """An error for the user: `message` says what happened, `hint` what to do about it;
    `details`, indented lines printed between the two (one per file, say)."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str, hint: str = "", details: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = list(details)


class UsageError(GitDataError):
    exit_code = EXIT_USAGE


class GitError(GitDataError):
    """A git subprocess failed."""


class ConfigError(GitDataError):
    """.gitdata.toml or `git config data.*` is wrong."""


class StoreError(GitDataError):
    """A store could not be reached or refused a request."""

    #: True when retrying may help (connection reset, throttling, 5xx).
    transient = False


class ObjectMissing(StoreError):
    """The store does not hold the object asked for."""


class IntegrityError(GitDataError):
    """Bytes do not hash to the oid they were fetched for."""

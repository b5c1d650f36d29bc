"""User-facing errors.

WatcherError                 anything regwatch reports to the user, with a hint
 ├── ConfigError             the configuration file is wrong (exit status 3)
 ├── StorageError            the database cannot be opened or written (exit status 4)
 └── FetchError              one source could not be fetched or parsed (recorded, not fatal)
"""

from __future__ import annotations


class WatcherError(Exception):
    """An error with a message for the user and a hint on what to do."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class ConfigError(WatcherError):
    exit_code = 3


class StorageError(WatcherError):
    exit_code = 4


class FetchError(WatcherError):
    """One source failed; `status` is the HTTP status when there was one.

    `retry_after` is the delay in seconds a 429 or 503 asked for (Retry-After), if any.
    """

    def __init__(
        self,
        message: str,
        status: int | None = None,
        hint: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, hint)
        self.status = status
        self.retry_after = retry_after

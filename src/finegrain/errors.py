"""Errors a user can act on: stages print them as one line and exit 2 (no traceback)."""


class FinegrainError(Exception):
    """A problem with the user's input or environment, explained in one line."""

    exit_status = 2


class ConfigError(FinegrainError, ValueError):
    """params.yaml holds an unknown key, a wrong type or an invalid value."""


class DataError(FinegrainError):
    """A dataset on disk or from a download is missing, corrupt or not in the expected layout."""


class Interrupted(FinegrainError):
    """The user stopped the stage (Ctrl-C); the message says what was kept and how to go on."""

    exit_status = 130

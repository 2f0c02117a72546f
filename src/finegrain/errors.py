"""Errors a user can act on: stages print them as one line and exit 2 (no traceback)."""


class FinegrainError(Exception):
    """A problem with the user's input or environment, explained in one line."""


class ConfigError(FinegrainError, ValueError):
    """params.yaml holds an unknown key, a wrong type or an invalid value."""


class DataError(FinegrainError):
    """A dataset on disk or from a download is missing, corrupt or not in the expected layout."""

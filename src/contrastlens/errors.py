"""Errors that reach the user as one clear message (the CLI prints them without a traceback).

Invalid arguments to library functions raise plain `ValueError` naming the argument; these
subclasses mark the two places where the fix lies outside the code: the data on disk and the
configuration the user wrote.
"""


class DataError(RuntimeError):
    """A dataset is missing, incomplete or corrupt; the message says which file and the fix."""


class ConfigError(ValueError):
    """An unknown configuration key, a value of the wrong type, or an impossible combination."""

"""The exceptions recsys raises on bad input.

Every error names the problem and what to do about it. The command line prints the message as one
line on stderr and exits with status 1 (a data problem) instead of showing a traceback.
"""

from __future__ import annotations

__all__ = ["RecsysError", "LogFormatError", "LogParseError"]


class RecsysError(Exception):
    """Base class of the errors recsys raises for bad input or configuration."""


class LogFormatError(RecsysError, ValueError):
    """A ``log_format`` cannot be compiled, found or recognised."""


class LogParseError(RecsysError, ValueError):
    """Log lines do not match the log format.

    Attributes
    ----------
    path : str
        The file the line comes from (``-`` for standard input).
    line_number : int
        The 1-based number of the failing line in that file.
    line : str
        The raw line, with undecodable bytes shown as ``\\xHH``.
    """

    def __init__(self, message: str, *, path: str, line_number: int, line: str) -> None:
        super().__init__(message)
        self.path = path
        self.line_number = line_number
        self.line = line

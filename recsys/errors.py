"""The exceptions recsys raises on bad input.

Every error names the problem and what to do about it. The command line prints the message as one
line on stderr and exits with status 1 (a data problem) instead of showing a traceback.
"""

from __future__ import annotations

import itertools
import os
import shlex
import sys
import tempfile
import time
import traceback

__all__ = ["RecsysError", "LogFormatError", "LogParseError", "crash_report"]


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


def crash_report(error: BaseException, command: list[str], folder: str | os.PathLike) -> str:
    """One line for the user about an unexpected error (a bug); its traceback goes to a private file.

    The file (``<folder>/crash-<time>.log``, mode 0600, or a private temporary file when the folder
    cannot be written) holds the recsys and Python versions, the command and the traceback.
    """
    from . import __version__

    stamp = time.strftime("%Y%m%dT%H%M%S")
    text = (f"recsys {__version__}, Python {sys.version.split()[0]}, {time.strftime('%Y-%m-%d %H:%M:%S %z')}\n"
            f"command: {shlex.join(map(str, command))}\n\n" + "".join(traceback.format_exception(error)))
    message = " ".join(str(error).split())
    try:
        try:
            os.makedirs(folder, mode=0o700, exist_ok=True)
            for n in itertools.count():
                path = os.path.join(folder, f"crash-{stamp}{f'-{n}' if n else ''}.log")
                try:
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    break
                except FileExistsError:
                    continue
        except OSError:
            fd, path = tempfile.mkstemp(prefix=f"recsys-crash-{stamp}-", suffix=".log")
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as f:
            f.write(text)
        where = f"the details are in {path}"
    except Exception as again:  # noqa: BLE001 - the report of a bug must not fail in turn
        where = f"the details could not be saved ({' '.join(str(again).split())})"
    return f"recsys: unexpected error: {type(error).__name__}: {message}; {where}"

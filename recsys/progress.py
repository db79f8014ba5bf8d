"""Progress bars that show only where someone is watching."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator

from tqdm import tqdm

__all__ = ["progress_bar", "reading_bar"]


@contextmanager
def progress_bar(*, total: float | None, desc: str, unit: str = "it", enable: bool | None = None) -> Iterator[tqdm]:
    """A tqdm bar on standard error; off when ``enable`` is False, or None and not on a terminal.

    >>> with progress_bar(total=3, desc="demo", enable=False) as bar:
    ...     bar.update(3)
    """
    if enable is None:
        enable = sys.stderr.isatty()
    bar = tqdm(total=total, desc=desc, unit=unit, unit_scale=unit == "B", disable=not enable,
               leave=False, file=sys.stderr, dynamic_ncols=True)
    try:
        yield bar
    finally:
        bar.close()


@contextmanager
def reading_bar(progress: bool | None | tqdm, *, total: float | None) -> Iterator[tqdm]:
    """The bar of a read of log files, by bytes: ``progress`` itself when it is a bar already (one
    bar over several reads: the caller closes it), else a new one as :func:`progress_bar` opens it.

    >>> with reading_bar(False, total=10) as bar, reading_bar(bar, total=5) as same:
    ...     same is bar
    True
    """
    if isinstance(progress, tqdm):
        yield progress
        return
    with progress_bar(total=total or None, unit="B", desc="reading logs", enable=progress) as bar:
        yield bar

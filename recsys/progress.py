"""Progress bars that show only where someone is watching."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator

from tqdm import tqdm

__all__ = ["progress_bar"]


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

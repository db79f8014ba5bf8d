"""The checks of the command line's options, one function per kind of value.

Each takes the text given on the command line, or the value of a TOML file (a number may be an
``int`` or a ``float`` there), and returns the option's value or raises ``ValueError`` saying what
is expected. Its ``toml`` attribute holds the types a TOML file may give and ``expected`` names
them, so that a wrong type is refused with a message naming the key, the type and the value;
``items`` (or None) is the type of the items of a TOML array it takes, ``choices`` (or None) the
values it takes, which the command line offers as argparse choices.

>>> duration("30min"), support("0.002"), support(3)
('30min', 0.002, 3)
>>> duration("30")
Traceback (most recent call last):
...
ValueError: give a duration with its unit, such as '30min' or '2h' (a bare number would be read as nanoseconds); got '30'
"""

from __future__ import annotations

import math
import re
import warnings
from typing import Callable

import pandas as pd

from .blog import BLOG_FORMATS
from .urls import article_regex

__all__ = [
    "count", "positive", "fraction", "support", "duration", "pattern", "spark_setting", "blog_formats",
    "optional", "choice", "flag", "text", "strings", "each", "takes",
]


def takes(*types: type, expected: str, items: type | None = None,
          choices: tuple[str, ...] | None = None) -> Callable:
    """Mark a check with the TOML types it takes and their name (for messages), the type of the
    items of the arrays it takes and the values it takes, if it names them."""
    def mark(check: Callable) -> Callable:
        check.toml, check.expected, check.items, check.choices = types, expected, items, choices
        return check
    return mark


def _number(value: object, kind: type) -> float | int:
    """A number from text (read as ``kind``) or from a TOML number (kept as it is); never a bool."""
    wrong = ValueError(f"expected {'an integer' if kind is int else 'a number'}; got {value!r}")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise wrong
    if isinstance(value, str):
        try:
            return kind(value)
        except ValueError:
            raise wrong from None
    return value


def count(low: int) -> Callable[[object], int]:
    """The check of an integer option of at least ``low``."""
    @takes(int, expected="an integer")
    def check(value: object) -> int:
        n = _number(value, int)
        if not isinstance(n, int):
            raise ValueError(f"expected an integer; got {value!r}")
        if n < low:
            raise ValueError(f"must be at least {low}; got {n}")
        return n
    return check


@takes(int, float, expected="a number")
def positive(value: object) -> float:
    """A finite number above 0 (a number of days)."""
    x = _number(value, float)
    if not (math.isfinite(x) and x > 0):
        raise ValueError(f"must be a positive number; got {value!r}")
    return x


@takes(int, float, expected="a number")
def fraction(value: object) -> float:
    """A number between 0 and 1."""
    x = _number(value, float)
    if not 0 <= x <= 1:  # NaN fails too
        raise ValueError(f"must be between 0 and 1; got {value!r}")
    return x


@takes(int, float, expected="a number")
def support(value: object) -> float | int:
    """A fraction of the baskets in (0, 1] (written with a decimal point) or a count of at least 1."""
    how = "expected a fraction such as 0.002 or a count such as 3"
    is_text = isinstance(value, str)
    try:
        x = _number(value, float if not is_text or any(c in value for c in ".eE") else int)
    except ValueError:
        raise ValueError(f"{how}; got {value!r}") from None
    if isinstance(x, float) and not 0 < x <= 1:
        raise ValueError(f"a fraction of the baskets must be in (0, 1]; got {value!r} ({how})")
    if isinstance(x, int) and x < 1:
        raise ValueError(f"a count of baskets must be at least 1; got {value!r} ({how})")
    return x


@takes(str, expected="a duration with its unit, a string such as '30min' or '2h'")
def duration(value: object) -> str:
    """A positive duration with its unit, as pandas reads it: ``30min``, ``2h``, ``1D``."""
    how = "give a duration with its unit, such as '30min' or '2h'"
    if not isinstance(value, str):
        raise ValueError(f"{how}; got {value!r}")
    if re.fullmatch(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*", value):
        raise ValueError(f"{how} (a bare number would be read as nanoseconds); got {value!r}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            length = pd.Timedelta(value)
    except ValueError:
        raise ValueError(f"{how}; got {value!r}") from None
    if pd.isna(length) or length <= pd.Timedelta(0):
        raise ValueError(f"must be a positive duration, such as '30min' or '2h'; got {value!r}")
    return value


@takes(str, expected="a string (a pattern name or a regular expression)")
def pattern(value: object) -> str:
    """A name of :data:`recsys.urls.ARTICLE_PATTERNS` or a regular expression that compiles."""
    if not isinstance(value, str):
        raise ValueError(f"expected a pattern name or a regular expression; got {value!r}")
    article_regex(value)  # its ValueError says what is wrong
    return value


@takes(str, expected="a string KEY=VALUE")
def spark_setting(value: object) -> str:
    """A Spark setting, ``KEY=VALUE``."""
    if not isinstance(value, str) or "=" not in value:
        raise ValueError(f"expected KEY=VALUE; got {value!r}")
    return value


@takes(str, list, expected="a string or a list of strings")
def blog_formats(value: object) -> tuple[str, ...]:
    """A comma-separated list (or a list) of :data:`recsys.blog.BLOG_FORMATS`, or ``all``."""
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        if not value:
            return ()  # none: the default
        value = ",".join(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a comma-separated list of {', '.join(BLOG_FORMATS)}; got {value!r}")
    names = [t.strip() for t in value.split(",") if t.strip()]
    names = list(BLOG_FORMATS) if names == ["all"] else names
    unknown = [n for n in names if n not in BLOG_FORMATS]
    if unknown or not names:
        raise ValueError(
            f"{', '.join(unknown) or 'nothing'}: give a comma-separated list of {', '.join(BLOG_FORMATS)}, or all")
    return tuple(dict.fromkeys(names))


def optional(check: Callable) -> Callable:
    """``check``, or None for None (an option without a value)."""
    @takes(*check.toml, expected=check.expected, items=check.items, choices=check.choices)
    def read(value: object):
        return None if value is None else check(value)
    return read


def choice(*options: str) -> Callable[[object], str]:
    """The check of an option that takes one of ``options``."""
    @takes(str, expected=f"one of {', '.join(options)}", choices=options)
    def check(value: object) -> str:
        if value not in options:
            raise ValueError(f"expected one of {', '.join(options)}; got {value!r}")
        return value
    return check


@takes(bool, expected="true or false")
def flag(value: object) -> bool:
    """True or false (``true``/``false`` as text too)."""
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false; got {value!r}")
    return value


@takes(str, expected="a string")
def text(value: object) -> str:
    """A non-empty string (a name, a path)."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty string; got {value!r}")
    return value


@takes(str, list, expected="a string or a list of strings", items=str)
def strings(value: object) -> tuple[str, ...]:
    """One string or a list of them, as a tuple."""
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, (list, tuple)) or not all(isinstance(v, str) and v for v in values):
        raise ValueError(f"expected a string or a list of strings; got {value!r}")
    return tuple(values)


def each(check: Callable) -> Callable[[object], tuple]:
    """A list of values, each checked by ``check`` (a repeatable option)."""
    @takes(str, list, expected=f"{check.expected} or a list of them", items=str)
    def read(value: object) -> tuple:
        return tuple(check(v) for v in strings(value))
    return read

"""Every setting of the pipeline, its default and its validation, in one place.

:class:`Settings` groups one frozen dataclass per stage: :class:`Reading` (the logs and their
format), :class:`Views` (which requests are article page views), :class:`Sessions`,
:class:`Mining`, :class:`Recommending`, :class:`Evaluation`, :class:`Output` and :class:`Spark`.
Each field declares its default, what values it takes and the command-line option that sets it;
``python -m recsys.mine`` builds its options from these declarations, a TOML file (``--config``)
uses the same names, and a notebook passes keyword arguments::

    >>> s = Settings.from_mapping({"min_support": 5, "gap": "1h", "k": 8})
    >>> s.mining.min_support, s.sessions.gap, s.recommending.k
    (5, '1h', 8)
    >>> s.replace(k=3).recommending.k
    3
    >>> Settings.from_mapping({"gap": 30})
    Traceback (most recent call last):
    ...
    recsys.settings.SettingsError: gap: give a duration with its unit, such as '30min' or '2h'; got 30

Names are flat (``min_support``, or ``min-support`` as on the command line) or nested by section
(``{"mining": {"min_support": 5}}``, a ``[mining]`` table in TOML). Values may be given as text,
as the command line gives them: ``"0.002"`` is parsed as the field's type.
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import RecsysError
from .options import (
    blog_formats, choice, count, duration, each, flag, fraction, optional, pattern, positive, spark_setting,
    strings, support, takes, text,
)
from .options import flag as yes_no  # ``flag`` below is the option of a setting
from .rules import MEASURES

__all__ = [
    "Settings", "SettingsError", "Reading", "Views", "Sessions", "Mining", "Recommending", "Evaluation",
    "Output", "Spark", "SECTIONS", "RUN_OPTIONS", "toml_options", "toml_value",
]


class SettingsError(RecsysError, ValueError):
    """A setting has a value it cannot take; ``key`` names it (as the caller wrote it), ``problem``
    says what it takes; the message is ``key: problem`` unless ``message`` words it otherwise."""

    def __init__(self, key: str, problem: str, message: str | None = None) -> None:
        super().__init__(message or f"{key}: {problem}")
        self.key = key
        self.problem = problem


# kinds of values ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Kind:
    """How a field's value is read: ``read(value)`` takes text (the command line) or a TOML value and
    returns the value, or raises ``ValueError`` saying what is expected (:mod:`recsys.options`)."""

    read: Callable[[Any], Any]
    metavar: str = "X"
    repeat: bool = False  # a command-line option given several times makes a tuple


@takes(str, list, expected="a string or a list of strings", items=str)
def _log_formats(value) -> str | tuple[str, ...]:
    values = strings(value)
    return values[0] if len(values) == 1 else values


_measure = choice(*[m for m in MEASURES if m not in ("count", "p_value")])


@takes(list, expected="a list of integers", items=int)
def _statuses(value) -> tuple[int, ...]:
    return tuple(count(100)(v) for v in (value if isinstance(value, (list, tuple)) else [value]))


def setting(default: Any, kind: Kind, help: str, *, flag: str | None = "", metavar: str | None = None) -> Any:
    """A field of a settings section: its default, its kind and its help text.

    ``flag`` is the command-line option (by default ``--`` and the name with dashes); ``None``
    means the setting has no option (a library-only knob).
    """
    return field(default=default, metadata={"kind": kind, "help": help, "flag": flag, "metavar": metavar})


INT1 = Kind(count(1), "N")
OPT_INT1 = Kind(optional(count(1)), "N")


class _Section:
    """What every section shares: reading and checking its fields."""

    _prefix = ""  # of the flat names of its fields

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            kind: Kind = f.metadata["kind"]
            try:
                value = kind.read(getattr(self, f.name))
            except ValueError as e:
                raise SettingsError(self._prefix + f.name, str(e)) from None
            object.__setattr__(self, f.name, value)


# the sections --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reading(_Section):
    """How the logs are read (:func:`recsys.read_logs`)."""

    log_format: str | tuple[str, ...] = setting(
        "auto", Kind(_log_formats, "FMT", repeat=True),
        "auto (default: the preset that parses the lines), a preset (combined, combined_ut, tsv, json), or "
        "the log_format string as in nginx.conf; repeat for a file that holds several")
    nginx_conf: str | None = setting(None, Kind(optional(text), "FILE"),
                                     "read the log_format from this nginx configuration")
    format_name: str | None = setting(None, Kind(optional(_log_formats), "NAME", repeat=True),
                                      "which log_format of --nginx-conf to use")
    cookie: str = setting("UT_ID", Kind(text, "NAME"), "the visitor cookie's name (default: UT_ID)")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.format_name is not None and self.nginx_conf is None:
            raise SettingsError("format_name", "needs nginx_conf (--nginx-conf), the file to read it from")


@dataclass(frozen=True)
class Views(_Section):
    """Which requests are article page views of readers (:func:`recsys.page_views`)."""

    article_pattern: str = setting(
        "openresty", Kind(pattern, "P"),
        "openresty, hugo, hexo, wordpress or a regular expression on the URL (default: openresty)")
    trailing_slash: str | None = setting(None, Kind(optional(choice("strip", "add", "keep")), "FORM"),
                                         "the canonical URL form: strip, add or keep (default: the blog's)")
    keep_query: tuple[str, ...] = setting((), Kind(strings, "PARAM", repeat=True),
                                          "a query parameter that is part of an article's URL (repeatable)")
    visitor: str = setting("cookie", Kind(choice("cookie", "ip+ua"), "WHO"),
                           "identify readers by the cookie (default) or by address and user agent (ip+ua)")
    max_per_minute: int | None = setting(20, OPT_INT1, "drop visitors reading more articles than this in a "
                                                       "minute (default: 20)")
    statuses: tuple[int, ...] = setting((200, 304), Kind(_statuses),
                                        "the statuses of a successful view", flag=None)
    methods: tuple[str, ...] = setting(("GET",), Kind(strings),
                                       "the methods of a view", flag=None)
    drop_bots: bool = setting(True, Kind(flag), "drop the crawlers of the crawler list", flag=None)


@dataclass(frozen=True)
class Sessions(_Section):
    """How page views are grouped into baskets (:func:`recsys.sessionize`)."""

    gap: str = setting("30min", Kind(duration, "DURATION"),
                       "inactivity that ends a session (default: 30min)")
    basket: str = setting("session", Kind(choice("session", "visitor"), "KIND"),
                          "mine sessions (default) or each visitor's whole history (visitor)")
    max_items: int | None = setting(50, OPT_INT1, "drop baskets of more articles than this (default: 50)")


@dataclass(frozen=True)
class Mining(_Section):
    """Frequent itemsets and rules (:func:`recsys.eclat`, :func:`recsys.association_rules`)."""

    algorithm: str = setting("eclat", Kind(choice("eclat", "apriori"), "NAME"),
                             "the frequent-itemset miner: eclat (default) or apriori (the same itemsets)")
    min_support: float | int = setting(3, Kind(support, "S"),
                                       "a fraction of the baskets (0.002) or a number of baskets (3, the default)")
    max_len: int | None = setting(3, OPT_INT1, "the largest itemset mined (default: 3: rules from up to "
                                               "two articles)")
    min_confidence: float = setting(0.05, Kind(fraction, "C"),
                                    "keep rules at least this confident (default: 0.05)")
    max_antecedent_len: int | None = setting(None, OPT_INT1, "the most articles on a rule's left-hand side "
                                                             "(default: no limit but --max-len)")


@dataclass(frozen=True)
class Recommending(_Section):
    """From the sessions to lists: trusted sequential pair rules (:mod:`recsys.sequences`, the
    default) or the mined association rules (:func:`recsys.recommend`)."""

    k: int = setting(5, INT1, "articles per list (default: 5)")
    rank_by: str = setting("confidence", Kind(_measure, "MEASURE"),
                           "the measure that ranks candidates (default: confidence)")
    min_count: int = setting(3, INT1, "distinct readers a rule needs (default: 3)")
    min_networks: int = setting(3, Kind(count(0), "N"),
                                "distinct networks (/24, /48) those readers need (default: 3; 0: no check)")
    lift_above_one: bool = setting(False, Kind(flag), "keep only rules with lift above 1")
    popular_days: float = setting(7, Kind(positive, "D"),
                                  "under --ranking rules, fill short lists with the most read articles of the "
                                  "last D days (default: 7)")
    ranking: str = setting("sequences", Kind(choice("sequences", "rules"), "HOW"),
                           "what ranks the lists: sequences (default: trusted sequential pair rules, "
                           "recsys.sequences) or rules (the mined association rules with --min-count, "
                           "--min-networks, --rank-by)")
    recent: int = setting(5, INT1, "the latest distinct articles of a reader whose rules add up (default: 5)")
    steps: int = setting(10, INT1, "the farthest distance in reads at which 'b after a' counts (default: 10)")
    backward: float = setting(0.1, Kind(fraction, "W"),
                              "the weight of 'b read before a' in the rule a -> b (default: 0.1; --tune "
                              "tries 0.5 too)")
    half_life: float | None = setting(None, Kind(optional(positive), "D"),
                                      "halve a session's weight every D days before the last one (default: "
                                      "none; --tune tries 60, 30, 14)")
    tier_min: float = setting(2, Kind(positive, "N"),
                              "trusted co-readers that put a rule in the first tier, ranked before the "
                              "rarer pairs (default: 2)")
    anonymous_weight: float = setting(0.2, Kind(fraction, "W"),
                                      "the weight of readers not seen --returning-days apart (default: 0.2)")
    returning_days: float = setting(7, Kind(positive, "D"),
                                    "days between a reader's first and last session that make them a "
                                    "returning reader (default: 7)")
    min_returning: float = setting(0.05, Kind(fraction, "F"),
                                   "the share of sessions by returning readers below which every reader "
                                   "weighs the same and nothing is checked (default: 0.05)")
    admit_min: int = setting(1, Kind(count(0), "N"),
                             "networks of returning readers that must have read an article before it is "
                             "recommended (default: 1; 0: no check)")
    max_rules: int = setting(100, INT1, "the best rules kept per article (default: 100)")
    tune: bool = setting(True, Kind(flag), "pick --half-life and --backward each night on a time split of "
                                           "the logs (the last fifth of the sessions)", flag="--no-tune")


@dataclass(frozen=True)
class Evaluation(_Section):
    """The evaluation in the nightly report (:func:`recsys.evaluate`)."""

    evaluate: bool = setting(True, Kind(flag), "evaluate against popularity when the logs span "
                                                        "enough days", flag="--no-evaluate")
    test_days: float = setting(7, Kind(positive, "D"),
                               "days of the held-out test (default: 7)", flag=None)
    min_days: float = setting(14, Kind(positive, "D"),
                              "the days the logs must span for an evaluation (default: 14)", flag=None)
    max_cases: int = setting(5000, Kind(count(0), "N"),
                             "score at most N test cases, those of a seeded sample of the test's readers, "
                             "so that the evaluation's cost does not grow with the traffic (default: 5000; "
                             "0: every case)")


@dataclass(frozen=True)
class Output(_Section):
    """What is written and shown (:meth:`recsys.Run.write`)."""

    titles: str | None = setting(None, Kind(optional(text), "FILE"),
                                 "article titles: the blog's RSS or Atom feed, a Google News sitemap, or a "
                                 "CSV of url,title")
    export: tuple[str, ...] = setting((), Kind(blog_formats, "FORMATS"),
                                      "also write the blog's files into OUT/blog/: a comma-separated list of "
                                      "hugo, hexo, wordpress, widget, csv, or all")
    top: int = setting(10, Kind(count(0), "N"), "print the lists of the N most read articles (default: 10)")
    force: bool = setting(False, Kind(flag), "publish even a result the guard finds degenerate (no "
                                                      "page views, no rules, far fewer lists than published)")
    min_lists_kept: float = setting(0.5, Kind(fraction, "F"),
                                    "refuse to publish lists from rules for fewer than this fraction of the "
                                    "articles of the published related.json (default: 0.5; 0: no comparison)")


@dataclass(frozen=True)
class Spark(_Section):
    """The Spark engine (``engine="spark"``)."""

    _prefix = "spark_"

    master: str | None = setting(None, Kind(optional(text), "URL"),
                                 "the Spark master: local[*] (default), yarn, spark://host:7077, k8s://... "
                                 "(under spark-submit, its --master)", flag="--spark-master")
    conf: tuple[str, ...] = setting((), Kind(each(spark_setting), "KEY=VALUE", repeat=True),
                                    "a Spark setting passed through (repeatable), e.g. spark.executor.memory=8g",
                                    flag="--spark-conf")
    datasets: str | None = setting(None, Kind(optional(text), "URI"),
                                   "write the views and sessions datasets here (s3a://..., hdfs://...) rather "
                                   "than into OUT, which executors on other machines cannot see",
                                   flag="--spark-datasets")


#: The sections of :class:`Settings`, by attribute name.
SECTIONS: dict[str, type] = {
    "reading": Reading, "views": Views, "sessions": Sessions, "mining": Mining,
    "recommending": Recommending, "evaluation": Evaluation, "output": Output, "spark": Spark,
}
_OWNER = {f.name: (name, f) for name, cls in SECTIONS.items() for f in dataclasses.fields(cls)}
# the spark section's fields are spark_master, ... when flat
_FLAT = {("spark_" + n if owner == "spark" else n): (owner, f) for n, (owner, f) in _OWNER.items()}
#: What shapes the lists: recorded in related.json and report.json as ``params``.
PARAM_SECTIONS = ("reading", "views", "sessions", "mining", "recommending")


@dataclass(frozen=True)
class Settings:
    """All the settings of a run, one frozen section per stage.

    Build it with :meth:`from_mapping` (keyword names, flat or by section), :meth:`from_toml`, or
    change one with :meth:`replace`. Invalid values raise :class:`SettingsError` naming the setting.
    """

    reading: Reading = field(default_factory=Reading)
    views: Views = field(default_factory=Views)
    sessions: Sessions = field(default_factory=Sessions)
    mining: Mining = field(default_factory=Mining)
    recommending: Recommending = field(default_factory=Recommending)
    evaluation: Evaluation = field(default_factory=Evaluation)
    output: Output = field(default_factory=Output)
    spark: Spark = field(default_factory=Spark)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None = None, /, **kwargs: Any) -> Settings:
        """Settings from names and values: flat (``min_support``) or by section (``{"mining": {...}}``)."""
        return cls().replace(mapping, **kwargs)

    @classmethod
    def from_toml(cls, path: str) -> Settings:
        """Settings from a TOML file of ``name = value`` lines or ``[section]`` tables: the
        ``--config`` file of ``python -m recsys.mine``, whose options of the run (:data:`RUN_OPTIONS`)
        are checked and left out. Each value must have its TOML type (``k = 5``, not ``k = "5"``)."""
        return cls.from_mapping(toml_options(read_toml(path), str(path))[0])

    def replace(self, mapping: Mapping[str, Any] | None = None, /, **kwargs: Any) -> Settings:
        """A copy with some settings changed (names as in :meth:`from_mapping`)."""
        changes: dict[str, dict[str, Any]] = {}
        for key, value in {**(mapping or {}), **kwargs}.items():
            name = key.replace("-", "_")
            if name in SECTIONS and isinstance(value, Mapping):
                for sub, v in value.items():
                    sub = sub.replace("-", "_")
                    if sub not in {f.name for f in dataclasses.fields(SECTIONS[name])}:
                        raise SettingsError(f"{name}.{sub}", f"no such setting in [{name}]; it has "
                                            f"{', '.join(f.name for f in dataclasses.fields(SECTIONS[name]))}")
                    changes.setdefault(name, {})[sub] = v
            elif name in _FLAT:
                owner, f = _FLAT[name]
                changes.setdefault(owner, {})[f.name] = value
            else:
                raise SettingsError(key, f"no such setting; settings are {', '.join(sorted(_FLAT))}")
        sections = {name: dataclasses.replace(getattr(self, name), **values) for name, values in changes.items()}
        return dataclasses.replace(self, **sections)

    def flat(self) -> dict[str, Any]:
        """Every setting by its flat name.

        >>> Settings().flat()["min_support"]
        3
        """
        return {name: getattr(getattr(self, owner), f.name) for name, (owner, f) in _FLAT.items()}

    def params(self) -> dict[str, Any]:
        """The settings that shape the lists, by flat name, sorted: what related.json records."""
        return {name: getattr(getattr(self, owner), f.name) for name, (owner, f) in sorted(_FLAT.items())
                if owner in PARAM_SECTIONS and f.metadata["flag"] is not None}

    def __str__(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.params().items())


def read_toml(path: str) -> dict[str, Any]:
    """The mapping of a TOML file; a clear error when it cannot be read."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as e:
        raise RecsysError(f"cannot read {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise RecsysError(f"{path} is not valid TOML: {e}") from None


#: The options of a ``--config`` file that are not settings but the run's (where the logs are,
#: where the outputs go, how the command runs): their checks, as :mod:`recsys.options` has them.
RUN_OPTIONS: dict[str, Callable[[Any], Any]] = {
    "logs": strings, "out": text, "cache": text, "no_cache": yes_no, "engine": choice("local", "spark"),
    "quiet": yes_no, "verbose": yes_no,
}
_TOML_TYPES = {str: "string", int: "integer", float: "float", bool: "boolean", list: "array", dict: "table"}


def _aliases() -> dict[str, tuple[str, bool]]:
    """Keys named as a long option that is not the setting's name: ``no_evaluate`` -> ``evaluate``
    (negated)."""
    out = {}
    for name in _FLAT:
        option = (flag(name) or "").removeprefix("--").replace("-", "_")
        if option and option != name:
            out[option] = (name, option.startswith("no_") and _FLAT[name][1].metadata["kind"].read is yes_no)
    return out


def toml_value(key: str, value: Any, read: Callable[[Any], Any], where: str = "") -> Any:
    """``value``, given as ``key`` in a TOML file (``where``), read by the check ``read``.

    A value of the wrong TOML type, not among the choices or that the check refuses raises
    :class:`SettingsError` naming the key as written, the value and what it takes:

    >>> toml_value("k", "x", count(1), "recsys.toml")
    Traceback (most recent call last):
    ...
    recsys.settings.SettingsError: k must be an integer; got 'x' (a TOML string) in recsys.toml
    >>> toml_value("min-support", 2.5, support)
    Traceback (most recent call last):
    ...
    recsys.settings.SettingsError: min-support = 2.5: a fraction of the baskets must be in (0, 1]; got 2.5 (expected a fraction such as 0.002 or a count such as 3)
    """
    at = f" in {where}" if where else ""
    items = getattr(read, "items", None)
    if ((isinstance(value, bool) and bool not in read.toml) or not isinstance(value, read.toml)
            or (isinstance(value, list) and items is not None and not all(isinstance(v, items) for v in value))):
        problem = f"must be {read.expected}; got {value!r} (a TOML {_TOML_TYPES.get(type(value), 'date or time')})"
        raise SettingsError(key, problem, f"{key} {problem}{at}")
    choices = getattr(read, "choices", None)
    if choices is not None and value not in choices:
        problem = f"must be one of {', '.join(choices)}; got {value!r}"
        raise SettingsError(key, problem, f"{key} {problem}{at}")
    try:
        return read(value)
    except ValueError as e:
        raise SettingsError(key, str(e), f"{key} = {value!r}{at}: {e}") from None


def toml_options(data: Mapping[str, Any], where: str = "") -> tuple[dict[str, Any], dict[str, Any]]:
    """The settings (by flat name) and the options of the run (:data:`RUN_OPTIONS`) of a TOML
    document, each value checked by :func:`toml_value`; keys are the settings' names (``-`` or
    ``_``), ``[section]`` tables of them, or the command's long options (``no-evaluate = true``).

    >>> toml_options({"min-support": 0.002, "logs": "/var/log/nginx", "mining": {"max_len": 2}})
    ({'min_support': 0.002, 'max_len': 2}, {'logs': ('/var/log/nginx',)})
    >>> toml_options({"no-evaluate": True, "spark": {"conf": "a=b"}})
    ({'evaluate': False, 'spark_conf': ('a=b',)}, {})
    """
    settings: dict[str, Any] = {}
    run: dict[str, Any] = {}
    aliases = _aliases()
    for key, value in data.items():
        name = key.replace("-", "_")
        if name in SECTIONS and isinstance(value, Mapping):
            names = {f.name: f for f in dataclasses.fields(SECTIONS[name])}
            for sub, v in value.items():
                f = names.get(sub.replace("-", "_"))
                if f is None:
                    raise _unknown(f"{key}.{sub}", where, names, f"[{key}] has")
                flat = ("spark_" if name == "spark" else "") + f.name
                settings[flat] = toml_value(f"{key}.{sub}", v, f.metadata["kind"].read, where)
        elif name in SECTIONS:
            problem = f"must be a table of settings ([{key}]); got {value!r} (a TOML {_TOML_TYPES.get(type(value))})"
            raise SettingsError(key, problem, f"{key} {problem}{' in ' + where if where else ''}")
        elif name in _FLAT:
            settings[name] = toml_value(key, value, _FLAT[name][1].metadata["kind"].read, where)
        elif name in aliases:
            setting, negated = aliases[name]
            value = toml_value(key, value, _FLAT[setting][1].metadata["kind"].read, where)
            settings[setting] = not value if negated else value
        elif name in RUN_OPTIONS:
            run[name] = toml_value(key, value, RUN_OPTIONS[name], where)
        else:
            raise _unknown(key, where, [*_FLAT, *aliases, *RUN_OPTIONS, *SECTIONS], "options:")
    return settings, run


def _unknown(key: str, where: str, names, known: str) -> SettingsError:
    names = sorted(names)
    close = difflib.get_close_matches(key.rsplit(".", 1)[-1].replace("-", "_"), names, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    problem = f"unknown option{hint}; {known} {', '.join(names)}"
    return SettingsError(key, problem, f"unknown option {key!r}{' in ' + where if where else ''}{hint}; "
                                       f"{known} {', '.join(names)}")


def fields() -> Iterator[tuple[str, str, dataclasses.Field]]:
    """``(section, flat name, field)`` of every setting, in declaration order (the CLI's order)."""
    for flat, (owner, f) in _FLAT.items():
        yield owner, flat, f


def flag(name: str) -> str | None:
    """The command-line option of the setting ``name`` (flat), or None when it has none.

    >>> flag("min_support"), flag("evaluate"), flag("statuses")
    ('--min-support', '--no-evaluate', None)
    """
    f = _FLAT[name][1]
    option = f.metadata["flag"]
    return None if option is None else option or "--" + name.replace("_", "-")


def defaults() -> dict[str, Any]:
    """Every setting's default by flat name (the values of ``Settings()``)."""
    return Settings().flat()


def check_sequence(values: Sequence[Any], name: str) -> list[Any]:  # used by tune's grid
    """The values of a grid entry, each checked as the setting ``name`` reads it."""
    owner, f = _FLAT[name.replace("-", "_")]
    read = f.metadata["kind"].read
    out = []
    for v in values:
        try:
            out.append(read(v))
        except ValueError as e:
            raise SettingsError(name, str(e)) from None
    return out

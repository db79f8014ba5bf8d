"""The public function, :func:`simulate`, and what it returns, :class:`Simulation`."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..formats import PRESETS, LogFormat
from ..views import DROP_REASONS
from .generate import generate
from .junk import finish_junk
from .outcomes import NO_VISITOR, OUTCOMES, ROBOTS, TOO_FAST, VIEW
from .render import FEED_NAME, LABELS_NAME, file_names, Renderer, write_feed, write_labels, write_log
from .state import Gen, log
from .world import DAY_MS, TOPICS


@dataclass
class Simulation:
    """What :func:`simulate` wrote, and the truth behind it.

    Attributes
    ----------
    out_dir : str
        The directory written.
    files : list of str
        The access logs written, oldest first (the order :func:`recsys.files.log_files` reads them).
    lines : int
        Lines written over all files.
    truth : pandas.DataFrame
        The article page views of human readers, in log order: ``ts`` (UTC, at the resolution the
        log format writes), ``visitor`` (the ``UT_ID`` cookie) and ``url`` (``/archives/<id>``,
        normalized). With a format that logs the cookie, exactly what :func:`recsys.page_views`
        with default arguments keeps; ``combined`` does not log it, and there ``page_views``
        keeps nothing (those lines are ``no_visitor``) while ``truth`` still lists the reads.
    articles : pandas.DataFrame
        ``url``, ``title``, ``topic``, ``published`` (UTC), ``id``, ``series`` (or missing),
        ``part`` (0 outside series) and ``weight`` (popularity), in publication order.
    reasons : dict
        Per outcome (``view``, a drop reason of :data:`recsys.views.DROP_REASONS` or
        ``malformed:<kind>``), how many lines :func:`recsys.read_logs` and
        :func:`recsys.page_views` are designed to give it; outcomes with no line are left out.
    agents : pandas.DataFrame
        Every client: ``kind`` (``reader``, ``cookie_refuser``, ``crawler``, ``feed_reader``,
        ``link_checker``, ``scanner``, ``robots_scraper``, ``fast_scraper``, ``junk``), ``name``,
        ``visitor`` (its cookie, when it ever had one), ``ips`` (space-separated) and
        ``user_agent``.
    log_format : str
        The preset used.
    feed : str
        The path of the RSS feed.
    labels : str or None
        The path of ``labels.csv.gz`` when written.
    """

    out_dir: str
    files: list[str]
    lines: int
    truth: pd.DataFrame
    articles: pd.DataFrame
    reasons: dict[str, int]
    agents: pd.DataFrame
    log_format: str
    feed: str
    labels: str | None = None

    @property
    def views(self) -> int:
        """Lines designed to be page views."""
        return self.reasons.get("view", 0)

    def expected_accounting(self) -> dict:
        """What ``read_page_views(out_dir, accounting=acc)`` should fill ``acc`` with.

        ``lines``, ``malformed_kinds``, ``dropped`` and ``views``, with zero counts left out as
        :class:`recsys.Accounting` leaves them out.
        """
        kinds = {k.split(":", 1)[1]: v for k, v in self.reasons.items() if k.startswith("malformed:")}
        return {
            "lines": self.lines,
            "malformed_kinds": kinds,
            "dropped": {k: v for k, v in self.reasons.items() if k in DROP_REASONS},
            "views": self.views,
        }


def _check_int(name: str, value, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer; got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ValueError(f"{name} must be {bound}; got {value}")
    return int(value)


def simulate(
    out_dir: str | os.PathLike,
    *,
    visitors: int = 2000,
    days: int = 14,
    articles: int = 120,
    topics: int = 8,
    seed: int = 0,
    start: str | dt.date = "2024-03-04",
    log_format: str = "combined_ut",
    rotate: bool = True,
    labels: bool = False,
) -> Simulation:
    """Write the access logs of a simulated blog into ``out_dir``, and return the truth.

    Parameters
    ----------
    out_dir : path
        Created if needed. Files of an earlier simulation with the same names are overwritten;
        other access logs in it are refused (they would be read with the new ones).
    visitors : int, default 2000
        Human readers over the period (about 3 % of them refuse cookies). The log has about 20
        lines per reader and week, plus a few hundred robot lines a day.
    days : int, default 14
        Length of the period, in days from ``start`` (00:00 UTC).
    articles : int, default 120
        Articles of the blog; a few of them (about two a week) are published during the period.
    topics : int, default 8
        Topics of the articles, at most ``len(TOPICS)`` (12) and at most ``articles``.
    seed : int, default 0
        The seed of all randomness: the same arguments give byte-identical files.
    start : str or datetime.date, default "2024-03-04"
        The first day, ``YYYY-MM-DD``.
    log_format : str, default "combined_ut"
        A preset of :data:`recsys.PRESETS`: ``combined_ut``, ``combined``, ``tsv`` or ``json``.
    rotate : bool, default True
        One file per day (``access.log``, ``access.log.1``, ``access.log.2.gz``, ...) or a single
        ``access.log``.
    labels : bool, default False
        Also write ``labels.csv.gz`` into ``out_dir`` (``file,line,outcome`` per log line; a name
        :func:`recsys.files.log_files` skips).

    Returns
    -------
    Simulation
        The files, line count, outcomes per line (:attr:`Simulation.reasons`), the human page
        views (:attr:`Simulation.truth`), the articles and the clients.

    Raises
    ------
    ValueError
        For an argument out of range, an unknown preset, or an ``out_dir`` that is a file or
        holds other access logs.

    Examples
    --------
    >>> import tempfile, recsys
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     sim = simulate(tmp, visitors=30, days=3, articles=20, seed=1)
    ...     acc = recsys.Accounting()
    ...     _ = recsys.read_page_views(tmp, accounting=acc)
    >>> [os.path.basename(f) for f in sim.files]
    ['access.log.2.gz', 'access.log.1', 'access.log']
    >>> acc.views == sim.reasons["view"] == len(sim.truth)
    True
    >>> acc.dropped == sim.expected_accounting()["dropped"]
    True
    """
    visitors = _check_int("visitors", visitors, 1)
    days = _check_int("days", days, 1, 3660)
    articles = _check_int("articles", articles, 2)
    topics = _check_int("topics", topics, 1, min(len(TOPICS), articles))
    seed = _check_int("seed", seed, 0)
    if isinstance(start, dt.datetime):
        start = start.date()
    if not isinstance(start, dt.date):
        try:
            start = dt.date.fromisoformat(str(start))
        except ValueError:
            raise ValueError(f"start must be a date as YYYY-MM-DD; got {start!r}") from None
    if log_format not in PRESETS:
        raise ValueError(f"log_format must be one of the presets {', '.join(PRESETS)}; got {log_format!r}")
    fmt = LogFormat.preset(log_format)
    out_dir = os.fspath(out_dir)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ValueError(f"{out_dir} is a file; give a directory to write the logs into")
    names = file_names(days, rotate)
    _check_out_dir(out_dir, names)
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise ValueError(f"cannot create {out_dir}: {e.strerror}") from None

    g, ev = generate(visitors=visitors, days=days, articles=articles, topics=topics, seed=seed, start=start)
    renderer = Renderer(fmt, g.tab, start, days)
    raw = finish_junk(g, ev, renderer)
    has_cookie = "cookie_UT_ID" in fmt.variables
    designed = ev["out"].copy()
    if not has_cookie:  # without the cookie in the log, no line has a visitor
        ev["out"] = np.where(np.isin(ev["out"], (VIEW, ROBOTS, TOO_FAST)), NO_VISITOR, ev["out"])
    _check_behaviour(ev, designed, g)

    # the files
    day_of = (ev["t"] - g.start_ms) // DAY_MS if rotate else np.zeros(len(ev["t"]), np.int64)
    bounds = np.searchsorted(day_of, np.arange(len(names) + 1))
    files, label_parts = [], []
    for d, name in enumerate(names):
        path = os.path.join(out_dir, name)
        lo, hi = int(bounds[d]), int(bounds[d + 1])
        write_log(path, ev, lo, hi, renderer, raw)
        files.append(path)
        if labels:
            label_parts.append((name, ev["out"][lo:hi]))
        log.info("%s: %d lines", path, hi - lo)
    feed = os.path.join(out_dir, FEED_NAME)
    write_feed(feed, g.blog)
    labels_path = None
    if labels:
        labels_path = os.path.join(out_dir, LABELS_NAME)
        write_labels(labels_path, label_parts)

    counts = np.bincount(ev["out"], minlength=len(OUTCOMES))
    reasons = {name: int(counts[i]) for i, name in enumerate(OUTCOMES) if counts[i]}
    views = np.flatnonzero(designed == VIEW)
    ms = ev["t"][views] if "msec" in fmt.variables else ev["t"][views] // 1000 * 1000
    cookies = np.array(g.tab.cookies.values, dtype=object)
    truth = pd.DataFrame({
        "ts": pd.to_datetime(ms, unit="ms", utc=True).as_unit("ms"),
        "visitor": cookies[ev["ck"][views]],
        "url": np.array(g.blog.art_uri, dtype=object)[ev["art"][views]],
    })
    arts = g.blog.frame()
    agents = pd.DataFrame(g.agents, columns=["kind", "name", "visitor", "ips", "user_agent"])
    sim = Simulation(out_dir=out_dir, files=files, lines=len(ev["t"]), truth=truth, articles=arts,
                     reasons=reasons, agents=agents, log_format=log_format, feed=feed, labels=labels_path)
    log.info("%s: %d files, %d lines, %d human article views", out_dir, len(files), sim.lines, len(truth))
    return sim


def _check_out_dir(out_dir: str, names: list[str]) -> None:
    if not os.path.isdir(out_dir):
        return
    from ..files import log_files

    ours = set(names)
    others = [os.path.basename(p) for p in log_files(out_dir) if os.path.basename(p) not in ours]
    if others:
        raise ValueError(
            f"{out_dir} already holds access logs this simulation would not overwrite "
            f"({', '.join(others[:3])}{', ...' if len(others) > 3 else ''}); they would be read with "
            "the new ones: give an empty directory"
        )


def _bursty(visitor: np.ndarray, ts: np.ndarray, k: int = 20) -> set[int]:
    """Visitors with more than ``k`` candidate views within 60 s (the ``too_fast`` rule)."""
    o = np.lexsort((ts, visitor))
    v, t = visitor[o], ts[o]
    burst = (v[k:] == v[:-k]) & (t[k:] - t[:-k] < 60_000)
    return set(v[k:][burst].tolist())


def _check_behaviour(ev: dict[str, np.ndarray], designed: np.ndarray, g: Gen) -> None:
    """Make sure the behaviour rules give each line its designed outcome (else: a bug here).

    Checked at millisecond and at second resolution, whatever the log format.
    """
    robots_req = np.array([r[2] == "/robots.txt" for r in g.tab.reqs.values] + [False])
    robots = robots_req[ev["req"]]
    width = len(g.tab.uas) + 1
    pair = ev["ip"] * width + ev["ua"] + 1
    caught = np.isin(pair, pair[robots]) | np.isin(ev["ck"], ev["ck"][robots & (ev["ck"] >= 0)])
    cand = np.isin(designed, (VIEW, ROBOTS, TOO_FAST))
    if (cand & (caught != (designed == ROBOTS))).any():
        raise RuntimeError("the robots_txt rule does not catch exactly the lines designed for it")
    for code, want in ((VIEW, False), (TOO_FAST, True)):
        rows = np.flatnonzero(designed == code)
        vis = ev["ck"][rows]
        for ts in (ev["t"][rows], ev["t"][rows] // 1000 * 1000):
            fast = _bursty(vis, ts)
            if want and set(vis.tolist()) - fast:
                raise RuntimeError("a fast scraper does not read 21 articles within a minute")
            if not want and fast:
                raise RuntimeError("a reader reads more than 20 articles within a minute")

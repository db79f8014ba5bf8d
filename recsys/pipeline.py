"""The nightly job as one call: :func:`run` reads, mines and ranks; :meth:`Run.write` publishes.

>>> import recsys, tempfile
>>> result = recsys.run("data/sample/", recsys.Settings.from_mapping(evaluate=False), cache=False)
>>> result.counts["views"], len(result.lists) > 0
(6150, True)
>>> out = tempfile.mkdtemp()
>>> result.write(out).published
True

``python -m recsys.mine`` is this and nothing else: its options make a :class:`recsys.Settings`,
``run`` does the work and ``write`` publishes every output atomically (``related.json``,
``next.json``, the report, the rules, the blog files), unless the result looks degenerate next to
what is published (:mod:`recsys.guard`): then only ``report.json`` is written, saying what was kept and why.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from .accounting import Accounting
from .atomic import atomic_write
from .blog import export_blog
from .cache import cached_page_views, default_cache_dir, salt
from .errors import RecsysError
from .evaluation import MEANS, evaluate, split
from .export import _titles_of, next_json, pseudonymize, related_json, write_related, write_table
from .guard import Verdict, judge, listed_with_rules, read_published
from .model import Model, train
from .progress import progress_bar
from .redact import redact_examples
from .sequences import Sequences
from .settings import Settings
from .titles import load_titles, plain_text
from .urls import with_form
from .views import read_page_views

__all__ = ["run", "Run", "Publication", "OUTPUTS"]

log = logging.getLogger(__name__)

#: What a run writes into its folder besides report.json (what a refused run keeps as it was).
OUTPUTS = ("related.json", "next.json", "rules.csv", "rules.parquet", "sequences.parquet", "itemsets.parquet", "sessions.parquet",
           "views.parquet", "blog")


class _Clock:
    """Seconds per stage, in the order they ran."""

    def __init__(self) -> None:
        self.start = self.last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(self.laps.get(name, 0.0) + now - self.last, 3)
        self.last = now

    def total(self) -> float:
        return round(time.perf_counter() - self.start, 3)


@dataclass
class Publication:
    """What :meth:`Run.write` did: published, or kept the outputs already there, and why."""

    published: bool
    forced: bool
    verdict: Verdict
    folder: Path
    kept: list[str] = field(default_factory=list)

    def record(self, settings: Settings, published: dict | None) -> dict[str, Any]:
        """What report.json records of it."""
        v = self.verdict
        return {
            "published": self.published, "forced": self.forced, "problem": v.problem, "check": v.check,
            "articles_with_rules": v.articles_with_rules,
            "published_articles_with_rules": v.published_articles_with_rules, "counted": v.counted,
            "published_generated": published.get("generated") if published else None,
            "min_lists_kept": settings.output.min_lists_kept, "kept": self.kept,
        }


@dataclass
class Run:
    """The result of :func:`run`: every stage's output, the accounting, the counts and the timings.

    Attributes
    ----------
    settings : Settings
    engine : str
        ``"local"`` or ``"spark"``.
    accounting : Accounting
        Where every log line went; with the files read, their formats, what came from the cache
        and the canonical URL form.
    views, sessions : DataFrame
        The page views and the baskets (pandas; Spark DataFrames under the Spark engine).
    itemsets, rules : pandas.DataFrame
    popular : pandas.Series
    lists : pandas.DataFrame
        The per-article lists (:meth:`recsys.Model.lists`).
    titles : pandas.Series or None
    evaluation : pandas.DataFrame or None
        :func:`recsys.evaluate` against popularity, on at most ``settings.evaluation.max_cases``
        test cases, with the intervals of its metrics; or None with the reason in
        ``evaluation_skipped``.
    counts : dict
    timings : dict
        Seconds per stage (``read``, ``sessions``, ``itemsets``, ``rules``, ``recommend``,
        ``evaluate``; ``write`` and ``total`` once written).
    generated : datetime
    ordered : Sequences or None
        The sequential pair rules that rank the lists and their articles (``ranking =
        "sequences"``): what ``sequences.parquet`` and ``next.json`` are made of.
    sequences : pandas.DataFrame or None
        Their rules, with their measures (``ordered.rules``; written to sequences.parquet).
    tuning : Tuning or None
        What the nightly tuning chose for them and why (report.json's ``tuning``).
    """

    settings: Settings
    engine: str
    accounting: Accounting
    views: Any
    sessions: Any
    itemsets: pd.DataFrame
    rules: pd.DataFrame
    popular: pd.Series
    lists: pd.DataFrame
    titles: pd.Series | None
    evaluation: pd.DataFrame | None
    evaluation_skipped: str | None
    counts: dict[str, int]
    timings: dict[str, float]
    generated: datetime
    salt: bytes = field(repr=False, default=b"")
    engine_info: dict[str, Any] | None = None
    ordered: Sequences | None = None
    tuning: Any = None
    _clock: _Clock | None = field(default=None, repr=False)

    def related(self) -> dict:
        """The ``related.json`` document (:func:`recsys.related_json`)."""
        return related_json(self.lists, article_pattern=self.settings.views.article_pattern, titles=self.titles,
                            params=self.settings.params(), generated=self.generated)

    @property
    def sequences(self) -> pd.DataFrame | None:
        return None if self.ordered is None else self.ordered.rules

    def next(self) -> dict | None:
        """The ``next.json`` document (:func:`recsys.export.next_json`): what the widget ranks a
        reader's own history with; None unless the lists are ranked by the sequential rules."""
        if self.ordered is None:
            return None
        r = self.settings.recommending
        return next_json(self.ordered, k=r.k, recent=r.recent,
                         max_rules=r.max_rules, article_pattern=self.settings.views.article_pattern,
                         titles=self.titles, generated=self.generated)

    def report(self, publication: dict | None = None) -> dict:
        """The ``report.json`` document: parameters, counts, timings, accounting, evaluation."""
        acc = self.accounting.to_dict()  # the report keeps how each file was read and the URL form apart
        cache = {f["path"]: f.pop("cache") for f in acc["files"] if "cache" in f} or None
        url_form = acc.pop("url_form", None)
        evaluation = None
        if self.evaluation is not None:
            keep = ["method", "k", "cases", "test_cases",
                    *[c for m in MEANS for c in (m, f"{m}_low", f"{m}_high")], "coverage", "popularity"]
            evaluation = json.loads(self.evaluation[keep].to_json(orient="records"))
        report = {
            "version": 1, "generated": self.generated.strftime("%Y-%m-%dT%H:%M:%SZ"), "engine": self.engine,
            "params": self.settings.params(), "counts": self.counts, "timings": self.timings,
            "accounting": redact_examples(acc, also=_configured_formats(self.settings)),
            "cache": cache, "trailing_slash": url_form,
            "evaluation": evaluation, "evaluation_skipped": self.evaluation_skipped,
            "tuning": None if self.tuning is None else self.tuning.record(),
        }
        if publication is not None:
            report["publication"] = publication
        if self.engine_info:
            report[self.engine] = self.engine_info
        return report

    def write(self, out: str | os.PathLike, *, force: bool | None = None) -> Publication:
        """Write every output into ``out``, each file atomically; or, when the result looks
        degenerate next to the ``related.json`` already there, only ``report.json``.

        ``force`` (default: ``settings.output.force``) publishes whatever the guard says. The
        returned :class:`Publication` says which; :func:`recsys.mine` exits 1 when not published.
        """
        force = self.settings.output.force if force is None else force
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        document = self.related()
        published = read_published(folder / "related.json")
        verdict = judge(self._guard_report(), published, min_lists_kept=self.settings.output.min_lists_kept)
        publish = verdict.publish or force
        if publish:
            self._write_outputs(folder, document)
        pub = Publication(publish, publish and not verdict.publish, verdict, folder,
                          [] if publish else [n for n in OUTPUTS if (folder / n).exists()])
        ran = self.timings.get("total", 0.0) - self.timings.get("write", 0.0)  # the job's wall time before writing
        self.timings["write"] = round(time.perf_counter() - started, 3)
        self.timings["total"] = round(ran + self.timings["write"], 3)
        with atomic_write(folder / "report.json", "w", encoding="utf-8") as f:
            json.dump(self.report(pub.record(self.settings, published)), f, indent=2, default=str)
            f.write("\n")
        return pub

    def summary(self, *, top: int = 10) -> str:
        """The accounting, the counts, the evaluation and the lists of the ``top`` most read articles.

        With :attr:`titles` (``--titles``), a list reads "Taming file permissions with systemd →
        Notes on swap · …": each article by its title, or by its URL where the titles lack it.
        """
        c, t, lists = self.counts, self.timings, self.lists
        out = [self.accounting.summary(), "",
               f"{c['visitors']:,} visitors read {c['articles']:,} articles in {c['sessions']:,} baskets "
               f"({c['sessions_with_2_or_more']:,} with two or more articles); {c['itemsets']:,} itemsets, "
               f"{c['rules']:,} rules; lists for {c['articles_with_lists']:,} articles "
               f"({c['articles_with_rules']:,} with recommendations from rules; "
               f"{c['recommendations_from_rules'] / max(len(lists), 1):.0%} of the entries are from rules, "
               f"the rest are popular articles filling short lists)"]
        for row in [] if self.evaluation is None else self.evaluation.to_dict("records"):
            out.append(f"  {row['method']:>8}: HR@{row['k']} {_plus_minus(row, 'hr')}  "
                       f"MRR@{row['k']} {_plus_minus(row, 'mrr')}  coverage {row['coverage']:.0%}  "
                       f"({row['cases']:,} of {row['test_cases']:,} test cases)")
        if self.evaluation_skipped:
            out.append(f"  evaluation skipped: {self.evaluation_skipped}")
        if self.tuning is not None:
            out.append(f"  tuning: {self.tuning.why}")
        if top:
            shown = list(self.popular.index[:top])
            out += ["", f"readers of the {len(shown)} most read articles also read:"]
            by_item = {item: g.sort_values("rank") for item, g in lists[lists["item"].isin(shown)].groupby("item")}
            name, arrow, comma = self._namer()
            for item in shown:
                if item in by_item:
                    g = by_item[item]
                    out.append(f"  {name(item)}{arrow}" + comma.join(name(u) + ("" if s == "rules" else "*")
                                                                   for u, s in zip(g["url"], g["source"])))
            out.append("  (* popular fill)")
        mine = sum(t.get(k, 0.0) for k in ("sessions", "itemsets", "rules", "tuning", "sequences"))
        out += ["", f"{t.get('total', 0.0):.1f} s: read {t.get('read', 0.0):.1f} s, mine {mine:.1f} s, "
                    f"evaluate {t.get('evaluate', 0.0):.1f} s, write {t.get('write', 0.0):.1f} s"]
        return "\n".join(out)

    def _namer(self):
        """How the summary names an article (its title when known, else its URL), and the separators
        (titles hold commas: they are set apart by a middle dot)."""
        if self.titles is None or not len(self.titles):
            return str, ": ", ", "
        given, bare = _titles_of(self.titles)  # found whichever trailing-slash form they take

        def name(url: str) -> str:
            title = given[url] if url in given else bare.get(with_form(url, "strip"))
            return plain_text(title) or url

        return name, " → ", " · "

    def _guard_report(self) -> dict:
        return {"counts": self.counts, "accounting": self.accounting.to_dict(), "params": self.settings.params()}

    def _write_outputs(self, folder: Path, document: dict) -> None:
        if self.engine == "spark":
            from .spark import write_datasets

            write_datasets(self, folder)
        else:
            hashed: dict = {}  # each visitor hashed once, for the views and the sessions
            write_table(self.views.assign(visitor=pseudonymize(self.views["visitor"], self.salt, memo=hashed))
                        .drop(columns=["ip"]), folder / "views.parquet")
            write_table(self.sessions.assign(visitor=pseudonymize(self.sessions["visitor"], self.salt, memo=hashed))
                        .drop(columns=["network"]), folder / "sessions.parquet")
        write_table(self.itemsets, folder / "itemsets.parquet")
        write_table(self.rules, [folder / "rules.parquet", folder / "rules.csv"])  # the sets sorted once
        following = self.next()
        # without the sequence ranking an earlier run's files would explain and rank lists not published
        for name, content, write in (("sequences.parquet", self.sequences, write_table),
                                     ("next.json", following, lambda doc, path: write_related(path, doc, compact=True))):
            if content is not None:
                write(content, folder / name)
            else:
                (folder / name).unlink(missing_ok=True)
        write_related(folder / "related.json", document)
        if self.settings.output.export:
            export_blog(document, folder / "blog", formats=self.settings.output.export,
                        article_pattern=self.settings.views.article_pattern, following=following)


def _plus_minus(row: dict, metric: str) -> str:
    """``0.370 ± 0.020``: the metric and the larger half of its 95% interval (the interval is
    symmetric unless clipped at 0 or 1); the metric alone when it has no interval."""
    value, low, high = row[metric], row[f"{metric}_low"], row[f"{metric}_high"]
    if pd.isna(low) or pd.isna(high):
        return f"{value:.3f}"
    return f"{value:.3f} ± {max(value - low, high - value):.3f}"


def counts_of(accounting: Accounting, model: Model, lists: pd.DataFrame, *, visitors: int, articles: int,
              sessions: int | None = None, sessions_2: int | None = None) -> dict:
    """The counts report.json holds and the summary prints (``sessions`` and ``sessions_2``, the
    baskets and those of two articles or more, are counted from ``model.sessions`` if not given)."""
    if sessions is None:
        sessions, sessions_2 = len(model.sessions), int((model.sessions["items"].map(len) >= 2).sum())
    from_rules = lists["source"] == "rules"
    # what the guard counts under ranking = "sequences": lists from trusted rules
    trusted = None if model.sequences is None else listed_with_rules(lists, min_count=model.sequences.params["tier_min"])
    return {
        "lines": accounting.lines, "views": accounting.views, "visitors": visitors, "articles": articles,
        "sessions": sessions, "sessions_with_2_or_more": int(sessions_2),
        "baskets_dropped_long": model.dropped_long, "itemsets": len(model.itemsets), "rules": len(model.rules),
        "sequence_rules": 0 if model.sequences is None else len(model.sequences.rules),
        "articles_with_lists": int(lists["item"].nunique()),
        "articles_with_rules": listed_with_rules(lists),
        "articles_with_trusted_rules": trusted,
        "recommendations_from_rules": int(from_rules.sum()),
        "recommendations_popular": int((lists["source"] == "popular").sum()),
    }


def run(logs, settings: Settings | None = None, *, engine: str = "local",
        cache: str | os.PathLike | bool | None = None, refresh: bool = False,
        progress: bool | None = None) -> Run:
    """The nightly job: read the logs, keep the page views, mine, rank, evaluate.

    Parameters
    ----------
    logs : path, directory, ``"-"`` or a list of them
        As :func:`recsys.read_logs`.
    settings : Settings, optional
        Every setting (the defaults otherwise).
    engine : {"local", "spark"}
        Where the work runs; the Spark engine takes ``settings.spark``.
    cache : path, bool or None
        The cache folder (``None`` or ``True``: :func:`recsys.cache.default_cache_dir`; ``False``: the
        default folder with ``refresh``). The salt of the visitor hashes is kept there either way.
    refresh : bool
        Read every file again and rewrite its cache entry (the command's ``--no-cache``).
    progress : bool, optional
        Progress bars (default: when standard error is a terminal).

    Returns
    -------
    Run
    """
    settings = settings or Settings()
    if engine not in ("local", "spark"):
        raise RecsysError(f"engine must be 'local' or 'spark'; got {engine!r}")
    folder = default_cache_dir() if cache in (None, False, True) else Path(cache)
    titles = _titles(settings)  # before the long part: a wrong file fails at once
    if engine == "spark":
        from .spark import run_spark

        return run_spark(logs, settings, salt=salt(folder), titles=titles, progress=progress)
    clock = _Clock()
    acc = Accounting()
    read = settings.reading
    read_options = {"log_format": read.log_format, "nginx_conf": read.nginx_conf, "format_name": read.format_name,
                    "cookie": read.cookie}
    view_options = view_options_of(settings)
    logs_list = [logs] if isinstance(logs, (str, os.PathLike)) else list(logs)
    if [os.fspath(p) for p in logs_list] == ["-"]:
        views = read_page_views(logs_list, accounting=acc, progress=progress, read_options=read_options,
                                **view_options)
    else:
        views = cached_page_views(logs_list, cache_dir=folder, accounting=acc, progress=progress,
                                  read_options=read_options, refresh=refresh or cache is False,
                                  **view_options)
    acc.check()
    clock.lap("read")
    cutoff, why = _evaluation_plan(views, settings)
    with progress_bar(total=1, desc="mining", enable=progress):
        # one tuning a night: on the evaluation's training days, so that it serves both models
        model = train(views, settings, tune_before=cutoff)
    for name, seconds in model.timings.items():
        clock.laps[name] = seconds
    clock.last = time.perf_counter()
    lists = model.lists(settings)
    clock.lap("recommend")
    evaluation = None if cutoff is None else evaluate(
        views, settings=settings, k=settings.recommending.k, cutoff=cutoff, methods=("rules", "popular"),
        max_cases=settings.evaluation.max_cases or None, model=model, progress=progress)
    clock.lap("evaluate")
    counts = counts_of(acc, model, lists, visitors=int(views["visitor"].nunique()),
                       articles=int(views["url"].nunique()))
    clock.laps["total"] = clock.total()
    return Run(settings, "local", acc, views, model.sessions, model.itemsets, model.rules, model.popular, lists,
               titles, evaluation, why, counts, dict(clock.laps), datetime.now(timezone.utc), salt(folder),
               ordered=model.sequences, tuning=model.tuning)


def view_options_of(settings: Settings) -> dict[str, Any]:
    """The keyword arguments of :func:`recsys.page_views` the settings give."""
    v = settings.views
    return {"article_pattern": v.article_pattern, "trailing_slash": v.trailing_slash, "keep_query": v.keep_query,
            "visitor": v.visitor, "max_per_minute": v.max_per_minute, "statuses": v.statuses,
            "methods": v.methods, "drop_bots": v.drop_bots}


def _titles(settings: Settings) -> pd.Series | None:
    if not settings.output.titles:
        return None
    titles = load_titles(settings.output.titles, article_pattern=settings.views.article_pattern,
                         trailing_slash=settings.views.trailing_slash)
    log.info("%d titles from %s", len(titles), settings.output.titles)
    return titles


def _evaluation_plan(views: pd.DataFrame, settings: Settings) -> tuple[pd.Timestamp | None, str | None]:
    """The cut-off of the nightly evaluation (its last ``test_days`` test), or None and why it is skipped."""
    e = settings.evaluation
    if not e.evaluate:
        return None, "evaluate = false (--no-evaluate)"
    if len(views) == 0:
        return None, "no page views"
    span = (views["ts"].max() - views["ts"].min()).total_seconds() / 86400
    if span < e.min_days:
        return None, (f"the page views span {span:.2f} days, {e.min_days - span:.2f} days short of the "
                      f"{e.min_days:g} an evaluation needs (a test of {e.test_days:g} days after as much training)")
    return split(views, test_days=e.test_days)[0][0], None


def _configured_formats(settings: Settings) -> list:
    """The log formats the settings name (to find the fields of malformed lines), if they name some."""
    from .logs import fixed_formats

    r = settings.reading
    try:
        return fixed_formats(r.log_format, r.nginx_conf, r.format_name) or []
    except (RecsysError, OSError):
        return []

"""The command line: ``python -m recsys.mine LOGS... [options] --out DIR``.

The nightly job: read the logs (only what is new, thanks to the cache), keep the article page
views, group them into sessions, mine itemsets and rules, turn them into "readers also read" lists,
evaluate them against the popularity baseline when the logs span enough days, and write every
output atomically into DIR. Options can also come from a TOML file (``--config``); the command
line wins.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import itertools
import json
import logging
import os
import shlex
import sys
import tempfile
import time
import tomllib
import traceback
from typing import Callable, Iterator

import pandas as pd

from .accounting import Accounting
from .atomic import atomic_write, remove_stale_temps
from .blog import BLOG_FORMATS, export_blog
from .cache import cached_page_views, default_cache_dir, salt
from .errors import RecsysError
from .evaluation import evaluate
from .export import pseudonymize, related_json, write_related, write_table
from .formats import LogFormat, resolve_log_format
from .guard import MIN_LISTS_KEPT, Verdict, judge, read_published
from .options import blog_formats, count, duration, fraction, pattern, positive, spark_setting, support
from .itemsets import apriori, eclat
from .progress import progress_bar
from .recommend import audience, popularity, recommend
from .redact import redact_examples
from .rules import MEASURES, association_rules
from .sessions import baskets, sessionize
from .titles import load_titles
from .urls import ARTICLE_PATTERNS
from .views import read_page_views

log = logging.getLogger("recsys")

EXAMPLE = """\
example (the nightly job, from cron):
  python -m recsys.mine /var/log/nginx/ --out /srv/recsys/out/ --quiet   # then publish out/related.json
  python -m recsys.mine access.log.gz --log-format combined_ut --min-support 0.002 --k 8
  python -m recsys.mine /var/log/nginx/ --config /etc/recsys.toml
  python -m recsys.mine /var/log/nginx/ --titles /var/www/blog/public/index.xml --export hugo,widget
"""
#: The days the logs must span for the report to hold an evaluation (one week tested after at
#: least one week of training).
EVALUATE_DAYS = 14
#: The lock a run holds on its output folder.
LOCK_NAME = ".recsys.lock"


def _cli(check: Callable) -> Callable[[str], object]:
    """``check`` as an argparse ``type``: its ValueError becomes a usage error."""
    def parse(text: str) -> object:
        try:
            return check(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    parse.check = check
    return parse


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m recsys.mine",
        description="Mine 'readers of this post also read' recommendations from nginx access logs.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("logs", nargs="*", metavar="LOGS",
                   help="log files (.gz too), directories of rotated logs, or - for standard input")
    p.add_argument("--config", metavar="FILE", help="read options from this TOML file (the command line wins)")
    g = p.add_argument_group("reading logs")
    g.add_argument("--log-format", action="append", metavar="FMT",
                   help="a preset (combined, combined_ut, tsv, json), an nginx log_format string "
                        "as in nginx.conf, or auto (default); repeat it for files that hold several formats")
    g.add_argument("--nginx-conf", metavar="FILE", help="read the log_format from this nginx configuration")
    g.add_argument("--format-name", action="append", metavar="NAME",
                   help="which log_format of --nginx-conf to use (repeatable)")
    g.add_argument("--cookie", default="UT_ID", help="the visitor cookie's name (default: UT_ID)")
    g.add_argument("--cache", metavar="DIR", help=f"where parsed files are kept between runs (default: {default_cache_dir()})")
    g.add_argument("--no-cache", action="store_true", help="read every file again and rewrite its cache entry")
    g = p.add_argument_group("page views")
    g.add_argument("--article-pattern", type=_cli(pattern), default="openresty", metavar="P",
                   help=f"{', '.join(ARTICLE_PATTERNS)} or a regular expression (default: openresty)")
    g.add_argument("--trailing-slash", choices=["strip", "add", "keep"],
                   help="canonical URL form (default: the preset's; for a regular expression, the blog's, "
                        "read from the logs)")
    g.add_argument("--keep-query", action="append", default=[], metavar="PARAM",
                   help="a query parameter that is part of an article's URL (repeatable)")
    g.add_argument("--visitor", choices=["cookie", "ip+ua"], default="cookie",
                   help="identify readers by the cookie (default) or by address and user agent")
    g.add_argument("--max-per-minute", type=_cli(count(1)), default=20, metavar="N",
                   help="drop visitors reading more articles than this in a minute (default: 20)")
    g = p.add_argument_group("sessions and mining")
    g.add_argument("--gap", type=_cli(duration), default="30min", help="inactivity that ends a session (default: 30min)")
    g.add_argument("--basket", choices=["session", "visitor"], default="session",
                   help="mine sessions (default) or each visitor's whole history")
    g.add_argument("--max-items", type=_cli(count(1)), default=50, metavar="N",
                   help="drop baskets of more articles than this (default: 50)")
    g.add_argument("--min-support", type=_cli(support), default=3, metavar="S",
                   help="a fraction of the baskets (0.002) or a number of baskets (3, the default)")
    g.add_argument("--min-confidence", type=_cli(fraction), default=0.05, metavar="C",
                   help="keep rules at least this confident (default: 0.05)")
    g.add_argument("--max-len", type=_cli(count(1)), default=3, metavar="K",
                   help="the largest itemset mined (default: 3: rules from up to two articles)")
    g.add_argument("--algorithm", choices=["eclat", "apriori"], default="eclat",
                   help="the frequent-itemset miner (default: eclat; both give the same itemsets)")
    g = p.add_argument_group("recommendations")
    g.add_argument("--k", type=_cli(count(1)), default=5, metavar="N", help="articles per list (default: 5)")
    g.add_argument("--rank-by", choices=[m for m in MEASURES if m not in ("count", "p_value")], default="confidence",
                   help="the measure that ranks candidates (default: confidence)")
    g.add_argument("--min-count", type=_cli(count(1)), default=3, metavar="N",
                   help="distinct readers a rule needs (default: 3)")
    g.add_argument("--min-networks", type=_cli(count(0)), default=3, metavar="N",
                   help="distinct networks (/24, /48) those readers need (default: 3; 0: no check)")
    g.add_argument("--lift-above-one", action="store_true", help="keep only rules with lift above 1")
    g.add_argument("--popular-days", type=_cli(positive), default=7, metavar="D",
                   help="fill short lists with the most read articles of the last D days (default: 7)")
    g = p.add_argument_group("engine")
    g.add_argument("--engine", choices=["local", "spark"], default="local",
                   help="run on this machine (default) or on Apache Spark (pip install 'recsys[spark]')")
    g.add_argument("--spark-master", metavar="URL",
                   help="the Spark master: local[*] (default), yarn, spark://host:7077, k8s://... "
                        "(under spark-submit, its --master)")
    g.add_argument("--spark-conf", type=_cli(spark_setting), action="append", default=[], metavar="KEY=VALUE",
                   help="a Spark setting passed through (repeatable), e.g. spark.executor.memory=8g")
    g.add_argument("--spark-datasets", metavar="URI",
                   help="under Spark, write the views and sessions datasets here (s3a://..., hdfs://...) "
                        "rather than into DIR, which executors on other machines cannot see")
    g = p.add_argument_group("output")
    g.add_argument("--out", metavar="DIR", default="out",
                   help="write the outputs into DIR (default: out/): related.json, report.json, "
                        "views, sessions, itemsets and rules as Parquet, rules.csv")
    g.add_argument("--titles", metavar="FILE",
                   help="article titles for the lists: the blog's RSS or Atom feed, a Google News sitemap, "
                        "or a CSV of url,title")
    g.add_argument("--export", type=_cli(blog_formats), default=(), metavar="FORMATS",
                   help=f"also write the blog's files into DIR/blog/: a comma-separated list of "
                        f"{', '.join(BLOG_FORMATS)}, or all")
    g.add_argument("--no-evaluate", action="store_true",
                   help=f"skip the evaluation against popularity (done when the logs span {EVALUATE_DAYS} days)")
    g.add_argument("--top", type=_cli(count(0)), default=10, metavar="N", help="print the lists of the N most read articles (default: 10)")
    g.add_argument("--quiet", "-q", action="store_true", help="no progress bars, only errors and the summary")
    g.add_argument("--verbose", "-v", action="store_true", help="log what happens")
    g = p.add_argument_group("publication guard")
    g.add_argument("--min-lists-kept", type=_cli(fraction), default=MIN_LISTS_KEPT, metavar="F",
                   help="keep the published outputs when the new run has lists from rules for fewer than F "
                        f"times the articles of the published related.json (default: {MIN_LISTS_KEPT}; 0: no "
                        "comparison)")
    g.add_argument("--force", action="store_true",
                   help="publish even a result that looks broken (no page views, no rules, far fewer lists)")
    return p


def _config_defaults(parser: argparse.ArgumentParser, path: str) -> dict:
    """The options of a TOML file (keys as the long options, - or _), checked against the parser."""
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        parser.error(f"--config: cannot read {path}: {e.strerror}")
    except tomllib.TOMLDecodeError as e:
        parser.error(f"--config: {path} is not valid TOML: {e}")
    known = {a.dest: a for a in parser._actions if a.dest not in ("help", "config")}
    out = {}
    for key, value in data.items():
        dest = key.replace("-", "_")
        if dest not in known:
            parser.error(f"--config: unknown option {key!r} in {path}; options: {', '.join(sorted(known))}")
        out[dest] = _config_value(parser, known[dest], key, value, path)
    return out


def _config_value(parser: argparse.ArgumentParser, action: argparse.Action, key: str, value: object, path: str):
    """A TOML value checked as its option's text on the command line would be."""
    def wrong(expected: str):
        kind = _TOML_TYPES.get(type(value), type(value).__name__)
        parser.error(f"--config: {key} must be {expected}; got {value!r} (a TOML {kind}) in {path}")

    check = getattr(action.type, "check", None)
    if action.nargs == 0:  # a flag
        if not isinstance(value, bool):
            wrong("true or false")
        return value
    many = isinstance(action, argparse._AppendAction) or action.nargs == "*"  # logs, --keep-query, --spark-conf
    if many:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
            wrong("a string or a list of strings")
        values = items
    else:
        types, expected = (check.toml, check.expected) if check else ((str,), "a string")
        if isinstance(value, bool) or not isinstance(value, types):
            wrong(expected)
        values = [value]
    if check:
        try:
            values = [check(v) for v in values]
        except ValueError as e:
            parser.error(f"--config: {key} = {value!r} in {path}: {e}")
    if action.choices is not None and values[0] not in action.choices:
        parser.error(f"--config: {key} must be one of {', '.join(map(str, action.choices))}; got {value!r}")
    return values if many else values[0]


_TOML_TYPES = {str: "string", int: "integer", float: "float", bool: "boolean", list: "array", dict: "table"}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = build_parser()
    first = parser.parse_args(argv)
    if first.config:
        parser.set_defaults(**_config_defaults(parser, first.config))
    args = parser.parse_args(argv)
    if not args.logs:
        parser.error("give LOGS (files, directories or -), on the command line or as logs = [...] in --config")
    args.log_format = _one_or_list(args.log_format, "auto")
    args.format_name = _one_or_list(args.format_name, None)
    return args


def _one_or_list(values: list[str] | None, default):
    """A repeatable option: its default, its one value, or the list of its values."""
    if not values:
        return default
    return values[0] if len(values) == 1 else list(values)


def _params(args: argparse.Namespace) -> dict:
    """The effective options, as recorded in related.json and report.json."""
    skip = {"logs", "config", "quiet", "verbose", "out", "cache", "no_cache", "top", "no_evaluate", "engine",
            "spark_master", "spark_conf", "spark_datasets", "titles", "export", "force", "min_lists_kept"}
    return {k: v for k, v in sorted(vars(args).items()) if k not in skip}


def _options(args: argparse.Namespace) -> tuple[dict, dict]:
    read_options = {"log_format": args.log_format, "nginx_conf": args.nginx_conf,
                    "format_name": args.format_name, "cookie": args.cookie}
    view_options = {"article_pattern": args.article_pattern, "trailing_slash": args.trailing_slash,
                    "keep_query": tuple(args.keep_query), "visitor": args.visitor,
                    "max_per_minute": args.max_per_minute}
    return read_options, view_options


def _mine_local(args: argparse.Namespace, lap, progress, secret: bytes) -> dict:
    read_options, view_options = _options(args)
    acc = Accounting()
    if args.logs == ["-"]:
        views = read_page_views(args.logs, accounting=acc, progress=progress, read_options=read_options,
                                **view_options)
    else:  # --no-cache reads every file again and rewrites its entry
        views = cached_page_views(args.logs, cache_dir=args.cache or default_cache_dir(), accounting=acc,
                                  progress=progress, read_options=read_options, refresh=args.no_cache, **view_options)
    acc.check()
    lap("read")
    with progress_bar(total=3, desc="mining", enable=progress) as bar:
        sessions = sessionize(views, gap=args.gap, basket=args.basket, max_items=args.max_items)
        lap("sessions"), bar.update(1)
        miner = eclat if args.algorithm == "eclat" else apriori
        itemsets = miner(baskets(sessions), min_support=args.min_support, max_len=args.max_len)
        lap("itemsets"), bar.update(1)
        rules = audience(association_rules(itemsets, min_threshold=args.min_confidence), sessions)
        lap("rules"), bar.update(1)

    def write(out: str) -> None:
        write_table(views.assign(visitor=pseudonymize(views["visitor"], secret)).drop(columns=["ip"]),
                    os.path.join(out, "views.parquet"))
        write_table(sessions.assign(visitor=pseudonymize(sessions["visitor"], secret)).drop(columns=["network"]),
                    os.path.join(out, "sessions.parquet"))

    return {
        "acc": acc, "itemsets": itemsets, "rules": rules, "views": views, "write": write,
        "popular": popularity(views, days=args.popular_days),
        "visitors": int(views["visitor"].nunique()), "articles": int(views["url"].nunique()),
        "sessions": len(sessions), "sessions_2": int((sessions["items"].map(len) >= 2).sum()),
        "dropped_long": sessions.attrs["dropped_long"],
    }


def _mine_spark(args: argparse.Namespace, lap, progress, secret: bytes) -> dict:
    from .spark import spark_pipeline, spark_session, write_dataset

    if args.algorithm != "eclat":
        log.info("the Spark engine mines with FPGrowth (the same itemsets): --algorithm is not used")
    read_options, view_options = _options(args)
    conf = dict(item.split("=", 1) for item in args.spark_conf)
    spark = spark_session(args.spark_master, conf)
    result = spark_pipeline(
        spark, args.logs, **read_options, **view_options, gap=args.gap, basket=args.basket,
        max_items=args.max_items, min_support=args.min_support, max_len=args.max_len,
        min_confidence=args.min_confidence, popular_days=args.popular_days,
    )
    lap("read")
    from pyspark.sql import functions as F

    counts = result.views.agg(F.countDistinct("visitor").alias("v"), F.countDistinct("url").alias("a")).collect()[0]
    multi = result.sessions.filter(F.size("items") >= 2).count()

    def write(out: str) -> None:
        where = args.spark_datasets.rstrip("/") + "/" if args.spark_datasets else os.path.join(out, "")
        write_dataset(result.views.drop("ip"), where + "views.parquet", secret)
        write_dataset(result.sessions.drop("network"), where + "sessions.parquet", secret)

    return {
        "acc": result.accounting, "itemsets": result.itemsets, "rules": result.rules, "views": None, "write": write,
        "popular": result.popular, "visitors": int(counts["v"]), "articles": int(counts["a"]),
        "spark": {"master": spark.sparkContext.master, "version": spark.version},
        "sessions": result.n_baskets, "sessions_2": int(multi), "dropped_long": result.dropped_long,
    }


def run(args: argparse.Namespace) -> dict:
    """The whole job; returns what the summary prints and report.json holds."""
    started = time.perf_counter()
    timings: dict[str, float] = {}
    tick = [started]

    def lap(name: str) -> None:
        now = time.perf_counter()
        timings[name] = round(now - tick[0], 3)
        tick[0] = now

    progress = False if args.quiet else None
    titles = None
    if args.titles:  # before the long part: a wrong file fails at once
        titles = load_titles(args.titles, article_pattern=args.article_pattern, trailing_slash=args.trailing_slash)
        log.info("%d titles from %s", len(titles), args.titles)
    secret = salt(args.cache or default_cache_dir())
    mined = (_mine_spark if args.engine == "spark" else _mine_local)(args, lap, progress, secret)
    acc, itemsets, rules, pop = mined["acc"], mined["itemsets"], mined["rules"], mined["popular"]
    recs = recommend(rules, k=args.k, min_count=args.min_count, min_networks=args.min_networks or None,
                     lift_above_one=args.lift_above_one, rank_by=args.rank_by, popular=pop)
    lap("recommend")
    params = _params(args)
    document = related_json(recs, article_pattern=args.article_pattern, titles=titles, params=params)
    counts = {
        "lines": acc.lines, "views": acc.views, "visitors": mined["visitors"], "articles": mined["articles"],
        "sessions": mined["sessions"], "sessions_with_2_or_more": mined["sessions_2"],
        "baskets_dropped_long": mined["dropped_long"], "itemsets": len(itemsets), "rules": len(rules),
        "articles_with_lists": len(document["items"]),
        "articles_with_rules": int(recs.loc[recs["source"] == "rules", "item"].nunique()),
        "recommendations_from_rules": int((recs["source"] == "rules").sum()),
        "recommendations_popular": int((recs["source"] == "popular").sum()),
    }
    accounting = acc.to_dict()  # the report keeps how each file was read and the URL form apart
    cache = {f["path"]: f.pop("cache") for f in accounting["files"] if "cache" in f} or None
    url_form = accounting.pop("url_form")
    report = {
        "version": 1, "generated": document["generated"], "engine": args.engine, "params": params,
        "counts": counts, "timings": timings,
        "accounting": redact_examples(accounting, also=_configured_formats(args)), "cache": cache,
        "trailing_slash": url_form,
    }
    os.makedirs(args.out, exist_ok=True)
    out = lambda name: os.path.join(args.out, name)
    published = read_published(out("related.json"))
    verdict = judge(report, published, min_lists_kept=args.min_lists_kept)
    publish = verdict.publish or args.force
    if not publish:
        evaluation, why = None, "not published"
    elif mined["views"] is None:
        evaluation, why = None, "the Spark engine does not evaluate: run recsys.evaluate on a sample of the views"
    else:
        evaluation, why = _evaluation(mined["views"], args, progress)
    lap("evaluate")
    if publish:
        mined["write"](args.out)
        write_table(itemsets, out("itemsets.parquet"))
        write_table(rules, out("rules.parquet"))
        write_table(rules, out("rules.csv"))
        write_related(out("related.json"), document)
        if args.export:
            export_blog(document, out("blog"), formats=args.export, article_pattern=args.article_pattern)
    lap("write")
    for name in ("sessions", "itemsets", "rules"):
        timings.setdefault(name, 0.0)
    timings["total"] = round(time.perf_counter() - started, 3)
    report.update(evaluation=evaluation, evaluation_skipped=why,
                  publication=_publication(verdict, published, publish, args))
    if "spark" in mined:
        report["spark"] = mined["spark"]
    with atomic_write(out("report.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2, default=str)
        f.write("\n")
    return {"report": report, "acc": acc, "recs": recs, "pop": pop, "itemsets": itemsets, "verdict": verdict,
            "published": publish}


#: What a run writes into --out besides report.json (what a refused run keeps as it was).
OUTPUTS = ("related.json", "rules.csv", "rules.parquet", "itemsets.parquet", "sessions.parquet", "views.parquet",
           "blog")


def _publication(verdict: Verdict, published: dict | None, publish: bool, args: argparse.Namespace) -> dict:
    """What report.json records of the guard: whether the run was published, or what it kept and why."""
    return {
        "published": publish, "forced": publish and not verdict.publish,
        "problem": verdict.problem, "check": verdict.check,
        "articles_with_rules": verdict.articles_with_rules,
        "published_articles_with_rules": verdict.published_articles_with_rules,
        "published_generated": published.get("generated") if published else None,
        "min_lists_kept": args.min_lists_kept,
        "kept": [] if publish else [n for n in OUTPUTS if os.path.exists(os.path.join(args.out, n))],
    }


def _configured_formats(args: argparse.Namespace) -> list[LogFormat]:
    """The log format the options name (to find the fields of malformed lines), if they name one."""
    try:
        if args.nginx_conf:
            return [LogFormat.from_nginx_conf(args.nginx_conf, args.format_name)]
        fmt = resolve_log_format(args.log_format)
    except (RecsysError, OSError):
        return []
    return [fmt] if fmt else []


def _evaluation(views: pd.DataFrame, args: argparse.Namespace, progress) -> tuple[list | None, str | None]:
    if args.no_evaluate:
        return None, "--no-evaluate"
    span = (views["ts"].max() - views["ts"].min()).total_seconds() / 86400 if len(views) else 0
    if span < EVALUATE_DAYS:
        return None, f"the logs span {span:.1f} days; an evaluation needs {EVALUATE_DAYS}"
    table = evaluate(views, k=args.k, test_days=7, methods=("rules", "popular"), progress=progress,
                     gap=args.gap, basket=args.basket, min_support=args.min_support, max_len=args.max_len,
                     min_confidence=args.min_confidence, rank_by=args.rank_by, min_count=args.min_count,
                     min_networks=args.min_networks or None, lift_above_one=args.lift_above_one)
    keep = ["method", "k", "cases", "hr", "mrr", "precision", "recall", "ndcg", "coverage", "popularity"]
    return json.loads(table[keep].to_json(orient="records")), None


def _print_summary(result: dict, top: int) -> None:
    report, acc, recs, pop = result["report"], result["acc"], result["recs"], result["pop"]
    c, t = report["counts"], report["timings"]
    print(acc.summary())
    print(f"\n{c['visitors']:,} visitors read {c['articles']:,} articles in {c['sessions']:,} baskets "
          f"({c['sessions_with_2_or_more']:,} with two or more articles); {c['itemsets']:,} itemsets, "
          f"{c['rules']:,} rules; lists for {c['articles_with_lists']:,} articles "
          f"({c['articles_with_rules']:,} with recommendations from rules; "
          f"{c['recommendations_from_rules'] / max(len(recs), 1):.0%} of the entries are from rules, "
          f"the rest are popular articles filling short lists)")
    for row in report["evaluation"] or []:
        print(f"  {row['method']:>8}: HR@{row['k']} {row['hr']:.3f}  MRR@{row['k']} {row['mrr']:.3f}  "
              f"coverage {row['coverage']:.0%}  ({row['cases']:,} test cases)")
    if report["evaluation_skipped"]:
        print(f"  evaluation skipped: {report['evaluation_skipped']}")
    if top:
        print(f"\nreaders of the {min(top, len(pop))} most read articles also read:")
        shown_items = list(pop.index[:top])
        lists = {item: g.sort_values("rank") for item, g in recs[recs["item"].isin(shown_items)].groupby("item")}
        for item in shown_items:
            g = lists.get(item)
            if g is None:
                continue
            shown = ", ".join(u + ("" if s == "rules" else "*") for u, s in zip(g["url"], g["source"]))
            print(f"  {item}: {shown}")
        print("  (* popular fill)")
    mine = t["sessions"] + t["itemsets"] + t["rules"]
    print(f"\n{t['total']:.1f} s: read {t['read']:.1f} s, mine {mine:.1f} s, evaluate {t['evaluate']:.1f} s, "
          f"write {t['write']:.1f} s")


@contextlib.contextmanager
def _out_lock(out: str) -> Iterator[None]:
    """Hold ``<out>/.recsys.lock`` for the run, and remove what runs killed before left there.

    Two runs writing into one folder at once would mix their files; a run killed by SIGKILL leaves
    the temporary files of :func:`recsys.atomic.atomic_write`, removed here once the lock is held.
    """
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, LOCK_NAME)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RecsysError(f"another run of recsys is writing into {out} (it holds {path}); let it "
                              "finish, or give this one another --out") from None
        except OSError as e:  # a file system without locks: go on, but touch no temporary file
            log.warning("cannot lock %s (%s); make sure no other run writes into %s", path, e.strerror, out)
        else:
            for stale in remove_stale_temps(out):
                log.info("removed %s, left by a run that was killed", stale)
        yield
    finally:
        os.close(fd)


def _crash_log(error: BaseException, argv: list[str], cache: str | os.PathLike) -> str:
    """Write the traceback of an unexpected error into a private file; return its path."""
    from . import __version__

    stamp = time.strftime("%Y%m%dT%H%M%S")
    text = (f"recsys {__version__}, Python {sys.version.split()[0]}, {time.strftime('%Y-%m-%d %H:%M:%S %z')}\n"
            f"command: {shlex.join(['python', '-m', 'recsys.mine', *map(str, argv)])}\n\n"
            + "".join(traceback.format_exception(error)))
    try:
        os.makedirs(cache, mode=0o700, exist_ok=True)
        for n in itertools.count():
            path = os.path.join(cache, f"crash-{stamp}{f'-{n}' if n else ''}.log")
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                break
            except FileExistsError:
                continue
    except OSError:  # the cache folder cannot be written: a private temporary file
        fd, path = tempfile.mkstemp(prefix=f"recsys-crash-{stamp}-", suffix=".log")
    with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as f:
        f.write(text)
    return path


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else [os.fspath(a) if isinstance(a, os.PathLike) else a for a in argv]
    args = None
    try:
        args = _parse(argv)
        logging.basicConfig(
            level=logging.INFO if args.verbose else logging.ERROR if args.quiet else logging.WARNING,
            format="recsys: %(message)s",
        )
        with _out_lock(args.out):
            result = run(args)
        _print_summary(result, args.top)
        verdict = result["verdict"]
        if not result["published"]:
            sys.stdout.flush()
            print(f"recsys: not published: {verdict.problem}; {verdict.check}; the outputs in {args.out} are "
                  "kept as they were (--force publishes anyway)", file=sys.stderr)
            return 1
        if verdict.problem:
            print(f"recsys: warning: published with --force although {verdict.problem}", file=sys.stderr)
        print(f"outputs: {os.path.abspath(args.out)}")
        sys.stdout.flush()
    except BrokenPipeError:  # `| head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (RecsysError, ValueError, OSError) as e:
        print(f"recsys: error: {_one_line(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("recsys: interrupted; the outputs written so far are whole files", file=sys.stderr)
        return 130
    except Exception as e:  # a bug: one line for the user, the traceback for the bug report
        cache = (args.cache if args is not None and args.cache else None) or default_cache_dir()
        try:
            where = f"the details are in {_crash_log(e, argv, cache)}"
        except Exception as again:
            where = f"the details could not be saved ({_one_line(again)})"
        print(f"recsys: unexpected error: {type(e).__name__}: {_one_line(e)}; {where}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Is it working? A look at the latest lines of a live log: ``python -m recsys.check LOGS``.

After deploying the cookie script (or changing the log format), nothing else says whether the logs
will ever give recommendations: a run makes no rule for days, and says only that it made none.
:func:`check` reads the newest lines of the live log (the newest file of a rotated family, and the
ones before it when it is short) with the settings of the nightly job, through the same
functions (:func:`recsys.read_logs`, :func:`recsys.page_views`, :func:`recsys.train`), and
tells: the log format, the share of article views that carry a visitor id, the cookie handshakes,
the crawlers, the views per day, and for the article pair read together most often what it lacks.
Under the default ranking (``ranking = "sequences"``, :mod:`recsys.sequences`) any pair read in one
session is a rule: the check says how many more trusted co-readers (``tier_min``, from distinct
sources) it needs to be trusted, and which of its articles no returning reader has read yet (the
admission, ``admit_min``). Under ``ranking = "rules"`` it says how many distinct readers and
networks it has and how many more it needs before it can become a rule.

What it finds broken (no line in a log format it knows, no visitor id on any article view, no
request matching the article pattern) comes as ``problems``, each with its fix; what only looks
doubtful comes as ``warnings``. The command line prints the report and exits with status 1 when
there is a problem, 0 otherwise:

    python -m recsys.check /var/log/nginx/
    python -m recsys.check /var/log/nginx/blog.access.log --log-format tsv --lines 50000
"""

from __future__ import annotations

import argparse
import collections
import logging
import os
import re
import sys
import tempfile
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd

from . import settings as settings_module
from .accounting import Accounting
from .errors import LogParseError, RecsysError
from .files import family_of, log_files, open_log
from .formats import PRESETS, re_literal
from .guard import listed_with_rules
from .itemsets import eclat, min_count
from .logs import read_logs
from .model import train
from .pipeline import view_options_of
from .recommend import audience
from .sequences import Sequences
from .settings import Settings, SettingsError, read_toml
from .urls import ARTICLE_PATTERNS, article_regex
from .views import page_views

__all__ = ["check", "report", "main", "DEFAULT_LINES"]

log = logging.getLogger(__name__)

#: Lines read by default: a day or more of a small blog, a few hours of a busy one.
DEFAULT_LINES = 200_000
#: Below this share of article views with a visitor id, the cookie is not logged everywhere.
MIN_VISITOR_SHARE = 0.9
_BLOCK = 4 << 20


# which lines ---------------------------------------------------------------------------------------------
def live_files(paths) -> list[str]:
    """The files of the live log family, newest first: the family (:func:`recsys.files.family_of`)
    whose newest file was written last, among the files ``paths`` give (directories expanded as
    :func:`recsys.files.log_files` does; a file given alone is a family of its own)."""
    files = log_files(paths)
    if not files:
        raise RecsysError(f"no access logs found in {paths}; give the live access log or its directory")
    if "-" in files:
        raise RecsysError("recsys.check reads a log file or a directory of logs, not standard input")
    families: dict[tuple, list[str]] = collections.defaultdict(list)
    for f in files:
        families[family_of(f)].append(f)  # oldest first within a family, as log_files orders them
    newest = max(families.values(), key=lambda fam: (os.path.getmtime(fam[-1]), fam[-1]))
    return newest[::-1]


def _tail(path: str, n: int) -> tuple[bytes, int]:
    """The last ``n`` lines of a file (decompressed) and their number (a last line without its
    newline counts). A plain file is read backwards from its end; a compressed one is read whole,
    keeping only its last blocks."""
    stream, _ = open_log(path)
    try:
        if stream.seekable():
            pos = stream.seek(0, os.SEEK_END)
            parts: list[bytes] = []
            newlines = 0
            while pos > 0 and newlines <= n:
                step = min(_BLOCK, pos)
                pos -= step
                stream.seek(pos)
                parts.append(stream.read(step))
                newlines += parts[-1].count(b"\n")
            data, whole = b"".join(reversed(parts)), pos == 0
        else:
            kept: collections.deque[tuple[bytes, int]] = collections.deque()
            newlines, whole = 0, True
            while block := stream.read(_BLOCK):
                kept.append((block, block.count(b"\n")))
                newlines += kept[-1][1]
                while len(kept) > 1 and newlines - kept[0][1] > n:
                    newlines -= kept.popleft()[1]
                    whole = False
            data = b"".join(b for b, _ in kept)
    finally:
        stream.close()
        getattr(stream, "raw", stream).close()
    if not data:
        return b"", 0
    body = data if data.endswith(b"\n") else data + b"\n"
    ends = np.flatnonzero(np.frombuffer(body, np.uint8) == 10)
    if len(ends) > n:
        return body[ends[-n - 1] + 1:], n
    assert whole, "a partial read holds more than n lines"
    return body, len(ends)


def latest_lines(files: list[str], n: int) -> tuple[bytes, list[dict[str, Any]]]:
    """The last ``n`` lines of a family given newest first, in log order (oldest first), and how
    many lines each file gave."""
    parts, taken = [], []
    for path in files:
        if n <= 0:
            break
        data, got = _tail(path, n)
        if got:
            parts.append(data)
            taken.append({"path": path, "lines": got})
            n -= got
    return b"".join(reversed(parts)), taken[::-1]


# the check -----------------------------------------------------------------------------------------------
def check(paths, settings: Settings | None = None, *, lines: int = DEFAULT_LINES,
          now: datetime | None = None) -> dict[str, Any]:
    """What the latest ``lines`` lines of a live log say about the setup.

    Parameters
    ----------
    paths : path or list of paths
        The live access log, or its directory (the family written last is taken: its newest
        file, and the files before it when that one holds fewer than ``lines`` lines).
    settings : Settings, optional
        How the nightly job reads the logs and what a rule needs (the defaults otherwise).
    lines : int
        How many of the latest lines to read.
    now : datetime, optional
        The time to compare the newest line with (default: now).

    Returns
    -------
    dict
        ``files`` (each file read and the lines it gave, oldest first), ``format``, ``lines``,
        ``malformed``, ``first`` and ``last`` (the times of the lines), ``accounting``,
        ``article_views`` (article requests that pass every rule but the visitor's),
        ``with_visitor`` (those carrying a visitor id), ``visitor_share``, ``views``,
        ``handshakes``, ``bots``, ``views_per_day``, ``readers``, ``networks``, ``ranking``,
        ``pair`` (the most co-read pair, None when no two articles were read together),
        ``needs`` (the thresholds), ``articles_with_rules`` (from these lines alone),
        ``problems`` (each a dict of ``problem`` and ``fix``) and ``warnings``.

        Under ``ranking = "sequences"`` the pair is the one of the most trusted co-readers:
        ``articles``, ``sessions``, ``sources`` (distinct networks, or readers without one),
        ``co_readers`` (their credibility-weighted sum, what ``tier_min`` is compared with),
        ``tier`` and ``needs``: ``co_readers`` (how many more it needs to be trusted) and
        ``admission`` (its articles no returning reader has read yet); ``needs`` is
        ``co_readers`` (``tier_min``) and ``returning_networks`` (``admit_min``, 0 when the
        lines hold too few returning readers for the check, ``credibility`` False);
        ``articles_with_trusted_rules`` counts the lists the publication guard counts.
        Under ``ranking = "rules"`` it is the pair read together by the most readers:
        ``articles``, ``baskets``, ``readers``, ``networks`` and ``needs``, what it lacks to
        become a rule; ``needs`` is ``baskets``, ``readers``, ``networks``.

    >>> result = check("data/sample/", lines=2000)
    >>> result["problems"], result["lines"], result["format"]
    ([], 2000, 'combined_ut')
    """
    settings = settings or Settings()
    if isinstance(lines, bool) or not isinstance(lines, int) or lines < 1:
        raise ValueError(f"lines must be an int >= 1; got {lines!r}")
    files = live_files(paths)
    data, taken = latest_lines(files, lines)
    out: dict[str, Any] = {"files": taken, "lines": 0, "format": None, "problems": [], "warnings": []}
    if not data:
        out["problems"].append(_problem(
            f"{', '.join(files)} holds no lines",
            "is nginx writing to it? give the file its access_log directive names (or the directory)"))
        return out
    acc = Accounting()
    r = settings.reading
    with tempfile.TemporaryDirectory(prefix="recsys-check-") as tmp:  # 0700: the lines hold addresses
        sample = os.path.join(tmp, "access.log")
        with open(sample, "wb") as f:
            f.write(data)
        del data
        try:
            requests = read_logs(sample, log_format=r.log_format, nginx_conf=r.nginx_conf,
                                 format_name=r.format_name, cookie=r.cookie, accounting=acc, progress=False)
        except LogParseError as e:
            out["lines"] = sum(t["lines"] for t in taken)
            out["problems"].append(_format_problem(settings, e.line))
            return out
    out.update(lines=acc.lines, malformed=acc.malformed, format=_format_of(acc))
    views = page_views(requests, accounting=acc, **view_options_of(settings))
    acc.check()
    out["accounting"] = acc.to_dict()
    out["first"], out["last"] = _iso(requests["ts"].min()), _iso(requests["ts"].max())
    d = acc.dropped
    with_id = acc.views + d.get("robots_txt", 0) + d.get("too_fast", 0)
    article = with_id + d.get("no_visitor", 0)
    out.update(article_views=article, with_visitor=with_id, visitor_share=with_id / article if article else None,
               views=acc.views, handshakes=d.get("handshake", 0), bots=d.get("bot", 0))
    day = views["ts"].dt.floor("D")
    out["views_per_day"] = {k.strftime("%Y-%m-%d"): int(v) for k, v in day.value_counts().sort_index().items()}
    _co_reading(out, views, settings)
    _problems(out, acc, requests, settings)
    _warnings(out, acc, requests, views, settings, now or datetime.now(timezone.utc))
    return out


def _problem(problem: str, fix: str) -> dict[str, str]:
    return {"problem": problem, "fix": fix}


def _iso(ts) -> str | None:
    return None if pd.isna(ts) else pd.Timestamp(ts).strftime("%Y-%m-%dT%H:%M:%SZ")


def _format_of(acc: Accounting) -> str | None:
    formats = [e["format"] for f in acc.files for e in f.get("formats", [])]
    return " + ".join(dict.fromkeys(formats)) or None


def _format_problem(settings: Settings, line: str) -> dict[str, str]:
    r = settings.reading
    given = r.nginx_conf is not None or r.log_format != "auto"
    what = ("are not in the log format given" if given
            else f"are in no log format recsys knows ({', '.join(PRESETS)})")
    return _problem(
        f"most lines {what}; one is: {line[:200]!r}",
        "give the log_format of your nginx.conf: --log-format \"log_format main '$remote_addr ...';\" (the "
        "directive pasted whole, or its format string), or --nginx-conf /etc/nginx/nginx.conf [--format-name NAME]")


def _co_reading(out: dict, views: pd.DataFrame, settings: Settings) -> None:
    """The readers; the most co-read pair and what it lacks; the articles rules would cover."""
    model = train(views, settings)
    sessions = model.sessions
    out["readers"] = int(views["visitor"].nunique())
    out["networks"] = int(sessions["network"].dropna().nunique())
    rec = settings.recommending
    out["ranking"] = rec.ranking
    lists = model.lists(settings)
    out["articles_with_rules"] = listed_with_rules(lists)
    if model.sequences is not None:
        seq = model.sequences
        out["credibility"] = bool(seq.params["credibility"])
        out["needs"] = {"co_readers": seq.params["tier_min"],
                        "returning_networks": seq.params["admit_min"] if out["credibility"] else 0}
        out["articles_with_trusted_rules"] = listed_with_rules(lists, min_count=seq.params["tier_min"])
        out["pair"] = _best_sequence_pair(seq)
        return
    out["needs"] = {"baskets": min_count(settings.mining.min_support, len(sessions)), "readers": rec.min_count,
                    "networks": rec.min_networks}
    out["pair"] = _best_pair(sessions)
    if out["pair"] is not None:
        out["pair"]["needs"] = {k: max(0, out["needs"][k] - out["pair"][k]) for k in out["needs"]}


def _best_sequence_pair(seq: Sequences) -> dict | None:
    """The pair of the most trusted co-readers (ties: sources, sessions, URLs) and what it lacks:
    the co-readers to reach the first tier, and the admission of its articles."""
    rules = seq.rules[seq.rules["antecedent"] < seq.rules["consequent"]]  # evidence is symmetric
    if not len(rules):
        return None
    top = rules.sort_values(["evidence", "sources", "count", "antecedent", "consequent"],
                            ascending=[False, False, False, True, True], kind="stable").iloc[0]
    articles = [top["antecedent"], top["consequent"]]
    admitted = dict(zip(seq.articles["url"], seq.articles["admitted"]))
    lacking = 0 if top["tier"] == 1 else max(1, int(np.ceil(seq.params["tier_min"] - top["evidence"] - 1e-9)))
    return {"articles": articles, "sessions": int(top["count"]), "sources": int(top["sources"]),
            "co_readers": round(float(top["evidence"]), 2), "tier": int(top["tier"]),
            "needs": {"co_readers": lacking, "admission": [u for u in articles if not admitted[u]]}}


def _best_pair(sessions: pd.DataFrame, first: int = 100) -> dict | None:
    """The pair of articles read together by the most readers (ties: networks, baskets, URLs).

    Readers and networks are counted by :func:`recsys.audience` for the pairs of the most baskets
    only: neither can exceed the baskets, so a pair of fewer baskets than the best readers found
    cannot come first.
    """
    if not len(sessions):
        return None
    pairs = eclat(sessions["items"], min_support=1, max_len=2)
    pairs = pairs[pairs["itemsets"].map(len) == 2]
    if not len(pairs):
        return None
    table = pd.DataFrame({"key": [tuple(sorted(s)) for s in pairs["itemsets"]],
                          "baskets": pairs["count"].to_numpy()})
    table = table.sort_values(["baskets", "key"], ascending=[False, True], kind="stable").reset_index(drop=True)
    scored, done, upto = [], 0, min(first, len(table))
    while done < upto:  # the pairs of the most baskets first, then any that could still come first
        part = table.iloc[done:upto]
        rules = audience(pd.DataFrame({"antecedents": [frozenset(k[:1]) for k in part["key"]],
                                       "consequents": [frozenset(k[1:]) for k in part["key"]]}), sessions)
        scored.append(part.assign(readers=rules["visitors"].to_numpy(), networks=rules["networks"].to_numpy()))
        done = upto
        upto = max(upto, int((table["baskets"] >= max(p["readers"].max() for p in scored)).sum()))
    top = pd.concat(scored).sort_values(["readers", "networks", "baskets", "key"],
                                        ascending=[False, False, False, True], kind="stable").iloc[0]
    return {"articles": list(top["key"]), **{k: int(top[k]) for k in ("baskets", "readers", "networks")}}


def _problems(out: dict, acc: Accounting, requests: pd.DataFrame, settings: Settings) -> None:
    problems = out["problems"]
    if acc.lines and 2 * acc.malformed > acc.lines:
        problems.append(_format_problem(settings, next((e["text"] for e in acc.examples), "")))
        return
    d, v = acc.dropped, settings.views
    if out["article_views"] == 0 and d.get("not_article", 0):
        pages = _pages_read(requests, settings)
        shown = ", ".join(f"{u} ({n:,})" for u, n in pages.head(5).items()) or "none"
        problems.append(_problem(
            f"none of the {d['not_article']:,} pages requested matches the article pattern {v.article_pattern!r}; "
            f"the pages read most: {shown}",
            f"give --article-pattern {_suggest_pattern(list(pages.index))} (or a preset: {', '.join(ARTICLE_PATTERNS)})"))
    elif v.visitor == "cookie" and out["article_views"] and out["with_visitor"] == 0:
        cookie = settings.reading.cookie
        other = _other_cookies(acc, cookie)
        problems.append(_problem(
            f"none of the {out['article_views']:,} article views carries a visitor id: the cookie {cookie} "
            "is not in the log" + (f" (it logs {', '.join(other)})" if other else ""),
            "read them with --visitor ip+ua, or install deploy/openresty's script (it logs $ut_id)"
            + (f"; or --cookie {other[0].removeprefix('$cookie_')} if that is the visitor cookie" if other else "")))


def _other_cookies(acc: Accounting, cookie: str) -> list[str]:
    """The cookie variables the log format logs, other than the visitor cookie."""
    templates = [e.get("template", "") for f in acc.files for e in f.get("formats", [])]
    found = dict.fromkeys(m for t in templates for m in re.findall(r"\$cookie_\w+", t))
    return [c for c in found if c != f"$cookie_{cookie}"]


def _pages_read(requests: pd.DataFrame, settings: Settings) -> pd.Series:
    """How often people requested each page, most first (every URL taken for an article, readers
    by address and user agent): what the article pattern should match."""
    anything = view_options_of(settings) | {"article_pattern": r"^/", "visitor": "ip+ua", "trailing_slash": "keep",
                                            "max_per_minute": None}
    pages = page_views(requests, **anything)["url"]
    return pages.astype(str).value_counts()


#: What blogs serve beside their articles, one level under the articles' folder: feeds, sitemaps and
#: WordPress's scripts (``xmlrpc.php``, which pingback scanners fetch, ``wp-login.php``, ``wp-admin/``).
#: Not every ``.php``: the articles of some blogs are ``.php`` pages.
MACHINERY = re.compile(r"(?i)^(?:wp-.*|xmlrpc\.php|feed|rss|atom|comments|.+\.(?:xml|txt))$")


def _suggest_pattern(pages: list[str], top: int = 5) -> str:
    """A preset matching most of the ``top`` pages read most (``pages``: all those requested, most
    first), else a pattern for their most common first folder that leaves out the feeds and scripts
    (:data:`MACHINERY`) requested there, in either trailing-slash form, as patterns are matched.

    >>> _suggest_pattern(["/blog/on-cats/", "/blog/", "/about", "/blog/xmlrpc.php", "/blog/feed/", "/blog/wp-login.php"], top=3)
    "'^/blog/(?!feed/?$|wp-|xmlrpc\\\\.php/?$)[^/]+/?$'"
    >>> _suggest_pattern(["/notes/a.html", "/notes/b.html", "/"])
    "'^/notes/[^/]+/?$'"
    """
    urls = pages[:top]
    best = max(ARTICLE_PATTERNS, key=lambda p: sum(bool(article_regex(p).search(u)) for u in urls))
    if sum(bool(article_regex(best).search(u)) for u in urls) * 2 > len(urls):
        return best
    folders = collections.Counter(u.split("/")[1] for u in urls if u.count("/") >= 2 and u.split("/")[1])
    if not folders:
        return "'REGEX'"
    folder = folders.most_common(1)[0][0]
    names = {u.partition("?")[0].rstrip("/")[len(folder) + 2:] for u in pages if u.startswith(f"/{folder}/")}
    left_out = sorted({"wp-" if n.startswith("wp-") else re_literal(n) + "/?$"
                       for n in names if "/" not in n and MACHINERY.match(n)})
    but = "(?!" + "|".join(left_out) + ")" if left_out else ""
    return f"'^/{re_literal(folder)}/{but}[^/]+/?$'"


def _warnings(out: dict, acc: Accounting, requests: pd.DataFrame, views: pd.DataFrame, settings: Settings,
              now: datetime) -> None:
    w = out["warnings"]
    if acc.malformed and not out["problems"] and acc.malformed * 100 > acc.lines:
        kinds = ", ".join(f"{k} {n:,}" for k, n in sorted(acc.malformed_kinds.items()))
        w.append(f"{acc.malformed:,} of the lines are malformed ({kinds}): a second log format in the file? "
                 "give --log-format once for each")
    share = out.get("visitor_share")
    if settings.views.visitor == "cookie" and share is not None and 0 < share < MIN_VISITOR_SHARE:
        w.append(f"only {share:.0%} of the article views carry a visitor id: is the cookie script on every "
                 "article location?")
    last = out.get("last")
    if last is not None:
        age = now - datetime.fromisoformat(last)
        if age.total_seconds() > 86400:
            w.append(f"the newest line is from {last} ({age.total_seconds() / 86400:.1f} days ago): is nginx still "
                     f"writing to {out['files'][-1]['path']}?")
    rec = settings.recommending
    sequential = rec.ranking == "sequences"
    if not views.empty and requests["ip"].isna().all():
        w.append("the log has no client address: readers' networks cannot be counted, so each reader is a source "
                 "of its own" if sequential else
                 "the log has no client address: readers' networks cannot be counted, and a rule needs "
                 f"{rec.min_networks}; give --min-networks 0 to the nightly job")
    need = rec.tier_min if sequential else rec.min_networks
    if out["views"] and need and 0 < out["networks"] < need:
        w.append(f"every reader comes from {out['networks']} network(s) (/24 or /48): "
                 + (f"they count as {out['networks']} source(s), and a trusted rule needs co-readers from "
                    f"--tier-min {need:g}" if sequential else f"a rule needs readers from {need} networks")
                 + ", so tests from one machine or one office never make one")
    if out["views"] and out["pair"] is None:
        w.append("no two articles were read in one session yet: rules come from articles read together")


# the report for people -----------------------------------------------------------------------------------
def report(result: dict[str, Any], settings: Settings | None = None) -> str:
    """The result of :func:`check` as lines of text."""
    settings = settings or Settings()
    out = []
    files = result["files"]
    if files:
        shown = files if len(files) <= 3 else [files[0], {"path": "...", "lines": None}, files[-1]]
        out.append(f"read the latest {sum(f['lines'] for f in files):,} lines"
                   + (f" of {len(files)} files" if len(files) > 1 else "") + ": "
                   + ", ".join(f"{f['lines']:,} of {f['path']}" if f["lines"] else f["path"] for f in shown))
    if result.get("format"):
        how = "detected" if settings.reading.log_format == "auto" and settings.reading.nginx_conf is None else "given"
        out.append(f"log format: {result['format']} ({how}); {result.get('malformed', 0):,} malformed lines")
    if "article_views" in result:
        out.append(f"from {_when(result['first'])} to {_when(result['last'])} UTC")
        share = result["visitor_share"]
        if settings.views.visitor == "cookie":
            out.append(f"article views: {result['article_views']:,}, {result['with_visitor']:,} with a visitor id "
                       f"({'-' if share is None else f'{share:.0%}'}; cookie {settings.reading.cookie})")
        else:
            out.append(f"article views: {result['article_views']:,} (readers by address and user agent)")
        lines = result["lines"] or 1
        out.append(f"handshakes: {result['handshakes']:,} (redirects to clients without the cookie); "
                   f"bots: {result['bots']:,} lines ({result['bots'] / lines:.0%})")
        if result["views"]:
            out.append(f"page views: {result['views']:,} by {result['readers']:,} readers from "
                       f"{result['networks']:,} networks; per day (UTC):")
            out += [f"  {day}  {n:>9,}" for day, n in result["views_per_day"].items()]
        else:
            out.append("page views: none")
        out += (_sequence_lines if result.get("ranking") == "sequences" else _rule_lines)(result, settings)
    for w in result["warnings"]:
        out.append(f"warning: {w}")
    if not result["problems"]:
        key = "articles_with_trusted_rules" if result.get("ranking") == "sequences" else "articles_with_rules"
        out.append("ok: the logs can give recommendations" if result.get(key)
                   else "ok: the setup works; rules come as readers do")
    return "\n".join(out)


def _rule_lines(result: dict[str, Any], settings: Settings) -> list[str]:
    """What a mined rule needs (``ranking = "rules"``), and what the most co-read pair lacks."""
    needs, pair = result["needs"], result["pair"]
    out = [f"a rule needs two articles read together in {needs['baskets']:,} baskets (--min-support), "
           f"by {needs['readers']} readers (--min-count) from {needs['networks']} networks (--min-networks)"]
    if pair:
        missing = [f"{n} more {k}" for k, n in pair["needs"].items() if n]
        out.append(f"the pair read together most: {pair['articles'][0]} and {pair['articles'][1]}: "
                   f"{pair['baskets']:,} baskets, {pair['readers']:,} readers, {pair['networks']:,} networks; "
                   + (f"it needs {', '.join(missing)}" if missing else "enough for a rule"))
    out.append(f"articles with recommendations from rules, from these lines alone: {result['articles_with_rules']:,}")
    return out


def _sequence_lines(result: dict[str, Any], settings: Settings) -> list[str]:
    """What a trusted sequential rule needs (``ranking = "sequences"``), and what the most co-read
    pair lacks."""
    needs, pair, rec = result["needs"], result["pair"], settings.recommending
    admission = (f"its article is recommended once returning readers (first and last sessions --returning-days "
                 f"{rec.returning_days:g} days apart) from {needs['returning_networks']} networks (--admit-min) have "
                 "read it" if result["credibility"] else
                 f"too few of these sessions are by returning readers (--min-returning {rec.min_returning:g}) for "
                 "the admission check: every reader weighs the same")
    out = [f"a rule is two articles read in one session; it is trusted with {needs['co_readers']:g} co-readers "
           f"(--tier-min) from distinct networks, or readers without one (weighed by credibility for its rank, counted "
           f"for the publication guard); {admission}"]
    if pair:
        missing = ([f"{pair['needs']['co_readers']} more co-reader(s) to be trusted"] if pair["needs"]["co_readers"]
                   else []) + [f"a returning reader of {u}" for u in pair["needs"]["admission"]]
        out.append(f"the pair read together most: {pair['articles'][0]} and {pair['articles'][1]}: "
                   f"{pair['sessions']:,} sessions, {pair['sources']:,} networks or readers, {pair['co_readers']:g} "
                   f"co-readers; " + (f"it needs {', '.join(missing)}" if missing else "a trusted rule"))
    out.append(f"articles with recommendations from rules, from these lines alone: {result['articles_with_rules']:,} "
               f"({result['articles_with_trusted_rules']:,} from trusted rules)")
    return out


def _when(iso: str | None) -> str:
    return "-" if iso is None else iso.replace("T", " ").removesuffix("Z")


# the command line ----------------------------------------------------------------------------------------
#: The settings the check takes from the command line (or --config), as the nightly job does.
OPTIONS = ("log_format", "nginx_conf", "format_name", "cookie", "article_pattern", "trailing_slash", "keep_query",
           "visitor", "gap", "ranking", "tier_min", "admit_min", "returning_days", "min_support", "min_count",
           "min_networks")
EXAMPLE = """\
examples:
  python -m recsys.check /var/log/nginx/
  python -m recsys.check /var/log/nginx/access.log --visitor ip+ua --article-pattern hugo
  python -m recsys.check /var/log/nginx/ --config /etc/recsys.toml   # the nightly job's settings
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not the whole usage
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m recsys.check", epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter,
                description="Check a live access log: is it read, does it carry visitor ids, can it give rules? "
                            "Exit status 1 when the setup is broken.")
    p.add_argument("logs", metavar="LOGS", help="the live access log, or its directory (the newest log is read)")
    p.add_argument("--lines", type=int, default=DEFAULT_LINES, metavar="N",
                   help=f"read the latest N lines (default: {DEFAULT_LINES:,})")
    p.add_argument("--config", metavar="FILE", help="the nightly job's TOML file (the command line wins)")
    fields = {name: f.metadata for _, name, f in settings_module.fields()}
    for name in OPTIONS:  # each option as the nightly job declares it (recsys.settings)
        meta = fields[name]
        p.add_argument(settings_module.flag(name), dest=name, default=None, help=meta["help"],
                       metavar=meta["kind"].metavar, action="append" if meta["kind"].repeat else "store")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else [os.fspath(a) for a in argv])
    if args.lines < 1:
        parser.error(f"--lines: must be at least 1; got {args.lines}")
    logging.basicConfig(format="recsys: %(message)s", level=logging.WARNING)
    given = {k: getattr(args, k) for k in OPTIONS if getattr(args, k) is not None}
    try:
        toml = {k.replace("-", "_"): v for k, v in read_toml(args.config).items()} if args.config else {}
        known = {n for _, n, _ in settings_module.fields()} | set(settings_module.SECTIONS)
        settings = Settings.from_mapping({k: v for k, v in toml.items() if k in known}).replace(given)
    except SettingsError as e:
        parser.error(f"{settings_module.flag(e.key) or e.key}: {e.problem}")
    except RecsysError as e:
        parser.error(str(e))
    try:
        result = check(args.logs, settings, lines=args.lines)
        print(report(result, settings))
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (RecsysError, ValueError, OSError) as e:
        print(f"recsys: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 1
    for p in result["problems"]:
        print(f"recsys: problem: {p['problem']}; fix: {p['fix']}", file=sys.stderr)
    return 1 if result["problems"] else 0


if __name__ == "__main__":
    raise SystemExit(main())

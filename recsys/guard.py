"""The publication guard: a run whose result looks broken does not replace what the blog shows.

A misconfigured cron line (a wrong article pattern, logs without the visitor cookie, a rotated
file left out) still reads, mines and writes: without a guard it would replace every list of the
blog with an empty one and exit 0. :func:`judge` looks at a run's counts and at the
``related.json`` already published, and says whether to publish and, if not, what looks wrong
and what to check. It reads nothing and writes nothing: the command line does both.

What it counts follows the ranking. Under ``ranking = "rules"`` a list counts when it holds an
entry from the mined rules (which passed ``--min-count`` and ``--min-networks``). Under
``ranking = "sequences"`` (the default) any pair read in one session is a rule, so a list with
an entry from rules proves little (one day of logs gives lists for most articles): a list counts
when it holds an entry from a *trusted* rule, one whose two articles were read together from at
least ``--tier-min`` sources (networks, or readers without one; the ``count`` of the entry), the
same on the run's lists and on the published ``related.json``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Any, Mapping


__all__ = ["Verdict", "judge", "articles_with_rules", "listed_with_rules", "read_published", "counted",
           "MIN_LISTS_KEPT"]

#: The default share of the published rules-based lists a new run must keep (``--min-lists-kept``).
MIN_LISTS_KEPT = 0.5
#: The drop reasons that apply to lines whose URL matched the article pattern.
_ARTICLE_REASONS = ("no_visitor", "robots_txt", "too_fast")


@dataclass(frozen=True)
class Verdict:
    """Whether a run may publish, and if not, why.

    Attributes
    ----------
    publish : bool
        False when the result looks degenerate.
    problem : str or None
        What looks wrong (None when nothing does).
    check : str or None
        What to check or change.
    articles_with_rules : int
        Articles whose new list holds at least one entry from rules (under ``ranking =
        "sequences"``: from a trusted rule).
    published_articles_with_rules : int or None
        The same count in the published ``related.json`` (None when nothing is published yet).
    counted : str
        What the two counts count (:func:`counted`).
    """

    publish: bool
    problem: str | None = None
    check: str | None = None
    articles_with_rules: int = 0
    published_articles_with_rules: int | None = None
    counted: str = "lists from rules"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def articles_with_rules(document: Mapping | None, *, min_count: float | None = None) -> int:
    """The articles whose list in a ``related.json`` document holds an entry from rules (with
    ``min_count``: from a rule whose ``count``, its distinct co-readers, is at least that).

    >>> doc = {"items": {"/a": [{"url": "/b", "source": "rules", "count": 1}],
    ...                  "/b": [{"url": "/a", "source": "popular"}, {"url": "/c", "source": "rules", "count": 2}]}}
    >>> articles_with_rules(doc), articles_with_rules(doc, min_count=2)
    (2, 1)
    """
    items = document.get("items") if isinstance(document, Mapping) else None
    if not isinstance(items, Mapping):
        return 0
    return sum(isinstance(entries, list) and any(_counts(e, min_count) for e in entries) for entries in items.values())


def listed_with_rules(lists, *, min_count: float | None = None) -> int:
    """:func:`articles_with_rules` of a run's lists (a frame with ``item``, ``source`` and ``count``,
    :meth:`recsys.Model.lists`) rather than of a document: what the guard counts before publishing.

    >>> import pandas as pd
    >>> lists = pd.DataFrame({"item": ["/a", "/b", "/b"], "source": ["rules", "popular", "rules"], "count": [1, None, 2]})
    >>> listed_with_rules(lists), listed_with_rules(lists, min_count=2)
    (2, 1)
    """
    counted = lists["source"] == "rules"
    if min_count is not None:
        counted &= lists["count"].fillna(0) >= min_count
    return int(lists.loc[counted, "item"].nunique())


def _counts(entry, min_count: float | None) -> bool:
    if not isinstance(entry, Mapping) or entry.get("source") != "rules":
        return False
    if min_count is None:
        return True
    n = entry.get("count")
    return isinstance(n, (int, float)) and not isinstance(n, bool) and n >= min_count


def _sequential(params: Mapping) -> bool:
    return params.get("ranking", "rules") == "sequences"


def counted(params: Mapping) -> str:
    """What the guard counts under these parameters (a run's ``params``).

    >>> counted({"ranking": "rules"}), counted({"ranking": "sequences", "tier_min": 2})
    ('lists from rules', 'lists from trusted rules (read together from --tier-min 2 sources)')
    """
    if not _sequential(params):
        return "lists from rules"
    return f"lists from trusted rules (read together from --tier-min {params.get('tier_min', 2):g} sources)"


def read_published(path: str | os.PathLike) -> dict | None:
    """The ``related.json`` at ``path``, or None when there is none (or none that can be read)."""
    try:
        with open(path, encoding="utf-8") as f:
            document = json.load(f)
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def judge(report: Mapping, published: Mapping | None, *, min_lists_kept: float = MIN_LISTS_KEPT) -> Verdict:
    """Whether a run's result may replace the published one.

    A result is refused when it has no page views, when no list holds an entry from rules, or
    when lists from rules cover fewer than ``min_lists_kept`` times the articles they cover in
    the published ``related.json``. Without a published document the result is judged on its own.
    Under ``ranking = "sequences"`` (``params``) both rule counts are of trusted rules (see the
    module's docstring): the run's is ``counts["articles_with_trusted_rules"]``.

    Parameters
    ----------
    report : mapping
        The run's report: ``counts``, ``accounting`` and ``params`` as in ``report.json``.
    published : mapping or None
        The ``related.json`` document published now, or None.
    min_lists_kept : float, default 0.5
        The share of the published rules-based lists the new run must have (0: no comparison).

    Returns
    -------
    Verdict

    >>> report = {"counts": {"lines": 9, "views": 0, "rules": 0, "articles_with_rules": 0},
    ...           "accounting": {"lines": 9, "malformed": 0, "dropped": {"no_visitor": 9}},
    ...           "params": {"cookie": "UT_ID"}}
    >>> judge(report, None).problem
    'no page views: all 9 article views have no visitor id'
    """
    counts, acc, params = report["counts"], report["accounting"], report.get("params", {})
    sequential = _sequential(params)
    new = int(counts.get("articles_with_trusted_rules" if sequential else "articles_with_rules") or 0)
    min_count = float(params.get("tier_min", 2)) if sequential else None
    old = articles_with_rules(published, min_count=min_count) if published is not None else None
    what = counted(params)
    found = (_no_views(counts, acc, params) if not counts.get("views") else
             (_no_sequence_rules if sequential else _no_rules)(counts, params) if not new else
             _fewer(new, old, min_lists_kept, what) if old is not None else None)
    problem, check = found or (None, None)
    return Verdict(found is None, problem, check, new, old, what)


def _no_views(counts: Mapping, acc: Mapping, params: Mapping) -> tuple[str, str]:
    lines, malformed = int(acc.get("lines", 0)), int(acc.get("malformed", 0))
    dropped = {k: int(v) for k, v in acc.get("dropped", {}).items() if v}
    articles = sum(dropped.get(r, 0) for r in _ARTICLE_REASONS)
    if not lines:
        return ("no page views: the logs hold no lines",
                "check LOGS (an empty file or standard input, a folder without access logs)")
    if malformed == lines:
        return (f"no page views: none of the {lines:,} lines matches the log format",
                "check --log-format or --nginx-conf")
    if dropped.get("no_visitor", 0) * 2 > articles:
        n = dropped["no_visitor"]
        return (f"no page views: {'all ' if n == articles else ''}{n:,} article views have no visitor id",
                f"the cookie {params.get('cookie', 'UT_ID')} is not in the logs: read them with --visitor ip+ua, "
                "or log the cookie (the openresty script of deploy/openresty/, or --cookie NAME)")
    if not articles and dropped.get("not_article"):
        pattern = params.get("article_pattern", "openresty")
        return (f"no page views: none of the {dropped['not_article']:,} pages requested matches the article "
                f"pattern {pattern!r}",
                "check --article-pattern (it is tried on each normalized URL, with and without its trailing "
                "slash)")
    top = ", ".join(f"{k} {v:,}" for k, v in sorted(dropped.items(), key=lambda kv: -kv[1])[:3])
    return (f"no page views among {lines:,} lines (dropped: {top or 'none'}; malformed: {malformed:,})",
            "check LOGS, --article-pattern and --visitor")


def _no_rules(counts: Mapping, params: Mapping) -> tuple[str, str]:
    support = params.get("min_support", 3)
    support = f"{support:g} of the baskets" if isinstance(support, float) else f"{support} baskets"
    readers = (f"--min-count {params.get('min_count', 3)} readers from --min-networks "
               f"{params.get('min_networks', 3)} networks")
    views, rules = int(counts.get("views", 0)), int(counts.get("rules", 0))
    if not rules:
        return (f"no rules from {views:,} page views in {int(counts.get('sessions', 0)):,} baskets",
                f"a rule needs two articles read together in --min-support {support} (and "
                f"--min-confidence {params.get('min_confidence', 0.05)}), then {readers}; "
                "lower them or give more days of logs")
    return (f"none of the {rules:,} rules has {readers}",
            "lower --min-count or --min-networks, or give more days of logs")


def _no_sequence_rules(counts: Mapping, params: Mapping) -> tuple[str, str]:
    """What a trusted sequential rule needs (``ranking = "sequences"``), by what is missing."""
    views, sessions = int(counts.get("views", 0)), int(counts.get("sessions", 0))
    rules, listed = int(counts.get("sequence_rules", 0)), int(counts.get("articles_with_rules", 0))
    tier = f"--tier-min {params.get('tier_min', 2):g}"
    more = "give more days of logs"
    if not rules:
        return (f"no rules from {views:,} page views in {sessions:,} sessions: no two articles were read in "
                "one session",
                f"a rule needs two articles read in one session (--gap {params.get('gap', '30min')}); {more}")
    if not listed:
        return (f"none of the {rules:,} sequential rules leads to an article read by returning readers from "
                f"--admit-min {params.get('admit_min', 1)} networks",
                f"{more} (a returning reader's first and last sessions are --returning-days "
                f"{params.get('returning_days', 7):g} days apart), or lower --returning-days or --admit-min "
                "(0: no check)")
    return (f"none of the lists from {rules:,} sequential rules has a trusted rule, read together from {tier} "
            "sources (networks, or readers without one)",
            f"{more}, or lower {tier.split()[0]}")


def _fewer(new: int, old: int, min_lists_kept: float, what: str = "lists from rules") -> tuple[str, str] | None:
    if new >= min_lists_kept * old:
        return None
    return (f"{what} for {new:,} articles where the published related.json has {old:,} "
            f"(fewer than --min-lists-kept {min_lists_kept:g} of them)",
            "check that LOGS hold every log (a rotated file left out?) and what changed in the options")

"""Why an article's list is what it is: ``python -m recsys.show OUT_DIR ARTICLE``.

Under ``ranking = "sequences"`` (the default) each entry is explained by its sequential pair rule
(``sequences.parquet``: score, tier, confidence, lift, the sessions and sources behind it), the
popular fill by its trusted readers, and a short list by the articles read with it that no
returning reader has read (not admitted). Under ``ranking = "rules"``, as follows.

:func:`explain` reads what a run wrote into its folder (``related.json``, ``rules.parquet``,
``sessions.parquet``, ``views.parquet``, ``report.json``) and tells, for one article, each entry
of its list with the rule behind it (confidence, lift, readers, networks) or, for the popular fill,
how many readers the article had in the last ``popular_days``; and when the list holds fewer
entries from rules than it could (or there is no list), why: the article is not among the page
views, is in too few baskets, or the articles read with it fall short of which threshold
(``min_support``, ``min_confidence``, ``min_count``, ``min_networks``, ``lift_above_one``), with
the nearest cases. The figures are those of the run, recounted from its outputs:

    python -m recsys.show out/ /archives/493

Exit status: 0 when the article has a list, 1 when it has none (the reason is printed), 2 when
``OUT_DIR`` holds no outputs of a run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .errors import RecsysError
from .itemsets import min_count
from .settings import Settings
from .titles import plain_text
from .urls import is_article_url, normalize_urls, slash_option

__all__ = ["explain", "render", "main", "NoOutputs"]

#: The nearest cases shown for each threshold.
EXAMPLES = 3


class NoOutputs(RecsysError):
    """The folder holds no outputs of a run (no ``related.json`` nor ``report.json``)."""


# reading the outputs ---------------------------------------------------------------------------------------
def _json(path: Path) -> dict | None:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise RecsysError(f"cannot read {path}: {e}") from None
    return data if isinstance(data, dict) else None


def _parquet(path: Path, columns: list[str]) -> pa.Table | None:
    if not path.exists():
        return None
    try:
        return pq.read_table(path, columns=columns)
    except (OSError, pa.ArrowException) as e:
        raise RecsysError(f"cannot read {path}: {e}") from None


def canonical_url(article: str, *, form: str, keep_query=()) -> str:
    """The article's URL as the run wrote it: the path (and the kept query) of a URL or a path,
    normalized as the logs' URLs are, in the blog's trailing-slash ``form``.

    >>> canonical_url("https://blog.example.org/archives/%34%39%33/?utm_source=x", form="strip")
    '/archives/493'
    """
    parts = urlsplit(article.strip())
    path = parts.path if parts.scheme or parts.netloc or article.strip().startswith("/") else "/" + parts.path
    return normalize_urls([path or "/"], [parts.query or None], trailing_slash=form, keep_query=keep_query)[0]


# the explanation -------------------------------------------------------------------------------------------
def explain(out: str | os.PathLike, article: str) -> dict[str, Any]:
    """The list of ``article`` in the outputs of a run, each entry's reason, and what is missing.

    Parameters
    ----------
    out : path
        The folder a run wrote (``--out``).
    article : str
        The article's URL or path, in either trailing-slash form.

    Returns
    -------
    dict
        ``url`` (as the run writes it), ``title``, ``params``, ``generated``, ``published`` (False
        when the last run was refused and the outputs are an earlier run's), ``entries`` (each:
        ``rank``, ``url``, ``title``, ``source``, and the rule's ``confidence``, ``lift``,
        ``readers``, ``networks`` and ``baskets``, or the popular fill's ``readers`` in the last
        ``days``), ``baskets`` and ``readers`` (of the article), ``total_baskets``,
        ``min_baskets`` (what ``min_support`` asks for), ``views`` (of the article; None when
        ``views.parquet`` is not there), ``why`` (sentences) and ``short`` (per threshold, the
        articles read with it that fall short of it, nearest first).

    Raises
    ------
    NoOutputs
        When ``out`` holds neither ``related.json`` nor ``report.json``.
    """
    folder = Path(out)
    related, report = _json(folder / "related.json"), _json(folder / "report.json")
    if related is None and report is None:
        raise NoOutputs(f"{folder} holds no outputs of a run (no related.json, no report.json): give the folder "
                        "python -m recsys.mine wrote with --out")
    params = (related or report or {}).get("params") or {}
    defaults = Settings().flat()

    def param(name: str):
        return params.get(name, defaults[name])

    form = ((report or {}).get("trailing_slash") or {}).get("trailing_slash") \
        or slash_option(param("article_pattern"), param("trailing_slash"))[0] or "strip"
    url = canonical_url(article, form=form, keep_query=param("keep_query"))
    items = (related or {}).get("items") or {}
    if form == "keep" and url not in items:  # the slash is part of the URL: try the other spelling
        other = url[:-1] if url.endswith("/") and url != "/" else url + "/"
        url = other if other in items else url
    publication = (report or {}).get("publication") or {}
    result: dict[str, Any] = {
        "url": url, "title": None, "params": params, "generated": (related or {}).get("generated"),
        "published": publication.get("published", True), "problem": publication.get("problem"),
        "article": is_article_url(url, param("article_pattern"), trailing_slash=form),
        "entries": [], "why": [], "short": {},
    }
    entries = items.get(url) or []
    sessions = _sessions(folder / "sessions.parquet", url)
    views = _parquet(folder / "views.parquet", ["ts", "visitor", "url"])
    result["views"] = None if views is None else int(pc.sum(pc.equal(views["url"], url)).as_py() or 0)
    if param("ranking") == "sequences" and (folder / "sequences.parquet").exists():
        result["ranking"] = "sequences"
        result["title"] = _title_of(url, related)
        fill = [e.get("url") for e in entries if e.get("source") != "rules"]
        _explain_sequences(result, entries, _sequence_rules(folder / "sequences.parquet", url), sessions, param,
                           _trusted_readers(folder / "sequences.parquet", fill))
        return result
    rules = _rules(folder / "rules.parquet", url)
    readers_recent = _recent_readers(views, param("popular_days"))
    for rank, e in enumerate(entries, 1):
        entry = {"rank": rank, "url": e.get("url"), "title": e.get("title"), "source": e.get("source")}
        if e.get("source") == "rules":
            rule = rules.get(e.get("url")) if rules is not None else None
            entry.update(confidence=e.get("confidence"), lift=e.get("lift"), readers=e.get("count"),
                         networks=None if rule is None else rule["networks"],
                         baskets=None if rule is None else rule["count"])
        else:
            entry.update(readers=readers_recent.get(e.get("url")), days=param("popular_days"))
        result["entries"].append(entry)
    result["title"] = _title_of(url, related)
    _why(result, entries, sessions, rules, param)
    return result


def _sequence_rules(path: Path, url: str) -> pd.DataFrame:
    """The sequential pair rules ``url -> X``, by consequent."""
    table = pq.read_table(path, filters=[("antecedent", "==", url)])
    return table.to_pandas().set_index("consequent")


def _trusted_readers(path: Path, urls: list) -> pd.Series:
    """The trusted readers of articles (the ``consequent_n`` of the rules leading to them)."""
    if not urls:
        return pd.Series(dtype=float)
    table = pq.read_table(path, columns=["consequent", "consequent_n"], filters=[("consequent", "in", urls)])
    return table.to_pandas().groupby("consequent")["consequent_n"].first()


def _explain_sequences(result: dict, entries: list, rules: pd.DataFrame, sessions: dict | None, param,
                       readers: pd.Series) -> None:
    """Each entry's sequential rule (or the fill's trusted readers), and why the list is short."""
    for rank, e in enumerate(entries, 1):
        entry = {"rank": rank, "url": e.get("url"), "title": e.get("title"), "source": e.get("source")}
        rule = rules.loc[e.get("url")] if e.get("url") in rules.index else None
        if e.get("source") == "rules" and rule is not None:
            entry.update({m: _plain(rule[m]) for m in ("score", "tier", "confidence", "lift", "count", "count_after",
                                                       "sources", "evidence")})
        elif e.get("source") != "rules":
            entry.update(trusted_readers=_plain(readers.get(e.get("url"))))
        result["entries"].append(entry)
    why, k = result["why"], param("k")
    from_rules = sum(e.get("source") == "rules" for e in entries)
    if not result["published"]:
        why.append(f"the last run was not published ({result['problem']}): these outputs are an earlier run's")
    if sessions is not None:
        result.update(baskets=sessions["baskets"], readers=sessions["readers"], total_baskets=sessions["total"])
    if from_rules >= k:
        return
    if sessions is not None and not sessions["baskets"]:
        why.append("it is not among the baskets of the run: nobody's session holds it")
        return
    refused = rules[~rules["admitted"]].sort_values("sources", ascending=False) if len(rules) else rules
    why.append(f"it was read in a session with {len(rules):,} other articles"
               + (f", of which {len(refused):,} no returning reader (seen --returning-days apart) has read: "
                  "they are not recommended (--admit-min)" if len(refused) else "") + "; popular articles fill the rest")
    if len(refused):
        result["short"] = {"admit_min": [{"url": u, "sources": int(r["sources"]), "count": int(r["count"])}
                                         for u, r in refused.head(EXAMPLES * 3).iterrows()]}


def _plain(x):
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return None
    return x.item() if hasattr(x, "item") else x


def _sessions(path: Path, url: str) -> dict | None:
    """The baskets mined, and those holding ``url``: their count, readers, and the articles read
    with it (baskets and readers of each)."""
    table = _parquet(path, ["visitor", "items"])
    if table is None:
        return None
    items = table["items"].combine_chunks() if table.num_rows else pa.array([], pa.list_(pa.string()))
    flat, parent = pc.list_flatten(items), pc.list_parent_indices(items)
    holding = np.unique(parent.filter(pc.equal(flat, url)).to_numpy()) if len(flat) else np.zeros(0, np.int64)
    mine = table.take(pa.array(holding, pa.int64())).to_pandas()
    co = mine.explode("items").rename(columns={"items": "with"})
    co = co[co["with"] != url]
    together = co.groupby("with").agg(baskets=("visitor", "size"), readers=("visitor", "nunique"))
    return {"total": table.num_rows, "baskets": len(holding), "readers": int(mine["visitor"].nunique()),
            "together": together.sort_values(["readers", "baskets"], ascending=False)}


def _rules(path: Path, url: str) -> dict | None:
    """The rules ``url -> X`` of one article on each side, by consequent."""
    table = _parquet(path, ["antecedents", "consequents", "confidence", "lift", "count", "visitors", "networks"])
    if table is None:
        return None
    rules = table.to_pandas()
    one = rules["antecedents"].map(len).eq(1) & rules["consequents"].map(len).eq(1)
    rules = rules[one]
    rules = rules[rules["antecedents"].map(lambda a: a[0] == url)]
    return {c[0]: {k: (int(v) if k in ("count", "visitors", "networks") else float(v)) for k, v in r.items()
                   if k not in ("antecedents", "consequents")}
            for c, r in zip(rules["consequents"], rules.to_dict("records"))}


def _recent_readers(views: pa.Table | None, days: float) -> dict[str, int]:
    """Readers (distinct visitors) of each article in the ``days`` before the last view."""
    if views is None or not views.num_rows:
        return {}
    frame = views.to_pandas()
    until = frame["ts"].max()
    recent = frame[frame["ts"] > until - pd.Timedelta(days=days)]
    return recent.groupby(recent["url"].astype(str), observed=True)["visitor"].nunique().astype(int).to_dict()


def _title_of(url: str, related: dict | None) -> str | None:
    for entries in ((related or {}).get("items") or {}).values():
        for e in entries:
            if e.get("url") == url and e.get("title"):
                return e["title"]
    return None


def _why(result: dict, entries: list, sessions: dict | None, rules: dict | None, param) -> None:
    """Why the list holds fewer entries from rules than ``k`` (or is missing), into ``result``."""
    why, k = result["why"], param("k")
    from_rules = sum(e.get("source") == "rules" for e in entries)
    if not result["published"]:
        why.append(f"the last run was not published ({result['problem']}): these outputs are an earlier run's")
    if not result["article"]:
        why.append(f"{result['url']} does not match the article pattern {param('article_pattern')!r}: it is no "
                   "article to the run (--article-pattern)")
    if sessions is None:
        if from_rules < k:
            why.append("sessions.parquet is not in the folder (written elsewhere with --spark-datasets?): the "
                       "articles read with it cannot be counted")
        return
    support = min_count(param("min_support"), sessions["total"])
    result.update(baskets=sessions["baskets"], readers=sessions["readers"], total_baskets=sessions["total"],
                  min_baskets=support)
    if from_rules >= k:
        return
    if not sessions["baskets"]:
        if result["views"] is None or result["views"] == 0:
            why.append("it is not among the page views of the run (a URL read by nobody in the logs, or whose "
                       "lines were all dropped: see report.json's accounting)")
        else:
            why.append(f"its {result['views']:,} views are all in baskets of more than {param('max_items')} "
                       "articles, which are dropped as crawlers' (--max-items)")
    elif sessions["baskets"] < support:
        why.append(f"it is in {sessions['baskets']:,} baskets (of {sessions['total']:,}), by "
                   f"{sessions['readers']:,} readers: a rule needs it read with another article in {support:,} "
                   f"baskets (--min-support {param('min_support')})")
    _short(result, sessions, rules or {}, support, param)
    if not entries and sessions["baskets"]:
        why.append(f"no rule from it passes, and nobody read it in the last {param('popular_days'):g} days "
                   "(--popular-days), so it gets no popular fill either")


def _short(result: dict, sessions: dict, rules: dict, support: int, param) -> None:
    """The articles read with it and the first threshold each falls short of, nearest first."""
    together: pd.DataFrame = sessions["together"]
    listed = {e["url"] for e in result["entries"] if e["source"] == "rules"}
    n = sessions["baskets"]
    short: dict[str, list[dict]] = {}
    for other, row in together.iterrows():
        if other in listed:
            continue
        case = {"url": other, "baskets": int(row["baskets"]), "readers": int(row["readers"]),
                "confidence": row["baskets"] / n if n else 0.0}
        rule = rules.get(other)
        if row["baskets"] < support:
            reason = "min_support"
        elif rule is None:
            reason = "min_confidence"
        else:
            case.update(readers=rule["visitors"], networks=rule["networks"], confidence=rule["confidence"],
                        lift=rule["lift"])
            reason = ("min_count" if rule["visitors"] < param("min_count") else
                      "min_networks" if param("min_networks") and rule["networks"] < param("min_networks") else
                      "lift_above_one" if param("lift_above_one") and rule["lift"] <= 1 else "ranked_lower")
        short.setdefault(reason, []).append(case)
    order = {"min_support": "baskets", "min_confidence": "confidence", "min_count": "readers",
             "min_networks": "networks", "lift_above_one": "lift", "ranked_lower": "confidence"}
    result["short"] = {reason: sorted(short[reason], key=lambda c: (-c[key], c["url"]))
                       for reason, key in order.items() if reason in short}  # in the order the run applies them


# the text -----------------------------------------------------------------------------------------------
_SHORT_TEXT = {
    "min_support": "read with it in fewer than {support} baskets (--min-support {min_support})",
    "min_confidence": "read with it in enough baskets, but in under {min_confidence:.0%} of its baskets "
                      "(--min-confidence {min_confidence})",
    "min_count": "behind a rule of fewer than {min_count} readers (--min-count {min_count})",
    "min_networks": "behind a rule whose readers come from fewer than {min_networks} networks "
                    "(--min-networks {min_networks})",
    "lift_above_one": "behind a rule of lift 1 or less (--lift-above-one)",
    "ranked_lower": "behind rules that pass, yet not in the list (URLs left out of related.json?)",
}


def _case(reason: str, c: dict) -> str:
    if reason == "min_support":
        return f"{c['url']} ({c['baskets']} baskets)"
    if reason in ("min_confidence", "ranked_lower"):
        return f"{c['url']} (confidence {c['confidence']:.3f}, {c['baskets']} baskets)"
    if reason == "lift_above_one":
        return f"{c['url']} (lift {c['lift']:.2f})"
    return f"{c['url']} ({c['readers']} readers, {c.get('networks', '?')} networks)"


def _sequence_text(e: dict) -> str:
    if e["source"] != "rules":
        readers = "?" if e.get("trusted_readers") is None else f"{e['trusted_readers']:.1f}"
        return f"popular fill ({readers} trusted readers)"
    if e.get("score") is None:
        return "rule: (not in sequences.parquet)"
    return (f"rule: score {e['score']:.3f} (tier {e['tier']}), confidence {e['confidence']:.3f}, lift "
            f"{e['lift']:.2f}; {e['count']:,} sessions read both, {e['count_after']:,} of them it after, "
            f"{e['sources']:,} networks or readers")


def _named(url: str, title: str | None) -> str:
    return f"{url} “{plain_text(title)}”" if title else url


def render(result: dict[str, Any]) -> str:
    """The explanation of :func:`explain` as lines of text."""
    p = {**Settings().flat(), **result["params"]}
    out = [_named(result["url"], result["title"])]
    if result.get("baskets"):
        out.append(f"read in {result['baskets']:,} of the {result['total_baskets']:,} baskets, by "
                   f"{result['readers']:,} readers" + (f" ({result['views']:,} page views)" if result["views"] else ""))
    if result["entries"]:
        out.append(f"readers also read (related.json of {result['generated']}):")
        for e in result["entries"]:
            if result.get("ranking") == "sequences":
                how = _sequence_text(e)
            elif e["source"] == "rules":
                extra = (f", {e['networks']:,} networks, {e['baskets']:,} baskets" if e.get("networks") is not None
                         else "")
                how = f"rule: confidence {e['confidence']:.3f}, lift {e['lift']:.2f}, {e['readers']:,} readers{extra}"
            else:
                readers = "?" if e["readers"] is None else f"{e['readers']:,}"
                how = f"popular fill ({readers} readers in the last {e['days']:g} days)"
            out.append(f"  {e['rank']}. {_named(e['url'], e['title'])}: {how}")
    else:
        out.append("no list in related.json")
    out += [f"- {w}" for w in result["why"]]
    short = result["short"]
    if result.get("ranking") == "sequences":
        for c in short.get("admit_min", [])[:EXAMPLES]:
            out.append(f"  not admitted: {c['url']} ({c['count']} sessions, {c['sources']} networks or readers)")
    elif short:
        from_rules = sum(e["source"] == "rules" for e in result["entries"])
        total = sum(len(v) for v in short.values()) + from_rules
        out.append(f"of the {total:,} articles read with it, " + (f"{from_rules} make the rules above; the others are"
                   if from_rules else "none makes a rule that passes; they are"))
        values = {**p, "support": result.get("min_baskets")}
        for reason, cases in short.items():
            shown = ", ".join(_case(reason, c) for c in cases[:EXAMPLES]) + (", ..." if len(cases) > EXAMPLES else "")
            out.append(f"  {len(cases):,} {_SHORT_TEXT[reason].format(**values)}: {shown}")
    return "\n".join(out)


# the command line ----------------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not the whole usage
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m recsys.show", formatter_class=argparse.RawDescriptionHelpFormatter,
                     description="Show an article's list with the rule behind each entry, and why it has no more.",
                     epilog="example:\n  python -m recsys.show out/ /archives/493\n"
                            "  python -m recsys.show out/ https://blog.example.org/posts/why-rust")
    parser.add_argument("out", metavar="OUT_DIR", help="the folder python -m recsys.mine wrote (--out)")
    parser.add_argument("article", metavar="ARTICLE", help="the article's URL or path (either trailing-slash form)")
    args = parser.parse_args(sys.argv[1:] if argv is None else [os.fspath(a) for a in argv])
    try:
        result = explain(args.out, args.article)
        print(render(result))
        sys.stdout.flush()
    except NoOutputs as e:
        print(f"recsys: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (RecsysError, ValueError, OSError) as e:
        print(f"recsys: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 1
    return 0 if result["entries"] else 1


if __name__ == "__main__":
    raise SystemExit(main())

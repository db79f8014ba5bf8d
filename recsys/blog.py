"""The blog side: formats derived from ``related.json``, article titles, and the JavaScript widget.

:func:`export_blog` writes, from a ``related.json`` document (:func:`recsys.related_json`), what
each kind of blog imports, every file atomically, under one folder::

    hugo/data/related.json                 site.Data.related, for the partial below
    hugo/layouts/partials/related.html     {{ partial "related.html" . }} in single.html
    hexo/source/_data/related.json         site.data.related, for the partial below
    hexo/layout/_partial/related.ejs       <%- partial('_partial/related') %> in a theme's post.ejs
    wordpress/related.php                  a must-use plugin: the list after each post
    wordpress/related.json                 what it reads (RECSYS_RELATED_JSON in wp-config.php)
    widget/related.js                      any blog: <div data-recsys-related> and a script tag
    widget/related.json                    what it fetches by default (next to the script)
    widget/next.json                       the rules it ranks a reader's own history with (given one)
    related.csv                            for spreadsheets: one row per recommendation

The three ``related.json`` of the blogs are one format: related.json's ``version``, ``generated``
and ``items``, each entry reduced to ``url`` and ``title`` (when known). The lists are keyed by the
article's path, as in the logs, which is what Hugo's ``.RelPermalink`` and Hexo's
``url_for(page.path)`` give: the templates look the current page up by its path, then by the same
with the trailing slash toggled, so a page finds its list whichever form its URLs and the keys take.

WordPress gets a must-use plugin that reads the file and renders the list itself, rather than
lists fed to Contextual Related Posts: its manual related posts are post IDs kept in each post's
metadata, so recsys would need WordPress's URL-to-ID mapping and would write into its database on
every run, through a plugin-internal format; the plugin needs neither, and asks WordPress for a
title only when the file has none.

Safety: the URLs come from logs anyone can write to. Every format is checked again here, whatever
the document says: an entry is kept only if its URL is a same-site path matching the article
pattern (:func:`recsys.export.safe_url`: no scheme, no ``//host``, no quote, space or backslash);
titles are plain text, HTML elements such as ``<script>`` or ``<img>`` removed; the JSON files
write ``<``, ``>`` and ``&`` as ``\\u003c``, ``\\u003e`` and ``\\u0026``; the templates escape what
they print (Hugo's html/template, EJS ``<%= %>``, ``esc_url``/``esc_html``, ``textContent``);
CSV cells that a spreadsheet would run as a formula are prefixed with ``'``.

``widget/next.json`` (:func:`recsys.export.next_json`, checked again by :func:`next_data`) is only
for the widget: Hugo's, Hexo's and WordPress's lists are made on the server, the same for every
reader, and stay what readers without JavaScript see.

The templates are files of the package (``recsys/templates/``); ``widget/related.js`` at the top
of the repository is the widget's file itself. Titles come from :func:`recsys.load_titles`.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import re
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path

from .atomic import atomic_write
from .errors import RecsysError
from .export import NEXT_VERSION, RELATED_VERSION, article_regex, json_text, safe_url
from .titles import plain_text
from .urls import with_form

__all__ = [
    "export_blog", "blog_data", "next_data", "related_csv", "BLOG_FORMATS", "CSV_COLUMNS",
    "HUGO_PARTIAL", "HEXO_PARTIAL", "WORDPRESS_PLUGIN", "WIDGET_JS",
]

log = logging.getLogger(__name__)

BLOG_FORMATS = ("hugo", "hexo", "wordpress", "widget", "csv")
CSV_COLUMNS = ("article", "rank", "url", "title", "score", "confidence", "lift", "count", "source")

# The checked lists -----------------------------------------------------------------------------
def _pattern(document: Mapping, article_pattern: str | None) -> re.Pattern:
    if article_pattern is None:
        params = document.get("params")
        article_pattern = params.get("article_pattern") if isinstance(params, Mapping) else None
        article_pattern = article_pattern if isinstance(article_pattern, str) else "openresty"
    try:
        return article_regex(article_pattern)
    except ValueError as e:
        raise RecsysError(str(e)) from None


def _checked(document: Mapping, article_pattern: str | None) -> dict[str, list[dict]]:
    """The document's lists with every entry that is not a safe same-site article path left out."""
    if not isinstance(document, Mapping) or not isinstance(document.get("items"), Mapping):
        raise RecsysError("not a related.json document: a JSON object with 'items' is expected "
                          "(make one with recsys.related_json or python -m recsys.mine)")
    version = document.get("version")
    if version != RELATED_VERSION:
        raise RecsysError(f"related.json version {version!r} is not supported: this recsys reads version "
                          f"{RELATED_VERSION}; export with the recsys that wrote the file")
    pattern = _pattern(document, article_pattern)
    out: dict[str, list[dict]] = {}
    dropped = 0
    for article, entries in document["items"].items():
        if not safe_url(article, pattern) or not isinstance(entries, list):
            dropped += 1
            continue
        seen = {with_form(article, "strip")}  # one article, one entry, whatever its trailing slash
        kept = []
        for entry in entries:
            url = entry.get("url") if isinstance(entry, Mapping) else None
            if not safe_url(url, pattern) or with_form(url, "strip") in seen:
                dropped += 1
                continue
            seen.add(with_form(url, "strip"))
            kept.append({**entry, "title": plain_text(entry.get("title"))})
        if kept:
            out[article] = kept
    if dropped:
        log.warning("left %d articles or recommendations out of the blog files: not same-site article "
                    "paths, or repeated", dropped)
    return out


def blog_data(document: Mapping, *, article_pattern: str | None = None) -> dict:
    """The data file of Hugo, Hexo, WordPress and the widget: ``items`` reduced to url and title.

    Parameters
    ----------
    document : dict
        A ``related.json`` document (version 1).
    article_pattern : str, optional
        A name of :data:`recsys.urls.ARTICLE_PATTERNS` or a regular expression; by default the one the
        document was made with (``params.article_pattern``), else ``openresty``.

    >>> doc = {"version": 1, "generated": "2024-03-31T02:00:00Z", "items": {"/archives/1": [
    ...     {"url": "/archives/2", "title": "Two", "score": 0.5}, {"url": "//evil.example/x"}]}}
    >>> blog_data(doc)["items"]
    {'/archives/1': [{'url': '/archives/2', 'title': 'Two'}]}
    """
    return _data(document, _checked(document, article_pattern))


def _data(document: Mapping, checked: dict[str, list[dict]]) -> dict:
    items = {
        article: [{"url": e["url"], **({"title": e["title"]} if e["title"] else {})} for e in entries]
        for article, entries in checked.items()
    }
    generated = document.get("generated")
    return {"version": RELATED_VERSION, "generated": generated if isinstance(generated, str) else None,
            "items": items}


def next_data(document: Mapping, *, article_pattern: str | None = None) -> dict:
    """A ``next.json`` document (:func:`recsys.export.next_json`) checked again, as the widget reads it.

    Articles that are not safe same-site article paths are left out with the rules and the fill
    entries naming them (the others renumbered); malformed rules are left out; titles are plain text.

    >>> doc = {"version": 1, "k": 2, "recent": 5, "articles": ["/archives/1", "//evil.example/", "/archives/2"],
    ...        "popularity": [2, 0, 1], "fill": [1, 2, 0], "rules": [[[1, 0.9], [2, 0.5]], [[0, 1.0], []], 7]}
    >>> d = next_data(doc)
    >>> d["articles"], d["popularity"], d["fill"], d["rules"]
    (['/archives/1', '/archives/2'], [1, 0], [1, 0], [[[], [1, 0.5]], [[], []]])
    """
    if not isinstance(document, Mapping) or document.get("version") != NEXT_VERSION:
        raise RecsysError(f"not a next.json document of version {NEXT_VERSION}: make one with recsys.export.next_json "
                          "(python -m recsys.mine writes it next to related.json)")
    pattern = _pattern(document, article_pattern)
    fields = [document.get(name) for name in ("articles", "popularity", "fill", "rules")]
    if not all(isinstance(f, list) for f in fields) or len({len(fields[0]), len(fields[1]), len(fields[3])}) != 1:
        raise RecsysError("next.json's articles, popularity and rules must be lists of one length, and fill a list")
    articles, popularity, fill, rules = fields
    titles = document.get("titles")
    n = len(articles)
    safe = [safe_url(u, pattern) for u in articles]
    new, kept = {}, []
    for i in range(n):
        if safe[i]:
            new[i] = len(kept)
            kept.append(i)

    def index(x):
        return new.get(x) if isinstance(x, int) and not isinstance(x, bool) else None

    def pairs(flat) -> list:  # the flat consequent, score pairs that are sound, renumbered
        if not isinstance(flat, list) or len(flat) % 2:
            return []
        return [x for b, sc in zip(flat[::2], flat[1::2]) if index(b) is not None and not isinstance(sc, bool)
                and isinstance(sc, (int, float)) and math.isfinite(sc) and sc >= 0 for x in (new[b], sc)]

    out = {"version": NEXT_VERSION, "generated": document.get("generated") if isinstance(document.get("generated"), str)
           else None}
    for name in ("k", "recent", "max_rules", "history"):
        value = document.get(name)
        out[name] = value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
    out["articles"] = [articles[i] for i in kept]
    if isinstance(titles, list) and len(titles) == n:
        out["titles"] = [plain_text(titles[i]) or None for i in kept]
    ranks = [p if isinstance(p, (int, float)) and not isinstance(p, bool) and math.isfinite(p) else math.inf
             for p in (popularity[i] for i in kept)]
    order = sorted(range(len(kept)), key=lambda j: (ranks[j], j))
    out["popularity"] = [0] * len(kept)
    for place, j in enumerate(order):
        out["popularity"][j] = place
    out["fill"] = list(dict.fromkeys(new[x] for x in fill if index(x) is not None))
    out["rules"] = [[pairs(rules[i][t]) if isinstance(rules[i], list) and len(rules[i]) == 2 else []
                     for t in (0, 1)] for i in kept]
    if len(kept) < n:
        log.warning("left %d articles out of next.json: not same-site article paths", n - len(kept))
    return out


def _csv_number(x: object) -> object:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return ""
    return x if math.isfinite(x) else ""


def _csv_cell(text: str) -> str:
    """Text a spreadsheet shows, never runs: a leading = + - @ tab or CR gets a ``'``."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def related_csv(document: Mapping, *, article_pattern: str | None = None) -> str:
    """The lists as CSV, one row per recommendation: article, rank, url, title, and the measures.

    Empty cells for what is unknown (titles, and the measures of the ``popular`` fill).

    >>> doc = {"version": 1, "items": {"/archives/1": [{"url": "/archives/2", "title": "=cmd()",
    ...     "score": 0.5, "confidence": 0.5, "lift": 2.0, "count": 4, "source": "rules"}]}}
    >>> print(related_csv(doc), end="")
    article,rank,url,title,score,confidence,lift,count,source
    /archives/1,1,/archives/2,'=cmd(),0.5,0.5,2.0,4,rules
    """
    return _csv(_checked(document, article_pattern))


def _csv(checked: dict[str, list[dict]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for article, entries in checked.items():
        for rank, e in enumerate(entries, 1):
            source = e.get("source") if e.get("source") in ("rules", "popular") else ""
            measures = [_csv_number(e.get(k)) for k in ("score", "confidence", "lift", "count")]
            writer.writerow([article, rank, e["url"], _csv_cell(e["title"]), *measures, source])
    return out.getvalue()


# Writing ---------------------------------------------------------------------------------------
def _write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    return path


def export_blog(
    document: Mapping,
    out_dir: str | os.PathLike,
    *,
    formats: Iterable[str] = BLOG_FORMATS,
    article_pattern: str | None = None,
    following: Mapping | None = None,
) -> list[Path]:
    """Write the blog formats of a ``related.json`` document under ``out_dir``, each file atomically.

    Parameters
    ----------
    document : dict
        A ``related.json`` document (:func:`recsys.related_json`, or ``json.load`` of the file).
    out_dir : path
        The folder to write into (made if missing); see the module's docstring for the layout.
    formats : iterable of str, default all of :data:`BLOG_FORMATS`
        Any of ``hugo``, ``hexo``, ``wordpress``, ``widget`` and ``csv``.
    article_pattern : str, optional
        The article pattern every URL must match (default: the document's, else ``openresty``).
    following : dict, optional
        A ``next.json`` document (:meth:`recsys.Run.next`): written as ``widget/next.json``
        (checked again, :func:`next_data`) with the widget, for the lists of each reader's history.

    Returns
    -------
    list of pathlib.Path
        The files written.

    >>> import tempfile
    >>> doc = {"version": 1, "items": {"/archives/1": [{"url": "/archives/2"}]}}
    >>> [p.name for p in export_blog(doc, tempfile.mkdtemp(), formats=["hugo", "csv"])]
    ['related.json', 'related.html', 'related.csv']
    """
    formats = list(formats)
    unknown = [f for f in formats if f not in BLOG_FORMATS]
    if unknown:
        raise RecsysError(f"unknown blog format {', '.join(map(repr, unknown))}: "
                          f"choose among {', '.join(BLOG_FORMATS)}")
    out = Path(out_dir)
    checked = _checked(document, article_pattern)
    pattern = _pattern(document, article_pattern)
    data = json_text(_data(document, checked))
    files = {
        "hugo": [("hugo/data/related.json", data),
                 ("hugo/layouts/partials/related.html", HUGO_PARTIAL)],
        "hexo": [("hexo/source/_data/related.json", data),
                 ("hexo/layout/_partial/related.ejs", HEXO_PARTIAL)],
        "wordpress": [("wordpress/related.json", data), ("wordpress/related.php", WORDPRESS_PLUGIN)],
        "widget": [("widget/related.json", data), ("widget/related.js", WIDGET_JS)]
        + ([("widget/next.json", json_text(next_data(following, article_pattern=pattern.pattern), compact=True))]
           if following is not None else []),
        "csv": [("related.csv", None)],
    }
    written = []
    for fmt in dict.fromkeys(formats):
        for name, text in files[fmt]:
            if text is None:
                text = _csv(checked)
            written.append(_write_text(out / name, text))
    log.info("wrote %d blog files under %s", len(written), out)
    return written


# The static files --------------------------------------------------------------------------------
def _template(name: str) -> str:
    return resources.files("recsys").joinpath("templates", name).read_text(encoding="utf-8")


#: Hugo partial (html/template escapes what it prints, and turns a non-http URL into #ZgotmplZ).
HUGO_PARTIAL = _template("related.html")
#: Hexo partial (EJS; ``<%= %>`` escapes what it prints).
HEXO_PARTIAL = _template("related.ejs")
#: WordPress must-use plugin: wp-content/mu-plugins/related.php.
WORDPRESS_PLUGIN = _template("related.php")
#: The widget, the same file as ``widget/related.js``.
WIDGET_JS = _template("related.js")

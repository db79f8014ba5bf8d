"""Article titles for the lists: read from the blog's feed, a news sitemap or a CSV.

:func:`load_titles` gives ``{path: title}`` for :func:`recsys.related_json` (``titles=``) and
``python -m recsys.mine --titles FILE``; :func:`plain_text` is how every title is cleaned, here and
when related.json is written: the titles end up in web pages, and a feed is not trusted more than
a log line.
"""

from __future__ import annotations

import csv
import gzip
import html
import io
import logging
import os
import re
import xml.etree.ElementTree as ET
import zlib
from collections import Counter
from urllib.parse import urlsplit

import pandas as pd

from .errors import RecsysError
from .urls import normalize_urls, slash_option

__all__ = ["load_titles", "plain_text", "MAX_TITLE"]

log = logging.getLogger(__name__)

MAX_TITLE = 300


# Plain text ------------------------------------------------------------------------------------
_ELEMENTS = (
    "a|abbr|address|area|article|aside|audio|b|base|bdi|bdo|big|blink|blockquote|body|br|button|canvas|"
    "caption|center|cite|code|col|data|del|details|dfn|dialog|div|dl|dt|dd|em|embed|fieldset|figure|font|"
    "form|frame|frameset|h[1-6]|head|header|hr|html|i|iframe|img|input|ins|kbd|label|li|link|main|mark|"
    "marquee|math|meta|meter|nav|noscript|object|ol|option|p|param|picture|pre|q|s|samp|script|section|"
    "select|slot|small|source|span|strike|strong|style|sub|summary|sup|svg|table|tbody|td|template|"
    "textarea|tfoot|th|thead|time|title|tr|track|tt|u|ul|var|video|wbr|xmp"
)
_TAG = re.compile(rf"</?({_ELEMENTS})(?:[\s/][^<>]*)?>|<!--.*?-->", re.IGNORECASE | re.DOTALL)
_BREAK = re.compile(r"br|p|div|li|h[1-6]|hr|tr|td|th", re.IGNORECASE)  # elements that separate words
_SCRIPT = re.compile(r"<(script|style)\b[^<>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u2028\u2029]")


def plain_text(text: object, *, html_text: bool = False) -> str:
    """A title as one line of plain text: HTML elements removed, whitespace collapsed.

    With ``html_text=True`` (titles of feeds, which may hold HTML) entities are decoded first.
    Only real HTML elements are removed, so ``Vec<T>`` stays ``Vec<T>``; the outputs escape it.

    >>> plain_text("  Why <b>Vec&lt;T&gt;</b>\\n grows <script>alert(1)</script>", html_text=True)
    'Why Vec<T> grows'
    """
    if not isinstance(text, str):
        return ""
    if html_text:
        text = html.unescape(text)
    text = _CONTROL.sub(" ", text)  # first: a control character inside a tag must not hide it
    for _ in range(10):  # "<scr<script>ipt>" needs more than one pass; scripts go whole first
        stripped = _SCRIPT.sub("", text)
        if stripped == text:
            stripped = _TAG.sub(lambda m: " " if m[1] and _BREAK.fullmatch(m[1]) else "", text)
            if stripped == text:
                break
        text = stripped
    return " ".join(text.split())[:MAX_TITLE].strip()


# Feeds, sitemaps, CSV ----------------------------------------------------------------------------------------
_ATOM = "{http://www.w3.org/2005/Atom}"
_SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
_NEWS = "{http://www.google.com/schemas/sitemap-news/0.9}"
_RSS1 = "{http://purl.org/rss/1.0/}"
_RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"


def _text(el: ET.Element | None) -> str:
    return "".join(el.itertext()) if el is not None else ""


def _atom_title(el: ET.Element | None) -> str:
    kind = (el.get("type") or "text") if el is not None else "text"
    return plain_text(_text(el), html_text=kind != "text")


def _atom_link(el: ET.Element) -> str | None:
    links = el.findall(f"{_ATOM}link")
    for link in links:
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return link.get("href")
    return None


def _pairs_of_xml(root: ET.Element, name: str) -> tuple[list[tuple[str, str]], str | None]:
    """(link, title) pairs and the site's own link, from a parsed feed or sitemap."""
    tag = root.tag
    if tag == "rss":
        channel = root.find("channel")
        items = channel.findall("item") if channel is not None else []
        pairs = [((i.findtext("link") or "").strip(), plain_text(i.findtext("title"), html_text=True))
                 for i in items]
        return pairs, (channel.findtext("link") or "").strip() if channel is not None else None
    if tag == f"{_ATOM}feed":
        pairs = [(_atom_link(e) or "", _atom_title(e.find(f"{_ATOM}title")))
                 for e in root.findall(f"{_ATOM}entry")]
        return pairs, _atom_link(root)
    if tag == f"{_RDF}RDF":  # RSS 1.0
        items = root.findall(f"{_RSS1}item")
        pairs = [((i.findtext(f"{_RSS1}link") or "").strip(),
                  plain_text(i.findtext(f"{_RSS1}title"), html_text=True)) for i in items]
        channel = root.find(f"{_RSS1}channel")
        return pairs, (channel.findtext(f"{_RSS1}link") or "").strip() if channel is not None else None
    if tag == f"{_SITEMAP}urlset":
        pairs = [((u.findtext(f"{_SITEMAP}loc") or "").strip(),
                  plain_text(u.findtext(f"{_NEWS}news/{_NEWS}title"), html_text=True))
                 for u in root.findall(f"{_SITEMAP}url")]
        if pairs and not any(t for _, t in pairs):
            raise RecsysError(
                f"{name} is a sitemap without titles: plain sitemaps list URLs only (Google News sitemaps "
                "have <news:title>); give the blog's RSS or Atom feed, or a CSV of url,title, instead")
        return pairs, None
    if tag == f"{_SITEMAP}sitemapindex":
        raise RecsysError(f"{name} is a sitemap index: give one of the sitemaps it lists (with titles) "
                          "instead")
    raise RecsysError(f"{name} is XML but not an RSS or Atom feed nor a sitemap (root element {tag!r}); "
                      "give the blog's feed, a Google News sitemap or a CSV of url,title")


def _pairs_of_csv(text: str, name: str) -> list[tuple[str, str]]:
    rows = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
    if not rows:
        return []
    header = [c.strip().lower() for c in rows[0]]
    if "url" in header and "title" in header:
        u, t = header.index("url"), header.index("title")
        rows = rows[1:]
    elif rows[0][0].strip().startswith(("/", "http://", "https://")) and len(rows[0]) >= 2:
        u, t = 0, 1
    else:
        raise RecsysError(f"{name} is neither an RSS or Atom feed, a sitemap, nor a CSV with columns url and "
                          "title; give one of those (a CSV's first line: url,title)")
    return [(r[u].strip(), plain_text(r[t], html_text=True)) for r in rows if len(r) > max(u, t)]


def load_titles(
    path: str | os.PathLike,
    *,
    article_pattern: str = "openresty",
    trailing_slash: str | None = None,
    site: str | None = None,
) -> pd.Series:
    """The titles of a blog's articles, by path, from its feed, a news sitemap or a CSV.

    The file's kind is found from its content (gzip is read too):

    - RSS 2.0 (``<item><title>`` and ``<link>``), RSS 1.0, or Atom (``<entry><title>`` and
      ``<link rel="alternate" href>``); feeds usually hold only the latest articles;
    - a Google News sitemap (``<news:title>``); plain sitemaps, the usual ``sitemap.xml`` of
      Hugo, Hexo and WordPress, list URLs without titles and are refused with that explanation
      (image sitemaps' ``<image:title>`` names an image, not the article, and is not used);
    - a CSV with columns ``url`` and ``title`` (header line), or two columns without header.

    Links are reduced to their path, normalized as the logs are (:func:`recsys.urls.normalize_urls`,
    in the trailing-slash form given, else the preset's, else the feed's own: a feed links to the
    blog's URLs); links to another site are left out (the site is ``site``, else the feed's own
    link, else the host most links have). Titles become plain text: entities decoded, HTML
    elements removed, whitespace collapsed. The first title of a path wins.
    :func:`recsys.related_json` finds a title whichever trailing-slash form its key and the
    recommended URL take.

    Parameters
    ----------
    path : path
        The file.
    article_pattern : str, default "openresty"
        Its entry of :data:`recsys.urls.ARTICLE_PATTERNS` gives the trailing-slash form (with a regular
        expression, the links keep the form the file gives them).
    trailing_slash : {"strip", "add", "keep"}, optional
        Overrides the pattern's trailing-slash form.
    site : str, optional
        The blog's host (``blog.example.org``) or URL.

    Returns
    -------
    pandas.Series
        The titles (``title``), indexed by the article's path (``url``), in the file's order.

    >>> import pathlib, tempfile
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "titles.csv"
    >>> _ = f.write_text("url,title\\nhttps://blog.example.org/archives/2/,Two &amp; <b>three</b>\\n")
    >>> load_titles(f).to_dict()
    {'/archives/2': 'Two & three'}
    """
    name = os.fspath(path)
    slash = slash_option(article_pattern, trailing_slash)[0] or "keep"  # a regex: the feed's own form
    try:
        with open(path, "rb") as f:
            raw = f.read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError) as e:
        raise RecsysError(f"cannot read titles from {name}: {getattr(e, 'strerror', None) or e}") from None
    except zlib.error as e:
        raise RecsysError(f"cannot read titles from {name}: it starts as a gzip file but its data is "
                          f"corrupt ({e}); give the feed again, compressed or not") from None
    own = None
    if raw.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"<":
        try:
            root = ET.fromstring(raw)
        except ET.ParseError as e:
            raise RecsysError(f"{name} is not well-formed XML ({e}): give a valid feed, sitemap or "
                              "CSV") from None
        pairs, own = _pairs_of_xml(root, name)
    else:
        try:
            pairs = _pairs_of_csv(raw.decode("utf-8-sig"), name)
        except UnicodeDecodeError:
            raise RecsysError(f"{name} is not UTF-8 text: give a feed, a sitemap or a UTF-8 CSV of "
                              "url,title") from None
    titles = _titles_by_path(pairs, site or own, slash)
    if not titles:
        raise RecsysError(f"no titles found in {name}: it lists no same-site links with titles")
    return pd.Series(titles, name="title").rename_axis("url")


def _host(url: str | None) -> str | None:
    if not url:
        return None
    return urlsplit(url if "//" in url else "//" + url).hostname  # a URL or a bare host name


def _titles_by_path(pairs: list[tuple[str, str]], site: str | None, slash: str) -> dict[str, str]:
    parts = [(urlsplit(link), title) for link, title in pairs if link and title]
    hosts = Counter(p.hostname for p, _ in parts if p.hostname)
    host = _host(site) or (hosts.most_common(1)[0][0] if hosts else None)
    kept, other = [], 0
    for p, title in parts:
        elsewhere = (p.scheme or p.netloc) and (p.scheme not in ("http", "https", "") or p.hostname != host)
        if elsewhere or not p.path.startswith("/"):
            other += 1
            continue
        kept.append((p.path, title))
    if other:
        log.warning("left %d titles out: links to another site than %s, or not http(s)", other, host)
    titles: dict[str, str] = {}
    for path, title in zip(normalize_urls([p for p, _ in kept], trailing_slash=slash), [t for _, t in kept]):
        titles.setdefault(path, title)
    return titles

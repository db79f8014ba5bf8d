"""Article URLs: one spelling per page, and one trailing-slash form per blog.

:func:`normalize_urls` decodes and re-encodes percent-escapes one way, removes duplicate slashes and
dot segments, and keeps only the query parameters that name a page, so that
``/archives/12?utm_source=x``, ``//archives/12/`` and ``/archives/%31%32`` are one article.

The trailing slash is not part of an article's identity: the article pattern is tried on the URL
with and without it (:func:`is_article_url`), so ``^/blog/[^/]+/$``, ``^/blog/[^/]+$`` and
``^/blog/[^/]+/?$`` find the same views, and every article is written in one form, the blog's
(:func:`canonical_form`): the one ``trailing_slash`` names, else the preset's
(:data:`ARTICLE_PATTERNS`), else the one the logs show the blog serves.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, unquote, urlencode

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "ARTICLE_PATTERNS", "article_regex", "normalize_urls", "is_article_url", "canonical_form", "decide_form",
    "slash_option", "with_form", "path_urls", "kept_query", "PAGE_FILE", "SLASH_FORMS", "TRACKING",
]

#: Article URL patterns of common blogs (regex, trailing-slash form), matched against the
#: normalized URL with and without its trailing slash. Any other regular expression can be given
#: instead; its trailing-slash form is then read from the logs (:func:`canonical_form`).
ARTICLE_PATTERNS: dict[str, tuple[str, str]] = {
    "openresty": (r"^/archives/\d+$", "strip"),
    "hugo": (r"^/posts/[^/]+/$", "add"),
    "hexo": (r"^/\d{4}/\d{2}/\d{2}/[^/]+/$", "add"),
    "wordpress": (r"^/\d{4}/\d{2}/(?:\d{2}/)?[^/]+/$", "add"),
}
TRACKING = re.compile(r"^(?:utm_|relatedposts|replytocom$|fbclid$|gclid$|msclkid$|mc_[ce]id$|_ga$|ref$)")
_PATH_SAFE = "/:@!$&'()*+,;=~"
#: A path that names a file (``/about.html``, ``/index.php``): ``"add"`` gives it no trailing slash.
PAGE_FILE = r"(?i)\.(?:s?html?|xhtml|php\d?|aspx?|jspx?|cgi)$"
_PAGE_FILE = re.compile(PAGE_FILE)
SLASH_FORMS = ("strip", "add", "keep")
_CANONICAL = r"^[A-Za-z0-9/:@!$&'()*+,;=._~-]*$"


def article_regex(article_pattern: str) -> re.Pattern:
    """The compiled pattern of a name of :data:`ARTICLE_PATTERNS`, or of a regular expression.

    >>> bool(article_regex("hugo").search("/posts/why-rust/"))
    True

    Raises
    ------
    ValueError
        When ``article_pattern`` is neither.
    """
    name = article_pattern if isinstance(article_pattern, str) and article_pattern in ARTICLE_PATTERNS else None
    try:
        return re.compile(ARTICLE_PATTERNS[name][0] if name else article_pattern)
    except (re.error, TypeError) as e:
        raise ValueError(
            f"article_pattern must be one of {', '.join(ARTICLE_PATTERNS)} or a regular expression; "
            f"{article_pattern!r} is neither ({e})"
        ) from None


def slash_option(article_pattern, trailing_slash) -> tuple[str | None, str]:
    """The trailing-slash form given or implied, and where it comes from (None: from the logs)."""
    if trailing_slash is not None and trailing_slash not in SLASH_FORMS:
        raise ValueError(f"trailing_slash must be 'strip', 'add' or 'keep'; got {trailing_slash!r}")
    if trailing_slash:
        return trailing_slash, "option"
    if isinstance(article_pattern, str) and article_pattern in ARTICLE_PATTERNS:
        return ARTICLE_PATTERNS[article_pattern][1], "preset"
    return None, "logs"


def _canonical_path(path: str, slash: str) -> str:
    path = quote(unquote(path, errors="replace"), safe=_PATH_SAFE)
    if "/." in path:  # RFC 3986 dot segments
        keep = path.endswith(("/", "/.", "/.."))
        path = posixpath.normpath(path) + ("/" if keep else "")
        path = path.replace("//", "/")
    return path


def normalize_urls(
    paths: Iterable[str | None],
    queries: Iterable[str | None] | None = None,
    *,
    trailing_slash: str = "strip",
    keep_query: Iterable[str] = (),
) -> list[str | None]:
    """Canonical URLs: one spelling per page.

    Percent-escapes are decoded then re-encoded one way (UTF-8, upper-case hex, unreserved
    characters plain), duplicate slashes and dot segments are removed, the trailing slash is
    stripped or added (``"keep"`` leaves it; ``"add"`` gives none to a file name such as
    ``/about.html``), and the query keeps only the parameters named in ``keep_query`` (tracking
    parameters such as ``utm_*`` never), sorted.

    >>> normalize_urls(["//archives/%31%32/", "/posts/café"], ["utm_source=x&p=3", None],
    ...                keep_query=["p"])
    ['/archives/12?p=3', '/posts/caf%C3%A9']
    """
    paths = list(paths)
    queries = [None] * len(paths) if queries is None else list(queries)
    keep = frozenset(keep_query)
    out = []
    for p, q in zip(paths, queries):
        if p is None or (isinstance(p, float) and np.isnan(p)):
            out.append(None)
            continue
        p = re.sub("/{2,}", "/", p)
        if not re.match(_CANONICAL, p) or "/." in p:
            p = _canonical_path(p, trailing_slash)
        p = _slash(p, trailing_slash)
        out.append(p + kept_query(q, keep))
    return out


def _slash(p: str, mode: str | None) -> str:
    """``p`` in the trailing-slash form ``mode`` (``"add"`` leaves ``/`` and file names alone)."""
    if mode not in ("strip", "add") or not p:
        return p + "/" if mode == "add" and not p else p
    bare = p.rstrip("/") or "/"
    return bare + "/" if mode == "add" and bare != "/" and not _PAGE_FILE.search(bare) else bare


def with_form(url: str, mode: str | None) -> str:
    """A normalized URL (path and kept query) in the trailing-slash form ``mode``."""
    path, q, query = url.partition("?")
    return _slash(path, mode) + q + query


def is_article_url(url: str, article: re.Pattern | str, *, trailing_slash: str | None = None) -> bool:
    """Whether a normalized URL is an article: the pattern matches it with or without its trailing slash.

    With ``trailing_slash="keep"`` the slash is part of the URL's identity: only the URL as it is
    is tried.

    >>> [is_article_url(u, r"^/blog/[^/]+/$") for u in ["/blog/a", "/blog/a/", "/blog/", "/blog/a/b"]]
    [True, True, False, False]
    """
    pattern = article_regex(article) if isinstance(article, str) else article
    if trailing_slash == "keep":
        return bool(pattern.search(url))
    path, q, query = url.partition("?")
    bare = path.rstrip("/") or "/"
    return bool(pattern.search(bare + q + query) or (bare != "/" and pattern.search(bare + "/" + q + query)))


def kept_query(q, keep: frozenset) -> str:
    """The part of a query that names a page: ``?`` and the parameters in ``keep``, sorted (or ``""``)."""
    if not keep or not isinstance(q, str) or not q:
        return ""
    pairs = [(k, v) for k, v in parse_qsl(q, keep_blank_values=True) if k in keep and not TRACKING.match(k)]
    return "?" + urlencode(sorted(pairs)) if pairs else ""


def path_urls(paths: pd.Categorical, slash: str) -> np.ndarray:
    """The canonical URL of each category of ``paths`` (vectorized; Python only for odd ones)."""
    cats = pa.array(paths.categories.astype(object), pa.string())
    cats = pc.replace_substring_regex(cats, "/{2,}", "/")
    odd = pc.invert(pc.match_substring_regex(cats, _CANONICAL))
    odd = pc.or_(odd, pc.match_substring(cats, "/."))
    values = cats.to_numpy(zero_copy_only=False).astype(object)
    for i in np.flatnonzero(odd.to_numpy(zero_copy_only=False)):
        values[i] = _canonical_path(values[i], slash)
    if slash in ("strip", "add"):  # as _slash, on arrays
        arr = pa.array(values, pa.string())
        trimmed = pc.utf8_rtrim(arr, "/")
        bare = pc.if_else(pc.equal(trimmed, ""), "/", trimmed)
        if slash == "add":
            stays = pc.or_(pc.equal(bare, "/"), pc.match_substring_regex(bare, PAGE_FILE))
            bare = pc.if_else(stays, bare, pc.binary_join_element_wise(bare, "/", ""))
        values = bare.to_numpy(zero_copy_only=False)
    return np.asarray(values, dtype=object)


def canonical_form(
    urls: Iterable[str],
    counts: Iterable[int] | None = None,
    *,
    article_pattern: str = "openresty",
    trailing_slash: str | None = None,
) -> dict:
    """The blog's trailing-slash form, and why: decided once per run, for every article.

    In order: ``trailing_slash`` when given; else the preset's form (:data:`ARTICLE_PATTERNS`); else
    the logs say it: the form in which the blog served more of the article views (the other form
    usually gets a ``301`` to it, which is no view); on a tie (or no views), the form the article
    pattern itself demands, when it matches only one form of more of the URLs; else ``strip``.
    URLs whose path is ``/`` or names a file (``.html``, ``.php``) take either form the same way
    and tell nothing.

    Parameters
    ----------
    urls : iterable of str
        The distinct normalized article URLs, as read (``trailing_slash="keep"``).
    counts : iterable of int, optional
        The page views of each (default: one each).
    article_pattern, trailing_slash
        As :func:`page_views`.

    Returns
    -------
    dict
        ``trailing_slash`` (``"strip"``, ``"add"`` or ``"keep"``), ``decided_by`` (``"option"``,
        ``"preset"``, ``"logs"``, ``"pattern"`` or ``"default"``), ``views_with_slash`` and
        ``views_without_slash`` (the evidence of the logs, when they were asked), and ``why``.

    >>> decided = canonical_form(["/blog/a/", "/blog/b/", "/blog/b"], [40, 25, 3], article_pattern=r"^/blog/")
    >>> print(decided["why"])
    article views served with a trailing slash: 65, without: 3; the blog's URLs end with /
    """
    form, source = slash_option(article_pattern, trailing_slash)
    return decide_form(urls, counts, form, source, article_regex(article_pattern))


def decide_form(urls: Iterable[str], counts, form: str | None, source: str, pattern: re.Pattern) -> dict:
    """:func:`canonical_form`, from the form given or preset (None: none) and where it comes from."""
    if form is not None:
        why = (f"trailing_slash={form!r} was given" if source == "option"
               else f"the form of the article pattern preset: {form}")
        return {"trailing_slash": form, "decided_by": source, "why": why}
    urls = list(urls)
    counts = np.ones(len(urls), np.int64) if counts is None else np.asarray(list(counts), np.int64)
    paths = [u.partition("?")[0] for u in urls]
    bare = [p.rstrip("/") or "/" for p in paths]
    telling = np.array([b != "/" and not _PAGE_FILE.search(b) for b in bare], bool)
    slashed = np.array([p.endswith("/") for p in paths], bool)
    with_slash = int(counts[telling & slashed].sum())
    without = int(counts[telling & ~slashed].sum())
    evidence = {"views_with_slash": with_slash, "views_without_slash": without}
    if with_slash != without:
        form = "add" if with_slash > without else "strip"
        ends = "end with /" if form == "add" else "have no trailing slash"
        why = (f"article views served with a trailing slash: {with_slash:,}, without: {without:,}; "
               f"the blog's URLs {ends}")
        return {"trailing_slash": form, "decided_by": "logs", **evidence, "why": why}
    only_slash = only_bare = 0
    for u, tells in zip(urls, telling):
        if tells:
            path, q, query = u.partition("?")
            b = path.rstrip("/")
            a, c = bool(pattern.search(b + q + query)), bool(pattern.search(b + "/" + q + query))
            only_bare += a and not c
            only_slash += c and not a
    if only_slash != only_bare:
        form = "add" if only_slash > only_bare else "strip"
        why = (f"article views served with a trailing slash: {with_slash:,}, without: {without:,}; "
               f"the article pattern matches the URLs {'with' if form == 'add' else 'without'} it")
        return {"trailing_slash": form, "decided_by": "pattern", **evidence, "why": why}
    why = (f"article views served with a trailing slash: {with_slash:,}, without: {without:,}; "
           "neither they nor the article pattern tell: strip, the default")
    return {"trailing_slash": "strip", "decided_by": "default", **evidence, "why": why}

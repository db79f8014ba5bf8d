"""The blog formats (recsys.blog): exact contents on a small hand-made document, hostile data,
titles from feeds, sitemaps and CSV, atomic writes. Hugo, WordPress (PHP) and the widget in a real
browser are driven in test_blog_hugo.py, test_blog_wordpress.py and test_blog_browser.py."""

from __future__ import annotations

import copy
import gzip
import json
import os
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys import RecsysError, related_json
from recsys.blog import (
    BLOG_FORMATS, HEXO_PARTIAL, HUGO_PARTIAL, WIDGET_JS, WORDPRESS_PLUGIN, blog_data, export_blog, related_csv,
)
from recsys.export import WIDGET_HISTORY, json_text, next_json, safe_url
from recsys.sequences import sequence_rules
from recsys.titles import load_titles, plain_text

DATA = Path(__file__).parent / "data" / "blog"
ROOT = Path(__file__).resolve().parents[1]
FORMULA = "=SUM(1+1)*cmd|' /C calc'!A0"

DOC = {
    "version": 1,
    "generated": "2024-03-31T02:00:00Z",
    "params": {"article_pattern": "openresty", "k": 5},
    "items": {
        "/archives/1": [
            {"url": "/archives/2", "title": "Two & <b>bold</b>", "score": 0.5, "confidence": 0.5, "lift": 2.0,
             "count": 4, "source": "rules"},
            {"url": "javascript:alert(1)", "title": "js", "score": 0.4, "confidence": 0.4, "lift": 1.9,
             "count": 4, "source": "rules"},
            {"url": "//evil.example/x", "score": 0.4, "confidence": 0.4, "lift": 1.9, "count": 4,
             "source": "rules"},
            {"url": "/archives/3", "title": "<script>alert(1)</script>", "score": None, "confidence": None,
             "lift": None, "count": None, "source": "popular"},
            {"url": "/archives/4", "title": FORMULA, "score": 0.3, "confidence": 0.3, "lift": 1.5, "count": 3,
             "source": "rules"},
            {"url": "/archives/2", "title": "again", "source": "rules"},
            {"url": "/archives/1", "title": "itself", "source": "rules"},
            {"url": '/archives/5" onmouseover="alert(1)', "source": "rules"},
            {"url": "/archives/6", "title": "<img src=x onerror=alert(1)>Six", "score": 0.2, "confidence": 0.2,
             "lift": 1.1, "count": 3, "source": "evil"},
            {"url": "https://evil.example/archives/7", "source": "rules"},
            "not an entry",
        ],
        "javascript:alert(1)": [{"url": "/archives/2"}],
        "/archives/2": [{"url": "/archives/1", "title": "One", "score": 0.25, "confidence": 0.25, "lift": 1.25,
                         "count": 3, "source": "rules"}],
        "/archives/8": [{"url": "//evil.example/archives/9"}],
    },
}

DATA_JSON = """\
{
 "version": 1,
 "generated": "2024-03-31T02:00:00Z",
 "items": {
  "/archives/1": [
   {
    "url": "/archives/2",
    "title": "Two \\u0026 bold"
   },
   {
    "url": "/archives/3"
   },
   {
    "url": "/archives/4",
    "title": "=SUM(1+1)*cmd|' /C calc'!A0"
   },
   {
    "url": "/archives/6",
    "title": "Six"
   }
  ],
  "/archives/2": [
   {
    "url": "/archives/1",
    "title": "One"
   }
  ]
 }
}
"""

CSV = """\
article,rank,url,title,score,confidence,lift,count,source
/archives/1,1,/archives/2,Two & bold,0.5,0.5,2.0,4,rules
/archives/1,2,/archives/3,,,,,,popular
/archives/1,3,/archives/4,'=SUM(1+1)*cmd|' /C calc'!A0,0.3,0.3,1.5,3,rules
/archives/1,4,/archives/6,Six,0.2,0.2,1.1,3,
/archives/2,1,/archives/1,One,0.25,0.25,1.25,3,rules
"""

LAYOUT = [
    "hugo/data/related.json", "hugo/layouts/partials/related.html",
    "hexo/source/_data/related.json", "hexo/layout/_partial/related.ejs",
    "wordpress/related.json", "wordpress/related.php",
    "widget/related.json", "widget/related.js",
    "related.csv",
]


def files_under(d: Path) -> list[str]:
    return sorted(str(p.relative_to(d)) for p in d.rglob("*") if p.is_file())


# formats -----------------------------------------------------------------------------------------
def test_blog_data_keeps_safe_entries_in_order_with_plain_titles():
    assert blog_data(DOC) == json.loads(DATA_JSON)


def test_export_blog_writes_every_format_with_exact_contents(tmp_path):
    written = export_blog(DOC, tmp_path)
    assert [str(p.relative_to(tmp_path)) for p in written] == LAYOUT
    assert files_under(tmp_path) == sorted(LAYOUT)  # and nothing else: no temporary file left
    for name in ("hugo/data/related.json", "hexo/source/_data/related.json", "wordpress/related.json",
                 "widget/related.json"):
        assert (tmp_path / name).read_text(encoding="utf-8") == DATA_JSON
    assert (tmp_path / "hugo/layouts/partials/related.html").read_text() == HUGO_PARTIAL
    assert (tmp_path / "hexo/layout/_partial/related.ejs").read_text() == HEXO_PARTIAL
    assert (tmp_path / "wordpress/related.php").read_text() == WORDPRESS_PLUGIN
    assert (tmp_path / "widget/related.js").read_text() == WIDGET_JS
    assert (tmp_path / "related.csv").read_text(encoding="utf-8") == CSV
    assert all(oct(p.stat().st_mode & 0o777) == "0o644" for p in written)


def test_export_blog_formats_chosen_and_checked(tmp_path):
    written = export_blog(DOC, tmp_path, formats=["csv", "hugo", "csv"])
    assert [str(p.relative_to(tmp_path)) for p in written] == [
        "related.csv", "hugo/data/related.json", "hugo/layouts/partials/related.html"]
    with pytest.raises(RecsysError, match=r"unknown blog format 'jekyll': choose among hugo, hexo, wordpress"):
        export_blog(DOC, tmp_path, formats=["jekyll"])
    assert set(BLOG_FORMATS) == {"hugo", "hexo", "wordpress", "widget", "csv"}


def test_csv_is_what_a_spreadsheet_reads():
    assert related_csv(DOC) == CSV
    frame = pd.read_csv(__import__("io").StringIO(CSV))
    assert frame.columns.tolist() == ["article", "rank", "url", "title", "score", "confidence", "lift", "count",
                                      "source"]
    assert frame["rank"].tolist() == [1, 2, 3, 4, 1]


def test_hostile_data_reaches_no_output(tmp_path):
    export_blog(DOC, tmp_path)
    for name in ("hugo/data/related.json", "related.csv"):
        text = (tmp_path / name).read_text(encoding="utf-8")
        for bad in ("javascript", "evil.example", "alert", "onerror", "onmouseover", "<script", "<img"):
            assert bad not in text, (name, bad)
    for name in ("hexo/source/_data/related.json", "wordpress/related.json", "widget/related.json"):
        assert not {"<", ">"} & set((tmp_path / name).read_text(encoding="utf-8"))  # written as \u003c, \u003e
    # a title with < stays text: the JSON escapes it, the templates escape it when they print it
    doc = {"version": 1, "items": {"/archives/1": [{"url": "/archives/2", "title": "Vec<T> & 1 < 2 > 0"}]}}
    text = export_blog(doc, tmp_path, formats=["widget"])[0].read_text()
    assert "Vec\\u003cT\\u003e \\u0026 1 \\u003c 2 \\u003e 0" in text
    assert json.loads(text)["items"]["/archives/1"][0]["title"] == "Vec<T> & 1 < 2 > 0"


def test_article_pattern_from_the_document_or_given():
    doc = {"version": 1, "params": {"article_pattern": "hugo"},
           "items": {"/posts/a/": [{"url": "/posts/b/"}, {"url": "/archives/3"}],
                     "/archives/1": [{"url": "/archives/2"}]}}
    assert blog_data(doc)["items"] == {"/posts/a/": [{"url": "/posts/b/"}]}
    assert blog_data(doc, article_pattern="openresty")["items"] == {"/archives/1": [{"url": "/archives/2"}]}
    assert blog_data(doc, article_pattern=r"^/(posts|archives)/")["items"] == {
        "/posts/a/": [{"url": "/posts/b/"}, {"url": "/archives/3"}], "/archives/1": [{"url": "/archives/2"}]}
    assert blog_data({"version": 1, "items": {"/archives/1": [{"url": "/archives/2"}]}})["items"]  # openresty
    with pytest.raises(RecsysError, match=r"article_pattern must be one of openresty, hugo.*'\(' is neither"):
        blog_data(doc, article_pattern="(")


@pytest.mark.parametrize("document, message", [
    ([], "not a related.json document"),
    ({"version": 1}, "not a related.json document"),
    ({"version": 2, "items": {}}, "related.json version 2 is not supported: this recsys reads version 1"),
])
def test_not_a_document(document, message):
    with pytest.raises(RecsysError, match=message):
        blog_data(document)


def test_made_from_recommendations_end_to_end(tmp_path):
    recs = pd.DataFrame({"item": ["/archives/12", "/archives/12", "/archives/13"], "rank": [1, 2, 1],
                         "url": ["/archives/13", "/archives/15", "/archives/12"], "score": [0.5, None, 0.4],
                         "confidence": [0.5, None, 0.4], "lift": [2.0, None, 1.5],
                         "count": pd.array([4, None, 3], dtype="Int64"),
                         "source": ["rules", "popular", "rules"]})
    titles = load_titles(DATA / "feed.rss")
    doc = related_json(recs, titles=titles, generated=datetime(2024, 3, 31, tzinfo=timezone.utc))
    assert blog_data(doc)["items"] == {
        "/archives/12": [{"url": "/archives/13", "title": "Why Vec<T> grows"},
                         {"url": "/archives/15", "title": "Safe title"}],
        "/archives/13": [{"url": "/archives/12", "title": "Tuning nginx & friends"}]}
    written = export_blog(json.loads(json.dumps(doc)), tmp_path, formats=["csv"])  # as read back from the file
    assert written[0].read_text().splitlines()[1:] == [
        "/archives/12,1,/archives/13,Why Vec<T> grows,0.5,0.5,2.0,4,rules",
        "/archives/12,2,/archives/15,Safe title,,,,,popular",
        "/archives/13,1,/archives/12,Tuning nginx & friends,0.4,0.4,1.5,3,rules"]


# atomic writes -----------------------------------------------------------------------------------
def test_a_crash_mid_write_leaves_the_old_files(tmp_path, monkeypatch):
    export_blog(DOC, tmp_path)
    before = {name: (tmp_path / name).read_bytes() for name in LAYOUT}
    changed = copy.deepcopy(DOC)
    changed["items"]["/archives/2"][0]["title"] = "Changed"

    def crash(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", crash)  # the data is written, the rename never happens
    with pytest.raises(OSError, match="No space left"):
        export_blog(changed, tmp_path)
    assert {name: (tmp_path / name).read_bytes() for name in LAYOUT} == before
    assert files_under(tmp_path) == sorted(LAYOUT)  # the temporary file is gone


def test_an_interrupted_export_leaves_no_half_file(tmp_path, monkeypatch):
    export_blog(DOC, tmp_path, formats=["csv"])
    before = (tmp_path / "related.csv").read_text()
    import contextlib

    import recsys.blog as blog

    real = blog.atomic_write

    @contextlib.contextmanager
    def dying(*args, **kwargs):  # the write stops half-way, as a crash or Ctrl-C would
        with real(*args, **kwargs) as f:
            class Half:
                def write(self, text):
                    f.write(text[: len(text) // 2])
                    f.flush()
                    raise KeyboardInterrupt
            yield Half()

    monkeypatch.setattr(blog, "atomic_write", dying)
    with pytest.raises(KeyboardInterrupt):
        export_blog(DOC, tmp_path, formats=["csv"])
    assert (tmp_path / "related.csv").read_text() == before
    assert files_under(tmp_path) == ["related.csv"]


# titles ------------------------------------------------------------------------------------------
def test_titles_from_rss(caplog):
    assert load_titles(DATA / "feed.rss").to_dict() == {
        "/archives/12": "Tuning nginx & friends",
        "/archives/13": "Why Vec<T> grows",
        "/archives/15": "Safe title",
    }
    assert "left 2 titles out: links to another site than blog.example.org" in caplog.text
    titles = load_titles(DATA / "feed.rss")
    assert (titles.name, titles.index.name, titles.index.is_unique) == ("title", "url", True)


def test_titles_from_atom_with_the_hugo_slash_form():
    assert load_titles(DATA / "feed.atom", article_pattern="hugo").to_dict() == {
        "/posts/atom-one/": "Atom one & only",  # type="html": markup removed, entities decoded
        "/posts/a-lt-b/": "a < b &amp; c",  # type="text": already plain text
        "/posts/caf%C3%A9/": "XHTML title",  # type="xhtml"; the alternate link, not the replies one
    }
    assert load_titles(DATA / "feed.atom", trailing_slash="strip")["/posts/atom-one"] == "Atom one & only"


def test_titles_from_csv():
    assert load_titles(DATA / "titles.csv").to_dict() == {"/archives/20": "Quoted, with a comma",
                                                "/archives/21": "Twenty-one & more"}


def test_titles_from_a_csv_without_header(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("/archives/1,One\nhttps://blog.example.org/archives/2,Two\n")
    assert load_titles(f).to_dict() == {"/archives/1": "One", "/archives/2": "Two"}


def test_titles_from_rss_1(tmp_path):
    f = tmp_path / "index.rdf"
    f.write_text(
        '<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns="http://purl.org/rss/1.0/"><channel rdf:about="https://blog.example.org/">'
        "<title>Blog</title><link>https://blog.example.org/</link></channel>"
        '<item rdf:about="https://blog.example.org/archives/3"><title>Three</title>'
        "<link>https://blog.example.org/archives/3</link></item></rdf:RDF>")
    assert load_titles(f).to_dict() == {"/archives/3": "Three"}


def test_titles_from_a_news_sitemap_gzipped(tmp_path):
    f = tmp_path / "sitemap-news.xml.gz"
    f.write_bytes(gzip.compress((DATA / "sitemap-news.xml").read_bytes()))
    assert load_titles(f, article_pattern="wordpress").to_dict() == {"/2024/03/31/news-one/": "News one"}


def test_titles_of_another_site_are_left_out(tmp_path):
    assert load_titles(DATA / "feed.rss", site="other.example").to_dict() == {"/archives/14": "Elsewhere"}
    assert load_titles(DATA / "feed.rss", site="https://other.example:8443/").to_dict() == {"/archives/14": "Elsewhere"}


@pytest.mark.parametrize("name, content, message", [
    ("sitemap.xml", None, r"is a sitemap without titles: plain sitemaps list URLs only .*RSS or Atom feed"),
    ("sitemap-index.xml", None, r"is a sitemap index: give one of the sitemaps it lists"),
    ("missing.xml", None, r"cannot read titles from .*missing.xml: No such file or directory"),
    ("broken.xml", b"<rss><channel><item>", r"broken.xml is not well-formed XML .*: give a valid feed"),
    ("page.html", b"<html><body>hi</body></html>",
     r"is XML but not an RSS or Atom feed nor a sitemap \(root element 'html'\)"),
    ("notes.txt", b"just some text\nand more\n",
     r"is neither an RSS or Atom feed, a sitemap, nor a CSV with columns url and title"),
    ("latin1.csv", "url,title\n/archives/1,caf\xe9\n".encode("latin-1"), r"is not UTF-8 text"),
    ("empty.csv", b"url,title\n", r"no titles found in .*empty.csv"),
    ("bad.gz", b"\x1f\x8b\x08\x00garbage", r"cannot read titles from .*bad.gz"),
])
def test_titles_errors_say_what_to_do(tmp_path, name, content, message):
    path = DATA / name if content is None else tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(RecsysError, match=message):
        load_titles(path)


def test_titles_of_a_custom_pattern_keep_the_feed_s_form():
    assert load_titles(DATA / "feed.atom", article_pattern=r"^/posts/[^/]+/?$").to_dict() == {
        "/posts/atom-one": "Atom one & only", "/posts/a-lt-b/": "a < b &amp; c", "/posts/caf%C3%A9/": "XHTML title"}


@pytest.mark.parametrize("title_form, url_form", [("add", "strip"), ("strip", "add"), ("keep", "add")])
def test_titles_are_found_whatever_form_they_and_the_urls_take(title_form, url_form):
    """The feed's links and the canonical form need not agree: each title reaches its URL."""
    titles = load_titles(DATA / "feed.atom", trailing_slash=title_form)
    form = (lambda u: u.rstrip("/")) if url_form == "strip" else (lambda u: u.rstrip("/") + "/")
    recs = pd.DataFrame({"item": [form("/posts/x/")] * 3, "rank": [1, 2, 3],
                         "url": [form(u) for u in ("/posts/atom-one", "/posts/a-lt-b/", "/posts/caf%C3%A9")],
                         "score": [0.5] * 3, "confidence": [0.5] * 3, "lift": [2.0] * 3, "count": [4] * 3,
                         "source": ["rules"] * 3})
    doc = related_json(recs, article_pattern="hugo", titles=titles)
    assert [(e["url"], e.get("title")) for e in doc["items"][form("/posts/x/")]] == [
        (form("/posts/atom-one"), "Atom one & only"), (form("/posts/a-lt-b"), "a < b &amp; c"),
        (form("/posts/caf%C3%A9"), "XHTML title")]


def test_either_form_of_an_article_is_published_and_nothing_else_more():
    doc = {"version": 1, "params": {"article_pattern": "hugo"}, "items": {
        "/posts/a": [{"url": "/posts/b"}, {"url": "/posts/c/"}, {"url": "/posts/c/d/"}, {"url": "/posts/a/"},
                     {"url": "//evil.example/posts/e/"}, {"url": "/posts/f/?x=1"}, {"url": "/posts/b/"}],
        "/posts/b/": [{"url": "/posts/a"}]}}
    assert blog_data(doc)["items"] == {"/posts/a": [{"url": "/posts/b"}, {"url": "/posts/c/"}],
                                       "/posts/b/": [{"url": "/posts/a"}]}


def test_titles_trailing_slash_checked():
    with pytest.raises(ValueError, match="trailing_slash must be 'strip', 'add' or 'keep'; got 'both'"):
        load_titles(DATA / "feed.rss", trailing_slash="both")


@pytest.mark.parametrize("raw, html_text, plain", [
    ("  a \n\t b  ", False, "a b"),
    ("Vec<T> and Option<String>", False, "Vec<T> and Option<String>"),
    ("<scr<script>x</script>ipt>alert(1)</script>Title", False, "Title"),
    ("<IMG SRC=x OnError=alert(1)>Title<br/>two", False, "Title two"),
    ("a &lt;b&gt; &amp;amp;", True, "a &amp;"),
    ("a &lt;b&gt;", False, "a &lt;b&gt;"),
    ("x\x00\x1b[31my\u2028z", False, "x [31my z"),
    (None, False, ""),
    ("é" * 400, False, "é" * 300),
])
def test_plain_text(raw, html_text, plain):
    assert plain_text(raw, html_text=html_text) == plain


# the widget --------------------------------------------------------------------------------------
def test_the_committed_widget_is_the_shipped_one():
    committed = (ROOT / "widget" / "related.js").read_text(encoding="utf-8")
    assert committed == WIDGET_JS, (
        "widget/related.js must be the package's recsys/templates/related.js (a symbolic link to it)")
    assert "innerHTML" not in WIDGET_JS and "eval(" not in WIDGET_JS


def test_the_widget_remembers_as_many_articles_as_documented():
    assert f"var MAX_HISTORY = {WIDGET_HISTORY};" in WIDGET_JS
    assert "sendBeacon" not in WIDGET_JS and "XMLHttpRequest" not in WIDGET_JS and WIDGET_JS.count("fetch(") == 1


# next.json ---------------------------------------------------------------------------------------
HOSTILE_URL = '/archives/9" onmouseover="alert(1)'


def next_sessions(n: int = 400, articles: int = 30, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    urls = [f"/archives/{i}" for i in range(articles)] + [HOSTILE_URL, "//evil.example/archives/1"]
    baskets = [tuple(dict.fromkeys(urls[i] for i in rng.integers(0, len(urls), rng.integers(2, 7))))
               for _ in range(n)]
    return pd.DataFrame({"visitor": [f"v{i % 150}" for i in range(n)], "items": baskets,
                         "start": pd.Timestamp("2024-03-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 30, n), "D")})


def test_next_json_holds_the_rules_rank_uses_escaped_and_nothing_unsafe():
    model = sequence_rules(next_sessions())
    titles = {"/archives/1": "One </script><script>alert(1)</script>", "/archives/2": "Two & co"}
    doc = next_json(model, k=4, recent=3, max_rules=6, titles=titles,
                    generated=datetime(2024, 3, 31, tzinfo=timezone.utc))
    assert (doc["k"], doc["recent"], doc["max_rules"], doc["history"]) == (4, 3, 6, WIDGET_HISTORY)
    assert HOSTILE_URL not in doc["articles"] and all(safe_url(u) for u in doc["articles"])
    assert doc["titles"][doc["articles"].index("/archives/1")] == "One"  # plain text: no script
    # each article's pairs are the best max_rules admitted rules of the model, minus those naming unsafe URLs
    rules = model.rules[model.rules["admitted"]].groupby("antecedent").head(6)
    rules = rules[rules["antecedent"].map(safe_url) & rules["consequent"].map(safe_url)]
    got = [(doc["articles"][i], doc["articles"][b], sc, t) for i, tiers in enumerate(doc["rules"])
           for t in (1, 2) for b, sc in zip(tiers[t - 1][::2], tiers[t - 1][1::2])]
    assert sorted(got) == sorted(zip(rules["antecedent"], rules["consequent"], rules["score"], rules["tier"]))
    assert max(len(t1) + len(t2) for t1, t2 in doc["rules"]) == 2 * 6 < 2 * model.rules.groupby("antecedent").size().max()
    # popularity and the fill follow the trusted readers, ties by URL
    readers = model.articles.set_index("url")["readers"]
    by_popularity = sorted(doc["articles"], key=lambda u: doc["popularity"][doc["articles"].index(u)])
    assert [readers[u] for u in by_popularity] == sorted((readers[u] for u in by_popularity), reverse=True)
    assert [doc["articles"][i] for i in doc["fill"]] == [u for u in by_popularity
                                                         if model.articles.set_index("url")["admitted"][u]][:4 + 64]
    text = json_text(doc, compact=True)
    assert "<" not in text and ">" not in text and "&" not in text and "\\u003c/script\\u003e" not in text
    assert json.loads(text) == doc and "\n" not in text.rstrip("\n")


def test_next_json_size_stays_within_its_stated_bound():
    model = sequence_rules(next_sessions(n=3000, articles=300, seed=2))
    for cap in (5, 20):
        doc = next_json(model, max_rules=cap)
        size = len(json_text(doc, compact=True).encode())
        pairs = sum(len(t) // 2 for tiers in doc["rules"] for t in tiers)
        assert pairs <= len(doc["articles"]) * cap
        bound = len(doc["articles"]) * cap * 28 + sum(len(u) + 24 for u in doc["articles"]) + 4 * (68 + 100)
        assert pairs > 0.9 * len(doc["articles"]) * cap and size <= bound  # the bound README.md states


def test_export_blog_writes_next_json_checked_again(tmp_path):
    hostile = {"version": 1, "k": 2, "recent": 5, "params": {"article_pattern": "openresty"},
               "articles": ["/archives/1", "javascript:alert(1)", "/archives/2", "/archives/3"],
               "titles": ["<b>One</b>", None, {"x": 1}, "Three"],
               "popularity": [3, 0, 1, 2], "fill": [1, 2, 2, "x", 0, 99],
               "rules": [[[1, 0.9, 2, 0.5, 3, "NaN"], [3, 0.1, 7, 0.3]], [[0, 1.0], []], [[0, True, 3, 0.2], []], 5]}
    written = export_blog(DOC, tmp_path, formats=["widget"], following=hostile)
    assert [str(p.relative_to(tmp_path)) for p in written] == [
        "widget/related.json", "widget/related.js", "widget/next.json"]
    got = json.loads((tmp_path / "widget/next.json").read_text())
    assert got["articles"] == ["/archives/1", "/archives/2", "/archives/3"]
    assert got["titles"] == ["One", None, "Three"] and got["popularity"] == [2, 0, 1] and got["fill"] == [1, 0]
    assert got["rules"] == [[[1, 0.5], [2, 0.1]], [[2, 0.2], []], [[], []]]
    export_blog(DOC, tmp_path / "none", formats=["widget", "hugo"])  # without next.json: none written
    assert not (tmp_path / "none/widget/next.json").exists()
    with pytest.raises(RecsysError, match="not a next.json document"):
        export_blog(DOC, tmp_path, formats=["widget"], following={"version": 2})

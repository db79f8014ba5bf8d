import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys import Accounting, page_views, read_logs, read_page_views
from recsys.urls import normalize_urls
from recsys.views import is_bot
from recsys.cache import cached_page_views
from recsys.urls import PAGE_FILE, path_urls, canonical_form, is_article_url

from integration import shared_data

DATA = Path(__file__).parent / "data"
V1 = "6f1c2d3e-0000-4000-8000-000000000001"
V3 = "0c1d2e3f-0000-4000-8000-000000000003"
V4 = "1e2f3a4b-0000-4000-8000-000000000004"


def counted(requests, **options):
    """``page_views`` and the accounting it filled: a new one, whose lines are the rows of ``requests``."""
    acc = Accounting(lines=len(requests))
    return page_views(requests, accounting=acc, **options), acc


def read(path, **options):
    """``read_logs`` then ``page_views``, counting into one accounting."""
    acc = Accounting()
    return page_views(read_logs(path, accounting=acc), accounting=acc, **options), acc


def test_every_drop_reason_on_the_combined_ut_fixture():
    views, acc = read(DATA / "combined_ut.log")
    acc.check()
    assert acc.lines == 18 and acc.malformed == 2 and acc.views == 5
    assert acc.dropped == {
        "handshake": 1, "asset": 1, "bot": 2, "method": 2, "status": 1, "not_article": 2,
        "no_visitor": 1, "robots_txt": 1,
    }
    assert list(zip(views.visitor, views.url)) == [
        (V1, "/archives/101"), (V1, "/archives/102"), (V3, "/archives/103"), (V3, "/archives/101"),
        (V4, "/archives/102"),
    ]
    assert list(views.columns) == ["ts", "visitor", "url", "ip", "user_agent", "referer"]
    assert views.ts.is_monotonic_increasing


def test_streaming_reader_gives_the_same_views_and_accounting(tmp_path):
    lines = (DATA / "combined_ut.log").read_bytes()
    (tmp_path / "access.log").write_bytes(lines * 3)
    whole, b = read(tmp_path / "access.log")
    streamed = read_page_views(tmp_path, read_options={"block_size": 700}, accounting=(a := Accounting()))
    pd.testing.assert_frame_equal(streamed.astype(str), whole.astype(str))
    assert a.to_dict() | {"files": None} == b.to_dict() | {"files": None}
    assert a.check().lines == 54


def test_visitor_from_address_and_user_agent_for_logs_without_cookie():
    requests = read_logs(DATA / "combined.log")
    assert requests.visitor.isna().all()
    assert counted(requests)[1].dropped["no_visitor"] == 4
    views, acc = counted(requests, visitor="ip+ua")
    assert acc.dropped == {"asset": 1, "bot": 1}
    assert views.url.tolist() == ["/archives/101", "/archives/102", "/archives/101", "/archives/102"]
    v = views.visitor.tolist()
    assert v[0] == v[1] != v[2] == v[3] and len(v[0]) == 16


def test_article_presets_and_trailing_slash():
    req = pd.DataFrame({
        "ts": pd.to_datetime(["2024-03-01 10:00"] * 5, utc=True), "visitor": ["v"] * 5,
        "ip": ["::1"] * 5, "method": ["GET"] * 5,
        "path": ["/posts/hello-world", "/2024/03/01/hello/", "/2024/03/hello/", "/tags/x/", "/posts/a/b/"],
        "query": [None] * 5, "status": [200] * 5, "referer": [None] * 5, "user_agent": ["Firefox/128.0"] * 5,
    })
    hugo = page_views(req, article_pattern="hugo")
    assert hugo.url.tolist() == ["/posts/hello-world/"]
    assert page_views(req, article_pattern="hexo").url.tolist() == ["/2024/03/01/hello/"]
    assert page_views(req, article_pattern="wordpress").url.tolist() == ["/2024/03/01/hello/", "/2024/03/hello/"]
    custom, acc = counted(req, article_pattern=r"^/tags/[^/]+$")
    assert custom.url.tolist() == ["/tags/x/"]  # the form the blog served it in
    assert acc.url_form["decided_by"] == "logs"
    assert page_views(req, article_pattern=r"^/tags/[^/]+$", trailing_slash="strip").url.tolist() == ["/tags/x"]
    # a preset's form is its own, and the pattern matches either form
    assert page_views(req, article_pattern="hugo", trailing_slash="strip").url.tolist() == ["/posts/hello-world"]
    with pytest.raises(ValueError, match="article_pattern must be one of openresty, hugo, hexo, wordpress or a regular expression"):
        page_views(req, article_pattern="(")


def test_keep_query_for_wordpress_plain_permalinks():
    req = pd.DataFrame({
        "ts": pd.to_datetime(["2024-03-01 10:00"] * 4, utc=True), "visitor": ["v"] * 4, "ip": ["::1"] * 4,
        "method": ["GET"] * 4, "path": ["/", "/", "/", "/"],
        "query": ["p=12&utm_source=x", "utm_source=y&p=12", "page_id=3", None], "status": [200] * 4,
        "referer": [None] * 4, "user_agent": ["Firefox/128.0"] * 4,
    })
    views, acc = counted(req, article_pattern=r"^/\?p=\d+$", keep_query=["p"], trailing_slash="keep")
    assert views.url.tolist() == ["/?p=12", "/?p=12"]
    assert acc.dropped == {"not_article": 2}


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("/archives/12/", "/archives/12"),
        ("//archives///12", "/archives/12"),
        ("/archives/%31%32", "/archives/12"),
        ("/posts/café", "/posts/caf%C3%A9"),
        ("/posts/caf%c3%a9", "/posts/caf%C3%A9"),
        ("/posts/a%20b", "/posts/a%20b"),
        ("/posts/a b", "/posts/a%20b"),
        ("/posts/x/../y/./z", "/posts/y/z"),
        ("/", "/"),
        ("/posts/%E9t%E9", "/posts/%EF%BF%BDt%EF%BF%BD"),
    ],
)
def test_normalize_urls(raw, expected):
    assert normalize_urls([raw]) == [expected]


@settings(max_examples=300)
@given(st.text(min_size=1).map(lambda s: "/" + s.replace("?", "").replace("#", "")))
def test_normalization_is_idempotent_and_ascii(path):
    once = normalize_urls([path])[0]
    assert normalize_urls([once]) == [once]
    assert once.isascii() and once.startswith("/") and " " not in once


def test_normalize_drops_tracking_and_unknown_parameters():
    assert normalize_urls(["/a"], ["utm_source=x&b=2&a=1&replytocom=3"], keep_query=["a", "b", "replytocom"]) == ["/a?a=1&b=2"]
    assert normalize_urls(["/a/"], ["x=1"], trailing_slash="add") == ["/a/"]


def test_too_fast_readers_are_dropped_and_only_they():
    t0 = pd.Timestamp("2024-03-01 10:00", tz="UTC")
    fast = [t0 + pd.Timedelta(seconds=2 * i) for i in range(25)]  # 25 articles in 50 s
    slow = [t0 + pd.Timedelta(minutes=i) for i in range(25)]  # one a minute
    n = 50
    req = pd.DataFrame({
        "ts": fast + slow, "visitor": ["scraper"] * 25 + ["reader"] * 25, "ip": ["::1"] * n,
        "method": ["GET"] * n, "path": [f"/archives/{i}" for i in range(25)] * 2, "query": [None] * n,
        "status": [200] * n, "referer": [None] * n, "user_agent": ["Firefox/128.0"] * n,
    })
    views, acc = counted(req)
    assert set(views.visitor) == {"reader"} and acc.dropped == {"too_fast": 25}
    assert len(page_views(req, max_per_minute=30)) == 50
    assert len(page_views(req, max_per_minute=None)) == 50


def test_exactly_the_limit_is_allowed():
    t0 = pd.Timestamp("2024-03-01 10:00", tz="UTC")
    ts = [t0 + pd.Timedelta(seconds=3 * i) for i in range(20)]  # 20 articles within 57 s: allowed
    req = pd.DataFrame({"ts": ts, "visitor": ["a"] * 20, "ip": ["::1"] * 20, "method": ["GET"] * 20,
                        "path": [f"/archives/{i}" for i in range(20)], "query": [None] * 20,
                        "status": [200] * 20, "referer": [None] * 20, "user_agent": ["Firefox/1"] * 20})
    assert len(page_views(req)) == 20
    req.loc[20] = [t0 + pd.Timedelta(seconds=59), "a", "::1", "GET", "/archives/20", None, 200, None, "Firefox/1"]
    assert len(page_views(req)) == 0


def test_is_bot_uses_the_maintained_list():
    uas = [
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "curl/8.5.0",
        "python-requests/2.31.0",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Mobile/15E148 Safari/604.1",
        None,
    ]
    assert is_bot(uas).tolist() == [True, True, True, False, False, True]
    assert is_bot(pd.Series(uas)).tolist() == [True, True, True, False, False, True]  # NaN too


def test_accounting_must_match_the_frame():
    read = Accounting()
    requests = read_logs(DATA / "combined_ut.log", accounting=read)
    subset = requests[requests.status == 200]
    with pytest.raises(ValueError, match="accounting counts 16 requests .* but requests has 11 rows"):
        page_views(subset, accounting=read)
    assert read.dropped == {} and read.views == 0  # refused, not changed
    # a filtered frame is counted on its own rows
    views, acc = counted(subset)
    assert acc.check().lines == len(subset) and acc.malformed == 0
    pd.testing.assert_frame_equal(page_views(subset), views)  # without an accounting: the same views


def test_an_explicit_accounting_is_filled():
    acc = Accounting()
    requests = read_logs(DATA / "combined_ut.log", accounting=acc)
    page_views(requests, accounting=acc)
    assert acc.check().views == 5


def test_a_line_without_request_is_dropped_first_as_no_request():
    """nginx logs "-" for a connection that sent no request line: no method, no path, often no agent."""
    req = pd.DataFrame({
        "ts": pd.to_datetime(["2024-03-01 10:00"] * 5, utc=True), "visitor": [None, "v", None, "v", "v"],
        "ip": ["::1"] * 5, "method": [None, None, "GET", None, "GET"],
        "path": [None, None, None, "/archives/1", "/archives/1"], "query": [None] * 5,
        "status": pd.array([400, 400, 200, 200, 200], dtype="Int16"), "referer": [None] * 5,
        "user_agent": [None, "Firefox/128.0", "Firefox/128.0", "Firefox/128.0", "Firefox/128.0"],
    })
    views, acc = counted(req)
    # a method without path, or a path without method, is a request (an odd one): not no_request
    assert acc.check().dropped == {"no_request": 2, "not_article": 1, "method": 1}
    assert views.url.tolist() == ["/archives/1"]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["GET", "POST", "HEAD", None]), st.sampled_from([200, 302, 304, 404, 500]),
                          st.sampled_from(["/archives/1", "/archives/2/", "/", "/robots.txt", "/a.css", "/archives/x", None]),
                          st.sampled_from(["v1", "v2", None]), st.sampled_from(["Firefox/1", "curl/8.0", None]),
                          st.integers(0, 3600)), max_size=60))
def test_every_request_gets_exactly_one_outcome(rows):
    t0 = pd.Timestamp("2024-03-01", tz="UTC")
    req = pd.DataFrame({
        "ts": [t0 + pd.Timedelta(seconds=r[5]) for r in rows], "visitor": [r[3] for r in rows],
        "ip": ["::1"] * len(rows), "method": [r[0] for r in rows], "path": [r[2] for r in rows],
        "query": [None] * len(rows), "status": pd.array([r[1] for r in rows], dtype="Int16"),
        "referer": [None] * len(rows), "user_agent": [r[4] for r in rows],
    })
    views, acc = counted(req, max_per_minute=3)
    acc.check()
    assert acc.lines == len(rows) and acc.views == len(views)
    # an independent statement of the line rules
    no_request = np.array([r[0] is None and r[2] is None for r in rows], bool)
    assert acc.dropped.get("no_request", 0) == no_request.sum()
    bot = np.array([r[4] in (None, "curl/8.0") for r in rows], bool) & ~no_request
    assert acc.dropped.get("bot", 0) == bot.sum()


# trailing slashes: one article, one URL, in the blog's form ------------------------------------------
def requests_of(rows) -> pd.DataFrame:
    """Requests from (path, status) pairs, one reader, a minute apart."""
    t0 = pd.Timestamp("2024-03-01 10:00", tz="UTC")
    n = len(rows)
    return pd.DataFrame({
        "ts": [t0 + pd.Timedelta(minutes=i) for i in range(n)], "visitor": ["v"] * n, "ip": ["::1"] * n,
        "method": ["GET"] * n, "path": [p for p, _ in rows], "query": [None] * n,
        "status": [s for _, s in rows], "referer": [None] * n, "user_agent": ["Firefox/128.0"] * n,
    })


# a WordPress-like blog: /blog/<slug>/, the bare form answered with a 301, an old page with .html
BLOG = [("/blog/a", 301), ("/blog/a/", 200), ("/blog/b/", 200), ("/blog/b/", 304), ("/blog/a", 301),
        ("/blog/a/", 200), ("/blog/old.html", 200), ("/blog/", 200), ("/blog/b", 200)]


@pytest.mark.parametrize("pattern", [r"^/blog/[^/]+/$", r"^/blog/[^/]+$", r"^/blog/[^/]+/?$"])
def test_a_pattern_matches_either_form_and_the_blog_s_form_is_kept(pattern):
    views, acc = counted(requests_of(BLOG), article_pattern=pattern)
    assert views.url.tolist() == ["/blog/a/", "/blog/b/", "/blog/b/", "/blog/a/", "/blog/old.html", "/blog/b/"]
    assert acc.url_form == {
        "trailing_slash": "add", "decided_by": "logs", "views_with_slash": 4, "views_without_slash": 1,
        "why": "article views served with a trailing slash: 4, without: 1; the blog's URLs end with /"}
    assert acc.dropped == {"status": 2, "not_article": 1}


def test_the_blog_s_form_without_slash_is_read_from_the_logs_too():
    rows = [(p.rstrip("/") if s != 301 else p + "/", s) for p, s in BLOG]  # /blog/a/ redirects to /blog/a
    views, acc = counted(requests_of(rows), article_pattern=r"^/blog/[^/]+/$")
    assert views.url.tolist() == ["/blog/a", "/blog/b", "/blog/b", "/blog/a", "/blog/old.html", "/blog/b"]
    assert acc.url_form["trailing_slash"] == "strip"


def test_an_explicit_form_wins_and_keep_keeps_the_slash_significant():
    req = requests_of(BLOG)
    strip, acc = counted(req, article_pattern=r"^/blog/[^/]+/$", trailing_slash="strip")
    assert strip.url.tolist() == ["/blog/a", "/blog/b", "/blog/b", "/blog/a", "/blog/old.html", "/blog/b"]
    assert acc.url_form == {"trailing_slash": "strip", "decided_by": "option",
                            "why": "trailing_slash='strip' was given"}
    add = page_views(req, article_pattern=r"^/blog/[^/]+$", trailing_slash="add")
    assert add.url.tolist() == ["/blog/a/", "/blog/b/", "/blog/b/", "/blog/a/", "/blog/old.html", "/blog/b/"]
    keep = page_views(req, article_pattern=r"^/blog/[^/]+/$", trailing_slash="keep")
    assert keep.url.tolist() == ["/blog/a/", "/blog/b/", "/blog/b/", "/blog/a/"]  # as logged; the rest not articles
    assert counted(req, article_pattern="openresty")[1].url_form["decided_by"] == "preset"


def test_when_the_views_do_not_tell_the_pattern_or_the_default_decides():
    assert canonical_form(["/blog/a/", "/blog/b"], [2, 2], article_pattern=r"^/blog/[^/]+/$")["trailing_slash"] == "add"
    assert canonical_form(["/blog/a/", "/blog/b"], [2, 2], article_pattern=r"^/blog/[^/]+$")["trailing_slash"] == "strip"
    undecided = canonical_form(["/blog/a/", "/blog/b", "/x.html"], [2, 2, 9], article_pattern=r"^/blog/[^/]+/?$")
    assert (undecided["trailing_slash"], undecided["decided_by"]) == ("strip", "default")
    assert canonical_form([], article_pattern=r"^/blog/[^/]+/$")["decided_by"] == "default"  # no article at all
    assert canonical_form([], article_pattern="hugo") == {"trailing_slash": "add", "decided_by": "preset",
                                                          "why": "the form of the article pattern preset: add"}


@pytest.mark.parametrize("url, pattern, keep, expected", [
    ("/blog/a", r"^/blog/[^/]+/$", False, True),
    ("/blog/a/", r"^/blog/[^/]+$", False, True),
    ("/blog/a/", r"^/blog/[^/]+$", True, False),
    ("/blog/", r"^/blog/[^/]+/?$", False, False),
    ("/", r"^//$", False, False),
    ("/?p=12", r"^/\?p=\d+$", False, True),
    ("/x/?p=12", r"^/x\?p=\d+$", False, True),
])
def test_is_article_url(url, pattern, keep, expected):
    assert is_article_url(url, pattern, trailing_slash="keep" if keep else None) is expected


@settings(max_examples=200)
@given(st.lists(st.text(alphabet="/ab.%éh?tml1", min_size=1).map(lambda s: "/" + s.replace("?", "")), min_size=1,
                max_size=8), st.sampled_from(["strip", "add", "keep"]))
def test_the_vectorized_urls_are_normalize_urls(paths, mode):
    categories = pd.Categorical(paths)
    fast = dict(zip(categories.categories, path_urls(categories, mode)))
    assert fast == dict(zip(paths, normalize_urls(paths, trailing_slash=mode)))


def test_add_gives_no_slash_to_a_file_name():
    assert normalize_urls(["/a/b.html", "/a/b.HTM/", "/index.php", "/a/b", "/", "/v1.2"], trailing_slash="add") == [
        "/a/b.html", "/a/b.HTM", "/index.php", "/a/b/", "/", "/v1.2/"]


def test_the_form_is_decided_over_all_the_files_cached_or_not(tmp_path):
    """One file served /blog/a/ only, the other /blog/b only: the run's form is the majority's, for both,
    whether the files are read at once, block by block, or from the cache."""
    line = ('::1 - - [01/Mar/2024:10:{m:02d}:00 +0000] "GET {p} HTTP/1.1" 200 5 "-" "Firefox/128.0"\n')
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "access.log.1").write_text("".join(line.format(m=i, p="/blog/a/") for i in range(0, 9, 3)))
    (tmp_path / "logs" / "access.log").write_text("".join(line.format(m=i, p="/blog/b") for i in range(10, 14, 2)))
    options = {"article_pattern": r"^/blog/[^/]+$", "visitor": "ip+ua"}
    cold = read_page_views(tmp_path / "logs", accounting=(cold_acc := Accounting()), **options)
    assert cold.url.tolist() == ["/blog/a/"] * 3 + ["/blog/b/"] * 2
    for _ in range(2):  # filling the cache, then from it
        acc = Accounting()
        cached = cached_page_views(tmp_path / "logs", cache_dir=tmp_path / "cache", accounting=acc, **options)
        pd.testing.assert_frame_equal(cached.astype(str), cold.astype(str))
        assert acc.url_form == cold_acc.url_form
    assert [f["cache"] for f in acc.files] == ["cached", "cached"]


REAL_BLOG_PATTERNS = [r"^/blog/[^/]+/$", r"^/blog/[^/]+$", r"^/blog/[^/]+/?$"]


@pytest.fixture(scope="module")
def real_blog_requests():
    return read_logs(shared_data("real", "logs", "yuvi-blog-2012"))


def test_on_the_real_blog_every_form_of_pattern_finds_the_same_views(real_blog_requests):
    """A WordPress blog under /blog/<slug>/ (the bare form gets a 301): the pattern written for its
    URLs found no view when URLs were stripped before the pattern was tried."""
    found = [counted(real_blog_requests, article_pattern=p, visitor="ip+ua") for p in REAL_BLOG_PATTERNS]
    for other, acc in found[1:]:
        pd.testing.assert_frame_equal(other, found[0][0])
        assert acc.to_dict() == found[0][1].to_dict()
    views, acc = found[0]
    assert len(views) > 4000 and views.url.nunique() > 140
    decision = acc.url_form
    assert (decision["trailing_slash"], decision["decided_by"]) == ("add", "logs")
    assert decision["views_with_slash"] > 5 * decision["views_without_slash"]
    # one article, one URL: no URL is another's with the slash toggled; files keep no slash
    urls = set(views.url)
    assert not {u.rstrip("/") for u in urls if u.endswith("/")} & urls
    assert {u for u in urls if not u.endswith("/")} == {u for u in urls if re.search(PAGE_FILE, u)} != set()


def test_on_the_real_blog_its_article_pattern_keeps_the_blog_s_form(real_blog_requests):
    pattern = r"^/blog/(?!wp-|feed|category/|tag/|page/|author/|comments)[^/]+/?$"
    views, acc = counted(real_blog_requests, article_pattern=pattern, visitor="ip+ua")
    stripped = page_views(real_blog_requests, article_pattern=pattern, visitor="ip+ua", trailing_slash="strip")
    # the same views as with the form given, each URL in the blog's form
    assert views.url.map(lambda u: u.rstrip("/")).tolist() == stripped.url.tolist()
    assert len(views) > 3000 and all(u.endswith("/") or re.search(PAGE_FILE, u) for u in views.url)
    assert acc.url_form["decided_by"] == "logs"

"""The widget (widget/related.js) in real headless Chromium, driven by Playwright, on pages served by
a local http.server: the list in order with titles, hostile related.json running nothing and
linking nothing unsafe, a missing or broken file showing nothing without an uncaught error, one
fetch per browsing session, and no layout shift when the box's height is reserved.

Personal lists: on a blog trained from synthetic page views (recsys.train), the widget's ranking of
1,000 random reading histories from next.json is Model.lists_next's, entry for entry; reading pages
one after another shows the article's list first, then the Python lists of the history, never what
was read; the history is bounded and deduplicated in localStorage, and nothing but the pages and
the two JSON files is requested.

Needs the Python package playwright and Debian's chromium (never ``playwright install``); skipped
without them, failed under RECSYS_REQUIRE_INTEGRATION=1.
"""

from __future__ import annotations

import functools
import json
import threading
from collections import Counter
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import recsys
from recsys.blog import export_blog
from recsys.export import WIDGET_HISTORY, next_json, related_json

from integration import need, need_program

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - depends on the environment
    sync_playwright = None

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 5000

GOOD = {
    "version": 1, "generated": "2024-03-31T02:00:00Z", "params": {"article_pattern": "openresty"},
    "items": {
        "/archives/1": [{"url": "/archives/2", "title": "Vec<T> & co"}, {"url": "/archives/3"},
                        {"url": "/archives/4", "title": "Four"}],
        "/archives/2": [{"url": "/archives/1", "title": "One"}],
        **{f"/archives/{n}": [{"url": f"/archives/{10 + i}", "title": f"A fairly long title number {i}"}
                              for i in range(5)] for n in (6, 7)},
    },
}
PWN = "window.__pwned=1"
HOSTILE = {"version": 1, "items": {
    "/archives/3": [
        {"url": f"javascript:{PWN}//archives/1", "title": "js"},
        {"url": "//evil.example/archives/1"},
        {"url": "https://evil.example/archives/1"},
        {"url": "/\\evil.example/archives/1"},
        {"url": f'/archives/1" onmouseover="{PWN}'},
        {"url": "/archives/9", "title": f'<img src=x onerror="{PWN}">'},
        {"url": "/archives/10", "title": f"<script>{PWN}</script>"},
        {"url": "/archives/11", "title": {"toString": PWN}},
        {"url": ["/archives/12"]},
        {"url": "/archives/13\n"},
        {"url": "/archives/3"},
        {"url": "/archives/9", "title": "again"},
        {"url": "/about"},
        None, 5, "/archives/15",
        {"url": "/archives/14", "title": "javascript:alert(1)"},
    ],
    "__proto__": {"polluted": 1},
}}
EXPECTED_HOSTILE = [
    ("/archives/9", f'<img src=x onerror="{PWN}">'),
    ("/archives/10", f"<script>{PWN}</script>"),
    ("/archives/11", "/archives/11"),
    ("/archives/14", "javascript:alert(1)"),
]

FORMS = {"version": 1, "items": {
    "/blog/a/": [{"url": "/blog/b/", "title": "Bee"}, {"url": "/blog/a"}, {"url": "/blog/c"}, {"url": "/blog/c/d/"}],
    "/blog/c": [{"url": "/blog/a/", "title": "Ay"}, {"url": "/blog/c/"}],
}}

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Article</title><link rel="icon" href="data:,">
<script>
  window.__cls = 0;
  new PerformanceObserver(function (list) {{
    list.getEntries().forEach(function (e) {{ if (!e.hadRecentInput) window.__cls += e.value; }});
  }}).observe({{type: "layout-shift", buffered: true}});
</script>
<style>
  body {{ margin: 0; font: 16px/1.5 sans-serif; }}
  [data-recsys-related] {{ min-height: {min_height}; }}
</style>
</head><body>
<main><h1>Article</h1><p>Some text.</p></main>
<div data-recsys-related{attributes}></div>
<p id="below">Below the box.</p>
<script>
  window.__before = {{below: document.getElementById("below").getBoundingClientRect().top,
                      box: document.querySelector("[data-recsys-related]").getBoundingClientRect().height}};
</script>
<script src="/widget/related.js" defer></script>
</body></html>
"""


def write_page(root: Path, path: str, *, src: str | None = None, min_height: str = "20em",
               pattern: str | None = None, extra: str = "", inside: str = "") -> None:
    page = root / path.strip("/") / "index.html"
    page.parent.mkdir(parents=True, exist_ok=True)
    attributes = (f' data-src="{src}"' if src else "") + (f' data-pattern="{pattern}"' if pattern else "") + extra
    text = PAGE.format(min_height=min_height, attributes=attributes)
    page.write_text(text.replace("<div data-recsys-related" + attributes + "></div>",
                                 "<div data-recsys-related" + attributes + ">" + inside + "</div>"))


# a blog of 200 articles trained from synthetic page views: what the personal lists are compared with
SIM = "^/sim/\\d+$"
SIM_SETTINGS = recsys.Settings.from_mapping(k=5, recent=5, max_rules=12, min_networks=0)
STATIC = '<nav id="static"><ol><li><a href="/sim/1">A static list</a></li></ol></nav>'


def synthetic_views(seed: int = 14, articles: int = 200, visitors: int = 700) -> pd.DataFrame:
    """Readers with topics, some returning on other days, reading in a topic's rough order."""
    rng = np.random.default_rng(seed)
    topic = rng.integers(0, 8, articles)
    weight = 1 / np.arange(1, articles + 1)  # a long tail: rare pairs, tier 2
    rows = []
    for v in range(visitors):
        likes = rng.integers(0, 8)
        ip = f"10.{v % 40}.{v % 7}.{v % 200}"
        days = rng.choice(30, size=rng.integers(1, 4), replace=False)
        for day in days:
            p = weight * np.where(topic == likes, 6.0, 1.0)
            n = int(rng.integers(1, 7))
            read = rng.choice(articles, size=min(n, articles), replace=False, p=p / p.sum())
            read = sorted(read, key=lambda a: (a % 3, rng.random()))  # a rough reading order
            for i, a in enumerate(read):
                rows.append((pd.Timestamp("2024-03-01", tz="UTC") + pd.Timedelta(days=int(day), minutes=3 * i),
                             f"u{v}", f"/sim/{a}", ip))
    return pd.DataFrame(rows, columns=["ts", "visitor", "url", "ip"])


@pytest.fixture(scope="module")
def model():
    return recsys.train(synthetic_views(), SIM_SETTINGS)


@pytest.fixture(scope="module")
def sim_titles(model):
    urls = model.sequences.articles["url"].tolist()
    return pd.Series({u: f"Title <{u}> & more" for u in urls[::2]})  # half the articles have titles


def python_lists(model, histories) -> list[list[str]]:
    lists = model.lists_next(SIM_SETTINGS, histories)
    by = {c: g.sort_values("rank")["url"].tolist() for c, g in lists.groupby("context")}
    return [by.get(i, []) for i in range(len(histories))]


@pytest.fixture(scope="module")
def site(tmp_path_factory, model, sim_titles):
    root = tmp_path_factory.mktemp("site")
    r = SIM_SETTINGS.recommending
    export_blog(related_json(model.lists(SIM_SETTINGS), article_pattern=SIM, titles=sim_titles), root / "simdata",
                formats=["widget"], article_pattern=SIM, following=next_json(model.sequences, k=r.k, recent=r.recent,
                                                        max_rules=r.max_rules, article_pattern=SIM, titles=sim_titles))
    for url in model.sequences.articles["url"]:
        write_page(root, url + "/", src="/simdata/widget/related.json", pattern=SIM)
    write_page(root, "/sim/off/1/", src="/simdata/widget/related.json", pattern="^/sim/off/\\d+$",
               extra=' data-personal="off"')
    write_page(root, "/sim/static/1/", src="/missing/related.json", pattern="^/sim/static/\\d+$", inside=STATIC)
    export_blog(GOOD, root, formats=["widget"])  # /widget/related.js and /widget/related.json
    (root / "hostile").mkdir()
    (root / "hostile" / "related.json").write_text(json.dumps(HOSTILE))
    (root / "invalid").mkdir()
    (root / "invalid" / "related.json").write_text('{"version": 1, "items": {"/archives/5": [')
    (root / "forms").mkdir()  # a blog whose keys end with / (and one whose keys do not)
    (root / "forms" / "related.json").write_text(json.dumps(FORMS))
    (root / "array").mkdir()
    (root / "array" / "related.json").write_text('[{"url": "/archives/1"}]')
    write_page(root, "/archives/1/")
    write_page(root, "/archives/2/")
    write_page(root, "/archives/3/", src="/hostile/related.json")
    write_page(root, "/archives/4/", src="/missing/related.json")
    write_page(root, "/archives/5/", src="/invalid/related.json")
    write_page(root, "/archives/8/", src="/array/related.json")
    write_page(root, "/archives/99/")  # related.json has no list for it
    write_page(root, "/blog/a/", src="/forms/related.json", pattern="^/blog/[^/]+$")
    write_page(root, "/blog/c/", src="/forms/related.json", pattern="^/blog/[^/]+/$")
    write_page(root, "/archives/6/", src="/widget/related.json?gate=1", min_height="16em")  # as documented
    write_page(root, "/archives/7/", src="/widget/related.json?gate=1", min_height="0")
    return root


@pytest.fixture(scope="module")
def server(site):
    hits: Counter = Counter()
    gate = threading.Event()  # ?gate=1 requests wait for it: the list arrives after the page is painted

    class Handler(SimpleHTTPRequestHandler):
        def end_headers(self):
            self.send_header("Cache-Control", "no-store")  # so only the widget's own cache can save a fetch
            super().end_headers()

        def do_GET(self):
            path, _, query = self.path.partition("?")
            hits[path] += 1
            if "gate" in query:
                gate.wait(TIMEOUT_MS / 1000)
            super().do_GET()

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", hits, gate
    finally:
        gate.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def browser():
    need(sync_playwright is not None, "the Python package playwright")
    chromium = need_program("chromium", "chromium-browser")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=ARGS, timeout=30_000)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1000, "height": 800})
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    pg.errors, pg.dialogs, pg.warnings = [], [], []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    pg.on("console", lambda m: pg.warnings.append(m.text) if m.type == "warning" else None)
    try:
        yield pg
    finally:
        context.close()


def open_article(page, base: str, path: str, gate: threading.Event | None = None) -> str:
    page.goto(base + path)
    if gate is not None:  # release the list only once the page has been painted
        page.wait_for_function("performance.getEntriesByName('first-contentful-paint').length > 0")
        gate.set()
    box = page.wait_for_selector("[data-recsys-related][data-recsys-state]", state="attached")
    return box.get_attribute("data-recsys-state")


def links(page) -> list[tuple[str, str]]:
    return page.eval_on_selector_all(
        "[data-recsys-related] a", "as => as.map(a => [a.getAttribute('href'), a.textContent])")


def test_the_list_renders_in_order_with_titles(page, server):
    base, *_ = server
    assert open_article(page, base, "/archives/1/") == "shown"  # the path's trailing slash is stripped
    assert links(page) == [["/archives/2", "Vec<T> & co"], ["/archives/3", "/archives/3"],
                           ["/archives/4", "Four"]]
    markup = page.eval_on_selector("[data-recsys-related]", """box => {
        const nav = box.firstElementChild, h2 = nav.querySelector('h2');
        return {children: box.children.length, nav: nav.tagName,
                labelledby: nav.getAttribute('aria-labelledby'), h2id: h2.id, heading: h2.textContent,
                list: nav.querySelector('ol > li > a') !== null};
    }""")
    assert markup == {"children": 1, "nav": "NAV", "labelledby": "recsys-related-title-1",
                      "h2id": "recsys-related-title-1", "heading": "Readers also read", "list": True}
    assert page.errors == [] and page.warnings == []


def test_the_current_path_is_normalized_like_the_exporter(page, server):
    base, *_ = server
    assert open_article(page, base, "/archives/%31/") == "shown"  # /archives/1
    assert [href for href, _ in links(page)] == ["/archives/2", "/archives/3", "/archives/4"]


def test_one_fetch_per_browsing_session(page, server):
    base, hits, _ = server
    before = Counter(hits)
    assert open_article(page, base, "/archives/1/") == "shown"
    # this blog has no next.json (a 404, asked once): the article's list, without what was read
    assert open_article(page, base, "/archives/2/") == "empty"  # its list is /archives/1, read
    assert open_article(page, base, "/archives/1/") == "shown"
    assert links(page) == [["/archives/3", "/archives/3"], ["/archives/4", "Four"]]  # /archives/2 was read
    assert hits["/widget/related.json"] - before["/widget/related.json"] == 1  # no-store: sessionStorage saved the rest
    assert hits["/widget/next.json"] - before["/widget/next.json"] == 1
    assert page.errors == [] and page.warnings == []


def test_hostile_data_runs_nothing_and_links_nothing_unsafe(page, server):
    base, *_ = server
    assert open_article(page, base, "/archives/3/") == "shown"
    page.wait_for_timeout(300)  # time for an image error or a script to fire, if one had been made
    assert [tuple(link) for link in links(page)] == EXPECTED_HOSTILE
    state = page.evaluate("""() => ({
        pwned: window.__pwned, polluted: ({}).polluted,
        tags: [...document.querySelectorAll('[data-recsys-related] *')].map(e => e.tagName),
        images: document.images.length, scripts: document.scripts.length,
        origins: [...document.querySelectorAll('[data-recsys-related] a')].every(
            a => a.origin === location.origin),
        handlers: [...document.querySelectorAll('[data-recsys-related] *')].some(
            e => [...e.attributes].some(a => a.name.startsWith('on'))),
    })""")
    assert state == {"pwned": None, "polluted": None, "tags": ["NAV", "H2", "OL"] + ["LI", "A"] * 4,
                     "images": 0, "scripts": 3, "origins": True, "handlers": False}
    assert page.dialogs == [] and page.errors == []


@pytest.mark.parametrize("path, what", [
    ("/archives/4/", "a missing file (404)"),
    ("/archives/5/", "invalid JSON"),
    ("/archives/8/", "JSON that is not a related.json"),
])
def test_a_missing_or_broken_file_shows_nothing(page, server, path, what):
    base, *_ = server
    assert open_article(page, base, path) == "error", what
    assert page.eval_on_selector("[data-recsys-related]", "box => box.childNodes.length") == 0
    assert page.errors == []  # no uncaught error
    assert len(page.warnings) == 1 and page.warnings[0].startswith("recsys related.js: no list shown")


def test_no_list_for_this_page_shows_nothing(page, server):
    base, *_ = server
    assert open_article(page, base, "/archives/99/") == "empty"
    assert page.eval_on_selector("[data-recsys-related]", "box => box.childNodes.length") == 0
    assert page.errors == [] and page.warnings == []


def test_no_layout_shift_when_the_height_is_reserved(page, server):
    base, _, gate = server
    gate.clear()
    assert open_article(page, base, "/archives/6/", gate) == "shown"
    page.wait_for_timeout(200)  # layout-shift entries are reported after the frame
    result = page.evaluate("""() => ({cls: window.__cls, before: window.__before,
        below: document.getElementById('below').getBoundingClientRect().top,
        box: document.querySelector('[data-recsys-related]').getBoundingClientRect().height,
        content: document.querySelector('[data-recsys-related] nav').getBoundingClientRect().height})""")
    assert len(links(page)) == 5
    assert result["cls"] == 0
    assert result["below"] == result["before"]["below"] and result["box"] == result["before"]["box"]
    assert 0 < result["content"] <= result["box"]


def test_the_shift_is_measured_without_a_reserved_height(page, server):
    base, _, gate = server  # the control: the same list into a box of no height moves what is below it
    gate.clear()
    assert open_article(page, base, "/archives/7/", gate) == "shown"
    page.wait_for_timeout(200)
    result = page.evaluate("() => ({cls: window.__cls, before: window.__before.below, "
                           "below: document.getElementById('below').getBoundingClientRect().top})")
    assert result["cls"] > 0 and result["below"] > result["before"]


@pytest.mark.parametrize("path, expected", [
    ("/blog/a/", [["/blog/b/", "Bee"], ["/blog/c", "/blog/c"]]),  # keys end with /; the pattern has no /$
    ("/blog/c/", [["/blog/a/", "Ay"]]),  # the page ends with /, its key does not; the pattern has /$
])
def test_either_trailing_slash_form_finds_the_list(page, server, path, expected):
    base, *_ = server
    assert open_article(page, base, path) == "shown"
    assert links(page) == expected  # the page itself, in either form, is not linked
    assert page.errors == [] and page.warnings == []


# personal lists ------------------------------------------------------------------------------------------
def sim_urls(model) -> list[str]:
    return model.sequences.articles["url"].tolist()


def random_histories(model, n: int, seed: int = 0) -> list[list[str]]:
    """Reading histories of 1 to WIDGET_HISTORY articles, with repeats and articles next.json lacks."""
    rng = np.random.default_rng(seed)
    urls = sim_urls(model) + ["/sim/9998", "/sim/9999"]
    out = []
    for _ in range(n):
        length = int(rng.integers(1, WIDGET_HISTORY + 1)) if rng.random() < 0.3 else int(rng.integers(1, 8))
        out.append([urls[i] for i in rng.integers(0, len(urls), length)])
        if rng.random() < 0.03:  # nothing next.json knows: the popular fill alone
            out[-1] = ["/sim/9999"] * length
    return out


def history(page) -> list[str] | None:
    return page.evaluate("() => JSON.parse(localStorage.getItem('recsys-history'))")


def test_the_browser_ranks_1000_histories_as_python(page, server, model, sim_titles):
    base, *_ = server
    histories = random_histories(model, 1000)
    expected = python_lists(model, histories)
    page.goto(base + "/sim/1/")
    got = page.evaluate("""async (histories) => {
        const doc = await (await fetch('/simdata/widget/next.json')).json();
        return histories.map(h => window.recsysRelated.personal(doc, h));
    }""", histories)
    assert [[e["url"] for e in g] for g in got] == expected
    titles = sim_titles.to_dict()
    assert all(e.get("title") == titles.get(e["url"]) for g in got for e in g)
    assert all(not set(g) & set(h) for g, h in zip(expected, histories))  # nothing read is listed
    # what the comparison covers: the cap, both tiers, exact ties broken by popularity, the fill
    lists = model.lists_next(SIM_SETTINGS, histories)
    rules = lists[lists["source"] == "rules"]
    tied = rules.groupby("context")["score"].apply(lambda s: s.duplicated().any())
    assert model.sequences.rules.groupby("antecedent").size().max() > SIM_SETTINGS.recommending.max_rules
    assert set(rules["tier"]) == {1, 2} and tied.sum() >= 10 and (lists["source"] == "popular").sum() >= 10


def test_reading_pages_shows_the_article_list_then_the_python_list_of_the_history(page, server, model):
    base, hits, _ = server
    requests = []
    page.on("request", lambda r: requests.append((r.method, r.url, r.post_data)))
    before = Counter(hits)
    path = ["/sim/3", "/sim/10", "/sim/3", "/sim/25", "/sim/7", "/sim/40", "/sim/10", "/sim/52"]
    article = related_json(model.lists(SIM_SETTINGS), article_pattern=SIM)["items"]
    read: list[str] = []
    for n, url in enumerate(path):
        read = [u for u in read if u != url] + [url]
        assert open_article(page, base, url + "/") == "shown"
        kind = page.get_attribute("[data-recsys-related]", "data-recsys-list")
        shown = [href for href, _ in links(page)]
        if n == 0:  # a first visit: the article's own list, as related.json has it
            assert kind == "article" and shown == [e["url"] for e in article[url]]
        else:
            assert kind == "personal" and shown == python_lists(model, [read])[0]
        assert not set(shown) & set(read)
        assert history(page) == read  # deduplicated, the latest last
    assert page.errors == [] and page.warnings == []
    # nothing sent: only GETs of the pages, the script and the two files, each file once
    assert {m for m, _, _ in requests} == {"GET"} and all(d is None for _, _, d in requests)
    paths = Counter(r[1][len(base):] for r in requests)
    assert set(paths) == {u + "/" for u in path} | {"/widget/related.js", "/simdata/widget/related.json",
                                                     "/simdata/widget/next.json"}
    assert paths["/simdata/widget/related.json"] == 1 and paths["/simdata/widget/next.json"] == 1
    assert hits["/simdata/widget/next.json"] - before["/simdata/widget/next.json"] == 1


def test_the_history_is_bounded_deduplicated_and_cleaned(page, server, model):
    base, *_ = server
    page.goto(base + "/sim/1/")
    urls = [f"/sim/{i}" for i in range(100, 170)]
    junk = [5, None, "//evil.example/sim/1", "/sim/x", "/about", "/sim/" + "1" * 600, "/sim/120"]
    page.evaluate("h => localStorage.setItem('recsys-history', JSON.stringify(h))", urls + junk)
    assert open_article(page, base, "/sim/2/") == "shown"
    expected = [u for u in urls if u != "/sim/120"] + ["/sim/120", "/sim/2"]
    assert history(page) == expected[-WIDGET_HISTORY:] and len(history(page)) == WIDGET_HISTORY
    assert open_article(page, base, "/sim/130/") == "shown"  # opened again: moved to the end, not repeated
    assert history(page) == [u for u in expected if u != "/sim/130"][-WIDGET_HISTORY + 1:] + ["/sim/130"]
    page.evaluate("() => localStorage.setItem('recsys-history', '{not json')")
    assert open_article(page, base, "/sim/4/") == "shown"
    assert history(page) == ["/sim/4"] and page.get_attribute("[data-recsys-related]", "data-recsys-list") == "article"
    page.evaluate("() => localStorage.removeItem('recsys-history')")  # how a reader clears it (README)
    assert open_article(page, base, "/sim/5/") == "shown" and history(page) == ["/sim/5"]
    assert page.errors == []


def test_without_local_storage_the_article_list_shows(browser, server, model):
    base, *_ = server
    context = browser.new_context()
    context.add_init_script("Object.defineProperty(window, 'localStorage', "
                            "{get() { throw new DOMException('denied', 'SecurityError'); }})")
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        article = related_json(model.lists(SIM_SETTINGS), article_pattern=SIM)["items"]
        for url in ("/sim/3", "/sim/10"):
            assert open_article(page, base, url + "/") == "shown"
            assert page.get_attribute("[data-recsys-related]", "data-recsys-list") == "article"
            assert [href for href, _ in links(page)] == [e["url"] for e in article[url]]
        assert errors == []
    finally:
        context.close()


def test_personal_off_remembers_nothing(page, server):
    base, *_ = server
    assert open_article(page, base, "/sim/3/") == "shown"
    open_article(page, base, "/sim/off/1/")
    assert history(page) == ["/sim/3"]


def test_when_no_list_can_be_shown_the_static_list_stays(page, server):
    base, *_ = server
    assert open_article(page, base, "/sim/static/1/") == "error"
    assert page.eval_on_selector("[data-recsys-related]", "box => box.innerHTML") == STATIC
    assert page.errors == []

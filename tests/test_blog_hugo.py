"""Hugo for real: a tiny site gets recsys's data file and partial, the real ``hugo`` binary builds it,
and the generated posts carry the lists (in order, titles escaped, nothing for a post without one).

Needs ``hugo`` (Debian: hugo); skipped without it, failed under RECSYS_REQUIRE_INTEGRATION=1.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from recsys.blog import export_blog

from blogs import hostile_doc, related
from integration import need_program

CONFIG = """\
baseURL = "https://blog.example.org/"
title = "Example blog"
disableKinds = ["taxonomy", "term", "RSS", "sitemap", "robotsTXT", "404"]
"""
SINGLE = """\
<!doctype html>
<html lang="en"><head><title>{{ .Title }}</title><link rel="canonical" href="{{ .RelPermalink }}"></head>
<body><main><h1>{{ .Title }}</h1>{{ .Content }}</main>
{{ partial "related.html" . }}
</body></html>
"""
LIST = ('<!doctype html><html><body>{{ range .Pages }}<a href="{{ .RelPermalink }}">{{ .Title }}</a>{{ end }}'
        "</body></html>\n")
POSTS = {"alpha": "Alpha", "beta": "Beta", "gamma": "Gamma", "delta": "Delta", "café": "Café"}
DOC = hostile_doc("hugo", lambda slug: f"/posts/{slug}/")


def build(tmp_path: Path, doc: dict = DOC, config: str = CONFIG) -> Path:
    hugo = need_program("hugo")
    site = tmp_path / "site"
    (site / "content" / "posts").mkdir(parents=True)
    (site / "layouts" / "_default").mkdir(parents=True)
    (site / "config.toml").write_text(config)
    (site / "layouts" / "_default" / "single.html").write_text(SINGLE)
    (site / "layouts" / "_default" / "list.html").write_text(LIST)
    for slug, title in POSTS.items():
        (site / "content" / "posts" / f"{slug}.md").write_text(
            f'---\ntitle: "{title}"\ndate: 2024-03-01\n---\nThe {title} post.\n', encoding="utf-8")
    written = export_blog(doc, tmp_path / "export", formats=["hugo"])
    assert [p.name for p in written] == ["related.json", "related.html"]
    shutil.copytree(tmp_path / "export" / "hugo", site, dirs_exist_ok=True)  # data/ and layouts/partials/
    result = subprocess.run(
        [hugo, "--source", str(site), "--destination", str(tmp_path / "public"),
         "--cacheDir", str(tmp_path / "cache"), "--quiet"],
        capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    return tmp_path / "public" / "posts"


def test_hugo_builds_the_lists(tmp_path):
    public = build(tmp_path)
    alpha = (public / "alpha" / "index.html").read_text(encoding="utf-8")
    assert related(alpha) == [
        ("/posts/gamma/", "Gamma &amp; friends"),
        ("/posts/beta/", "/posts/beta/"),
        ("/posts/caf%C3%A9/", "Vec&lt;T&gt;"),
    ]
    assert alpha.count("<li>") == 3 and alpha.count("<nav") == 1
    for bad in ("javascript", "evil.example", "alert", "<script", "<b>"):
        assert bad not in alpha
    # a page whose path is percent-encoded finds its list (.RelPermalink is the logged form)
    cafe = next(public.glob("caf*")) / "index.html"
    assert related(cafe.read_text(encoding="utf-8")) == [("/posts/alpha/", "Alpha")]


def test_hugo_renders_nothing_without_a_list(tmp_path):
    public = build(tmp_path)
    for slug in ("beta", "gamma", "delta"):
        html = (public / slug / "index.html").read_text(encoding="utf-8")
        assert f"<h1>{POSTS[slug]}</h1>" in html
        assert "recsys-related" not in html and "Readers also read" not in html and "<ol>" not in html


def test_hugo_finds_the_list_when_the_keys_have_no_trailing_slash(tmp_path):
    """.RelPermalink is /posts/alpha/, related.json's keys /posts/alpha (recsys's strip form)."""
    public = build(tmp_path, hostile_doc("hugo", lambda slug: f"/posts/{slug}"))
    alpha = (public / "alpha" / "index.html").read_text(encoding="utf-8")
    assert '<link rel="canonical" href="/posts/alpha/">' in alpha  # Hugo's .RelPermalink
    assert related(alpha) == [
        ("/posts/gamma", "Gamma &amp; friends"),
        ("/posts/beta", "/posts/beta"),
        ("/posts/caf%C3%A9", "Vec&lt;T&gt;"),
    ]
    for bad in ("javascript", "evil.example", "alert", "<script", "<b>"):
        assert bad not in alpha
    cafe = next(public.glob("caf*")) / "index.html"
    assert related(cafe.read_text(encoding="utf-8")) == [("/posts/alpha", "Alpha")]
    assert "recsys-related" not in (public / "delta" / "index.html").read_text(encoding="utf-8")


def test_hugo_finds_the_list_when_the_permalinks_have_no_trailing_slash(tmp_path):
    """The reverse: with uglyURLs .RelPermalink is /posts/alpha.html, the keys end with /."""
    public = build(tmp_path, hostile_doc("hugo", lambda slug: f"/posts/{slug}.html/"),
                   CONFIG + "uglyURLs = true\n")
    alpha = (public / "alpha.html").read_text(encoding="utf-8")
    assert '<link rel="canonical" href="/posts/alpha.html">' in alpha
    assert related(alpha) == [
        ("/posts/gamma.html/", "Gamma &amp; friends"),
        ("/posts/beta.html/", "/posts/beta.html/"),
        ("/posts/caf%C3%A9.html/", "Vec&lt;T&gt;"),
    ]
    for bad in ("javascript", "evil.example", "alert", "<script", "<b>"):
        assert bad not in alpha
    cafe = next(public.glob("caf*.html"))
    assert related(cafe.read_text(encoding="utf-8")) == [("/posts/alpha.html/", "Alpha")]
    assert "recsys-related" not in (public / "delta.html").read_text(encoding="utf-8")

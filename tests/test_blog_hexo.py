"""Hexo for real: a tiny site gets recsys's data file and EJS partial, the real ``hexo`` (installed
with ``npm ci`` from the locked ``tests/data/blog/hexo/package.json``) generates it, and the posts
carry the lists (in order, titles escaped, nothing for a post without one).

Needs Node.js and npm (Debian: nodejs, npm) and the npm registry; skipped without them, failed
under RECSYS_REQUIRE_INTEGRATION=1.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from blogs import hostile_doc, related
from integration import need, need_program
from recsys.blog import export_blog

HEXO = Path(__file__).parent / "data" / "blog" / "hexo"
CONFIG = """\
title: Example blog
url: https://blog.example.org
permalink: :year/:month/:day/:title/
timezone: UTC
theme: plain
"""
POST = """\
<!doctype html>
<html lang="en"><head><title><%= page.title %></title></head>
<body><main><h1><%= page.title %></h1><%- page.content %></main>
<%- partial('_partial/related') %>
</body></html>
"""
POSTS = {"alpha": ("Alpha", 1), "beta": ("Beta", 2), "gamma": ("Gamma", 3), "delta": ("Delta", 4), "café": ("Café", 5)}
DAYS = {"alpha": 1, "beta": 2, "gamma": 3, "caf%C3%A9": 5}  # the posts' dates; 9 for the URLs of no post
DOC = hostile_doc("hexo", lambda slug: f"/2024/03/0{DAYS.get(slug, 9)}/{slug}/")


def _run(cmd: list[str], cwd: Path, timeout: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "npm_config_update_notifier": "false", "npm_config_fund": "false",
           "npm_config_audit": "false"}
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def public(tmp_path_factory) -> Path:
    node, npm = need_program("node", "nodejs"), need_program("npm")
    tmp = tmp_path_factory.mktemp("hexo")
    site = tmp / "site"
    site.mkdir()
    for name in ("package.json", "package-lock.json"):
        shutil.copy(HEXO / name, site / name)
    installed = _run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], site, timeout=300)
    need(installed.returncode == 0, f"hexo from the npm registry (npm ci failed: {installed.stderr.strip()[-500:]})")
    (site / "_config.yml").write_text(CONFIG)
    layout = site / "themes" / "plain" / "layout"
    (layout / "_partial").mkdir(parents=True)
    (layout / "post.ejs").write_text(POST)
    (layout / "index.ejs").write_text("<!doctype html><html><body>index</body></html>\n")
    (site / "source" / "_posts").mkdir(parents=True)
    for slug, (title, day) in POSTS.items():
        (site / "source" / "_posts" / f"{slug}.md").write_text(
            f"---\ntitle: {title}\ndate: 2024-03-0{day} 10:00:00\n---\nThe {title} post.\n", encoding="utf-8")
    written = export_blog(DOC, tmp / "export", formats=["hexo"])
    assert [p.name for p in written] == ["related.json", "related.ejs"]
    shutil.copytree(tmp / "export" / "hexo" / "source", site / "source", dirs_exist_ok=True)
    shutil.copy(tmp / "export" / "hexo" / "layout" / "_partial" / "related.ejs", layout / "_partial" / "related.ejs")
    built = _run([node, str(site / "node_modules" / "hexo" / "bin" / "hexo"), "generate"], site, timeout=120)
    assert built.returncode == 0, built.stdout + built.stderr
    return site / "public"


def test_hexo_generates_the_lists(public):
    alpha = (public / "2024" / "03" / "01" / "alpha" / "index.html").read_text(encoding="utf-8")
    assert related(alpha) == [
        ("/2024/03/03/gamma/", "Gamma &amp; friends"),
        ("/2024/03/02/beta/", "/2024/03/02/beta/"),
        ("/2024/03/05/caf%C3%A9/", "Vec&lt;T&gt;"),
    ]
    assert alpha.count("<li>") == 3 and alpha.count("<nav") == 1
    for bad in ("javascript", "evil.example", "alert", "<script", "<b>"):
        assert bad not in alpha
    # the post whose path is percent-encoded in the logs finds its list (url_for gives that form)
    cafe = next((public / "2024" / "03" / "05").glob("caf*")) / "index.html"
    assert related(cafe.read_text(encoding="utf-8")) == [("/2024/03/01/alpha/", "Alpha")]


def test_hexo_renders_nothing_without_a_list(public):
    for slug, (title, day) in POSTS.items():
        if slug in ("beta", "gamma", "delta"):
            html = (public / "2024" / "03" / f"0{day}" / slug / "index.html").read_text(encoding="utf-8")
            assert f"<h1>{title}</h1>" in html
            assert "recsys-related" not in html and "Readers also read" not in html and "<ol>" not in html

"""The WordPress must-use plugin run by the real PHP interpreter, with the few WordPress functions
it calls stubbed (esc_url and esc_html as strict as WordPress's for these inputs): it must link only
same-site article paths, in order, escape titles, fall back to WordPress's own titles, and change
nothing when the file is missing or broken, without a PHP warning.

Needs ``php`` (Debian: php-cli); skipped without it, failed under RECSYS_REQUIRE_INTEGRATION=1.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from recsys.blog import WORDPRESS_PLUGIN

from integration import need_program

STUBS = r"""<?php
define('ABSPATH', __DIR__ . '/');
define('WP_CONTENT_DIR', __DIR__ . '/wp-content');
if (getenv('RECSYS_JSON') !== false) define('RECSYS_RELATED_JSON', getenv('RECSYS_JSON'));
$GLOBALS['filters'] = array();
function add_filter($name, $callback, $priority = 10) { $GLOBALS['filters'][$name][] = $callback; }
function apply_filters($name, $value) { return $value; }
function is_feed() { return false; }
function is_singular() { return getenv('RECSYS_SINGULAR') !== '0'; }
function in_the_loop() { return true; }
function is_main_query() { return true; }
function get_permalink() { return getenv('RECSYS_PERMALINK'); }
function wp_parse_url($url, $component = -1) { return parse_url($url, $component); }
function esc_html($text) { return htmlspecialchars($text, ENT_QUOTES, 'UTF-8'); }
function esc_url($url) { return $url[0] === '/' ? htmlspecialchars($url, ENT_QUOTES, 'UTF-8') : ''; }
function wp_strip_all_tags($text) { return trim(strip_tags($text)); }
function url_to_postid($url) { return rtrim($url, '/') === '/2024/03/known' ? 7 : 0; }  // either form, as WordPress
function get_the_title($id) { return 'Known&#8217;s <em>title</em> &amp; 1 &lt; 2'; }
require $argv[1];
echo $GLOBALS['filters']['the_content'][0]('<p>Body</p>');
"""

DOC = {"version": 1, "items": {
    "/2024/03/alpha/": [
        {"url": "/2024/03/beta/", "title": "Beta & <b>bold</b> <script>alert(1)</script>"},
        {"url": "javascript:alert(1)//2024/03/x/", "title": "js"},
        {"url": "//evil.example/2024/03/x/"},
        {"url": "https://evil.example/2024/03/y/"},
        {"url": '/2024/03/z/" onmouseover="alert(1)'},
        {"url": "/about/"},  # not an article
        {"url": "/2024/03/known/"},  # WordPress knows the title
        {"url": "/2024/03/unknown/"},  # nobody does: the URL is shown
        {"url": "/2024/03/beta/", "title": "again"},
        "junk",
    ],
    "/2024/03/lonely/": [{"url": "//evil.example/2024/03/x/"}],
}}


def run(tmp_path: Path, permalink: str, *, document: object = DOC, singular: bool = True,
        plugin: str = WORDPRESS_PLUGIN) -> str:
    php = need_program("php")
    (tmp_path / "related.php").write_text(plugin)
    (tmp_path / "stubs.php").write_text(STUBS)
    data = tmp_path / "related.json"
    if document is not None:
        data.write_text(document if isinstance(document, str) else json.dumps(document))
    result = subprocess.run(
        [php, "-n", "-d", "display_errors=stderr", "-d", "error_reporting=-1", str(tmp_path / "stubs.php"),
         str(tmp_path / "related.php")],
        capture_output=True, text=True, timeout=30,
        env={"RECSYS_JSON": str(data), "RECSYS_PERMALINK": permalink,
             "RECSYS_SINGULAR": "1" if singular else "0"},
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
    return result.stdout


def test_the_plugin_renders_the_safe_list_after_the_content(tmp_path):
    out = run(tmp_path, "https://blog.example.org/2024/03/alpha/")
    assert out == (
        '<p>Body</p><nav class="recsys-related" aria-labelledby="recsys-related-title">'
        '<h2 id="recsys-related-title">Readers also read</h2><ol>'
        '<li><a href="/2024/03/beta/">'
        'Beta &amp; &lt;b&gt;bold&lt;/b&gt; &lt;script&gt;alert(1)&lt;/script&gt;</a></li>'
        '<li><a href="/2024/03/known/">Known’s title &amp; 1 &lt; 2</a></li>'
        '<li><a href="/2024/03/unknown/">/2024/03/unknown/</a></li>'
        '</ol></nav>'
    )
    assert "<script" not in out and "evil.example" not in out and "javascript" not in out


@pytest.mark.parametrize("permalink, document, singular", [
    ("https://blog.example.org/2024/03/lonely/", DOC, True),  # only unsafe links
    ("https://blog.example.org/2024/03/none/", DOC, True),  # no list
    ("https://blog.example.org/2024/03/alpha/", None, True),  # no file
    ("https://blog.example.org/2024/03/alpha/", "{not json", True),  # broken file
    ("https://blog.example.org/2024/03/alpha/", {"items": "no"}, True),
    ("https://blog.example.org/2024/03/alpha/", DOC, False),  # not a single post
])
def test_the_plugin_changes_nothing_otherwise(tmp_path, permalink, document, singular):
    assert run(tmp_path, permalink, document=document, singular=singular) == "<p>Body</p>"


def test_the_plugin_uses_the_configured_article_pattern(tmp_path):
    doc = {"version": 1,
           "items": {"/archives/1": [{"url": "/archives/2", "title": "Two"}, {"url": "/2024/03/b/"}]}}
    plugin = "<?php define('RECSYS_ARTICLE_PATTERN', '^/archives/\\d+$'); ?>" + WORDPRESS_PLUGIN
    out = run(tmp_path, "https://blog.example.org/archives/1", document=doc, plugin=plugin)
    assert out.endswith('<ol><li><a href="/archives/2">Two</a></li></ol></nav>')


def test_the_plugin_is_valid_php(tmp_path):
    php = need_program("php")
    (tmp_path / "related.php").write_text(WORDPRESS_PLUGIN)
    result = subprocess.run([php, "-n", "-l", str(tmp_path / "related.php")],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr


def _toggled(url: str) -> str:
    return url[:-1] if url.endswith("/") else url + "/"


@pytest.mark.parametrize("keys, permalink", [
    ("bare", "https://blog.example.org/2024/03/alpha/"),  # related.json made with --trailing-slash strip
    ("slash", "https://blog.example.org/2024/03/alpha"),  # WordPress's permalinks without trailing slash
])
def test_the_plugin_finds_the_list_whichever_form_the_keys_and_the_permalink_take(tmp_path, keys, permalink):
    form = (lambda u: u.rstrip("/")) if keys == "bare" else (lambda u: u)
    doc = {"version": 1, "items": {
        form(k): [{**e, "url": form(e["url"])} if isinstance(e, dict) and e["url"].startswith("/2024/") else e
                  for e in v]
        for k, v in DOC["items"].items()}}
    doc["items"][form("/2024/03/alpha/")].append({"url": _toggled(form("/2024/03/alpha/"))})  # itself, other form
    out = run(tmp_path, permalink, document=doc)
    assert out == (
        '<p>Body</p><nav class="recsys-related" aria-labelledby="recsys-related-title">'
        '<h2 id="recsys-related-title">Readers also read</h2><ol>'
        f'<li><a href="{form("/2024/03/beta/")}">'
        'Beta &amp; &lt;b&gt;bold&lt;/b&gt; &lt;script&gt;alert(1)&lt;/script&gt;</a></li>'
        f'<li><a href="{form("/2024/03/known/")}">Known’s title &amp; 1 &lt; 2</a></li>'
        f'<li><a href="{form("/2024/03/unknown/")}">{form("/2024/03/unknown/")}</a></li>'
        '</ol></nav>'
    )
    assert "<script" not in out and "evil.example" not in out and "javascript" not in out

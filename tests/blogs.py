"""What the tests of the blogs' own programs (Hugo, Hexo) share: a hostile document, and the list
read back from the generated HTML."""

from __future__ import annotations

import re


def hostile_doc(article_pattern: str, path) -> dict:
    """A related.json whose lists mix good entries with hostile ones; ``path(slug)`` is the site's path."""
    return {
        "version": 1,
        "generated": "2024-03-31T02:00:00Z",
        "params": {"article_pattern": article_pattern},
        "items": {
            path("alpha"): [
                {"url": path("gamma"), "title": "Gamma & <b>friends</b>", "source": "rules"},
                {"url": "javascript:alert(1)", "title": "hostile", "source": "rules"},
                {"url": "//evil.example" + path("x"), "source": "rules"},
                {"url": path("beta"), "source": "rules"},  # no title: the URL is shown
                {"url": path("caf%C3%A9"), "title": "Vec<T> <script>alert(1)</script>", "source": "popular"},
            ],
            path("caf%C3%A9"): [{"url": path("alpha"), "title": "Alpha", "source": "rules"}],
            path("beta"): [{"url": "https://evil.example" + path("y"), "source": "rules"}],  # nothing safe: no list
        },
    }


def related(html: str) -> list[tuple[str, str]] | None:
    nav = re.search(r'<nav class="recsys-related" aria-labelledby="recsys-related-title">\s*'
                    r'<h2 id="recsys-related-title">Readers also read</h2>\s*<ol>(.*?)</ol>\s*</nav>', html, re.S)
    if nav is None:
        return None
    return re.findall(r'<li><a href="([^"]*)">([^<]*)</a></li>', nav[1])

"""Seeded synthetic access logs of a blog, with the truth behind every line.

:func:`simulate` writes what the openresty setup of a small technical blog logs over a few days or
weeks, and returns, for every line, the outcome :func:`recsys.page_views` (default arguments) is
designed to give it: ``view``, one of its drop reasons, or ``malformed:<kind>`` for the lines
:func:`recsys.read_logs` cannot parse. :attr:`Simulation.truth` holds the article page views of
human readers, the ground truth that the ingestion must recover.

The world
---------
Articles ``/archives/<id>`` (ids increasing with publication, with gaps) belong to one topic each,
have Zipf-like popularity, and some form series (part 1, 2, 3). Most were published before the
period; a few during it, and those get a burst of traffic (from social media and the home page).

Human readers carry a ``UT_ID`` cookie (a UUID4) set by the openresty script on article pages
(``/archives/...``): a request there without the cookie gets a ``302`` to the same URL, which the
browser follows with the cookie. Other pages (home, tags, feed, ``robots.txt``) and static files
are served without the script. A reader has one browser (user agent), one or two addresses, one
or two favourite topics and makes one or several visits, arriving with a daily rhythm. A visit
enters from a search engine, social media (``?utm_source=...``), directly, or through the home or
a tag page, then reads a few articles (series in order, favourite topics, popular posts), each
page followed by its static files (``200`` the first time, mostly ``304`` later). Readers reload
pages, follow odd spellings of article URLs, mistype ids (``404``) and post comments (``POST``,
``302`` back). A few percent refuse cookies: their browser follows the ``302`` about 20 times,
then gives up. Many readers are new in the period (their first article request is the
handshake); the others come back with the cookie they got before.

Robots: search-engine crawlers (``robots.txt``, ``sitemap.xml``, and articles without cookie:
a ``302`` each time, sometimes followed a few times), AI crawlers, feed readers polling ``/feed/``, a link checker
sending ``HEAD`` requests, vulnerability scanners (``/wp-login.php``, ``/.env``, ...), a scraper
with a browser user agent that keeps its cookie but fetches ``/robots.txt`` first (caught by the
``robots_txt`` rule) and a headless scraper that reads an article every one or two seconds
(caught by ``too_fast``). About 0.2 % of the lines are junk: TLS handshakes sent to port 80, empty
requests, request lines with a space in the target, a truncated line and a line with invalid
UTF-8.

Every line's outcome is unambiguous under the rules of :mod:`recsys.views`: human readers never
read more than 20 articles within a minute, never fetch ``robots.txt`` and never share an address
with a robot; crawler and scanner user agents are in the crawler list, those of people and
scrapers are not (checked with :func:`recsys.is_bot` while generating).

Files written into ``out_dir``
------------------------------
``access.log``, ``access.log.1``, ``access.log.2.gz``, ... one file per UTC day as logrotate with
``delaycompress`` leaves them (only ``access.log`` with ``rotate=False``), lines in time order,
times in UTC; ``feed.xml``, the blog's RSS 2.0 feed listing every article; with ``labels=True``,
``labels.csv.gz``: one row ``file,line,outcome`` per log line (line numbers 1-based). The feed
and the labels do not look like access logs, so :func:`recsys.log_files` skips them and the
directory can be given as it is to :func:`recsys.read_logs`.

Generation is deterministic: the same arguments give byte-identical files.

Command line::

    python -m recsys.simulate OUT_DIR [--visitors N] [--days D] [--articles A] [--seed S]
                              [--start DATE] [--format PRESET] [--no-rotate] [--labels]
"""

from __future__ import annotations

import argparse
import array
import datetime as dt
import gzip
import ipaddress
import logging
import math
import os
import random
import re
import sys
import uuid
import xml.etree.ElementTree as ET
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from email.utils import format_datetime

import numpy as np
import pandas as pd

from .formats import PRESETS, LogFormat
from .views import DROP_REASONS, is_bot

__all__ = ["simulate", "Simulation", "OUTCOMES", "main"]

log = logging.getLogger(__name__)

SITE = "https://blog.example.org"
DAY_MS = 86_400_000
HOUR_MS = 3_600_000

#: Every outcome a line can have, in the order :attr:`Simulation.reasons` lists them.
OUTCOMES: tuple[str, ...] = (
    "view", *DROP_REASONS,
    "malformed:format", "malformed:encoding", "malformed:time", "malformed:request",
)
_O = {name: i for i, name in enumerate(OUTCOMES)}
VIEW, BOT, METHOD, HANDSHAKE, STATUS, ASSET = (
    _O[k] for k in ("view", "bot", "method", "handshake", "status", "asset"))
NOT_ARTICLE, NO_VISITOR, ROBOTS, TOO_FAST = (
    _O[k] for k in ("not_article", "no_visitor", "robots_txt", "too_fast"))
M_FORMAT, M_ENCODING, M_REQUEST = _O["malformed:format"], _O["malformed:encoding"], _O["malformed:request"]
_UNSET = -1  # outcome of junk rows until they are rendered and classified
_TCO = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # t.co link ids

#: What nginx's request line looks like when recsys can read it: ``METHOD TARGET [HTTP/x]``.
REQUEST_LINE = re.compile(r"^[A-Z][A-Z0-9_-]* [^ ]+(?: HTTP/\d(?:\.\d)?)?$")

LABELS_NAME = "labels.csv.gz"
FEED_NAME = "feed.xml"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_H1, _H2 = "HTTP/1.1", "HTTP/2.0"

# the blog -----------------------------------------------------------------------------------
#: Topics: tag slug, display name, tools, subjects. Titles are made from these word lists.
TOPICS: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("python", "Python",
     ("asyncio", "pandas", "pytest", "NumPy", "Django", "FastAPI", "mypy", "Poetry", "SQLAlchemy",
      "Cython", "pip", "dataclasses"),
     ("memory leaks", "type hints", "virtual environments", "packaging", "decorators", "generators",
      "the GIL", "Unicode strings", "logging", "dependency pinning", "command-line tools", "flaky tests")),
    ("linux", "Linux",
     ("systemd", "bash", "strace", "perf", "cgroups", "iptables", "rsync", "tmux", "ZFS", "btrfs", "cron",
      "journald"),
     ("boot times", "disk usage", "file permissions", "process limits", "shell scripts",
      "kernel upgrades", "swap", "backups", "log rotation", "user namespaces", "package updates",
      "slow SSH logins")),
    ("nginx", "nginx",
     ("nginx", "OpenResty", "Lua", "Let's Encrypt", "HAProxy", "Varnish", "certbot", "HTTP/2", "Brotli",
      "GoAccess", "Caddy", "Apache"),
     ("reverse proxies", "access logs", "rate limiting", "TLS certificates", "caching headers",
      "redirects", "gzip compression", "virtual hosts", "cookies", "load balancing", "static files",
      "error pages")),
    ("databases", "Databases",
     ("PostgreSQL", "SQLite", "MySQL", "Redis", "DuckDB", "ClickHouse", "MongoDB", "pgbouncer",
      "Elasticsearch", "TimescaleDB", "Cassandra", "etcd"),
     ("slow queries", "indexes", "migrations", "replication", "connection pools", "JSON columns",
      "full-text search", "deadlocks", "backups", "query plans", "vacuuming", "time series")),
    ("machine-learning", "Machine learning",
     ("scikit-learn", "PyTorch", "XGBoost", "TensorFlow", "spaCy", "LightGBM", "Hugging Face", "JAX",
      "MLflow", "ONNX", "Keras", "Optuna"),
     ("association rules", "recommendations", "feature engineering", "cross-validation", "embeddings",
      "class imbalance", "hyperparameters", "model drift", "topic models", "anomaly detection",
      "A/B tests", "text classification")),
    ("security", "Security",
     ("fail2ban", "WireGuard", "GnuPG", "OpenSSH", "AppArmor", "Vault", "ModSecurity", "nftables", "age",
      "YubiKey", "Lynis", "CrowdSec"),
     ("password storage", "two-factor login", "brute-force attacks", "secrets", "security headers",
      "SSH keys", "log tampering", "supply-chain attacks", "web scanners", "server hardening",
      "TLS settings", "bot traffic")),
    ("javascript", "JavaScript",
     ("TypeScript", "React", "Vue", "Svelte", "Node.js", "Deno", "esbuild", "Vite", "Jest", "htmx",
      "Web Workers", "Service Workers"),
     ("bundle size", "dark mode", "state management", "async code", "form validation", "lazy loading",
      "accessibility", "web fonts", "offline pages", "memory leaks", "event handlers",
      "server-side rendering")),
    ("devops", "DevOps",
     ("Docker", "Kubernetes", "Ansible", "Terraform", "GitHub Actions", "Prometheus", "Grafana", "Nomad",
      "Podman", "Helm", "GitLab CI", "Loki"),
     ("deployments", "container images", "monitoring", "alerting", "rollbacks", "infrastructure as code",
      "secrets", "CI pipelines", "log shipping", "blue-green releases", "cron jobs", "on-call")),
    ("networking", "Networking",
     ("tcpdump", "Wireshark", "dig", "mtr", "iperf", "Unbound", "dnsmasq", "BIND", "OpenWrt", "curl",
      "nmap", "BGP"),
     ("DNS", "IPv6", "MTU problems", "packet loss", "NAT", "latency", "home routers", "TLS handshakes",
      "HTTP/3", "VPNs", "firewall rules", "DHCP")),
    ("rust", "Rust",
     ("cargo", "Tokio", "serde", "clippy", "Rayon", "PyO3", "Axum", "wasm-bindgen", "criterion", "nom",
      "Diesel", "Polars"),
     ("lifetimes", "error handling", "async code", "borrow checking", "unsafe code", "compile times",
      "traits", "parsers", "benchmarks", "FFI", "iterators", "command-line tools")),
    ("data-engineering", "Data engineering",
     ("Apache Spark", "Airflow", "Parquet", "Arrow", "dbt", "Kafka", "Dask", "Polars", "Flink",
      "Delta Lake", "Trino", "Dagster"),
     ("data pipelines", "schema changes", "partitioning", "late data", "deduplication", "joins",
      "data quality", "backfills", "small files", "streaming jobs", "log processing", "incremental loads")),
    ("go", "Go",
     ("goroutines", "channels", "pprof", "net/http", "cobra", "sqlc", "gRPC", "Go modules", "errgroup",
      "generics", "delve", "templ"),
     ("concurrency", "error handling", "HTTP servers", "memory use", "testing", "build times",
      "dependency updates", "context cancellation", "JSON decoding", "graceful shutdown", "profiling",
      "CLI tools")),
)
_TEMPLATES = (
    "How to {verb} {subject} with {tool}", "{Tool} in practice: {subject}",
    "Understanding {subject} in {tool}", "A practical guide to {subject}",
    "What I learned about {subject} from {tool}", "{n} {tool} tips for {subject}",
    "Debugging {subject} with {tool}", "{Tool} vs {tool2} for {subject}", "Notes on {subject}",
    "Getting started with {tool}", "{Subject}, explained", "Taming {subject} with {tool}",
    "The hidden cost of {subject}", "Why I moved {subject} to {tool}", "Everything I know about {subject}",
    "{Subject}: mistakes I made so you don't have to", "A second look at {tool}",
    "Lessons from a year of {tool}",
    "{Subject} with {tool}: a field report", "{Tool} and {subject}: a deep dive", "Living with {subject}",
)
_VERBS = (
    "tame", "profile", "test", "debug", "automate", "speed up", "monitor", "simplify", "secure", "untangle",
)
_SERIES_TEMPLATES = ("{Subject} from scratch with {tool}", "Building a blog stack with {tool}",
                     "Deep dive: {subject}",
                     "{Tool} the hard way")

# clients --------------------------------------------------------------------------------------
#: Browsers of people (and of the scrapers that pass for people), with weights.
BROWSERS: tuple[tuple[str, float], ...] = (
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/122.0.0.0 Safari/537.36", 16),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/121.0.0.0 Safari/537.36", 6),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/122.0.0.0 Safari/537.36", 9),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 "
     "Safari/537.36", 5),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:123.0) Gecko/20100101 Firefox/123.0", 6),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0", 5),
    ("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:122.0) Gecko/20100101 Firefox/122.0", 3),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:123.0) Gecko/20100101 Firefox/123.0", 2),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.3.1 Safari/605.1.15", 7),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/122.0.0.0 Safari/537.36 Edg/122.0.0.0", 6),
    ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 "
     "Mobile Safari/537.36", 12),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_3_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
     "Gecko) Version/17.3.1 Mobile/15E148 Safari/604.1", 11),
    ("Mozilla/5.0 (iPad; CPU OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.3 Mobile/15E148 Safari/604.1", 2),
    ("Mozilla/5.0 (Android 14; Mobile; rv:123.0) Gecko/123.0 Firefox/123.0", 2),
    ("Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
     "SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36", 3),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
     "Gecko) CriOS/122.0.6261.89 Mobile/15E148 Safari/604.1", 2),
    ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 "
     "Mobile Safari/537.36 EdgA/122.0.0.0", 1),
)
#: Search-engine and AI crawlers: name, user agent, /24 prefixes, sessions a day, follows redirects.
CRAWLERS: tuple[tuple[str, str, tuple[str, ...], float, bool], ...] = (
    ("Googlebot", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
     ("66.249.66.", "66.249.68.", "66.249.79."), 5.0, True),
    ("Googlebot smartphone", "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) "
     "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.6261.94 Mobile Safari/537.36 "
     "(compatible; Googlebot/2.1; "
     "+http://www.google.com/bot.html)",
     ("66.249.66.", "66.249.70."), 3.0, True),
    ("bingbot", "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
     ("157.55.39.", "207.46.13.", "40.77.167."), 3.0, True),
    ("YandexBot", "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
     ("5.255.231.", "213.180.203.", "87.250.224."), 1.5, False),
    ("Applebot", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
     ("17.241.219.", "17.22.253."), 1.0, False),
    ("DuckDuckBot", "DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)",
     ("20.191.45.", "40.88.21."), 0.7, False),
    ("Baiduspider", "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
     ("116.179.32.", "220.181.108."), 0.7, False),
    ("AhrefsBot", "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
     ("54.36.148.", "51.222.253."), 2.0, False),
    ("SemrushBot", "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
     ("185.191.171.",), 1.0, False),
    ("PetalBot", "Mozilla/5.0 (Linux; Android 7.0;) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Mobile Safari/537.36 (compatible; PetalBot;+https://webmaster.petalsearch.com/site/petalbot)",
     ("114.119.134.", "114.119.146."), 0.7, False),
    ("GPTBot", "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.0; "
     "+https://openai.com/gptbot)",
     ("20.171.207.",), 0.7, False),
    ("ClaudeBot", "Mozilla/5.0 (compatible; ClaudeBot/1.0; +claudebot@anthropic.com)",
     ("3.224.220.",), 0.5, False),
)
#: Feed readers polling /feed/: user agent, minutes between polls. Some are in the crawler list.
FEED_READERS: tuple[tuple[str, int], ...] = (
    ("Feedly/1.0 (+http://www.feedly.com/fetcher.html; 37 subscribers; )", 60),
    ("Mozilla/5.0 (compatible; inoreader.com; 12 subscribers)", 90),
    ("NewsBlur Feed Fetcher - 9 subscribers - "
     "https://www.newsblur.com/site/6183/example-engineering-blog (Mozilla/5.0 (Macintosh; Intel "
     "Mac OS X 10_14_1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/71.0.3578.98 Safari/537.36)", 120),
    ("NetNewsWire (RSS Reader; https://netnewswire.com/)", 180),
    ("Miniflux/2.1.0 (https://miniflux.app)", 60),
    ("FreshRSS/1.23.1 (Linux; https://freshrss.org)", 30),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.8.0", 240),
    ("Tiny Tiny RSS/22.08 (https://tt-rss.org/)", 45),
)
LINK_CHECKER = "LinkChecker/10.2.1 (+https://linkchecker.github.io/linkchecker/)"
#: Vulnerability scanners' user agents (``None``: no user agent at all).
SCANNER_AGENTS: tuple[str | None, ...] = (
     "curl/8.5.0", "python-requests/2.31.0", "Mozilla/5.0 zgrab/0.x", "Go-http-client/1.1",
     "Mozilla/5.0 (compatible; CensysInspect/1.1; +https://about.censys.io/)",
     "masscan/1.3 (https://github.com/robertdavidgraham/masscan)", "Wget/1.21.4", None,
)
SCANNER_PROBES: tuple[tuple[str, str, int], ...] = (
     ('GET', '/wp-login.php', 404), ('POST', '/xmlrpc.php', 405), ('GET', '/.env', 404),
     ('GET', '/.git/config', 404), ('GET', '/wp-admin/setup-config.php', 404),
     ('GET', '/phpmyadmin/index.php', 404), ('GET', '/admin/.env', 404),
     ('GET', '/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php', 404), ('GET', '/config.json', 404),
     ('GET', '/backup.zip', 404), ('GET', '/.aws/credentials', 404), ('GET', '/server-status', 404),
     ('GET', '/wp-content/plugins/wp-file-manager/readme.txt', 404),
     ('GET', '/cgi-bin/luci/;stok=/locale', 404), ('GET', '/actuator/health', 404),
     ('GET', '/.DS_Store', 404), ('GET', '/wp-includes/wlwmanifest.xml', 404),
     ('GET', '/.well-known/security.txt', 404), ('GET', '/', 200), ('GET', '/owa/auth/logon.aspx', 404),
)
SEARCH_REFERERS = (("https://www.google.com/", 70), ("https://www.google.de/", 5),
                   ("https://www.google.fr/", 4),
                   ("https://www.bing.com/", 12), ("https://duckduckgo.com/", 9))
SOCIAL = (("twitter", None, 25), ("reddit", "https://www.reddit.com/", 20),
          ("hackernews", "https://news.ycombinator.com/", 15),
          ("mastodon", "https://mastodon.social/", 15), ("linkedin", "https://www.linkedin.com/", 10),
          ("facebook", "https://l.facebook.com/", 8), ("newsletter", None, 7))
# First octets of residential IPv4 addresses (people) and of hosting networks (robots): disjoint,
# so no person ever shares an address with a robot.
_HUMAN_V4 = (24, 31, 37, 46, 47, 62, 68, 71, 73, 76, 77, 78, 79, 80, 81, 82, 83, 84, 86, 88, 89, 90, 91,
             92, 93,
             94, 95, 97, 98, 99, 108, 109, 151, 176, 188, 190, 201, 212, 217)
_HUMAN_V6 = (0x2A01CB00, 0x2A028428, 0x20010861, 0x26001700, 0x26012840, 0x2A02A460, 0x24091010, 0x2A0DE487)
_HOSTING_V4 = ("45.", "104.248.", "138.197.", "139.59.", "143.198.", "159.203.", "164.92.", "165.227.",
               "167.94.", "193.32.",
               "194.165.", "198.235.", "205.210.")
HOURLY = (0.9, 0.7, 0.5, 0.4, 0.35, 0.4, 0.6, 0.9, 1.3, 1.6, 1.8, 1.8, 1.7, 1.7, 1.8, 1.9, 1.9, 1.8, 1.6, 1.5,
          1.5, 1.5, 1.3, 1.1)
WEEKDAY = (1.0, 1.05, 1.05, 1.0, 0.9, 0.65, 0.7)

# sizes of responses in bytes
_SIZE_302, _SIZE_400, _SIZE_404, _SIZE_405 = 142, 157, 3184, 157
_CSS, _JS = "/static/css/main.css", "/static/js/site.js"
_LOGO, _FAVICON = "/static/img/logo.svg", "/favicon.ico"
_ASSET_SIZES = (14213, 38904, 4518, 1150)

# what each agent is, in Simulation.agents
READER, REFUSER = "reader", "cookie_refuser"


@dataclass
class Simulation:
    """What :func:`simulate` wrote, and the truth behind it.

    Attributes
    ----------
    out_dir : str
        The directory written.
    files : list of str
        The access logs written, oldest first (the order :func:`recsys.log_files` reads them).
    lines : int
        Lines written over all files.
    truth : pandas.DataFrame
        The article page views of human readers, in log order: ``ts`` (UTC, at the resolution the
        log format writes), ``visitor`` (the ``UT_ID`` cookie) and ``url`` (``/archives/<id>``,
        normalized). With a format that logs the cookie, exactly what :func:`recsys.page_views`
        with default arguments keeps; ``combined`` does not log it, and there ``page_views``
        keeps nothing (those lines are ``no_visitor``) while ``truth`` still lists the reads.
    articles : pandas.DataFrame
        ``url``, ``title``, ``topic``, ``published`` (UTC), ``id``, ``series`` (or missing),
        ``part`` (0 outside series) and ``weight`` (popularity), in publication order.
    reasons : dict
        Per outcome (``view``, a drop reason of :data:`recsys.views.DROP_REASONS` or
        ``malformed:<kind>``), how many lines :func:`recsys.read_logs` and
        :func:`recsys.page_views` are designed to give it; outcomes with no line are left out.
    agents : pandas.DataFrame
        Every client: ``kind`` (``reader``, ``cookie_refuser``, ``crawler``, ``feed_reader``,
        ``link_checker``, ``scanner``, ``robots_scraper``, ``fast_scraper``, ``junk``), ``name``,
        ``visitor`` (its cookie, when it ever had one), ``ips`` (space-separated) and
        ``user_agent``.
    log_format : str
        The preset used.
    feed : str
        The path of the RSS feed.
    labels : str or None
        The path of ``labels.csv.gz`` when written.
    """

    out_dir: str
    files: list[str]
    lines: int
    truth: pd.DataFrame
    articles: pd.DataFrame
    reasons: dict[str, int]
    agents: pd.DataFrame
    log_format: str
    feed: str
    labels: str | None = None

    @property
    def views(self) -> int:
        """Lines designed to be page views."""
        return self.reasons.get("view", 0)

    def expected_accounting(self) -> dict:
        """What ``read_page_views(out_dir).attrs["accounting"]`` should hold.

        ``lines``, ``malformed_kinds``, ``dropped`` and ``views``, with zero counts left out as
        :class:`recsys.Accounting` leaves them out.
        """
        kinds = {k.split(":", 1)[1]: v for k, v in self.reasons.items() if k.startswith("malformed:")}
        return {
            "lines": self.lines,
            "malformed_kinds": kinds,
            "dropped": {k: v for k, v in self.reasons.items() if k in DROP_REASONS},
            "views": self.views,
        }


# ---------------------------------------------------------------------------------------------
# generation
# ---------------------------------------------------------------------------------------------
class _Interner:
    """Distinct values in first-use order: ``add(value) -> index``, ``values[index]``."""

    def __init__(self) -> None:
        self.index: dict = {}
        self.values: list = []

    def add(self, value) -> int:
        i = self.index.get(value)
        if i is None:
            i = self.index[value] = len(self.values)
            self.values.append(value)
        return i

    def __len__(self) -> int:
        return len(self.values)


class _Tables:
    """Strings referred to by index from the event rows."""

    def __init__(self) -> None:
        self.ips = _Interner()
        self.uas = _Interner()
        self.cookies = _Interner()
        self.reqs = _Interner()  # (request, request_method, request_uri)
        self.refs = _Interner()

    def ip(self, s: str) -> int:
        return self.ips.add(s)

    def ua(self, s: str | None) -> int:
        return -1 if s is None else self.uas.add(s)

    def cookie(self, s: str) -> int:
        return self.cookies.add(s)

    def req(self, method: str, uri: str, proto: str = _H1) -> int:
        return self.reqs.add((f"{method} {uri} {proto}", method, uri))

    def raw_req(self, request: str | bytes, method: str | None, uri: str | None) -> int:
        return self.reqs.add((request, method, uri))

    def ref(self, url: str | None) -> int:
        return -1 if url is None else self.refs.add(url)


def _weighted(items: Sequence[tuple], rnd: random.Random):
    """A chooser of the first element of ``items`` by the weight in their last element."""
    values = [it[0] for it in items]
    cum = list(np.cumsum([it[-1] for it in items], dtype=float))
    total = cum[-1]
    return lambda: values[min(bisect_right(cum, rnd.random() * total), len(values) - 1)]


class _Gen:
    """The state of one simulation: random generators, the blog, the string tables, the events."""

    def __init__(
        self, *, visitors: int, days: int, articles: int, topics: int, seed: int, start: dt.date
    ) -> None:
        self.rnd = random.Random(seed)
        self.rng = np.random.default_rng(seed)
        self.n_visitors, self.days, self.n_topics = visitors, days, topics
        self.start_ms = _midnight(start) * 1000
        self.end_ms = self.start_ms + days * DAY_MS
        self.start = start
        self.tab = _Tables()
        # the events, flat: (t, ip, ua, ck, req, status, size, ref, outcome, assets, art) each
        self.rows = array.array("q")
        self.junk: dict[int, str] = {}  # row index -> junk kind
        self.agents: list[dict] = []
        self.used_ips: set[str] = set()
        self._articles(articles)
        self._picker()
        # time slots of visits: days x hours, weighted by weekday and hour of day
        weights = [WEEKDAY[(start + dt.timedelta(days=d)).weekday()] * h for d in range(days) for h in HOURLY]
        self.slot_cum = list(np.cumsum(weights))

    # the blog ---------------------------------------------------------------------------------
    def _articles(self, n: int) -> None:
        rnd, rng = self.rnd, self.rng
        n_new = min(n // 5, round(self.days * 2 / 7))
        n_old = n - n_new
        span = max(90, math.ceil(n_old / 1.3 * 7)) * DAY_MS  # about 1.3 posts a week before
        old = sorted(self.start_ms - DAY_MS - int(rnd.random() * span) for _ in range(n_old))
        room = self.end_ms - self.start_ms - DAY_MS
        new = sorted(self.start_ms + int((0.05 + 0.9 * rnd.random()) * room) for _ in range(n_new))
        pub = []
        for t in old + new:  # posted in the day, by local habit between 7:00 and 22:00 UTC
            day0 = t - t % DAY_MS
            pub.append(day0 + (7 * HOUR_MS) + int(rnd.random() * 15 * HOUR_MS))
        pub.sort()
        topic_w = rng.dirichlet(np.full(self.n_topics, 2.0))
        topic = np.zeros(n, np.int64)
        series = np.full(n, -1, np.int64)
        part = np.zeros(n, np.int64)
        i = n_series = 0
        while i < n:
            k = int(rng.choice(self.n_topics, p=topic_w))
            length = 1
            if rnd.random() < 0.07 and n - i >= 2:
                length = min(n - i, rnd.choice((2, 2, 3, 3, 4)))
            topic[i : i + length] = k
            if length > 1:
                series[i : i + length] = n_series
                part[i : i + length] = np.arange(1, length + 1)
                n_series += 1
            i += length
        for k in range(self.n_topics):  # every topic gets at least one article
            if not (topic == k).any():
                counts = np.bincount(topic, minlength=self.n_topics)
                donors = np.flatnonzero((counts[topic] > 1) & (series < 0))
                if not len(donors):
                    donors = np.flatnonzero(counts[topic] > 1)
                a = int(donors[int(rnd.random() * len(donors))])
                topic[a], series[a], part[a] = k, -1, 0
        for s in np.unique(series[series >= 0]).tolist():  # renumber parts (a part may have left)
            members = np.flatnonzero(series == s)
            if len(members) < 2:
                series[members], part[members] = -1, 0
            else:
                part[members] = np.arange(1, len(members) + 1)
        ids, cur = [], rnd.randint(180, 420)
        for _ in range(n):
            ids.append(cur)
            cur += 1 if rnd.random() < 0.55 else rnd.randint(2, 9)
        rank = rng.permutation(n)
        weight = 1.0 / (1.0 + rank) ** 1.05
        titles, seen = [], set()
        series_base: dict[int, str] = {}
        for a in range(n):
            slug, _, tools, subjects = TOPICS[topic[a]]
            if series[a] >= 0:
                s = int(series[a])
                if s not in series_base:
                    base = _title(rnd, _SERIES_TEMPLATES, tools, subjects)
                    while base in series_base.values():
                        base = _title(rnd, _SERIES_TEMPLATES + _TEMPLATES, tools, subjects)
                    series_base[s] = base
                title = f"{series_base[s]}, part {part[a]}"
            else:
                title = _title(rnd, _TEMPLATES, tools, subjects)
                tries = 0
                while title in seen:
                    tries += 1
                    title = _title(rnd, _TEMPLATES, tools, subjects)
                    if tries > 20:
                        year = dt.datetime.fromtimestamp(pub[a] / 1000, dt.timezone.utc).year
                        title = f"{title} ({year} edition)"
            seen.add(title)
            titles.append(title)
        nxt = np.full(n, -1, np.int64)
        prv = np.full(n, -1, np.int64)
        for s in np.unique(series[series >= 0]).tolist():
            members = np.flatnonzero(series == s)
            nxt[members[:-1]], prv[members[1:]] = members[1:], members[:-1]
        self.art_id = np.array(ids, np.int64)
        self.art_pub = np.array(pub, np.int64)
        self.art_topic, self.art_series, self.art_part, self.art_weight = topic, series, part, weight
        self.art_next, self.art_prev = nxt.tolist(), prv.tolist()
        self.art_title = titles
        self.art_size = (rng.lognormal(9.4, 0.35, n)).astype(np.int64).tolist()  # ~12 kB gzipped pages
        self.art_cover = (rng.random(n) < 0.7)
        self.art_cover_size = rng.integers(30_000, 180_000, n)
        self.art_uri = [f"/archives/{i}" for i in ids]
        self.pub_list = self.art_pub.tolist()
        self.id_set = set(ids)

    def _picker(self) -> None:
        """Cumulative weights of articles per day, topic and kind of traffic."""
        pub, w = self.art_pub.astype(float), self.art_weight
        day_start = self.start_ms + np.arange(self.days, dtype=float)[:, None] * DAY_MS
        age = np.maximum((day_start + DAY_MS / 2 - pub[None, :]) / DAY_MS, 0.0)
        published = pub[None, :] < day_start + DAY_MS
        kinds = (
            w * (1 + 6 * np.exp(-age / 3)) * published,  # general: readers, home page
            w * (pub[None, :] < day_start - DAY_MS),  # search: indexed a day after publication
            w**0.3 * (0.05 + 30 * np.exp(-age / 1.5)) * published,  # social media: news
        )
        members = [np.flatnonzero(self.art_topic == k) for k in range(self.n_topics)] + [np.arange(len(pub))]
        self.members = [m.tolist() for m in members]
        # bisect works on array.array: a quarter of the memory of lists, about as fast
        self.cum = [[[array.array("d", np.cumsum(W[d, m])) for m in members] for d in range(self.days)]
                    for W in kinds]

    def pick(self, kind: int, day: int, topic: int | None, t: int) -> int | None:
        """An article published by ``t``, by popularity on that day (``topic`` None: any)."""
        rnd = self.rnd
        for kind_, topic_ in ((kind, topic), (0, topic), (0, None)):
            k = self.n_topics if topic_ is None else topic_
            cum = self.cum[kind_][day][k]
            total = cum[-1] if cum else 0.0
            if total <= 0:
                continue
            members = self.members[k]
            for _ in range(4):
                a = members[min(bisect_right(cum, rnd.random() * total), len(members) - 1)]
                if self.pub_list[a] <= t:
                    return a
        return None

    def visit_start(self) -> int:
        slot = min(bisect_right(self.slot_cum, self.rnd.random() * self.slot_cum[-1]), len(self.slot_cum) - 1)
        return self.start_ms + slot * HOUR_MS + int(self.rnd.random() * HOUR_MS)

    # addresses --------------------------------------------------------------------------------
    def _unique(self, make) -> str:
        while True:
            ip = make()
            if ip not in self.used_ips:
                self.used_ips.add(ip)
                return ip

    def human_ip(self) -> str:
        rnd = self.rnd
        if rnd.random() < 0.18:
            return self._unique(lambda: ipaddress.IPv6Address(
                (rnd.choice(_HUMAN_V6) << 96) | (rnd.getrandbits(32) << 64) | rnd.getrandbits(64)).compressed)
        return self._unique(
            lambda: f"{rnd.choice(_HUMAN_V4)}.{_below(rnd, 256)}.{_below(rnd, 256)}.{1 + _below(rnd, 254)}")

    def hosting_ip(self) -> str:
        rnd = self.rnd

        def make() -> str:
            prefix = rnd.choice(_HOSTING_V4)
            parts = [str(_below(rnd, 256)) for _ in range(3 - prefix.count("."))]
            return prefix + ".".join(parts + [str(1 + _below(rnd, 254))])
        return self._unique(make)

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rnd.getrandbits(128), version=4))

    # events -----------------------------------------------------------------------------------
    def day(self, t: int) -> int:
        return min(max((t - self.start_ms) // DAY_MS, 0), self.days - 1)


def _title(rnd: random.Random, templates, tools, subjects) -> str:
    """A title from a template; tool names keep their spelling (``pytest in practice: ...``)."""
    tool, tool2 = rnd.sample(tools, 2)
    subject = rnd.choice(subjects)
    return rnd.choice(templates).format(
        verb=rnd.choice(_VERBS), subject=subject, Subject=subject[:1].upper() + subject[1:], tool=tool,
        Tool=tool, tool2=tool2, n=rnd.choice((3, 5, 7, 10, 12)),
    )


def _browser_name(ua: str) -> str:
    for key, name in (("Edg", "Edge"), ("SamsungBrowser", "Samsung Internet"), ("Firefox", "Firefox"),
                      ("CriOS", "Chrome"), ("Chrome", "Chrome"), ("Safari", "Safari")):
        if key in ua:
            mobile = " mobile" if ("Mobile" in ua or "Android" in ua) else ""
            return name + mobile
    return "browser"


# people ----------------------------------------------------------------------------------------
def _readers(g: _Gen) -> None:
    """Human readers: visits of article views with their handshakes, assets, reloads, comments."""
    rnd, tab = g.rnd, g.tab
    add = g.rows.extend
    browser = _weighted(BROWSERS, rnd)
    search_ref = _weighted([(tab.ref(u), w) for u, w in SEARCH_REFERERS], rnd)
    social = _weighted([((src, ref), w) for src, ref, w in SOCIAL], rnd)
    topic_w = np.bincount(g.art_topic, minlength=g.n_topics).astype(float)
    topic_pick = _weighted([(k, w) for k, w in enumerate(topic_w)], rnd)
    req_art = {p: [tab.req("GET", u, p) for u in g.art_uri] for p in (_H1, _H2)}
    ref_art = [tab.ref(SITE + u) for u in g.art_uri]
    home_ref = tab.ref(SITE + "/")
    req_home = {p: tab.req("GET", "/", p) for p in (_H1, _H2)}
    req_tag = {p: [tab.req("GET", f"/tags/{TOPICS[k][0]}/", p) for k in range(g.n_topics)]
               for p in (_H1, _H2)}
    ref_tag = [tab.ref(f"{SITE}/tags/{TOPICS[k][0]}/") for k in range(g.n_topics)]
    pub, art_size, art_id, nxt_of, prv_of = g.pub_list, g.art_size, g.art_id.tolist(), g.art_next, g.art_prev
    art_topic = g.art_topic.tolist()
    end = g.end_ms
    n_refusers = 0

    for _ in range(g.n_visitors):
        refuser = rnd.random() < 0.03
        n_refusers += refuser
        cookie = g.uuid()
        ck = tab.cookie(cookie)
        ips = [tab.ip(g.human_ip()) for _ in range(2 if rnd.random() < 0.3 else 1)]
        ua_s = browser()
        ua = tab.ua(ua_s)
        proto = _H1 if rnd.random() < 0.08 else _H2
        rq_art, rq_home, rq_tag = req_art[proto], req_home[proto], req_tag[proto]
        t1 = topic_pick()
        t2 = topic_pick() if rnd.random() < 0.4 else t1
        new = refuser or rnd.random() < 0.65
        has_ck = not new  # returning readers got their cookie before the period
        warm = not new  # ... and have the static files in their cache
        g.agents.append({"kind": REFUSER if refuser else READER, "name": _browser_name(ua_s),
                         "visitor": None if refuser else cookie,
                         "ips": " ".join(tab.ips.values[i] for i in ips), "user_agent": ua_s})
        loyalty = rnd.random()
        if loyalty < 0.55 or refuser:
            n_visits = 1
        else:
            mean = 1 + (0.1 if loyalty < 0.87 else 0.35) * g.days
            n_visits = min(1 + int(rnd.expovariate(1 / (mean - 1))), 2 * g.days)
        starts = sorted(g.visit_start() for _ in range(n_visits))
        prev_end = -10 * DAY_MS
        seen: set[int] = set()  # articles this reader has read

        for start in starts:
            if start < prev_end + HOUR_MS:
                start = prev_end + HOUR_MS + int(rnd.random() * 6 * HOUR_MS)
            if start >= end:
                break
            t = start
            ip = ips[0] if len(ips) == 1 or rnd.random() < 0.6 else ips[1]
            day = g.day(t)
            topic = t1 if rnd.random() < 0.7 else t2
            # the entry page --------------------------------------------------------------
            r = rnd.random()
            uri_req, utm = -1, None
            if r < 0.40:  # a search engine
                kind, tp, ref = 1, topic if rnd.random() < 0.85 else None, search_ref()
            elif r < 0.53:  # social media, with the campaign in the URL
                kind, tp = 2, None
                src, ref_url = social()
                if src == "twitter":
                    ref_url = "https://t.co/" + "".join(rnd.choice(_TCO) for _ in range(10))
                ref = tab.ref(ref_url)
                utm = f"?utm_source={src}&utm_medium={'email' if src == 'newsletter' else 'social'}"
            elif r < 0.70:  # direct: a bookmark, a link in a chat or an e-mail
                kind, tp, ref = 0, topic, -1
            else:  # the home page or a tag page first
                on_home = r < 0.88
                page = rq_home if on_home else rq_tag[topic]
                size = (24_000 if on_home else 15_000) + _below(rnd, 600)
                from_search = search_ref() if rnd.random() < 0.3 else -1
                add((t, ip, ua, ck if has_ck else -1, page, 200, size, from_search, NOT_ARTICLE,
                     2 if warm else 1, -1))
                warm = True
                t += _gap(rnd)
                kind, tp = (2, None) if on_home else (0, topic)
                ref = home_ref if on_home else ref_tag[topic]
            day = g.day(t)
            a = g.pick(kind, day, tp, t)
            for _ in range(2):  # mostly something not read before
                if a is None or a not in seen or rnd.random() < 0.25:
                    break
                a = g.pick(kind, day, tp, t)
            if a is None:
                prev_end = t
                continue
            if utm:
                uri_req = tab.req("GET", f"/archives/{art_id[a]}{utm}", proto)
            # the articles ----------------------------------------------------------------
            n_views = 1
            while rnd.random() < 0.6 and n_views < 40:
                n_views += 1
            read = {a}
            for k in range(n_views):
                if t >= end:
                    break
                rq = rq_art[a] if uri_req < 0 else uri_req
                if refuser:  # the redirect loop, then the browser gives up
                    for _ in range(20 if rnd.random() < 0.5 else 21):
                        add((t, ip, ua, -1, rq, 302, _SIZE_302, ref, HANDSHAKE, 0, a))
                        t += 30 + _below(rnd, 120)
                    break
                if not has_ck:  # the cookie handshake
                    add((t, ip, ua, -1, rq, 302, _SIZE_302, ref, HANDSHAKE, 0, a))
                    t += 40 + _below(rnd, 250)
                    has_ck = True
                add((t, ip, ua, ck, rq, 200, art_size[a] + _below(rnd, 64), ref, VIEW, 2 if warm else 1, a))
                warm = True
                seen.add(a)
                page_ref = ref_art[a] if uri_req < 0 else tab.ref(SITE + tab.reqs.values[uri_req][2])
                x = rnd.random()
                if x < 0.03:  # a reload (the page may come from the cache: 304)
                    t += 5_000 + _below(rnd, 35_000)
                    status = 304 if rnd.random() < 0.5 else 200
                    size = 0 if status == 304 else art_size[a] + _below(rnd, 64)
                    add((t, ip, ua, ck, rq, status, size, ref, VIEW, 2, a))
                elif x < 0.045:  # a comment, then back on the article
                    t += 60_000 + _below(rnd, 540_000)
                    post = tab.req("POST", f"/archives/{art_id[a]}/comment", proto)
                    add((t, ip, ua, ck, post, 302, 0, page_ref, METHOD, 0, a))
                    t += 80 + _below(rnd, 300)
                    size = art_size[a] + 700 + _below(rnd, 64)  # one comment more
                    add((t, ip, ua, ck, rq_art[a], 200, size, page_ref, VIEW, 2, a))
                elif x < 0.055:  # a mistyped id
                    t += 5_000 + _below(rnd, 60_000)
                    bad = _typo(rnd, art_id[a], g.id_set)
                    typo = tab.req("GET", f"/archives/{bad}", proto)
                    add((t, ip, ua, ck, typo, 404, _SIZE_404, -1, STATUS, 0, -1))
                if k == n_views - 1:
                    break
                # the next article
                gap = _gap(rnd)
                t += gap
                if t >= end:
                    break
                day = g.day(t)
                nxt = nxt_of[a]
                prv = prv_of[a]
                again = nxt in seen and rnd.random() < 0.7  # the next part, already read
                if nxt >= 0 and pub[nxt] <= t and nxt not in read and not again and rnd.random() < 0.65:
                    b = nxt
                elif prv >= 0 and prv not in read and rnd.random() < 0.2:
                    b = prv
                else:
                    y = rnd.random()
                    if y < 0.55:  # a favourite topic
                        tp = t1 if rnd.random() < 0.7 else t2
                    else:  # the topic of this article, or anything popular
                        tp = art_topic[a] if y < 0.85 else None
                    b = None
                    for _ in range(3):
                        c = g.pick(0, day, tp, t)
                        if c is not None and c not in read and (c not in seen or rnd.random() < 0.25):
                            b = c
                            break
                if b is None:
                    break
                if rnd.random() < 0.06:  # back to the home page on the way
                    on_home = t - gap + int(gap * (0.2 + 0.6 * rnd.random()))
                    size = 24_000 + _below(rnd, 600)
                    add((on_home, ip, ua, ck, rq_home, 200, size, page_ref, NOT_ARTICLE, 2, -1))
                    page_ref = home_ref
                read.add(b)
                a = b
                ref = page_ref
                v = rnd.random()
                if v < 0.01:
                    uri_req = tab.req("GET", f"/archives/{art_id[a]}/", proto)
                elif v < 0.015:
                    uri_req = tab.req("GET", f"//archives/{art_id[a]}", proto)
                elif v < 0.022:
                    uri_req = tab.req("GET", f"/archives/{art_id[a]}?replytocom={rnd.randint(2, 900)}", proto)
                else:
                    uri_req = -1
            prev_end = t
    log.info("%d readers (%d refuse cookies)", g.n_visitors, n_refusers)


def _below(rnd: random.Random, n: int) -> int:
    """A random integer in ``[0, n)`` (``randrange`` costs three times more)."""
    return int(rnd.random() * n)


def _gap(rnd: random.Random) -> int:
    """Milliseconds between two pages of a visit: log-normal, 20 s to 15 min."""
    return int(min(900.0, max(20.0, rnd.lognormvariate(4.7, 0.9))) * 1000) + _below(rnd, 1000)


def _typo(rnd: random.Random, ident: int, ids: set[int]) -> int:
    s = str(ident)
    for _ in range(20):
        i = _below(rnd, len(s))
        kind = rnd.random()
        if kind < 0.4 and len(s) > 1:
            c = s[:i] + s[i + 1 :]
        elif kind < 0.7:
            c = s[:i] + rnd.choice("0123456789") + s[i:]
        elif i + 1 < len(s):
            c = s[:i] + s[i + 1] + s[i] + s[i + 2 :]
        else:
            continue
        c = c.lstrip("0") or "0"
        if int(c) not in ids:
            return int(c)
    return ident * 10 + 7 if ident * 10 + 7 not in ids else max(ids) + 1000


# robots ----------------------------------------------------------------------------------------
def _crawlers(g: _Gen) -> None:
    rnd, tab, add = g.rnd, g.tab, g.rows.extend
    scale = max(0.5, math.sqrt(g.n_visitors / 2000))
    robots, sitemap = tab.req("GET", "/robots.txt"), tab.req("GET", "/sitemap.xml")
    home, feed = tab.req("GET", "/"), tab.req("GET", "/feed/")
    tags = [tab.req("GET", f"/tags/{TOPICS[k][0]}/") for k in range(g.n_topics)]
    arts = [tab.req("GET", u) for u in g.art_uri]
    for name, ua_s, prefixes, per_day, follows in CRAWLERS:
        ua = tab.ua(ua_s)
        ips: list[int] = []
        n = _poisson(rnd, per_day * scale * g.days)
        for _ in range(n):
            t = g.start_ms + int(rnd.random() * (g.end_ms - g.start_ms))
            ip_s = rnd.choice(prefixes) + str(1 + _below(rnd, 254))
            g.used_ips.add(ip_s)
            ip = tab.ip(ip_s)
            ips.append(ip)
            if rnd.random() < 0.6:
                add((t, ip, ua, -1, robots, 200, 67, -1, BOT, 0, -1))
                t += 500 + _below(rnd, 5000)
            if rnd.random() < 0.4:
                add((t, ip, ua, -1, sitemap, 200, 9_000 + 40 * len(arts), -1, BOT, 0, -1))
                t += 500 + _below(rnd, 5000)
            published = bisect_right(g.pub_list, t)
            for _ in range(rnd.randint(1, 12)):
                x = rnd.random()
                if x < 0.1:
                    add((t, ip, ua, -1, home, 200, 24_000 + _below(rnd, 600), -1, BOT, 0, -1))
                elif x < 0.18:
                    add((t, ip, ua, -1, feed, 200, 52_000, -1, BOT, 0, -1))
                elif x < 0.25:
                    add((t, ip, ua, -1, tags[_below(rnd, g.n_topics)], 200, 15_000, -1, BOT, 0, -1))
                elif published:
                    a = _below(rnd, published)
                    hops = rnd.randint(2, 6) if follows and rnd.random() < 0.5 else 1
                    for _ in range(hops):  # no cookie: a redirect each time
                        add((t, ip, ua, -1, arts[a], 302, _SIZE_302, -1, BOT, 0, a))
                        t += 100 + _below(rnd, 900)
                t += 1_000 + _below(rnd, 30_000)
        g.agents.append({"kind": "crawler", "name": name, "visitor": None,
                         "ips": " ".join(dict.fromkeys(tab.ips.values[i] for i in ips)), "user_agent": ua_s})


def _feed_readers(g: _Gen) -> None:
    rnd, tab, add = g.rnd, g.tab, g.rows.extend
    n = min(len(FEED_READERS), 3 + g.n_visitors // 1000)
    for ua_s, minutes in FEED_READERS[:n]:
        ua, ip_s = tab.ua(ua_s), g.hosting_ip()
        ip = tab.ip(ip_s)
        rq = tab.req("GET", "/feed/", _H1 if rnd.random() < 0.5 else _H2)
        t = g.start_ms + int(rnd.random() * minutes * 60_000)
        while t < g.end_ms:
            new = bisect_right(g.pub_list, t) != bisect_right(g.pub_list, t - minutes * 60_000)
            status = 200 if new or rnd.random() < 0.1 else 304
            add((t, ip, ua, -1, rq, status, 52_000 if status == 200 else 0, -1, NOT_ARTICLE, 0, -1))
            t += int(minutes * 60_000 * (0.9 + 0.2 * rnd.random()))
        g.agents.append({"kind": "feed_reader", "name": ua_s.split("/")[0].split(" (")[0], "visitor": None,
                         "ips": ip_s, "user_agent": ua_s})


def _link_checker(g: _Gen) -> None:
    """HEAD of every page once a week, at night, without cookie (articles answer 302)."""
    rnd, tab, add = g.rnd, g.tab, g.rows.extend
    ua, ip_s = tab.ua(LINK_CHECKER), g.hosting_ip()
    ip = tab.ip(ip_s)
    for day in range(_below(rnd, min(7, g.days)), g.days, 7):
        t = g.start_ms + day * DAY_MS + 3 * HOUR_MS + int(rnd.random() * HOUR_MS)
        pages = [("/", 200), ("/feed/", 200)] + [(f"/tags/{TOPICS[k][0]}/", 200) for k in range(g.n_topics)]
        pages += [(u, 302) for u, p in zip(g.art_uri, g.pub_list) if p <= t]
        for uri, status in pages:
            add((t, ip, ua, -1, tab.req("HEAD", uri), status, 0, -1, METHOD, 0, -1))
            t += 200 + _below(rnd, 800)
    g.agents.append({"kind": "link_checker", "name": "LinkChecker", "visitor": None, "ips": ip_s,
                     "user_agent": LINK_CHECKER})


def _scanners(g: _Gen) -> None:
    rnd, tab, add = g.rnd, g.tab, g.rows.extend
    n = max(1, _poisson(rnd, 2.5 * g.days * max(0.5, math.sqrt(g.n_visitors / 2000))))  # scanned daily
    for _ in range(n):
        ua_s = rnd.choice(SCANNER_AGENTS)
        ua, ip_s = tab.ua(ua_s), g.hosting_ip()
        ip = tab.ip(ip_s)
        t = g.start_ms + int(rnd.random() * (g.end_ms - g.start_ms))
        for method, uri, status in rnd.sample(SCANNER_PROBES, rnd.randint(3, len(SCANNER_PROBES))):
            size = {200: 24_000, 404: _SIZE_404, 405: _SIZE_405}[status]
            add((t, ip, ua, -1, tab.req(method, uri), status, size, -1, BOT, 0, -1))
            t += 50 + _below(rnd, 1500)
        g.agents.append({"kind": "scanner", "name": (ua_s or "-").split("/")[0], "visitor": None, "ips": ip_s,
                         "user_agent": ua_s})


def _scrapers(g: _Gen) -> None:
    """Scrapers with a browser's user agent and a cookie, caught by the behaviour rules."""
    rnd, tab, add = g.rnd, g.tab, g.rows.extend
    browser = _weighted(BROWSERS[:10], rnd)
    robots = tab.req("GET", "/robots.txt")
    for _ in range(1 + g.n_visitors // 20_000):
        # polite but not a browser: robots.txt first, then articles slowly, in id order
        ua_s, ip_s, cookie = browser(), g.hosting_ip(), g.uuid()
        ua, ip, ck = tab.ua(ua_s), tab.ip(ip_s), tab.cookie(cookie)
        has_ck = False
        days = sorted(rnd.sample(range(g.days), max(1, g.days // 3)))
        cursor = 0
        for day in days:
            t = g.start_ms + day * DAY_MS + int(rnd.random() * 20 * HOUR_MS)
            add((t, ip, ua, ck if has_ck else -1, robots, 200, 67, -1, NOT_ARTICLE, 0, -1))
            t += 1_000 + _below(rnd, 4_000)
            for _ in range(rnd.randint(10, 40)):
                published = bisect_right(g.pub_list, t)
                if not published:
                    break
                a = cursor % published
                cursor += 1
                rq = tab.req("GET", g.art_uri[a])
                if not has_ck:
                    add((t, ip, ua, -1, rq, 302, _SIZE_302, -1, HANDSHAKE, 0, a))
                    t += 50 + _below(rnd, 200)
                    has_ck = True
                add((t, ip, ua, ck, rq, 200, g.art_size[a] + _below(rnd, 64), -1, ROBOTS, 0, a))
                t += 20_000 + _below(rnd, 70_000)
        g.agents.append({"kind": "robots_scraper", "name": "scraper", "visitor": cookie, "ips": ip_s,
                         "user_agent": ua_s})
    for _ in range(1 + g.n_visitors // 20_000):
        # a headless browser reading an article every second or two, well inside the period
        ua_s, ip_s, cookie = browser(), g.hosting_ip(), g.uuid()
        ua, ip, ck = tab.ua(ua_s), tab.ip(ip_s), tab.cookie(cookie)
        span = g.end_ms - g.start_ms
        t = g.start_ms + int((0.1 + 0.6 * rnd.random()) * span)
        published = max(1, bisect_right(g.pub_list, t))
        order = list(range(published))
        rnd.shuffle(order)
        n = max(30, min(published, rnd.randint(60, 150)))
        proto = _H2
        for i in range(n):
            a = order[i % published]
            rq = tab.req("GET", g.art_uri[a], proto)
            if i == 0:
                add((t, ip, ua, -1, rq, 302, _SIZE_302, -1, HANDSHAKE, 0, a))
                t += 50 + _below(rnd, 200)
            size = g.art_size[a] + _below(rnd, 64)
            add((t, ip, ua, ck, rq, 200, size, -1, TOO_FAST, 1 if i == 0 else 2, a))
            t += 800 + _below(rnd, 1_700)  # 21 articles take at most 50 s
        g.agents.append({"kind": "fast_scraper", "name": "headless", "visitor": cookie, "ips": ip_s,
                         "user_agent": ua_s})


def _poisson(rnd: random.Random, lam: float) -> int:
    if lam > 50:
        return max(0, round(rnd.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rnd.random()
    while p > limit:
        k += 1
        p *= rnd.random()
    return k


# junk ------------------------------------------------------------------------------------------
_JUNK_KINDS = ("tls", "empty", "space", "truncated", "utf8")


def _junk(g: _Gen) -> None:
    """About 0.2 % junk lines (at least one of each kind), at random times."""
    rnd, tab, add = g.rnd, g.tab, g.rows.extend
    rows = np.frombuffer(g.rows, np.int64).reshape(-1, len(_COLS))
    expected = len(rows) + 3.3 * np.count_nonzero(rows[:, 9])  # with the static files to come
    n = max(len(_JUNK_KINDS), round(expected * 0.002))
    del rows
    more = n - len(_JUNK_KINDS)
    kinds = list(_JUNK_KINDS) + [rnd.choices(_JUNK_KINDS, (40, 20, 15, 15, 10))[0] for _ in range(more)]
    ips = []
    for kind in kinds:
        t = g.start_ms + int(rnd.random() * (g.end_ms - g.start_ms))
        ip_s = g.hosting_ip()
        ip = tab.ip(ip_s)
        ips.append(ip_s)
        ua, ck, ref = -1, -1, -1
        if kind == "tls":  # a TLS ClientHello sent to port 80
            hello = bytes([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03])
            body = hello + rnd.randbytes(rnd.randint(20, 60))
            rq, status, size = tab.raw_req(body, None, None), 400, _SIZE_400
        elif kind == "empty":  # a connection closed without a request
            rq, status, size = tab.raw_req("", None, None), 400, 0
        elif kind == "space":  # a space in the target: nginx (since 1.21.1) rejects the request line
            a = _below(rnd, len(g.art_uri))  # before parsing it: no $request_method, no $request_uri
            target = f"{g.art_uri[a]} {rnd.choice(('extra', 'target=_blank', 'via', 'HTTP/1.0'))}"
            rq, status, size = tab.raw_req(f"GET {target} HTTP/1.1", None, None), 400, _SIZE_400
        else:  # truncated or corrupted later: a reader's request, as nginx logs it
            a = _below(rnd, len(g.art_uri))
            rq, status, size = tab.req("GET", g.art_uri[a], _H2), 200, g.art_size[a]
            ua, ck = tab.ua(rnd.choice(BROWSERS)[0]), tab.cookie(g.uuid())
            ref = tab.ref(rnd.choice(SEARCH_REFERERS)[0])
        g.junk[len(g.rows) // len(_COLS)] = kind
        add((t, ip, ua, ck, rq, status, size, ref, _UNSET, 0, -1))
    g.agents.append({"kind": "junk", "name": "junk", "visitor": None, "ips": " ".join(ips),
                     "user_agent": None})


# assets ----------------------------------------------------------------------------------------
def _assets(g: _Gen, ev: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The static files each page fetches: stylesheet, script, an image, sometimes the icon."""
    rng, tab = g.rng, g.tab
    pages = np.flatnonzero(ev["assets"] > 0)
    n = len(pages)
    if not n:
        return {k: v[:0] for k, v in ev.items()}
    reqs = tab.reqs.values
    proto_of = np.array([r[0].endswith(_H2) if isinstance(r[0], str) else False for r in reqs])
    h2 = proto_of[ev["req"][pages]].astype(np.int64)
    per_proto = lambda uri: np.array([tab.req("GET", uri, _H1), tab.req("GET", uri, _H2)])
    css, js, logo, fav = per_proto(_CSS), per_proto(_JS), per_proto(_LOGO), per_proto(_FAVICON)
    covers = np.array([[tab.req("GET", f"/images/{i}/cover.jpg", p) for p in (_H1, _H2)]
                       for i in g.art_id.tolist()])
    art = ev["art"][pages]
    has_art = art >= 0
    art0 = np.where(has_art, art, 0)
    fresh = ev["assets"][pages] == 1
    image = np.where(has_art, covers[art0, h2], logo[h2])
    req = np.stack([css[h2], js[h2], image, fav[h2]], axis=1)
    present = np.ones((n, 4), bool)
    present[:, 2] = ~has_art | g.art_cover[art0]
    present[:, 3] = rng.random(n) < np.where(fresh, 0.6, 0.03)
    status = np.where(fresh[:, None] | (rng.random((n, 4)) < 0.12), 200, 304)
    image_size = np.where(has_art, g.art_cover_size[art0], _ASSET_SIZES[2])
    sizes = np.stack([np.full(n, _ASSET_SIZES[0]), np.full(n, _ASSET_SIZES[1]), image_size,
                      np.full(n, _ASSET_SIZES[3])], axis=1)
    size = np.where(status == 200, sizes, 0)
    t = ev["t"][pages][:, None] + np.cumsum(rng.integers(15, 250, (n, 4)), axis=1)
    # the referer of a static file is the page
    page_req = ev["req"][pages]
    uniq, inv = np.unique(page_req, return_inverse=True)
    page_ref = np.array([tab.ref(SITE + reqs[r][2]) for r in uniq.tolist()])[inv.reshape(-1)]
    rep = lambda x: np.repeat(x[:, None], 4, axis=1)[present]
    out = {
        "t": t[present], "ip": rep(ev["ip"][pages]), "ua": rep(ev["ua"][pages]), "ck": rep(ev["ck"][pages]),
        "req": req[present], "status": status[present], "size": size[present], "ref": rep(page_ref),
        "out": np.full(int(present.sum()), ASSET), "assets": np.zeros(int(present.sum()), np.int64),
        "art": np.full(int(present.sum()), -1),
    }
    slot = np.broadcast_to(np.arange(1, 5), (n, 4))
    out["seq"] = (pages[:, None] * 8 + slot)[present]
    return out


_COLS = ("t", "ip", "ua", "ck", "req", "status", "size", "ref", "out", "assets", "art")


def _generate(
    *, visitors: int, days: int, articles: int, topics: int, seed: int, start: dt.date
) -> tuple[_Gen, dict[str, np.ndarray]]:
    """Generate every event; return the generator and the events as sorted numpy columns."""
    g = _Gen(visitors=visitors, days=days, articles=articles, topics=topics, seed=seed, start=start)
    _readers(g)
    _crawlers(g)
    _feed_readers(g)
    _link_checker(g)
    _scanners(g)
    _scrapers(g)
    n_main = len(g.rows) // len(_COLS)
    _junk(g)
    arr = np.frombuffer(g.rows, np.int64).reshape(-1, len(_COLS))
    log.info("%d requests before static files, %d junk lines", n_main, len(arr) - n_main)
    ev = {c: arr[:, i].copy() if c == "t" else arr[:, i].astype(np.int32) for i, c in enumerate(_COLS)}
    g.rows = array.array("q")
    ev["seq"] = np.arange(len(arr), dtype=np.int64) * 8
    ev["junk"] = np.full(len(arr), -1, np.int32)
    del arr
    for i, kind in g.junk.items():
        ev["junk"][i] = _JUNK_KINDS.index(kind)
    extra = _assets(g, ev)
    extra["junk"] = np.full(len(extra["t"]), -1, np.int32)
    ev = {c: np.concatenate([ev[c], extra[c].astype(ev[c].dtype)]) for c in ev}
    keep = (ev["t"] >= g.start_ms) & (ev["t"] < g.end_ms)
    order = np.lexsort((ev["seq"][keep], ev["t"][keep]))
    ev = {c: v[keep][order] for c, v in ev.items()}
    # the first rule: user agents of the crawler list, or none at all
    uas = g.tab.uas.values
    bot_ua = np.append(is_bot(uas) if uas else np.zeros(0, bool), True)  # index -1: no user agent
    bot = bot_ua[ev["ua"]] & (ev["junk"] < 0)
    people = np.isin(ev["out"], (VIEW, ROBOTS, TOO_FAST, ASSET, HANDSHAKE, STATUS))
    if (bot & people).any():
        raise RuntimeError("a browser user agent of the simulation is in the crawler list")
    if ((ev["out"] == BOT) & ~bot_ua[ev["ua"]]).any():
        raise RuntimeError("a crawler or scanner user agent of the simulation is not in the crawler list")
    ev["out"][bot] = BOT
    return g, ev


# ---------------------------------------------------------------------------------------------
# rendering
# ---------------------------------------------------------------------------------------------
def _midnight(day: dt.date) -> int:
    """Seconds since the epoch of 00:00 UTC on ``day``."""
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp())


_COLUMN_OF = {"remote_addr": "ip", "http_user_agent": "ua", "cookie_UT_ID": "ck", "http_referer": "ref"}


@lru_cache(maxsize=1)
def _clock() -> tuple[np.ndarray, np.ndarray]:
    """The times of day, per second: as ``$time_local`` and as ``$time_iso8601`` end them (UTC)."""
    hms = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86400)]
    local = np.array([h + " +0000" for h in hms], dtype=object)
    return local, np.array([h + "+00:00" for h in hms], dtype=object)


_PLAIN = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*\Z")


class _Renderer:
    """Lines of a log format from event columns, identical to :meth:`LogFormat.render`.

    ``LogFormat.render`` escapes every value character by character (about 50 µs a line, 20,000
    lines a second); here each distinct value is escaped once, by ``render`` itself (or kept as it
    is when it is printable ASCII without quote or backslash, which no escape mode changes), and
    lines are assembled from the escaped pieces with the template's literal text.
    """

    _KNOWN = {"remote_addr", "remote_user", "time_local", "time_iso8601", "msec", "request", "request_method",
              "request_uri", "status", "body_bytes_sent", "http_referer", "http_user_agent", "cookie_UT_ID"}

    def __init__(self, fmt: LogFormat, tab: _Tables, start: dt.date, days: int) -> None:
        self.fmt = fmt
        one = LogFormat("$v", fmt.escape)
        plain = _PLAIN.match
        # printable ASCII without quote and backslash is written as it is, whatever the escape mode
        esc = lambda v: v if isinstance(v, str) and plain(v) else one.render({"v": v})
        as_array = lambda values: np.array([esc(v) for v in values] + [esc(None)], dtype=object)
        reqs = tab.reqs.values
        self.tables = {
            "remote_addr": as_array(tab.ips.values),
            "http_user_agent": as_array(tab.uas.values),
            "cookie_UT_ID": as_array(tab.cookies.values),
            "http_referer": as_array(tab.refs.values),
            "request": as_array([r[0] for r in reqs]),
            "request_method": as_array([r[1] for r in reqs]),
            "request_uri": as_array([r[2] for r in reqs]),
        }
        self.raw = {"remote_addr": tab.ips.values, "http_user_agent": tab.uas.values,
                    "cookie_UT_ID": tab.cookies.values, "http_referer": tab.refs.values,
                    "request": [r[0] for r in reqs], "request_method": [r[1] for r in reqs],
                    "request_uri": [r[2] for r in reqs]}
        self.start_s = _midnight(start)
        dates = [start + dt.timedelta(days=d) for d in range(days)]
        self.day_local = np.array([f"{d.day:02d}/{_MONTHS[d.month - 1]}/{d.year}:" for d in dates],
                                  dtype=object)
        self.day_iso = np.array([d.isoformat() + "T" for d in dates], dtype=object)
        self.hms_local, self.hms_iso = _clock()
        # the template: literal text kept, variables as %s (constants folded in)
        pattern, self.order = [], []
        for kind, text in fmt.items:
            if kind == "lit":
                pattern.append(text.replace("%", "%%"))
            elif text in self._KNOWN and text != "remote_user":
                pattern.append("%s")
                self.order.append(text)
            else:
                pattern.append(esc(None).replace("%", "%%"))
        self.pattern = "".join(pattern)

    def _column(self, name: str, ev: dict[str, np.ndarray]) -> list[str]:
        if name in ("remote_addr", "http_user_agent", "cookie_UT_ID", "http_referer"):
            return self.tables[name][ev[_COLUMN_OF[name]]].tolist()
        if name in ("request", "request_method", "request_uri"):
            return self.tables[name][ev["req"]].tolist()
        if name == "status":
            return ev["status"].astype(str).tolist()
        if name == "body_bytes_sent":
            return ev["size"].astype(str).tolist()
        sec = ev["t"] // 1000
        if name == "msec":
            return [f"{s}.{m:03d}" for s, m in zip(sec.tolist(), (ev["t"] % 1000).tolist())]
        day, sod = (sec - self.start_s) // 86400, sec % 86400
        if name == "time_local":
            return (self.day_local[day] + self.hms_local[sod]).tolist()
        return (self.day_iso[day] + self.hms_iso[sod]).tolist()  # time_iso8601

    def lines(self, ev: dict[str, np.ndarray]) -> list[str]:
        """The lines of these events (a slice of the event columns)."""
        if not self.order:
            return [self.pattern] * len(ev["t"])
        cols = {name: self._column(name, ev) for name in dict.fromkeys(self.order)}
        pattern = self.pattern
        return [pattern % row for row in zip(*(cols[name] for name in self.order))]

    def values(self, ev: dict[str, np.ndarray], i: int) -> dict[str, str | bytes | None]:
        """The nginx variables of event ``i``, unescaped: what :meth:`LogFormat.render` takes."""
        get = lambda table, j: None if j < 0 else self.raw[table][j]
        t = int(ev["t"][i])
        when = dt.datetime.fromtimestamp(t // 1000, dt.timezone.utc)
        request = get("request", int(ev["req"][i]))
        return {
            "remote_addr": get("remote_addr", int(ev["ip"][i])),
            "remote_user": None,
            "time_local": f"{when.day:02d}/{_MONTHS[when.month - 1]}/{when.year}:{when:%H:%M:%S} +0000",
            "time_iso8601": when.isoformat(),
            "msec": f"{t // 1000}.{t % 1000:03d}",
            "request": request,
            "request_method": get("request_method", int(ev["req"][i])),
            "request_uri": get("request_uri", int(ev["req"][i])),
            "status": str(int(ev["status"][i])),
            "body_bytes_sent": str(int(ev["size"][i])),
            "http_referer": get("http_referer", int(ev["ref"][i])),
            "http_user_agent": get("http_user_agent", int(ev["ua"][i])),
            "cookie_UT_ID": get("cookie_UT_ID", int(ev["ck"][i])),
        }


def _take(ev: dict[str, np.ndarray], rows) -> dict[str, np.ndarray]:
    return {k: v[rows] for k, v in ev.items()}


def _finish_junk(g: _Gen, ev: dict[str, np.ndarray], renderer: _Renderer) -> dict[int, str]:
    """Render the junk lines, corrupt those meant to be, and classify them as read_logs would.

    Returns the raw text of the rows written as is (truncated and corrupted ones); sets their
    outcome in ``ev["out"]``.
    """
    rnd = g.rnd
    fmt = renderer.fmt
    rx = re.compile(fmt.regex)
    rows = np.flatnonzero(ev["junk"] >= 0)
    texts = renderer.lines(_take(ev, rows))
    raw: dict[int, str] = {}
    for row, text in zip(rows.tolist(), texts):
        kind = _JUNK_KINDS[int(ev["junk"][row])]
        if kind == "truncated":  # cut short, so that it no longer matches the format
            for _ in range(50):
                cut = text[: rnd.randrange(len(text) // 3, len(text) - 1)]
                if not rx.match(cut):
                    break
            else:
                cut = text[: len(text) // 4]
            raw[row], outcome = cut, M_FORMAT
        elif kind == "utf8":  # a few bytes overwritten with bytes that are not UTF-8
            at = rnd.randrange(len(text) // 4, len(text) - 3)
            bad = "".join(chr(0xDC00 + rnd.choice((0xFF, 0xFE, 0xC0, 0xC1, 0xF8, 0x80, 0xBF)))
                          for _ in range(rnd.randint(1, 3)))  # surrogates: written as those bytes
            raw[row], outcome = text[:at] + bad + text[at + len(bad) :], M_ENCODING
        else:
            m = rx.match(text)
            if not m:
                outcome = M_FORMAT
            elif "request" in m.re.groupindex and not REQUEST_LINE.match(m.group("request")):
                outcome = M_REQUEST
            elif int(ev["ua"][row]) < 0:  # it parses: a request without user agent
                outcome = BOT
            else:
                raise RuntimeError(f"junk line {text!r} parses and has a user agent")
        ev["out"][row] = outcome
    return raw


# ---------------------------------------------------------------------------------------------
# the public function
# ---------------------------------------------------------------------------------------------
def _check_int(name: str, value, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer; got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ValueError(f"{name} must be {bound}; got {value}")
    return int(value)


def _file_names(days: int, rotate: bool) -> list[str]:
    """Names of the daily files, oldest first, as logrotate with delaycompress leaves them."""
    if not rotate:
        return ["access.log"]
    names = []
    for d in range(days):
        age = days - 1 - d
        names.append("access.log" if age == 0 else "access.log.1" if age == 1 else f"access.log.{age}.gz")
    return names


def _write_feed(path: str, g: _Gen) -> None:
    rss = ET.Element("rss", version="2.0")
    channel = ET.SubElement(rss, "channel")
    when = lambda ms: format_datetime(dt.datetime.fromtimestamp(ms // 1000, dt.timezone.utc))
    for tag, text in (("title", "Example Engineering Blog"), ("link", SITE + "/"),
                      ("description", "Notes on servers, code and data"), ("language", "en"),
                      ("lastBuildDate", when(int(g.art_pub.max()))), ("generator", "recsys.simulate")):
        ET.SubElement(channel, tag).text = text
    for a in range(len(g.art_id) - 1, -1, -1):
        item = ET.SubElement(channel, "item")
        ET.SubElement(item, "title").text = g.art_title[a]
        ET.SubElement(item, "link").text = SITE + g.art_uri[a]
        ET.SubElement(item, "guid", isPermaLink="true").text = SITE + g.art_uri[a]
        ET.SubElement(item, "pubDate").text = when(int(g.art_pub[a]))
        ET.SubElement(item, "category").text = TOPICS[g.art_topic[a]][1]
    ET.indent(rss)
    ET.ElementTree(rss).write(path, encoding="utf-8", xml_declaration=True)


def simulate(
    out_dir: str | os.PathLike,
    *,
    visitors: int = 2000,
    days: int = 14,
    articles: int = 120,
    topics: int = 8,
    seed: int = 0,
    start: str | dt.date = "2024-03-04",
    log_format: str = "combined_ut",
    rotate: bool = True,
    labels: bool = False,
) -> Simulation:
    """Write the access logs of a simulated blog into ``out_dir``, and return the truth.

    Parameters
    ----------
    out_dir : path
        Created if needed. Files of an earlier simulation with the same names are overwritten;
        other access logs in it are refused (they would be read with the new ones).
    visitors : int, default 2000
        Human readers over the period (about 3 % of them refuse cookies). The log has about 20
        lines per reader and week, plus a few hundred robot lines a day.
    days : int, default 14
        Length of the period, in days from ``start`` (00:00 UTC).
    articles : int, default 120
        Articles of the blog; a few of them (about two a week) are published during the period.
    topics : int, default 8
        Topics of the articles, at most ``len(TOPICS)`` (12) and at most ``articles``.
    seed : int, default 0
        The seed of all randomness: the same arguments give byte-identical files.
    start : str or datetime.date, default "2024-03-04"
        The first day, ``YYYY-MM-DD``.
    log_format : str, default "combined_ut"
        A preset of :data:`recsys.PRESETS`: ``combined_ut``, ``combined``, ``tsv`` or ``json``.
    rotate : bool, default True
        One file per day (``access.log``, ``access.log.1``, ``access.log.2.gz``, ...) or a single
        ``access.log``.
    labels : bool, default False
        Also write ``labels.csv.gz`` into ``out_dir`` (``file,line,outcome`` per log line; a name
        :func:`recsys.log_files` skips).

    Returns
    -------
    Simulation
        The files, line count, outcomes per line (:attr:`Simulation.reasons`), the human page
        views (:attr:`Simulation.truth`), the articles and the clients.

    Raises
    ------
    ValueError
        For an argument out of range, an unknown preset, or an ``out_dir`` that is a file or
        holds other access logs.

    Examples
    --------
    >>> import tempfile, recsys
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     sim = simulate(tmp, visitors=30, days=3, articles=20, seed=1)
    ...     acc = recsys.read_page_views(tmp).attrs["accounting"]
    >>> [os.path.basename(f) for f in sim.files]
    ['access.log.2.gz', 'access.log.1', 'access.log']
    >>> acc.views == sim.reasons["view"] == len(sim.truth)
    True
    >>> acc.dropped == sim.expected_accounting()["dropped"]
    True
    """
    visitors = _check_int("visitors", visitors, 1)
    days = _check_int("days", days, 1, 3660)
    articles = _check_int("articles", articles, 2)
    topics = _check_int("topics", topics, 1, min(len(TOPICS), articles))
    seed = _check_int("seed", seed, 0)
    if isinstance(start, dt.datetime):
        start = start.date()
    if not isinstance(start, dt.date):
        try:
            start = dt.date.fromisoformat(str(start))
        except ValueError:
            raise ValueError(f"start must be a date as YYYY-MM-DD; got {start!r}") from None
    if log_format not in PRESETS:
        raise ValueError(f"log_format must be one of the presets {', '.join(PRESETS)}; got {log_format!r}")
    fmt = LogFormat.preset(log_format)
    out_dir = os.fspath(out_dir)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ValueError(f"{out_dir} is a file; give a directory to write the logs into")
    names = _file_names(days, rotate)
    _check_out_dir(out_dir, names)
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise ValueError(f"cannot create {out_dir}: {e.strerror}") from None

    g, ev = _generate(visitors=visitors, days=days, articles=articles, topics=topics, seed=seed, start=start)
    renderer = _Renderer(fmt, g.tab, start, days)
    raw = _finish_junk(g, ev, renderer)
    has_cookie = "cookie_UT_ID" in fmt.variables
    designed = ev["out"].copy()
    if not has_cookie:  # without the cookie in the log, no line has a visitor
        ev["out"] = np.where(np.isin(ev["out"], (VIEW, ROBOTS, TOO_FAST)), NO_VISITOR, ev["out"])
    _check_behaviour(ev, designed, g)

    # the files
    day_of = (ev["t"] - g.start_ms) // DAY_MS if rotate else np.zeros(len(ev["t"]), np.int64)
    bounds = np.searchsorted(day_of, np.arange(len(names) + 1))
    files, label_parts = [], []
    for d, name in enumerate(names):
        path = os.path.join(out_dir, name)
        lo, hi = int(bounds[d]), int(bounds[d + 1])
        _write_log(path, ev, lo, hi, renderer, raw)
        files.append(path)
        if labels:
            label_parts.append((name, ev["out"][lo:hi]))
        log.info("%s: %d lines", path, hi - lo)
    feed = os.path.join(out_dir, FEED_NAME)
    _write_feed(feed, g)
    labels_path = None
    if labels:
        labels_path = os.path.join(out_dir, LABELS_NAME)
        _write_labels(labels_path, label_parts)

    counts = np.bincount(ev["out"], minlength=len(OUTCOMES))
    reasons = {name: int(counts[i]) for i, name in enumerate(OUTCOMES) if counts[i]}
    views = np.flatnonzero(designed == VIEW)
    ms = ev["t"][views] if "msec" in fmt.variables else ev["t"][views] // 1000 * 1000
    cookies = np.array(g.tab.cookies.values, dtype=object)
    truth = pd.DataFrame({
        "ts": pd.to_datetime(ms, unit="ms", utc=True).as_unit("ms"),
        "visitor": cookies[ev["ck"][views]],
        "url": np.array(g.art_uri, dtype=object)[ev["art"][views]],
    })
    arts = pd.DataFrame({
        "url": g.art_uri, "title": g.art_title, "topic": [TOPICS[k][0] for k in g.art_topic],
        "published": pd.to_datetime(g.art_pub, unit="ms", utc=True).as_unit("ms"), "id": g.art_id,
        "series": pd.array([x if x >= 0 else None for x in g.art_series.tolist()], dtype="Int64"),
        "part": g.art_part, "weight": g.art_weight,
    })
    agents = pd.DataFrame(g.agents, columns=["kind", "name", "visitor", "ips", "user_agent"])
    sim = Simulation(out_dir=out_dir, files=files, lines=len(ev["t"]), truth=truth, articles=arts,
                     reasons=reasons, agents=agents, log_format=log_format, feed=feed, labels=labels_path)
    log.info("%s: %d files, %d lines, %d human article views", out_dir, len(files), sim.lines, len(truth))
    return sim


def _check_out_dir(out_dir: str, names: list[str]) -> None:
    if not os.path.isdir(out_dir):
        return
    from .logs import log_files

    ours = set(names)
    others = [os.path.basename(p) for p in log_files(out_dir) if os.path.basename(p) not in ours]
    if others:
        raise ValueError(
            f"{out_dir} already holds access logs this simulation would not overwrite "
            f"({', '.join(others[:3])}{', ...' if len(others) > 3 else ''}); they would be read with "
            "the new ones: give an empty directory"
        )


def _bursty(visitor: np.ndarray, ts: np.ndarray, k: int = 20) -> set[int]:
    """Visitors with more than ``k`` candidate views within 60 s (the ``too_fast`` rule)."""
    o = np.lexsort((ts, visitor))
    v, t = visitor[o], ts[o]
    burst = (v[k:] == v[:-k]) & (t[k:] - t[:-k] < 60_000)
    return set(v[k:][burst].tolist())


def _check_behaviour(ev: dict[str, np.ndarray], designed: np.ndarray, g: _Gen) -> None:
    """Make sure the behaviour rules give each line its designed outcome (else: a bug here).

    Checked at millisecond and at second resolution, whatever the log format.
    """
    robots_req = np.array([r[2] == "/robots.txt" for r in g.tab.reqs.values] + [False])
    robots = robots_req[ev["req"]]
    width = len(g.tab.uas) + 1
    pair = ev["ip"] * width + ev["ua"] + 1
    caught = np.isin(pair, pair[robots]) | np.isin(ev["ck"], ev["ck"][robots & (ev["ck"] >= 0)])
    cand = np.isin(designed, (VIEW, ROBOTS, TOO_FAST))
    if (cand & (caught != (designed == ROBOTS))).any():
        raise RuntimeError("the robots_txt rule does not catch exactly the lines designed for it")
    for code, want in ((VIEW, False), (TOO_FAST, True)):
        rows = np.flatnonzero(designed == code)
        vis = ev["ck"][rows]
        for ts in (ev["t"][rows], ev["t"][rows] // 1000 * 1000):
            fast = _bursty(vis, ts)
            if want and set(vis.tolist()) - fast:
                raise RuntimeError("a fast scraper does not read 21 articles within a minute")
            if not want and fast:
                raise RuntimeError("a reader reads more than 20 articles within a minute")


def _write_log(
    path: str, ev: dict[str, np.ndarray], lo: int, hi: int, renderer: _Renderer, raw: dict[int, str]
) -> None:
    """Write events ``lo:hi`` into ``path`` (gzip when it ends with ``.gz``), in blocks."""
    step = 100_000
    gz = path.endswith(".gz")
    with open(path, "wb") as f:
        out = _gzip(f) if gz else f
        try:
            for a in range(lo, hi, step):
                b = min(hi, a + step)
                lines = renderer.lines(_take(ev, slice(a, b)))
                for row in [r for r in raw if a <= r < b]:
                    lines[row - a] = raw[row]
                out.write(("\n".join(lines) + "\n").encode("utf-8", "surrogateescape"))
        finally:
            if gz:
                out.close()


def _gzip(f) -> gzip.GzipFile:
    """gzip -6 as logrotate runs it, with no name or time in the header: reproducible bytes."""
    return gzip.GzipFile(fileobj=f, mode="wb", compresslevel=6, mtime=0, filename="")


def _write_labels(path: str, parts: list[tuple[str, np.ndarray]]) -> None:
    names = np.array(OUTCOMES, dtype=object)
    with open(path, "wb") as f, _gzip(f) as out:
        out.write(b"file,line,outcome\n")
        for name, outcomes in parts:
            if len(outcomes):
                text = "\n".join(f"{name},{i},{o}" for i, o in enumerate(names[outcomes].tolist(), 1))
                out.write((text + "\n").encode())


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage dump
        self.exit(2, f"{self.prog}: error: {message}\n")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _natural(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    """The command line: ``python -m recsys.simulate OUT_DIR [options]``; returns the exit status."""
    parser = _Parser(
        prog="python -m recsys.simulate",
        description="Write seeded synthetic openresty access logs of a blog (one file per day, rotated\n"
                    "as logrotate leaves them), its RSS feed, and optionally the outcome of every line.",
        epilog="example:\n  python -m recsys.simulate out/blog --visitors 500 --days 28 --seed 7 --labels",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("out_dir", metavar="OUT_DIR", help="directory to write into (created if needed)")
    parser.add_argument("--visitors", type=_positive, default=2000, metavar="N",
                        help="human readers (default 2000)")
    parser.add_argument("--days", type=_positive, default=14, metavar="D", help="days of logs (default 14)")
    parser.add_argument("--articles", type=_positive, default=120, metavar="A",
                        help="articles of the blog (default 120)")
    parser.add_argument("--topics", type=_positive, default=8, metavar="T",
                        help=f"topics, at most {len(TOPICS)} (default 8)")
    parser.add_argument("--seed", type=_natural, default=0, metavar="S", help="random seed (default 0)")
    parser.add_argument("--start", type=_date, default=dt.date(2024, 3, 4), metavar="DATE",
                        help="first day, YYYY-MM-DD (default 2024-03-04)")
    parser.add_argument("--format", dest="log_format", choices=list(PRESETS), default="combined_ut",
                        metavar="PRESET",
                        help=f"log format preset: {', '.join(PRESETS)} (default combined_ut)")
    parser.add_argument("--no-rotate", dest="rotate", action="store_false", help="write a single access.log")
    parser.add_argument("--labels", action="store_true",
                        help="also write labels.csv.gz: file,line,outcome per line")
    args = parser.parse_args(argv)
    try:
        sim = simulate(
            args.out_dir, visitors=args.visitors, days=args.days, articles=args.articles, topics=args.topics,
            seed=args.seed, start=args.start, log_format=args.log_format, rotate=args.rotate,
            labels=args.labels,
        )
    except ValueError as e:
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"{parser.prog}: error: {e.filename or args.out_dir}: {e.strerror}", file=sys.stderr)
        return 1
    print(f"{sim.out_dir}: {len(sim.files)} files, {sim.lines:,} lines, "
          f"{len(sim.truth):,} human article views")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

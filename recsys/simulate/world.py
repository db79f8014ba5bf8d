"""The blog: its site, its topics, and the articles written on them with their popularity.

Articles ``/archives/<id>`` (ids increasing with publication, with gaps) belong to one topic each,
have Zipf-like popularity, and some form series (part 1, 2, 3). Titles are made from the word lists
of their topic. Most articles were published before the period; a few during it, and those get a
burst of traffic. :class:`Blog` draws them and picks the article a reader goes to next.
"""

from __future__ import annotations

import array
import datetime as dt
import math
import random
from bisect import bisect_right

import numpy as np
import pandas as pd

SITE = "https://blog.example.org"
DAY_MS = 86_400_000
HOUR_MS = 3_600_000


def midnight(day: dt.date) -> int:
    """Seconds since the epoch of 00:00 UTC on ``day``."""
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp())


# sizes of responses in bytes, and the static files of every page with their sizes
_SIZE_302, _SIZE_400, _SIZE_404, _SIZE_405 = 142, 157, 3184, 157
_CSS, _JS = "/static/css/main.css", "/static/js/site.js"
_LOGO, _FAVICON = "/static/img/logo.svg", "/favicon.ico"
_ASSET_SIZES = (14213, 38904, 4518, 1150)

# topics and titles ---------------------------------------------------------------------------
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


class Blog:
    """The articles of the blog, in publication order (``art_*``, one entry per article), and how
    popular each is on each day of the period (:meth:`pick`).

    Draws from ``rnd`` and ``rng``, the generators of the whole simulation: the articles first,
    then (in :meth:`pick`) the articles readers go to.
    """

    def __init__(
        self, rnd: random.Random, rng: np.random.Generator, *, articles: int, topics: int, days: int,
        start_ms: int,
    ) -> None:
        self.rnd, self.rng = rnd, rng
        self.n_topics, self.days = topics, days
        self.start_ms = start_ms
        self.end_ms = start_ms + days * DAY_MS
        self._articles(articles)
        self._picker()

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

    def frame(self) -> pd.DataFrame:
        """The articles as :attr:`recsys.simulate.Simulation.articles` lists them."""
        return pd.DataFrame({
            "url": self.art_uri, "title": self.art_title, "topic": [TOPICS[k][0] for k in self.art_topic],
            "published": pd.to_datetime(self.art_pub, unit="ms", utc=True).as_unit("ms"), "id": self.art_id,
            "series": pd.array([x if x >= 0 else None for x in self.art_series.tolist()], dtype="Int64"),
            "part": self.art_part, "weight": self.art_weight,
        })


def _title(rnd: random.Random, templates, tools, subjects) -> str:
    """A title from a template; tool names keep their spelling (``pytest in practice: ...``)."""
    tool, tool2 = rnd.sample(tools, 2)
    subject = rnd.choice(subjects)
    return rnd.choice(templates).format(
        verb=rnd.choice(_VERBS), subject=subject, Subject=subject[:1].upper() + subject[1:], tool=tool,
        Tool=tool, tool2=tool2, n=rnd.choice((3, 5, 7, 10, 12)),
    )

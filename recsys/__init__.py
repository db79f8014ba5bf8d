"""recsys: "readers of this post also read" recommendations from nginx/openresty access logs.

The pipeline, one module per stage:

- :mod:`recsys.formats`: nginx ``log_format`` strings compiled into parsers
- :mod:`recsys.logs`: reading log files into a table of requests
- :mod:`recsys.views`: from requests to article page views (bots, assets, handshakes dropped)
- :mod:`recsys.accounting`: where every log line went
- :mod:`recsys.sessions`: page views grouped into baskets (sessions or whole visitors)
- :mod:`recsys.itemsets`: frequent itemsets, Eclat and Apriori
- :mod:`recsys.rules`: association rules, measures, significance and pruning
- :mod:`recsys.recommend`: rules turned into ranked per-article lists
- :mod:`recsys.evaluation`: offline evaluation on held-out sessions, baselines, tuning
- :mod:`recsys.export`: ``related.json``, the canonical file the blog imports
- :mod:`recsys.titles`: article titles from the blog's feed, a news sitemap or a CSV
- :mod:`recsys.blog`: Hugo, Hexo, WordPress, the widget and CSV, derived from ``related.json``
- :mod:`recsys.mine`: the command line, ``python -m recsys.mine LOGS`` (the nightly job)
- :mod:`recsys.spark`: the same pipeline on Apache Spark (``--engine spark``)

Around them: :mod:`recsys.cache` (parsed page views kept between runs), :mod:`recsys.simulate`
(seeded synthetic openresty logs), :mod:`recsys.atomic` (files written whole or not at all).
"""

from .accounting import Accounting
from .blog import export_blog
from .errors import LogFormatError, LogParseError, RecsysError
from .evaluation import evaluate, tune
from .export import related_json, write_related
from .formats import PRESETS, LogFormat
from .detection import detect_format
from .files import log_files
from .logs import iter_logs, read_logs
from .itemsets import apriori, eclat
from .recommend import audience, popularity, recommend
from .rules import MEASURES, association_rules
from .sessions import baskets, sessionize
from .titles import load_titles
from .urls import ARTICLE_PATTERNS, normalize_urls
from .views import is_bot, page_views, read_page_views

__version__ = "0.1.0"

__all__ = [
    "Accounting",
    "MEASURES",
    "ARTICLE_PATTERNS",
    "LogFormat",
    "LogFormatError",
    "LogParseError",
    "PRESETS",
    "RecsysError",
    "apriori",
    "association_rules",
    "audience",
    "baskets",
    "eclat",
    "evaluate",
    "export_blog",
    "detect_format",
    "is_bot",
    "iter_logs",
    "load_titles",
    "log_files",
    "normalize_urls",
    "page_views",
    "popularity",
    "read_logs",
    "read_page_views",
    "recommend",
    "related_json",
    "sessionize",
    "tune",
    "write_related",
]

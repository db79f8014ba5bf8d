"""recsys: "readers of this post also read" recommendations from nginx/openresty access logs.

The nightly job in one call, and its stages one by one::

    run, Run, Settings          the whole job (recsys.pipeline, recsys.settings)
    read_logs, iter_logs        log lines -> requests, any nginx log_format (recsys.logs)
    page_views, read_page_views requests -> article page views of readers (recsys.views)
    cached_page_views           the same, reading only what is new since the last run (recsys.cache)
    sessionize                  page views -> baskets (recsys.sessions)
    eclat, apriori              frequent itemsets (recsys.itemsets)
    association_rules           rules and their measures (recsys.rules)
    audience, popularity        who is behind a rule; the most read articles (recsys.recommend)
    sequence_rules              trusted sequential pair rules, what ranks the lists (recsys.sequences)
    recommend, recommend_next   lists from the mined rules, per article or per reader (recsys.recommend)
    train                       the chain sessions -> itemsets -> rules -> sequences (recsys.model)
    evaluate, tune              offline evaluation against baselines (recsys.evaluation)
    related_json, export_blog   related.json and the blog's files (recsys.export, recsys.blog)
    load_titles                 article titles from a feed, sitemap or CSV (recsys.titles)
    simulate                    seeded synthetic openresty logs (recsys.simulate)
    Accounting, LogFormat       where every line went; an nginx log_format
    RecsysError, ...            the errors bad input raises (recsys.errors)

The command line is ``python -m recsys.mine``; ``recsys.spark`` runs the same job on Apache Spark.
"""

from .accounting import Accounting
from .blog import export_blog
from .cache import cached_page_views
from .errors import LogFormatError, LogParseError, RecsysError
from .evaluation import evaluate, tune
from .export import related_json, write_related
from .formats import LogFormat
from .itemsets import apriori, eclat
from .logs import iter_logs, read_logs
from .model import Model, train
from .pipeline import Run, run
from .recommend import audience, popularity, recommend, recommend_next
from .rules import association_rules
from .sequences import sequence_rules
from .sessions import sessionize
from .settings import Settings, SettingsError
from .simulate import simulate
from .titles import load_titles
from .views import page_views, read_page_views

__version__ = "0.2.0"

__all__ = [
    "run", "Run", "Settings", "SettingsError",
    "read_logs", "iter_logs", "page_views", "read_page_views", "cached_page_views",
    "sessionize", "eclat", "apriori", "association_rules", "audience", "popularity",
    "recommend", "recommend_next", "sequence_rules", "train", "Model", "evaluate", "tune",
    "related_json", "write_related", "export_blog", "load_titles", "simulate",
    "Accounting", "LogFormat", "RecsysError", "LogFormatError", "LogParseError",
]

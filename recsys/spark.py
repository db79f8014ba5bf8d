"""The same pipeline on Apache Spark, for logs one machine cannot hold (``--engine spark``).

Spark reads the log files (plain or compressed, local or in object storage; :mod:`recsys.sparklogs`),
applies the page-view line rules of :func:`recsys.views.line_rules`, rendered as Spark columns (the
crawler list and URL normalization run as Arrow UDFs on distinct values only), counts every line
into the same :class:`recsys.Accounting`, cuts sessions with window functions and mines itemsets
with ``pyspark.ml.fpm.FPGrowth``. The itemsets come back to the driver, where the rules, their
measures and the lists are made by the local engine's functions; Spark counts who is behind each
rule (:func:`recsys.recommend.holders` in each partition). :func:`run_spark` returns the same
:class:`recsys.Run` as :func:`recsys.run`.

>>> # recsys.run(["logs/"], settings, engine="spark") calls run_spark
"""

from __future__ import annotations

import logging
import os
import sys
import time
import warnings
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from .accounting import Accounting
from .detection import fixed_formats
from .errors import RecsysError
from .itemsets import min_count
from .recommend import holders
from .rules import association_rules
from .sessions import _IPV4, network_of
from .sparklogs import java_regex, log_files_and_formats, requests_of, unescape_column
from .urls import decide_form, is_article_url, normalize_urls, with_form
from .views import DROP_REASONS, ROBOTS_TXT, line_rules, view_rules, visitor_hash

__all__ = ["spark_session", "run_spark", "write_dataset", "write_datasets", "java_regex", "unescape_column"]

log = logging.getLogger(__name__)
warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)


# Local mode: no web UI, so the status store it would show keeps little (by default it keeps the plans,
# jobs and stages of the last thousand queries: 45-57 MB of the 1 GB driver a run on the sample, which a
# notebook that runs the job a dozen times fills up until a task cannot get memory to aggregate).
_LOCAL = {"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "8",
          "spark.sql.ui.retainedExecutions": "20", "spark.ui.retainedJobs": "50",
          "spark.ui.retainedStages": "50", "spark.ui.retainedTasks": "1000"}


def spark_session(master: str | None = None, conf: dict[str, str] | None = None, app_name: str = "recsys"):
    """A Spark session for recsys: UTC, Arrow on, workers running this Python.

    ``master`` defaults to spark-submit's ``--master`` when run by spark-submit, else
    ``local[*]``. Settings in ``conf`` win over recsys's defaults; in local mode these turn off
    the web UI and keep little of what it would show. A run's views and sessions stay cached in
    Spark while they are used: ``spark.catalog.clearCache()`` frees them.

    Raises
    ------
    RecsysError
        When PySpark or Java is missing, with what to install.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise RecsysError("the Spark engine needs PySpark: pip install 'recsys[spark]' (and Java 17 or newer)") from None
    if master is None and "PYSPARK_GATEWAY_PORT" not in os.environ:  # not under spark-submit
        master = "local[*]"
    builder = SparkSession.builder.appName(app_name)
    if master is not None:
        builder = builder.master(master)
    local = master is not None and master.startswith("local")
    if local:  # a cluster has its own Python, set by the one who runs it
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    settings = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.ui.showConsoleProgress": "false",
        **(_LOCAL if local else {}),
        **(conf or {}),
    }
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as e:  # py4j reports a missing JVM as a RuntimeError or its own errors
        raise RecsysError(f"cannot start Spark ({e}); it needs Java 17 or newer (JAVA_HOME or java on PATH)") from None
    spark.sparkContext.setLogLevel("ERROR")
    return spark

def _network(column: str):
    """``recsys.sessions.network_of`` (the /24 or /48 of an address) as a Spark column: IPv4
    addresses (nearly all) by Spark's own regular expression, the others by a pandas UDF."""
    from pyspark.sql import functions as F
    from pyspark.sql.functions import pandas_udf

    udf = pandas_udf(lambda s: network_of(s).astype(object), "string")
    v4 = F.coalesce(F.col(column).rlike(_IPV4), F.lit(False))
    return F.when(v4, F.regexp_replace(column, _IPV4, "$1.0/24")).otherwise(udf(F.when(~v4, F.col(column))))

class _Columns:
    """The line rules' tests as Spark column expressions (:func:`recsys.views.line_rules`).

    Python tests (the crawler list, the URL normalization and article test) run as Arrow UDFs on
    the distinct values only, joined back: ``df`` grows a column per such test.
    """

    def __init__(self, df, rules) -> None:
        from pyspark.sql import functions as F

        self.df, self.rules = df, rules
        self.alive = F.lit(True)  # the lines no earlier rule dropped: only their values are looked at

    def missing(self, column: str):
        from pyspark.sql import functions as F

        return F.col(column).isNull()

    def isin(self, column: str, values):
        from pyspark.sql import functions as F

        return F.coalesce(F.col(column).isin(list(values)), F.lit(False))

    def matches(self, column: str, regex: str):
        from pyspark.sql import functions as F

        return F.coalesce(F.col(column).rlike(regex), F.lit(False))

    def per_value(self, column: str, fn):
        from pyspark.sql import functions as F
        from pyspark.sql.functions import pandas_udf

        name = f"_{fn.__name__}_{column}"
        udf = pandas_udf(lambda s: pd.Series(np.asarray(fn(s), bool)), "boolean")
        values = self.df.filter(self.alive).select(F.col(column).alias("d_value")).distinct() \
            .withColumn(name, udf("d_value"))
        self.df = self.df.join(F.broadcast(values), F.col(column).eqNullSafe(F.col("d_value")), "left").drop("d_value")
        return F.coalesce(F.col(name), F.lit(False))

    def article(self):
        """The URL of each line (normalized, the query kept as asked) and whether it is an article."""
        from pyspark.sql import functions as F
        from pyspark.sql.functions import pandas_udf

        keep, slash, article = tuple(self.rules.keep_query), self.rules.trailing_slash, self.rules.article

        @pandas_udf("url string, article boolean")
        def norm(path: pd.Series, query: pd.Series) -> pd.DataFrame:
            urls = normalize_urls([p if isinstance(p, str) else None for p in path],
                                  [q if isinstance(q, str) else None for q in query],
                                  trailing_slash=slash or "keep", keep_query=keep)  # None: decided at the end
            return pd.DataFrame({"url": urls, "article": [
                u is not None and is_article_url(u, article, trailing_slash=slash) for u in urls]})

        # (the small sides get their own column names: joins of frames from one source are ambiguous)
        # the places of the lines still alive (GET 200 non-asset requests of people) are few: broadcast
        places = self.df.filter(self.alive).select(F.col("path").alias("p_path"), F.col("query").alias("p_query")) \
            .distinct().withColumn("n", norm("p_path", "p_query")).select("p_path", "p_query", "n.*")
        self.df = self.df.join(F.broadcast(places), F.col("path").eqNullSafe(F.col("p_path"))
                               & F.col("query").eqNullSafe(F.col("p_query")), "left").drop("p_path", "p_query")
        return F.coalesce(F.col("article"), F.lit(False))


class _Laps:
    """Seconds between the points where the driver waits for Spark (report.json's ``spark.stages``)."""

    def __init__(self) -> None:
        self.last = time.perf_counter()
        self.seconds: dict[str, float] = {}
        self.held: dict[str, int] = {}  # what the driver collected, in rows

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = round(self.seconds.get(name, 0.0) + now - self.last, 3)
        self.last = now
        log.info("spark: %s %.1f s", name, self.seconds[name])


def _page_views(requests, options: dict, acc: Accounting, laps=None):
    """The line rules, then the behaviour rules: the views, and the counts of each reason."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F
    from pyspark.sql.functions import pandas_udf

    rules = view_rules(options)
    df = requests.filter(F.col("malformed").isNull())
    if rules.visitor == "ip+ua":
        @pandas_udf("string")
        def ipua(ip: pd.Series, ua: pd.Series) -> pd.Series:
            return pd.Series([visitor_hash(i, u if isinstance(u, str) else None) if isinstance(i, str) else None
                              for i, u in zip(ip, ua)])

        df = df.withColumn("visitor", ipua("ip", "user_agent"))
    t = _Columns(df, rules)
    reason = None
    for name, make in line_rules(rules, t):
        test = make()  # it may add its columns to t.df, computed on the lines still alive
        reason = (F if reason is None else reason).when(test, name)
        t.alive = t.alive & ~test
    df = t.df
    df = df.withColumn("reason", reason).persist()
    # the behaviour rules need every line: who fetched robots.txt
    robots = df.filter(F.col("path") == ROBOTS_TXT)
    pairs = robots.select(F.col("ip").alias("r_ip"), F.col("user_agent").alias("r_ua")).distinct() \
        .withColumn("robot_pair", F.lit(True))
    robot_visitors = robots.filter(F.col("visitor").isNotNull()).select(F.col("visitor").alias("r_visitor")).distinct() \
        .withColumn("robot_visitor", F.lit(True))
    cand = df.filter(F.col("reason").isNull())
    # who fetched robots.txt: few (crawlers and scrapers), broadcast; the candidates are not shuffled
    by_pair = cand.join(F.broadcast(pairs), F.col("ip").eqNullSafe(F.col("r_ip"))
                        & F.col("user_agent").eqNullSafe(F.col("r_ua")), "left").drop("r_ip", "r_ua")
    by_pair = by_pair.join(F.broadcast(robot_visitors), F.col("visitor") == F.col("r_visitor"), "left").drop("r_visitor")
    robot = F.coalesce(F.col("robot_pair"), F.lit(False)) | F.coalesce(F.col("robot_visitor"), F.lit(False))
    flagged = by_pair.withColumn("robots", robot)
    k = rules.max_per_minute
    ms = F.col("ts").cast("double") * 1000
    if k:  # two windows over one partitioning by visitor (which the sessions then reuse): one shuffle
        w = Window.partitionBy("visitor").orderBy("ts")
        flagged = flagged.withColumn("gap_k", F.lead(ms, k).over(w) - ms).withColumn(
            "too_fast", F.max(F.when(F.col("gap_k") < 60000, 1).otherwise(0)).over(Window.partitionBy("visitor"))) \
            .drop("gap_k")
    else:
        flagged = flagged.withColumn("too_fast", F.lit(0))
    # kept: it gives both the counts and the views
    flagged = flagged.withColumn(
        "reason", F.when(F.col("robots"), "robots_txt").when(F.col("too_fast") == 1, "too_fast")).persist()
    # the accounting, from counts
    line_reasons = {r["reason"]: r["count"] for r in df.groupBy("reason").count().collect()}
    late = {r["reason"]: r["count"] for r in flagged.groupBy("reason").count().collect()}
    df.unpersist()  # flagged holds what comes next
    if laps:
        laps("page_view_rules")
    for name in DROP_REASONS:
        acc.drop(name, int(line_reasons.get(name, 0)) + int(late.get(name, 0)))
    acc.views += int(late.get(None, 0))
    views = flagged.filter(F.col("reason").isNull()).select("ts", "visitor", "url", "ip", "user_agent", "referer")
    return _in_canonical_form(views, rules, laps)


def _in_canonical_form(views, rules, laps=None):
    """The views with every URL in the blog's trailing-slash form, decided as the local engine does
    (:func:`recsys.urls.canonical_form`, on the distinct URLs and their counts), and the decision."""
    from pyspark.sql import functions as F

    if rules.trailing_slash is not None:  # given, or the preset's: the URLs are in it already
        return views, decide_form((), None, rules.trailing_slash, rules.slash_from, rules.article)
    counts = views.groupBy("url").count().toPandas()  # one row per article
    if laps:
        laps("url_form")
        laps.held["urls"] = len(counts)
    decision = decide_form(counts["url"], counts["count"], None, rules.slash_from, rules.article)
    pairs = pd.DataFrame({"c_from": counts["url"], "c_to": [with_form(u, decision["trailing_slash"])
                                                            for u in counts["url"]]})
    pairs = pairs[pairs["c_from"] != pairs["c_to"]]
    if len(pairs):
        pairs = views.sparkSession.createDataFrame(pairs, "c_from string, c_to string")
        views = views.join(F.broadcast(pairs), F.col("url") == F.col("c_from"), "left") \
            .withColumn("url", F.coalesce(F.col("c_to"), F.col("url"))).drop("c_from", "c_to")
    return views, decision


def _sessions(views, gap: str, basket: str, max_items: int | None):
    """The baskets (persisted), how many, and the baskets and views the ``max_items`` cap dropped."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    gap_ms = pd.Timedelta(gap).value // 1_000_000
    w = Window.partitionBy("visitor").orderBy("ts", "url")
    ms = F.col("ts").cast("double") * 1000
    new = F.lag(ms).over(w).isNull()
    if basket == "session":
        new = new | ((ms - F.lag(ms).over(w)) > gap_ms)
    running = Window.partitionBy("visitor").orderBy("ts", "url").rowsBetween(Window.unboundedPreceding, 0)
    marked = views.withColumn("new", new.cast("int")).withColumn("sid", F.sum("new").over(running))
    grouped = marked.groupBy("visitor", "sid").agg(
        F.sort_array(F.collect_list(F.struct("ts", "url", "ip"))).alias("v"))
    sessions = grouped.select(
        "visitor",
        F.col("v")[0]["ts"].alias("start"),
        F.element_at("v", -1)["ts"].alias("end"),
        F.array_distinct(F.col("v.url")).alias("items"),
        F.size("v").alias("n_views"),
        F.col("v.url").alias("views"),
        F.col("v")[0]["ip"].alias("first_ip"),
    )
    sessions = sessions.withColumn("network", _network("first_ip")).drop("first_ip")
    long = F.size("items") > max_items if max_items is not None else F.lit(False)
    sessions = sessions.withColumn("long", long).persist()
    counts = {r["long"]: (int(r["n"]), int(r["v"])) for r in
              sessions.groupBy("long").agg(F.count("*").alias("n"), F.sum("n_views").alias("v")).collect()}
    n, _ = counts.get(False, (0, 0))
    dropped, dropped_views = counts.get(True, (0, 0))
    kept = _numbered(sessions.filter(~F.col("long")).drop("long"), ["start", "visitor"], "session")
    sessions.unpersist()
    return kept, n, dropped, dropped_views


def _numbered(df, order: list[str], name: str):
    """``df`` sorted by ``order`` (a total order) with ``name`` = 0, 1, 2, ... in that order.

    A distributed sort (range partitions), the rows counted per partition, and each row's number
    its partition's offset plus its place in the partition: no single task sees every row, as a
    window over the whole frame would.
    """
    from pyspark.sql import functions as F

    ordered = df.orderBy(*order).withColumn("_id", F.monotonically_increasing_id()).persist()
    part = F.shiftright(F.col("_id"), 33)  # monotonically_increasing_id: partition << 33 | row in partition
    sizes = {int(r["p"]): int(r["n"]) for r in ordered.groupBy(part.alias("p")).agg(F.count("*").alias("n")).collect()}
    offsets, total = [], 0
    for p in range(max(sizes, default=-1) + 1):
        offsets.append(total)
        total += sizes.get(p, 0)
    offset = F.element_at(F.array(*[F.lit(o) for o in offsets]), (part + 1).cast("int")) if offsets else F.lit(0)
    numbered = ordered.withColumn(name, (offset + F.col("_id") - F.shiftleft(part, 33)).cast("int")).drop("_id")
    numbered.persist().count()
    ordered.unpersist()
    return numbered


def _itemsets(sessions, n: int, min_support, max_len: int | None) -> pd.DataFrame:
    """The frequent itemsets, by ``pyspark.ml.fpm.FPGrowth``, in the local miners' layout and order."""
    from pyspark.ml.fpm import FPGrowth
    from pyspark.sql import functions as F

    count = min_count(min_support, n)
    fraction = min(1.0, (count - 0.5) / n) if n else 1.0  # FPGrowth keeps count >= ceil(fraction * n)
    model = FPGrowth(itemsCol="items", minSupport=fraction).fit(sessions.select("items"))
    found = model.freqItemsets.select(F.array_sort("items").alias("items"), F.col("freq").alias("count"))
    if max_len is not None:
        found = found.filter(F.size("items") <= max_len)
    local = found.toPandas()
    local = local.assign(size=local["items"].map(len)).sort_values(
        ["size", "count", "items"], ascending=[True, False, True], key=lambda c: c.map(tuple) if c.name == "items" else c)
    return pd.DataFrame({
        "support": local["count"].to_numpy() / n if n else local["count"].to_numpy(float),
        "count": local["count"].to_numpy(np.int64),
        "itemsets": pd.Series([frozenset(x) for x in local["items"]], dtype=object),
    })


def _audience(spark, rules: pd.DataFrame, sessions) -> pd.DataFrame:
    """:func:`recsys.audience` with the sessions in Spark: each partition finds the rule itemsets
    its sessions hold (:func:`recsys.recommend.holders`), Spark counts the distinct visitors and
    networks behind each."""
    from pyspark.sql import functions as F

    wholes = [a | c for a, c in zip(rules["antecedents"], rules["consequents"])]
    set_id, distinct = pd.factorize(pd.Series(wholes, dtype=object))
    shared = spark.sparkContext.broadcast([sorted(w) for w in distinct])

    def held(batches):
        # the partition's sessions at once: holders builds its lookup of the itemsets once a call
        frames = [b for b in batches if len(b)]
        if not frames:
            return
        b = pd.concat(frames, ignore_index=True)
        session, itemset = holders([frozenset(w) for w in shared.value], b["items"].map(set))
        yield pd.DataFrame({"key": itemset, "visitor": b["visitor"].to_numpy()[session],
                            "network": b["network"].to_numpy()[session]}).drop_duplicates()

    found = sessions.select("items", "visitor", "network") \
        .mapInPandas(held, "key long, visitor string, network string") \
        .groupBy("key").agg(F.countDistinct("visitor").alias("visitors"), F.countDistinct("network").alias("networks")) \
        .toPandas().set_index("key").reindex(range(len(distinct)), fill_value=0)
    return rules.assign(visitors=found["visitors"].to_numpy(np.int64)[set_id],
                        networks=found["networks"].to_numpy(np.int64)[set_id])


def _popular(views, days: float | None) -> pd.Series:
    from pyspark.sql import functions as F

    last = views.agg(F.max("ts")).collect()[0][0]
    if last is None:
        return pd.Series(dtype="int64", name="readers")
    recent = views
    if days is not None:
        recent = views.filter(F.col("ts") > F.lit(pd.Timestamp(last) - pd.Timedelta(days=days)))
    counts = recent.select("url", "ip").distinct().select("url", _network("ip").alias("who")).distinct() \
        .groupBy("url").count().toPandas()
    counts = counts.sort_values(["count", "url"], ascending=[False, True], kind="stable")
    return counts.set_index("url")["count"].astype("int64").rename("readers")


def _read(spark, paths, settings, laps=None):
    """The page views (a Spark DataFrame) and the accounting of every line."""
    from .pipeline import view_options_of

    r = settings.reading
    files, formats = log_files_and_formats(spark, paths, fixed_formats(r.log_format, r.nginx_conf, r.format_name))
    log.info("spark: %d files, log formats %s", len(files), ", ".join(map(str, formats)))
    acc = Accounting()
    requests = requests_of(spark, files, formats, r.cookie).persist()
    kinds = {row["malformed"]: row["count"] for row in requests.groupBy("malformed").count().collect()}
    if laps:
        laps("parse")
    acc.lines = int(sum(kinds.values()))
    for kind, count in kinds.items():
        if kind is not None:
            acc.add_malformed(kind, int(count))
    names = [f.name or f.template for f in formats]
    acc.files = [{"path": f, "format": names[0], "formats": names} for f in files]
    views, acc.url_form = _page_views(requests, view_options_of(settings), acc, laps)
    requests.unpersist()
    acc.check()
    return views, acc


def run_spark(logs, settings, *, salt: bytes = b"", titles: pd.Series | None = None, progress=None):
    """:func:`recsys.run` on Spark: the same settings, the same :class:`recsys.Run`.

    The views and sessions stay in Spark (``Run.views`` and ``Run.sessions`` are Spark
    DataFrames); the itemsets come back to the driver, where the rules, their measures and the
    lists are made by the same functions as in the local engine (:func:`recsys.association_rules`,
    :meth:`recsys.Model.lists`). Spark does not evaluate: ``Run.evaluation_skipped`` says so.
    """
    from pyspark.sql import functions as F

    from .model import Model
    from .pipeline import Run, _Clock, counts_of

    if settings.mining.algorithm != "eclat":
        log.info("the Spark engine mines with FPGrowth (the same itemsets): algorithm is not used")
    spark = spark_session(settings.spark.master, dict(item.split("=", 1) for item in settings.spark.conf))
    clock, laps = _Clock(), _Laps()
    views, acc = _read(spark, logs, settings, laps)
    clock.lap("read")
    s, m = settings.sessions, settings.mining
    sessions, n, dropped, dropped_views = _sessions(views, s.gap, s.basket, s.max_items)
    clock.lap("sessions")
    laps("sessions")
    itemsets = _itemsets(sessions, n, m.min_support, m.max_len)
    clock.lap("itemsets")
    laps("itemsets")
    rules = association_rules(itemsets, min_threshold=m.min_confidence, n_transactions=n,
                              max_antecedent_len=m.max_antecedent_len)
    laps("association_rules")
    rules = _audience(spark, rules, sessions)
    clock.lap("rules")
    laps("audience")
    popular = _popular(views, settings.recommending.popular_days)
    laps("popular")
    ordered, tuning = _sequences(sessions, settings)
    laps("sequences")
    model = Model(sessions, dropped, dropped_views, itemsets, rules, popular, sequences=ordered, tuning=tuning)
    lists = model.lists(settings)
    clock.lap("recommend")
    laps("lists")
    distinct = views.agg(F.countDistinct("visitor").alias("v"), F.countDistinct("url").alias("a")).collect()[0]
    counts = counts_of(acc, model, lists, visitors=int(distinct["v"]), articles=int(distinct["a"]), sessions=n,
                       sessions_2=sessions.filter(F.size("items") >= 2).count())
    laps("counts")
    clock.laps["total"] = clock.total()
    held = {**laps.held, "itemsets": len(itemsets), "rules": len(rules), "popular": len(popular),
            "rule_itemsets": int(pd.Series([a | c for a, c in zip(rules["antecedents"], rules["consequents"])],
                                           dtype=object).nunique()) if len(rules) else 0}
    return Run(settings, "spark", acc, views, sessions, itemsets, rules, model.popular, lists, titles, None,
               "the Spark engine does not evaluate: run recsys.evaluate on a sample of the views", counts,
               dict(clock.laps), datetime.now(timezone.utc), salt,
               engine_info={"master": spark.sparkContext.master, "version": spark.version,
                            "stages": laps.seconds, "driver": held},
               ordered=ordered, tuning=tuning)


def _sequences(sessions, settings):
    """The sequential pair rules (and their tuning) of the Spark sessions, made on the driver by the
    local engine's function (:func:`recsys.model.sequences_of`) from the sessions' visitor, start,
    articles in reading order and network: the same lists as the local engine. None under
    ``ranking = "rules"``. The driver holds those four columns of every session (about 100 bytes a
    session)."""
    from .model import sequences_of

    if settings.recommending.ranking != "sequences":
        return None, None
    frame = sessions.orderBy("session").select("visitor", "start", "items", "network").toPandas()
    frame["items"] = [tuple(items) for items in frame["items"]]
    frame["start"] = pd.to_datetime(frame["start"]).dt.tz_localize("UTC") if frame["start"].dt.tz is None \
        else frame["start"]
    return sequences_of(frame, settings)


def write_datasets(run, folder) -> None:
    """The views and sessions of a Spark :class:`recsys.Run`, as Parquet datasets (visitors hashed),
    into ``folder`` or the ``spark.datasets`` URI."""
    where = run.settings.spark.datasets
    where = where.rstrip("/") + "/" if where else os.path.join(os.fspath(folder), "")
    write_dataset(run.views.drop("ip"), where + "views.parquet", run.salt)
    write_dataset(run.sessions.drop("network"), where + "sessions.parquet", run.salt)


def write_dataset(frame, path: str, secret: bytes) -> None:
    """A Spark DataFrame written as a Parquet dataset, visitor ids salted-hashed.

    ``path`` is a local folder, or a URI (``s3a://``, ``hdfs://``, ``file://``) that Spark writes
    itself. A local folder is written by Spark into a temporary folder next to it, which then
    replaces it: a reader sees the old dataset or the new one, never half of one (this needs a
    driver and executors that share the filesystem, as in local mode). Under a URI, Spark's output
    committer gives the same guarantee to readers that wait for the ``_SUCCESS`` file.
    """
    import shutil
    import tempfile

    from pyspark.sql.functions import pandas_udf

    from .export import pseudonymize

    hashed = pandas_udf(lambda s: pseudonymize(s, secret).astype(object), "string")
    frame = frame.withColumn("visitor", hashed("visitor"))
    if "://" in path:
        frame.write.mode("overwrite").parquet(path)
        return
    parent = os.path.dirname(os.path.abspath(path)) or "."
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.", dir=parent)
    try:
        frame.write.mode("overwrite").parquet("file://" + tmp)
        old = None
        if os.path.exists(path):
            old = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.old.", dir=parent)
            os.replace(path, os.path.join(old, "x"))
        os.replace(tmp, path)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

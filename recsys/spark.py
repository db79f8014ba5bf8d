"""The same pipeline on Apache Spark, for logs one machine cannot hold (``--engine spark``).

Spark reads the log files (plain or compressed, local or in object storage), parses them with the
regular expression compiled from the same :class:`recsys.LogFormat`, applies the same page-view
rules, URL normalization and crawler list (the Python definitions run as Arrow UDFs on distinct
values only), counts every line into the same :class:`recsys.Accounting`, cuts sessions with window
functions, mines itemsets with ``pyspark.ml.fpm.FPGrowth`` and computes the rules and their
measures from the itemset counts, all in Spark. Only the small results (itemsets, rules, the
popular articles, the counts) come back to the driver, where :func:`recsys.recommend` and the
exports make the same files as the local engine.

>>> # spark = spark_session("local[*]"); result = spark_pipeline(spark, ["logs/"])
"""

from __future__ import annotations

import logging
import os
import re
import sys
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .accounting import Accounting
from .columns import ADDRESS_CHAINS, MAX_SECONDS, MONTHS, REQUEST_LINE, REQUEST_TARGET, client_of
from .detection import PROBE_LINES, fixed_formats, start_formats
from .errors import RecsysError
from .files import log_files, open_log, read_head
from .formats import LogFormat
from .sessions import network_of
from .urls import decide_form, is_article_url, normalize_urls, with_form
from .views import ASSET, DROP_REASONS, REDIRECTS, ROBOTS_TXT, is_bot, view_rules, visitor_hash

__all__ = ["spark_session", "spark_pipeline", "SparkResult", "java_regex", "write_dataset"]

log = logging.getLogger(__name__)
warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)

_MONTH = "(?:%s)" % "|".join(m.decode() for m in MONTHS)


def spark_session(master: str | None = None, conf: dict[str, str] | None = None, app_name: str = "recsys"):
    """A Spark session for recsys: UTC, Arrow on, workers running this Python.

    ``master`` defaults to spark-submit's ``--master`` when run by spark-submit, else
    ``local[*]``. Settings in ``conf`` win over recsys's defaults.

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
        **({"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "8"} if local else {}),
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


def java_regex(fmt: LogFormat) -> str:
    """The format's regular expression for Java: the same, with positional groups.

    >>> java_regex(LogFormat.parse('$remote_addr "$request"'))
    '^([^\\\\s"]*) "([^"]*)"$'
    """
    return _positional(fmt.regex)


def _positional(regex: str) -> str:
    """A Python regular expression with its named groups made positional, for Java."""
    return re.sub(r"\(\?P<[A-Za-z_][A-Za-z0-9_]*>", "(", regex)


def _network_udf():
    """``recsys.sessions.network_of`` (the /24 or /48 of an address) as a Spark column function."""
    from pyspark.sql.functions import pandas_udf

    return pandas_udf(lambda s: network_of(s).astype(object), "string")


@dataclass
class SparkResult:
    """What the Spark engine hands back to the driver (the big tables stay in Spark)."""

    views: object  # pyspark DataFrame: ts, visitor, url, ip, user_agent, referer
    sessions: object  # pyspark DataFrame: the sessionize columns
    itemsets: pd.DataFrame
    rules: pd.DataFrame
    accounting: Accounting  # with url_form, the trailing-slash form decided and why
    popular: pd.Series
    n_baskets: int
    dropped_long: int
    dropped_long_views: int


def _files(spark, paths, fixed: list[LogFormat] | None):
    """The files to read and their formats (given, or found on the first lines of the first file)."""
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    remote = [os.fspath(p) for p in paths if "://" in os.fspath(p)]
    local = log_files([p for p in paths if "://" not in os.fspath(p)]) if len(remote) < len(paths) else []
    if "-" in local:
        raise RecsysError("the Spark engine reads files, not standard input: give paths")
    files = local + remote
    if not files:
        raise RecsysError("no access logs found; give log files, directories or globs (s3a://bucket/logs/access.log*)")
    if "://" in files[0]:  # object storage: ask Spark for the first lines
        rows = spark.read.option("lineSep", "\n").text(files[0]).limit(PROBE_LINES).collect()
        head = "\n".join(r.value for r in rows).encode("utf-8", "replace") + b"\n"
    else:  # a file the driver sees: read its beginning here, as the local engine does
        stream, _ = open_log(files[0])
        try:
            head = read_head(stream, [])
        finally:
            getattr(stream, "raw", stream).close()
    return files, start_formats(fixed, head, files[0], known=[], strict=True)


# JSON escapes as percent escapes, in an order that pairs backslashes from the left
_JSON_ESCAPES = [(r"\\\\", "%5C"), (r'\\"', "%22"), (r"\\/", "%2F"), (r"\\n", "%0A"), (r"\\r", "%0D"),
                 (r"\\t", "%09"), (r"\\b", "%08"), (r"\\f", "%0C"), (r"\\u00([0-7][0-9A-Fa-f])", "%$1")] + [
    (rf"\\u00[{h}{h.lower()}]([0-9A-Fa-f])", f"%C{2 + i // 4}%{'89AB'[i % 4]}$1")  # U+0080-U+00FF in UTF-8
    for i, h in enumerate("89ABCDEF")]


def unescape_column(column, mode: str = "default"):
    """:func:`recsys.formats.unescape` as a Spark expression: no Python worker sees the rows.

    nginx's ``\\xHH`` (or JSON's escapes) become percent escapes, which ``url_decode`` turns
    into bytes and decodes as UTF-8 (bad bytes become U+FFFD, as in the local engine).
    """
    from pyspark.sql import functions as F

    c = F.replace(F.replace(column, F.lit("%"), F.lit("%25")), F.lit("+"), F.lit("%2B"))
    if mode == "json":
        for pattern, percent in _JSON_ESCAPES:
            c = F.regexp_replace(c, pattern, percent)
    else:
        c = F.regexp_replace(c, r"\\x([0-9A-Fa-f]{2})", "%$1")
    return F.coalesce(F.try_url_decode(c), column)


def _with_client(df):
    """``df`` with the ``ip`` column: the peer address (``_peer``), or the client of the address
    chain (``_chain``) the format logs, picked by :func:`recsys.columns.client_of` once per distinct
    chain and address."""
    from pyspark.sql import functions as F
    from pyspark.sql.functions import pandas_udf

    @pandas_udf("string")
    def pick(chain: pd.Series, addr: pd.Series) -> pd.Series:
        return pd.Series([client_of(c, a if isinstance(a, str) else None)[0] for c, a in zip(chain, addr)], dtype=object)

    pairs = df.filter(F.col("_chain").isNotNull()) \
        .select(F.col("_chain").alias("c_chain"), F.col("_peer").alias("c_peer")).distinct() \
        .withColumn("c_ip", pick("c_chain", "c_peer"))
    same = F.col("_chain").eqNullSafe(F.col("c_chain")) & F.col("_peer").eqNullSafe(F.col("c_peer"))
    df = df.join(pairs, same, "left")
    ip = F.when(F.col("_chain").isNull(), F.col("_peer")).otherwise(F.col("c_ip"))
    return df.withColumn("ip", ip).drop("_chain", "_peer", "c_chain", "c_peer", "c_ip")


def _requests(spark, files: list[str], formats: list[LogFormat], cookie: str):
    """Every line with its fields, or the kind of malformation that stops it.

    With several formats, a line is read by the first that matches it, as in the local engine.
    """
    from pyspark.sql import functions as F

    lines = spark.read.option("lineSep", "\n").text(files)
    lines = lines.select(F.regexp_replace("value", "\r+$", "").alias("line"))
    # one match a line and format: the groups rewritten as a marked, separated list, then split
    lines = lines.select("line", *[
        F.split(F.regexp_replace("line", java_regex(fmt), "\u0002" + "\u0001".join(
            f"${i + 1}" for i in range(len(fmt.groups)))), "\u0001").alias(f"parts{k}")
        for k, fmt in enumerate(formats)])
    matched = [(F.col(f"parts{k}")[0].startswith("\u0002") & ~F.col("line").startswith("\u0002")
                & (F.size(f"parts{k}") == len(fmt.groups)) & ~F.col("line").contains("\u0001"))
               for k, fmt in enumerate(formats)]
    which = F.coalesce(*[F.when(m, F.lit(k)) for k, m in enumerate(matched)], F.lit(-1))
    groups = {f"g{k}_{name}": F.when(matched[k], F.regexp_replace(F.col(f"parts{k}")[i], "^\u0002", "") if i == 0
                                     else F.col(f"parts{k}")[i]).otherwise("")
              for k, fmt in enumerate(formats) for i, name in enumerate(fmt.groups)}
    df = lines.select("line", which.alias("which"), F.col("line").contains("\ufffd").alias("bad_utf8"),
                      *[v.alias(k) for k, v in groups.items()])
    fields = [_fields(fmt, f"g{k}_", cookie) for k, fmt in enumerate(formats)]

    def pick(name):  # the value of the format that read the line
        out = None
        for k, f in enumerate(fields):
            out = (F if out is None else out).when(F.col("which") == k, f[name])
        return out

    df = df.select("*", *[pick(n).alias(f"_{n}") for n in ("ts", "bad_time", "req_ok", "method", "target")])
    kind = (F.when(F.col("bad_utf8"), "encoding").when(F.col("which") < 0, "format")
            .when(F.col("_bad_time"), "time").when(~F.col("_req_ok"), "request"))
    host = F.regexp_extract("_target", _positional(REQUEST_TARGET), 1)
    path = F.regexp_extract("_target", _positional(REQUEST_TARGET), 2)
    path = F.when((host != "") & (path == ""), F.lit("/")).otherwise(path)  # http://host asks for /
    query = F.regexp_extract("_target", _positional(REQUEST_TARGET), 3)
    df = df.select(
        kind.alias("malformed"), F.col("_ts").alias("ts"),
        *[pick(n).alias(n) for n in ("visitor", "peer", "chain")],
        F.when(F.col("_method").isin("-", ""), None).otherwise(F.col("_method")).alias("method"),
        path.alias("path_raw"), query.alias("query_raw"), F.col("which"),
        *[pick(n).alias(n) for n in ("status", "referer", "user_agent")],
    )
    df = _with_client(df.withColumnRenamed("peer", "_peer").withColumnRenamed("chain", "_chain"))
    unescape = lambda c: F.coalesce(*[F.when(F.col("which") == k, _value(c, fmt.escape)) for k, fmt in enumerate(formats)])
    for raw, name in (("path_raw", "path"), ("query_raw", "query")):
        df = df.withColumn(name, unescape(F.col(raw))).drop(raw)
    return df.drop("which")


def _value(c, escape: str):
    """A variable's value, unescaped; ``-`` and ``""`` are missing."""
    from pyspark.sql import functions as F

    if escape != "none":  # with escape=none nothing was escaped
        marker = "\\" if escape == "json" else "\\x"
        c = F.when(c.contains(marker), unescape_column(c, escape)).otherwise(c)
    return F.when(c.isin("-", "") | c.isNull(), None).otherwise(c)


def _fields(fmt: LogFormat, prefix: str, cookie: str) -> dict:
    """The standard columns of a line read by ``fmt``, whose groups are the columns ``prefix + name``."""
    from pyspark.sql import functions as F

    have = set(fmt.groups)
    col = lambda name: F.col(prefix + name)
    value = lambda name: _value(col(name), fmt.escape) if name in have else F.lit(None).cast("string")
    # time
    if "msec" in have:
        seconds = col("msec").try_cast("double")
        ts = F.when(seconds < MAX_SECONDS, F.timestamp_millis(F.round(seconds * 1000).try_cast("long")))
    elif "time_iso8601" in have:
        ts = F.try_to_timestamp(col("time_iso8601"), F.lit("yyyy-MM-dd'T'HH:mm:ssXXX"))
    elif "time_local__date" in have:
        joined = F.concat_ws(" ", col("time_local__date"), col("time_local__zone"))
        ts = F.when(col("time_local__date").rlike(f"^\\d{{2}}/{_MONTH}/"),
                    F.try_to_timestamp(joined, F.lit("dd/MMM/yyyy:HH:mm:ss Z")))
    else:
        ts = F.lit(None).cast("timestamp")
    has_time = bool(have & {"msec", "time_iso8601", "time_local__date"})
    # request
    if "request" in have:
        req = col("request")
        req_ok = req.rlike(_positional(REQUEST_LINE)) | req.isin("-", "")  # "-": no request line, not a bad one
        method = F.regexp_extract(req, _positional(REQUEST_LINE), 1)
        target = F.when(req.rlike(_positional(REQUEST_LINE)), F.regexp_extract(req, _positional(REQUEST_LINE), 2))
    else:
        req_ok = F.lit(True)
        method = col("request_method") if "request_method" in have else F.lit(None).cast("string")
        if "request_uri" in have:
            target = col("request_uri")
        elif "uri" in have:
            args = col("args") if "args" in have else F.lit("")
            target = F.when(F.coalesce(args, F.lit("")).isin("", "-"), col("uri")).otherwise(
                F.concat_ws("?", col("uri"), args))
        else:
            target = F.lit(None).cast("string")
    visitor_vars = [v for v in ("ut_id", f"cookie_{cookie}") if v in have]
    chain = next((v for v in ADDRESS_CHAINS if v in have), None)
    return {
        "ts": ts, "bad_time": F.lit(has_time) & ts.isNull(), "req_ok": req_ok, "method": method, "target": target,
        "visitor": F.coalesce(*[value(v) for v in visitor_vars]) if visitor_vars else F.lit(None).cast("string"),
        # the peer, or the chain whose client is the reader ($proxy_add_... ends with the peer already)
        "peer": F.lit(None).cast("string") if chain == "proxy_add_x_forwarded_for" else value("remote_addr"),
        "chain": value(chain) if chain else F.lit(None).cast("string"),
        "status": col("status").try_cast("int") if "status" in have else F.lit(None).cast("int"),
        "referer": value("http_referer"), "user_agent": value("http_user_agent"),
    }


def _page_views(requests, options: dict, acc: Accounting):
    """The line rules, then the behaviour rules: the views, and the counts of each reason."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F
    from pyspark.sql.functions import pandas_udf

    rules = view_rules(options)
    ok = requests.filter(F.col("malformed").isNull())
    # user agents: the crawler list, once per distinct agent
    bot_udf = pandas_udf(lambda s: pd.Series(is_bot(s)), "boolean")
    agents = ok.select(F.col("user_agent").alias("a_ua")).distinct().withColumn("is_bot", bot_udf("a_ua"))
    # URLs: normalized and tested once per distinct path and query
    keep, slash, article = tuple(rules.keep_query), rules.trailing_slash, rules.article

    @pandas_udf("url string, article boolean")
    def norm(path: pd.Series, query: pd.Series) -> pd.DataFrame:
        urls = normalize_urls([p if isinstance(p, str) else None for p in path],
                              [q if isinstance(q, str) else None for q in query],
                              trailing_slash=slash or "keep", keep_query=keep)  # None: decided at the end
        return pd.DataFrame({"url": urls, "article": [
            u is not None and is_article_url(u, article, trailing_slash=slash) for u in urls]})

    # (the small sides get their own column names: joins of frames from one source are ambiguous)
    places = ok.select(F.col("path").alias("p_path"), F.col("query").alias("p_query")).distinct() \
        .withColumn("n", norm("p_path", "p_query")).select("p_path", "p_query", "n.*")
    df = ok.join(F.broadcast(agents), F.col("user_agent").eqNullSafe(F.col("a_ua")), "left").drop("a_ua")
    df = df.join(places, F.col("path").eqNullSafe(F.col("p_path")) & F.col("query").eqNullSafe(F.col("p_query")),
                 "left").drop("p_path", "p_query")
    if rules.visitor == "ip+ua":
        @pandas_udf("string")
        def ipua(ip: pd.Series, ua: pd.Series) -> pd.Series:
            return pd.Series([visitor_hash(i, u if isinstance(u, str) else None) if isinstance(i, str) else None
                              for i, u in zip(ip, ua)])

        df = df.withColumn("visitor", ipua("ip", "user_agent"))
    status_ok = F.col("status").isin(list(rules.statuses))
    reason = (
        F.when(F.col("method").isNull() & F.col("path").isNull(), "no_request")
        .when(F.lit(bool(rules.drop_bots)) & (F.col("user_agent").isNull() | F.col("is_bot")), "bot")
        .when(~F.coalesce(F.col("method").isin(list(rules.methods)), F.lit(False)), "method")
        .when(F.col("status").isin(*REDIRECTS) & F.col("visitor").isNull(), "handshake")
        .when(~F.coalesce(status_ok, F.lit(False)), "status")
        .when(F.coalesce(F.col("path").rlike(ASSET.pattern), F.lit(False)), "asset")
        .when(~F.coalesce(F.col("article"), F.lit(False)), "not_article")
        .when(F.col("visitor").isNull(), "no_visitor")
    )
    df = df.withColumn("reason", reason).persist()
    # the behaviour rules need every line: who fetched robots.txt
    robots = df.filter(F.col("path") == ROBOTS_TXT)
    pairs = robots.select(F.col("ip").alias("r_ip"), F.col("user_agent").alias("r_ua")).distinct() \
        .withColumn("robot_pair", F.lit(True))
    robot_visitors = robots.filter(F.col("visitor").isNotNull()).select(F.col("visitor").alias("r_visitor")).distinct() \
        .withColumn("robot_visitor", F.lit(True))
    cand = df.filter(F.col("reason").isNull())
    by_pair = cand.join(pairs, F.col("ip").eqNullSafe(F.col("r_ip")) & F.col("user_agent").eqNullSafe(F.col("r_ua")),
                        "left").drop("r_ip", "r_ua")
    by_pair = by_pair.join(robot_visitors, F.col("visitor") == F.col("r_visitor"), "left").drop("r_visitor")
    robot = F.coalesce(F.col("robot_pair"), F.lit(False)) | F.coalesce(F.col("robot_visitor"), F.lit(False))
    flagged = by_pair.withColumn("robots", robot)
    k = rules.max_per_minute
    ms = F.col("ts").cast("double") * 1000
    if k:
        w = Window.partitionBy("visitor").orderBy("ts")
        fast = flagged.withColumn("gap_k", F.lead(ms, k).over(w) - ms) \
            .groupBy(F.col("visitor").alias("f_visitor")) \
            .agg(F.max(F.when(F.col("gap_k") < 60000, 1).otherwise(0)).alias("too_fast"))
        flagged = flagged.join(fast, F.col("visitor") == F.col("f_visitor"), "left").drop("f_visitor")
    else:
        flagged = flagged.withColumn("too_fast", F.lit(0))
    # kept: it gives both the counts and the views
    flagged = flagged.withColumn(
        "reason", F.when(F.col("robots"), "robots_txt").when(F.col("too_fast") == 1, "too_fast")).persist()
    # the accounting, from counts
    line_reasons = {r["reason"]: r["count"] for r in df.groupBy("reason").count().collect()}
    late = {r["reason"]: r["count"] for r in flagged.groupBy("reason").count().collect()}
    for name in DROP_REASONS:
        acc.drop(name, int(line_reasons.get(name, 0)) + int(late.get(name, 0)))
    acc.views += int(late.get(None, 0))
    views = flagged.filter(F.col("reason").isNull()).select("ts", "visitor", "url", "ip", "user_agent", "referer")
    return _in_canonical_form(views, rules)


def _in_canonical_form(views, rules):
    """The views with every URL in the blog's trailing-slash form, decided as the local engine does
    (:func:`recsys.urls.canonical_form`, on the distinct URLs and their counts), and the decision."""
    from pyspark.sql import functions as F

    if rules.trailing_slash is not None:  # given, or the preset's: the URLs are in it already
        return views, decide_form((), None, rules.trailing_slash, rules.slash_from, rules.article)
    counts = views.groupBy("url").count().toPandas()  # one row per article
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
    sessions = sessions.withColumn("network", _network_udf()("first_ip")).drop("first_ip")
    long = F.size("items") > max_items if max_items is not None else F.lit(False)
    numbered = Window.orderBy("start", "visitor")  # the local engine's order (one partition: ids are global)
    sessions = sessions.withColumn("long", long) \
        .withColumn("session", F.row_number().over(numbered.partitionBy("long")) - 1).persist()
    counts = {r["long"]: (int(r["n"]), int(r["v"])) for r in
              sessions.groupBy("long").agg(F.count("*").alias("n"), F.sum("n_views").alias("v")).collect()}
    n, _ = counts.get(False, (0, 0))
    dropped, dropped_views = counts.get(True, (0, 0))
    return sessions.filter(~F.col("long")).drop("long"), n, dropped, dropped_views


def _itemsets(sessions, n: int, min_support, max_len: int | None) -> tuple[object, pd.DataFrame]:
    from pyspark.ml.fpm import FPGrowth
    from pyspark.sql import functions as F

    from .itemsets import min_count as support_count

    min_count = support_count(min_support, n)
    fraction = min(1.0, (min_count - 0.5) / n) if n else 1.0  # FPGrowth keeps count >= ceil(fraction * n)
    model = FPGrowth(itemsCol="items", minSupport=fraction).fit(sessions.select("items"))
    found = model.freqItemsets.select(F.array_sort("items").alias("items"), F.col("freq").alias("count"))
    if max_len is not None:
        found = found.filter(F.size("items") <= max_len)
    found = found.persist()
    local = found.toPandas()
    local = local.assign(size=local["items"].map(len)).sort_values(["size", "count", "items"], ascending=[True, False, True],
                                                                   key=lambda c: c.map(tuple) if c.name == "items" else c)
    itemsets = pd.DataFrame({
        "support": local["count"].to_numpy() / n if n else local["count"].to_numpy(float),
        "count": local["count"].to_numpy(np.int64),
        "itemsets": pd.Series([frozenset(x) for x in local["items"]], dtype=object),
    })
    itemsets.attrs.update(n_transactions=n, min_count=min_count)
    return found, itemsets


def _rules(spark, found, sessions, n: int, min_confidence: float) -> pd.DataFrame:
    """Single-consequent rules and every measure, computed in Spark from the itemset counts."""
    from pyspark.sql import functions as F
    from pyspark.sql.functions import pandas_udf

    from .rules import MEASURES, fisher_greater

    key = lambda col: F.concat_ws("\u001f", col)
    counts = found.select(key("items").alias("key"), F.col("count").alias("c"))
    big = found.filter(F.size("items") >= 2).select("items", F.col("count").alias("c_all"),
                                                      F.explode("items").alias("consequent"))
    big = big.withColumn("antecedent", F.array_remove("items", F.col("consequent")))
    r = big.join(counts.withColumnRenamed("c", "c_a"), key("antecedent") == counts["key"]).drop("key")
    r = r.join(counts.withColumnRenamed("c", "c_c"), F.col("consequent") == counts["key"]).drop("key")
    s, sa, sc = F.col("c_all") / n, F.col("c_a") / n, F.col("c_c") / n
    conf = s / sa
    lev = s - sa * sc
    denom = F.greatest(s * (1 - sa), sa * (sc - s))
    r = r.select(
        "antecedent", "consequent", "items", "c_all", "c_a", "c_c",
        sa.alias("antecedent support"), sc.alias("consequent support"), s.alias("support"),
        conf.alias("confidence"), (conf / sc).alias("lift"), F.lit(1.0).alias("representativity"),
        lev.alias("leverage"),
        F.when(conf < 1.0, (1 - sc) / (1 - conf)).otherwise(F.lit(float("inf"))).alias("conviction"),
        F.when(denom == 0, F.lit(0.0)).otherwise(lev / denom).alias("zhangs_metric"),
        (s / (sa + sc - s)).alias("jaccard"),
        F.when((1 - sc) == 0, F.lit(0.0)).otherwise((conf - sc) / (1 - sc)).alias("certainty"),
        ((s / sa + s / sc) / 2).alias("kulczynski"),
        F.col("c_all").alias("count"),
    ).filter(F.col("confidence") >= min_confidence)
    p_udf = pandas_udf(lambda k, a, c: pd.Series(fisher_greater(k.to_numpy(), a.to_numpy(), c.to_numpy(), n)), "double")
    r = r.withColumn("p_value", p_udf("c_all", "c_a", "c_c")).persist()
    # who is behind each rule: each partition of sessions finds the rule itemsets it holds
    wholes = [tuple(row["items"]) for row in r.select("items").distinct().collect()]  # sorted already
    if not wholes:
        r = r.withColumn("visitors", F.lit(0)).withColumn("networks", F.lit(0))
    else:
        r = _with_audience(spark, r, sessions, wholes, key)
    local = r.toPandas()
    out = pd.DataFrame({
        "antecedents": pd.Series([frozenset(a) for a in local["antecedent"]], dtype=object),
        "consequents": pd.Series([frozenset([c]) for c in local["consequent"]], dtype=object),
    })
    for m in MEASURES:
        out[m] = local[m].to_numpy()
    out["count"] = out["count"].astype(np.int64)
    out["visitors"] = local["visitors"].fillna(0).astype(np.int64).to_numpy()
    out["networks"] = local["networks"].fillna(0).astype(np.int64).to_numpy()
    order = np.lexsort((out["consequents"].map(sorted).map(str), out["antecedents"].map(sorted).map(str),
                        -out["count"], -out["lift"], -out["confidence"]))
    out = out.iloc[order].reset_index(drop=True)
    out.attrs["n_transactions"] = n
    return out


def _with_audience(spark, r, sessions, wholes: list[tuple], key):
    """The rules with the distinct visitors and networks of the sessions holding all their items."""
    from pyspark.sql import functions as F

    shared = spark.sparkContext.broadcast(wholes)

    def held(batches):
        from .recommend import holders

        sets = [frozenset(w) for w in shared.value]
        for b in batches:
            session, itemset = holders(sets, b["items"].map(set))
            yield pd.DataFrame({"key": itemset, "visitor": b["visitor"].to_numpy()[session],
                                "network": b["network"].to_numpy()[session]}).drop_duplicates()

    audience = sessions.select("items", "visitor", "network") \
        .mapInPandas(held, "key long, visitor string, network string") \
        .groupBy("key").agg(F.countDistinct("visitor").alias("visitors"), F.countDistinct("network").alias("networks"))
    ids = spark.createDataFrame([(i, "\u001f".join(w)) for i, w in enumerate(wholes)], "key long, w string")
    return r.withColumn("w", key("items")).join(F.broadcast(ids), "w", "left").drop("w") \
        .join(audience, "key", "left").drop("key")


def _popular(views, days: float | None) -> pd.Series:
    from pyspark.sql import functions as F

    last = views.agg(F.max("ts")).collect()[0][0]
    if last is None:
        return pd.Series(dtype="int64", name="readers")
    recent = views
    if days is not None:
        recent = views.filter(F.col("ts") > F.lit(pd.Timestamp(last) - pd.Timedelta(days=days)))
    counts = recent.select("url", _network_udf()("ip").alias("who")).distinct().groupBy("url").count().toPandas()
    counts = counts.sort_values(["count", "url"], ascending=[False, True], kind="stable")
    return counts.set_index("url")["count"].astype("int64").rename("readers")


def spark_pipeline(
    spark,
    paths,
    *,
    log_format: str | LogFormat | list[str | LogFormat] = "auto",
    nginx_conf=None,
    format_name: str | list[str] | None = None,
    cookie: str = "UT_ID",
    gap: str = "30min",
    basket: str = "session",
    max_items: int | None = 50,
    min_support: float | int = 3,
    max_len: int | None = 3,
    min_confidence: float = 0.05,
    popular_days: float | None = 7,
    **view_options,
) -> SparkResult:
    """Read, filter, sessionize and mine on Spark: what the local pipeline does, same parameters.

    Returns the page views and sessions as Spark DataFrames, and the itemsets, rules (with
    ``visitors`` and ``networks``), popular articles and accounting as pandas objects, ready for
    :func:`recsys.recommend` and the exports.
    """
    files, formats = _files(spark, paths, fixed_formats(log_format, nginx_conf, format_name))
    log.info("spark: %d files, log formats %s", len(files), ", ".join(map(str, formats)))
    acc = Accounting()
    requests = _requests(spark, files, formats, cookie).persist()
    kinds = {r["malformed"]: r["count"] for r in requests.groupBy("malformed").count().collect()}
    acc.lines = int(sum(kinds.values()))
    for kind, count in kinds.items():
        if kind is not None:
            acc.add_malformed(kind, int(count))
    names = [f.name or f.template for f in formats]
    acc.files = [{"path": f, "format": names[0], "formats": names} for f in files]
    views, acc.url_form = _page_views(requests, view_options, acc)
    acc.check()
    sessions, n, dropped, dropped_views = _sessions(views, gap, basket, max_items)
    found, itemsets = _itemsets(sessions, n, min_support, max_len)
    rules = _rules(spark, found, sessions, n, min_confidence)
    popular = _popular(views, popular_days)
    return SparkResult(views, sessions, itemsets, rules, acc, popular, n, dropped, dropped_views)


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

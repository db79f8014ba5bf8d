"""Reading logs on Spark: the lines parsed with the regular expression of the same
:class:`recsys.LogFormat`, into the columns the local reader makes (:mod:`recsys.columns`).

Spark evaluates the parsing, the unescaping and the time formats itself; Python runs only on
distinct values (the client of an address chain).
"""

from __future__ import annotations

import os
import re

import pandas as pd

from .columns import ADDRESS_CHAINS, MAX_SECONDS, MONTHS, REQUEST_LINE, REQUEST_TARGET, client_of
from .detection import PROBE_LINES, start_formats
from .errors import RecsysError
from .files import log_files, open_log, read_head
from .formats import LogFormat

__all__ = ["java_regex", "unescape_column", "log_files_and_formats", "requests_of"]

_MONTH = "(?:%s)" % "|".join(m.decode() for m in MONTHS)

def java_regex(fmt: LogFormat) -> str:
    """The format's regular expression for Java: the same, with positional groups.

    >>> java_regex(LogFormat.parse('$remote_addr "$request"'))
    '^([^\\\\s"]*) "([^"]*)"$'
    """
    return _positional(fmt.regex)


def _positional(regex: str) -> str:
    """A Python regular expression with its named groups made positional, for Java."""
    return re.sub(r"\(\?P<[A-Za-z_][A-Za-z0-9_]*>", "(", regex)

def log_files_and_formats(spark, paths, fixed: list[LogFormat] | None):
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


def requests_of(spark, files: list[str], formats: list[LogFormat], cookie: str):
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
    # the request line split once into its method and target (a column, so that it is computed once)
    df = df.select("*", *[_parts(F.col(f"g{k}_request"), REQUEST_LINE, 2).alias(f"g{k}_request__parts")
                          for k, fmt in enumerate(formats) if "request" in fmt.groups])
    fields = [_fields(fmt, f"g{k}_", cookie) for k, fmt in enumerate(formats)]

    def pick(name):  # the value of the format that read the line
        out = None
        for k, f in enumerate(fields):
            out = (F if out is None else out).when(F.col("which") == k, f[name])
        return out

    df = df.select("*", *[pick(n).alias(f"_{n}") for n in ("ts", "bad_time", "req_ok", "method", "target")])
    kind = (F.when(F.col("bad_utf8"), "encoding").when(F.col("which") < 0, "format")
            .when(F.col("_bad_time"), "time").when(~F.col("_req_ok"), "request"))
    df = df.withColumn("_tparts", _parts(F.col("_target"), REQUEST_TARGET, 3))
    # regexp_extract's values: the group, "" for a group that took no part or a target that does not match
    group = lambda i: F.when(F.size("_tparts") == 4, F.col("_tparts")[i]).when(F.col("_target").isNotNull(), F.lit(""))
    host, path, query = group(0), group(1), group(2)
    path = F.when((host != "") & (path == ""), F.lit("/")).otherwise(path)  # http://host asks for /
    df = df.select(
        kind.alias("malformed"), F.col("_ts").alias("ts"),
        *[pick(n).alias(n) for n in ("visitor", "peer", "chain")],
        F.when(F.col("_method").isin("-", ""), None).otherwise(F.col("_method")).alias("method"),
        path.alias("path_raw"), query.alias("query_raw"), F.col("which"),
        *[pick(n).alias(n) for n in ("status", "referer", "user_agent")],
    )
    if any(v in fmt.groups for fmt in formats for v in ADDRESS_CHAINS):
        df = _with_client(df.withColumnRenamed("peer", "_peer").withColumnRenamed("chain", "_chain"))
    else:  # no format logs an address chain: the peer is the reader (and no join is needed)
        df = df.withColumnRenamed("peer", "ip").drop("chain")
    unescape = lambda c: F.coalesce(*[F.when(F.col("which") == k, _value(c, fmt.escape)) for k, fmt in enumerate(formats)])
    for raw, name in (("path_raw", "path"), ("query_raw", "query")):
        df = df.withColumn(name, unescape(F.col(raw))).drop(raw)
    return df.drop("which")


def _parts(column, regex: str, n: int):
    """The first ``n`` groups of ``regex`` matched on ``column``, by one regular-expression pass.

    The match is rewritten as its groups separated by U+0001 (which no line holds: such a line is
    malformed) and split: ``n + 1`` parts where it matched (the last one, what ``$`` left after the
    match, ignored), one part where it did not; null where ``column`` is null. For example
    ``_parts(request, REQUEST_LINE, 2)`` is ``["GET", "/a?b", ""]`` on ``GET /a?b HTTP/1.1``.
    """
    from pyspark.sql import functions as F

    rewrite = "\u0001".join(f"${i + 1}" for i in range(n)) + "\u0001"
    return F.split(F.regexp_replace(column, _positional(regex), rewrite), "\u0001")


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
        req, parts = col("request"), col("request__parts")  # _parts(request, REQUEST_LINE, 2)
        matched = F.size(parts) == 3
        req_ok = matched | req.isin("-", "")  # "-": no request line, not a bad one
        method = F.when(matched, parts[0]).otherwise("")
        target = F.when(matched, parts[1])
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

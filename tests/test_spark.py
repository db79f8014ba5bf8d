"""The Spark engine gives what the local engine gives: real Spark, in local mode."""

import gc
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from integration import need

import recsys
from recsys.mine import main

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"


def java_ok() -> bool:
    java = shutil.which("java")
    if not java:
        return False
    done = subprocess.run([java, "-version"], capture_output=True, text=True)
    version = (done.stderr or done.stdout).split('"')[1] if '"' in (done.stderr or done.stdout) else "0"
    return done.returncode == 0 and int(version.split(".")[0]) >= 17


@pytest.fixture(scope="module")
def spark():
    try:
        import pyspark  # noqa: F401
        have_spark = True
    except ImportError:
        have_spark = False
    need(have_spark, "PySpark (pip install 'recsys[spark]')")
    need(java_ok(), "Java 17 or newer")
    from recsys.spark import spark_session

    session = spark_session("local[2]", {"spark.sql.shuffle.partitions": "2"})
    yield session
    session.stop()


@pytest.fixture(autouse=True)
def _cleared(request):
    """Each test's cached frames freed after it, as a notebook would between unrelated runs."""
    yield
    if "spark" in request.fixturenames:
        request.getfixturevalue("spark").catalog.clearCache()


def both(paths, cache, **settings):
    """``recsys.run`` on the local engine and on Spark, with the same settings."""
    settings = recsys.Settings.from_mapping(**{"evaluate": False, **settings})
    local = recsys.run(paths, settings, cache=cache)
    return local, recsys.run(paths, settings.replace(spark_master="local[2]"), engine="spark", cache=cache)


def assert_same(local, result):
    sacc, acc = result.accounting, local.accounting
    assert (sacc.lines, sacc.malformed_kinds, sacc.dropped, sacc.views) == (acc.lines, acc.malformed_kinds, acc.dropped, acc.views)
    assert sacc.url_form == acc.url_form
    # sessions: the same, row for row (ids, visitors, times, items, views, networks)
    s, sessions = result.sessions.toPandas().sort_values("session").reset_index(drop=True), local.sessions
    cols = ["session", "visitor", "items", "n_views", "views", "network"]
    as_rows = lambda df: [tuple(tuple(v) if isinstance(v, (list, tuple, np.ndarray)) else v for v in row)
                          for row in df[cols].astype(object).itertuples(index=False)]
    assert as_rows(s) == as_rows(sessions)
    assert (pd.to_datetime(s.start, utc=True).to_numpy() == sessions.start.to_numpy()).all()
    # itemsets and counts (FPGrowth against Eclat)
    itemsets = local.itemsets
    assert dict(zip(result.itemsets.itemsets, result.itemsets["count"])) == dict(zip(itemsets.itemsets, itemsets["count"]))
    # rules: the same set, every measure and the audience within float rounding
    rules = local.rules
    a = rules.set_index([rules.antecedents, rules.consequents])
    b = result.rules.set_index([result.rules.antecedents, result.rules.consequents])
    assert set(a.index) == set(b.index) and len(a) > 100
    b = b.loc[a.index]
    for col in [c for c in a.columns if c not in ("antecedents", "consequents")]:
        np.testing.assert_allclose(b[col].to_numpy(float), a[col].to_numpy(float), rtol=1e-9, err_msg=col)
    assert result.popular.equals(local.popular)
    # the sequential pair rules, made on the driver from the collected sessions, and their tuning
    assert (result.sequences is None) == (local.sequences is None)
    if local.sequences is not None:
        pd.testing.assert_frame_equal(result.sequences, local.sequences)
        assert result.tuning.record() == local.tuning.record()
    # hence the same lists and counts
    pd.testing.assert_frame_equal(result.lists, local.lists)
    assert result.counts == local.counts


def test_the_sample_gives_the_same_everything(spark, tmp_path):
    assert_same(*both([SAMPLE], tmp_path))


@pytest.mark.parametrize("fmt", ["tsv", "json"])
def test_generated_logs_in_other_formats(spark, tmp_path, fmt):
    from recsys.simulate import simulate

    simulate(tmp_path / "logs", visitors=600, days=6, seed=5, log_format=fmt)
    assert_same(*both([tmp_path / "logs"], tmp_path / "cache", log_format=fmt))


def test_max_antecedent_len_reaches_the_spark_rules(spark, tmp_path):
    local, result = both([SAMPLE], tmp_path, max_antecedent_len=1)
    assert result.rules["antecedents"].map(len).max() == 1 and len(result.rules) == len(local.rules)


def test_the_command_writes_the_same_files(spark, tmp_path):
    common = [str(SAMPLE), "--quiet", "--cache", str(tmp_path / "cache"), "--no-evaluate"]
    assert main([*common, "--out", str(tmp_path / "local")]) == 0
    assert main([*common, "--out", str(tmp_path / "spark"), "--engine", "spark", "--spark-master", "local[2]",
                 "--spark-conf", "spark.sql.shuffle.partitions=2"]) == 0
    local = json.loads((tmp_path / "local" / "related.json").read_text())
    spark_doc = json.loads((tmp_path / "spark" / "related.json").read_text())
    assert spark_doc["items"] == local["items"] and spark_doc["params"] == local["params"]
    names = lambda d: sorted(p.name for p in (tmp_path / d).iterdir() if not p.name.startswith("."))
    assert names("spark") == names("local")
    following = [json.loads((tmp_path / d / "next.json").read_text()) for d in ("local", "spark")]
    assert [{k: v for k, v in f.items() if k != "generated"} for f in following] == [
        {k: v for k, v in following[0].items() if k != "generated"}] * 2  # the widget ranks the same
    for name in ("itemsets.parquet", "rules.parquet", "sequences.parquet", "sessions.parquet", "views.parquet"):
        a, b = pd.read_parquet(tmp_path / "local" / name), pd.read_parquet(tmp_path / "spark" / name)
        assert a.shape == b.shape and sorted(a.columns) == sorted(b.columns), name
    v_local = pd.read_parquet(tmp_path / "local" / "views.parquet")
    v_spark = pd.read_parquet(tmp_path / "spark" / "views.parquet")
    assert set(v_spark.visitor) == set(v_local.visitor)  # the same salted hashes
    report = json.loads((tmp_path / "spark" / "report.json").read_text())
    assert report["engine"] == "spark" and report["counts"]["views"] == 6150


def test_spark_submit_runs_the_command(spark, tmp_path):
    """As on a cluster: spark-submit gives the master and settings; datasets go to a URI."""
    import os
    import sys

    import pyspark

    logs = SAMPLE / "access.log.1"
    common = [str(logs), "--quiet", "--no-cache", "--no-evaluate", "--titles", str(SAMPLE / "feed.xml"),
              "--export", "hugo", "--force"]  # one day of logs: lists of popular articles only, which the guard refuses
    assert main([*common, "--out", str(tmp_path / "local")]) == 0
    submit = Path(pyspark.__file__).parent / "bin" / "spark-submit"
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable,
           "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [str(submit), "--master", "local[2]", "--conf", "spark.sql.shuffle.partitions=2",
         str(ROOT / "deploy" / "spark" / "submit.py"), "--engine", "spark", *common, "--out", str(tmp_path / "spark"),
         "--spark-datasets", f"file://{tmp_path / 'datasets'}"],
        capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    read = lambda d, name: json.loads((tmp_path / d / name).read_text())
    assert read("spark", "related.json")["items"] == read("local", "related.json")["items"]
    assert read("spark", "blog/hugo/data/related.json")["items"] == read("local", "blog/hugo/data/related.json")["items"]
    assert any("title" in e for es in read("spark", "related.json")["items"].values() for e in es)
    assert not (tmp_path / "spark" / "views.parquet").exists()
    assert (tmp_path / "datasets" / "views.parquet" / "_SUCCESS").exists()
    assert len(pd.read_parquet(tmp_path / "datasets" / "sessions.parquet")) == len(
        pd.read_parquet(tmp_path / "local" / "sessions.parquet"))
    assert read("spark", "report.json")["spark"]["master"] == "local[2]"  # spark-submit's: none given to recsys


def test_java_regex_is_the_same_pattern():
    from recsys.spark import java_regex

    fmt = recsys.LogFormat.preset("combined_ut")
    import re

    assert re.compile(java_regex(fmt)).groups == len(fmt.groups)
    assert "(?P<" not in java_regex(fmt)


@pytest.mark.parametrize("mode, values", [
    ("default", [r"caf\xC3\xA9 \x22x\x22", "100% a+b", r"bad \xFF\xFE byte", r"\xC3 cut", r"\x5Cx41", "plain",
                 r"trail\x", r"\xE2\x82\xAC euro %41", r"\xF0\x9F\x98\x80 emoji", None]),
    ("json", [r'say \"hi\"\u0009', r"a\\nb", r"\\\"", r"x\/y % +", r"\u001f\n\r\t\b\f", r"\u00e9 \u00FF \u0080"]),
])
def test_unescaping_in_spark_is_the_local_unescape(spark, mode, values):
    """Spark unescapes without Python workers; the answers must be the local engine's."""
    from pyspark.sql import functions as F

    from recsys.formats import unescape
    from recsys.spark import unescape_column

    df = spark.createDataFrame([(v,) for v in values], "v string").select("v", unescape_column(F.col("v"), mode).alias("u"))
    got = {r.v: r.u for r in df.collect()}
    assert got == {v: None if v is None else unescape(v, mode) for v in values}


def test_the_trailing_slash_form_is_decided_as_locally(spark, tmp_path):
    """A custom pattern on the real blog: Spark reads the blog's form from the views as the local engine
    does, and writes every article in it (WordPress: /blog/<slug>/; the bare form gets a 301)."""
    from integration import shared_data

    blog = shared_data("real", "logs", "yuvi-blog-2012")
    paths = [str(blog / "access.log.1"), str(blog / "access.log.2.gz")]
    options = {"article_pattern": r"^/blog/[^/]+$", "visitor": "ip+ua"}
    local, result = both(paths, tmp_path, **options)
    acc, sacc, local = local.accounting, result.accounting, local.views
    assert sacc.url_form == acc.url_form and sacc.url_form["trailing_slash"] == "add"
    assert (sacc.lines, sacc.malformed_kinds, sacc.dropped, sacc.views) == (acc.lines, acc.malformed_kinds, acc.dropped, acc.views)
    rows = lambda df: sorted(zip(pd.to_datetime(df["ts"], utc=True).astype(str), df["visitor"].astype(str), df["url"]))
    ours = result.views.select("ts", "visitor", "url").toPandas()
    assert rows(ours) == rows(local) and len(ours) > 100


def test_what_real_servers_write_is_read_the_same_way(spark, tmp_path):
    """Requests logged as "-" or "", "-" for zero bytes, absolute targets, spaces in targets,
    numbers too long, times after 9999 and address chains: the same accounting and views."""

    ua = "Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0"
    main_fmt = ('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" '
                '"$http_user_agent" "$http_x_forwarded_for"')
    lines = []
    for i in range(30):
        ip, xff = (f"10.0.0.{i % 3}", f"198.51.{i % 7}.9, 10.1.1.1") if i % 2 else (f"203.0.113.{i % 5}", "-")
        when = f"01/Mar/2024:10:{i:02d}:00 +0100"
        for k, target in enumerate([f"/archives/{i % 4}", f"http://blog.example.org/archives/{(i + 1) % 4}",
                                    f"/archives/{(i + 2) % 4}?utm_source=x", "/x.js type="]):
            size = "-" if k == 1 else "512"
            lines.append(f'{ip} - - [{when}] "GET {target} HTTP/1.1" {200 if k < 3 else 404} {size} "-" "{ua}" "{xff}"')
    lines += [f'198.51.100.1 - - [01/Mar/2024:11:00:00 +0100] "{r}" 400 0 "-" "-" "-"' for r in ("-", "", "hello")]
    lines.append(f'198.51.100.1 - - [01/Mar/2024:11:00:00 +0100] "GET /archives/1 HTTP/1.1" 200 {"9" * 20} "-" "{ua}" "-"')
    (tmp_path / "main").mkdir()
    (tmp_path / "main" / "access.log").write_text("\n".join(lines) + "\n")
    tsv = ["\t".join([t, "203.0.113.5", m, u, "200", b, "-", ua, "-"]) for t, m, u, b in [
        ("1709287201.123", "GET", "/archives/1", "5"), ("1709287202.000", "-", "-", "-"),
        ("9" * 20 + ".5", "GET", "/archives/1", "5"), ("253402300800.000", "GET", "/archives/2", "5"),
        ("1709287203.000", "GET", "/archives/2", "9" * 19), ("1709287204.000", "GET", "https://h.example/archives/2", "-")]]
    (tmp_path / "tsv").mkdir()
    (tmp_path / "tsv" / "access.log").write_text("\n".join(tsv) + "\n")
    options = dict(visitor="ip+ua", article_pattern=r"^/archives/\d+$", max_per_minute=None)
    for name, fmt in (("main", main_fmt), ("tsv", "tsv")):
        acc = recsys.Accounting()
        local = recsys.read_page_views(tmp_path / name, read_options={"log_format": fmt}, accounting=acc, **options)
        result = both([tmp_path / name], tmp_path / "cache", log_format=fmt, min_support=2, **options)[1]
        sacc = result.accounting
        assert (sacc.lines, sacc.malformed_kinds, sacc.dropped, sacc.views) == (acc.lines, acc.malformed_kinds, acc.dropped, acc.views)
        theirs = result.views.toPandas()
        key = lambda df: sorted(zip(pd.to_datetime(df.ts, utc=True), df.visitor.astype(str), df.url.astype(str), df.ip.astype(str)))
        assert key(theirs) == key(local)
    assert acc.dropped["no_request"] == 1 and acc.malformed_kinds == {"time": 2, "format": 1}
    main_acc = recsys.Accounting()
    recsys.read_page_views(tmp_path / "main", read_options={"log_format": main_fmt}, accounting=main_acc, **options)
    assert main_acc.views == 90 and main_acc.dropped == {"no_request": 2, "status": 30}
    assert main_acc.malformed_kinds == {"request": 1, "format": 1}


def test_a_list_of_formats_is_tried_in_order_on_each_line(spark, tmp_path):
    """Two access_log directives writing one file: Spark reads each line with the first format
    that matches, as the local engine does, and both give what the one-format log gives."""
    from recsys.simulate import simulate

    a = simulate(tmp_path / "a", visitors=600, days=6, seed=5, rotate=False)
    simulate(tmp_path / "b", visitors=600, days=6, seed=5, rotate=False, log_format="tsv")
    ut = (tmp_path / "a" / "access.log").read_bytes().splitlines(keepends=True)
    tsv = (tmp_path / "b" / "access.log").read_bytes().splitlines(keepends=True)
    assert len(ut) == len(tsv) == a.lines  # the same requests, in two formats
    mixed = tmp_path / "mixed" / "access.log"
    mixed.parent.mkdir()
    mixed.write_bytes(b"".join(u if i % 3 else t for i, (u, t) in enumerate(zip(ut, tsv))))
    local, result = both([mixed], tmp_path / "cache", log_format=["tsv", "combined_ut"])
    assert_same(local, result)
    one = recsys.run([tmp_path / "a"], recsys.Settings.from_mapping(evaluate=False), cache=tmp_path / "cache")
    assert local.accounting.views == one.accounting.views > 1000
    cols = ["session", "visitor", "items", "n_views"]  # the same sessions (tsv times have milliseconds)
    pd.testing.assert_frame_equal(local.sessions[cols].astype(str), one.sessions[cols].astype(str))


def test_runs_in_one_session_leave_little_in_the_driver(spark, tmp_path):
    """A notebook runs the job again and again in one session. What a run leaves in the driver's
    heap once its frames are uncached stays small: with Spark's defaults the status store kept the
    plans of the last thousand queries, 57 MB a run on the sample, and the 1 GB driver of a long
    session ran out of memory for an aggregation (a CI run of this module)."""
    jvm = spark.sparkContext._jvm

    def heap_mb() -> float:
        gc.collect()
        jvm.java.lang.System.gc()
        runtime = jvm.java.lang.Runtime.getRuntime()
        return (runtime.totalMemory() - runtime.freeMemory()) / 2**20

    settings = recsys.Settings.from_mapping(evaluate=False, spark_master="local[2]")

    def once(i: int) -> None:
        assert recsys.run([SAMPLE], settings, engine="spark", cache=tmp_path / str(i)).counts["rules"] > 100
        spark.catalog.clearCache()

    once(0)
    once(1)  # the status store has filled its few places, the JIT and the caches have warmed up
    before = heap_mb()
    once(2)
    once(3)
    grown = (heap_mb() - before) / 2
    assert grown < 15, f"the driver keeps {grown:.0f} MB a run"

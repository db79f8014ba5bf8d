import fcntl
import gzip
import io
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest

import recsys
import recsys.mine as mine
from recsys.mine import build_parser, main
from recsys.redact import mask_text

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent
SAMPLE = ROOT / "data" / "sample"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def run(tmp_path, *args, logs=(SAMPLE,)):
    code = main([*map(str, logs), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"), "--quiet", *map(str, args)])
    return code, tmp_path / "out"


def test_the_whole_job_writes_every_output(tmp_path, capsys):
    code, out = run(tmp_path)
    assert code == 0
    assert sorted(p.name for p in out.iterdir() if p.name != ".recsys.lock") == [
        "itemsets.parquet", "next.json", "related.json", "report.json", "rules.csv", "rules.parquet",
        "sequences.parquet", "sessions.parquet", "views.parquet"]
    doc = json.loads((out / "related.json").read_text())
    assert doc["version"] == 1 and re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", doc["generated"])
    assert doc["params"]["min_support"] == 3 and doc["params"]["k"] == 5
    assert len(doc["items"]) == 120
    sequences = pd.read_parquet(out / "sequences.parquet").set_index(["antecedent", "consequent"])
    for item, entries in doc["items"].items():
        assert re.match(r"^/archives/\d+$", item) and 1 <= len(entries) <= 5
        assert item not in {e["url"] for e in entries}
        assert set(entries[0]) == {"url", "score", "confidence", "lift", "count", "source"}
        rules_part = [e for e in entries if e["source"] == "rules"]
        # ranked by the rule's tier (sequences.parquet), then score
        ranks = [(int(sequences.loc[(item, e["url"]), "tier"]), -e["score"]) for e in rules_part]
        assert ranks == sorted(ranks)
        assert all(e["count"] >= 1 for e in rules_part)  # sequential rules: no reader threshold, tiers
    # next.json: the widget's rules, each article's best max_rules (100) of sequences.parquet, compact
    text = (out / "next.json").read_text()
    following = json.loads(text)
    assert text.count("\n") == 1 and " " not in text
    assert (following["version"], following["k"], following["recent"], following["max_rules"]) == (1, 5, 5, 100)
    published = sequences[sequences["admitted"]].reset_index()
    for i, (a, tiers) in enumerate(zip(following["articles"], following["rules"])):
        best = published[published["antecedent"] == a].head(100)
        assert [(following["articles"][b], sc, t) for t in (1, 2) for b, sc in zip(tiers[t - 1][::2], tiers[t - 1][1::2])
                ] == list(zip(best["consequent"], best["score"], best["tier"]))
    report = json.loads((out / "report.json").read_text())
    assert report["accounting"]["views"] == report["counts"]["views"] == 6150
    assert {r["method"] for r in report["evaluation"]} == {"rules", "popular"}
    rules_hr = {r["method"]: r["hr"] for r in report["evaluation"]}
    assert rules_hr["rules"] > rules_hr["popular"]
    assert set(report["timings"]) >= {"read", "sessions", "itemsets", "rules", "recommend", "evaluate", "write", "total"}
    assert report["publication"] == {
        "published": True, "forced": False, "problem": None, "check": None, "articles_with_rules": 120,
        "published_articles_with_rules": None, "published_generated": None, "min_lists_kept": 0.5, "kept": [],
        "counted": "lists from trusted rules (read together from --tier-min 2 sources)"}
    assert report["counts"]["articles_with_rules"] == report["counts"]["articles_with_trusted_rules"] == 120
    printed = capsys.readouterr().out
    assert "readers of the 10 most read articles also read:" in printed and "HR@5" in printed


def test_no_visitor_id_or_address_is_published(tmp_path):
    code, out = run(tmp_path)
    raw_ids = set(pd.read_parquet(out / "views.parquet").visitor)
    assert not any(UUID.fullmatch(str(v)) for v in raw_ids)  # salted hashes, not cookies
    for name in ("related.json", "next.json", "rules.csv", "report.json"):
        text = (out / name).read_text()
        assert not UUID.search(text), name
        assert not re.search(r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b", text), name
    # the examples of malformed lines lose their addresses (IPv6 too), not their times
    examples = [e["text"] for e in json.loads((out / "report.json").read_text())["accounting"]["examples"]]
    assert examples and all(e.startswith("<address> - - [") for e in examples)
    assert all(re.search(r"\[\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} \+0000\]", e) for e in examples)
    assert mask_text("::ffff:10.0.0.1 and [2001:db8::2]:443 at 2024:10:15:32") == (
        "<address> and [<address>]:443 at 2024:10:15:32")
    assert "ip" not in pd.read_parquet(out / "views.parquet").columns
    assert "network" not in pd.read_parquet(out / "sessions.parquet").columns
    # the salt is the installation's: the same visitor gets the same id on the next run
    again = tmp_path / "again"
    main([str(SAMPLE), "--out", str(again), "--cache", str(tmp_path / "cache"), "--quiet"])
    assert set(pd.read_parquet(again / "views.parquet").visitor) == raw_ids


def test_a_crash_never_leaves_half_a_file(tmp_path, monkeypatch):
    code, out = run(tmp_path)
    before = (out / "related.json").read_bytes(), (out / "next.json").read_bytes()

    monkeypatch.setattr("recsys.pipeline.write_related", lambda path, doc, **how: _crash(path))
    assert run(tmp_path, "--k", "3")[0] == 130
    assert ((out / "related.json").read_bytes(), (out / "next.json").read_bytes()) == before
    assert not list(out.glob(".*.tmp"))


def _crash(path):
    from recsys.atomic import atomic_write

    with atomic_write(path) as f:
        f.write('{"version": 1, "items": {')  # half a document, then the machine goes down
        raise KeyboardInterrupt


def test_a_rerun_reads_from_the_cache_and_gives_the_same_outputs(tmp_path):
    run(tmp_path)
    first = json.loads((tmp_path / "out" / "related.json").read_text())
    run(tmp_path)
    second = json.loads((tmp_path / "out" / "related.json").read_text())
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert set(report["cache"].values()) == {"cached"}
    assert first["items"] == second["items"] and first["params"] == second["params"]
    cold = tmp_path / "cold"
    main([str(SAMPLE), "--out", str(cold), "--no-cache", "--quiet"])
    assert json.loads((cold / "related.json").read_text())["items"] == first["items"]


def test_titles_and_blog_exports(tmp_path):
    code, out = run(tmp_path, "--no-evaluate", "--titles", SAMPLE / "feed.xml", "--export", "hugo,csv")
    assert code == 0
    titles = recsys.load_titles(SAMPLE / "feed.xml")
    doc = json.loads((out / "related.json").read_text())
    entries = [e for es in doc["items"].values() for e in es]
    assert any("title" in e for e in entries)
    assert all(e["title"] == titles[e["url"]] for e in entries if "title" in e)
    assert all("title" in e for e in entries if e["url"] in titles)
    assert sorted(str(p.relative_to(out / "blog")) for p in (out / "blog").rglob("*") if p.is_file()) == [
        "hugo/data/related.json", "hugo/layouts/partials/related.html", "related.csv"]
    hugo = json.loads((out / "blog" / "hugo" / "data" / "related.json").read_text())
    assert hugo["items"] == {a: [{k: e[k] for k in ("url", "title") if k in e} for e in es]
                             for a, es in doc["items"].items()}
    assert "titles" not in doc["params"] and "export" not in doc["params"]


def test_export_all_from_a_config_list(tmp_path):
    conf = tmp_path / "recsys.toml"
    conf.write_text('export = ["widget", "wordpress"]\n')
    code, out = run(tmp_path, "--no-evaluate", "--config", str(conf))
    assert code == 0 and sorted(p.name for p in (out / "blog").iterdir()) == ["widget", "wordpress"]
    code, out = run(tmp_path, "--no-evaluate", "--export", "all")
    assert sorted(p.name for p in (out / "blog").iterdir()) == ["hexo", "hugo", "related.csv", "widget", "wordpress"]


def no_logs_read(monkeypatch):
    """Make reading the logs or mining fail the test: what must fail first is checked before them."""
    for seam in ("cached_page_views", "read_page_views", "train"):
        monkeypatch.setattr(f"recsys.pipeline.{seam}", lambda *a, **k: pytest.fail("read the logs before the titles"))


def test_a_wrong_titles_file_fails_before_mining(tmp_path, capsys, monkeypatch):
    no_logs_read(monkeypatch)
    assert run(tmp_path, "--titles", SAMPLE / "access.log")[0] == 1
    err = capsys.readouterr().err
    assert err.startswith("recsys: error: ") and "access.log" in err and "url,title" in err


def test_config_file_and_the_command_line_wins(tmp_path):
    conf = tmp_path / "recsys.toml"
    conf.write_text(f'logs = ["{SAMPLE}"]\nk = 3\nmin-support = 0.002\ngap = "20min"\n')
    assert main(["--config", str(conf), "--out", str(tmp_path / "o1"), "--quiet", "--no-cache", "--no-evaluate"]) == 0
    p = json.loads((tmp_path / "o1" / "related.json").read_text())["params"]
    assert (p["k"], p["min_support"], p["gap"]) == (3, 0.002, "20min")
    assert main(["--config", str(conf), "--k", "4", "--out", str(tmp_path / "o2"), "--quiet", "--no-cache", "--no-evaluate"]) == 0
    assert json.loads((tmp_path / "o2" / "related.json").read_text())["params"]["k"] == 4


@pytest.mark.parametrize("content, message", [
    ('nope = 1\n', "unknown option 'nope'"),
    ('k = "many"\n', "k must be an integer; got 'many' (a TOML string)"),
    ('basket = "day"\n', "basket must be one of session, visitor"),
    ('k = \n', "is not valid TOML"),
])
def test_bad_config_exits_2_with_one_line(tmp_path, capsys, content, message):
    conf = tmp_path / "recsys.toml"
    conf.write_text(content)
    with pytest.raises(SystemExit) as e:
        main([str(SAMPLE), "--config", str(conf)])
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_a_data_error_is_one_line_on_stderr_and_exit_1(tmp_path, capsys):
    assert run(tmp_path, "--log-format", "tsv", logs=[DATA / "combined_ut.log"])[0] == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("recsys: error: ") and "--log-format" in err[0]
    assert run(tmp_path, logs=[DATA / "nope.log"])[0] == 1
    assert "no such file or directory" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    ([], "give LOGS"),
    (["x", "--max-per-minute", "0"], "argument --max-per-minute: must be at least 1; got 0"),
    (["x", "--min-support", "lots"], "expected a fraction such as 0.002 or a count such as 3"),
    (["x", "--max-len", "0"], "argument --max-len: must be at least 1"),
    (["x", "--min-confidence", "2"], "argument --min-confidence: must be between 0 and 1"),
    (["x", "--k", "0"], "argument --k: must be at least 1"),
    (["x", "--rank-by", "beauty"], "invalid choice: 'beauty'"),
    (["x", "--export", "hugo,jekyll"], "jekyll: give a comma-separated list of hugo, hexo, wordpress, widget, csv"),
])
def test_usage_errors_exit_2(args, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(args)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_mining_options_reach_the_miners(tmp_path, capsys):
    code, out = run(tmp_path, "--min-support", "0.002", "--algorithm", "apriori", "--basket", "visitor", "--no-evaluate")
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["params"]["algorithm"] == "apriori" and report["evaluation"] is None
    assert "--no-evaluate" in report["evaluation_skipped"]
    itemsets = pd.read_parquet(out / "itemsets.parquet")
    assert (itemsets["count"] >= 0.002 * report["counts"]["sessions"]).all()


def test_max_antecedent_len_reaches_the_miner(tmp_path):
    code, out = run(tmp_path / "default", "--no-evaluate")
    assert code == 0
    code, short = run(tmp_path / "short", "--no-evaluate", "--max-antecedent-len", "1")
    assert code == 0
    rules, one = (pd.read_parquet(o / "rules.parquet") for o in (out, short))
    sizes = rules["antecedents"].map(len)
    assert sizes.max() == 2 and set(one["antecedents"].map(len)) == {1}  # the rules from two articles are gone
    assert len(one) == (sizes == 1).sum() < len(rules)
    assert pd.read_csv(short / "rules.csv").shape[0] == len(one)
    assert pd.read_parquet(short / "itemsets.parquet").equals(pd.read_parquet(out / "itemsets.parquet"))
    doc, doc_one = (json.loads((o / "related.json").read_text()) for o in (out, short))
    assert doc["params"]["max_antecedent_len"] is None and doc_one["params"]["max_antecedent_len"] == 1
    assert json.loads((short / "report.json").read_text())["params"]["max_antecedent_len"] == 1
    # an article's list is made of the rules from that one article: the published lists stay the same
    assert doc_one["items"] == doc["items"]


def test_help_ends_with_an_example():
    assert build_parser().format_help().rstrip().splitlines()[-1].strip().startswith("python -m recsys.mine")


def test_every_flag_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    flags = {s for a in build_parser()._actions for s in a.option_strings if s.startswith("--")}
    missing = sorted(f for f in flags - {"--help"} if f not in readme)
    assert not missing, f"flags missing from README.md: {missing}"


def test_a_closed_pipe_prints_no_traceback(tmp_path):
    # `true` exits at once, so every write of recsys meets a closed pipe (like `| head`)
    cmd = (f"set -o pipefail; {sys.executable} -m recsys.mine {DATA / 'combined_ut.log'} --quiet "
           f"--out {tmp_path / 'o'} --no-cache | true")
    done = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 1  # recsys saw the broken pipe and stopped quietly
    assert done.stderr == ""


# The publication guard ----------------------------------------------------------------------------------------
def published(out):
    """Every output a run publishes, by path, as bytes (not the report, which every run writes)."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name not in ("report.json", ".recsys.lock")}


def cookieless(tmp_path):
    """The two newest sample files as nginx's `combined` writes them: the same lines without the cookie."""
    logs = tmp_path / "cookieless"
    logs.mkdir()
    for name in ("access.log", "access.log.1"):
        lines = (SAMPLE / name).read_text().splitlines()
        (logs / name).write_text("".join(re.sub(r' "[^"]*"$', "", line) + "\n" for line in lines))
    return logs


@pytest.mark.parametrize("bad, cause", [
    (["--article-pattern", "^/nothing$"], "matches the article pattern '^/nothing$'"),
    (["--article-pattern", "hugo"], "matches the article pattern 'hugo'"),
    ("cookieless", "the cookie UT_ID is not in the logs: read them with --visitor ip+ua"),
])
def test_a_run_without_page_views_keeps_the_published_outputs(tmp_path, capsys, bad, cause):
    assert run(tmp_path, "--no-evaluate", "--export", "hugo")[0] == 0
    out = tmp_path / "out"
    before = published(out)
    assert "related.json" in before and "blog/hugo/data/related.json" in before
    capsys.readouterr()
    if bad == "cookieless":
        code, _ = run(tmp_path, "--no-evaluate", "--export", "hugo", logs=[cookieless(tmp_path)])
    else:
        code, _ = run(tmp_path, "--no-evaluate", "--export", "hugo", *bad)
    assert code == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and err[0].startswith("recsys: not published: no page views") and cause in err[0]
    assert err[0].endswith(f"the outputs in {out} are kept as they were (--force publishes anyway)")
    if bad == "cookieless":  # then what recsys.check sees in the latest lines: the fix
        assert "none of the" in err[1] and "carries a visitor id" in err[1] and "--visitor ip+ua" in err[1]
    else:  # the pages read most, and a pattern that matches them
        assert "the pages read most: / (703), /archives/493 (378)," in err[1]
        assert err[1].endswith("give --article-pattern openresty (or a preset: openresty, hugo, hexo, wordpress)")
    assert published(out) == before  # byte for byte
    report = json.loads((out / "report.json").read_text())
    assert report["counts"]["views"] == 0 and report["evaluation"] is None and report["evaluation_skipped"]
    kept = report["publication"]
    assert kept["published"] is False and kept["forced"] is False and cause in kept["problem"] + kept["check"]
    assert kept["kept"] == ["related.json", "next.json", "rules.csv", "rules.parquet", "sequences.parquet",
                            "itemsets.parquet", "sessions.parquet", "views.parquet", "blog"]
    assert kept["published_articles_with_rules"] == 120 and kept["articles_with_rules"] == 0
    assert kept["published_generated"] == json.loads(before["related.json"])["generated"]


def test_force_publishes_what_the_guard_refuses(tmp_path, capsys):
    assert run(tmp_path, "--no-evaluate")[0] == 0
    capsys.readouterr()
    code, out = run(tmp_path, "--no-evaluate", "--article-pattern", "^/nothing$", "--force")
    assert code == 0
    assert json.loads((out / "related.json").read_text())["items"] == {}
    publication = json.loads((out / "report.json").read_text())["publication"]
    assert publication["published"] is True and publication["forced"] is True and publication["kept"] == []
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("recsys: warning: published with --force although no page views")


def test_far_fewer_trusted_lists_than_published_is_refused_by_a_threshold(tmp_path, capsys):
    # under the default ranking one day of the sample gives lists from rules for 73 of its 81 articles,
    # but lists from trusted rules (pairs read together from 2 sources or more) for 19: too few next to 120
    assert run(tmp_path, "--no-evaluate")[0] == 0
    out = tmp_path / "out"
    before = published(out)
    capsys.readouterr()
    one_day = [SAMPLE / "access.log.3.gz"]
    assert run(tmp_path, "--no-evaluate", logs=one_day)[0] == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and ("lists from trusted rules (read together from --tier-min 2 sources) for 19 articles "
                              "where the published related.json has 120 (fewer than --min-lists-kept 0.5") in err[0]
    assert published(out) == before
    report = json.loads((out / "report.json").read_text())
    assert report["counts"]["articles_with_rules"] == 73 and report["counts"]["articles_with_trusted_rules"] == 19
    assert report["publication"]["articles_with_rules"] == 19
    assert run(tmp_path, "--no-evaluate", "--min-lists-kept", "0.15", logs=one_day)[0] == 0  # 19 >= 0.15 * 120
    assert run(tmp_path, "--no-evaluate", "--min-lists-kept", "0.5")[0] == 0  # 120 >= 0.5 * 19


def test_far_fewer_lists_than_published_is_refused_by_a_threshold(tmp_path, capsys):
    # under the mined rules' thresholds (--ranking rules) one day of the sample gives 4 lists
    assert run(tmp_path, "--no-evaluate", "--ranking", "rules")[0] == 0
    out = tmp_path / "out"
    before = published(out)
    capsys.readouterr()
    one_day = [SAMPLE / "access.log.3.gz"]  # a rotated family left out: one day of logs
    assert run(tmp_path, "--no-evaluate", "--ranking", "rules", logs=one_day)[0] == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "lists from rules for 4 articles where the published related.json has 117" in err[0]
    assert "--min-lists-kept 0.5" in err[0] and published(out) == before
    assert run(tmp_path, "--no-evaluate", "--ranking", "rules", "--min-lists-kept", "0.03", logs=one_day)[0] == 0
    assert len(json.loads((out / "related.json").read_text())["items"]) > 0
    # compared with what is published now (4): the whole sample is more, and 0 turns the comparison off
    assert run(tmp_path, "--no-evaluate", "--ranking", "rules", "--min-lists-kept", "0")[0] == 0


def test_the_first_run_is_judged_on_its_own(tmp_path, capsys):
    code, out = run(tmp_path, "--no-evaluate", logs=[SAMPLE / "access.log.3.gz"])
    assert code == 0 and json.loads((out / "report.json").read_text())["publication"]["published_articles_with_rules"] is None
    capsys.readouterr()
    code, out = run(tmp_path / "other", "--no-evaluate", "--ranking", "rules", "--min-count", "1000")  # no list from rules
    assert code == 1 and not (out / "related.json").exists()
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "rules has --min-count 1000 readers from --min-networks 3 networks" in err[0]
    publication = json.loads((out / "report.json").read_text())["publication"]
    assert publication["published"] is False and publication["kept"] == []
    # under the default ranking: lists from rules, none from a trusted rule
    code, out = run(tmp_path / "third", "--no-evaluate", "--tier-min", "1000")
    assert code == 1 and not (out / "related.json").exists()
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "none of the lists from 4,398 sequential rules has a trusted rule, read together " \
        "from --tier-min 1000 sources" in err[0] and "or lower --tier-min" in err[0]


def test_no_admitted_article_says_what_admission_needs(tmp_path, capsys):
    code, out = run(tmp_path, "--no-evaluate", "--admit-min", "1000")
    assert code == 1 and not (out / "related.json").exists()
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("recsys: not published: none of the 4,398 sequential rules leads to an "
                                               "article read by returning readers from --admit-min 1000 networks")
    assert "--returning-days 7 days apart" in err[0] and "--min-count" not in err[0]


def test_no_rules_says_what_a_rule_needs(tmp_path, capsys):
    code, out = run(tmp_path, "--no-evaluate", "--ranking", "rules", "--min-support", "0.5")
    assert code == 1 and not (out / "related.json").exists()
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("recsys: not published: no rules from 6,150 page views in 2,900 baskets")
    assert all(f in err[0] for f in ("--min-support 0.5 of the baskets", "--min-count 3", "--min-networks 3"))


def test_empty_standard_input_is_not_a_success(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    assert run(tmp_path, logs=["-"])[0] == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "no page views: the logs hold no lines" in err[0]


# Usage errors: checked before any log is read ------------------------------------------------------------------
@pytest.mark.parametrize("args, message", [
    (["--min-support", "2.5"], "argument --min-support: a fraction of the baskets must be in (0, 1]; got '2.5'"),
    (["--min-support", "0"], "a count of baskets must be at least 1; got '0'"),
    (["--min-support", "nan"], "expected a fraction such as 0.002 or a count such as 3; got 'nan'"),
    (["--gap", "abc"], "argument --gap: give a duration with its unit, such as '30min' or '2h'; got 'abc'"),
    (["--gap", "30"], "(a bare number would be read as nanoseconds); got '30'"),
    (["--gap", "0min"], "must be a positive duration"),
    (["--gap=-5min"], "must be a positive duration"),
    (["--article-pattern", "("], "argument --article-pattern: article_pattern must be one of openresty"),
    (["--popular-days", "nan"], "argument --popular-days: must be a positive number; got 'nan'"),
    (["--popular-days", "inf"], "must be a positive number; got 'inf'"),
    (["--popular-days", "-1"], "must be a positive number; got '-1'"),
    (["--min-confidence", "nan"], "argument --min-confidence: must be between 0 and 1; got 'nan'"),
    (["--min-lists-kept", "1.5"], "argument --min-lists-kept: must be between 0 and 1; got '1.5'"),
    (["--k", "2.5"], "argument --k: expected an integer; got '2.5'"),
    (["--spark-conf", "spark.executor.memory"], "argument --spark-conf: expected KEY=VALUE"),
])
def test_wrong_values_are_usage_errors_before_any_log_is_read(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.setattr("recsys.pipeline.run", lambda *a, **k: pytest.fail("ran with a wrong option"))
    with pytest.raises(SystemExit) as e:
        main([str(SAMPLE), "--out", str(tmp_path / "out"), *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and message in err[-1], err[-1]


@pytest.mark.parametrize("content, message", [
    ("gap = 30\n", "gap must be a duration with its unit, a string such as '30min' or '2h'; got 30 (a TOML integer)"),
    ('gap = "30"\n', "(a bare number would be read as nanoseconds)"),
    ("logs = 5\n", "logs must be a string or a list of strings; got 5 (a TOML integer)"),
    ("logs = [5]\n", "logs must be a string or a list of strings; got [5] (a TOML array)"),
    ("out = 5\n", "out must be a string; got 5 (a TOML integer)"),
    ('k = "x"\n', "k must be an integer; got 'x' (a TOML string)"),
    ("k = 2.0\n", "k must be an integer; got 2.0 (a TOML float)"),
    ("k = true\n", "k must be an integer; got True (a TOML boolean)"),
    ("k = [3]\n", "k must be an integer; got [3] (a TOML array)"),
    ("export = 3\n", "export must be a string or a list of strings; got 3 (a TOML integer)"),
    ('export = ["hugo", 3]\n', "export = ['hugo', 3] in {}: expected a comma-separated list"),
    ('cookie = ["sid"]\n', "cookie must be a string; got ['sid'] (a TOML array)"),
    ('no-cache = "yes"\n', "no-cache must be true or false; got 'yes' (a TOML string)"),
    ("min-support = 2.5\n", "min-support = 2.5 in {}: a fraction of the baskets must be in (0, 1]"),
    ("popular-days = nan\n", "popular-days = nan in {}: must be a positive number"),
    ('article-pattern = "("\n', "article-pattern = '(' in {}: article_pattern must be one of"),
    ("keep-query = [1]\n", "keep-query must be a string or a list of strings; got [1]"),
    ("min-lists-kept = {a = 1}\n", "min-lists-kept must be a number; got {'a': 1} (a TOML table)"),
])
def test_every_config_value_is_type_checked(tmp_path, capsys, content, message):
    conf = tmp_path / "recsys.toml"
    conf.write_text(content)
    with pytest.raises(SystemExit) as e:
        main([str(SAMPLE), "--config", str(conf), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and err[-1].startswith("python -m recsys.mine: error: --config: ")
    assert message.replace("{}", str(conf)) in err[-1], err[-1]


def test_config_strings_stand_for_one_item_lists(tmp_path):
    conf = tmp_path / "recsys.toml"
    conf.write_text(f'logs = "{SAMPLE / "access.log.3.gz"}"\nkeep-query = "p"\nexport = "csv"\ngap = "1h"\n')
    args = mine.parse(["--config", str(conf)])
    s = args.settings
    assert (args.logs, s.views.keep_query, s.output.export, s.sessions.gap) == (
        [str(SAMPLE / "access.log.3.gz")], ("p",), ("csv",), "1h")


# No traceback reaches a user -------------------------------------------------------------------------------------
def corrupt_gzip(path):
    raw = gzip.compress((SAMPLE / "feed.xml").read_bytes())
    path.write_bytes(raw[:10] + bytes(b ^ 0xFF for b in raw[10:60]) + raw[60:])  # zlib.error in the middle
    return path


def test_a_corrupt_gzip_of_titles_is_an_error_naming_the_file(tmp_path, capsys, monkeypatch):
    no_logs_read(monkeypatch)
    feed = corrupt_gzip(tmp_path / "feed.xml.gz")
    assert run(tmp_path, "--titles", feed)[0] == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"recsys: error: cannot read titles from {feed}: ")
    assert "gzip" in err[0] and "corrupt" in err[0]


def test_an_unexpected_error_is_one_line_and_a_private_log(tmp_path, capsys, monkeypatch):
    def bug(*args, **kwargs):
        raise TypeError("dtype of categories must be the same")

    monkeypatch.setattr("recsys.model.sessionize", bug)
    assert run(tmp_path)[0] == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1, err
    m = re.fullmatch(r"recsys: unexpected error: TypeError: dtype of categories must be the same; "
                     r"the details are in (.+)", err[0])
    assert m, err[0]
    crash = Path(m[1])
    assert crash.parent == tmp_path / "cache" and re.fullmatch(r"crash-\d{8}T\d{6}\.log", crash.name)
    assert crash.stat().st_mode & 0o777 == 0o600
    text = crash.read_text()
    assert text.startswith(f"recsys {recsys.__version__}, Python ")
    assert f"command: python -m recsys.mine {SAMPLE} --out {tmp_path / 'out'}" in text
    assert "Traceback (most recent call last):" in text and "in bug" in text
    # a second crash in the same second gets a file of its own
    assert run(tmp_path)[0] == 1
    second = Path(re.search(r"the details are in (.+)", capsys.readouterr().err)[1])
    assert second != crash and second.parent == crash.parent


def test_a_crash_log_goes_to_a_private_temporary_file_when_the_cache_cannot_be_written(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("recsys.pipeline.run", lambda *args, **kwargs: {}["no such key"])
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    assert main([str(SAMPLE), "--out", str(tmp_path / "out"), "--cache", str(blocked / "cache")]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("recsys: unexpected error: KeyError: 'no such key'; the details are in ")
    crash = Path(err[0].rsplit(" ", 1)[1])
    try:
        assert crash.parent == Path(tempfile.gettempdir()) and crash.name.startswith("recsys-crash-")
        assert crash.stat().st_mode & 0o777 == 0o600 and "KeyError" in crash.read_text()
    finally:
        crash.unlink()


SITECUSTOMIZE = """\
import recsys.model

def bug(*args, **kwargs):
    raise ZeroDivisionError("a bug recsys did not expect")

recsys.model.sessionize = bug
"""


def test_no_traceback_reaches_a_user_of_the_real_command(tmp_path):
    def recsys_mine(*args, env=None):
        return subprocess.run([sys.executable, "-m", "recsys.mine", *map(str, args), "--quiet", "--top", "0",
                               "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache")],
                              capture_output=True, text=True, cwd=ROOT, env=env)

    conf = tmp_path / "recsys.toml"
    conf.write_text("logs = 5\n")
    feed = corrupt_gzip(tmp_path / "feed.xml.gz")
    inject = tmp_path / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(inject), str(ROOT)])}
    cases = [
        (recsys_mine("--config", conf), 2, "--config: logs must be a string or a list of strings"),
        (recsys_mine(SAMPLE, "--titles", feed), 1, "recsys: error: cannot read titles from"),
        (recsys_mine(SAMPLE, "--gap", "30"), 2, "a bare number would be read as nanoseconds"),
        (recsys_mine(SAMPLE, "--no-evaluate", "--article-pattern", "^/nothing$"), 1, "recsys: not published: no page"),
        (recsys_mine(SAMPLE, "--no-evaluate", env=env), 1,
         "recsys: unexpected error: ZeroDivisionError: a bug recsys did not expect; the details are in "),
    ]
    for done, code, message in cases:
        assert done.returncode == code and "Traceback" not in done.stderr, done.stderr
        lines = done.stderr.splitlines()
        assert message in lines[0] and len(lines) == (2 if "no page" in message else 1), lines  # + what check sees
    crash = Path(cases[-1][0].stderr.split("the details are in ")[1].strip())
    assert crash.parent == tmp_path / "cache" and "ZeroDivisionError" in crash.read_text()


# The report's example lines ---------------------------------------------------------------------------------
SIDS = ["S_GbDt8yBIKyAuFOAildSk", "YN36qxVq13S5SoQaX4sx2-", "xcZ4aGxEdKXuHWdmLkt06G", "36-g8briFFGUsAlARI2cyc",
        "k3j4h5g6f7d8s9a0q1w2e3r4t5", "9f86d081884c7d659a2feaa0c55ad015"]
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
SID_FORMAT = ('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" '
              '"$http_user_agent" "$cookie_sid"')


def test_the_reports_examples_mask_any_cookie_and_keep_user_agents(tmp_path):
    views = [f'10.0.{i}.7 - - [15/Mar/2024:10:{i:02d}:00 +0000] "GET /archives/{i % 3} HTTP/1.1" 200 512 "-" '
             f'"{CHROME}" "{SIDS[i % len(SIDS)]}"' for i in range(12)]
    malformed = [  # an impossible time, bad request lines (the format matches), a status and a cut line (it does not)
        f'198.51.100.8 - bob [31/Feb/2024:10:41:00 +0000] "GET /archives/1 HTTP/1.1" 200 512 "-" "{CHROME}" "{SIDS[0]}"',
        f'198.51.100.7 - alice [15/Mar/2024:10:40:00 +0000] "\\x16\\x03\\x01\\x00" 400 157 "-" "{CHROME}" "{SIDS[1]}"',
        f'2001:db8::9 - carol [15/Mar/2024:10:42:00 +0000] "GET" 200 512 "-" "{CHROME}" "{SIDS[2]}"',
        f'198.51.100.9 - - [15/Mar/2024:10:43:00 +0000] "GET /archives/1 HTTP/1.1" abc 512 "-" "{CHROME}" "{SIDS[3]}"',
        f'198.51.100.10 - - [15/Mar/2024:10:44:00 +0000] "GET /archives/2 HTTP/1.1" 200 512 "-" "{CHROME}" "{SIDS[4]}',
        f'198.51.100.11 - - [15/Mar/2024:10:45:00 +0000] "GET /archives/2 HTTP/1.1" 2000 5 "-" "{CHROME}" "{SIDS[5]}"',
    ]
    log = tmp_path / "access.log"
    log.write_text("\n".join(views + malformed) + "\n")
    run(tmp_path, "--log-format", SID_FORMAT, "--cookie", "sid", "--no-evaluate", logs=[log])
    text = (tmp_path / "out" / "report.json").read_text()
    examples = [e["text"] for e in json.loads(text)["accounting"]["examples"]]
    assert len(examples) == len(malformed)
    for secret in SIDS + ["198.51.100.", "2001:db8::9", "alice", "bob", "carol"]:
        assert secret not in text, secret
    assert all(CHROME in e and "<address>" in e and "<visitor>" in e for e in examples), examples
    masked_by_format = [e for e in examples if e.startswith("<address> - <user> [")]
    assert len(masked_by_format) == 3  # bob, alice, carol: their lines still match the format


# The output folder: one run at a time, and what killed runs left -----------------------------------------------
def test_stale_temporary_files_of_killed_runs_are_removed(tmp_path):
    out = tmp_path / "out"
    (out / "blog" / "hugo" / "data").mkdir(parents=True)
    stale = [out / ".related.json.k2x_9abc.tmp", out / ".rules.parquet.0a1b2c3d.tmp",
             out / "blog" / "hugo" / "data" / ".related.json.zz_zz_zz.tmp"]
    others = [out / "notes.tmp", out / ".related.json.tmp", out / "blog" / ".keep"]
    for p in stale + others:
        p.write_bytes(b"")
    assert run(tmp_path, "--no-evaluate", "--export", "hugo")[0] == 0
    assert not any(p.exists() for p in stale) and all(p.exists() for p in others)


def test_a_second_run_into_the_same_folder_stops_at_once(tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    stale = out / ".related.json.k2x_9abc.tmp"  # might be the running one's: left alone
    stale.write_bytes(b"")
    monkeypatch.setattr("recsys.pipeline.run", lambda *a, **k: pytest.fail("ran while another run held the lock"))
    with open(out / ".recsys.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert run(tmp_path)[0] == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [f"recsys: error: another run of recsys is writing into {out} (it holds {out / '.recsys.lock'}); "
                   "let it finish, or give this one another --out"]
    assert stale.exists()

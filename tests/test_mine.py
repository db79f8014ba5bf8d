import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import recsys
import recsys.mine as mine
from recsys.mine import build_parser, main

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
    assert sorted(p.name for p in out.iterdir()) == [
        "itemsets.parquet", "related.json", "report.json", "rules.csv", "rules.parquet", "sessions.parquet",
        "views.parquet"]
    doc = json.loads((out / "related.json").read_text())
    assert doc["version"] == 1 and re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", doc["generated"])
    assert doc["params"]["min_support"] == 3 and doc["params"]["k"] == 5
    assert len(doc["items"]) == 120
    for item, entries in doc["items"].items():
        assert re.match(r"^/archives/\d+$", item) and 1 <= len(entries) <= 5
        assert item not in {e["url"] for e in entries}
        assert set(entries[0]) == {"url", "score", "confidence", "lift", "count", "source"}
        rules_part = [e for e in entries if e["source"] == "rules"]
        assert [e["score"] for e in rules_part] == sorted((e["score"] for e in rules_part), reverse=True)
        assert all(e["count"] >= 3 for e in rules_part)
    report = json.loads((out / "report.json").read_text())
    assert report["accounting"]["views"] == report["counts"]["views"] == 6150
    assert {r["method"] for r in report["evaluation"]} == {"rules", "popular"}
    rules_hr = {r["method"]: r["hr"] for r in report["evaluation"]}
    assert rules_hr["rules"] > rules_hr["popular"]
    assert set(report["timings"]) >= {"read", "sessions", "itemsets", "rules", "recommend", "evaluate", "write", "total"}
    printed = capsys.readouterr().out
    assert "readers of the 10 most read articles also read:" in printed and "HR@5" in printed


def test_no_visitor_id_or_address_is_published(tmp_path):
    code, out = run(tmp_path)
    raw_ids = set(pd.read_parquet(out / "views.parquet").visitor)
    assert not any(UUID.fullmatch(str(v)) for v in raw_ids)  # salted hashes, not cookies
    for name in ("related.json", "rules.csv", "report.json"):
        text = (out / name).read_text()
        assert not UUID.search(text), name
        assert not re.search(r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b", text), name
    # the examples of malformed lines lose their addresses (IPv6 too), not their times
    examples = [e["text"] for e in json.loads((out / "report.json").read_text())["accounting"]["examples"]]
    assert examples and all(e.startswith("<address> - - [") for e in examples)
    assert all(re.search(r"\[\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} \+0000\]", e) for e in examples)
    assert mine._ADDRESS.sub("<address>", "::ffff:10.0.0.1 and [2001:db8::2]:443 at 2024:10:15:32") == (
        "<address> and [<address>]:443 at 2024:10:15:32")
    assert "ip" not in pd.read_parquet(out / "views.parquet").columns
    assert "network" not in pd.read_parquet(out / "sessions.parquet").columns
    # the salt is the installation's: the same visitor gets the same id on the next run
    again = tmp_path / "again"
    main([str(SAMPLE), "--out", str(again), "--cache", str(tmp_path / "cache"), "--quiet"])
    assert set(pd.read_parquet(again / "views.parquet").visitor) == raw_ids


def test_a_crash_never_leaves_half_a_file(tmp_path, monkeypatch):
    code, out = run(tmp_path)
    before = (out / "related.json").read_bytes()

    monkeypatch.setattr(mine, "write_related", lambda path, doc: _crash(path))
    assert run(tmp_path, "--k", "3")[0] == 130
    assert (out / "related.json").read_bytes() == before
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


def test_a_wrong_titles_file_fails_before_mining(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(mine, "_mine_local", lambda *a: pytest.fail("mined before reading the titles"))
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
    ('k = "many"\n', "k = 'many'"),
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
    (["x", "--max-per-minute", "0"], "--max-per-minute must be at least 1"),
    (["x", "--min-support", "lots"], "expected a fraction such as 0.002 or a count such as 3"),
    (["x", "--max-len", "0"], "--max-len must be at least 1"),
    (["x", "--min-confidence", "2"], "--min-confidence must be between 0 and 1"),
    (["x", "--k", "0"], "--k must be at least 1"),
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
    assert report["params"]["algorithm"] == "apriori" and report["evaluation_skipped"] == "--no-evaluate"
    itemsets = pd.read_parquet(out / "itemsets.parquet")
    assert (itemsets["count"] >= 0.002 * report["counts"]["sessions"]).all()


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

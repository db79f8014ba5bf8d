"""Seeing the result: titles in the summary (and ``make demo``), and ``python -m recsys.show``.

The figures ``recsys.show`` gives are checked against brute force over the run's own views and
baskets (its visitors and addresses, before they are hashed and dropped from the outputs), and
against hand-written logs whose readers and networks are known.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest

import recsys
from recsys import Settings
from recsys.show import explain, main, render

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"


def feed_titles() -> dict[str, str]:
    """Path -> title of the sample's RSS feed, read here with ElementTree (not recsys.load_titles)."""
    root = ET.parse(SAMPLE / "feed.xml").getroot()
    return {re.sub(r"^https?://[^/]+", "", item.findtext("link")): item.findtext("title")
            for item in root.iter("item")}


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    """The sample mined as the demo mines it, and the folder it wrote."""
    out = tmp_path_factory.mktemp("out")
    run = recsys.run(str(SAMPLE), Settings.from_mapping(evaluate=False, titles=str(SAMPLE / "feed.xml"),
                                                        ranking="rules"),
                     cache=tmp_path_factory.mktemp("cache"))
    assert run.write(out).published
    return run, out


# titles in the summary ---------------------------------------------------------------------------------
def test_make_demo_prints_titles_from_the_sample_feed(tmp_path):
    """The demo's command line, as the Makefile gives it, prints the lists with the feed's titles."""
    recipe = re.search(r"^demo:.*\n\t(.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE).group(1)
    argv = shlex.split(recipe.replace("$(BIN)/python", shlex.quote(sys.executable)))
    assert "--titles" in argv
    argv[argv.index("--out") + 1] = str(tmp_path / "out")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([*argv, "--cache", str(tmp_path / "cache"), "--no-evaluate"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    lists = done.stdout.split("most read articles also read:\n", 1)[1].split("\n  (* popular fill)")[0]
    lines = lists.splitlines()
    assert len(lines) == 10
    titles = feed_titles()
    top = json.loads((tmp_path / "out" / "report.json").read_text())  # the most read: /archives/493
    assert top["counts"]["articles"] == 120
    assert lines[0].startswith(f"  {titles['/archives/493']} → ")  # "Taming file permissions with systemd → ..."
    for line in lines:
        article, _, entries = line.strip().partition(" → ")
        assert article in titles.values()
        assert all(e.rstrip("*") in titles.values() for e in entries.split(" · "))


def test_the_summary_falls_back_to_the_url_where_a_title_is_missing(sample_run, tmp_path):
    run, _ = sample_run
    titles = feed_titles()
    kept = {u: t for u, t in titles.items() if u != "/archives/391"}  # the first entry of /archives/493's list
    csv = tmp_path / "titles.csv"
    pd.DataFrame({"url": list(kept), "title": list(kept.values())}).to_csv(csv, index=False)
    with_csv = dataclasses.replace(run, titles=recsys.load_titles(str(csv)))
    first = with_csv.summary(top=1).split("also read:\n", 1)[1].splitlines()[0]
    assert first.startswith(f"  {titles['/archives/493']} → /archives/391 · ")
    plain = dataclasses.replace(run, titles=None).summary(top=1)
    assert "  /archives/493: /archives/391, " in plain  # no titles: the URLs, as before


# recsys.show ------------------------------------------------------------------------------------------
def brute_force(run, item: str) -> dict:
    """For each article read with ``item`` in a basket: baskets, readers and networks, from the run's
    own sessions (visitors as read, addresses' networks)."""
    stats: dict[str, list] = {}
    for items, visitor, network in zip(run.sessions["items"], run.sessions["visitor"], run.sessions["network"]):
        if item in items:
            for other in set(items) - {item}:
                s = stats.setdefault(other, [0, set(), set()])
                s[0] += 1
                s[1].add(visitor)
                s[2].add(network)
    return {u: {"baskets": b, "readers": len(r), "networks": len(n)} for u, (b, r, n) in stats.items()}


def test_each_entry_has_its_rule_or_its_popular_readers(sample_run):
    run, out = sample_run
    result = explain(out, "/archives/493")
    related = json.loads((out / "related.json").read_text())["items"]["/archives/493"]
    assert [e["url"] for e in result["entries"]] == [e["url"] for e in related]
    truth = brute_force(run, "/archives/493")
    for e in result["entries"]:
        assert e["source"] == "rules"
        t = truth[e["url"]]
        assert (e["readers"], e["networks"], e["baskets"]) == (t["readers"], t["networks"], t["baskets"])
        assert e["confidence"] == pytest.approx(t["baskets"] / sum("/archives/493" in s for s in run.sessions["items"]),
                                                abs=1e-6)
    assert result["title"] == "Taming file permissions with systemd" and result["why"] == [] and result["short"] == {}
    # popular fill: the readers in the last popular_days of the views
    result = explain(out, "/archives/323")
    views = run.views.assign(url=run.views["url"].astype(str))
    recent = views[views["ts"] > views["ts"].max() - pd.Timedelta(days=7)]
    fills = [e for e in result["entries"] if e["source"] == "popular"]
    assert fills and all(e["readers"] == recent.loc[recent["url"] == e["url"], "visitor"].nunique() for e in fills)
    text = render(result)
    assert f"4. /archives/493 “Taming file permissions with systemd”: popular fill ({fills[0]['readers']} readers " \
           "in the last 7 days)" in text


def test_why_a_list_is_short_accounts_for_every_article_read_with_it(sample_run):
    run, out = sample_run
    result = explain(out, "/archives/323")
    truth = brute_force(run, "/archives/323")
    from_rules = {e["url"] for e in result["entries"] if e["source"] == "rules"}
    assert len(from_rules) == 3
    short = result["short"]
    assert set(short) == {"min_support"}
    assert sorted([c["url"] for c in short["min_support"]] + sorted(from_rules)) == sorted(truth)
    assert all(truth[c["url"]]["baskets"] == c["baskets"] < 3 for c in short["min_support"])
    assert all(truth[u]["baskets"] >= 3 for u in from_rules)
    assert (result["baskets"], result["readers"], result["total_baskets"]) == (
        sum("/archives/323" in s for s in run.sessions["items"]),
        run.sessions.loc[run.sessions["items"].map(lambda s: "/archives/323" in s), "visitor"].nunique(),
        len(run.sessions))
    assert "23 read with it in fewer than 3 baskets (--min-support 3)" in render(result)


def test_the_url_in_either_form_or_whole(sample_run):
    _, out = sample_run
    want = explain(out, "/archives/493")
    for given in ("/archives/493/", "https://blog.example.org/archives/493?utm_source=feed", "archives/493",
                  "/archives//493"):
        assert explain(out, given) == want


def test_an_article_nobody_read_and_a_page_that_is_no_article(sample_run, capsys):
    _, out = sample_run
    assert main([str(out), "/archives/999"]) == 1
    text = capsys.readouterr().out
    assert "no list in related.json" in text and "not among the page views" in text
    assert main([str(out), "/about/"]) == 1
    assert "/about does not match the article pattern 'openresty'" in capsys.readouterr().out
    assert main([str(out), "/archives/493"]) == 0


def test_no_outputs_is_exit_2(tmp_path, capsys):
    assert main([str(tmp_path), "/archives/1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds no outputs of a run" in err and "--out" in err
    with pytest.raises(SystemExit) as e:
        main([str(tmp_path)])
    assert e.value.code == 2 and capsys.readouterr().err.strip().endswith("(see --help)")


def office_log(path: Path, *, form: str = "/posts/{}/") -> None:
    """Readers of two hugo posts: four on one office network read a and b together (one network), two
    read a and c (two networks, too few readers), and a and d are read together once."""
    rows = []

    def view(minute: int, ip: str, visitor: str, post: str) -> None:
        rows.append(f'{ip} - - [01/Mar/2024:10:{minute:02d}:00 +0000] "GET {form.format(post)} HTTP/1.1" 200 512 '
                    f'"-" "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0" "{visitor}"')

    for i in range(4):
        view(2 * i, f"198.51.100.{10 + i}", f"office-{i}", "a")
        view(2 * i + 1, f"198.51.100.{10 + i}", f"office-{i}", "b")
    for i in range(2):
        view(20 + 2 * i, f"203.0.{113 + i}.7", f"home-{i}", "a")
        view(21 + 2 * i, f"203.0.{113 + i}.7", f"home-{i}", "c")
    view(40, "192.0.2.1", "once", "a")
    view(41, "192.0.2.1", "once", "d")
    path.write_text("\n".join(rows) + "\n")


@pytest.mark.parametrize("given", ["/posts/a/", "/posts/a", "https://example.org/posts/a"])
def test_rules_short_of_readers_or_networks_are_named(tmp_path, given):
    office_log(tmp_path / "access.log")
    settings = Settings.from_mapping(article_pattern="hugo", min_support=2, min_count=3, min_networks=3,
                                     evaluate=False, ranking="rules")
    run = recsys.run(str(tmp_path / "access.log"), settings, cache=tmp_path / "cache")
    assert run.write(tmp_path / "out", force=True).published  # no rule passes: the guard needs --force
    result = explain(tmp_path / "out", given)
    assert result["url"] == "/posts/a/"  # the blog's form: hugo's URLs end with a slash
    # the fill is ranked by networks (c: 2, b and d: 1 each); the readers shown are its visitors
    assert [(e["url"], e["source"], e["readers"]) for e in result["entries"]] == [
        ("/posts/c/", "popular", 2), ("/posts/b/", "popular", 4), ("/posts/d/", "popular", 1)]
    short = result["short"]
    assert [(c["url"], c["readers"], c["networks"]) for c in short["min_networks"]] == [("/posts/b/", 4, 1)]
    assert [(c["url"], c["readers"], c["networks"]) for c in short["min_count"]] == [("/posts/c/", 2, 2)]
    assert [(c["url"], c["baskets"]) for c in short["min_support"]] == [("/posts/d/", 1)]
    text = render(result)
    assert "1 behind a rule whose readers come from fewer than 3 networks (--min-networks 3): /posts/b/ " \
           "(4 readers, 1 networks)" in text
    assert "1 behind a rule of fewer than 3 readers (--min-count 3): /posts/c/ (2 readers, 2 networks)" in text
    assert "1 read with it in fewer than 2 baskets (--min-support 2): /posts/d/ (1 baskets)" in text


# the default ranking: sequential pair rules ----------------------------------------------------------------
def test_each_entry_has_its_sequential_rule_counted_from_the_sessions(tmp_path):
    """Under ranking="sequences" each entry of the most read article's list shows its rule: the
    sessions holding both (and those reading it after), the networks or readers behind it, counted
    here by brute force over the run's sessions; the fill shows its trusted readers."""
    run = recsys.run(str(SAMPLE), Settings.from_mapping(evaluate=False), cache=tmp_path / "cache")
    assert run.write(tmp_path / "out").published
    item = run.popular.index[0]
    result = explain(tmp_path / "out", item)
    related = json.loads((tmp_path / "out" / "related.json").read_text())["items"][item]
    assert result["ranking"] == "sequences" and [e["url"] for e in result["entries"]] == [e["url"] for e in related]
    sessions = run.sessions.assign(network=run.sessions["network"].astype(object),
                                   visitor=run.sessions["visitor"].astype(str))
    for e in result["entries"]:
        assert e["source"] == "rules"
        both = sessions[[item in s and e["url"] in s for s in sessions["items"]]]
        after = sum(s.index(e["url"]) > s.index(item) for s in both["items"])
        who = both["network"].where(both["network"].notna(), "v:" + both["visitor"])
        assert (e["count"], e["count_after"], e["sources"]) == (len(both), after, who.nunique())
        assert e["tier"] in (1, 2) and e["score"] > 0
    scores = [e["score"] for e in result["entries"]]
    tiers = [e["tier"] for e in result["entries"]]
    assert sorted(zip(tiers, [-s for s in scores])) == list(zip(tiers, [-s for s in scores]))  # tier, then score
    text = render(result)
    first = result["entries"][0]
    assert (f"1. {first['url']}" in text and f"rule: score {first['score']:.3f} (tier {first['tier']})" in text
            and f"{first['count']:,} sessions read both, {first['count_after']:,} of them it after" in text)
    # a list filled with popular articles: their trusted readers, and why the list is short
    lists = run.lists
    filled = lists.loc[lists["source"] == "popular", "item"].iloc[0]
    result = explain(tmp_path / "out", filled)
    fills = [e for e in result["entries"] if e["source"] == "popular"]
    readers = run.sequences.drop_duplicates("consequent").set_index("consequent")["consequent_n"]
    assert fills and all(e["trusted_readers"] == pytest.approx(readers[e["url"]]) for e in fills)
    assert "popular fill (" in render(result) and "trusted readers)" in render(result)
    assert any("other articles" in w for w in result["why"])

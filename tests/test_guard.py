import json

import pytest

from recsys.guard import Verdict, articles_with_rules, judge, read_published


def report(lines=100, views=50, rules=10, with_rules=8, sessions=30, dropped=None, malformed=0, **params):
    dropped = {"asset": lines - views - malformed} if dropped is None else dropped
    return {"counts": {"lines": lines, "views": views, "rules": rules, "articles_with_rules": with_rules,
                       "sessions": sessions},
            "accounting": {"lines": lines, "malformed": malformed, "views": views, "dropped": dropped},
            "params": {"cookie": "UT_ID", "article_pattern": "openresty", "trailing_slash": None, "min_support": 3,
                       "min_confidence": 0.05, "min_count": 3, "min_networks": 3, **params}}


def sequences_report(trusted=8, with_rules=10, sequence_rules=40, **kwargs):
    """A report under the default ranking: lists from sequential rules, ``trusted`` of them from a
    rule read together from --tier-min sources."""
    r = report(with_rules=with_rules, ranking="sequences", tier_min=2.0, admit_min=1, returning_days=7.0,
               gap="30min", **kwargs)
    r["counts"].update(articles_with_trusted_rules=trusted, sequence_rules=sequence_rules)
    return r


def document(with_rules, popular_only=0, untrusted=0):
    """``with_rules`` lists with an entry from a rule of 3 co-readers, ``untrusted`` with one of 1."""
    items = {f"/archives/{i}": [{"url": "/archives/0", "source": "popular"},
                                {"url": "/archives/1", "source": "rules", "count": 3}] for i in range(with_rules)}
    items.update({f"/archives/p{i}": [{"url": "/archives/0", "source": "popular"}] for i in range(popular_only)})
    items.update({f"/archives/u{i}": [{"url": "/archives/1", "source": "rules", "count": 1},
                                      {"url": "/archives/0", "source": "popular"}] for i in range(untrusted)})
    return {"version": 1, "generated": "2024-03-31T01:15:00Z", "items": items}


def test_a_sound_run_is_published_and_the_first_one_is_judged_on_its_own():
    assert judge(report(), None) == Verdict(True, None, None, 8, None)
    assert judge(report(), document(8, popular_only=5)) == Verdict(True, None, None, 8, 8)
    trusted = "lists from trusted rules (read together from --tier-min 2 sources)"
    assert judge(sequences_report(), None) == Verdict(True, None, None, 8, None, trusted)
    assert judge(sequences_report(), document(8, untrusted=9)) == Verdict(True, None, None, 8, 8, trusted)


@pytest.mark.parametrize("trusted, with_rules, published, publish", [
    (19, 73, document(120), False),  # one day of the sample: lists for most articles, few of them trusted
    (60, 73, document(120), True),
    (5, 120, document(4, untrusted=116), True),  # the published lists from rarer pairs do not count
    (1, 120, document(4, untrusted=116), False),
])
def test_under_the_sequence_ranking_lists_from_trusted_rules_are_compared(trusted, with_rules, published, publish):
    verdict = judge(sequences_report(trusted=trusted, with_rules=with_rules), published)
    assert verdict.publish is publish and verdict.articles_with_rules == trusted
    assert verdict.published_articles_with_rules == articles_with_rules(published, min_count=2)
    if not publish:
        assert verdict.problem == (f"lists from trusted rules (read together from --tier-min 2 sources) for {trusted} "
                                   f"articles where the published related.json has {verdict.published_articles_with_rules}"
                                   " (fewer than --min-lists-kept 0.5 of them)")
    # a higher --tier-min counts fewer published lists: with 4 co-readers none of these is trusted
    strict = sequences_report(trusted=trusted, with_rules=with_rules)
    strict["params"]["tier_min"] = 4.0
    assert judge(strict, published).publish and judge(strict, published).published_articles_with_rules == 0
    # under ranking = "rules" every list from rules counts, whatever its count
    assert judge(report(with_rules=with_rules), published).published_articles_with_rules == 120


@pytest.mark.parametrize("new, old, threshold, publish", [
    (5, 10, 0.5, True),   # exactly half is enough
    (4, 10, 0.5, False),
    (4, 10, 0.4, True),
    (1, 1000, 0.0, True),  # 0: no comparison
    (9, 10, 1.0, False),
    (3, 0, 0.5, True),     # what is published has no list from rules: nothing to lose
])
def test_far_fewer_lists_than_published_is_refused(new, old, threshold, publish):
    verdict = judge(report(with_rules=new), document(old, popular_only=3), min_lists_kept=threshold)
    assert verdict.publish is publish and verdict.published_articles_with_rules == old
    if not publish:
        assert verdict.problem == (f"lists from rules for {new} articles where the published related.json has "
                                   f"{old} (fewer than --min-lists-kept {threshold:g} of them)")
        assert "rotated file" in verdict.check


@pytest.mark.parametrize("kwargs, problem, check", [
    (dict(lines=0, views=0, dropped={}), "no page views: the logs hold no lines", "check LOGS"),
    (dict(views=0, malformed=100, dropped={}), "none of the 100 lines matches the log format", "--log-format"),
    (dict(views=0, dropped={"asset": 40, "no_visitor": 60}), "no page views: all 60 article views have no visitor id",
     "the cookie UT_ID is not in the logs: read them with --visitor ip+ua"),
    (dict(views=0, dropped={"no_visitor": 30, "robots_txt": 20, "not_article": 50}),
     "no page views: 30 article views have no visitor id", "--visitor ip+ua"),
    (dict(views=0, dropped={"bot": 10, "asset": 40, "not_article": 50}, article_pattern="^/nothing$"),
     "none of the 50 pages requested matches the article pattern '^/nothing$'", "with and without its trailing slash"),
    (dict(views=0, dropped={"not_article": 100}, article_pattern="hugo"), "article pattern 'hugo'",
     "check --article-pattern"),
    (dict(views=0, dropped={"bot": 70, "robots_txt": 20, "no_visitor": 5, "asset": 5}),
     "no page views among 100 lines (dropped: bot 70, robots_txt 20, no_visitor 5; malformed: 0)", "--visitor"),
    (dict(rules=0, with_rules=0, min_support=0.25), "no rules from 50 page views in 30 baskets",
     "--min-support 0.25 of the baskets (and --min-confidence 0.05), then --min-count 3 readers from --min-networks 3"),
    (dict(rules=7, with_rules=0, min_count=9), "none of the 7 rules has --min-count 9 readers from --min-networks 3 "
     "networks", "lower --min-count or --min-networks"),
])
def test_a_degenerate_run_is_refused_with_its_likely_cause(kwargs, problem, check):
    for published in (None, document(8)):  # refused, first run or not
        verdict = judge(report(**kwargs), published)
        assert not verdict.publish and problem in verdict.problem and check in verdict.check
        assert "\n" not in verdict.problem + verdict.check


@pytest.mark.parametrize("kwargs, problem, check", [
    (dict(sequence_rules=0, with_rules=0, trusted=0),
     "no rules from 50 page views in 30 sessions: no two articles were read in one session",
     "a rule needs two articles read in one session (--gap 30min); give more days of logs"),
    (dict(sequence_rules=40, with_rules=0, trusted=0),
     "none of the 40 sequential rules leads to an article read by returning readers from --admit-min 1 networks",
     "--returning-days 7 days apart), or lower --returning-days or --admit-min (0: no check)"),
    (dict(sequence_rules=40, with_rules=12, trusted=0),
     "none of the lists from 40 sequential rules has a trusted rule, read together from --tier-min 2 sources",
     "give more days of logs, or lower --tier-min"),
])
def test_under_the_sequence_ranking_what_a_trusted_rule_needs_is_said(kwargs, problem, check):
    for published in (None, document(8)):
        verdict = judge(sequences_report(**kwargs), published)
        assert not verdict.publish and problem in verdict.problem and check in verdict.check
        assert "--min-count" not in verdict.problem + verdict.check and "\n" not in verdict.problem + verdict.check


def test_the_published_document_is_read_defensively(tmp_path):
    path = tmp_path / "related.json"
    assert read_published(path) is None
    for text in ("{", "[1, 2]", "\xff"):
        path.write_text(text, encoding="latin-1")
        assert read_published(path) is None
    path.write_text(json.dumps(document(3)))
    assert articles_with_rules(read_published(path)) == 3
    odd = {"items": {"/a": "not a list", "/b": [None, {"source": "rules"}], "/c": [{"url": "/a"}]}}
    assert articles_with_rules(odd) == 1 and articles_with_rules({"items": []}) == 0

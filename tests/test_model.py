"""recsys.train: the one chain from page views to what the lists are made of."""

from pathlib import Path

import pandas as pd
import pytest

import recsys

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


@pytest.fixture(scope="module")
def views():
    return recsys.read_page_views(SAMPLE, progress=False)


def test_max_antecedent_len_reaches_the_miner_and_changes_the_lists(views):
    """The knob issue 12 added: one Settings field; the rules lose their two-article antecedents,
    and so the lists for readers who have read two articles change (per-article lists use
    one-article antecedents only, so they stay). The lists of the mined rules: ranking="rules"."""
    every = recsys.Settings.from_mapping(ranking="rules", tune=False)
    short = every.replace(max_antecedent_len=1)
    a, b = recsys.train(views, every), recsys.train(views, short)
    assert a.itemsets.equals(b.itemsets)
    assert a.rules["antecedents"].map(len).max() == 2 and b.rules["antecedents"].map(len).max() == 1
    assert len(b.rules) == (a.rules["antecedents"].map(len) == 1).sum()
    # what readers of two articles are offered next
    two = [list(items[:2]) for items in a.sessions["items"] if len(items) >= 3][:300]
    next_a, next_b = a.lists_next(every, two), b.lists_next(short, two)
    assert not next_a.equals(next_b)
    changed = sum(list(g_a["url"]) != list(g_b["url"]) for (_, g_a), (_, g_b)
                  in zip(next_a.groupby("context"), next_b.groupby("context")))
    assert changed > 10
    pd.testing.assert_frame_equal(a.lists(every), b.lists(short))


def test_the_memo_shares_what_settings_have_in_common(views):
    memo: dict = {}
    first = recsys.train(views, recsys.Settings(), memo=memo)
    again = recsys.train(views, recsys.Settings.from_mapping(min_confidence=0.2), memo=memo)
    assert again.timings["sessions"] == again.timings["itemsets"] == 0.0  # from the memo
    assert again.sessions is first.sessions and again.itemsets is first.itemsets
    assert len(again.rules) < len(first.rules) and (again.rules["confidence"] >= 0.2).all()


def test_the_lists_rank_by_the_sequences_unless_ranking_is_rules(views):
    """Under the default ranking the lists are recsys.sequences.rank of the model's sequences (the
    mined rules change nothing in them); ranking="rules" lists from the mined rules."""
    from recsys.sequences import rank

    settings = recsys.Settings.from_mapping(tune=False)
    model = recsys.train(views, settings)
    pd.testing.assert_frame_equal(model.lists(settings), rank(model.sequences))
    other = recsys.train(views, settings.replace(min_support=10))
    pd.testing.assert_frame_equal(model.lists(settings), other.lists(settings))
    by_rules = settings.replace(ranking="rules")
    assert list(model.lists(by_rules).columns) == list(recsys.recommend(model.rules).columns)
    assert recsys.train(views, by_rules).sequences is None
    with pytest.raises(ValueError, match="needs the model's sequences"):
        recsys.train(views, by_rules).lists(settings)

import gzip
import math
from collections import Counter
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integration import shared_data
from recsys import apriori, eclat
from recsys import itemsets as itemsets_module

MINERS = [eclat, apriori]
ROOT = Path(__file__).resolve().parents[1]


def brute_force(baskets, min_count, max_len=None):
    """Every itemset of every basket, counted: the oracle."""
    counts = Counter()
    for b in baskets:
        items = sorted(set(b), key=repr)
        for k in range(1, (max_len or len(items)) + 1):
            counts.update(frozenset(c) for c in combinations(items, k))
    return {s: c for s, c in counts.items() if c >= min_count}


def as_dict(df):
    return dict(zip(df["itemsets"], df["count"]))


@pytest.mark.parametrize("miner", MINERS)
@settings(max_examples=150, deadline=None)
@given(
    baskets=st.lists(st.lists(st.integers(0, 9), max_size=7), max_size=40),
    min_count=st.integers(1, 6),
    max_len=st.one_of(st.none(), st.integers(1, 4)),
)
def test_identical_to_brute_force(miner, baskets, min_count, max_len):
    got = miner(baskets, min_support=min_count, max_len=max_len)
    assert as_dict(got) == brute_force(baskets, min_count, max_len)
    n = len(baskets)
    assert np.allclose(got["support"], got["count"] / max(n, 1))
    if len(got):
        assert np.allclose(got["count"] / got["support"], n)  # the baskets mined, from the frame alone


@settings(max_examples=100, deadline=None)
@given(baskets=st.lists(st.lists(st.sampled_from("abcdefgh"), max_size=8), min_size=1, max_size=60),
       frac=st.floats(0.01, 1.0))
def test_eclat_and_apriori_give_the_same_frame(baskets, frac):
    a = eclat(baskets, min_support=frac)
    b = apriori(baskets, min_support=frac)
    pd.testing.assert_frame_equal(a, b)
    assert (a["count"] >= math.ceil(frac * len(baskets) - 1e-9)).all()


@pytest.mark.parametrize("miner", MINERS)
def test_edge_cases(miner):
    baskets = [["a", "b", "a"], ["a"], [], ["a", "c"], ["a", "b"]]
    got = miner(baskets, min_support=2)
    # 'a' is in every non-empty basket: reported; duplicates count once; the empty basket counts
    assert as_dict(got) == {frozenset("a"): 4, frozenset("b"): 2, frozenset("ab"): 2}
    assert got.loc[0, "support"] == 0.8
    # a support nobody reaches: an empty frame with the right columns
    none = miner(baskets, min_support=0.99)
    assert none.empty and list(none.columns) == ["support", "count", "itemsets"]
    assert miner([], min_support=0.5).empty
    # max_len
    assert set(map(len, miner(baskets, min_support=1, max_len=1)["itemsets"])) == {1}


@pytest.mark.parametrize("miner", MINERS)
def test_item_in_every_basket_is_reported(miner):
    baskets = [["x", i] for i in "abcd"]
    got = as_dict(miner(baskets, min_support=1.0))
    assert got == {frozenset("x"): 4}


@pytest.mark.parametrize("miner", MINERS)
def test_inputs_series_onehot_and_sparse(miner):
    from mlxtend.preprocessing import TransactionEncoder

    baskets = [["a", "b"], ["a", "b", "c"], ["a", "c"], ["b"]]
    expected = as_dict(miner(baskets, min_support=0.5))
    assert as_dict(miner(pd.Series(baskets), min_support=0.5)) == expected
    te = TransactionEncoder().fit(baskets)
    dense = pd.DataFrame(te.transform(baskets), columns=te.columns_)
    assert as_dict(miner(dense, min_support=0.5)) == expected
    assert as_dict(miner(dense.astype(int), min_support=0.5)) == expected
    sparse = pd.DataFrame.sparse.from_spmatrix(te.transform(baskets, sparse=True), columns=te.columns_)
    assert as_dict(miner(sparse, min_support=0.5)) == expected
    assert as_dict(miner(iter(baskets), min_support=0.5)) == expected
    assert as_dict(miner([iter(b) for b in baskets], min_support=0.5)) == expected


@pytest.mark.parametrize("miner", MINERS)
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"min_support": 1.5}, r"`min_support` must be a fraction in the interval \(0, 1\] or a count \(an int >= 1\); got 1.5"),
        ({"min_support": 0}, r"`min_support` as a count must be an int >= 1; got 0"),
        ({"min_support": -0.1}, r"got -0.1"),
        ({"min_support": True}, r"got True"),
        ({"min_support": "5"}, r"got '5'"),
        ({"min_support": 0.5, "max_len": 0}, r"`max_len` must be None or an int >= 1; got 0"),
    ],
)
def test_bad_parameters_name_the_parameter_range_and_value(miner, kwargs, message):
    with pytest.raises(ValueError, match=message):
        miner([["a"]], **kwargs)


@pytest.mark.parametrize("miner", MINERS)
def test_bad_transactions_are_explained(miner):
    with pytest.raises(TypeError, match="each basket must be an iterable of items, not str"):
        miner(["abc", "de"], min_support=1)
    with pytest.raises(TypeError, match="transactions must be baskets"):
        miner(42, min_support=1)
    with pytest.raises(ValueError, match="one-hot DataFrame must hold 0/1 or True/False"):
        miner(pd.DataFrame({"a": [0, 2]}), min_support=1)


def test_pairs_are_counted_in_slices_when_a_level_is_large(monkeypatch):
    rng = np.random.default_rng(0)
    baskets = [list(rng.choice(30, size=rng.integers(0, 15), replace=False)) for _ in range(300)]
    whole = eclat(baskets, min_support=8)
    monkeypatch.setattr(itemsets_module, "PAIR_BATCH", 97)
    pd.testing.assert_frame_equal(eclat(baskets, min_support=8), whole)
    assert as_dict(whole) == brute_force(baskets, 8)


def load_fimi(name):
    """A FIMI set of ../shared/data (never copied into the project; RECSYS_SHARED_DATA overrides)."""
    with gzip.open(shared_data(f"{name}.dat.gz"), "rt") as f:
        return [line.split() for line in f]


@pytest.mark.parametrize("name, min_support", [("retail", 0.002), ("T10I4D100K", 0.002), ("kosarak37k", 0.01)])
def test_identical_to_mlxtend_fpgrowth_on_real_data(name, min_support):
    from mlxtend.frequent_patterns import fpgrowth
    from mlxtend.preprocessing import TransactionEncoder

    baskets = load_fimi(name)
    te = TransactionEncoder()
    onehot = pd.DataFrame.sparse.from_spmatrix(te.fit(baskets).transform(baskets, sparse=True), columns=te.columns_)
    ref = fpgrowth(onehot, min_support=min_support, use_colnames=True)
    expected = {s: round(v * len(baskets)) for s, v in zip(ref["itemsets"], ref["support"])}
    for miner in MINERS:
        assert as_dict(miner(baskets, min_support=min_support)) == expected


def test_identical_to_mlxtend_on_the_sample_sessions():
    """Always runs: the baskets of the committed sample logs, against mlxtend's apriori and fpgrowth."""
    from mlxtend.frequent_patterns import apriori as mx_apriori, fpgrowth
    from mlxtend.preprocessing import TransactionEncoder

    from recsys import read_page_views, sessionize

    baskets = [list(b) for b in sessionize(read_page_views(ROOT / "data" / "sample"))["items"]]
    te = TransactionEncoder()
    onehot = pd.DataFrame(te.fit(baskets).transform(baskets), columns=te.columns_)
    for reference in (fpgrowth, mx_apriori):
        ref = reference(onehot, min_support=0.001, use_colnames=True)
        expected = {s: round(v * len(baskets)) for s, v in zip(ref["itemsets"], ref["support"])}
        assert len(expected) > 200
        for miner in MINERS:
            assert as_dict(miner(baskets, min_support=0.001)) == expected

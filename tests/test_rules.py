from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mlxtend.frequent_patterns import association_rules as mlxtend_rules
from scipy.stats import fisher_exact

from recsys import association_rules, eclat
from recsys.rules import MEASURES
from recsys.rules import _adjusted, fisher_greater

rng = np.random.default_rng(0)
BASKETS = [list(rng.choice(list("abcdefgh"), size=rng.integers(1, 6), replace=False)) for _ in range(300)]


def by_rule(df):
    return df.set_index([df["antecedents"], df["consequents"]]).drop(columns=["antecedents", "consequents"])


@pytest.mark.parametrize("max_consequent_len", [1, None])
def test_every_measure_as_mlxtend(max_consequent_len):
    itemsets = eclat(BASKETS, min_support=0.02)
    ours = by_rule(association_rules(itemsets, max_consequent_len=max_consequent_len))
    ref = by_rule(mlxtend_rules(itemsets[["support", "itemsets"]], num_itemsets=300, metric="support", min_threshold=0))
    if max_consequent_len == 1:
        ref = ref[[len(c) == 1 for _, c in ref.index]]
    assert set(ours.index) == set(ref.index)
    ours = ours.loc[ref.index]
    for col in ref.columns:
        np.testing.assert_allclose(ours[col].to_numpy(float), ref[col].to_numpy(float), rtol=1e-12, err_msg=col)
    assert list(association_rules(itemsets).columns) == ["antecedents", "consequents", *MEASURES]


def test_count_and_p_value_against_scipy_fisher_exact():
    itemsets = eclat(BASKETS, min_support=0.02)
    rules = association_rules(itemsets)
    sets = [set(b) for b in BASKETS]
    for _, r in rules.sample(40, random_state=0).iterrows():
        a = sum(r.antecedents <= s for s in sets)
        both = sum((r.antecedents | r.consequents) <= s for s in sets)
        c = sum(r.consequents <= s for s in sets)
        assert r["count"] == both
        table = [[both, a - both], [c - both, len(sets) - a - c + both]]
        assert r.p_value == pytest.approx(fisher_exact(table, alternative="greater").pvalue, rel=1e-9, abs=1e-15)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 400).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(0, n))).flatmap(
    lambda t: st.tuples(st.just(t[0]), st.just(t[1]), st.just(t[2]),
                        st.integers(max(0, t[1] + t[2] - t[0]), min(t[1], t[2])))))
def test_fisher_greater_is_the_hypergeometric_tail(table):
    n, a, c, k = table
    ref = fisher_exact([[k, a - k], [c - k, n - a - c + k]], alternative="greater").pvalue
    assert fisher_greater(np.array([k]), np.array([a]), np.array([c]), n)[0] == pytest.approx(ref, rel=1e-8, abs=1e-13)


def test_corrections_by_hand():
    p = np.array([0.01, 0.04, 0.03, 0.20])
    # Benjamini-Hochberg: p * m / rank, then the running minimum from the largest rank down
    np.testing.assert_allclose(_adjusted(p, "fdr_bh"), [0.04, 0.0533333, 0.0533333, 0.20], rtol=1e-5)
    # Holm: p * (m - rank + 1), then the running maximum
    np.testing.assert_allclose(_adjusted(p, "holm"), [0.04, 0.09, 0.09, 0.20])


def test_significant_keeps_what_survives_the_correction():
    itemsets = eclat(BASKETS + [["x", "y"]] * 40 + [["x"], ["y"]] * 5, min_support=5)
    all_rules = association_rules(itemsets)
    for method in ("fdr_bh", "holm"):
        sig = association_rules(itemsets, significant=True, correction=method)
        adjusted = _adjusted(all_rules.p_value.to_numpy(), method)
        expected = set(zip(all_rules.antecedents[adjusted <= 0.05], all_rules.consequents[adjusted <= 0.05]))
        assert set(zip(sig.antecedents, sig.consequents)) == expected
        assert (frozenset("x"), frozenset("y")) in expected


def test_redundant_rules_against_brute_force():
    itemsets = eclat(BASKETS, min_support=0.01)
    rules = association_rules(itemsets)
    conf = {(r.antecedents, r.consequents): r.confidence for r in rules.itertuples()}
    expected = set()
    for (a, c), v in conf.items():
        general = [frozenset(s) for k in range(1, len(a)) for s in combinations(a, k)]
        if not any(conf[(g, c)] >= v for g in general):
            expected.add((a, c))
    pruned = association_rules(itemsets, prune_redundant=True)
    assert set(zip(pruned.antecedents, pruned.consequents)) == expected
    assert len(expected) < len(conf)


def test_filters():
    itemsets = eclat(BASKETS, min_support=0.02)
    rules = association_rules(itemsets, max_consequent_len=None)
    lift = association_rules(itemsets, metric="lift", min_threshold=1.2, max_consequent_len=None)
    assert len(lift) == (rules.lift >= 1.2).sum() and len(lift) > 0
    few = association_rules(itemsets, min_count=20)
    assert (few["count"] >= 20).all() and len(few) == (association_rules(itemsets)["count"] >= 20).sum()
    short = association_rules(itemsets, max_antecedent_len=1, max_consequent_len=None)
    largest = int(itemsets.itemsets.map(len).max())
    assert set(short.antecedents.map(len)) == {1}
    assert set(short.consequents.map(len)) == set(range(1, largest))


def test_ordering_is_by_confidence_then_lift_then_count():
    rules = association_rules(eclat(BASKETS, min_support=0.02))
    key = list(zip(-rules.confidence, -rules.lift, -rules["count"]))
    assert key == sorted(key)


def test_works_from_an_mlxtend_frame_and_names_a_missing_subset():
    from mlxtend.frequent_patterns import fpgrowth
    from mlxtend.preprocessing import TransactionEncoder

    te = TransactionEncoder().fit(BASKETS)
    onehot = pd.DataFrame(te.transform(BASKETS), columns=te.columns_)
    fi = fpgrowth(onehot, min_support=0.02, use_colnames=True)
    with pytest.raises(ValueError, match="pass n_transactions"):
        association_rules(fi)
    ours = association_rules(fi, n_transactions=300)
    assert len(ours) == len(association_rules(eclat(BASKETS, min_support=0.02)))
    triple = next(s for s in fi.itemsets if len(s) == 3)
    pair = frozenset(sorted(triple)[:2])
    holed = fi[fi.itemsets != pair]
    with pytest.raises(ValueError, match=r"itemsets lacks the (antecedent|consequent) \{.*\} of \{.*\}: the frame must hold every subset"):
        association_rules(holed, n_transactions=300)


@pytest.mark.parametrize("kwargs, message", [
    ({"metric": "accuracy"}, "metric must be one of"),
    ({"correction": "bonferroni"}, "correction must be 'fdr_bh' or 'holm'"),
    ({"alpha": 1.5}, r"alpha must be in the interval \(0, 1\); got 1.5"),
    ({"min_count": 0}, "min_count must be an int >= 1; got 0"),
    ({"max_consequent_len": 0}, "max_consequent_len must be None or an int >= 1; got 0"),
])
def test_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        association_rules(eclat(BASKETS, min_support=0.1), **kwargs)


def test_no_rules_is_an_empty_frame_with_the_columns():
    empty = association_rules(eclat([["a"], ["b"]], min_support=1))
    assert empty.empty and list(empty.columns) == ["antecedents", "consequents", *MEASURES]

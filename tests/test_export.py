"""write_table and pseudonymize (recsys.export): the files are what pandas writes, only faster."""

import math

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recsys.export import pseudonymize, write_table


def reference(df: pd.DataFrame, path) -> None:
    """What write_table wrote before it was vectorized: sets converted row by row, then pandas."""
    out = df.copy()
    csv = str(path).endswith(".csv")
    for col in out.columns:
        if len(out) and isinstance(out[col].iloc[0], (frozenset, set, tuple)):
            out[col] = [(" | ".join(sorted(map(str, v))) if csv else sorted(map(str, v))) for v in out[col]]
    if csv:
        with open(path, "w", encoding="utf-8", newline="") as f:
            out.to_csv(f, index=False)
    else:
        out.to_parquet(path, index=False)


def same_files(df: pd.DataFrame, tmp_path) -> None:
    for name in ("t.csv", "t.parquet"):
        reference(df, tmp_path / f"ref-{name}")
        write_table(df, tmp_path / name)
    assert (tmp_path / "t.csv").read_bytes() == (tmp_path / "ref-t.csv").read_bytes()
    got, want = pd.read_parquet(tmp_path / "t.parquet"), pd.read_parquet(tmp_path / "ref-t.parquet")
    pd.testing.assert_frame_equal(got, want)
    assert pq.read_schema(tmp_path / "t.parquet").equals(pq.read_schema(tmp_path / "ref-t.parquet"), check_metadata=True)


# what CSV and Parquet writers get wrong: separators, quotes, line ends, signs of zero, exponents
odd_text = st.one_of(st.text(st.sampled_from(list('ab,"\n\r |é/\t')), max_size=12), st.sampled_from(["/archives/1", "x y"]))
floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(
    [0.0, -0.0, 1e16, 1e-5, 1e-4, 9999999999999998.0, 0.1, 1 / 3, 5e-324, 1.7976931348623157e308]))
rows = st.fixed_dictionaries({
    "antecedents": st.frozensets(odd_text, max_size=4),
    "consequents": st.frozensets(st.sampled_from(["/a", "/b", "/c,d", '/"q"']), min_size=1, max_size=2),
    "lift": floats,
    "count": st.integers(-(2**62), 2**62),
    "flag": st.booleans(),
    "label": st.one_of(st.none(), odd_text),
    "views": st.tuples(odd_text, odd_text),
})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(rows, min_size=1, max_size=30))
def test_files_are_what_pandas_writes_of_the_sets_as_sorted_lists(tmp_path, records):
    df = pd.DataFrame(records)
    df["label"] = df["label"].astype(object)
    same_files(df, tmp_path)


def test_a_frame_of_rules_as_the_job_writes_it(tmp_path):
    rnd = np.random.default_rng(0)
    items = [f"/archives/{i}" for i in range(40)]
    ante = [frozenset(rnd.choice(items, size=rnd.integers(1, 4), replace=False)) for _ in range(500)]
    df = pd.DataFrame({
        "antecedents": ante, "consequents": [frozenset([items[i % 40]]) for i in range(500)],
        "support": rnd.integers(1, 50, 500) / 1000, "lift": np.where(rnd.random(500) < 0.1, math.inf, rnd.random(500) * 9),
        "p_value": rnd.random(500) ** 8, "count": rnd.integers(1, 50, 500),
    })
    same_files(df, tmp_path)
    write_table(df, [tmp_path / "both.parquet", tmp_path / "both.csv"])  # the sets sorted once, for both
    assert (tmp_path / "both.csv").read_bytes() == (tmp_path / "t.csv").read_bytes()
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "both.parquet"), pd.read_parquet(tmp_path / "t.parquet"))


@pytest.mark.parametrize("frame", [
    pd.DataFrame({"a": pd.Series([], dtype=float), "s": pd.Series([], dtype=object)}),  # empty
    pd.DataFrame({"t": pd.to_datetime(["2024-01-01 10:00"], utc=True), "c": pd.Categorical(["x"])}),  # pandas formats
    pd.DataFrame({"f": np.array([0.1, np.nan], np.float32), "n": pd.array([1, None], "Int64")}),
])
def test_columns_the_fast_csv_does_not_format_are_written_by_pandas(tmp_path, frame):
    same_files(frame, tmp_path)


def test_pseudonyms_are_hashed_once_per_visitor_for_the_views_and_the_sessions():
    memo = {}
    views = pseudonymize(pd.Series(pd.Categorical(["a", None, "b", "a"])), b"k", memo=memo)
    sessions = pseudonymize(pd.Series(["b", "a"], index=[7, 9]), b"k", memo=memo)
    assert views.tolist() == [memo["a"], None, memo["b"], memo["a"]] and sorted(memo) == ["a", "b"]
    assert sessions.to_dict() == {7: memo["b"], 9: memo["a"]} and sessions.dtype == object
    assert pseudonymize(pd.Series(["a"]), b"other").iloc[0] != memo["a"]

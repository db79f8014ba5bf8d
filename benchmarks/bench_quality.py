"""Recommendation quality: recsys's rules against the popularity and co-occurrence baselines.

    python benchmarks/bench_quality.py [--seeds 11 12 13] [--visitors 5000]

For each seed, ``recsys.simulate`` writes 60 days of logs of a blog; the page views of the first 45
days train every method and the sessions of the last 15 are the test (``recsys.evaluate`` with a
cut-off: at each position of each test session, the list is scored against the next article).
It prints HR@10 and MRR@10 (and coverage) of:

- ``rules``: recsys as published (rules with the default thresholds, popular fill);
- ``popular``: the most read articles of the last week of training;
- ``cooccurrence``: articles ranked by how many sessions held them with the last one read (AR);
- two diagnostics, to show where the difference comes from: the rules without popular fill, and
  co-occurrence with the same popular fill.

Targets: rules beat popularity by at least 15% relative HR@10, are within 5% of co-occurrence's
HR@10, and cover at least 3 times more of the catalog than popularity.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, table  # noqa: E402


def one_seed(seed: int, visitors: int) -> pd.DataFrame:
    import recsys
    from recsys import evaluation
    from recsys.simulate import simulate

    with tempfile.TemporaryDirectory() as tmp:
        simulate(tmp, visitors=visitors, days=60, seed=seed)
        views = recsys.read_page_views(tmp, progress=False)
    cutoff = views["ts"].min().normalize() + pd.Timedelta(days=45)
    result = recsys.evaluate(views, k=10, cutoff=cutoff, methods=("rules", "popular", "cooccurrence"), progress=False)
    # the diagnostics, on the same split
    end = views["ts"].max() + pd.Timedelta(milliseconds=1)
    window = evaluation._Window(views, cutoff, end)
    settings = recsys.Settings.from_mapping(k=10)
    recs = recsys.train(window.train, settings, memo=window.memo).lists_next(settings, window.contexts)
    recs = recs[recs["source"] == "rules"]  # nothing filled in
    no_fill: list[list[str]] = [[] for _ in window.contexts]
    for pos, url in zip(recs["context"].to_numpy(), recs["url"].to_numpy()):
        no_fill[pos].append(url)
    co = window.baseline_lists("cooccurrence", 10)
    popular = evaluation._popular_lists(window.pop, window.contexts, 10)
    co_filled = [(c + [u for u in p if u not in c])[:10] for c, p in zip(co, popular)]
    extra = [
        {"method": "rules, no fill", **window.score(no_fill, 10)},
        {"method": "cooccurrence + popular fill", **window.score(co_filled, 10)},
    ]
    out = pd.concat([result, pd.DataFrame(extra)], ignore_index=True)
    out["seed"] = seed
    out["views"] = len(views)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[11, 12, 13])
    p.add_argument("--visitors", type=int, default=5000)
    args = p.parse_args()
    print(f"{machine()}; {args.visitors:,} readers, 60 days, train 45 / test 15, k = 10\n")
    rows, verdicts = [], []
    for seed in args.seeds:
        r = one_seed(seed, args.visitors).set_index("method")
        for method in r.index:
            rows.append([seed, method, f"{r.loc[method, 'hr']:.3f}", f"{r.loc[method, 'mrr']:.3f}",
                         f"{r.loc[method, 'coverage']:.0%}", int(r.loc["rules", "cases"])])
        hr = r["hr"]
        lift_pop = hr["rules"] / hr["popular"] - 1
        vs_co = hr["rules"] / hr["cooccurrence"] - 1
        cov = r.loc["rules", "coverage"] / r.loc["popular", "coverage"]
        ok = lift_pop >= 0.15 and vs_co >= -0.05 and cov >= 3
        verdicts.append(
            f"seed {seed}: rules vs popularity HR@10 {lift_pop:+.0%} (target >= +15%), vs co-occurrence "
            f"{vs_co:+.1%} (target >= -5%), coverage {cov:.1f}x popularity's (target >= 3x): "
            f"{'met' if ok else 'NOT met'}"
        )
    print(table(rows, ["seed", "method", "HR@10", "MRR@10", "coverage", "test cases"]))
    print("\n" + "\n".join(verdicts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

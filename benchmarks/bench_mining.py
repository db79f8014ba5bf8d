"""Frequent itemsets and rules: recsys against fim and mlxtend, in one run.

    python benchmarks/bench_mining.py [--repeat 3]

Each miner runs in a process of its own on the same baskets (lists of item strings read from the
FIMI files of ``../shared/data``): ``recsys.eclat``, ``recsys.apriori``, mlxtend's ``fpgrowth``
(sparse input, the ``TransactionEncoder`` time included) and Borgelt's ``fim.eclat`` (package
pyfim). It prints seconds (best of ``--repeat``), peak memory and the ratios, and checks that the
itemset counts agree. Then ``recsys.association_rules`` against mlxtend's on the itemsets of
T10I4D100K at 0.1%, all consequent sizes (the same work).

Targets: eclat within 2x of fim.eclat and at least 10x faster than fpgrowth on each set; apriori
within 2 GB and within 5x of eclat; association_rules at least 2x faster than mlxtend's.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import math
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import SHARED, entry, machine, measure, table  # noqa: E402

SETS = [("retail", 0.001), ("T10I4D100K", 0.001), ("kosarak37k", 0.005)]


def fimi(name: str) -> Path:
    for base in (Path(os.environ.get("RECSYS_FIMI_DATA", SHARED)), SHARED, Path("/work/shared/data")):
        if (base / f"{name}.dat.gz").exists():
            return base / f"{name}.dat.gz"
    raise SystemExit(f"{name}.dat.gz not found: set RECSYS_FIMI_DATA to the folder of the FIMI sets")


def load(name: str) -> list[list[str]]:
    with gzip.open(fimi(name), "rt") as f:
        return [line.split() for line in f]


def digest(pairs) -> str:
    """A fingerprint of (itemset, count) pairs, to compare miners without shipping them back."""
    rows = sorted((tuple(sorted(s)), int(c)) for s, c in pairs)
    return hashlib.sha256(repr(rows).encode()).hexdigest()[:16]


# child tasks ------------------------------------------------------------------------------------
def task_recsys(name, support, algorithm):
    import recsys

    baskets = load(name)
    miner = getattr(recsys, algorithm)

    def run():
        return miner(baskets, min_support=support)

    return run, lambda df: {"itemsets": len(df), "digest": digest(zip(df["itemsets"], df["count"]))}


def task_fim(name, support):
    import fim

    baskets = load(name)
    count = math.ceil(support * len(baskets) - 1e-9)

    def run():
        return fim.eclat(baskets, supp=-count, report="a")

    return run, lambda found: {"itemsets": len(found), "digest": digest(found)}


def task_fpgrowth(name, support):
    import pandas as pd
    from mlxtend.frequent_patterns import fpgrowth
    from mlxtend.preprocessing import TransactionEncoder

    baskets = load(name)

    def run():
        te = TransactionEncoder()
        onehot = te.fit(baskets).transform(baskets, sparse=True)
        return fpgrowth(pd.DataFrame.sparse.from_spmatrix(onehot, columns=te.columns_), min_support=support,
                        use_colnames=True)

    def summarize(df):
        counts = (df["support"] * len(baskets)).round().astype(int)
        return {"itemsets": len(df), "digest": digest(zip(df["itemsets"], counts))}

    return run, summarize


def task_rules(name, support, which):
    import recsys

    baskets = load(name)
    itemsets = recsys.eclat(baskets, min_support=support)

    def run():
        if which == "recsys":
            rules = recsys.association_rules(itemsets, max_consequent_len=None)
        else:
            from mlxtend.frequent_patterns import association_rules

            rules = association_rules(itemsets[["support", "itemsets"]], num_itemsets=len(baskets),
                                      metric="confidence", min_threshold=0.0)
        return {"itemsets": len(itemsets), "rules": len(rules)}

    return run


TASKS = {"recsys": task_recsys, "fim": task_fim, "fpgrowth": task_fpgrowth, "rules": task_rules}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    script = __file__
    print(f"{machine()}\n")
    rows, verdicts = [], []
    for name, support in SETS:
        res = {
            "eclat": measure(script, "recsys", name, support, "eclat", repeat=args.repeat),
            "apriori": measure(script, "recsys", name, support, "apriori", repeat=args.repeat),
            "fim.eclat": measure(script, "fim", name, support, repeat=args.repeat),
            "fpgrowth": measure(script, "fpgrowth", name, support, repeat=1),
        }
        for label, r in res.items():
            if "error" in r:
                print(f"{name} {label}: failed: {r['error']}")
                return 1
        digests = {r["result"]["digest"] for r in res.values()}
        agree = "yes" if len(digests) == 1 else "NO"
        e = res["eclat"]["seconds"]
        for label, r in res.items():
            rows.append([f"{name} @ {support:.1%}", label, r["result"]["itemsets"], f"{r['seconds']:.3f}",
                         f"{r['seconds'] / e:.2f}", f"{r['peak_bytes'] / 2**20:,.0f}", agree])
        f, fp, a = res["fim.eclat"]["seconds"], res["fpgrowth"]["seconds"], res["apriori"]
        verdicts += [
            f"{name}: eclat / fim.eclat = {e / f:.2f} (target <= 2): {'met' if e <= 2 * f else 'NOT met'}",
            f"{name}: fpgrowth / eclat = {fp / e:.1f} (target >= 10): {'met' if fp >= 10 * e else 'NOT met'}",
            f"{name}: apriori / eclat = {a['seconds'] / e:.2f} (target <= 5), peak {a['peak_bytes'] / 2**30:.2f} GiB "
            f"(target <= 2): {'met' if a['seconds'] <= 5 * e and a['peak_bytes'] <= 2 * 2**30 else 'NOT met'}",
            f"{name}: the itemsets and counts of all four agree: {agree}",
        ]
    print(table(rows, ["data @ min support", "miner", "itemsets", "seconds", "x eclat", "peak MiB", "agree"]))
    print("\n" + "\n".join(verdicts))
    ours = measure(script, "rules", "T10I4D100K", 0.001, "recsys", repeat=args.repeat)
    theirs = measure(script, "rules", "T10I4D100K", 0.001, "mlxtend", repeat=1)
    print(f"\nassociation_rules on T10I4D100K @ 0.1% ({ours['result']['itemsets']:,} itemsets, all consequent "
          f"sizes, {ours['result']['rules']:,} rules; mlxtend {theirs['result']['rules']:,}): recsys "
          f"{ours['seconds']:.2f} s, mlxtend {theirs['seconds']:.2f} s: {theirs['seconds'] / ours['seconds']:.1f}x "
          f"(target >= 2): {'met' if theirs['seconds'] >= 2 * ours['seconds'] else 'NOT met'}")
    return 0


if __name__ == "__main__":
    entry(main, TASKS)

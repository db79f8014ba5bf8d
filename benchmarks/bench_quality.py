"""Recommendation quality: recsys's lists against the strongest simple baselines, on real and simulated data.

    python benchmarks/bench_quality.py                      # epub, msweb, sim11 sim12 sim13
    python benchmarks/bench_quality.py --data epub sim11    # some of them
    python benchmarks/bench_quality.py --json quality.json  # also keep every figure

Data (none of it made here, but the simulator):

- ``epub``: an e-publication server's access log (``../shared/data/real/sessions/epub.dat.gz``,
  ``epub.time.gz``: ``session;document`` rows and ``session;start time``): 15,740 sessions, the
  last 20% by start time are the test.
- ``msweb``: microsoft.com (``msweb-train.data.gz``, ``msweb-test.data.gz``: ``C,"user"`` lines,
  each followed by its ``V,area`` visits, in file order): its own train and test users, one
  session each, in file order.
- ``simNN``: ``recsys.simulate`` (5,000 readers, 60 days, seed NN); the first 45 days train, the
  sessions of the last 15 are the test.

Protocol: for each test session and each position t >= 1, the articles read so far, then the one read
next. HR@5, MRR@5 and coverage (the share of the training catalog shown in any list scored) of:

- ``recsys`` (context): ``recsys.train`` with its defaults (``Settings()``: trusted sequential pair
  rules, tuned each night), ``Model.lists_next`` of what was read so far;
- ``recsys per-article``: ``Model.lists`` (what Hugo and Hexo show), the list of the last article
  read, nothing removed (a static page cannot know what the reader read);
- ``recsys rules (ranking=rules)``: the mined association rules with the command line's thresholds,
  as recsys ranked before issue 14 (context, and per-article);
- the baselines, written here from the papers and sharing nothing with recsys's code: ``AR``
  (co-occurrence of the last article), ``SR`` (sequential rules: b after a at distance d <= 10 weighs
  1/d, Ludewig & Jannach 2018), ``SKNN`` (session-kNN: cosine on binary session vectors, the 100 most
  similar of the 1,000 most recent training sessions sharing an article, Jannach & Ludewig 2017;
  trained on sessions of 2+ articles), ``popular``; and ``AR per-article`` (static, as recsys's).
  Ties are broken by training popularity, then URL. The baselines' sessions are cut here too (30
  minutes, distinct articles in the order first read).
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).parent))
from common import SHARED, machine, table  # noqa: E402

REAL = SHARED / "real" / "sessions"
K = 5


# the data --------------------------------------------------------------------------------------------------
def own_sessions(views: pd.DataFrame, gap_minutes: float = 30, max_items: int | None = 50) -> pd.DataFrame:
    """Sessions cut here (not by recsys): a new one after more than ``gap_minutes`` of inactivity,
    distinct articles in the order first read, those of more than ``max_items`` dropped."""
    v = views.sort_values(["visitor", "ts", "url"], kind="stable")
    who = v["visitor"].astype(str).to_numpy()
    ts = v["ts"].dt.tz_convert(None).to_numpy().astype("datetime64[ms]").astype(np.int64)
    url = v["url"].astype(str).to_numpy()
    new = np.ones(len(v), bool)
    new[1:] = (who[1:] != who[:-1]) | ((ts[1:] - ts[:-1]) > gap_minutes * 60_000)
    starts = np.flatnonzero(new)
    rows = []
    for a, b in zip(starts, np.append(starts[1:], len(v))):
        items = tuple(dict.fromkeys(url[a:b]))
        if max_items is None or len(items) <= max_items:
            rows.append((who[a], ts[a], items))
    out = pd.DataFrame(rows, columns=["visitor", "start", "items"])
    out["start"] = pd.to_datetime(out["start"], unit="ms", utc=True)
    return out.sort_values(["start", "visitor"], kind="stable").reset_index(drop=True)


def views_of(sessions: pd.DataFrame) -> pd.DataFrame:
    """Page views of sessions that have no view times: one second apart from the session's start."""
    n = sessions["items"].map(len).to_numpy()
    start = np.repeat(sessions["start"].dt.tz_convert(None).to_numpy().astype("datetime64[ms]"), n)
    offset = np.concatenate([np.arange(x) for x in n]).astype("timedelta64[s]") if len(n) else []
    return pd.DataFrame({"ts": pd.to_datetime(start + offset, utc=True),
                         "visitor": np.repeat(sessions["visitor"].astype(str).to_numpy(), n),
                         "url": [u for items in sessions["items"] for u in items]})


def load_epub() -> dict:
    docs = pd.read_csv(REAL / "epub.dat.gz", sep=";", header=None, names=["s", "doc"])
    times = pd.read_csv(REAL / "epub.time.gz", sep=";", header=None, names=["s", "t"])
    times["start"] = pd.to_datetime(times["t"].str.split().str.join(" "), format="%a %b %d %H:%M:%S %Y", utc=True)
    items = docs.groupby("s", sort=False)["doc"].agg(lambda x: tuple(dict.fromkeys("/" + str(d) for d in x)))
    s = times.set_index("s").join(items.rename("items"), how="inner").reset_index()
    s = s.sort_values(["start", "s"], kind="stable").reset_index(drop=True)
    # a session id read twice (8 are) is two sessions: each its own visitor
    s = pd.DataFrame({"visitor": s["s"].astype(str) + "@" + s.index.astype(str), "start": s["start"],
                      "items": s["items"]})
    test = int(round(len(s) * 0.2))
    train = s.iloc[:-test].reset_index(drop=True)
    return {"train": train, "test": s.iloc[-test:].reset_index(drop=True), "views": views_of(train)}


def _msweb(path: Path, offset: int, prefix: str) -> pd.DataFrame:
    users, current = [], None
    with gzip.open(path, "rt") as f:
        for line in f:
            if line.startswith("C,"):
                current = [prefix + line.split(",")[1].strip('"'), []]
                users.append(current)
            elif line.startswith("V,") and current is not None:
                current[1].append("/v" + line.split(",")[1])
    start = pd.Timestamp("2000-01-01", tz="UTC") + pd.to_timedelta(np.arange(len(users)) + offset, unit="min")
    return pd.DataFrame({"visitor": [u for u, _ in users], "start": start,
                         "items": [tuple(dict.fromkeys(v)) for _, v in users]})


def load_msweb() -> dict:
    train = _msweb(REAL / "msweb-train.data.gz", 0, "")
    test = _msweb(REAL / "msweb-test.data.gz", len(train) + 10, "t")
    return {"train": train, "test": test, "views": views_of(train)}


def load_sim(seed: int, visitors: int = 5000) -> dict:
    import recsys

    with tempfile.TemporaryDirectory() as tmp:
        recsys.simulate(tmp, visitors=visitors, days=60, seed=seed)
        views = recsys.read_page_views(tmp, progress=False)
    views = views[["ts", "visitor", "url", "ip"]].assign(visitor=lambda v: v["visitor"].astype(str),
                                                         url=lambda v: v["url"].astype(str))
    cutoff = views["ts"].min().normalize() + pd.Timedelta(days=45)
    train = views[views["ts"] < cutoff].reset_index(drop=True)
    return {"train": own_sessions(train), "test": own_sessions(views[views["ts"] >= cutoff], max_items=None),
            "views": train}


# the protocol ----------------------------------------------------------------------------------------------
def cases(test: pd.DataFrame) -> tuple[list[tuple], list[str]]:
    contexts, targets = [], []
    for items in test["items"]:
        for t in range(1, len(items)):
            contexts.append(tuple(items[:t]))
            targets.append(items[t])
    return contexts, targets


def score(lists, targets, catalog) -> dict:
    hits = ranks = 0.0
    shown: set = set()
    for lst, target in zip(lists, targets):
        lst = list(lst)[:K]
        shown.update(lst)
        if target in lst:
            hits += 1
            ranks += 1 / (lst.index(target) + 1)
    return {"hr": hits / len(targets), "mrr": ranks / len(targets), "coverage": len(shown & catalog) / len(catalog)}


# the baselines (sharing nothing with recsys) --------------------------------------------------------------
class Coded:
    """Training sessions as codes, and a binary session x article matrix."""

    def __init__(self, train: pd.DataFrame) -> None:
        self.labels = pd.Index(sorted({u for items in train["items"] for u in items}))
        self.code = {u: i for i, u in enumerate(self.labels)}
        self.seqs = [np.array([self.code[u] for u in items], np.int64) for items in train["items"]]
        self.lens = np.array([len(s) for s in self.seqs])
        rows = np.repeat(np.arange(len(self.seqs)), self.lens)
        cols = np.concatenate(self.seqs) if self.seqs else np.zeros(0, np.int64)
        self.X = sp.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(len(self.seqs), len(self.labels)))
        self.pop = np.asarray(self.X.sum(0)).ravel()
        self.start = train["start"].to_numpy()
        order = np.lexsort((np.arange(len(self.labels)), -self.pop))
        self.tie = np.empty(len(self.labels), np.int64)
        self.tie[order] = np.arange(len(self.labels))
        self.popular = list(self.labels[order[:K + 60]])

    def top(self, scores: np.ndarray, exclude, k: int = K) -> list[str]:
        s = scores.astype(float).copy()
        if exclude:
            s[list(exclude)] = 0
        cand = np.flatnonzero(s > 0)
        return list(self.labels[cand[np.lexsort((self.tie[cand], -s[cand]))[:k]]])

    def read(self, context) -> set:
        return {self.code[u] for u in context if u in self.code}


def co_occurrence(c: Coded) -> sp.csr_matrix:
    m = (c.X.T @ c.X).tocsr()
    m.setdiag(0)
    m.eliminate_zeros()
    return m


def sequential(c: Coded, steps: int = 10) -> sp.csr_matrix:
    rows, cols, vals = [], [], []
    for s in c.seqs:
        for d in range(1, min(steps, len(s) - 1) + 1):
            rows.append(s[:-d]), cols.append(s[d:]), vals.append(np.full(len(s) - d, 1.0 / d))
    n = len(c.labels)
    if not rows:
        return sp.csr_matrix((n, n))
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))


def last_article(m: sp.csr_matrix, c: Coded, contexts, *, static: bool = False) -> list[list[str]]:
    out = []
    for ctx in contexts:
        last = c.code.get(ctx[-1])
        if last is None:
            out.append([])
            continue
        out.append(c.top(m.getrow(last).toarray().ravel(), {last} if static else c.read(ctx)))
    return out


def sknn(c: Coded, contexts, *, neighbours: int = 100, sample: int = 1000) -> list[list[str]]:
    keep = np.flatnonzero(c.lens >= 2)
    X = c.X[keep]
    Xc = X.tocsc()
    lens = c.lens[keep]
    recency = np.argsort(np.argsort(c.start[keep], kind="stable"), kind="stable")
    out = []
    for ctx in contexts:
        codes = np.array(sorted(c.read(ctx)), np.int64)
        if not len(codes):
            out.append([])
            continue
        cand = np.unique(np.concatenate([Xc.indices[Xc.indptr[x]:Xc.indptr[x + 1]] for x in codes]))
        if len(cand) > sample:
            cand = cand[np.argsort(-recency[cand], kind="stable")[:sample]]
        sub = X[cand]
        q = np.zeros(len(c.labels))
        q[codes] = 1
        sim = (sub @ q) / np.sqrt(lens[cand] * len(codes))
        best = np.argsort(-sim, kind="stable")[:neighbours]
        out.append(c.top(np.asarray(sub[best].T @ sim[best]).ravel(), set(codes.tolist())))
    return out


# recsys ----------------------------------------------------------------------------------------------------
def recsys_lists(views: pd.DataFrame, contexts, settings) -> tuple[list[list[str]], list[list[str]], dict]:
    """recsys.train on the training views: the lists of each context, and the static per-article
    list of its last article (as related.json publishes them: an article new in the test has none)."""
    import recsys

    model = recsys.train(views, settings)
    distinct = list(dict.fromkeys(contexts))
    where = {c: i for i, c in enumerate(distinct)}
    got = model.lists_next(settings, distinct)
    lists: list[list[str]] = [[] for _ in distinct]
    for pos, url in zip(got["context"].to_numpy(), got["url"].to_numpy()):
        lists[pos].append(url)
    per = {}
    published = model.lists(settings)  # what related.json holds: no list for an article not in the training
    for item, url in zip(published["item"].to_numpy(), published["url"].to_numpy()):
        per.setdefault(item, []).append(url)
    chosen = model.tuning.record()["chosen"] if model.tuning is not None else None
    return [lists[where[c]] for c in contexts], [per.get(c[-1], []) for c in contexts], {"tuned": chosen}


def one(name: str) -> list[dict]:
    import recsys

    t0 = time.perf_counter()
    data = load_epub() if name == "epub" else load_msweb() if name == "msweb" else load_sim(int(name[3:]))
    contexts, targets = cases(data["test"])
    coded = Coded(data["train"])
    catalog = set(coded.labels)
    rows = []

    def add(method, lists, **extra):
        rows.append({"data": name, "method": method, **score(lists, targets, catalog), "cases": len(targets),
                     **extra})

    add("popular", [[u for u in coded.popular if u not in set(c)][:K] for c in contexts])
    ar, sr = co_occurrence(coded), sequential(coded)
    add("AR", last_article(ar, coded, contexts))
    add("SR", last_article(sr, coded, contexts))
    add("SKNN", sknn(coded, contexts))
    add("AR per-article", last_article(ar, coded, contexts, static=True))
    context, static, info = recsys_lists(data["views"], contexts, recsys.Settings())
    add("recsys", context, **info)
    add("recsys per-article", static, **info)
    old = recsys.Settings.from_mapping(ranking="rules", min_networks=3 if "ip" in data["views"] else 0)
    context, static, _ = recsys_lists(data["views"], contexts, old)
    add("recsys rules (ranking=rules)", context)
    add("recsys rules per-article", static)
    print(f"{name}: {len(targets):,} cases, {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", nargs="+", default=["epub", "msweb", "sim11", "sim12", "sim13"])
    p.add_argument("--json", metavar="FILE", help="also write every figure to FILE")
    args = p.parse_args()
    print(f"{machine()}; k = {K}\n")
    rows = [r for name in args.data for r in one(name)]
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, default=str))
    print(table([[r["data"], r["method"], f"{r['hr']:.3f}", f"{r['mrr']:.3f}", f"{r['coverage']:.0%}", r["cases"]]
                 for r in rows], ["data", "method", "HR@5", "MRR@5", "coverage", "cases"]))
    verdicts = []
    for name in args.data:
        r = {x["method"]: x for x in rows if x["data"] == name}
        best = max(("AR", "SR", "SKNN"), key=lambda m: r[m]["hr"])
        best_mrr = max(("AR", "SR", "SKNN"), key=lambda m: r[m]["mrr"])
        ok = (r["recsys"]["hr"] >= r[best]["hr"] and r["recsys"]["mrr"] >= r[best_mrr]["mrr"]
              and r["recsys per-article"]["hr"] >= r["AR per-article"]["hr"])
        verdicts.append(
            f"{name}: context HR@5 {r['recsys']['hr']:.3f} vs best baseline {best} {r[best]['hr']:.3f} "
            f"({r['recsys']['hr'] / r[best]['hr']:.3f}x), MRR@5 {r['recsys']['mrr']:.3f} vs {best_mrr} "
            f"{r[best_mrr]['mrr']:.3f}; per-article HR@5 {r['recsys per-article']['hr']:.3f} vs AR per-article "
            f"{r['AR per-article']['hr']:.3f}; tuned {r['recsys'].get('tuned')}: {'met' if ok else 'NOT met'}")
    print("\n" + "\n".join(verdicts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

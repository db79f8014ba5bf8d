"""The bare nightly job as a data scientist would write it: the peer of ``bench_job.py``.

    python benchmarks/peer_job.py access.log --out peer.json

polars pulls the fields out of each ``combined_ut`` line with one regular expression, keeps the GET
200 article views (``/archives/<id>``) of clients with the UT_ID cookie and no robot-looking user
agent, cuts 30-minute sessions, and pyfim's C ``arules`` (Borgelt) mines the rules (support 3
sessions, confidence 5 %, at most 3 articles, one article on the right); each article gets the 5
most confident rules whose left side is that article alone. Output: ``{article: [urls]}``.

What it leaves out, next to recsys (on purpose: this is the short script): no accounting of the
lines it drops, no URL normalization (``/archives/12/`` and ``?utm_source`` variants), no crawler
list (a substring test), no robots.txt / too-fast rules, rules of any 3 sessions (recsys wants 3
distinct readers on 3 networks), no popular fill, no evaluation, no cache.
"""

import argparse
import json

import fim
import polars as pl

LINE = (r'^(?P<ip>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<method>\S+) (?P<path>[^ ?"]*)\S* [^"]*" '
        r'(?P<status>\d{3}) \S+ "[^"]*" "(?P<ua>[^"]*)" "(?P<cookie>[^"]*)"$')
ASSETS = r"\.(css|js|png|jpe?g|gif|svg|ico|woff2?|ttf|map|xml|txt)$"
ARTICLE = r"^/archives/\d+$"
BOTS = r"(?i)bot|crawl|spider|slurp|curl|wget|python|java/|go-http|headless|scrapy|feed"


def page_views(path: str) -> pl.DataFrame:
    lines = pl.scan_csv(path, has_header=False, separator="\x1f", quote_char=None, new_columns=["line"],
                        schema_overrides={"line": pl.String}, encoding="utf8-lossy", truncate_ragged_lines=True)
    fields = lines.select(pl.col("line").str.extract_groups(LINE)).unnest("line")
    return (fields
            .filter((pl.col("method") == "GET") & (pl.col("status") == "200")
                    & ~pl.col("path").str.contains(ASSETS) & pl.col("path").str.contains(ARTICLE)
                    & ~pl.col("ua").str.contains(BOTS) & pl.col("cookie").is_not_null() & (pl.col("cookie") != "-"))
            .select(pl.col("cookie").alias("visitor"), pl.col("path").alias("url"),
                    pl.col("time").str.strptime(pl.Datetime, "%d/%b/%Y:%H:%M:%S %z").alias("ts"))
            .collect())


def sessions(views: pl.DataFrame, gap: str = "30m") -> list[list[str]]:
    views = views.sort("visitor", "ts")
    new = (pl.col("visitor") != pl.col("visitor").shift()) | (pl.col("ts").diff() > pl.duration(minutes=30))
    views = views.with_columns(session=new.fill_null(True).cum_sum())
    baskets = views.group_by("session").agg(pl.col("url").unique())
    return baskets["url"].to_list()


def top_lists(baskets: list[list[str]], *, support: int = 3, confidence: float = 0.05, max_len: int = 3,
              k: int = 5) -> dict[str, list[str]]:
    # supp < 0: a number of sessions; mode "o": the support of the whole rule, not of its left side
    rules = fim.arules(baskets, supp=-support, conf=confidence * 100, zmin=2, zmax=max_len, report="ac", mode="o")
    pairs = pl.DataFrame([(body[0], head, n, c) for head, body, n, c in rules if len(body) == 1],
                         schema=["article", "url", "count", "confidence"], orient="row")
    if pairs.is_empty():
        return {}
    top = (pairs.sort(["article", "confidence", "count", "url"], descending=[False, True, True, False])
           .group_by("article", maintain_order=True).head(k))
    return {a: urls for a, urls in top.group_by("article", maintain_order=True)
            .agg(pl.col("url")).iter_rows()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("log", help="a combined_ut access log (plain text)")
    p.add_argument("--out", default="peer.json")
    args = p.parse_args()
    views = page_views(args.log)
    baskets = sessions(views)
    lists = top_lists(baskets)
    with open(args.out, "w") as f:
        json.dump(lists, f, indent=1, sort_keys=True)
    print(f"{len(views):,} views, {len(baskets):,} sessions, lists for {len(lists):,} articles")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

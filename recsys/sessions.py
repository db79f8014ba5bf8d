"""From page views to baskets: one visitor's reading, cut where they stopped reading for a while.

:func:`sessionize` groups the views of :func:`recsys.page_views` by visitor and starts a new
session after an inactivity gap (30 minutes by default, the convention of web analytics), or makes
one basket per visitor (their whole reading history). A basket lists each article once, in the
order it was first read; the full sequence of views, repeats included, is kept too.

>>> import pandas as pd
>>> views = pd.DataFrame({
...     "ts": pd.to_datetime(["2024-03-01 10:00", "2024-03-01 10:05", "2024-03-01 10:06",
...                           "2024-03-01 12:00"], utc=True),
...     "visitor": ["v", "v", "v", "v"],
...     "url": ["/archives/1", "/archives/2", "/archives/1", "/archives/3"]})
>>> sessionize(views)[["visitor", "items", "n_views"]]
  visitor                         items  n_views
0       v  (/archives/1, /archives/2)        3
1       v                (/archives/3,)        1
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["sessionize", "long_baskets", "network_of"]

log = logging.getLogger(__name__)


_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = rf"^({_OCTET}\.{_OCTET}\.{_OCTET})\.{_OCTET}$"


def network_of(ips: pd.Series) -> pd.Series:
    """The network of each address: its /24 (IPv4) or /48 (IPv6), as text; missing stays missing.

    Computed once per distinct address; IPv4 addresses (nearly all) by a vectorized rewrite,
    the others by :mod:`ipaddress` (what is not an address stays as it is).

    >>> network_of(pd.Series(["203.0.113.77", "2001:db8:1:2::5", None, "unix:"])).tolist()
    ['203.0.113.0/24', '2001:db8:1::/48', None, 'unix:']
    """
    import ipaddress

    cat = ips.astype("category")
    values = pa.array(cat.cat.categories.astype(str), pa.string())
    v4 = pc.match_substring_regex(values, _IPV4)
    nets = pc.replace_substring_regex(values, _IPV4, r"\1.0/24").to_numpy(zero_copy_only=False).astype(object)
    for i in np.flatnonzero(~v4.to_numpy(zero_copy_only=False)):
        ip = nets[i]
        try:
            addr = ipaddress.ip_address(ip)
            nets[i] = str(ipaddress.ip_network(f"{addr}/{24 if addr.version == 4 else 48}", strict=False))
        except ValueError:
            pass
    per = np.append(nets, None)
    return pd.Series(per[cat.cat.codes.to_numpy()], index=ips.index, dtype=object)

def _check(views: pd.DataFrame, gap, basket: str, max_items) -> pd.Timedelta:
    missing = {"ts", "visitor", "url"} - set(views.columns)
    if missing:
        raise ValueError(
            f"views needs the columns ts, visitor and url (as recsys.page_views gives); "
            f"missing: {', '.join(sorted(missing))}"
        )
    if basket not in ("session", "visitor"):
        raise ValueError(f"basket must be 'session' or 'visitor'; got {basket!r}")
    try:
        gap = pd.Timedelta(gap)
    except (ValueError, TypeError):
        raise ValueError(f"gap must be a duration such as '30min' or '2h'; got {gap!r}") from None
    if gap <= pd.Timedelta(0):
        raise ValueError(f"gap must be a positive duration; got {gap}")
    if max_items is not None and (isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 1):
        raise ValueError(f"max_items must be None or an int >= 1; got {max_items!r}")
    return gap


def sessionize(
    views: pd.DataFrame,
    *,
    gap: str | pd.Timedelta = "30min",
    basket: str = "session",
    max_items: int | None = 50,
) -> pd.DataFrame:
    """Baskets of articles: one per session (or per visitor) with its ordered views.

    Parameters
    ----------
    views : pandas.DataFrame
        Page views with ``ts``, ``visitor`` and ``url`` (:func:`recsys.page_views`).
    gap : str or Timedelta, default "30min"
        A session ends when the visitor reads nothing for longer than this.
    basket : {"session", "visitor"}
        ``"visitor"`` makes one basket of each visitor's whole history.
    max_items : int or None, default 50
        Baskets with more distinct articles are dropped (crawlers that slipped through the
        filters read whole archives); :func:`long_baskets` tells which they are, for those who
        count them (``max_items=None`` keeps them all).

    Returns
    -------
    pandas.DataFrame
        One row per basket, ordered by start: ``session`` (0, 1, ...), ``visitor``, ``start``,
        ``end``, ``items`` (a tuple of the distinct articles in the order first read),
        ``n_views`` (views, repeats included), ``views`` (the tuple of all views in order) and
        ``network`` (the /24 or /48 network of the first view's address, when views has ``ip``).
    """
    gap = _check(views, gap, basket, max_items)
    v = views[["ts", "visitor", "url"] + (["ip"] if "ip" in views.columns else [])].dropna(subset=["ts", "visitor", "url"])
    visitor_codes, visitor_names = pd.factorize(v["visitor"], sort=False)
    url_codes, url_names = pd.factorize(v["url"], sort=True)  # views at the same time: by URL
    ts = v["ts"].dt.as_unit("ms").array.asi8 if len(v) else np.zeros(0, np.int64)
    order = np.lexsort((url_codes, ts, visitor_codes))  # ties in time: by URL, as any engine can do
    vis, t, url = visitor_codes[order], ts[order], url_codes[order]
    new = np.ones(len(vis), bool)
    if len(vis):
        new[1:] = vis[1:] != vis[:-1]
        if basket == "session":
            new[1:] |= (t[1:] - t[:-1]) > gap.value // 1_000_000
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], len(vis))
    url_names = np.asarray(url_names, dtype=object)
    items, seqs = [], []
    for a, b in zip(starts.tolist(), ends.tolist()):
        seq = url[a:b]
        seqs.append(tuple(url_names[seq]))
        items.append(tuple(url_names[list(dict.fromkeys(seq.tolist()))]))
    out = pd.DataFrame({
        "visitor": pd.Categorical(np.asarray(visitor_names, dtype=object)[vis[starts]] if len(vis) else []),
        "start": pd.to_datetime(t[starts], unit="ms", utc=True),
        "end": pd.to_datetime(t[ends - 1] if len(vis) else [], unit="ms", utc=True),
        "items": pd.Series(items, dtype=object),
        "n_views": (ends - starts).astype(np.int64),
        "views": pd.Series(seqs, dtype=object),
        # where the session came from: the network of its first view (for trust rules)
        "network": pd.Categorical(network_of(v["ip"].iloc[order[starts]]).to_numpy()
                                  if "ip" in v.columns and len(vis) else [None] * len(starts)),
    })
    long = long_baskets(out, max_items)
    if long.any():
        log.info("dropped %d baskets of more than %d articles (%d views)", long.sum(), max_items,
                 out["n_views"][long].sum())
    out = out[~long]
    order = np.lexsort((out["visitor"].astype(str).to_numpy(), out["start"].to_numpy()))  # as any engine can
    out = out.iloc[order].reset_index(drop=True)
    out.insert(0, "session", np.arange(len(out), dtype=np.int64))
    return out


def long_baskets(sessions: pd.DataFrame, max_items: int | None) -> np.ndarray:
    """Which baskets hold more than ``max_items`` distinct articles (none when it is None).

    >>> long_baskets(pd.DataFrame({"items": [("/a", "/b"), ("/c",)]}), 1).tolist()
    [True, False]
    """
    if max_items is None or not len(sessions):
        return np.zeros(len(sessions), bool)
    return sessions["items"].map(len).to_numpy() > max_items

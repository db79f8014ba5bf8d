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

import gc
import logging

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["sessionize", "long_baskets", "network_of", "network_codes"]

log = logging.getLogger(__name__)


_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = rf"^({_OCTET}\.{_OCTET}\.{_OCTET})\.{_OCTET}$"
_HEX = "[0-9A-Fa-f]{1,4}"
# an IPv6 address without an embedded IPv4 part or a zone, whose first three groups are written
# out: the groups its /48 is made of, then five more written out or fewer around one "::"
_IPV6 = (rf"^{_HEX}:{_HEX}:{_HEX}(?:(?::{_HEX}){{5}}|"
         + "|".join(rf"(?::{_HEX}){{{p}}}::" + (rf"(?:{_HEX}(?::{_HEX}){{0,{3 - p}}})?" if p < 4 else "")
                    for p in range(5)) + ")$")


def network_of(ips: pd.Series) -> pd.Series:
    """The network of each address: its /24 (IPv4) or /48 (IPv6), as text; missing stays missing.

    Computed once per distinct address, by vectorized rewrites for IPv4 and for the IPv6
    addresses whose first three groups are written out (nearly all); the others by
    :mod:`ipaddress` (what is not an address stays as it is). The text is what
    :mod:`ipaddress` writes.

    >>> network_of(pd.Series(["203.0.113.77", "2001:db8:1:2::5", None, "unix:", "::1"])).tolist()
    ['203.0.113.0/24', '2001:db8:1::/48', None, 'unix:', '::/48']
    """
    cat = ips.astype("category")
    per = np.append(_networks_of_distinct(cat.cat.categories), None)
    return pd.Series(per[cat.cat.codes.to_numpy()], index=ips.index, dtype=object)


def _networks_of_distinct(addresses: pd.Index) -> np.ndarray:
    """The network of each of distinct addresses (an object array of text)."""
    values = pa.array(addresses.astype(str), pa.string())
    nets = np.asarray(addresses.astype(str), dtype=object).copy()
    v4 = pc.match_substring_regex(values, _IPV4).to_numpy(zero_copy_only=False)
    if v4.any():  # a.b.c.d: a.b.c.0/24
        head = pc.list_element(pc.split_pattern(values.filter(v4), ".", max_splits=1, reverse=True), 0)
        nets[v4] = pc.binary_join_element_wise(head, ".0/24", "").to_numpy(zero_copy_only=False)
    v6 = pc.match_substring_regex(values, _IPV6).to_numpy(zero_copy_only=False)
    if v6.any():
        nets[v6] = _v6_networks(values.filter(v6))
    for i in np.flatnonzero(~(v4 | v6)):
        nets[i] = _network_of_one(nets[i])
    return nets


def _v6_networks(values: pa.Array) -> np.ndarray:
    """The /48 of IPv6 addresses matching ``_IPV6``, as :mod:`ipaddress` writes it: the three
    groups (before the third colon) in lower case without leading zeros, the zero groups that
    end them folded into ``::``."""
    groups = pc.split_pattern(pc.utf8_lower(values), ":", max_splits=3)
    a, b, c = (pc.utf8_ltrim(pc.list_element(groups, i), "0") for i in range(3))
    zero_a, zero_b, zero_c = (pc.equal(g, "") for g in (a, b, c))
    a, b, c = (pc.if_else(z, "0", g) for z, g in ((zero_a, a), (zero_b, b), (zero_c, c)))
    ab = pc.binary_join_element_wise(a, b, ":")
    abc = pc.binary_join_element_wise(ab, c, ":")
    head = pc.if_else(zero_c, pc.if_else(zero_b, pc.if_else(zero_a, "", a), ab), abc)
    return pc.binary_join_element_wise(head, "::/48", "").to_numpy(zero_copy_only=False)


def _network_of_one(text: str) -> str:
    import ipaddress

    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return text
    return str(ipaddress.ip_network(f"{addr}/{24 if addr.version == 4 else 48}", strict=False))


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
    sessions, dropped, dropped_views = _sessionize(views, gap, basket, max_items)
    if dropped:
        log.info("dropped %d baskets of more than %d articles (%d views)", dropped, max_items, dropped_views)
    return sessions


def _by_text(urls: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes ranking ``urls`` as text, and the texts: a categorical's categories are in the order
    its reader met them, which must not decide the order of views at the same time."""
    if not isinstance(urls.dtype, pd.CategoricalDtype):
        codes, names = pd.factorize(urls, sort=True)
        return codes, np.asarray(names, dtype=object)
    names, rank = np.unique(np.asarray(urls.cat.categories.astype(str), dtype=object), return_inverse=True)
    return rank[urls.cat.codes.to_numpy()], names


def _sessionize(views: pd.DataFrame, gap: pd.Timedelta, basket: str,
                max_items: int | None) -> tuple[pd.DataFrame, int, int]:
    """:func:`sessionize` (its parameters checked), and the baskets and views dropped as long."""
    v = views[["ts", "visitor", "url"] + (["ip"] if "ip" in views.columns else [])].dropna(subset=["ts", "visitor", "url"])
    visitor_codes, visitor_names = pd.factorize(v["visitor"], sort=False)
    url_codes, url_names = _by_text(v["url"])  # views at the same time: by URL
    ts = v["ts"].dt.as_unit("ms").array.asi8 if len(v) else np.zeros(0, np.int64)
    order = _order(visitor_codes, ts, url_codes, len(url_names))  # ties in time: by URL, as any engine can do
    vis, t, url = visitor_codes[order], ts[order], url_codes[order]
    new = np.ones(len(vis), bool)
    if len(vis):
        new[1:] = vis[1:] != vis[:-1]
        if basket == "session":
            new[1:] |= (t[1:] - t[:-1]) > gap.value // 1_000_000
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], len(vis))
    # the distinct articles of each session, in the order first read: the first view of each
    # (session, article) pair, in the order of the views
    session_of = np.cumsum(new) - 1
    first = np.sort(np.unique(session_of * max(len(url_names), 1) + url, return_index=True)[1])
    n_items = np.bincount(session_of[first], minlength=len(starts))
    long = n_items > max_items if max_items is not None else np.zeros(len(starts), bool)
    visitor = _categorical(np.asarray(visitor_names, dtype=object))  # its categories: of every session
    if _is_text(visitor.categories):
        visitor_text = np.arange(len(visitor.categories))  # their rank as text
    else:
        visitor_text = np.unique(np.asarray(visitor.categories.astype(str), dtype=object), return_inverse=True)[1]
    kept = np.flatnonzero(~long)
    # by start, then visitor (as text), as any engine can do
    kept = kept[np.lexsort((visitor_text[visitor.codes[vis[starts[kept]]]], t[starts[kept]]))]
    names = np.asarray(url_names, dtype=object)
    in_kept = np.repeat(~long, ends - starts)
    items = _tuples(names[url[first[in_kept[first]]]], n_items[~long])
    views_of = _tuples(names[url[in_kept]], (ends - starts)[~long])
    rank = np.cumsum(~long) - 1  # a kept session's position among the kept, in session order
    if "ip" in v.columns and len(vis):
        network = _networks(v["ip"].iloc[order[starts]])
    else:
        network = pd.Categorical([None] * len(starts))
    sessions = pd.DataFrame({
        "session": np.arange(len(kept), dtype=np.int64),
        "visitor": pd.Categorical.from_codes(visitor.codes[vis[starts[kept]]], dtype=visitor.dtype),
        "start": pd.to_datetime(t[starts[kept]], unit="ms", utc=True),
        "end": pd.to_datetime(t[ends[kept] - 1] if len(vis) else [], unit="ms", utc=True),
        "items": pd.Series(items[rank[kept]], dtype=object),
        "n_views": (ends - starts)[kept].astype(np.int64),
        "views": pd.Series(views_of[rank[kept]], dtype=object),
        # where the session came from: the network of its first view (for trust rules)
        "network": network[kept],
    })
    return sessions, int(long.sum()), int((ends - starts)[long].sum())


def _order(visitor: np.ndarray, ts: np.ndarray, url: np.ndarray, n_urls: int) -> np.ndarray:
    """The stable order of the views by visitor, time and URL: one sort of a combined key when it
    fits in 63 bits, else a lexsort."""
    if len(ts):
        span = int(ts.max()) - int(ts.min()) + 1
        if (int(visitor.max()) + 1) * span * max(n_urls, 1) < 2**62:
            key = (visitor.astype(np.int64) * span + (ts - ts.min())) * max(n_urls, 1) + url
            return np.argsort(key, kind="stable")
    return np.lexsort((url, ts, visitor))


def _is_text(index: pd.Index) -> bool:
    return isinstance(index.dtype, pd.StringDtype)


def _categorical(values: np.ndarray) -> pd.Categorical:
    """``pd.Categorical(values)``, its text categories sorted once per distinct value by pandas'
    string sort rather than as Python objects.

    >>> values = np.array(["b", None, "a", "b"], dtype=object)
    >>> _categorical(values).equals(pd.Categorical(values))
    True
    """
    codes, uniques = pd.factorize(values)
    index = pd.Index(uniques)
    if not _is_text(index):
        return pd.Categorical(values)
    order = index.argsort()
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    return pd.Categorical.from_codes(np.where(codes >= 0, rank[codes], -1), categories=index[order])


def network_codes(ips: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """The network of each address as a code (-1 when missing), and the networks the codes stand
    for: :func:`network_of` without a text per address.

    >>> codes, nets = network_codes(pd.Series(["10.0.0.2", None, "10.0.0.1", "10.1.0.1"]))
    >>> codes.tolist(), nets.tolist()
    ([0, -1, 0, 1], ['10.0.0.0/24', '10.1.0.0/24'])
    """
    cat = ips.astype("category").cat
    codes = cat.codes.to_numpy().astype(np.int64)
    seen = np.zeros(len(cat.categories) + 1, bool)
    seen[codes] = True  # the addresses present (the last slot: missing)
    seen = np.flatnonzero(seen[:-1])
    net_of_seen, nets = pd.factorize(_networks_of_distinct(cat.categories[seen]))
    net_of_address = np.full(len(cat.categories) + 1, -1, np.int64)
    net_of_address[seen] = net_of_seen
    return net_of_address[codes], np.asarray(nets, dtype=object)


def _networks(ips: pd.Series) -> pd.Categorical:
    """``pd.Categorical(network_of(ips))``, worked out per distinct address.

    >>> _networks(pd.Series(["10.0.0.2", None, "10.0.0.1", "10.1.0.1"])).tolist()
    ['10.0.0.0/24', nan, '10.0.0.0/24', '10.1.0.0/24']
    """
    per_view, nets = network_codes(ips)
    used = np.zeros(len(nets), bool)
    used[per_view[per_view >= 0]] = True
    present = _categorical(nets[used])  # the categories: the networks seen
    renumber = np.full(len(nets) + 1, -1, np.int64)
    renumber[np.flatnonzero(used)] = present.codes
    return pd.Categorical.from_codes(renumber[per_view], dtype=present.dtype)


def _tuples(flat: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``flat`` cut into consecutive tuples of the given lengths (an object array of tuples).

    The baskets of one length are built together, by zipping their columns.

    >>> _tuples(np.array(list("abcdef"), dtype=object), np.array([2, 1, 3])).tolist()
    [('a', 'b'), ('c',), ('d', 'e', 'f')]
    """
    out = np.empty(len(lengths), dtype=object)
    if not len(lengths):
        return out
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    by_length = np.argsort(lengths, kind="stable")
    cuts = np.flatnonzero(np.diff(lengths[by_length])) + 1
    collecting = gc.isenabled()
    gc.disable()  # tuples of text cannot form cycles: no need for collections of the whole heap
    try:
        for group in np.split(by_length, cuts):
            length, first = int(lengths[group[0]]), starts[group]
            if len(group) >= length:  # many short ones: one column at a time
                columns = [flat[first + j].tolist() for j in range(length)]
                out[group] = np.fromiter(zip(*columns), dtype=object, count=len(group))
            else:  # a few long ones
                out[group] = np.fromiter((tuple(flat[s:s + length]) for s in first.tolist()), dtype=object,
                                         count=len(group))
    finally:
        if collecting:
            gc.enable()
    return out


def long_baskets(sessions: pd.DataFrame, max_items: int | None) -> np.ndarray:
    """Which baskets hold more than ``max_items`` distinct articles (none when it is None).

    >>> long_baskets(pd.DataFrame({"items": [("/a", "/b"), ("/c",)]}), 1).tolist()
    [True, False]
    """
    if max_items is None or not len(sessions):
        return np.zeros(len(sessions), bool)
    return np.fromiter(map(len, sessions["items"]), np.int64, len(sessions)) > max_items

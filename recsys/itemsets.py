"""Frequent itemsets: Eclat and Apriori, one contract.

Both take baskets (an iterable of iterables of hashable items, a pandas Series of baskets, or a
one-hot DataFrame as mlxtend takes) and return the same frame: ``support`` (a fraction), ``count``
(baskets holding the itemset) and ``itemsets`` (frozensets), one row per frequent itemset, ordered
by size, then count (descending), then the items' first appearance. It is the shape mlxtend uses,
so ``mlxtend.frequent_patterns.association_rules`` accepts it too.

**Eclat** (Zaki, 2000) is vertical: an itemset is represented by its tid-set, and the frequent
extensions of a prefix (its *equivalence class*) are found by intersecting the tid-sets of the
class's members pairwise. Here all classes of one level are processed together: rows of a sparse
matrix are (class, transaction) pairs and its columns are the class members, so the pairs of
entries within each row enumerate every tid-set intersection of every class at once, a
``bincount`` gives their sizes, and the surviving pairs form the next level's matrix. The number
of numpy calls is the same whatever the number of classes, which is what makes it fast in Python.

**Apriori** (Agrawal and Srikant, 1994) is level-wise: candidates of size k are joined from
frequent (k-1)-itemsets sharing a prefix, pruned unless all their (k-1)-subsets are frequent, and
counted. Pairs are counted at once with a sparse matrix product; larger candidates by ANDing the
packed tid bitsets of their parent and of their last item, and counting bits.

>>> baskets = [["a", "b"], ["a", "b", "c"], ["a", "c"], ["b"]]
>>> eclat(baskets, min_support=0.5).assign(itemsets=lambda d: d.itemsets.map(sorted))
   support  count itemsets
0     0.75      3      [a]
1     0.75      3      [b]
2     0.50      2      [c]
3     0.50      2   [a, b]
4     0.50      2   [a, c]
>>> eclat(baskets, min_support=2).equals(apriori(baskets, min_support=2))
True
"""

from __future__ import annotations

import gc
import math
from collections.abc import Iterable
from itertools import chain
from numbers import Integral, Real

import numpy as np
import pandas as pd
import scipy.sparse as sp

__all__ = ["eclat", "apriori", "encode_baskets", "min_count"]

#: Pairs enumerated at once; beyond it a level is processed in slices (bounded memory).
PAIR_BATCH = 1 << 24
_TRIU: dict[int, tuple[np.ndarray, np.ndarray]] = {}


# input ------------------------------------------------------------------------------------------
def encode_baskets(transactions) -> tuple[sp.csr_matrix, pd.Index]:
    """Baskets as a binary sparse matrix (baskets x items) and the item labels of its columns.

    Duplicates inside a basket count once; empty baskets are rows of their own.

    >>> X, labels = encode_baskets([["x", "y", "x"], [], ["y"]])
    >>> X.toarray().astype(int).tolist(), list(labels)
    ([[1, 1], [0, 0], [0, 1]], ['x', 'y'])
    """
    C, labels = _columns(transactions)
    return C.tocsr(), labels


def _columns(transactions) -> tuple[sp.csc_matrix, pd.Index]:
    """The baskets by column (CSC, rows increasing within each column, no duplicates)."""
    if isinstance(transactions, pd.DataFrame):
        X, labels = _encode_onehot(transactions)
        return X.tocsc(), labels
    if isinstance(transactions, (str, bytes)) or not isinstance(transactions, Iterable):
        raise TypeError(
            "transactions must be baskets: an iterable of iterables of items, a pandas Series of "
            f"baskets or a one-hot DataFrame; got {type(transactions).__name__}"
        )
    baskets = list(transactions.values if isinstance(transactions, pd.Series) else transactions)
    kinds = set(map(type, baskets))  # check each kind of basket once, not each basket
    for kind in kinds:
        if issubclass(kind, (str, bytes)) or not issubclass(kind, Iterable):
            b = next(b for b in baskets if type(b) is kind)
            raise TypeError(
                f"each basket must be an iterable of items, not {kind.__name__} ({b!r:.40}); "
                "wrap a single item in a list"
            )
    if not all(hasattr(kind, "__len__") for kind in kinds):  # generators and other iterators
        baskets = [b if hasattr(b, "__len__") else list(b) for b in baskets]
    lens = np.fromiter(map(len, baskets), np.int64, len(baskets)) if baskets else np.zeros(0, np.int64)
    total = int(lens.sum())
    values = None
    head = [x for b in baskets[:64] for x in b][:64]
    if head and all(type(x) is int for x in head):
        try:
            values = np.fromiter(chain.from_iterable(baskets), np.int64, total)
        except (OverflowError, ValueError, TypeError):
            values = None
    if values is None:
        values = np.fromiter(chain.from_iterable(baskets), object, total)
    codes, labels = pd.factorize(values)
    indptr = np.concatenate([[0], np.cumsum(lens)])
    X = sp.csr_matrix((np.ones(total, np.float32), codes, indptr), shape=(len(baskets), len(labels)))
    C = X.tocsc()  # a linear transpose: rows come in order within each column
    dup = np.zeros(C.nnz, bool)
    dup[1:] = C.indices[1:] == C.indices[:-1]
    dup[C.indptr[1:-1][C.indptr[1:-1] < C.nnz]] = False  # the first entry of a column
    if dup.any():  # an item twice in a basket counts once
        col = np.repeat(np.arange(C.shape[1]), np.diff(C.indptr))[~dup]
        C = sp.csc_matrix((np.ones(len(col), np.float32), C.indices[~dup],
                           np.concatenate([[0], np.cumsum(np.bincount(col, minlength=C.shape[1]))])),
                          shape=C.shape)
    return C, pd.Index(labels)


def _encode_onehot(df: pd.DataFrame) -> tuple[sp.csr_matrix, pd.Index]:
    if any(isinstance(t, pd.SparseDtype) for t in df.dtypes):
        X = sp.csr_matrix(df.sparse.to_coo())
    else:
        values = df.to_numpy()
        if values.dtype == object or not (values.dtype == bool or np.issubdtype(values.dtype, np.number)):
            raise ValueError("a one-hot DataFrame must hold 0/1 or True/False values only")
        X = sp.csr_matrix(values.astype(np.float32))
    if X.nnz and not np.isin(X.data, (0, 1)).all():
        raise ValueError("a one-hot DataFrame must hold 0/1 or True/False values only")
    X.eliminate_zeros()
    X = X.astype(np.float32)
    return X, pd.Index(df.columns)


def min_count(min_support, n: int) -> int:
    """The number of baskets ``min_support`` asks for among ``n`` (a fraction, or a count).

    >>> min_count(0.002, 10_000), min_count(3, 10_000)
    (20, 3)
    """
    if isinstance(min_support, bool) or not isinstance(min_support, Real):
        raise ValueError(
            "`min_support` must be a fraction in (0, 1] or a count (an int >= 1); "
            f"got {min_support!r}"
        )
    if isinstance(min_support, Integral):
        if min_support < 1:
            raise ValueError(f"`min_support` as a count must be an int >= 1; got {min_support}")
        return int(min_support)
    if not 0 < min_support <= 1:
        raise ValueError(
            "`min_support` must be a fraction in the interval (0, 1] or a count (an int >= 1); "
            f"got {min_support}"
        )
    return max(1, math.ceil(min_support * n - 1e-9))


def _check_max_len(max_len) -> int:
    if max_len is None:
        return 1 << 30
    if isinstance(max_len, bool) or not isinstance(max_len, Integral) or max_len < 1:
        raise ValueError(f"`max_len` must be None or an int >= 1; got {max_len!r}")
    return int(max_len)


def _prepare(transactions, min_support, max_len):
    limit = _check_max_len(max_len)
    C, labels = _columns(transactions)
    n = C.shape[0]
    mincount = min_count(min_support, n)
    counts = np.diff(C.indptr)
    freq = np.flatnonzero(counts >= mincount)
    freq = freq[np.argsort(counts[freq], kind="stable")]  # ascending support: smaller classes
    S = C[:, freq].tocsr()  # each row's columns come out in order: sorted by support rank
    return S, labels, freq, counts[freq], n, mincount, limit


# output -----------------------------------------------------------------------------------------
def _frame(levels: list[tuple[np.ndarray, np.ndarray]], labels, freq, n: int, mincount: int) -> pd.DataFrame:
    """The result frame from levels of (items as rank matrix, counts)."""
    lab = np.empty(len(labels), dtype=object)
    lab[:] = list(labels)
    parts_sets, parts_counts = [], []
    collecting = gc.isenabled()
    gc.disable()  # frozensets cannot form cycles: no need for collections of the whole heap
    try:
        for items, counts in levels:
            if not len(counts):
                continue
            codes = freq[items]  # first-appearance order of the labels
            codes.sort(axis=1)
            order = np.lexsort(tuple(codes[:, c] for c in range(codes.shape[1] - 1, -1, -1)) + (-counts,))
            codes, counts = codes[order], counts[order]
            parts_sets += [frozenset(row) for row in lab[codes].tolist()]
            parts_counts.append(counts)
    finally:
        if collecting:
            gc.enable()
    count = np.concatenate(parts_counts).astype(np.int64) if parts_counts else np.zeros(0, np.int64)
    df = pd.DataFrame({
        "support": count / n if n else count.astype(float),
        "count": count,
        "itemsets": pd.Series(parts_sets, dtype=object),
    })
    return df


# Eclat ------------------------------------------------------------------------------------------
class _Pairs:
    """Every pair of entries within some CSR rows, as a lookup slot each (``slot``).

    Rows are taken by length: the items of all rows of length L form a small (rows x L) matrix,
    and the pairs' slots come from its columns. Where a pair's first entry sits in the matrix
    (what the next level needs) is worked out afterwards, for the pairs asked for only.
    """

    def __init__(self, indptr, indices, rows, lens, slot_of) -> None:
        self.groups: list[tuple[int, np.ndarray, np.ndarray, int]] = []
        if not len(rows):
            self.slot = np.zeros(0, np.int64)
            return
        Lmax = int(lens.max())
        order = np.argsort(lens.astype(np.uint16) if Lmax < 65536 else lens, kind="stable")
        rows, lens = rows[order], lens[order]
        per_len = np.bincount(lens, minlength=Lmax + 1)
        starts = np.concatenate([[0], np.cumsum(per_len)])
        Ls = np.arange(Lmax + 1)
        parts, pos = [], 0
        for L in np.flatnonzero(per_len).tolist():
            base = indptr[rows[starts[L] : starts[L + 1]]]
            tri = _TRIU.get(L)
            if tri is None:
                tri = _TRIU[L] = np.triu_indices(L, 1)
            items = indices[base[:, None] + Ls[:L]]
            parts.append(slot_of(items[:, tri[0]], items[:, tri[1]]).ravel())
            self.groups.append((pos, base, tri[0], len(tri[0])))
            pos += len(base) * len(tri[0])
        self.slot = np.concatenate(parts) if len(parts) > 1 else parts[0]

    def first(self, hits: np.ndarray) -> np.ndarray:
        """Position (in the CSR indices) of the first entry of each pair in ``hits`` (ascending)."""
        out = np.empty(len(hits), np.int64)
        bounds = np.searchsorted(hits, [g[0] for g in self.groups] + [len(self.slot)])
        for (start, base, tri0, per_row), a, b in zip(self.groups, bounds[:-1], bounds[1:]):
            local = hits[a:b] - start
            out[a:b] = base[local // per_row] + tri0[local % per_row]
        return out


def _row_batches(indptr: np.ndarray):
    """Slices of the rows with two or more entries, each holding at most PAIR_BATCH pairs."""
    lens = np.diff(indptr)
    rows = np.flatnonzero(lens >= 2)
    pairs = lens[rows].astype(np.int64) * (lens[rows] - 1) // 2
    if pairs.sum() <= PAIR_BATCH:
        yield rows, lens[rows]
        return
    cum = np.cumsum(pairs)
    start = 0
    while start < len(rows):
        stop = max(start + 1, int(np.searchsorted(cum, cum[start] - pairs[start] + PAIR_BATCH, side="right")))
        yield rows[start:stop], lens[rows[start:stop]]
        start = stop


def eclat(transactions, *, min_support: float | int, max_len: int | None = None) -> pd.DataFrame:
    """Frequent itemsets by Eclat (vertical tid-set intersection, all classes of a level at once).

    Parameters
    ----------
    transactions : iterable of iterables, pandas Series of baskets, or one-hot DataFrame
        The baskets. Duplicates inside a basket count once; empty baskets count in the total.
    min_support : float in (0, 1] or int >= 1
        A fraction of the baskets, or an absolute number of baskets.
    max_len : int, optional
        The largest itemset size to report.

    Returns
    -------
    pandas.DataFrame
        ``support``, ``count`` and ``itemsets`` (frozensets): the baskets mined are
        ``count / support``. Empty (with these columns) when no itemset is frequent.

    Examples
    --------
    >>> eclat([[1, 2], [1, 2], [2, 3]], min_support=2)["itemsets"].tolist()
    [frozenset({2}), frozenset({1}), frozenset({1, 2})]
    """
    S, labels, freq, fcounts, n, mincount, limit = _prepare(transactions, min_support, max_len)
    k = len(freq)
    levels = [(np.arange(k)[:, None], fcounts.astype(np.int64))]
    # columns of the current level: the itemset (row in the level's item matrix) and the item
    col_set = np.arange(k)
    col_item = np.arange(k)
    cls_off, cls_w = np.array([0], np.int64), np.array([k], np.int64)
    col_cls = np.zeros(k, np.int64)
    indptr = S.indptr.astype(np.int64)
    indices = S.indices.astype(np.int32)
    size_limit = 1 << 26
    while len(levels) < limit and len(col_set) >= 2:
        W = len(col_set)
        # a lookup slot per ordered pair of columns within a class: slot = shift[i] + j
        cls_base = np.concatenate([[0], np.cumsum(cls_w * cls_w)])
        size = int(cls_base[-1])
        shift = cls_base[col_cls] + (np.arange(W) - cls_off[col_cls]) * cls_w[col_cls] - cls_off[col_cls]
        sparse_slots = size > size_limit  # too many slots for a dense table: count sorted keys
        counts = None
        keys_all = []
        batches = list(_row_batches(indptr))
        kept = None  # the pairs of a level that fits in one batch are enumerated once
        if len(cls_w) == 1:  # the first level, one class: slot = i * W + j
            slot_type = np.int32 if size < 2**31 else np.int64
            slot_of = lambda i, j: i.astype(slot_type) * W + j
        else:
            slot_of = lambda i, j: shift[i] + j
        for rows, lens in batches:
            pairs = _Pairs(indptr, indices, rows, lens, slot_of)
            if len(batches) == 1:
                kept = pairs
            if sparse_slots:
                keys_all.append(pairs.slot)
            else:
                c = np.bincount(pairs.slot, minlength=size)
                counts = c if counts is None else counts + c
        if sparse_slots:
            if not keys_all or not sum(map(len, keys_all)):
                break
            uniq, c = np.unique(np.concatenate(keys_all), return_counts=True)
            fp, fc = uniq[c >= mincount], c[c >= mincount]
        else:
            if counts is None:
                break
            fp = np.flatnonzero(counts >= mincount)
            fc = counts[fp]
        if not len(fp):
            break
        cl = np.searchsorted(cls_base, fp, side="right") - 1
        within = fp - cls_base[cl]
        gi = cls_off[cl] + within // cls_w[cl]
        gj = cls_off[cl] + within % cls_w[cl]
        prev_items = levels[-1][0]
        items = np.hstack([prev_items[col_set[gi]], col_item[gj][:, None]])
        levels.append((items, fc.astype(np.int64)))
        # the next classes: columns with two or more frequent partners
        per_i = np.bincount(gi, minlength=W)
        keep = per_i[gi] >= 2
        if not keep.any() or len(levels) >= limit:
            break
        new_index = np.flatnonzero(keep)
        ni, nj = gi[keep], gj[keep]
        # entries of the next matrix: pairs whose slot is a kept frequent pair
        kept_slots = fp[keep]
        if not sparse_slots:
            column_of_slot = np.full(size, -1, np.int32)
            column_of_slot[kept_slots] = np.arange(len(kept_slots), dtype=np.int32)
        parts_f, parts_c = [], []
        for rows, lens in batches:
            pairs = kept if kept is not None else _Pairs(indptr, indices, rows, lens, slot_of)
            if sparse_slots:
                pos = np.searchsorted(kept_slots, pairs.slot)
                pos[pos == len(kept_slots)] = 0
                pos = np.where(kept_slots[pos] == pairs.slot, pos, -1).astype(np.int32)
            else:
                pos = column_of_slot[pairs.slot]
            hit = np.flatnonzero(pos >= 0)
            parts_f.append(pairs.first(hit))
            parts_c.append(pos[hit])
        fr = np.concatenate(parts_f) if parts_f else np.zeros(0, np.int64)
        nc = np.concatenate(parts_c) if parts_c else np.zeros(0, np.int32)
        # A new row is (old row, its entry f): its pairs are contiguous and in column order.
        # Rows of one entry can form no pair: they are left out.
        cut = np.flatnonzero(fr[1:] != fr[:-1]) + 1
        starts = np.concatenate([[0], cut])
        run = np.diff(np.append(starts, len(fr)))
        pairs_possible = run >= 2
        if not pairs_possible.all():
            nc = nc[np.repeat(pairs_possible, run)]
            run = run[pairs_possible]
        indptr = np.concatenate([[0], np.cumsum(run)]).astype(np.int64)
        indices = nc
        starters, first_pos, widths = np.unique(ni, return_index=True, return_counts=True)
        cls_off, cls_w = first_pos.astype(np.int64), widths.astype(np.int64)
        col_cls = np.repeat(np.arange(len(starters)), widths)
        col_set, col_item = new_index, col_item[nj]
    return _frame(levels, labels, freq, n, mincount)


# Apriori ----------------------------------------------------------------------------------------
def _bitsets(S: sp.csr_matrix) -> np.ndarray:
    """Packed tid bitsets of the columns of S: (columns x words) uint64."""
    n, k = S.shape
    words = (n + 63) // 64
    C = S.tocsc()
    col = np.repeat(np.arange(k), np.diff(C.indptr))
    tid = C.indices.astype(np.int64)
    B = np.zeros(k * words, np.uint64)
    np.add.at(B, col * words + (tid >> 6), np.left_shift(np.uint64(1), (tid & 63).astype(np.uint64)))
    return B.reshape(k, words)


def row_keys(a: np.ndarray) -> np.ndarray:
    """Rows of an int matrix as comparable scalars (for sorting and exact lookups)."""
    a = np.ascontiguousarray(a.astype(np.int32))
    return a.view(np.dtype((np.void, a.dtype.itemsize * a.shape[1]))).ravel()


def apriori(transactions, *, min_support: float | int, max_len: int | None = None) -> pd.DataFrame:
    """Frequent itemsets by Apriori (level-wise candidates, joined, pruned and counted).

    Same parameters and result as :func:`eclat`.

    Examples
    --------
    >>> apriori([[1, 2], [1, 2], [2, 3]], min_support=2, max_len=1)["count"].tolist()
    [3, 2]
    """
    S, labels, freq, fcounts, n, mincount, limit = _prepare(transactions, min_support, max_len)
    k = len(freq)
    levels = [(np.arange(k)[:, None], fcounts.astype(np.int64))]
    if limit >= 2 and k >= 2:
        # level 2: every pair of frequent items is a candidate; count them all at once
        G = sp.triu(S.T @ S, k=1).tocoo()
        keep = G.data >= mincount
        pairs = np.stack([G.row[keep], G.col[keep]], axis=1).astype(np.int64)
        order = np.lexsort((pairs[:, 1], pairs[:, 0]))
        pairs, pc = pairs[order], G.data[keep][order].astype(np.int64)
        if len(pairs):
            levels.append((pairs, pc))
        if limit >= 3 and len(pairs):
            items_bits = _bitsets(S)
            words = items_bits.shape[1]
            prev_bits = items_bits[pairs[:, 0]] & items_bits[pairs[:, 1]]
            prev = pairs
            while len(levels) < limit and len(prev) >= 2:
                cand_parent, cand_last = _join(prev)
                if not len(cand_parent):
                    break
                cand = np.hstack([prev[cand_parent], cand_last[:, None]])
                ok = _prune(cand, prev)
                cand, cand_parent, cand_last = cand[ok], cand_parent[ok], cand_last[ok]
                batch = max(1, (1 << 27) // (8 * words))
                counts = np.empty(len(cand), np.int64)
                for a in range(0, len(cand), batch):
                    b = slice(a, a + batch)
                    inter = prev_bits[cand_parent[b]] & items_bits[cand_last[b]]
                    counts[b] = np.bitwise_count(inter).sum(axis=1, dtype=np.int64)
                keep = counts >= mincount
                if not keep.any():
                    break
                prev, kept_parent, kept_last = cand[keep], cand_parent[keep], cand_last[keep]
                levels.append((prev, counts[keep]))
                prev_bits = prev_bits[kept_parent] & items_bits[kept_last]
    return _frame(levels, labels, freq, n, mincount)


def _join(prev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Candidates from sorted (k-1)-itemsets sharing their first k-2 items: (parent row, last item)."""
    m, width = prev.shape
    if width == 1:
        same = np.ones(m - 1, bool)
    else:
        same = (prev[1:, :-1] == prev[:-1, :-1]).all(axis=1)
    group = np.concatenate([[0], np.cumsum(~same)])
    gstart = np.flatnonzero(np.concatenate([[True], ~same]))
    gsize = np.diff(np.concatenate([gstart, [m]]))
    q = np.arange(m) - gstart[group]
    after = gsize[group] - 1 - q
    total = int(after.sum())
    parent = np.repeat(np.arange(m), after)
    offset = np.arange(total) - np.repeat(np.cumsum(after) - after, after)
    partner = parent + 1 + offset
    return parent, prev[partner, -1]


def _prune(cand: np.ndarray, prev: np.ndarray) -> np.ndarray:
    """Keep candidates whose every (k-1)-subset is frequent (the two join parents are)."""
    ok = np.ones(len(cand), bool)
    if cand.shape[1] <= 2 or not len(cand):
        return ok
    keys = row_keys(prev)
    order = np.argsort(keys)
    sorted_keys = keys[order]
    for drop in range(cand.shape[1] - 2):
        sub = row_keys(np.delete(cand, drop, axis=1))
        pos = np.searchsorted(sorted_keys, sub)
        pos[pos == len(sorted_keys)] = 0
        ok &= sorted_keys[pos] == sub
    return ok

"""From the raw values of a log format's variables to the standard columns of requests.

Every function here works once per distinct value of a dictionary-encoded column, never once per
line in Python: unescaping, times (read from their bytes, every character checked), the request
line and its target, the client of an address chain (:func:`client_of`), and the table of
:data:`recsys.logs.STANDARD_COLUMNS` with the format's other variables after them (:func:`standardize`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .formats import LogFormat, unescape

__all__ = [
    "SCHEMA", "DICT", "standardize", "client_of", "ADDRESS_CHAINS", "REQUEST_LINE", "REQUEST_TARGET", "MONTHS",
    "TIME_TEMPLATES", "MAX_SECONDS", "local_seconds", "apply_per_value", "bool_rows", "is_count", "one_chunk",
]

#: Dictionary-encoded strings: the type of every string column of the requests.
DICT = pa.dictionary(pa.int32(), pa.string())
_MISSING = pa.array(["-", ""])
#: A request line: the method, the target and, when the line ends with one, the protocol. The target
#: is what lies between the first space and the last (nginx logs the line as the client sent it:
#: ``GET /x.js type= HTTP/1.0`` asks for ``/x.js type=``). RE2, Java and Python read it alike.
REQUEST_LINE = r"^(?P<method>[A-Z][A-Z0-9_-]*) (?P<target>[^ ].*?)(?: (?P<protocol>HTTP/\d(?:\.\d)?))?$"
#: A request target, origin-form (``/path?query``) or absolute-form (``http://host/path?query``, as
#: a front proxy sends it; user information before the host is dropped). ``//host/path`` is a path.
REQUEST_TARGET = (r"^(?:[A-Za-z][A-Za-z0-9+.-]*://(?:[^/?#@]*@)?(?P<host>[^/?#]*))?"
                  r"(?P<path>[^?]*)(?:\?(?P<query>.*))?$")
#: The standard columns of requests (:data:`recsys.logs.STANDARD_COLUMNS`) and their types.
SCHEMA = pa.schema(
    [
        ("ts", pa.timestamp("ms", tz="UTC")),
        *[(c, DICT) for c in ("visitor", "ip", "method", "path", "query")],
        ("status", pa.int16()),
        ("bytes", pa.int64()),
        ("referer", DICT),
        ("user_agent", DICT),
    ]
)


# per-value helpers -----------------------------------------------------------------------------
def apply_per_value(arr: pa.Array, fn: Callable[[pa.Array], pa.Array], *, encode: bool = True) -> pa.Array:
    """``fn`` applied once per distinct value of a dictionary array (per row otherwise).

    A string result is dictionary-encoded again (``encode``), with a dictionary free of duplicates.
    """
    if not pa.types.is_dictionary(arr.type):
        out = fn(arr)
        return out.dictionary_encode() if encode and pa.types.is_string(out.type) else out
    values = fn(arr.dictionary)
    if not (encode and (pa.types.is_string(values.type) or pa.types.is_large_string(values.type))):
        return values.take(arr.indices)
    enc = pc.dictionary_encode(values.cast(pa.string()))
    return pa.DictionaryArray.from_arrays(enc.indices.take(arr.indices), enc.dictionary)


def one_chunk(table: pa.Table) -> pa.Table:
    """``table`` with every column in one chunk, the chunks of a dictionary column sharing one
    dictionary (values in the order they first appear): ``table.unify_dictionaries().combine_chunks()``,
    made of ``dictionary_encode`` and ``take``. That method, and combining chunks of different
    dictionaries (the same unifier), crashed pyarrow 26 with a segmentation fault now and then on
    valid tables (about one run of tests/test_cache.py in four, never the same test twice).

    >>> a = pa.chunked_array([pa.array(["x", "y", "x"]).dictionary_encode(), pa.array(["z", "x"]).dictionary_encode()])
    >>> col = one_chunk(pa.table({"c": a}))["c"]
    >>> col.num_chunks, col.chunk(0).dictionary.to_pylist(), col.chunk(0).indices.to_pylist()
    (1, ['x', 'y', 'z'], [0, 1, 0, 2, 0])
    """
    columns = []
    for col in table.columns:
        if col.num_chunks == 1:
            columns.append(col.chunk(0))
        elif not pa.types.is_dictionary(col.type) or col.num_chunks == 0:
            columns.append(col.combine_chunks())
        else:
            merged = pc.dictionary_encode(pa.concat_arrays([c.dictionary for c in col.chunks]))
            codes, at, indices = merged.indices, 0, []
            for c in col.chunks:  # each chunk's codes, through where its values went
                indices.append(codes.slice(at, len(c.dictionary)).take(c.indices).cast(col.type.index_type))
                at += len(c.dictionary)
            columns.append(pa.DictionaryArray.from_arrays(pa.concat_arrays(indices), merged.dictionary))
    return pa.Table.from_arrays(columns, schema=table.schema)


def is_count(values: pa.Array) -> pa.Array:
    """:data:`recsys.formats.COUNT` without a regex: at most 18 digits, ``-`` or empty."""
    digits = pc.ascii_is_decimal(values)
    if pc.all(digits).as_py() is not False:  # the usual case: only numbers
        return pc.less_equal(pc.binary_length(values), 18)
    return pc.or_(pc.and_(digits, pc.less_equal(pc.binary_length(values), 18)), pc.is_in(values, _MISSING))


def _missing_to_null(values: pa.Array) -> pa.Array:
    return pc.if_else(pc.is_in(values, _MISSING), pa.scalar(None, values.type), values)


def _unescaper(mode: str) -> Callable[[pa.Array], pa.Array]:
    if mode == "none":  # nothing was escaped
        return _missing_to_null
    marker = "\\" if mode == "json" else "\\x"

    def fn(values: pa.Array) -> pa.Array:
        values = _missing_to_null(values)
        mask = pc.fill_null(pc.match_substring(values, marker), False)
        if not pc.any(mask).as_py():
            return values
        sub = values.filter(mask).to_pylist()
        return pc.replace_with_mask(values, mask, pa.array([unescape(s, mode) for s in sub], values.type))

    return fn


def bool_rows(arr: pa.Array, fn: Callable[[pa.Array], pa.Array]) -> np.ndarray:
    """A numpy bool per row: ``fn`` evaluated per distinct value when ``arr`` is a dictionary."""
    if pa.types.is_dictionary(arr.type):
        per_value = pc.fill_null(fn(arr.dictionary), False).to_numpy(zero_copy_only=False)
        indices = arr.indices
        if indices.null_count:  # a missing value reads the extra last slot: False
            per_value = np.append(per_value, False)
            indices = pc.fill_null(indices, len(per_value) - 1)
        return per_value[indices.to_numpy(zero_copy_only=False)]
    return pc.fill_null(fn(arr), False).to_numpy(zero_copy_only=False)


# times -----------------------------------------------------------------------------------------
#: Month numbers of the month names of ``$time_local``.
MONTHS = {m.encode(): i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
#: Fixed-width local times, one letter per character: Y year, N month digit, L month letter, D day,
#: h hour, m minute, s second; anything else must be that very character.
TIME_TEMPLATES = {"time_local": "DD/LLL/YYYY:hh:mm:ss", "iso8601": "YYYY-NN-DDThh:mm:ss"}


def local_seconds(template: str, prefix: str = "") -> Callable[[pa.Array], pa.Array]:
    """Seconds since the epoch of fixed-width local times, read from their bytes.

    Every character is checked against ``template`` (digits, month letters, separators) after
    the literal ``prefix``, and the date must exist: 31/Feb gives null, where pyarrow's lenient
    ``strptime`` gives 2 March. Values of another width are null too.
    """
    skip = len(prefix.encode())
    width = skip + len(template)
    where = lambda c: [skip + i for i, t in enumerate(template) if t == c]
    digits_at = np.array([skip + i for i, t in enumerate(template) if t in "YNDhms"])
    literal_at = np.array(list(range(skip)) + [skip + i for i, t in enumerate(template) if t not in "YNDhmsL"])
    literal = np.frombuffer(prefix.encode() + "".join(t for t in template if t not in "YNDhmsL").encode(), np.uint8)

    def parse(values: pa.Array) -> pa.Array:
        values = values.cast(pa.string())
        n = len(values)
        lengths = pc.fill_null(pc.binary_length(values), 0).to_numpy(zero_copy_only=False)
        ok = lengths == width
        raw = np.zeros((n, width), np.uint8)
        if ok.any():
            fixed = values.filter(pa.array(ok)) if not ok.all() else values
            offsets = np.frombuffer(fixed.buffers()[1], np.int32)[fixed.offset : fixed.offset + len(fixed) + 1]
            data = np.frombuffer(fixed.buffers()[2], np.uint8)[offsets[0] : offsets[-1]]
            raw[ok] = data.reshape(-1, width)
        d = raw.astype(np.int32) - 48
        ok &= (d[:, digits_at] >= 0).all(axis=1) & (d[:, digits_at] <= 9).all(axis=1)
        ok &= (raw[:, literal_at] == literal).all(axis=1)

        def num(c: str) -> np.ndarray:  # the number written at the positions of letter c
            v = np.zeros(n, np.int64)
            for i in where(c):
                v = v * 10 + d[:, i]
            return v

        if "L" in template:
            month = _month_numbers(raw[:, where("L")])
        else:
            month = num("N")
        year, day, hour, minute, second = num("Y"), num("D"), num("h"), num("m"), num("s")
        leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
        mdays = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[np.clip(month, 0, 12)]
        mdays = mdays + ((month == 2) & leap)
        ok &= (month >= 1) & (month <= 12) & (day >= 1) & (day <= mdays)
        ok &= (hour < 24) & (minute < 60) & (second < 60)  # Linux never logs a leap second
        # days since 1970-01-01 (Howard Hinnant's days_from_civil)
        y = year - (month <= 2)
        era = y // 400
        yoe = y - era * 400
        doy = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
        days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
        return pa.array(days * 86400 + hour * 3600 + minute * 60 + second, pa.int64(), mask=~ok)

    return parse


def _month_numbers(names: np.ndarray) -> np.ndarray:
    """Month numbers (0 when unknown) of rows of 3 letters, vectorized."""
    code = names[:, 0].astype(np.int64) << 16 | names[:, 1].astype(np.int64) << 8 | names[:, 2]
    known = np.array([int.from_bytes(m, "big") for m in MONTHS])
    order = np.argsort(known)
    pos = np.clip(np.searchsorted(known[order], code), 0, 11)
    hit = known[order][pos] == code
    return np.where(hit, order[pos] + 1, 0)


#: Seconds since the epoch of 10000-01-01: a later ``$msec`` is an impossible time, as a 5-digit
#: year is for ``$time_local`` (a 20-digit value would overflow the timestamp, not stop the run).
MAX_SECONDS = 253_402_300_800

_ZONE = re.compile(r"^([+-])(\d\d):?(\d\d)$")


def _zone_seconds(values: pa.Array) -> pa.Array:
    """UTC offsets in seconds from ``+0100``, ``-07:00`` or ``Z`` (null for anything else)."""
    out = []
    for z in values.to_pylist():
        m = _ZONE.match(z or "")
        if m:
            out.append((-1 if m[1] == "-" else 1) * (int(m[2]) * 3600 + int(m[3]) * 60))
        else:
            out.append(0 if z == "Z" else None)
    return pa.array(out, pa.int64())


def _timestamps(cols: dict[str, pa.Array], n: int) -> tuple[pa.Array, np.ndarray]:
    """The ``ts`` column (UTC) and a mask of rows whose time is impossible."""
    ms_type = pa.timestamp("ms", tz="UTC")
    if "msec" in cols:
        seconds = pc.cast(cols["msec"], pa.float64())
        seconds = pc.if_else(pc.less(seconds, MAX_SECONDS), seconds, pa.scalar(None, pa.float64()))
        ms = pc.round(pc.multiply(seconds, 1000.0))
        ts = pc.cast(pc.cast(ms, pa.int64()), ms_type)
        return ts, ts.is_null().to_numpy(zero_copy_only=False)
    if "time_iso8601" in cols:
        iso = cols["time_iso8601"]
        local = apply_per_value(iso, lambda v: local_seconds(TIME_TEMPLATES["iso8601"])(pc.utf8_slice_codeunits(v, 0, 19)), encode=False)
        zone = apply_per_value(iso, lambda v: pc.utf8_slice_codeunits(v, 19))  # a few distinct zones: each parsed once
        offset = apply_per_value(zone, _zone_seconds, encode=False)
    elif "time_local__date" in cols:
        date = cols["time_local__date"]
        if pa.types.is_integer(date.type):  # read by the fast path already
            local = date
        else:
            local = apply_per_value(date, local_seconds(TIME_TEMPLATES["time_local"]), encode=False)
        offset = apply_per_value(cols["time_local__zone"], _zone_seconds, encode=False)
    else:
        return pa.nulls(n, ms_type), np.zeros(n, bool)
    seconds = pc.subtract(local, offset)
    ts = pc.cast(pc.multiply(seconds, 1000), pa.int64()).cast(ms_type)
    return ts, ts.is_null().to_numpy(zero_copy_only=False)


# request lines ---------------------------------------------------------------------------------
def _apply_struct(arr: pa.Array, fn: Callable[[pa.Array], pa.Array], names, post=None) -> dict[str, pa.Array]:
    """Children of the struct ``fn`` makes, computed once per distinct value of ``arr``.

    ``_valid`` holds a numpy bool per row: the struct is not null (a regex matched).
    """
    values = arr.dictionary if pa.types.is_dictionary(arr.type) else arr
    structs = fn(values)
    out = {}
    for name in names:
        child = pc.struct_field(structs, name)
        child = post(child) if post else child
        if child.null_count == len(child):  # e.g. no absolute target: no work per row
            out[name] = pa.nulls(len(arr), DICT)
        elif pa.types.is_dictionary(arr.type):
            enc = pc.dictionary_encode(child)
            out[name] = pa.DictionaryArray.from_arrays(enc.indices.take(arr.indices), enc.dictionary)
        else:
            out[name] = child.dictionary_encode()
    valid = structs.is_valid()
    out["_valid"] = bool_rows(arr, lambda v: valid)
    return out


def _split_target(values: pa.Array) -> pa.Array:
    """Host, path and query of request targets (``/`` is the path of ``http://host``)."""
    parts = pc.extract_regex(values, REQUEST_TARGET)
    host, path, query = (pc.struct_field(parts, k) for k in ("host", "path", "query"))
    path = pc.if_else(pc.and_(pc.not_equal(host, ""), pc.equal(path, "")), pa.scalar("/"), path)
    return pa.StructArray.from_arrays([host, path, query], ["host", "path", "query"], mask=parts.is_null())


def _request_parts(cols: dict[str, pa.Array], mode: str, n: int) -> tuple[dict, np.ndarray]:
    """``method``, ``path``, ``query`` (and ``request_host``, ``protocol`` when the format can log
    them), and a mask of rows whose request line is not valid.

    A request line logged as ``-`` or empty (a connection that sent none) is valid, with every part
    missing; one that is present but not ``METHOD TARGET [HTTP/x]`` is not.
    """
    unesc = _unescaper(mode)
    bad = np.zeros(n, bool)
    out: dict[str, pa.Array | None] = {}
    if "request" in cols:
        req = cols["request"]
        parts = _apply_struct(req, lambda v: pc.extract_regex(v, REQUEST_LINE), ["method", "target", "protocol"])
        method, target = parts["method"], parts["target"]
        out["protocol"] = apply_per_value(parts["protocol"], _missing_to_null)
        bad = ~(parts["_valid"] | bool_rows(req, lambda v: pc.is_in(v, _MISSING)))
    else:
        method = cols.get("request_method")
        target = cols.get("request_uri")
        if target is None and "uri" in cols:
            uri, args = cols["uri"].cast(pa.string()), cols.get("args")
            if args is not None:
                args = pc.fill_null(_missing_to_null(args.cast(pa.string())), "")
                uri = pc.if_else(pc.equal(args, ""), uri, pc.binary_join_element_wise(uri, args, "?"))
            target = uri.dictionary_encode()
    out["method"] = None if method is None else apply_per_value(method, _missing_to_null)
    if target is None:
        out["path"] = out["query"] = None
        return out, bad
    parts = _apply_struct(target, _split_target, ["host", "path", "query"], post=unesc)
    out["path"], out["query"] = parts["path"], parts["query"]
    if "request" in cols or "request_uri" in cols:  # targets that can be absolute ($uri never is)
        out["request_host"] = parts["host"]
    return out, bad


# address chains -----------------------------------------------------------------------------------
#: Variables holding a chain of addresses, client first. ``$proxy_add_x_forwarded_for`` ends with
#: ``$remote_addr`` already; ``$http_x_forwarded_for`` is followed by it.
ADDRESS_CHAINS = ("proxy_add_x_forwarded_for", "http_x_forwarded_for")
#: Addresses that are not a client's on the Internet: private, loopback and link-local.
_NOT_PUBLIC = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16",
    "fc00::/7", "::1/128", "fe80::/10",
))


@lru_cache(maxsize=1 << 16)
def _address(entry: str) -> tuple[str, bool]:
    """An entry of a chain without brackets or port, and whether it is a public address."""
    host = entry
    if host.startswith("[") and "]" in host:  # [2001:db8::1]:443
        host = host[1 : host.index("]")]
    elif host.count(":") == 1:  # 203.0.113.5:443
        host = host.split(":")[0]
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:  # a name, "unknown", "unix:": kept as written, never chosen first
        return entry, False
    if addr.version == 6 and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    return host, not any(addr in net for net in _NOT_PUBLIC if net.version == addr.version)


def client_of(chain: str | None, peer: str | None = None) -> tuple[str | None, str | None]:
    """The client of an address chain, as Elastic's nginx pipeline picks it, and the chain.

    The chain is ``chain`` (``X-Forwarded-For`` as logged, client first) followed by ``peer``
    (``$remote_addr``); the client is its first public address (not private, loopback or
    link-local), else its first entry. The chain comes back comma-joined.

    >>> client_of("10.0.0.2, 192.0.2.7, 10.0.0.1", "127.0.0.1")
    ('192.0.2.7', '10.0.0.2,192.0.2.7,10.0.0.1,127.0.0.1')
    >>> client_of(None, "10.0.0.1")
    ('10.0.0.1', '10.0.0.1')
    """
    entries = [e for e in (x.strip() for x in (chain or "").split(",")) if e and e != "-"]
    if peer:
        entries.append(peer)
    if not entries:
        return None, None
    picked = next((host for host, public in map(_address, entries) if public), None)
    return picked or _address(entries[0])[0], ",".join(entries)


def _codes(arr: pa.Array) -> tuple[np.ndarray, list]:
    """Codes (-1 for missing) and values of a dictionary array."""
    codes = pc.fill_null(arr.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, arr.dictionary.to_pylist()


def _client_address(cols: dict[str, pa.Array], unesc) -> tuple[pa.Array | None, pa.Array | None]:
    """The ``ip`` column and, when the format logs an address chain, the ``forwarded_for`` one.

    Computed once per distinct pair of chain and ``$remote_addr``; rows without a chain are
    their ``$remote_addr``, with no work per value.
    """
    peer = apply_per_value(cols["remote_addr"], unesc) if "remote_addr" in cols else None
    name = next((v for v in ADDRESS_CHAINS if v in cols), None)
    if name is None:
        return peer, None
    chain = apply_per_value(cols[name], unesc)
    if name == "proxy_add_x_forwarded_for":
        peer = None  # already the chain's last entry
    c, chains = _codes(chain)
    p, peers = _codes(peer) if peer is not None else (np.full(len(c), -1, np.int64), [])
    has = c >= 0  # the other rows are their $remote_addr (or nothing)
    keys, inverse = np.unique(c[has] * (len(peers) + 1) + p[has] + 1, return_inverse=True)
    picked, joined = list(peers), list(peers)
    for key in keys.tolist():
        ci, pi = divmod(key, len(peers) + 1)
        client, whole = client_of(chains[ci], peers[pi - 1] if pi else None)
        picked.append(client)
        joined.append(whole)
    idx = p.copy()
    idx[has] = len(peers) + inverse
    idx = pa.array(idx.astype(np.int32), mask=idx < 0)

    def column(values: list) -> pa.Array:  # a dictionary free of duplicates
        whole = pa.DictionaryArray.from_arrays(idx, pa.array(values, pa.string()))
        return whole.dictionary_decode().dictionary_encode()

    return column(picked), column(joined)


def standardize(cols: dict[str, pa.Array], fmt: LogFormat, cookie: str, n: int):
    """The request table from raw values; also masks of rows malformed by time and by request."""
    mode = fmt.escape
    unesc = _unescaper(mode)
    ts, bad_time = _timestamps(cols, n)
    request, bad_request = _request_parts(cols, mode, n)
    out: dict[str, pa.Array] = {"ts": ts}
    visitor = None
    for name in ("ut_id", f"cookie_{cookie}"):
        if name in cols:
            v = apply_per_value(cols[name], unesc)
            visitor = v if visitor is None else pc.coalesce(visitor.cast(pa.string()), v.cast(pa.string())).dictionary_encode()
    out["visitor"] = visitor
    out["ip"], chain = _client_address(cols, unesc)
    for name in ("method", "path", "query"):
        out[name] = request.pop(name)
    status = cols.get("status")
    out["status"] = None if status is None else apply_per_value(status, lambda v: pc.cast(v, pa.int16()), encode=False)
    size = cols.get("body_bytes_sent", cols.get("bytes_sent"))
    out["bytes"] = None if size is None else pc.cast(_missing_to_null(size.cast(pa.string())), pa.int64())
    out["referer"] = apply_per_value(cols["http_referer"], unesc) if "http_referer" in cols else None
    out["user_agent"] = apply_per_value(cols["http_user_agent"], unesc) if "http_user_agent" in cols else None
    derived = {k: request[k] for k in ("request_host", "protocol") if k in request}  # after the standard columns
    if chain is not None:
        derived["forwarded_for"] = chain
    consumed = {
        "msec", "time_iso8601", "time_local__date", "time_local__zone", "request", "request_method",
        "request_uri", "uri", "args", "status", "body_bytes_sent", "bytes_sent", "remote_addr",
        "http_referer", "http_user_agent", "ut_id", f"cookie_{cookie}", *ADDRESS_CHAINS,
    }
    arrays, fields = [], []
    for name in SCHEMA.names:
        arr = out[name]
        typ = SCHEMA.field(name).type
        arrays.append(pa.nulls(n, typ) if arr is None else arr.cast(typ))
        fields.append(pa.field(name, typ))
    for name, arr in derived.items():
        arrays.append(arr.cast(DICT))
        fields.append(pa.field(name, DICT))
    for name in cols:
        if name in consumed or name in out or name in derived:
            continue
        arr = cols[name]
        if name == "request_time":
            arr = pc.cast(_missing_to_null(arr.cast(pa.string())), pa.float64())
        elif name in ("request_length", "bytes_sent", "connection", "connection_requests"):
            arr = pc.cast(_missing_to_null(arr.cast(pa.string())), pa.int64())
        else:
            arr = apply_per_value(arr, unesc) if pa.types.is_dictionary(arr.type) else unesc(arr.cast(pa.string()))
        arrays.append(arr)
        fields.append(pa.field(name, arr.type))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields)), bad_time, bad_request

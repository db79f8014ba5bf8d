import string

from hypothesis import given, settings
from hypothesis import strategies as st

from recsys.formats import LogFormat
from recsys.redact import log_formats, mask_line, mask_text, redact_examples

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
FORMATS = [
    LogFormat.preset("combined_ut"),
    LogFormat.preset("tsv"),
    LogFormat.preset("json"),
    LogFormat('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" '
              '"$http_user_agent" "$http_x_forwarded_for" sid=$cookie_sid ut=$ut_id'),
]
OTHERS = {"time_local": "15/Mar/2024:10:00:00 +0000", "msec": "1710496800.000",
          "time_iso8601": "2024-03-15T10:00:00+00:00", "request": "GET /archives/1 HTTP/1.1", "request_method": "GET",
          "request_uri": "/archives/1", "status": "200", "body_bytes_sent": "512", "http_user_agent": CHROME}
# RFC 6265's cookie-octet: no space, quote, comma, semicolon or backslash
COOKIE = st.text(alphabet=[c for c in map(chr, range(0x21, 0x7F)) if c not in '",;\\'], min_size=1, max_size=40)
PEOPLE = ("remote_addr", "remote_user", "http_x_forwarded_for", "cookie_UT_ID", "cookie_sid", "ut_id")


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(FORMATS), st.ip_addresses().map(str), st.ip_addresses().map(str),
       st.text(alphabet=string.ascii_letters + string.digits + "._@", min_size=1, max_size=20), COOKIE, COOKIE)
def test_the_fields_that_name_people_are_masked_whatever_their_values(fmt, addr, forwarded, user, cookie, ut_id):
    values = {**OTHERS, "remote_addr": addr, "http_x_forwarded_for": forwarded, "remote_user": user,
              "cookie_UT_ID": cookie, "cookie_sid": cookie, "ut_id": ut_id}
    values = {k: (None if v == "-" else v) for k, v in values.items()}
    placeholders = {"remote_addr": "<address>", "http_x_forwarded_for": "<address>", "remote_user": "<user>",
                    "cookie_UT_ID": "<visitor>", "cookie_sid": "<visitor>", "ut_id": "<visitor>"}
    expected = fmt.render({**values, **{k: placeholders[k] for k in PEOPLE if values[k] is not None}})
    assert mask_line(fmt.render(values), FORMATS) == expected


def test_lines_no_format_matches_lose_addresses_and_ids_but_not_versions_or_slugs():
    cases = {
        "10.1.2.3 cut": "<address> cut",
        "[2001:db8::2]:443 at 2024:10:15:32": "[<address>]:443 at 2024:10:15:32",
        "::ffff:10.0.0.1 x": "<address> x",
        "GET /1.2.3.4 and http://5.6.7.8/x": "GET /<address> and http://<address>/x",
        CHROME: CHROME,
        "AppleWebKit/537.36 Version/17.3.1 Safari/605.1.15 rv:123.0": "AppleWebKit/537.36 Version/17.3.1 Safari/605.1.15 rv:123.0",
        "/posts/why-rust-grows-vectors-in-2024/ /archives/1234567890": "/posts/why-rust-grows-vectors-in-2024/ /archives/1234567890",
        '"6f1c2d3e-0000-4000-8000-000000000001"': '"<visitor>"',
        '"00000000-0000-4000-8000-000000000000"': '"<visitor>"',
        "sid=9f86d081884c7d659a2feaa0c55ad015;": "sid=<visitor>;",
        "s=Zm9vYmFyMTIzNDU2Nzg5MA== t=36-g8briFFGUsAlARI2cyc": "s=<visitor> t=<visitor>",
        "PHPSESSID=k3j4h5g6f7d8s9a0q1w2e3r4t5": "PHPSESSID=<visitor>",
        "1710496800.123 15/Mar/2024:10:00:00": "1710496800.123 15/Mar/2024:10:00:00",
    }
    for text, masked in cases.items():
        assert mask_text(text) == masked, text


def test_the_accountings_file_records_give_the_formats_in_either_shape():
    tsv = LogFormat.preset("tsv")
    custom = '$remote_addr [$time_local] "$request" $cookie_sid'
    files = [{"path": "a.log", "format": "combined_ut", "escape": "default"},
             {"path": "b.log", "format": ["tsv", custom], "escape": ["default", "default"]},
             {"path": "c.log", "format": [{"format": custom, "escape": "default"}]},
             {"path": "d.log", "format": "main"},  # a name from an nginx.conf: not known from the record
             {"path": "e.log", "format": None}, "not a record"]
    found = log_formats(files, also=[tsv])
    assert found["a.log"] == [LogFormat.preset("combined_ut")] and found["b.log"] == [tsv, LogFormat(custom)]
    assert found["c.log"] == [LogFormat(custom)] and found["d.log"] == found["e.log"] == [] and found[""] == [tsv]
    accounting = {"files": files, "examples": [
        {"path": "c.log", "line": 1, "kind": "time", "text": '10.0.0.1 [31/Feb/2024:10:00:00 +0000] "GET /" abcdefgh'},
        {"path": "d.log", "line": 2, "kind": "request", "text": '10.0.0.1 [15/Mar/2024:10:00:00 +0000] "x" abcdefgh'},
    ]}
    # d.log's own format is unknown: another file's format that matches is used
    assert [e["text"] for e in redact_examples(accounting)["examples"]] == [
        '<address> [31/Feb/2024:10:00:00 +0000] "GET /" <visitor>',
        '<address> [15/Mar/2024:10:00:00 +0000] "x" <visitor>']

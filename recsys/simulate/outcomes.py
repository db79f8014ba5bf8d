"""The outcome of every line: what :func:`recsys.read_logs` and :func:`recsys.page_views` are
designed to make of it, as the names :attr:`Simulation.reasons` uses and as small integer codes.
"""

from __future__ import annotations

import re

from ..views import DROP_REASONS

#: Every outcome a line can have, in the order :attr:`Simulation.reasons` lists them.
OUTCOMES: tuple[str, ...] = (
    "view", *DROP_REASONS,
    "malformed:format", "malformed:encoding", "malformed:time", "malformed:request",
)
_O = {name: i for i, name in enumerate(OUTCOMES)}
VIEW, NO_REQUEST, BOT, METHOD, HANDSHAKE, STATUS, ASSET = (
    _O[k] for k in ("view", "no_request", "bot", "method", "handshake", "status", "asset"))
NOT_ARTICLE, NO_VISITOR, ROBOTS, TOO_FAST = (
    _O[k] for k in ("not_article", "no_visitor", "robots_txt", "too_fast"))
M_FORMAT, M_ENCODING, M_REQUEST = _O["malformed:format"], _O["malformed:encoding"], _O["malformed:request"]
_UNSET = -1  # outcome of junk rows until they are rendered and classified

#: What nginx's request line looks like when recsys can read it: ``METHOD TARGET [HTTP/x]``, the
#: target being all between the first space and the protocol (it may hold spaces).
REQUEST_LINE = re.compile(r"^[A-Z][A-Z0-9_-]* [^ ].*$")

"""The credential scrubbers, in one place: ``scrub`` for every error text the project stores or shows
(a relayer's last error, an outbox intent's error message, a webhook delivery's error, /healthz), and
``redacted`` for an endpoint shown to people: credentials out.

A node's or a library's exception text may carry the RPC URL it used — with a user and password,
an API key in the path (``https://…/v3/<key>``) or in the query (``?apikey=…``) — or a bearer
token. ``scrub`` replaces each such credential by ``***`` and keeps the rest readable (host, path
shape, error words, transaction hashes).
"""

from __future__ import annotations

import re

MASK = "***"

_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>]+")
_USERINFO = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)[^/?#@]*@")
_QUERY_SECRET = re.compile(
    r"([?&;](?:[a-z0-9_-]*(?:key|token|secret|password|passwd|pass|auth|signature|sig|credential)[a-z0-9_-]*)=)"
    r"[^&#;\s]+", re.IGNORECASE)
#: A path segment that looks like a credential: 16+ characters of letters and digits, both present.
_PATH_SECRET = re.compile(
    r"(?<=/)(?=[A-Za-z0-9_-]*[0-9])(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{16,}(?=[/?#\s\"'),\]]|$)")
_BEARER = re.compile(r"\b(Bearer|Basic|Token)(\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_API_KEY = re.compile(r"\b(mk_(?:live|test)_)[A-Za-z0-9]+")
_NAMED_SECRET = re.compile(
    r"\b((?:private[ _-]?key|secret[ _-]?key|secret|password|passphrase|api[ _-]?key|token)\b[\"']?\s*[:=]\s*[\"']?)"
    r"[^\s\"',;&]+", re.IGNORECASE)


def _scrub_url(match: re.Match[str]) -> str:
    url = _USERINFO.sub(lambda m: f"{m.group(1)}{MASK}@", match.group(0))
    scheme_host, sep, rest = url.partition("://")
    host, slash, tail = rest.partition("/")
    if slash:
        path, query_mark, query = tail.partition("?")
        path = _PATH_SECRET.sub(MASK, "/" + path)[1:]
        tail = path + query_mark + query
    url = f"{scheme_host}{sep}{host}{slash}{tail}"
    return _QUERY_SECRET.sub(lambda m: m.group(1) + MASK, url)


def scrub(text: str) -> str:
    """``text`` with credentials replaced by ``***``: URL user info, key-like URL path segments (also
    in a bare path: ``Max retries exceeded with url: /v3/<key>``), secret query parameters,
    bearer/basic tokens, merchant API keys, ``password=…``-style pairs."""
    text = _URL.sub(_scrub_url, text)
    text = _PATH_SECRET.sub(MASK, text)
    text = _QUERY_SECRET.sub(lambda m: m.group(1) + MASK, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    text = _API_KEY.sub(lambda m: m.group(1) + MASK, text)
    return _NAMED_SECRET.sub(lambda m: m.group(1) + MASK, text)


def redacted(url: str) -> str:
    """An endpoint as shown to people (``machi status``, the failover log): its scheme and host only — no
    user info, path or query, where an RPC URL keeps its API key. (``scrub`` keeps the path's shape, for
    error texts that need it.)"""
    scheme, _, rest = url.partition("://")
    host = rest.split("@", 1)[-1].split("/", 1)[0].split("?", 1)[0]
    return f"{scheme}://{host}" if rest else url


def describe(exc: BaseException) -> str:
    """``"ErrorType: message"`` of ``exc``, scrubbed — what a worker keeps as its last error."""
    return scrub(f"{type(exc).__name__}: {exc}")

"""The My Number guard of the identity endpoints: refuse (422) any request carrying a 12-digit
individual number (個人番号) in its query or body, before anything else reads it."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from fastapi import Depends, Request

from procedures.identity.mynumber import refuse_my_number
from procedures.identity.schemas import HEX

__all__ = ["NoMyNumber", "no_my_number"]

_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]*")
#: The service's own ids (``procedures.ids.new_id``: a short prefix and 24 random hex digits, e.g. a payment
#: request's ``pr_…``): a few in a thousand hold a 12-digit run with a valid check digit by chance.
_OWN_ID = re.compile(r"\b[a-z]{2,5}_[0-9a-f]{24}\b")
#: Fields that carry binary data as hex or base64 (see ``_scrub_binary``).
_BINARY_FIELDS = frozenset({
    "nonce", "wallet", "registry", "lost_wallet", "wallet_signature",
    "auth_certificate", "auth_signature", "signing_certificate", "signing_signature",
})


def _binary_size(value: str) -> int:
    """Bytes a hex (``0x…``) or base64 value decodes to; 0 if it is neither."""
    if HEX.fullmatch(value) and len(value) % 2 == 0:
        return (len(value) - 2) // 2
    if _BASE64.fullmatch(value):
        try:
            return len(base64.b64decode(value, validate=False))
        except (binascii.Error, ValueError):
            return 0
    return 0


def _scrub_binary(value: Any) -> Any:
    """Drop binary-encoded values of known binary fields, and the service's own ids in any text, before the My
    Number scan.

    Hex and base64 are mostly digits or letters at random: a 65-byte signature in hex holds a
    12-digit run with a valid check digit about once in 200.  Values that decode to at least
    20 bytes (an address; certificates and signatures are far longer) are binary data, not text,
    and are checked for their exact shape by the service; shorter values are scanned like text.
    """
    if isinstance(value, dict):
        return {
            k: None if k in _BINARY_FIELDS and isinstance(v, str) and _binary_size(v) >= 20 else _scrub_binary(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_scrub_binary(v) for v in value]
    if isinstance(value, str):
        return _OWN_ID.sub("", value)
    return value


async def no_my_number(request: Request) -> None:
    """Refuse (422 ``my_number_refused``) any request whose query or body carries a My Number."""
    refuse_my_number(_scrub_binary(dict(request.query_params)))
    body = await request.body()
    if not body:
        return
    try:
        payload = json.loads(body)
    except ValueError:
        payload = body.decode("utf-8", "replace")
    refuse_my_number(_scrub_binary(payload))


NoMyNumber = Depends(no_my_number)

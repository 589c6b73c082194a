"""EIP-681 payment URIs, as printed in QR codes (stdlib only).

A payment request (amount fixed by the merchant)::

    ethereum:<coin>@<chainId>/transfer?address=<merchant wallet>&uint256=<amount>&req=<pr_id>

A merchant's static code (the payer types the amount)::

    ethereum:<coin>@<chainId>/transfer?address=<merchant wallet>&merchant=<mer_id>

``<coin>`` is the RegionalCoin contract, ``transfer`` the ERC-20 function, ``address`` and
``uint256`` its arguments (EIP-681). ``req`` and ``merchant`` are Machi extensions that plain
EIP-681 wallets ignore; Machi wallets use them to fetch the request (merchant name, status) and to
pay it gaslessly through the service instead of sending a transaction themselves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode

_URI = re.compile(r"^ethereum:(?:pay-)?(0x[0-9a-fA-F]{40})(?:@(\d+))?/transfer\?(.*)$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


@dataclass(frozen=True)
class PaymentUri:
    """A parsed payment URI."""

    coin: str
    chain_id: int | None
    to: str
    amount: int | None
    request_id: str | None
    merchant_id: str | None

    def __str__(self) -> str:
        return format_uri(self.coin, self.chain_id, self.to, amount=self.amount, request_id=self.request_id,
                          merchant_id=self.merchant_id)


def format_uri(coin: str, chain_id: int | None, to: str, *, amount: int | None = None, request_id: str | None = None,
               merchant_id: str | None = None) -> str:
    """The EIP-681 URI of a payment request (``amount`` + ``request_id``) or a static code (``merchant_id``)."""
    params: dict[str, str] = {"address": to}
    if amount is not None:
        params["uint256"] = str(amount)
    if request_id is not None:
        params["req"] = request_id
    if merchant_id is not None:
        params["merchant"] = merchant_id
    chain = f"@{chain_id}" if chain_id is not None else ""
    return f"ethereum:{coin}{chain}/transfer?{urlencode(params)}"


def parse_uri(uri: str) -> PaymentUri:
    """Parse a URI made by ``format_uri`` (or any EIP-681 ERC-20 ``transfer`` URI).

    Raises:
        ValueError: not an EIP-681 ``transfer`` URI with a valid ``address``.
    """
    match = _URI.match(uri.strip())
    if match is None:
        raise ValueError("not an EIP-681 token transfer URI (ethereum:<token>@<chain>/transfer?address=…)")
    coin, chain, query = match.groups()
    params = {k: v[0] for k, v in parse_qs(query, keep_blank_values=False).items()}
    to = params.get("address", "")
    if not _ADDRESS.match(to):
        raise ValueError("the URI has no valid address= parameter")
    amount = params.get("uint256")
    if amount is not None and not re.fullmatch(r"\d+", amount):
        raise ValueError("uint256= must be a whole number of coins (no exponent notation)")
    return PaymentUri(coin=coin, chain_id=int(chain) if chain else None, to=to,
                      amount=int(amount) if amount is not None else None, request_id=params.get("req"),
                      merchant_id=params.get("merchant"))

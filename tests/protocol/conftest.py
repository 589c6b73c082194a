"""What protocol tests (and the identity tests built on them) share: a deployment to sign for."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from protocol.nonces import new_nonce
from protocol.statement import LinkStatement

REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
CHAIN_ID = 31337


def make_statement(wallet_address: str, **overrides: Any) -> LinkStatement:
    """A fresh link statement for ``wallet_address`` on ``CHAIN_ID`` / ``REGISTRY``."""
    fields: dict[str, Any] = {
        "purpose": "link",
        "wallet": wallet_address,
        "chain_id": CHAIN_ID,
        "registry": REGISTRY,
        "nonce": new_nonce(),
        "issued_at": datetime.now(UTC),
    }
    fields.update(overrides)
    return LinkStatement.create(**fields)

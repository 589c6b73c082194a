"""Batches: many outbox intents carried by one call, and how a contract reports each item's fate.

A contract with a batch entry point (the coin's batch relay of signed authorizations) plugs into
the relayer through a ``Batcher``; the relayer stays ignorant of what the items mean. This module
holds no database or network code, so contract clients can implement ``Batcher`` without pulling
in the relayer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from web3.types import TxReceipt

if TYPE_CHECKING:
    from chain.outbox import TxIntent


@dataclass
class ItemOutcome:
    """What happened to one item of a batch call."""

    ok: bool
    error_code: str | None = None
    error_message: str | None = None
    result: dict[str, Any] | None = None


class Batcher(Protocol):
    """Builds one batch call from many items and reads the items' outcomes from the receipt."""

    def encode(self, items: Sequence[bytes]) -> bytes:
        """Calldata of the batch call carrying ``items`` (in this order)."""
        ...

    def outcomes(self, receipt: TxReceipt, items: Sequence[bytes]) -> list[ItemOutcome]:
        """One outcome per item, in order, decoded from the successful receipt."""
        ...


@dataclass
class Plan:
    """One transaction to send: a single intent, or a batch of intents under one batch key."""

    intents: list[TxIntent]
    batch_key: str | None
    to: str
    value: int = 0
    data: bytes = b""


def plan_transactions(
    queued: Sequence[TxIntent], batchable: set[str], *, max_size: int, max_wait: float, now: datetime
) -> list[Plan]:
    """Group queued intents into transactions, oldest first.

    Intents whose batch key has a batcher are grouped per (key, contract) into batches of at most
    ``max_size``; a batch that is not full waits until its oldest item has waited ``max_wait``
    seconds, so others can join it. Every other intent is a transaction of its own.
    """
    plans: list[Plan] = []
    groups: dict[tuple[str, str], list[TxIntent]] = defaultdict(list)
    for intent in queued:
        if intent.batch_key is None or intent.batch_key not in batchable:
            plans.append(Plan([intent], None, intent.to_address, int(intent.value), intent.data))
        else:
            groups[(intent.batch_key, intent.to_address)].append(intent)
    for (key, to), items in groups.items():
        for start in range(0, len(items), max_size):
            chunk = items[start : start + max_size]
            waited = (now - chunk[0].created_at).total_seconds()
            if len(chunk) < max_size and waited < max_wait:
                continue  # give others a moment to join this batch
            plans.append(Plan(chunk, key, to))
    plans.sort(key=lambda p: p.intents[0].id)
    return plans

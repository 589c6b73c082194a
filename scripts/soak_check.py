"""The soak's verdict: drain, then compare what clients were told with the chain and the database.

* every accepted payment (payer, nonce) was used on chain exactly once (``AuthorizationUsed``)
  and the service's one transfer for it is ``confirmed`` — else it is *lost*;
* *duplicated*: a nonce used twice, two service transfers (that did not fail) for one authorization, an
  authorization used on chain that the service has no transfer for, a payment request paid by two transfers;
* ``reconcile`` (the same as ``machi reconcile``): the database ledger against balances and supply;
* every webhook event in the database reached the receiver at least once (by event id).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from sqlalchemy import func, select

from chain.outbox import IntentStatus, TxIntent
from procedures.merchants.models import Event, WebhookDelivery
from procedures.runtime import Runtime
from procedures.settlement.reconcile import reconcile
from procedures.transfers.models import Transfer

AUTHORIZATION_USED_TOPIC = keccak(text="AuthorizationUsed(address,bytes32)")


def drain(runtime: Runtime, timeout: float) -> float:
    """Wait until the outbox is empty, no transfer is open and no webhook is pending; returns seconds waited.

    Raises:
        RuntimeError: still busy after ``timeout`` (the report says what was left).
    """
    started = time.monotonic()
    while True:
        with runtime.sessions() as session:
            busy = {
                "intents": session.scalar(select(func.count()).select_from(TxIntent).where(
                    TxIntent.status.in_((IntentStatus.QUEUED, IntentStatus.PENDING)))) or 0,
                "transfers": session.scalar(select(func.count()).select_from(Transfer).where(
                    Transfer.status == "accepted")) or 0,
                "webhooks": session.scalar(select(func.count()).select_from(WebhookDelivery).where(
                    WebhookDelivery.status == "pending")) or 0,
            }
        if not any(busy.values()):
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"not drained after {timeout:.0f} s: {busy}")
        time.sleep(0.5)


@dataclass
class ChainView:
    """What the coin's events say: nonce uses per (authorizer, nonce) — one per relayed payment (a batch item
    emits ``AuthorizationUsed`` and its ``Transfer``, nothing else)."""

    used: Counter[tuple[str, str]]

    @classmethod
    def read(cls, runtime: Runtime) -> ChainView:
        w3, coin = runtime.w3, runtime.coin.address
        used: Counter[tuple[str, str]] = Counter()
        head, step = w3.eth.block_number, 2_000
        for start in range(0, head + 1, step):
            span = {"address": coin, "fromBlock": start, "toBlock": min(head, start + step - 1)}
            for log in w3.eth.get_logs({**span, "topics": [AUTHORIZATION_USED_TOPIC]}):  # type: ignore[typeddict-item]
                authorizer = to_checksum_address(bytes(log["topics"][1])[-20:])
                used[(authorizer, "0x" + bytes(log["topics"][2]).hex())] += 1
        return cls(used)


def payments_verdict(runtime: Runtime, accepted: Iterable[tuple[str, str]],
                     unacknowledged: Iterable[tuple[str, str]]) -> dict[str, int]:
    """Confirmed / lost / duplicated for the accepted payments, plus service-wide duplicates."""
    chain = ChainView.read(runtime)
    with runtime.sessions() as session:
        rows = session.execute(select(Transfer.from_wallet, Transfer.nonce, Transfer.status, Transfer.ref,
                                      Transfer.purpose, Transfer.kind)).all()
    by_key: dict[tuple[str, str], list[str]] = {}
    for payer, nonce, status, *_ in rows:
        by_key.setdefault((payer, nonce), []).append(status)
    # a failed transfer left its nonce unused, and the wallet may sign that number again: only the others count
    by_key = {key: [s for s in statuses if s != "failed"] or statuses for key, statuses in by_key.items()}
    confirmed = lost = duplicated = 0
    for key in accepted:
        statuses = by_key.get(key, [])
        if chain.used[key] > 1 or len(statuses) > 1:
            duplicated += 1
        elif chain.used[key] == 1 and statuses == ["confirmed"]:
            confirmed += 1
        else:
            lost += 1
    unacknowledged_confirmed = sum(1 for key in unacknowledged
                                   if chain.used[key] == 1 and by_key.get(key) == ["confirmed"])
    paid_by = Counter(purpose for _, _, status, _, purpose, kind in rows
                      if kind == "payment" and status == "confirmed" and purpose)
    return {
        "confirmed": confirmed,
        "lost": lost,
        "duplicated": duplicated
        + sum(1 for key in chain.used if key not in by_key)  # a payment on chain the service does not know
        + sum(1 for count in paid_by.values() if count > 1),
        "unacknowledged_confirmed": unacknowledged_confirmed,
        "transfers_total": len(rows),
        "transfers_failed": sum(1 for row in rows if row.status == "failed"),
    }


def reconcile_verdict(runtime: Runtime) -> tuple[int, dict[str, Any]]:
    """The number of differences ``machi reconcile`` reports (wallets, supply, records), and the report."""
    with runtime.sessions() as session:
        report = reconcile(session, runtime)
    differences = len(report["differences"]) + len(report["record_problems"]) + int(
        report["supply"]["difference"] != 0)
    return differences, report


def webhooks_verdict(runtime: Runtime, received: Counter[str]) -> dict[str, int]:
    """Events in the database vs. distinct event ids the receiver got."""
    with runtime.sessions() as session:
        events = set(session.scalars(select(Event.id)))
    return {
        "webhook_events": len(events),
        "webhooks_delivered": len(events & set(received)),
        "webhooks_undelivered": len(events - set(received)),
        "webhook_duplicates": sum(count - 1 for count in received.values()),
    }

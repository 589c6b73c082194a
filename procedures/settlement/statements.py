"""Merchant statements: one CSV of payments, refunds and payouts for a period.

Rows are dated by when they settled (payment confirmed, refund confirmed, payout created) and
sorted by that time. ``balance_effect`` is what the row did to the merchant's coin balance:
``+amount`` for a payment, ``-amount`` for a refund or a payout (the payout's fee and net yen
amount are given in their own columns). Accounting tools open it directly: UTF-8 with a BOM.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from procedures.merchants.models import PaymentRequest, Refund
from procedures.settlement.models import Payout
from protocol.citytime import CityClock

COLUMNS = ["type", "id", "settled_at", "created_at", "status", "amount", "fee", "net_yen", "balance_effect",
           "payment_request", "order_reference", "description", "payer", "batch"]
PAID = ("paid", "partially_refunded", "refunded")


def statement_rows(session: Session, merchant_id: str, start: datetime, end: datetime, *, payments: bool,
                   payouts: bool) -> list[dict[str, object]]:
    """The statement's rows for ``start`` ≤ settled < ``end``, oldest first."""
    rows: list[dict[str, object]] = []
    if payments:
        for pr in session.scalars(select(PaymentRequest).where(
                PaymentRequest.merchant_id == merchant_id, PaymentRequest.status.in_(PAID),
                and_(PaymentRequest.paid_at >= start, PaymentRequest.paid_at < end))):
            rows.append({"type": "payment", "id": pr.id, "settled_at": pr.paid_at, "created_at": pr.created_at,
                         "status": pr.status, "amount": pr.amount, "fee": 0, "net_yen": "",
                         "balance_effect": pr.amount, "payment_request": pr.id,
                         "order_reference": pr.order_reference or "", "description": pr.description or "",
                         "payer": pr.payer_wallet or "", "batch": ""})
        for refund, pr in session.execute(select(Refund, PaymentRequest).join(
                PaymentRequest, PaymentRequest.id == Refund.payment_request_id).where(
                Refund.merchant_id == merchant_id, Refund.status == "succeeded",
                and_(Refund.succeeded_at >= start, Refund.succeeded_at < end))).all():
            rows.append({"type": "refund", "id": refund.id, "settled_at": refund.succeeded_at,
                         "created_at": refund.created_at, "status": refund.status, "amount": refund.amount, "fee": 0,
                         "net_yen": "", "balance_effect": -refund.amount, "payment_request": pr.id,
                         "order_reference": pr.order_reference or "", "description": refund.reason or "",
                         "payer": pr.payer_wallet or "", "batch": ""})
    if payouts:
        for payout in session.scalars(select(Payout).where(
                Payout.merchant_id == merchant_id, Payout.status != "failed",
                and_(Payout.created_at >= start, Payout.created_at < end))):
            rows.append({"type": "payout", "id": payout.id, "settled_at": payout.created_at,
                         "created_at": payout.created_at, "status": payout.status, "amount": payout.amount,
                         "fee": payout.fee, "net_yen": payout.net_amount, "balance_effect": -payout.amount,
                         "payment_request": "", "order_reference": "", "description": "", "payer": "",
                         "batch": payout.batch_id or ""})
    rows.sort(key=lambda r: (str(r["settled_at"]), str(r["id"])))
    return rows


def _cell(value: object, clock: CityClock) -> object:
    if isinstance(value, datetime):
        return clock.iso(value)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value  # never let a spreadsheet run merchant-supplied text as a formula
    return value


def to_csv(rows: list[dict[str, object]], clock: CityClock) -> bytes:
    """The rows as CSV (UTF-8 with BOM, CRLF line ends, ISO 8601 times in the city's zone with its offset)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v, clock) for k, v in row.items()})
    return ("\ufeff" + buffer.getvalue()).encode()

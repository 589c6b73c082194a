"""What the identity service hands back: challenges and identity views.

Plain data, no personal data: the routes turn these into their response schemas.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from procedures.identity.certs import AssuranceLevel
from protocol.statement import LinkStatement, Purpose

__all__ = ["ChainView", "ChallengeView", "IdentityView", "IntentView", "OperationStatus"]


class OperationStatus(StrEnum):
    """Aggregate state of an operation's chain intents."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    FAILED = "failed"


@dataclass(frozen=True)
class ChallengeView:
    """A fresh challenge and the statement the resident signs with card and wallet."""

    nonce: str
    purpose: Purpose
    wallet: str
    expires_at: datetime
    statement: LinkStatement


@dataclass(frozen=True)
class IntentView:
    """One chain write of an operation, as the outbox sees it."""

    id: int
    kind: str
    status: str
    tx_hash: str | None
    block_number: int | None
    error_code: str | None
    error_message: str | None


@dataclass(frozen=True)
class IdentityView:
    """A wallet identity and the state of its last operation (no personal data)."""

    id: str
    wallet: str
    kind: str
    level: AssuranceLevel
    status: str
    action: str
    expires_at: datetime
    evidence_commitment: str
    attest_tx_hash: str | None
    operation_status: OperationStatus
    intents: list[IntentView]
    recovered_from: str | None
    rebound_to: str | None
    revocation_reason: str | None
    created_at: datetime
    note: str | None = None
    recovery_eta: datetime | None = None


@dataclass(frozen=True)
class ChainView:
    """What the chain says about a wallet."""

    kind: str
    level: int
    verified: bool
    expires_at: datetime | None
    balance: int

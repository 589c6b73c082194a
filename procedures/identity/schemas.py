"""Request and response bodies of the identity endpoints (``/v1/identity``).

Binary values travel as base64 (certificates, card signatures) or ``0x``-hex (the wallet's
signature); the statement is posted back exactly as the challenge returned it.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from procedures.errors import InvalidRequest
from procedures.identity.views import ChainView, IdentityView, IntentView
from procedures.schemas import RequestModel
from protocol.statement import CardSignatures, LinkStatement

__all__ = [
    "HEX",
    "CardIn",
    "ChallengeIn",
    "ChallengeOut",
    "IdentityOut",
    "MeOut",
    "OperationOut",
    "RecoverIn",
    "RevokeIn",
    "StatementIn",
]

#: ``0x`` and hex digits (addresses, hashes, signatures on the wire).
HEX = re.compile(r"0x[0-9a-fA-F]*")


class StatementIn(RequestModel):
    """The signed statement, as returned by the challenge."""

    model_config = ConfigDict(extra="forbid")

    purpose: str
    wallet: str
    chain_id: int
    registry: str
    nonce: str
    issued_at: int

    def parse(self) -> LinkStatement:
        return LinkStatement.from_json(self.model_dump())


class CardIn(RequestModel):
    """Certificates (DER) and card signatures (PKCS#1 v1.5 / SHA-256), base64."""

    model_config = ConfigDict(extra="forbid")

    statement: StatementIn
    auth_certificate: str = Field(description="user-authentication certificate, base64 DER")
    auth_signature: str = Field(description="signature by the user-authentication key, base64")
    signing_certificate: str | None = Field(None, description="signing certificate, base64 DER (adults)")
    signing_signature: str | None = Field(None, description="signature by the signing key, base64")
    wallet_signature: str = Field(description="the wallet's EIP-712 signature over the statement, 0x-hex (65 bytes)")

    def proof(self) -> CardSignatures:
        return CardSignatures(
            auth_certificate=_b64("auth_certificate", self.auth_certificate),
            auth_signature=_b64("auth_signature", self.auth_signature),
            signing_certificate=_b64_opt("signing_certificate", self.signing_certificate),
            signing_signature=_b64_opt("signing_signature", self.signing_signature),
        )

    def wallet_sig(self) -> bytes:
        value = self.wallet_signature
        if not HEX.fullmatch(value) or len(value) != 132:
            raise InvalidRequest("wallet_signature must be 0x and 65 bytes of hex", param="wallet_signature")
        return bytes.fromhex(value[2:])


class RecoverIn(CardIn):
    lost_wallet: str = Field(description="the wallet that was lost (its balance moves to the statement's wallet)")


class ChallengeIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    wallet: str = Field(description="0x address that will sign the statement")
    purpose: Literal["link", "recover", "renew"] = "link"


class RevokeIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    wallet: str
    reason: Literal["moved_out", "deceased", "card_revoked", "requested"]


def _b64(param: str, value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(f"{param} is not base64", param=param) from None


def _b64_opt(param: str, value: str | None) -> bytes | None:
    return None if value is None else _b64(param, value)


# --------------------------------------------------------------------------- responses
class ChallengeOut(BaseModel):
    nonce: str
    purpose: str
    wallet: str
    expires_at: datetime
    statement: dict[str, Any] = Field(description="sign its canonical text with the card, post it back as is")
    canonical: str = Field(description="the exact text the card signs (UTF-8)")
    typed_data: dict[str, Any] = Field(description="EIP-712 data the wallet signs (eth_signTypedData_v4)")


class OperationOut(BaseModel):
    action: str
    status: Literal["pending", "confirmed", "failed"]
    intents: list[IntentView]


class IdentityOut(BaseModel):
    id: str
    wallet: str
    kind: str
    level: Literal["card_authenticated", "resident_of_city"]
    status: str
    expires_at: datetime
    evidence_commitment: str
    attestation_tx_hash: str | None
    operation: OperationOut
    recovered_from: str | None = None
    rebound_to: str | None = None
    revocation_reason: str | None = None
    created_at: datetime
    note: str | None = Field(None, description="why this assurance level (link, recover and renew responses)")
    recovery_eta: datetime | None = Field(
        None, description="status recovering: from when the recovery may run (set once the request is on chain); "
                          "until then the lost wallet or the city's freezer can cancel it")

    @classmethod
    def of(cls, view: IdentityView) -> IdentityOut:
        return cls(
            id=view.id, wallet=view.wallet, kind=view.kind, level=view.level.name.lower(),
            status=view.status, expires_at=view.expires_at, evidence_commitment=view.evidence_commitment,
            attestation_tx_hash=view.attest_tx_hash,
            operation=OperationOut(
                action=view.action, status=view.operation_status,
                intents=view.intents,
            ),
            recovered_from=view.recovered_from, rebound_to=view.rebound_to,
            revocation_reason=view.revocation_reason, created_at=view.created_at, note=view.note,
            recovery_eta=view.recovery_eta,
        )


class PendingRecoveryOut(BaseModel):
    identity_id: str
    lost_wallet: str
    new_wallet: str
    requested_at: datetime
    eta: datetime | None = Field(description="from when it may run (None until the request is on chain)")
    request_status: str = Field(description="the request's outbox intent: queued … confirmed or failed")
    cancel_requested: bool
    cancel_typed_data: dict[str, Any] | None = Field(
        None, description="for the lost wallet: the EIP-712 CancelRecovery to sign to cancel it")


class CancelRecoveryIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    signature: str = Field(description="the lost wallet's 65-byte EIP-712 CancelRecovery signature, 0x hex")


class MeOut(BaseModel):
    wallet: str
    identity: IdentityOut | None
    chain: ChainView

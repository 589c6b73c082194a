"""Errors of the identity service (My Number card / JPKI linking): a branch of ``ServiceError``.

Every error carries a stable machine-readable ``code`` (part of the API contract: clients and tests
match on it), the HTTP ``status`` and error ``type`` it answers with, and a human ``message`` built
here, not at the raise site; ``procedures.errors`` turns them into the one error shape. What the
wallet raises too — malformed statements, nonces, the wallet's signature, cards and PINs — lives in
``protocol.errors``.

Privacy: messages never contain personal data (names, addresses, birth dates, certificate serial
numbers, PINs or My Numbers).  ``details`` only holds values that are safe to return to the caller
and to log (e.g. ``paths``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from procedures.errors import ServiceError

__all__ = [
    "BadCardSignature",
    "CancelSignatureInvalid",
    "CertificateError",
    "CertificateExpired",
    "CertificateMismatch",
    "CertificateNotYetValid",
    "CertificateRevoked",
    "IdentityError",
    "IdentityNotFound",
    "LostWalletFrozen",
    "LostWalletMismatch",
    "MalformedCertificate",
    "MyNumberRefused",
    "NoPendingRecovery",
    "RecoveryPending",
    "RevocationUnavailable",
    "SigningCertificateRequired",
    "SubjectAlreadyLinked",
    "SubjectMismatch",
    "SubjectNotLinked",
    "UnknownRoot",
    "WalletAlreadyLinked",
    "WalletRetired",
    "WrongKeyUsage",
    "WrongPolicy",
]


def _which(which: str | None) -> str:
    return f"the {which} certificate" if which else "the certificate"


class IdentityError(ServiceError):
    """Root of the identity service's errors: ``code`` (stable string), ``message``, safe ``details``."""

    status = 400
    type = "invalid_request_error"
    code = "identity_error"
    default_message = "identity verification failed"

    def __init__(self, message: str | None = None, **details: Any) -> None:
        super().__init__(message or self.default_message)
        self.details: dict[str, Any] = details

    def to_dict(self) -> dict[str, Any]:
        """The error body: ``{"code", "message", **details}`` (safe to return)."""
        return {"code": self.code, "message": self.message, **self.details}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


# --- certificates -------------------------------------------------------------------


class CertificateError(IdentityError):
    """The card certificate cannot be accepted."""

    code = "certificate_invalid"
    status = 422
    default_message = "the card certificate cannot be accepted"


class MalformedCertificate(CertificateError):
    code = "malformed_certificate"
    status = 400

    def __init__(self, reason: str, *, which: str | None = None) -> None:
        super().__init__(f"{_which(which)} is malformed or outside the JPKI profile: {reason}")


class UnknownRoot(CertificateError):
    code = "unknown_root"

    def __init__(self, *, which: str | None = None, detail: str | None = None) -> None:
        msg = f"{_which(which)} was not issued by a configured JPKI root"
        super().__init__(f"{msg} ({detail})" if detail else msg)


class CertificateExpired(CertificateError):
    """JPKI certificates expire on a birthday, so the date is kept off the message
    (messages get logged); it is available as ``not_after`` for the card holder."""

    code = "certificate_expired"

    def __init__(self, *, which: str | None = None, not_after: datetime | None = None) -> None:
        self.not_after = not_after
        super().__init__(f"{_which(which)} has expired; renew the card's certificates")


class CertificateNotYetValid(CertificateError):
    code = "certificate_not_yet_valid"

    def __init__(self, *, which: str | None = None, not_before: datetime | None = None) -> None:
        self.not_before = not_before
        super().__init__(f"{_which(which)} is not valid yet (check the clock)")


class CertificateRevoked(CertificateError):
    code = "certificate_revoked"
    status = 403
    type = "permission_error"

    def __init__(
        self,
        *,
        which: str | None = None,
        reason: str | None = None,
        revoked_at: datetime | None = None,
    ) -> None:
        self.reason = reason
        self.revoked_at = revoked_at
        why = f" (reason: {reason})" if reason else ""
        super().__init__(f"{_which(which)} has been revoked{why}", reason=reason)


class WrongKeyUsage(CertificateError):
    code = "wrong_key_usage"

    def __init__(self, detail: str, *, which: str | None = None) -> None:
        super().__init__(f"{_which(which)} has the wrong key usage: {detail}")


class WrongPolicy(CertificateError):
    code = "wrong_policy"

    def __init__(self, detail: str, *, which: str | None = None) -> None:
        super().__init__(f"{_which(which)} has the wrong certificate policy: {detail}")


class RevocationUnavailable(CertificateError):
    """Revocation status could not be established; verification fails closed."""

    code = "revocation_unavailable"
    status = 503
    type = "api_error"

    def __init__(self, detail: str, *, which: str | None = None) -> None:
        super().__init__(f"revocation status of {_which(which)} is unavailable: {detail}")


class BadCardSignature(IdentityError):
    """A card key's signature does not match the statement (the wallet's own is ``protocol``'s)."""

    status = 401
    type = "authentication_error"
    code = "bad_card_signature"

    def __init__(self, *, which: str | None = None, detail: str | None = None) -> None:
        key = f"{which} key" if which else "card key"
        msg = f"the card's {key} signature does not match this statement"
        super().__init__(f"{msg}: {detail}" if detail else msg)


# --- linking ------------------------------------------------------------------------


class SubjectAlreadyLinked(IdentityError):
    """Raised by the service: one person, one live wallet."""

    code = "subject_already_linked"
    status = 409
    type = "conflict_error"

    def __init__(self) -> None:
        super().__init__(
            "this card holder is already linked to another live wallet; "
            "use wallet recovery to move the link"
        )


class WalletAlreadyLinked(IdentityError):
    """The wallet already has a live identity (or another live record on chain)."""

    code = "wallet_already_linked"
    status = 409
    type = "conflict_error"

    def __init__(self) -> None:
        super().__init__("this wallet is already linked; use renew to refresh its attestation")


class WalletRetired(IdentityError):
    """The wallet was given up by a recovery and can never be linked again."""

    code = "wallet_retired"
    status = 409
    type = "conflict_error"

    def __init__(self) -> None:
        super().__init__("this wallet was replaced by a recovery and cannot be linked again; create a new wallet")


class CertificateMismatch(IdentityError):
    """The signing and user-authentication certificates are known under different persons."""

    code = "certificate_mismatch"
    status = 409
    type = "conflict_error"

    def __init__(self) -> None:
        super().__init__("the card's two certificates belong to different card holders")


class SubjectNotLinked(IdentityError):
    """Recovery for a card holder who has no live wallet."""

    code = "subject_not_linked"
    status = 404
    type = "not_found_error"

    def __init__(self) -> None:
        super().__init__("this card holder has no linked wallet to recover; link the card instead")


class LostWalletMismatch(IdentityError):
    """Recovery named a lost wallet that is not the card holder's live wallet."""

    code = "lost_wallet_mismatch"
    status = 409
    type = "conflict_error"

    def __init__(self, detail: str | None = None) -> None:
        msg = "the lost wallet is not the wallet this card holder is linked to"
        super().__init__(f"{msg} ({detail})" if detail else msg)


class SigningCertificateRequired(IdentityError):
    """A recovery moves someone's coins: the authentication certificate (a card and a 4-digit PIN) is not
    enough, the name-bearing signing certificate (its 6–16 character password) must sign too."""

    code = "signing_certificate_required"
    status = 403
    type = "permission_error"

    def __init__(self) -> None:
        super().__init__("recovering a wallet needs the card's signing certificate (its 6-16 character "
                         "password), not the authentication certificate alone")


class RecoveryPending(IdentityError):
    """A recovery of this person's wallet is already announced and waiting for its delay."""

    code = "recovery_pending"
    status = 409
    type = "conflict_error"

    def __init__(self) -> None:
        super().__init__("a recovery of this wallet is already pending; wait for it, or cancel it first")


class LostWalletFrozen(IdentityError):
    """The lost wallet is frozen (not as "reported lost"): no recovery may move it."""

    code = "lost_wallet_frozen"
    status = 409
    type = "conflict_error"

    def __init__(self) -> None:
        super().__init__("the lost wallet is frozen; a recovery needs it unfrozen, or frozen as reported lost "
                         "at the counter")


class NoPendingRecovery(IdentityError):
    """No recovery of this wallet is waiting (never requested, already executed or cancelled)."""

    code = "no_pending_recovery"
    status = 404
    type = "not_found_error"

    def __init__(self) -> None:
        super().__init__("no recovery of this wallet is pending")


class CancelSignatureInvalid(IdentityError):
    """The cancellation was not signed by the lost wallet (or not for the pending request)."""

    code = "invalid_signature"
    status = 422
    type = "invalid_request_error"

    def __init__(self) -> None:
        super().__init__("the cancellation is not signed by the lost wallet for the pending recovery")


class SubjectMismatch(IdentityError):
    """Renewal with the card of somebody other than the wallet's holder."""

    code = "subject_mismatch"
    status = 403
    type = "permission_error"

    def __init__(self) -> None:
        super().__init__("this card does not belong to the holder of this wallet")


class IdentityNotFound(IdentityError):
    code = "identity_not_found"
    status = 404
    type = "not_found_error"

    def __init__(self, what: str = "this wallet has no live identity") -> None:
        super().__init__(what)


# --- My Number ----------------------------------------------------------------------


class MyNumberRefused(IdentityError):
    code = "my_number_refused"
    status = 422

    def __init__(self, *, paths: list[str] | None = None) -> None:
        where = f" (at {', '.join(paths)})" if paths else ""
        super().__init__(
            "the input appears to contain a 12-digit individual number (My Number)"
            f"{where}; this service must not receive it — remove it and retry",
            paths=paths or [],
        )

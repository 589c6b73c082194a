"""Errors of the shared protocol: what the wallet and the service both raise about the bytes they exchange.

They hang under ``chain.errors.MachiError`` like every error the project raises on purpose. Each
carries a stable machine-readable ``code`` (clients and tests match on it) and a ``message`` built
here, not at the raise site. This package knows nothing of HTTP: the service maps these errors to
its status codes in one place (``procedures.errors``).

Privacy: messages never contain personal data; ``details`` only holds values safe to show and log.
"""

from __future__ import annotations

from typing import Any, ClassVar

from chain.errors import MachiError

__all__ = [
    "CardError",
    "CardLocked",
    "InvalidAddress",
    "InvalidPinFormat",
    "MalformedStatement",
    "NonceExpired",
    "NonceReused",
    "ProtocolError",
    "SignatureError",
    "StatementError",
    "WalletSignatureMismatch",
    "WrongPin",
]


class ProtocolError(MachiError):
    """Root of the protocol's errors: ``code`` (stable string), ``message`` and safe ``details``."""

    code = "protocol_error"
    default_message: ClassVar[str] = "the message does not follow the protocol"

    def __init__(self, message: str | None = None, **details: Any) -> None:
        self.message = message or self.default_message
        self.details: dict[str, Any] = details
        super().__init__(self.message)

    def to_dict(self) -> dict[str, Any]:
        """``{"code", "message", **details}`` (safe to show and to log)."""
        return {"code": self.code, "message": self.message, **self.details}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class InvalidAddress(ProtocolError, ValueError):
    """Not a ``0x`` address, or a mixed-case one whose EIP-55 checksum is wrong (a typo, most likely).

    Also a ``ValueError``, so code that parses untrusted input keeps one ``except`` for bad values.
    """

    code = "invalid_address"

    def __init__(self, what: str = "address", *, checksum: bool = False) -> None:
        self.bad_checksum = checksum
        problem = "has an invalid EIP-55 checksum" if checksum else "is not a valid address"
        super().__init__(f"{what} {problem}")


# --- link statements and their nonces -------------------------------------------------


class StatementError(ProtocolError):
    """The link statement (or its challenge nonce) cannot be accepted."""

    code = "statement_invalid"


class MalformedStatement(StatementError):
    code = "malformed_statement"

    def __init__(self, detail: str) -> None:
        super().__init__(f"the link statement is malformed: {detail}")


class NonceReused(StatementError):
    code = "nonce_reused"

    def __init__(self) -> None:
        super().__init__("this challenge nonce has already been used; request a new challenge")


class NonceExpired(StatementError):
    code = "nonce_expired"

    def __init__(self, detail: str | None = None) -> None:
        msg = "the challenge nonce is stale or unknown; request a new challenge"
        super().__init__(f"{msg} ({detail})" if detail else msg)


class SignatureError(ProtocolError):
    code = "signature_invalid"
    default_message = "a signature does not verify"


class WalletSignatureMismatch(SignatureError):
    code = "wallet_signature_mismatch"

    def __init__(self, detail: str | None = None) -> None:
        msg = "the wallet signature was not made by the statement's wallet over this statement"
        super().__init__(f"{msg} ({detail})" if detail else msg)


# --- cards ----------------------------------------------------------------------------


class CardError(ProtocolError):
    """The card (or reader) failed; ``sw`` holds the ISO 7816 status word if any.

    ``details`` name the secret concerned (``which``: ``PIN`` or ``signing password``) or the failure
    (``detail``), so the wallet can word the error in the resident's language."""

    code = "card_error"

    def __init__(self, detail: str, *, sw: int | None = None) -> None:
        self.sw = sw
        suffix = f" (SW {sw:04X})" if sw is not None else ""
        super().__init__(f"card error: {detail}{suffix}", detail=detail + suffix)


class WrongPin(CardError):
    code = "wrong_pin"

    def __init__(self, *, retries_left: int | None = None, which: str = "PIN") -> None:
        self.sw = None
        self.retries_left = retries_left
        left = f"; {retries_left} attempt(s) left before the card locks" if retries_left else ""
        ProtocolError.__init__(self, f"wrong {which}{left}", retries_left=retries_left, which=which)


class CardLocked(CardError):
    code = "card_locked"

    def __init__(self, *, which: str = "PIN") -> None:
        self.sw = None
        ProtocolError.__init__(
            self,
            f"the card's {which} is locked after too many wrong attempts; reset it at the city office",
            which=which,
        )


class InvalidPinFormat(CardError):
    """Rejected locally, before it reaches the card (so no retry is spent)."""

    code = "invalid_pin_format"

    def __init__(self, rule: str, *, which: str = "PIN") -> None:
        self.sw = None
        ProtocolError.__init__(self, f"invalid PIN format: {rule}", which=which)

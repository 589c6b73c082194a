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

__all__ = ["InvalidAddress", "ProtocolError"]


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
        problem = "has an invalid EIP-55 checksum" if checksum else "is not a valid address"
        super().__init__(f"{what} {problem}")

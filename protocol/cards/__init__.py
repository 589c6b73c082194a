"""Card signers — the My Number card in a PC/SC reader (``pcsc``) or a software test card (``soft``) —
for both programs that hold a card: the resident's wallet (linking, recovery) and the merchant's counter
(paying with the card, no phone)."""

from __future__ import annotations

import os

from protocol.cards.base import CardSigner, sign_with_card
from protocol.statement import CardSignatures

__all__ = ["CARD_SPEC", "CardSignatures", "CardSigner", "UnknownCardKind", "open_card", "sign_with_card"]

#: What ``open_card`` takes, as help text says it.
CARD_SPEC = "soft:PATH.p12 or pcsc[:READER]"


class UnknownCardKind(ValueError):
    """A card spec that is neither ``soft:PATH`` nor ``pcsc[:READER]``."""


def open_card(spec: str, pin: str) -> CardSigner:
    """A card signer from ``soft:PATH.p12`` (software test card, opened with ``pin``) or ``pcsc[:READER]``
    (the card in a reader: the first one, or the one whose name is given).

    Raises:
        UnknownCardKind: an unknown kind of card.
        CardError, WrongPin, InvalidPinFormat: the card could not be opened.
    """
    kind, _, rest = spec.partition(":")
    if kind == "soft" and rest:
        from protocol.cards.soft import SoftCard

        return SoftCard(os.path.expanduser(rest), pin)
    if kind == "pcsc":
        from protocol.cards.pcsc import PcscCard

        return PcscCard.connect(rest or None)
    raise UnknownCardKind(f"use {CARD_SPEC}")

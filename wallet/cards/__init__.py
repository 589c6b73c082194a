"""Card signers: the resident's My Number card (PC/SC) or a software test card."""

from protocol.statement import CardSignatures
from wallet.cards.base import CardSigner, sign_with_card

__all__ = ["CardSignatures", "CardSigner", "sign_with_card"]

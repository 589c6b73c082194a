"""Card signers: the resident's My Number card (PC/SC) or a software test card."""

from wallet.cards.base import CardSignatures, CardSigner, sign_with_card

__all__ = ["CardSignatures", "CardSigner", "sign_with_card"]

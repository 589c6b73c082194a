"""Paying with the My Number card at a merchant's counter, no phone: card wallets (custodial, opted in at a
city counter), the card-signed payment statement checked against the linked card, limits per payment and
per day. Modules: ``models``, ``schemas``, ``errors``, ``service``, ``routes``."""

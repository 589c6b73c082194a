"""What the resident's wallet and the service agree on, byte for byte, with nothing of the server in it.

Both sides import this package: the wallet (and the merchant's counter, ``pos``) to build and sign what
it sends and to verify what it gets back, the service to check the same bytes. It holds no web
framework, no database and no server settings (``tests/wallet/test_isolation.py`` keeps it so), and
reaches the chain only through ``chain``.

* ``protocol.statement`` — the card link statement: canonical bytes for the card, EIP-712 for the
  wallet, the card's signatures; ``protocol.nonces`` — its single-use challenge nonces.
* ``protocol.applications`` — content hashes, EIP-712 acts and Merkle leaves of e-applications;
  ``protocol.receipts`` — checking an application's receipt against the chain alone.
* ``protocol.payment_uri`` — EIP-681 payment URIs; ``protocol.qr`` — QR codes drawn in a terminal.
* ``protocol.cards`` — card signers (PC/SC JPKI reader, software test card) for the wallet and the counter.
* ``protocol.counter`` — what a card signs at a counter (a payment, the card wallet opt-in);
  ``protocol.offline`` — offline payments against a reserve and the counter's offline checks.
* ``protocol.citytime`` — the city's time zone (every time a person sees) and business-day calendar
  (deadlines), with the calendars as data in ``protocol/calendars/``.
* ``protocol.eip712``, ``protocol.addresses`` — the EIP-712 domain and signing; the one address check.
* ``protocol.errors`` — what both sides raise (malformed statements, bad signatures, card and PIN
  failures), under ``chain.errors.MachiError``; the service maps them to HTTP in ``procedures.errors``.
"""

"""``machi-pos``, the merchant's counter program: a client of the public merchant API, like ``wallet`` a
client of the resident API. It imports nothing of the service (``procedures``); what it shares with the
wallet lives in ``protocol`` (QR codes, languages, the card's errors).

* ``pos.cli`` — the command group; ``pos.counter`` — charge, receipt, refund; ``pos.statement`` — the day.
* ``pos.api`` — the merchant API client and ``PosError``; ``pos.i18n`` — what it says, ja/en.
* ``pos.receipts`` — the receipt as text and PDF; ``pos.context`` — the key, the console.
"""

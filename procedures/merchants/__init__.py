"""The merchant payment API: merchants and their API keys, payment requests (QR codes) and the
residents' checkout, refunds, events and signed webhooks, ``Idempotency-Key``."""

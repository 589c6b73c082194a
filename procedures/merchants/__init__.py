"""The merchant payment API: merchants and their API keys, payment requests (QR codes) and the
residents' checkout, refunds, events and signed webhooks, ``Idempotency-Key``.

    models.py            Merchant, ApiKey, PaymentRequest, Refund, webhook and idempotency tables
    accounts.py          onboarding, bank account, suspension; ``merchant.*`` intents coming back
    api_keys.py          keys: issue, rotate, revoke; resolving ``mk_…`` tokens to the merchant
    payment_requests.py  create, pay (exactly once), cancel, expire; the paid/failed transfer hook
    codes.py             EIP-681 URIs and QR images
    refunds.py           refunds and their transfer hook
    webhooks.py          events (``emit``), endpoints, redelivery
    webhook_delivery.py  signing and the delivery worker
    idempotency.py       ``Idempotency-Key`` for money-moving POSTs
    rows.py              the merchant's own row or 404
    deps.py              the calling merchant, checked for a scope
    schemas.py           request and response bodies (merchant API, checkout, operator)
    routes.py            the merchant API; checkout_routes.py: residents paying merchants
"""

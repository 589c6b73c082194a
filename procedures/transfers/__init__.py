"""Coins moving: gasless transfers (signed ERC-3009 authorizations relayed in batches), the custodial
wallets the service signs for (merchants, the city treasury), and the resident's wallet endpoints.

    models.py     Transfer, CustodialWallet
    service.py    accept (validate, screen on chain, queue in the outbox); settle when final
    pending.py    what accepted transfers will change that the chain does not show yet; the wallet lock
    custodial.py  wallets the service holds keys for; paying from them; the city treasury
    schemas.py    request and response bodies
    routes.py     /v1/coin, /v1/wallet/balance, /v1/wallet/history, /v1/transfers
"""

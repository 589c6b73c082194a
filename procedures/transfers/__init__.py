"""Coins moving: gasless transfers (signed ERC-3009 authorizations relayed in batches), the custodial
wallets the service signs for (merchants, the city treasury), and the resident's wallet endpoints."""

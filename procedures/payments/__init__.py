"""The regional currency in use: gasless transfers (ERC-3009 authorizations relayed in batches),
custodial city and merchant wallets, and — built on those — the merchant payment API."""

"""E-applications: the procedure catalog, residents' signed submissions, the clerks' approval API,
fees and benefits in the coin, and events anchored on chain as Merkle roots with verifiable receipts.

    catalog.py      procedure types as data (``procedures/catalog/*.json``)
    protocol.py     content hashes, EIP-712 acts, leaves, receipt verification (shared with the wallet)
    transitions.py  the transition table with role checks
    service.py      submit / resubmit / withdraw; claim / assign / decide / comment; queue
    records.py      events (audit log + leaves) and notifications
    money.py        fees (ERC-3009 to the treasury), refunds, benefit mints
    anchoring.py    the anchorer worker and receipts
    jobs.py         the catalog check at start-up; correction deadlines and retention (crypto-erasure)
    routes.py       HTTP endpoints (``schemas.py``: their bodies)
"""

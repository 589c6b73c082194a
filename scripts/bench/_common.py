"""What every benchmark needs: a throwaway database (SQLite in a temp dir, or a fresh schema on
the PostgreSQL of ``DATABASE_URL``) that is dropped afterwards, and gas money for its accounts sent
as plain transfers (any node: no node-control calls such as ``anvil_setBalance``)."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Sequence

from eth_account.signers.local import LocalAccount
from sqlalchemy import Engine, create_engine, text
from web3 import Web3

from chain.fees import FeePolicy, build_transaction
from procedures.config import normalise_database_url


def bench_database() -> tuple[str, str | None, Engine | None]:
    """(SQLAlchemy URL, PostgreSQL schema or None, admin engine or None) for one benchmark run."""
    raw = os.environ.get("DATABASE_URL")
    if not raw:
        return f"sqlite:///{tempfile.mkdtemp(prefix='machi-bench-')}/bench.db", None, None
    url = normalise_database_url(raw)
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    return url, schema, admin


def drop_bench_database(schema: str | None, admin: Engine | None) -> None:
    """Drop the schema made by ``bench_database`` (nothing to do for SQLite)."""
    if admin is None or schema is None:
        return
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def fund(w3: Web3, funder: LocalAccount, addresses: Sequence[str], wei: int, fees: FeePolicy | None = None) -> None:
    """Send ``wei`` to each address from ``funder`` (a dev account) and wait for the last transfer."""
    policy = fees or FeePolicy()
    quote, chain_id = policy.quote(w3), w3.eth.chain_id
    nonce = w3.eth.get_transaction_count(funder.address, "pending")
    last = None
    for offset, address in enumerate(addresses):
        tx = build_transaction(policy, chain_id=chain_id, nonce=nonce + offset, to=address, data=b"", value=wei,
                               gas=21_000, fees=quote)
        last = w3.eth.send_raw_transaction(funder.sign_transaction(tx).raw_transaction)
    if last is not None:
        w3.eth.wait_for_transaction_receipt(last, timeout=120, poll_latency=0.05)

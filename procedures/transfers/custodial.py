"""Custodial wallets: wallets whose key the service holds, sealed at rest under a data key of their
own — merchants' wallets and the city's accounts (the treasury). The service signs from them only
for what a domain asks (refunds, payouts, fee refunds), through the same ``accept`` as residents.
"""

from __future__ import annotations

import time

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from sqlalchemy import select
from sqlalchemy.orm import Session

from chain.contracts.authorization import random_nonce
from chain.contracts.base import Call
from chain.contracts.registry import Kind
from chain.outbox import TxIntent, enqueue
from procedures.addresses import checksum
from procedures.crypto import Vault
from procedures.errors import NotFound
from procedures.runtime import Runtime
from procedures.transfers.models import CustodialWallet, Transfer
from procedures.transfers.service import accept


def create_custodial_wallet(session: Session, vault: Vault, owner_type: str, owner_id: str) -> CustodialWallet:
    """A new wallet whose key is stored encrypted under its own data key."""
    account = Account.create()
    key_id = vault.new_key(session, f"custodial-{owner_type}")
    wallet = CustodialWallet(
        address=account.address,
        owner_type=owner_type,
        owner_id=owner_id,
        key_id=key_id,
        key_blob=vault.seal(session, key_id, bytes(account.key), aad=account.address.encode()),
    )
    session.add(wallet)
    session.flush()
    return wallet


def custodial_account(session: Session, vault: Vault, address: str) -> LocalAccount:
    """The key of a custodial wallet (decrypted for the moment of signing).

    Raises:
        NotFound: not a custodial wallet.
    """
    wallet = session.get(CustodialWallet, checksum(address))
    if wallet is None:
        raise NotFound(f"{address} is not a wallet held by the service")
    key: LocalAccount = Account.from_key(
        vault.open(session, wallet.key_id, wallet.key_blob, aad=wallet.address.encode())
    )
    return key


def pay_from_custodial(
    session: Session,
    runtime: Runtime,
    from_address: str,
    to: str,
    amount: int,
    *,
    kind: str,
    purpose: str | None = None,
    memo: str | None = None,
) -> Transfer:
    """Sign an authorization with a custodial wallet's key and accept it (refunds, fee refunds)."""
    account = custodial_account(session, runtime.vault, from_address)
    now = int(time.time())
    auth = runtime.coin.sign_authorization(account, to, amount, nonce=random_nonce(), valid_before=now + 3600)
    return accept(session, runtime, auth, kind=kind, purpose=purpose, memo=memo)


TREASURY = "treasury"


def treasury_address(session: Session) -> str | None:
    """The city treasury's wallet (receives fees, pays fee refunds), if bootstrapped."""
    return session.scalar(
        select(CustodialWallet.address).where(
            CustodialWallet.owner_type == "city", CustodialWallet.owner_id == TREASURY
        )
    )


#: A city account's registration lasts as long as the city runs it.
CITY_ACCOUNT_LIFETIME_S = 50 * 365 * 86400


def city_account_registration(runtime: Runtime, address: str, account: str) -> Call:
    """The registrar's call registering ``address`` as the city account named ``account`` (kind City)."""
    return runtime.registry.register_city_account_call(
        address, keccak(b"machi:city-account:" + account.encode()), int(time.time()) + CITY_ACCOUNT_LIFETIME_S,
        b"\0" * 32)


def ensure_registered(runtime: Runtime, address: str, account: str, *, kind: str, reference: str) -> None:
    """Start-up hook body: register the service-held ``address`` as a City account on chain, once (not if its
    registration is queued already or the chain has it)."""
    registrar = runtime.keys.registrar.address
    with runtime.sessions() as session, session.begin():
        if session.scalar(select(TxIntent.id).where(TxIntent.sender == registrar,
                                                    TxIntent.reference == reference)) is not None:
            return
        status = runtime.registry.status(address)
        if status.kind is Kind.CITY and status.verified:
            return
        call = city_account_registration(runtime, address, account)
        enqueue(session, sender=registrar, to=call.to, data=call.data, kind=kind, reference=reference)


def ensure_city_wallet(session: Session, runtime: Runtime, owner_id: str = TREASURY) -> CustodialWallet:
    """Create a city account (custodial) and register it on chain as kind City, once."""
    existing = session.scalar(
        select(CustodialWallet).where(CustodialWallet.owner_type == "city", CustodialWallet.owner_id == owner_id)
    )
    if existing is not None:
        return existing
    wallet = create_custodial_wallet(session, runtime.vault, "city", owner_id)
    call = city_account_registration(runtime, wallet.address, owner_id)
    intent = enqueue(
        session,
        sender=runtime.keys.registrar.address,
        to=call.to,
        data=call.data,
        kind="registry.register_city",
        reference=f"city-account:{owner_id}",
    )
    wallet.registration_intent_id = intent.id
    return wallet


def bootstrap_treasury(runtime: Runtime) -> None:
    """Start-up hook: the city treasury's wallet exists (and its registration is queued), once."""
    with runtime.sessions() as session, session.begin():
        ensure_city_wallet(session, runtime)

"""Trust in the keys (issue 13): one key per role, a relayer that signs only what its role may, the role
table at start-up and for admins, production by default. Real anvil, real database.
"""

from __future__ import annotations

import dataclasses
import os
import time

import pytest
from eth_account import Account
from prometheus_client import REGISTRY
from pydantic import ValidationError
from sqlalchemy import select

from chain.contracts.authorization import random_nonce
from chain.contracts.base import Call, send_call
from chain.errors import ContractLogicError
from chain.outbox import ChainTx, IntentStatus, TxIntent
from chain.relayer import BAD_BATCH_ITEM, NOT_ALLOWED
from chain.roles import KEY_NAMES, RoleMisconfigured
from procedures.config import DEV_RELAYER_KEY, Settings
from procedures.errors import Unavailable
from procedures.identity.trust import build_trust
from tests.chain.contracts.helpers import unchecked_call
from tests.procedures.conftest import MONITORING, wait_until


def _refused(sender: str) -> float:
    return sum(REGISTRY.get_sample_value("machi_relayer_refused_calls_total", {"key": key, "sender": sender}) or 0
               for key in KEY_NAMES)


# --------------------------------------------------------------------------- start-up role check
def test_start_up_refuses_a_hot_key_holding_a_role_it_must_not(runtime, keys):
    table = runtime.check_roles()
    assert [row.key for row in table] == list(KEY_NAMES) and all(row.ok for row in table)
    assert {row.address for row in table} == {key.address for key in runtime.keys.by_name().values()}
    send_call(runtime.w3, keys.admin, runtime.coin.grant_role_call("RECOVERY_ROLE", runtime.keys.relayer.address))
    with pytest.raises(RoleMisconfigured, match=r"the relayer key .* holds RegionalCoin.RECOVERY_ROLE"):
        runtime.check_roles()
    send_call(runtime.w3, keys.admin, runtime.coin.revoke_role_call("RECOVERY_ROLE", runtime.keys.relayer.address))
    send_call(runtime.w3, keys.admin, runtime.ledger.grant_role_call("DEFAULT_ADMIN_ROLE",
                                                                     runtime.keys.freezer.address))
    with pytest.raises(RoleMisconfigured, match=r"the freezer key .* holds ProcedureLedger.DEFAULT_ADMIN_ROLE"):
        runtime.check_roles()


def test_a_missing_role_shows_in_the_table_without_refusing(runtime, keys):
    send_call(runtime.w3, keys.admin, runtime.coin.revoke_role_call("FREEZER_ROLE", runtime.keys.freezer.address))
    table = {row.key: row for row in runtime.check_roles()}
    assert table["freezer"].missing == ("RegionalCoin.FREEZER_ROLE",) and not table["freezer"].ok
    assert table["relayer"].ok


def test_healthz_shows_the_role_table_to_admins_only(client, operator, make_resident):
    assert "keys" not in client.get("/healthz").json()
    resident = make_resident()
    assert "keys" not in client.get("/healthz", headers=resident.headers).json()
    assert "keys" not in client.get("/healthz", headers={"Authorization": "Bearer nonsense"}).json()
    keys = client.get("/healthz", headers=operator).json()["keys"]
    assert keys["ok"] is True
    assert [row["key"] for row in keys["keys"]] == list(KEY_NAMES)
    relayer = keys["keys"][0]
    assert relayer["roles"] == ["OfflineReserve.RELAYER_ROLE", "ProcedureLedger.ANCHOR_ROLE",
                                "RegionalCoin.RELAYER_ROLE"] and relayer["ok"]
    assert [row for row in keys["keys"] if row["key"] == "topup_minter"][0]["roles"] == ["minter"]


# --------------------------------------------------------------------------- the allowlist
def test_forged_intents_are_never_signed(client, runtime, sessions, arrange, make_resident, counter):
    victim = make_resident(coins=5_000)
    thief = Account.create().address
    arrange.attest(thief)
    coin, registry, keys = runtime.coin, runtime.registry, runtime.keys
    forged: list[tuple[str, Call]] = [
        (keys.relayer.address, coin.request_recovery_call(victim.address, thief, os.urandom(32))),
        (keys.relayer.address, unchecked_call(registry, "rebind", victim.address, thief, os.urandom(32))),
        (keys.relayer.address, coin.grant_role_call("RECOVERY_ROLE", thief)),
        (keys.relayer.address, coin.mint_call(thief, 1_000)),
        (keys.relayer.address, Call(counter.address, coin.transfer_call(thief, 1).data)),  # another contract
        (keys.registrar.address, coin.request_recovery_call(victim.address, thief, os.urandom(32))),
        (keys.registrar.address, coin.grant_role_call("DEFAULT_ADMIN_ROLE", thief)),
        (keys.freezer.address, coin.transfer_from_call(victim.address, thief, 5_000)),
        (keys.recovery.address, unchecked_call(registry, "rebind", victim.address, thief, os.urandom(32))),
        (keys.topup_minter.address, coin.request_recovery_call(victim.address, thief, os.urandom(32))),
        (keys.relayer.address, coin.execute_recovery_call(victim.address)),
        (keys.registrar.address, coin.cancel_recovery_call(victim.address)),
        (keys.benefits_minter.address, coin.grant_role_call("MASTER_MINTER_ROLE", thief)),
        (keys.settlement.address, coin.mint_call(thief, 1_000)),
        (keys.settlement.address, coin.batch_call([])),
    ]
    refused_before = {sender: _refused(sender) for sender, _ in forged}
    with sessions() as session, session.begin():  # an attacker with write access to the database
        rows = [TxIntent(sender=sender, kind="transfer", reference=f"forged:{n}", to_address=call.to, data=call.data,
                         value=0, status=IntentStatus.QUEUED) for n, (sender, call) in enumerate(forged)]
        # and one dressed as a batch item, aimed at another contract
        item = coin.sign_authorization(victim.account, thief, 1, nonce=random_nonce(),
                                       valid_before=int(time.time()) + 600).encode()
        rows.append(TxIntent(sender=keys.relayer.address, kind="transfer", reference="forged:batch",
                             to_address=counter.address, data=b"", value=0, batch_key="coin.authorizations",
                             batch_item=item, status=IntentStatus.QUEUED))
        # and a batch item that is no authorization at all: it fails alone, nothing else is held up
        rows.append(TxIntent(sender=keys.relayer.address, kind="transfer", reference="forged:garbage",
                             to_address=coin.address, data=b"", value=0, batch_key="coin.authorizations",
                             batch_item=b"\0" * 32, status=IntentStatus.QUEUED))
        session.add_all(rows)
        session.flush()
        ids = [row.id for row in rows]

    def final() -> list[TxIntent] | None:
        with sessions() as session:
            found = list(session.scalars(select(TxIntent).where(TxIntent.id.in_(ids))))
            return found if all(i.done for i in found) else None

    for intent in wait_until(final, what="the forged intents to end"):
        expected = BAD_BATCH_ITEM if intent.reference == "forged:garbage" else NOT_ALLOWED
        assert (intent.status, intent.error_code) == (IntentStatus.FAILED, expected), intent.reference
        assert intent.tx_hash is None
    with sessions() as session:
        assert not session.scalars(select(ChainTx).where(ChainTx.to_address.in_([counter.address]))).all()
        signed = {bytes(data) for data in session.scalars(select(ChainTx.data))}
    assert not signed & {call.data for _, call in forged}  # none of them was ever signed
    assert coin.balance_of(victim.address) == 5_000 and coin.balance_of(thief) == 0
    assert all(_refused(sender) > refused_before[sender] for sender in refused_before)  # counted
    assert 'machi_relayer_refused_calls_total{key="relayer"' in client.get("/metrics", headers=MONITORING).text


def test_the_relayer_still_sends_what_its_role_may(client, runtime, sessions, make_resident, coin):
    payer, payee = make_resident(coins=300), make_resident()
    auth = coin.sign_authorization(payer.account, payee.address, 120, nonce=random_nonce(),
                                   valid_before=int(time.time()) + 600)
    response = client.post("/v1/transfers", json={"authorization": dict(auth.to_json())}, headers=payer.headers)
    assert response.status_code == 202, response.text
    wait_until(lambda: coin.balance_of(payee.address) == 120, what="the relayed payment")


# --------------------------------------------------------------------------- one hot key, direct calls
def test_no_single_hot_key_moves_a_residents_coins_by_calling_the_contracts(runtime, arrange, keys):
    """The attacker holds one hot key at a time and calls every function that could take coins."""
    victim, thief, fresh = Account.create(), Account.create(), Account.create()
    arrange.attest(victim.address)
    arrange.attest(thief.address)
    arrange.mint(victim.address, 9_000)
    coin, registry = runtime.coin, runtime.registry
    forged_auth = coin.sign_authorization(thief, thief.address, 9_000, nonce=random_nonce(),
                                          valid_before=int(time.time()) + 600)
    forged_auth = dataclasses.replace(forged_auth, from_=victim.address)  # not the victim's signature
    attempts = [
        coin.transfer_from_call(victim.address, thief.address, 9_000),
        coin.request_recovery_call(victim.address, fresh.address, os.urandom(32)),  # a wallet of the thief's
        coin.execute_recovery_call(victim.address),  # before its eta: refused
        coin.batch_call([forged_auth]),
        coin.grant_role_call("RECOVERY_ROLE", thief.address),
        registry.grant_role_call("REGISTRAR_ROLE", thief.address),
    ]
    for name, key in runtime.keys.by_name().items():
        for call in attempts:
            try:
                send_call(runtime.w3, key, call)
            except ContractLogicError:
                continue  # refused by the contract, with its own error
        assert coin.balance_of(victim.address) == 9_000, name
        assert coin.balance_of(thief.address) == coin.balance_of(fresh.address) == 0, name
    # The recovery key could only *request* a recovery: announced, delayed and still cancellable —
    # by the victim's own wallet or the freezer — while the balance and the identity stay where they are.
    pending = coin.pending_recovery(victim.address)
    assert pending.pending and pending.successor == fresh.address
    send_call(runtime.w3, runtime.keys.freezer, coin.cancel_recovery_call(victim.address))
    assert not coin.pending_recovery(victim.address).pending
    status = registry.status(victim.address)
    assert status.kind.name == "RESIDENT"
    assert coin.balance_of(victim.address) == 9_000 and registry.is_verified(victim.address)


# --------------------------------------------------------------------------- production by default
@pytest.fixture
def bare_environment(monkeypatch):
    """No MACHI_* variable of the caller's shell leaks into these settings."""
    for variable in list(os.environ):
        if variable.startswith("MACHI_"):
            monkeypatch.delenv(variable, raising=False)


REAL = {**{f"{name}_key": "0x" + f"{n + 1:02x}" * 32 for n, name in enumerate(KEY_NAMES)},
        "jpki_linkage_path": "/etc/machi/jlis-linkage.json"}
REAL_SECRET = "a-real-master-secret-of-at-least-32-characters"


@pytest.mark.parametrize("where", [{"rpc_url": "https://besu.city.example:8545"}, {"chain_id": 81}])
def test_another_chain_is_production_unless_development_is_said(where, bare_environment):
    with pytest.raises(ValidationError) as info:
        Settings(**where)
    message = str(info.value)
    for name in KEY_NAMES:
        assert f"MACHI_{name.upper()}_KEY must be set to a real secret in production" in message
    assert "MACHI_SECRET_KEY" in message and "production by default" in message
    with pytest.raises(ValidationError, match="MACHI_RELAYER_KEY"):
        Settings(**where, **{**REAL, "relayer_key": DEV_RELAYER_KEY.removeprefix("0x")}, secret_key=REAL_SECRET)
    real = Settings(**{"rpc_url": "https://besu.city.example:8545", **where}, **REAL, secret_key=REAL_SECRET)
    assert real.environment == "production" and real.effective_admin_key is None
    development = Settings(**where, environment="development")
    assert development.environment == "development" and development.effective_admin_key is not None


def test_the_test_ca_is_refused_on_another_chain(tmp_path, bare_environment):
    settings = Settings(**REAL, secret_key=REAL_SECRET, rpc_url="https://besu.city.example:8545", var_dir=tmp_path)
    with pytest.raises(Unavailable) as info:
        build_trust(settings)
    assert info.value.code == "identity_not_configured"
    assert not (tmp_path / "jpki-test-ca").exists()


def test_the_embedded_chain_stays_development(bare_environment):
    assert Settings().environment == "development"


def test_two_roles_never_share_a_key(bare_environment):
    with pytest.raises(ValidationError, match="MACHI_FREEZER_KEY is the same key as MACHI_RELAYER_KEY"):
        Settings(freezer_key=DEV_RELAYER_KEY)


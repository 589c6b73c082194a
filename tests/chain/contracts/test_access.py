"""The role table: every restricted function, called by every service key, the admin and a stranger —
refused with the contract's own error for each one that lacks the role, past the role check for the
holder. The deployment is the real one (``machi deploy``'s plan): one key per role (``chain.roles``).

Every other state-changing function of the three contracts is listed in ``OPEN`` (anyone may call it:
it moves only the caller's own coins, or needs the owner's signature), and a test fails when a
contract gains a function that is in neither list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from eth_account import Account

from chain.contracts import AssuranceLevel, Call, Kind, role_id
from chain.errors import ContractLogicError
from chain.roles import BY_NAME, COIN, KEY_ROLES, LEDGER, REGISTRY
from protocol.points import month_of
from tests.chain.contracts.helpers import Chain, random32, unchecked_call

STRANGER = Account.create().address
WALLET = Account.create().address
FAR = 2**39  # an expiry far in the future


@dataclass(frozen=True)
class Restricted:
    """A restricted function: how to call it, which role it needs, and who holds that role."""

    name: str
    call: Callable[[Chain], Call]
    role: str  # a role name, or "minter" for mint (a configured minter, not a role)
    holders: tuple[str, ...]  # among CALLERS


ADMIN = ("admin",)
RELAYER, REGISTRAR, FREEZER, RECOVERY = ("relayer",), ("registrar",), ("freezer",), ("recovery",)
MINTERS = ("topup", "benefits")

RESTRICTED = [
    # IdentityRegistry
    Restricted("registry.attest", lambda e: e.registry.attest_call(
        WALLET, random32(), AssuranceLevel.CARD_AUTHENTICATED, FAR, random32()), "REGISTRAR_ROLE", REGISTRAR),
    Restricted("registry.registerMerchant", lambda e: e.registry.register_merchant_call(
        WALLET, random32(), FAR, random32()), "REGISTRAR_ROLE", REGISTRAR),
    Restricted("registry.registerCityAccount", lambda e: e.registry.register_city_account_call(
        WALLET, random32(), FAR, random32()), "REGISTRAR_ROLE", REGISTRAR),
    Restricted("registry.renew", lambda e: e.registry.renew_call(
        WALLET, AssuranceLevel.RESIDENT_OF_CITY, FAR, random32()), "REGISTRAR_ROLE", REGISTRAR),
    Restricted("registry.revoke", lambda e: e.registry.revoke_call(WALLET),
               "REGISTRAR_ROLE", REGISTRAR),
    Restricted("registry.suspendMerchant", lambda e: e.registry.suspend_merchant_call(WALLET),
               "REGISTRAR_ROLE", REGISTRAR),
    # held by the coin contract alone (its delayed recovery): no key may move an identity at once
    Restricted("registry.rebind", lambda e: unchecked_call(e.registry, "rebind", WALLET, STRANGER, random32()),
               "RECOVERY_ROLE", ()),
    Restricted("registry.grantRole", lambda e: e.registry.grant_role_call("REGISTRAR_ROLE", STRANGER),
               "DEFAULT_ADMIN_ROLE", ADMIN),
    Restricted("registry.revokeRole", lambda e: e.registry.revoke_role_call("REGISTRAR_ROLE", e.registrar),
               "DEFAULT_ADMIN_ROLE", ADMIN),
    # RegionalCoin
    Restricted("coin.batchTransferWithAuthorization", lambda e: e.coin.batch_call([]), "RELAYER_ROLE", RELAYER),
    Restricted("coin.configureMinter", lambda e: e.coin.configure_minter_call(STRANGER, 1),
               "MASTER_MINTER_ROLE", ADMIN),
    Restricted("coin.removeMinter", lambda e: e.coin.remove_minter_call(e.topup), "MASTER_MINTER_ROLE", ADMIN),
    Restricted("coin.mint", lambda e: e.coin.mint_call(WALLET, 1), "minter", MINTERS),
    Restricted("coin.creditPoints", lambda e: e.coin.credit_points_call(WALLET, 1, month_of(e.now())),
               "POINTS_ISSUER_ROLE", ("benefits",)),
    Restricted("coin.requestRecovery", lambda e: e.coin.request_recovery_call(WALLET, STRANGER, random32()),
               "RECOVERY_ROLE", RECOVERY),
    Restricted("coin.freeze", lambda e: e.coin.freeze_call(WALLET), "FREEZER_ROLE", FREEZER),
    Restricted("coin.freezeAsLost", lambda e: e.coin.freeze_as_lost_call(WALLET), "FREEZER_ROLE", FREEZER),
    Restricted("coin.setRecoveryDelay", lambda e: e.coin.set_recovery_delay_call(3600), "DEFAULT_ADMIN_ROLE", ADMIN),
    Restricted("coin.unfreeze", lambda e: e.coin.unfreeze_call(WALLET), "FREEZER_ROLE", FREEZER),
    Restricted("coin.pause", lambda e: e.coin.pause_call(), "PAUSER_ROLE", ADMIN),
    Restricted("coin.unpause", lambda e: e.coin.unpause_call(), "PAUSER_ROLE", ADMIN),
    Restricted("coin.setTransferRule", lambda e: e.coin.set_transfer_rule_call(Kind.RESIDENT, Kind.CITY, False),
               "DEFAULT_ADMIN_ROLE", ADMIN),
    Restricted("coin.setBalanceCap", lambda e: e.coin.set_balance_cap_call(AssuranceLevel.CARD_AUTHENTICATED, 5),
               "DEFAULT_ADMIN_ROLE", ADMIN),
    Restricted("coin.grantRole", lambda e: e.coin.grant_role_call("RELAYER_ROLE", STRANGER),
               "DEFAULT_ADMIN_ROLE", ADMIN),
    Restricted("coin.revokeRole", lambda e: e.coin.revoke_role_call("RELAYER_ROLE", e.relayer),
               "DEFAULT_ADMIN_ROLE", ADMIN),
    # ProcedureLedger
    Restricted("ledger.anchor", lambda e: e.ledger.anchor_call(random32(), 3), "ANCHOR_ROLE", RELAYER),
    Restricted("ledger.grantRole", lambda e: e.ledger.grant_role_call("ANCHOR_ROLE", STRANGER),
               "DEFAULT_ADMIN_ROLE", ADMIN),
    Restricted("ledger.revokeRole", lambda e: e.ledger.revoke_role_call("ANCHOR_ROLE", e.relayer),
               "DEFAULT_ADMIN_ROLE", ADMIN),
]  # fmt: skip

#: Anyone may call these: they move the caller's own coins or roles, or need the owner's signature —
#: or, for a recovery, act only on one already requested by the recovery role: ``executeRecovery`` once
#: its delay has passed, ``cancelRecovery`` by the lost wallet itself (or the freezer),
#: ``cancelRecoveryWithSignature`` with the lost wallet's signature (tests/chain/contracts/test_coin.py);
#: ``sweepExpiredPoints`` only gives points that expired back to the fund (tests/chain/contracts/test_points.py).
OPEN = {
    REGISTRY: {"renounceRole"},
    COIN: {"approve", "cancelAuthorization", "cancelRecovery", "cancelRecoveryWithSignature", "executeRecovery",
           "permit", "receiveWithAuthorization", "redeem", "renounceRole", "sweepExpiredPoints", "transfer",
           "transferFrom", "transferWithAuthorization"},
    LEDGER: {"renounceRole"},
}
_PREFIX = {"registry": REGISTRY, "coin": COIN, "ledger": LEDGER}

CALLERS = ("admin", "relayer", "registrar", "freezer", "recovery", "topup", "benefits", "settlement", "stranger")


def _address(evm: Chain, who: str) -> str:
    return {
        "admin": evm.admin, "relayer": evm.relayer, "registrar": evm.registrar, "freezer": evm.freezer,
        "recovery": evm.recovery, "topup": evm.topup, "benefits": evm.benefits, "settlement": evm.settlement,
        "stranger": STRANGER,
    }[who]


@pytest.fixture
def evm(deployed: Chain) -> Chain:
    """The deployment as planned: no test operator holding every role."""
    return deployed


def test_every_state_changing_function_is_in_the_table(contracts) -> None:
    listed: dict[str, set[str]] = {name: set(OPEN[name]) for name in OPEN}
    for fn in RESTRICTED:
        prefix, name = fn.name.split(".")
        listed[_PREFIX[prefix]].add(name)
    for contract, client in ((REGISTRY, contracts.registry), (COIN, contracts.coin), (LEDGER, contracts.ledger)):
        changing = {item["name"] for item in client.contract.abi if item.get("type") == "function"
                    and item.get("stateMutability") not in ("view", "pure")}
        assert changing == listed[contract], (contract, changing ^ listed[contract])


@pytest.mark.parametrize("fn", RESTRICTED, ids=lambda r: r.name)
def test_wrong_roles_are_refused(evm: Chain, fn: Restricted) -> None:
    call = fn.call(evm)
    wrong = [who for who in CALLERS if who not in fn.holders]
    assert wrong, "every function has somebody who may not call it"
    for who in wrong:
        caller = _address(evm, who)
        if fn.role == "minter":
            evm.reverts(call, caller, "RegionalCoinNotMinter", account=caller)
        else:
            evm.reverts(call, caller, "AccessControlUnauthorizedAccount", account=caller, neededRole=role_id(fn.role))


@pytest.mark.parametrize("fn", RESTRICTED, ids=lambda r: r.name)
def test_role_holders_pass_the_role_check(evm: Chain, fn: Restricted) -> None:
    call = fn.call(evm)
    for who in fn.holders:
        try:
            evm.registry.simulate(call, _address(evm, who))
        except ContractLogicError as exc:  # a later check may fail; the role check must not
            assert exc.name not in ("AccessControlUnauthorizedAccount", "RegionalCoinNotMinter"), exc


def test_each_key_may_send_exactly_the_functions_its_role_holds(evm: Chain) -> None:
    """The relayer's allowlists (chain.roles) and the contracts' role checks say the same thing."""
    for key in KEY_ROLES:
        allowed = {f"{prefix}.{name}" for prefix, contract in _PREFIX.items()
                   for name in key.calls.get(contract, ())}
        restricted_ok = {fn.name for fn in RESTRICTED if (key.name.split("_")[0] in fn.holders)}
        open_calls = {f"{prefix}.{name}" for prefix, contract in _PREFIX.items() for name in OPEN[contract]}
        assert allowed - open_calls == restricted_ok, (key.name, allowed, restricted_ok)
    assert BY_NAME["settlement"].grants == ()


def test_the_deployment_grants_exactly_the_planned_roles(evm: Chain) -> None:
    expected = {
        (evm.registry, "DEFAULT_ADMIN_ROLE"): {evm.admin},
        (evm.registry, "REGISTRAR_ROLE"): {evm.registrar},
        (evm.coin, "DEFAULT_ADMIN_ROLE"): {evm.admin},
        (evm.coin, "MASTER_MINTER_ROLE"): {evm.admin},
        (evm.coin, "PAUSER_ROLE"): {evm.admin},
        (evm.coin, "FREEZER_ROLE"): {evm.freezer},
        (evm.coin, "RECOVERY_ROLE"): {evm.recovery},
        (evm.coin, "RELAYER_ROLE"): {evm.relayer},
        (evm.coin, "POINTS_ISSUER_ROLE"): {evm.benefits},
        (evm.ledger, "DEFAULT_ADMIN_ROLE"): {evm.admin},
        (evm.ledger, "ANCHOR_ROLE"): {evm.relayer},
    }
    everyone = {_address(evm, who) for who in CALLERS}
    for (contract, role), holders in expected.items():
        for account in everyone:
            assert contract.has_role(role, account) == (account in holders), (contract, role, account)
    assert evm.registry.has_role("RECOVERY_ROLE", evm.coin.address)  # the registry's RECOVERY_ROLE: the coin only
    assert not any(evm.registry.has_role("RECOVERY_ROLE", account) for account in everyone)
    assert evm.coin.is_minter(evm.topup) and evm.coin.is_minter(evm.benefits)
    assert not any(evm.coin.is_minter(_address(evm, who)) for who in CALLERS if who not in MINTERS)


def test_a_granted_role_takes_effect_and_a_revoked_one_is_gone(evm: Chain) -> None:
    freeze = evm.coin.freeze_call(WALLET)
    evm.reverts(freeze, evm.topup, "AccessControlUnauthorizedAccount")
    evm.send(evm.coin.grant_role_call("FREEZER_ROLE", evm.topup), evm.admin)
    evm.send(freeze, evm.topup)
    assert evm.coin.is_frozen(WALLET)
    evm.send(evm.coin.revoke_role_call("FREEZER_ROLE", evm.topup), evm.admin)
    evm.reverts(evm.coin.unfreeze_call(WALLET), evm.topup, "AccessControlUnauthorizedAccount",
                account=evm.topup, neededRole=role_id("FREEZER_ROLE"))  # fmt: skip

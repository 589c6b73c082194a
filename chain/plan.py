"""What ``machi deploy`` puts on chain: the contracts (registry, coin, ledger, offline reserve) and their role
wiring. The offline reserve holds coins, so the service registers it as a city account at start-up
(``procedures.offline.service.ensure_reserve_account``).

Keys (all addresses come from settings; ``chain.roles.KEY_ROLES`` says what each one holds):
    admin             DEFAULT_ADMIN of every contract, master minter, pauser (cold: the operator's
                      keystore or a multisig; it deploys, and is never loaded by the service)
    relayer           batch relay of signed authorizations, anchoring
    registrar         attest, renew, revoke, register merchants and city accounts
    freezer           freeze, freeze as reported lost, unfreeze, cancel a pending recovery
    recovery          requests a delayed recovery and executes it once due (cancellable until then)
    top-up minter     mints residents' counter/ATM top-ups, within its own allowance
    benefits minter   mints procedure benefits (e.g. childcare support), within its own allowance
    settlement        no role: the city account payouts are burned from (registered at start-up)

The registry's RECOVERY_ROLE (re-binding a subject to a new wallet) goes to the coin contract itself, never
to a key: only the coin's delayed, announced and cancellable recovery can move an identity.
"""

from __future__ import annotations

from dataclasses import dataclass

from chain.deploy import ContractSpec, DeployContext, DeploymentPlan, WiringStep
from chain.roles import COIN, KEY_ROLES, LEDGER, REGISTRY, RESERVE

__all__ = ["COIN", "LEDGER", "REGISTRY", "RESERVE", "PlanParams", "city_plan", "plan_params"]

#: The city's default delay between a recovery request and its execution (72 h).
DEFAULT_RECOVERY_DELAY = 72 * 3600
#: The default delay between a request to release an unused offline reserve and the release (4 days: longer
#: than an offline payment's longest validity, ``protocol.offline.MAX_VALIDITY_S``, plus a counter's sync).
DEFAULT_RELEASE_DELAY = 4 * 24 * 3600


@dataclass(frozen=True)
class PlanParams:
    """Everything the plan needs to know about the city and its keys (addresses, never keys)."""

    currency_name: str
    currency_symbol: str
    relayer: str
    registrar: str
    freezer: str
    recovery: str
    topup_minter: str
    benefits_minter: str
    topup_allowance: int
    benefits_allowance: int
    recovery_delay: int = DEFAULT_RECOVERY_DELAY
    release_delay: int = DEFAULT_RELEASE_DELAY


def _grant(contract: str, role: str, who: str) -> WiringStep:
    def call(ctx: DeployContext) -> object:
        target = ctx.contract(contract)
        role_id = getattr(target.functions, role)().call()
        account = ctx.params[who]
        if target.functions.hasRole(role_id, account).call():
            return None
        return target.functions.grantRole(role_id, account)

    return WiringStep(f"{contract}.grant.{role}.{who}", call)


def _coin_recovers() -> WiringStep:
    def call(ctx: DeployContext) -> object:
        registry = ctx.contract(REGISTRY)
        role_id = registry.functions.RECOVERY_ROLE().call()
        coin = ctx.manifest.address(COIN)
        if registry.functions.hasRole(role_id, coin).call():
            return None
        return registry.functions.grantRole(role_id, coin)

    return WiringStep(f"{REGISTRY}.grant.RECOVERY_ROLE.{COIN}", call)


def _minter(who: str, allowance_key: str) -> WiringStep:
    def call(ctx: DeployContext) -> object:
        return ctx.contract(COIN).functions.configureMinter(ctx.params[who], ctx.params[allowance_key])

    return WiringStep(f"{COIN}.minter.{who}", call)


def city_plan() -> DeploymentPlan:
    """The production deployment plan (parameters come through ``deploy(params=...)``)."""
    grants = [_grant(contract, role, key.name) for key in KEY_ROLES for contract, role in key.grants]
    return DeploymentPlan(
        contracts=[
            ContractSpec(REGISTRY, REGISTRY, lambda ctx: [ctx.deployer.address]),
            ContractSpec(
                COIN,
                COIN,
                lambda ctx: [
                    ctx.params["currency_name"],
                    ctx.params["currency_symbol"],
                    ctx.manifest.address(REGISTRY),
                    ctx.deployer.address,
                    ctx.params.get("recovery_delay", DEFAULT_RECOVERY_DELAY),
                ],
            ),
            ContractSpec(LEDGER, LEDGER, lambda ctx: [ctx.deployer.address]),
            ContractSpec(
                RESERVE,
                RESERVE,
                lambda ctx: [
                    ctx.manifest.address(COIN),
                    ctx.params.get("release_delay", DEFAULT_RELEASE_DELAY),
                    ctx.deployer.address,
                ],
            ),
        ],
        steps=[
            _coin_recovers(),
            _grant(COIN, "MASTER_MINTER_ROLE", "deployer"),
            _grant(COIN, "PAUSER_ROLE", "deployer"),
            *grants,
            _minter("topup_minter", "topup_allowance"),
            _minter("benefits_minter", "benefits_allowance"),
        ],
    )


def plan_params(p: PlanParams, deployer: str) -> dict[str, object]:
    """The ``params`` dict ``deploy`` passes to the plan's callbacks."""
    return {
        "currency_name": p.currency_name,
        "currency_symbol": p.currency_symbol,
        "relayer": p.relayer,
        "registrar": p.registrar,
        "freezer": p.freezer,
        "recovery": p.recovery,
        "deployer": deployer,
        "topup_minter": p.topup_minter,
        "benefits_minter": p.benefits_minter,
        "topup_allowance": p.topup_allowance,
        "benefits_allowance": p.benefits_allowance,
        "recovery_delay": p.recovery_delay,
        "release_delay": p.release_delay,
    }

"""What ``machi deploy`` puts on chain: the three contracts and their role wiring.

Keys (all addresses come from settings):
    deployer          DEFAULT_ADMIN of every contract, master minter, pauser (the operator)
    relayer           the service's sender: registrar, coin relayer/freezer/recovery, anchorer
    top-up minter     mints residents' counter/ATM top-ups, within its own allowance
    benefits minter   mints procedure benefits (e.g. childcare support), within its own allowance

The registry's RECOVERY_ROLE (re-binding a subject to a new wallet) goes to the coin contract itself, never
to a key: only the coin's delayed, announced and cancellable recovery can move an identity.
"""

from __future__ import annotations

from dataclasses import dataclass

from chain.deploy import ContractSpec, DeployContext, DeploymentPlan, WiringStep

#: The city's default delay between a recovery request and its execution (72 h).
DEFAULT_RECOVERY_DELAY = 72 * 3600

REGISTRY = "IdentityRegistry"
COIN = "RegionalCoin"
LEDGER = "ProcedureLedger"


@dataclass(frozen=True)
class PlanParams:
    """Everything the plan needs to know about the city and its keys."""

    currency_name: str
    currency_symbol: str
    relayer: str
    topup_minter: str
    benefits_minter: str
    topup_allowance: int
    benefits_allowance: int
    recovery_delay: int = DEFAULT_RECOVERY_DELAY


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
        ],
        steps=[
            _grant(REGISTRY, "REGISTRAR_ROLE", "relayer"),
            _coin_recovers(),
            _grant(COIN, "MASTER_MINTER_ROLE", "deployer"),
            _grant(COIN, "PAUSER_ROLE", "deployer"),
            _grant(COIN, "RELAYER_ROLE", "relayer"),
            _grant(COIN, "FREEZER_ROLE", "relayer"),
            _grant(COIN, "RECOVERY_ROLE", "relayer"),
            _grant(LEDGER, "ANCHOR_ROLE", "relayer"),
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
        "deployer": deployer,
        "topup_minter": p.topup_minter,
        "benefits_minter": p.benefits_minter,
        "topup_allowance": p.topup_allowance,
        "benefits_allowance": p.benefits_allowance,
        "recovery_delay": p.recovery_delay,
    }

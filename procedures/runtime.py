"""Wires settings into running parts: database, chain connection, contracts, relayer workers.

The API and the workers share one ``Runtime``. ``machi serve`` starts the workers inside the
API process by default; ``machi worker relayer`` runs them alone (several API processes can
then share one database — only one sender per key ever runs, see ``chain.storage.KeyLock``).

The runtime knows no domain: what happens when an intent is final, what runs at start-up and
which workers run beside the relayers are its ``Hooks``, given to it by ``procedures.wiring.wire``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from chain.compiler import CompileResult, compile_contracts
from chain.contracts.coin import CoinBatcher, RegionalCoinClient
from chain.contracts.ledger import ProcedureLedgerClient
from chain.contracts.registry import IdentityRegistryClient
from chain.contracts.reserve import OfflineReserveClient, ReserveBatcher
from chain.deploy import Manifest, deploy, load_manifest, read_manifest
from chain.errors import MachiError
from chain.network import check_evm_version
from chain.outbox import TxIntent
from chain.plan import COIN, LEDGER, REGISTRY, RESERVE, PlanParams, city_plan, plan_params
from chain.relayer import Batcher, Relayer, RelayerConfig
from chain.roles import KEY_NAMES, Allowlist, KeyRoles, allowlist, refuse_forbidden, role_report
from chain.rpc import connect, is_unreachable
from chain.storage import make_engine, make_session_factory
from procedures.config import Settings
from procedures.crypto import KeyRing, Vault
from procedures.db import migrate

log = logging.getLogger("machi.runtime")

#: Called in the relayer's transaction when an outbox intent is confirmed or failed.
FinalHandler = Callable[[Session, "Runtime", TxIntent], None]
#: An idempotent start-up task (e.g. create the city treasury wallet).
StartupHook = Callable[["Runtime"], None]
#: A background worker: runs in its own thread and returns soon after the event is set.
Worker = Callable[["Runtime", threading.Event], None]


class NotWired(MachiError):
    """The runtime was asked to run hooks or workers before ``procedures.wiring.wire`` gave it any."""

    code = "not_wired"


@dataclass(frozen=True)
class Hooks:
    """The way back from the chain and what runs beside the API (``procedures.wiring`` fills it).

    Attributes:
        final_handlers: by intent kind, or by the kind's prefix before the first dot
            (``merchant`` serves ``merchant.register`` and ``merchant.suspend``).
        startup: run once the chain answers and the contracts are deployed; each is idempotent.
        workers: background workers besides the relayers, by thread name.
    """

    final_handlers: dict[str, FinalHandler] = field(default_factory=dict)
    startup: list[StartupHook] = field(default_factory=list)
    workers: dict[str, Worker] = field(default_factory=dict)

    def final_handler(self, kind: str) -> FinalHandler | None:
        """The handler of intents of ``kind``: registered for the kind itself, else for its prefix."""
        return self.final_handlers.get(kind) or self.final_handlers.get(kind.split(".", 1)[0])


@dataclass
class Keys:
    """The service's hot signing keys, one per on-chain role (``chain.roles.KEY_ROLES``; never logged).

    The admin key is not here: the service never loads it (``machi deploy`` and ``machi admin`` do).
    """

    relayer: LocalAccount
    registrar: LocalAccount
    freezer: LocalAccount
    recovery: LocalAccount
    topup_minter: LocalAccount
    benefits_minter: LocalAccount
    settlement: LocalAccount

    @classmethod
    def from_settings(cls, settings: Settings) -> Keys:
        return cls(**{name: Account.from_key(settings.role_key(name).get_secret_value()) for name in KEY_NAMES})

    def by_name(self) -> dict[str, LocalAccount]:
        """Role name → key, in the table's order."""
        return {name: getattr(self, name) for name in KEY_NAMES}

    def senders(self) -> list[tuple[str, LocalAccount]]:
        """(role name, key) of every key that sends service traffic through the outbox."""
        return list(self.by_name().items())


@dataclass
class Runtime:
    """Shared state of one service process."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    keys: Keys
    _w3: Web3 | None = None
    _manifest: Manifest | None = None
    _workers: list[threading.Thread] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    relayers: list[Relayer] = field(default_factory=list)
    _coin: RegionalCoinClient | None = None
    _registry: IdentityRegistryClient | None = None
    _ledger: ProcedureLedgerClient | None = None
    _reserve: OfflineReserveClient | None = None
    _hooks: Hooks | None = None

    @classmethod
    def create(cls, settings: Settings, engine: Engine | None = None, run_migrations: bool = True) -> Runtime:
        """Connect the database (migrating it) — the chain is connected lazily."""
        engine = engine or make_engine(settings.effective_database_url, schema=settings.database_schema)
        if run_migrations:
            migrate(engine)
        return cls(settings=settings, engine=engine, sessions=make_session_factory(engine),
                   keys=Keys.from_settings(settings))

    @property
    def w3(self) -> Web3:
        """The chain connection (raises NodeError with the fix when the node is down)."""
        if self._w3 is None:
            self._w3 = self.connect()
        return self._w3

    def connect(self) -> Web3:
        """A new chain connection with the configured RPC timeout (a worker thread's own).

        Raises:
            NodeError: the node does not answer.
        """
        return connect(self.settings.effective_rpc_urls, timeout=self.settings.rpc_timeout)

    @cached_property
    def vault(self) -> Vault:
        """Encryption at rest (per-record data keys under the KEKs of MACHI_KEKS, or MACHI_SECRET_KEY)."""
        return Vault(KeyRing.from_settings(self.settings))

    @cached_property
    def compiled(self) -> CompileResult:
        """The compiled contracts for the profile's EVM version (from the build cache when nothing changed)."""
        # cached under the project's var/build: artifacts follow the code
        return compile_contracts(evm_version=self.settings.evm_version)

    @property
    def manifest(self) -> Manifest:
        """The deployment manifest, verified against the chain's code."""
        if self._manifest is None:
            self._manifest = load_manifest(self.w3, self.settings.deployments_dir)
        return self._manifest

    def recorded_manifest(self) -> Manifest:
        """The manifest as recorded for the configured chain id, *not* checked against the chain —
        for answers that only need an address while the chain is unreachable (a payment URI).

        Raises:
            DeploymentError: nothing recorded for this chain id.
        """
        if self._manifest is not None:
            return self._manifest
        return read_manifest(self.settings.deployments_dir, self.settings.chain_id)

    def deploy(self, admin: LocalAccount, redeploy: bool = False) -> tuple[Manifest, int]:
        """Deploy (or complete) the city's contracts with the admin key; returns the manifest and
        transactions sent. Only ``machi deploy`` (and tests) call this: the admin key is the caller's.

        Raises:
            DeploymentError: the node runs an older EVM fork than the contracts are compiled for
                (``MACHI_EVM_VERSION``), or the manifest does not match the chain.
        """
        s = self.settings
        keys = self.keys
        check_evm_version(self.w3, s.evm_version)
        params = PlanParams(
            currency_name=s.currency_name,
            currency_symbol=s.currency_symbol,
            relayer=keys.relayer.address,
            registrar=keys.registrar.address,
            freezer=keys.freezer.address,
            recovery=keys.recovery.address,
            topup_minter=keys.topup_minter.address,
            benefits_minter=keys.benefits_minter.address,
            topup_allowance=s.topup_allowance,
            benefits_allowance=s.benefits_allowance,
            recovery_delay=s.recovery_delay,
            release_delay=s.offline_release_delay,
        )
        manifest, sent = deploy(
            self.w3, admin, self.compiled, city_plan(), s.deployments_dir,
            redeploy=redeploy, params=plan_params(params, admin.address), fees=s.fee_policy(),
        )
        self._manifest = manifest
        self._coin = self._registry = self._ledger = self._reserve = None  # addresses may have changed
        return manifest, sent

    def contract_addresses(self) -> dict[str, str]:
        """Contract name → deployed address."""
        return {name: self.manifest.address(name) for name in (REGISTRY, COIN, LEDGER, RESERVE)}

    def allowlist(self, key: str) -> Allowlist:
        """What the sender of role ``key`` may sign on the deployed contracts (``chain.roles``)."""
        abis = {name: self.compiled[name].abi for name in (REGISTRY, COIN, LEDGER, RESERVE)}
        return allowlist(key, self.contract_addresses(), abis)

    def role_table(self) -> list[KeyRoles]:
        """For every hot key the service loaded: its address and the roles it holds on chain, against
        the table (``chain.roles.role_report``). Reads the chain."""
        contracts = {name: self.w3.eth.contract(address=Web3.to_checksum_address(address),
                                                abi=self.compiled[name].abi)
                     for name, address in self.contract_addresses().items()}
        return role_report(self.w3, {name: key.address for name, key in self.keys.by_name().items()}, contracts)

    def check_roles(self) -> list[KeyRoles]:
        """The role table, refusing a hot key that holds a role it must not (start-up).

        Raises:
            RoleMisconfigured: a key holds another role (the admin's, or another key's).
        """
        table = self.role_table()
        refuse_forbidden(table)
        for row in table:
            if row.missing:
                log.warning("the %s key %s lacks %s: its calls will fail until the admin grants it",
                            row.key, row.address, ", ".join(row.missing))
        return table

    @property
    def registry(self) -> IdentityRegistryClient:
        """Typed client of the deployed IdentityRegistry."""
        if self._registry is None:
            self._registry = IdentityRegistryClient.from_compiled(self.w3, self.manifest.address(REGISTRY),
                                                                  self.compiled)
        return self._registry

    @property
    def coin(self) -> RegionalCoinClient:
        """Typed client of the deployed RegionalCoin."""
        if self._coin is None:
            self._coin = RegionalCoinClient.from_compiled(self.w3, self.manifest.address(COIN), self.compiled)
        return self._coin

    @property
    def ledger(self) -> ProcedureLedgerClient:
        """Typed client of the deployed ProcedureLedger."""
        if self._ledger is None:
            self._ledger = ProcedureLedgerClient.from_compiled(self.w3, self.manifest.address(LEDGER), self.compiled)
        return self._ledger

    @property
    def reserve(self) -> OfflineReserveClient:
        """Typed client of the deployed OfflineReserve (offline payments)."""
        if self._reserve is None:
            self._reserve = OfflineReserveClient.from_compiled(self.w3, self.manifest.address(RESERVE), self.compiled)
        return self._reserve

    def batchers(self) -> dict[str, Batcher]:
        """Batch builders by intent batch key: the coin's batch relay of signed authorizations, the reserve's
        settlement of offline payments."""
        return {CoinBatcher.KEY: CoinBatcher(self.manifest.address(COIN)),
                ReserveBatcher.KEY: ReserveBatcher(self.manifest.address(RESERVE))}

    @property
    def hooks(self) -> Hooks:
        """What ``procedures.wiring.wire`` gave this runtime.

        Raises:
            NotWired: nothing yet (an entry point forgot to call ``wire``).
        """
        if self._hooks is None:
            raise NotWired("the runtime has no hooks: call procedures.wiring.wire(runtime) first")
        return self._hooks

    @property
    def wired(self) -> bool:
        """Whether hooks were given (``install_hooks``)."""
        return self._hooks is not None

    def install_hooks(self, hooks: Hooks) -> None:
        """Give the runtime its domain hooks (``procedures.wiring.wire`` does, once per process)."""
        self._hooks = hooks

    def on_final(self, session: Session, intent: TxIntent) -> None:
        """The relayer's callback (this runtime bound to it), in the relayer's transaction, when an
        intent is confirmed or failed: the handler for the intent's kind, with this runtime."""
        handler = self.hooks.final_handler(intent.kind)
        if handler is not None:
            handler(session, self, intent)

    def relayer_config(self) -> RelayerConfig:
        s = self.settings
        return RelayerConfig(
            confirmations=s.effective_confirmations,
            max_in_flight=s.relayer_max_in_flight,
            bump_after=s.relayer_bump_after,
            bump_percent=s.relayer_bump_percent,
            max_fee_per_gas=int(s.relayer_max_fee_gwei * 10**9),
            fee_model=s.fee_model,
            gas_price=s.gas_price_wei,
            batch_max_size=s.batch_max_size,
            batch_max_wait=s.batch_max_wait,
            poll_interval=s.relayer_poll_interval,
        )

    def run_startup_hooks(self) -> None:
        """Run every start-up hook (each is idempotent).

        Raises:
            NotWired: no hooks were given.
        """
        for hook in self.hooks.startup:
            hook(self)

    def start_workers(self) -> None:
        """Start one relayer thread per sending key, then every worker of the hooks.

        Raises:
            NotWired: no hooks were given (relayers without final handlers would settle nothing).
        """
        if self._workers:
            return
        hooks = self.hooks
        self._stop.clear()
        for key, account in self.keys.senders():
            thread = threading.Thread(target=self._relay, args=(key, account, self._stop),
                                      name=f"relayer-{account.address[:8]}", daemon=True)
            thread.start()
            self._workers.append(thread)
        for name, worker in hooks.workers.items():
            thread = threading.Thread(target=_guarded, args=(name, worker, self, self._stop), name=name, daemon=True)
            thread.start()
            self._workers.append(thread)

    def _relay(self, key: str, account: LocalAccount, stop: threading.Event) -> None:
        """A relayer thread: wait until the chain answers (the process may start during an outage),
        then send for ``account`` — only the calls of role ``key`` — until ``stop`` is set."""
        delay, logged = 0.5, False
        while not stop.is_set():
            try:
                relayer = Relayer(
                    w3=self.connect(),
                    account=account,
                    engine=self.engine,
                    session_factory=self.sessions,
                    lock_dir=self.settings.var_dir / "locks",
                    config=self.relayer_config(),
                    allowlist=self.allowlist(key),
                    batchers=self.batchers() if key == "relayer" else {},
                    on_final=self.on_final,
                )
            except Exception as exc:  # noqa: BLE001 - the chain or its deployment is not there yet
                if not logged:
                    log.warning("relayer for %s waits for the chain: %s", account.address, type(exc).__name__)
                    logged = True
                stop.wait(delay)
                delay = min(delay * 2, 5.0)
                continue
            if logged:
                log.warning("relayer for %s: the chain answers; starting", account.address)
            self.relayers.append(relayer)
            relayer.run(stop)
            return

    def stop_workers(self, timeout: float = 10.0) -> None:
        """Ask the workers to stop and wait for them."""
        self._stop.set()
        for thread in self._workers:
            thread.join(timeout)
        self._workers.clear()
        self.relayers.clear()

    def close(self) -> None:
        """Stop workers and release the database."""
        self.stop_workers()
        self.engine.dispose()


def _guarded(name: str, worker: Worker, runtime: Runtime, stop: threading.Event) -> None:
    """Run a worker, restarting it after a crash (with a pause) until ``stop`` is set."""
    delay, outage = 2.0, False
    while not stop.is_set():
        started = time.monotonic()
        try:
            worker(runtime, stop)
            return
        except Exception as exc:  # noqa: BLE001 - a worker must not die silently
            if time.monotonic() - started > 30:
                delay, outage = 2.0, False  # it ran fine for a while: a new failure, not the same outage
            if not is_unreachable(exc):
                log.exception("worker %s crashed; restarting in 2 s", name)
                delay = 2.0
            elif not outage:  # the chain is down: say so once, then back off quietly until it is back
                log.warning("worker %s: the chain is unreachable; retrying with back-off", name)
                outage = True
            else:
                delay = min(delay * 2, 15.0)
            stop.wait(delay)

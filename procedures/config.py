"""The one settings object. Every field is read from a ``MACHI_``-prefixed environment variable
(``DATABASE_URL`` is also accepted unprefixed, as CI and PaaS hosts set it).

Outside ``development``/``test`` every secret must be set explicitly and placeholder or
well-known development values are refused at start-up.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from chain.compiler import EVM_VERSION, EvmVersion
from chain.fees import GWEI, FeeModel, FeePolicy
from chain.plan import DEFAULT_RECOVERY_DELAY, DEFAULT_RELEASE_DELAY
from chain.toolchain import PROJECT_ROOT
from protocol.citytime import DEFAULT_CALENDAR, DEFAULT_ZONE, CityClock, city_clock
from protocol.points import DEFAULT_EXPIRY_DAYS

#: anvil's well-known development accounts 0–7, one per role (public knowledge; refused in production).
DEV_ADMIN_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
DEV_DEPLOYER_KEY = DEV_ADMIN_KEY  # the admin deploys (older name)
DEV_RELAYER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
DEV_TOPUP_MINTER_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"
DEV_BENEFITS_MINTER_KEY = "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6"
DEV_REGISTRAR_KEY = "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a"
DEV_FREEZER_KEY = "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba"
DEV_RECOVERY_KEY = "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e"
DEV_SETTLEMENT_KEY = "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356"
#: The service's hot keys by role name (``chain.roles.KEY_NAMES``) → development key.
DEV_ROLE_KEYS = {
    "relayer": DEV_RELAYER_KEY, "registrar": DEV_REGISTRAR_KEY, "freezer": DEV_FREEZER_KEY,
    "recovery": DEV_RECOVERY_KEY, "topup_minter": DEV_TOPUP_MINTER_KEY, "benefits_minter": DEV_BENEFITS_MINTER_KEY,
    "settlement": DEV_SETTLEMENT_KEY,
}
DEV_KEYS = {DEV_ADMIN_KEY, *DEV_ROLE_KEYS.values()}
#: The chain id of the embedded development node: any other chain is somebody's real network.
DEV_CHAIN_ID = 31337
DEV_SECRET = "development-only-not-a-secret"  # noqa: S105 - the placeholder we refuse in production
PLACEHOLDERS = {"", "changeme", "change-me", "secret", "password", "placeholder", DEV_SECRET}


class Settings(BaseSettings):
    """Machi Ledger configuration (environment variables ``MACHI_<FIELD>``)."""

    model_config = SettingsConfigDict(env_prefix="MACHI_", env_file=None, extra="ignore")

    environment: Literal["development", "test", "production"] = Field(
        "development",
        description="development and test allow built-in dev secrets; production refuses them. Unset, it is "
                    "production whenever MACHI_RPC_URL is set or MACHI_CHAIN_ID is not 31337",
    )
    var_dir: Path = Field(PROJECT_ROOT / "var", description="where the SQLite file, chain state, builds and locks live")
    database_url: str | None = Field(
        None,
        validation_alias=AliasChoices("MACHI_DATABASE_URL", "DATABASE_URL"),
        description="SQLAlchemy URL; PostgreSQL in production. Default: SQLite file var/machi.db",
    )
    database_schema: str | None = Field(
        None,
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="PostgreSQL schema for every table (search_path), e.g. one per city on a shared server",
    )
    # --- Network profile (issue 17): which chain, how it prices, forks and finalises (docs/deploy.md) ---
    rpc_url: str | None = Field(
        None, description="external EVM JSON-RPC endpoint; unset = the embedded node (machi node)"
    )
    rpc_urls: Annotated[list[str], NoDecode] = Field(
        [], description="several JSON-RPC endpoints of one chain, comma-separated, tried in order when one does "
                        "not answer (failover); MACHI_RPC_URL, when also set, comes first",
    )
    rpc_timeout: float = Field(
        5.0, gt=0, le=120, description="seconds one JSON-RPC call may take before the node counts as unreachable"
    )
    node_port: int = Field(8545, description="port of the embedded node")
    node_implementation: Literal["anvil", "hardhat"] = Field(
        "anvil", description="the embedded node: anvil (state kept under var/chain) or Hardhat's node (in memory)"
    )
    chain_id: int = Field(31337, gt=0, description="chain id of the network (the embedded node is started with it)")
    block_time: float | None = Field(
        None, gt=0, description="seconds per block: the embedded node mines on this interval (unset = a block per "
                                "transaction); on an external network, its block period",
    )
    confirmations: int = Field(
        1, ge=0, description="blocks on top of (and including) a receipt before it counts; 0 or 1 = final once "
                             "mined (a BFT network such as QBFT finalises every block)",
    )
    fee_model: FeeModel = Field(
        FeeModel.EIP1559, description="eip1559 (base fee + tip) or legacy (one gas price, type-0 transactions)"
    )
    gas_price_wei: int | None = Field(
        None, ge=0, description="legacy gas price in wei (0 on a zero-gas network); unset = the node's eth_gasPrice",
    )
    evm_version: EvmVersion = Field(
        EVM_VERSION, description="EVM fork the contracts are compiled for; checked against the node before deploy",
    )

    @field_validator("rpc_urls", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [url.strip() for url in value.split(",") if url.strip()]
        return value

    @model_validator(mode="after")
    def _consistent_profile(self) -> Settings:
        if self.gas_price_wei is not None and self.fee_model is not FeeModel.LEGACY:
            raise ValueError("MACHI_GAS_PRICE_WEI is the legacy fee model's price: set MACHI_FEE_MODEL=legacy too")
        for url in self.effective_rpc_urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"RPC endpoint {url.split('://')[0]!r}… is not an http(s) URL")
        return self
    # --- end of the network profile ---

    admin_key: SecretStr | None = Field(
        SecretStr(DEV_ADMIN_KEY), validation_alias=AliasChoices("MACHI_ADMIN_KEY", "MACHI_DEPLOYER_KEY"),
        description="the admin key (DEFAULT_ADMIN, master minter, pauser) for `machi deploy` and `machi admin` only — "
                    "never loaded by `machi serve` or the workers; in production prefer MACHI_ADMIN_KEYSTORE",
    )
    admin_keystore: Path | None = Field(
        None, description="Web3 Secret Storage file of the admin key (`machi deploy`/`machi admin` ask its password)"
    )
    relayer_key: SecretStr = Field(
        SecretStr(DEV_RELAYER_KEY), description="hot: relays residents' signed authorizations in batches, anchors"
    )
    registrar_key: SecretStr = Field(
        SecretStr(DEV_REGISTRAR_KEY), description="hot: attests, renews, revokes identities; registers merchants"
    )
    freezer_key: SecretStr = Field(SecretStr(DEV_FREEZER_KEY), description="hot: freezes and unfreezes wallets")
    recovery_key: SecretStr = Field(
        SecretStr(DEV_RECOVERY_KEY), description="hot: moves a lost wallet's balance to its re-bound successor"
    )
    topup_minter_key: SecretStr = Field(SecretStr(DEV_TOPUP_MINTER_KEY), description="hot: minter key for top-ups")
    benefits_minter_key: SecretStr = Field(
        SecretStr(DEV_BENEFITS_MINTER_KEY), description="hot: minter key for procedure benefits"
    )
    settlement_key: SecretStr = Field(
        SecretStr(DEV_SETTLEMENT_KEY), description="hot: the city account payouts are burned (and returned) from"
    )
    topup_allowance: int = Field(1_000_000_000, ge=0, description="top-up minter budget in coins")
    topup_four_eyes_yen: int = Field(
        100_000, ge=0, description="counter top-ups above this many yen wait for a second staff member's approval",
    )
    benefits_allowance: int = Field(100_000_000, ge=0, description="benefits minter budget in coins")
    city_name: str = Field("加賀市", description="the city running this instance")
    city_timezone: str = Field(
        DEFAULT_ZONE, description="IANA time zone of the city: every time shown to a person (console, wallet, CSV, "
                                  "receipts) is in it, and dates without a zone mean its dates",
    )
    city_calendar: str = Field(
        DEFAULT_CALENDAR, description="holiday calendar (protocol/calendars/<name>.json) that deadlines count "
                                      "business days in",
    )
    city_address_prefixes: list[str] = Field(["石川県加賀市"], description="card addresses that count as residents")
    currency_name: str = Field("Kaga Coin", description="ERC-20 name (also its EIP-712 domain name)")
    currency_symbol: str = Field("KAGA", description="ERC-20 symbol")
    secret_key: SecretStr = Field(
        SecretStr(DEV_SECRET),
        description="root of the identity pepper and the API-key HMAC key (never change it: docs/privacy.md, Keys); "
                    "also the KEK 's0' while MACHI_KEKS is unset",
    )
    keks: dict[str, SecretStr] = Field(
        {}, description="key-encryption keys by id (JSON object, e.g. {\"k1\": \"…\"}): they wrap every record's "
                        "data key; unset = the one KEK 's0' derived from MACHI_SECRET_KEY",
    )
    kek_id: str | None = Field(
        None, description="the MACHI_KEKS entry that wraps new data keys (required when there are several)"
    )
    relayer_poll_interval: float = Field(0.05, gt=0, description="seconds between relayer passes when idle")
    relayer_max_in_flight: int = Field(64, ge=1, description="unconfirmed transactions the sender keeps in flight")
    relayer_bump_after: float = Field(30.0, gt=0, description="seconds before an unmined transaction is re-priced")
    relayer_bump_percent: int = Field(20, ge=11, description="fee increase per bump (nodes require >= 10%)")
    relayer_max_fee_gwei: float = Field(500.0, gt=0, description="never bid more than this per gas")
    batch_max_size: int = Field(100, ge=1, description="most calls carried by one batched transaction")
    batch_max_wait: float = Field(0.2, ge=0, description="seconds a call may wait for others to batch with")
    host: str = Field("127.0.0.1", description="address the API listens on")
    port: int = Field(8000, description="port the API listens on")
    api_threads: int = Field(128, ge=8, le=1024, description="worker threads for request handlers")
    max_body_bytes: int = Field(
        256 * 1024, ge=1024, description="largest request body (bytes) a route accepts unless listed below (413)"
    )
    max_application_body_bytes: int = Field(
        36 * 1024 * 1024, ge=1024,
        description="largest e-application submission or resubmission body (bytes), attachments in base64 included",
    )
    log_level: str = Field("INFO", description="root log level")
    trusted_proxies: list[str] = Field(
        [], description="addresses/networks of the TLS-terminating proxies whose X-Forwarded-For/-Proto count "
                        "(JSON list, e.g. [\"10.0.0.0/8\"]); from anyone else those headers are ignored",
    )
    metrics_token: SecretStr | None = Field(
        None, description="bearer token for /metrics and the detailed /healthz (monitoring); unset = admins only"
    )
    run_workers: bool = Field(True, description="run the relayer and other workers inside `machi serve`")
    jpki_auth_anchors: list[Path] = Field(
        [], description="PEM/DER files of the pinned J-LIS user-authentication CA certificates (JSON list)"
    )
    jpki_signing_anchors: list[Path] = Field(
        [], description="PEM/DER files of the pinned J-LIS signing CA certificates (JSON list)"
    )
    jpki_crl_paths: list[Path] = Field(
        [], description="J-LIS CRL files (DER or PEM), re-read when they change on disk (JSON list)"
    )
    jpki_ocsp: bool = Field(False, description="ask each certificate's OCSP responder first, CRLs as the fallback")
    jpki_ocsp_nonce: bool = Field(
        True, description="send a nonce with every OCSP request and require it back; false only for a responder "
                          "that pre-produces its answers (RFC 5019) and cannot echo one",
    )
    jpki_linkage_path: Path | None = Field(
        None, description="J-LIS certificate renewal linkage records (JSON), so a renewed card keeps its subject"
    )
    jpki_test_ca_dir: Path | None = Field(
        None,
        description="TEST CA used when no anchors are configured (development/test only); default var/jpki-test-ca",
    )
    identity_attestation_days: int = Field(
        365, ge=1, le=3650, description="lifetime of an on-chain identity attestation (renew before it ends)"
    )
    recovery_delay: int = Field(
        DEFAULT_RECOVERY_DELAY, ge=0, lt=2**40,
        description="seconds between a lost-wallet recovery request and its execution, set on the coin at deploy "
                    "(the lost wallet or the freezer can cancel meanwhile; 72 h by default)",
    )
    identity_challenge_ttl: int = Field(
        300, ge=30, le=3600, description="seconds a card-linking challenge (and its signed statement) stays valid"
    )
    payment_request_expiry: int = Field(
        900, ge=60, le=30 * 86400, description="default seconds before an unpaid payment request expires"
    )
    payment_expiry_interval: float = Field(1.0, gt=0, description="seconds between sweeps for expired payment requests")
    payout_fee_bps: int = Field(
        150, ge=0, le=10_000, description="fee on merchant payouts in basis points (150 = 1.5%)"
    )
    topup_bonus_bps: int = Field(
        1000, ge=0, le=10_000, description="top-up campaign bonus in basis points (1000 = 10%)"
    )
    topup_bonus_budget: int = Field(
        50_000_000, ge=0, description="coins the top-up campaign may give as bonus in total (0 = no campaign)"
    )
    topup_bonus_ends_at: datetime | None = Field(
        None, description="end of the top-up campaign (ISO 8601); unset = open"
    )
    topup_bonus_expiry_days: int = Field(
        DEFAULT_EXPIRY_DAYS, ge=1, le=DEFAULT_EXPIRY_DAYS,
        description="days the top-up campaign's bonus points last, rounded up to the end of that JST month",
    )
    points_notice_days: int = Field(
        30, ge=1, le=180, description="days before points expire that their holder is notified",
    )
    points_sweep_interval: float = Field(
        3600.0, gt=0, description="seconds between sweeps of expired points back to the city's fund",
    )
    points_expiry_days: int = Field(
        DEFAULT_EXPIRY_DAYS, ge=1, le=DEFAULT_EXPIRY_DAYS,
        description="days benefits and civic rewards last as points unless the catalog entry says otherwise",
    )
    webhook_retry_schedule: list[float] = Field(
        [10.0, 60.0, 600.0],
        description="seconds before each webhook retry; the last value repeats until webhook_retry_horizon (JSON list)",
    )
    webhook_retry_horizon: float = Field(86_400.0, gt=0, description="seconds after an event before retries stop")
    webhook_timeout: float = Field(5.0, gt=0, le=30, description="seconds a merchant endpoint has to answer")
    webhook_poll_interval: float = Field(0.5, gt=0, description="seconds between webhook delivery passes when idle")
    webhook_allow_private_urls: bool | None = Field(
        None, description="allow webhook URLs on loopback/private networks (default: everywhere but production)"
    )
    zengin_originator_code: str = Field(
        "0000000000", pattern=r"^\d{10}$", description="依頼人コード: the city's company code at its bank (10 digits)"
    )
    zengin_originator_name: str = Field("ｶｶﾞｼ", description="依頼人名 in half-width kana (max 40)")
    zengin_bank_code: str = Field("0146", pattern=r"^\d{4}$", description="仕向銀行番号: the city's bank")
    zengin_bank_name: str = Field("ﾎﾂｺｸ", description="仕向銀行名 in half-width kana (max 15)")
    zengin_branch_code: str = Field("001", pattern=r"^\d{3}$", description="仕向支店番号")
    zengin_branch_name: str = Field("ﾎﾝﾃﾝ", description="仕向支店名 in half-width kana (max 15)")
    zengin_account_type: Literal["1", "2", "4", "9"] = Field(
        "1", description="預金種目 of the city's account: 1 普通, 2 当座, 4 貯蓄, 9 その他"
    )
    zengin_account_number: str = Field("0000000", pattern=r"^\d{7}$", description="the city's account number")
    applications_catalog_dir: Path | None = Field(
        None, description="directory of procedure-type JSON files; unset = the shipped procedures/catalog"
    )
    applications_city_bbox: tuple[float, float, float, float] = Field(
        (36.15, 136.20, 36.37, 136.53),
        description="the city's bounding box (south lat, west long, north lat, east long) for form locations",
    )
    applications_anchor_interval: float = Field(
        30.0, gt=0, description="seconds a procedure event may wait before its batch is anchored on chain"
    )
    applications_anchor_max_leaves: int = Field(
        256, ge=1, le=65536, description="anchor as soon as this many procedure events are waiting"
    )
    purge_interval: float = Field(
        300.0, gt=0, description="seconds between purges of expired challenges and day-old idempotency records"
    )
    purge_batch_size: int = Field(1000, ge=1, le=100_000, description="rows a purge deletes per transaction")
    identity_crl_sweep_interval: float = Field(
        6 * 3600.0, gt=0, le=24 * 3600.0,
        description="seconds between re-checks of every linked card against fresh CRLs (at least daily); a "
                    "wallet whose card was revoked is revoked on chain",
    )
    recovery_sweep_interval: float = Field(
        30.0, gt=0, description="seconds between passes that follow requested recoveries (record the eta, "
                                "execute due ones, fold executions and cancellations back)"
    )
    applications_sweep_interval: float = Field(
        60.0, gt=0, description="seconds between sweeps for passed correction deadlines and ended retention"
    )
    civic_services: list[str] = Field(
        ["road-damage", "snow-removal"],
        description="catalog procedures offered as Open311 services (civic reports) and shown on /town",
    )
    civic_town_file: Path | None = Field(
        None, description="the city's outline and districts (JSON); unset = procedures/civic/towns/kaga.json"
    )
    civic_grid_m: float = Field(
        100.0, ge=10, le=5000, description="public views round a report's location to a grid cell of this many metres"
    )
    civic_reward: int = Field(
        100, ge=0, le=100_000,
        description="points the points key credits a linked resident whose report a clerk confirms (0: none)",
    )
    civic_recent_days: int = Field(30, ge=1, le=365, description="days a fixed report stays on /town")
    civic_adopt_interval: float = Field(
        5.0, gt=0, description="seconds between passes that bring wallet-filed civic e-applications to Open311"
    )
    civic_posts_per_minute_per_address: int = Field(
        5, ge=1, description="Open311 reports one client address may file per minute"
    )
    civic_posts_per_minute_per_key: int = Field(
        60, ge=1, description="Open311 reports one API key may file per minute (all its users together)"
    )

    @model_validator(mode="after")
    def _known_zone_and_calendar(self) -> Settings:
        city_clock(self.city_timezone, self.city_calendar)  # UnknownTimeZone / UnknownCalendar are ValueErrors
        return self

    @property
    def clock(self) -> CityClock:
        """The city's time zone and business-day calendar."""
        return city_clock(self.city_timezone, self.city_calendar)

    @model_validator(mode="after")
    def _proxies_are_networks(self) -> Settings:
        for entry in self.trusted_proxies:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(f"MACHI_TRUSTED_PROXIES: {entry!r} is not an address or network") from None
        return self
    card_payment_limit: int = Field(
        10_000, ge=1, description="most coins one My Number card payment at a merchant's counter may move"
    )
    card_payment_daily_limit: int = Field(
        30_000, ge=1, description="most coins a card wallet may pay in one day (city time)"
    )
    offline_reserve_limit: int = Field(
        5_000, ge=1, description="most coins a resident may hold in their offline reserve (disaster mode can raise "
                                 "it city-wide for a period: `machi disaster start`)"
    )
    offline_release_delay: int = Field(
        DEFAULT_RELEASE_DELAY, ge=0, lt=2**64,
        description="seconds from a request to release an unused offline reserve to the release, set on the reserve "
                    "at deploy (longer than an offline payment's validity plus a counter's sync; 4 days by default)",
    )
    card_payment_ttl: int = Field(
        120, ge=10, le=900, description="seconds a card payment or opt-in challenge stays valid"
    )

    @model_validator(mode="after")
    def _one_current_kek(self) -> Settings:
        if self.kek_id is not None and self.kek_id not in self.keks:
            raise ValueError(f"MACHI_KEK_ID {self.kek_id!r} is not one of MACHI_KEKS")
        if len(self.keks) > 1 and self.kek_id is None:
            raise ValueError("several MACHI_KEKS are set: MACHI_KEK_ID must say which one wraps new data keys")
        return self

    @model_validator(mode="after")
    def _one_key_per_role(self) -> Settings:
        seen: dict[str, str] = {}
        for name in DEV_ROLE_KEYS:
            value = self.role_key(name).get_secret_value().strip().lower().removeprefix("0x")
            if value in seen:
                raise ValueError(f"MACHI_{name.upper()}_KEY is the same key as MACHI_{seen[value].upper()}_KEY: "
                                 "every on-chain role needs its own key")
            seen[value] = name
        return self

    @model_validator(mode="after")
    def _production_by_default(self) -> Settings:
        # Another chain than the embedded one is somebody's real network: unless the operator says
        # MACHI_ENVIRONMENT=development (or test) in so many words, it is production, and the
        # development keys, the TEST CA and the development master secret are refused.
        if "environment" not in self.model_fields_set and not self.local_chain:
            self.__dict__["environment"] = "production"  # not through __setattr__: it stays "not given"
        return self

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> Settings:
        if self.environment != "production":
            return self
        problems = []
        why = "" if "environment" in self.model_fields_set else (
            " (production by default: MACHI_RPC_URL is set or MACHI_CHAIN_ID is not 31337; "
            "MACHI_ENVIRONMENT=development allows development values on such a chain)")
        names = [f"{name}_key" for name in DEV_ROLE_KEYS] + ["secret_key"]
        if self.admin_key is not None and "admin_key" in self.model_fields_set:
            names.append("admin_key")
        for name in names:
            value = getattr(self, name).get_secret_value()
            if value.strip().lower() in PLACEHOLDERS or "0x" + value.strip().lower().removeprefix("0x") in DEV_KEYS:
                problems.append(f"MACHI_{name.upper()} must be set to a real secret in production{why}")
        if len(self.secret_key.get_secret_value()) < 32:
            problems.append("MACHI_SECRET_KEY must be at least 32 characters")
        for kek_id, kek in self.keks.items():
            value = kek.get_secret_value()
            if value.strip().lower() in PLACEHOLDERS or len(value) < 32:
                problems.append(f"MACHI_KEKS[{kek_id!r}] must be a real secret of at least 32 characters")
        if not self.external_rpc:
            problems.append("MACHI_RPC_URL or MACHI_RPC_URLS must point at the city's chain in production")
        token = self.metrics_token
        if token is not None and (token.get_secret_value().strip().lower() in PLACEHOLDERS
                                  or len(token.get_secret_value()) < 32):
            problems.append("MACHI_METRICS_TOKEN must be a real secret of at least 32 characters in production")
        if self.jpki_linkage_path is None:
            # without it a renewed card looks like a new person: a second subject, a second wallet
            problems.append("MACHI_JPKI_LINKAGE_PATH must name the J-LIS renewal linkage file in production")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def local_chain(self) -> bool:
        """The embedded development node: no MACHI_RPC_URL(S) and chain id 31337."""
        return not self.external_rpc and self.chain_id == DEV_CHAIN_ID

    def role_key(self, name: str) -> SecretStr:
        """The hot key of role ``name`` (``chain.roles.KEY_NAMES``)."""
        key: SecretStr = getattr(self, f"{name}_key")
        return key

    @property
    def effective_admin_key(self) -> SecretStr | None:
        """The admin key when given in the environment (or the development default), else None: outside
        development the admin key comes from MACHI_ADMIN_KEYSTORE or not at all."""
        if self.environment == "production" and "admin_key" not in self.model_fields_set:
            return None
        return self.admin_key

    @property
    def effective_database_url(self) -> str:
        """The SQLAlchemy URL to use (SQLite under var/ unless DATABASE_URL is set)."""
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite:///{self.var_dir / 'machi.db'}"

    @property
    def external_rpc(self) -> bool:
        """Whether an external chain is configured (MACHI_RPC_URL or MACHI_RPC_URLS) rather than the embedded node."""
        return bool(self.rpc_url or self.rpc_urls)

    @property
    def effective_rpc_urls(self) -> list[str]:
        """The JSON-RPC endpoints in failover order: MACHI_RPC_URL, then MACHI_RPC_URLS; else the embedded node."""
        urls = ([self.rpc_url] if self.rpc_url else []) + [u for u in self.rpc_urls if u != self.rpc_url]
        return urls or [f"http://127.0.0.1:{self.node_port}"]

    @property
    def effective_rpc_url(self) -> str:
        """The first JSON-RPC endpoint (MACHI_RPC_URL, else the first of MACHI_RPC_URLS, else the embedded node)."""
        return self.effective_rpc_urls[0]

    @property
    def effective_confirmations(self) -> int:
        """The depth the relayer and indexer count to: a receipt's own block counts, so 0 means 1."""
        return max(1, self.confirmations)

    def fee_policy(self, max_fee_per_gas: int | None = None) -> FeePolicy:
        """How the service prices its transactions (the relayer's senders and ``machi deploy``)."""
        cap = max_fee_per_gas if max_fee_per_gas is not None else int(self.relayer_max_fee_gwei * GWEI)
        return FeePolicy(model=self.fee_model, max_fee_per_gas=cap, bump_percent=self.relayer_bump_percent,
                         gas_price=self.gas_price_wei)

    @property
    def deployments_dir(self) -> Path:
        """Where deployment manifests are kept."""
        return self.var_dir / "deployments"


def normalise_database_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgres://``/``postgresql://`` URLs."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once from the environment)."""
    return Settings()

"""The one settings object. Every field is read from a ``MACHI_``-prefixed environment variable
(``DATABASE_URL`` is also accepted unprefixed, as CI and PaaS hosts set it).

Outside ``development``/``test`` every secret must be set explicitly and placeholder or
well-known development values are refused at start-up.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from chain.toolchain import PROJECT_ROOT

#: anvil's first two well-known development keys (public knowledge; refused in production).
DEV_DEPLOYER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
DEV_RELAYER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
DEV_TOPUP_MINTER_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"
DEV_BENEFITS_MINTER_KEY = "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6"
DEV_KEYS = {DEV_DEPLOYER_KEY, DEV_RELAYER_KEY, DEV_TOPUP_MINTER_KEY, DEV_BENEFITS_MINTER_KEY}
DEV_SECRET = "development-only-not-a-secret"  # noqa: S105 - the placeholder we refuse in production
PLACEHOLDERS = {"", "changeme", "change-me", "secret", "password", "placeholder", DEV_SECRET}


class Settings(BaseSettings):
    """Machi Ledger configuration (environment variables ``MACHI_<FIELD>``)."""

    model_config = SettingsConfigDict(env_prefix="MACHI_", env_file=None, extra="ignore")

    environment: Literal["development", "test", "production"] = Field(
        "development", description="development and test allow built-in dev secrets; production refuses them"
    )
    var_dir: Path = Field(PROJECT_ROOT / "var", description="where the SQLite file, chain state, builds and locks live")
    database_url: str | None = Field(
        None,
        validation_alias=AliasChoices("MACHI_DATABASE_URL", "DATABASE_URL"),
        description="SQLAlchemy URL; PostgreSQL in production. Default: SQLite file var/machi.db",
    )
    rpc_url: str | None = Field(
        None, description="external EVM JSON-RPC endpoint; unset = the embedded anvil (machi node)"
    )
    node_port: int = Field(8545, description="port of the embedded anvil")
    chain_id: int = Field(31337, description="chain id of the embedded anvil")
    block_time: float | None = Field(None, description="seconds per block for the embedded anvil; unset = automine")
    confirmations: int = Field(1, ge=1, description="blocks on top of (and including) a receipt before it counts")
    deployer_key: SecretStr = Field(SecretStr(DEV_DEPLOYER_KEY), description="key that deploys and administers contracts")
    relayer_key: SecretStr = Field(SecretStr(DEV_RELAYER_KEY), description="key the relayer sends transactions with")
    topup_minter_key: SecretStr = Field(SecretStr(DEV_TOPUP_MINTER_KEY), description="minter key for top-ups")
    benefits_minter_key: SecretStr = Field(
        SecretStr(DEV_BENEFITS_MINTER_KEY), description="minter key for procedure benefits"
    )
    topup_allowance: int = Field(1_000_000_000, ge=0, description="top-up minter budget in coins")
    benefits_allowance: int = Field(100_000_000, ge=0, description="benefits minter budget in coins")
    city_name: str = Field("加賀市", description="the city running this instance")
    city_address_prefixes: list[str] = Field(["石川県加賀市"], description="card addresses that count as residents")
    currency_name: str = Field("Kaga Coin", description="ERC-20 name (also its EIP-712 domain name)")
    currency_symbol: str = Field("KAGA", description="ERC-20 symbol")
    secret_key: SecretStr = Field(SecretStr(DEV_SECRET), description="master key material for encryption at rest")
    relayer_poll_interval: float = Field(0.05, gt=0, description="seconds between relayer passes when idle")
    relayer_max_in_flight: int = Field(64, ge=1, description="unconfirmed transactions the sender keeps in flight")
    relayer_bump_after: float = Field(30.0, gt=0, description="seconds before an unmined transaction is re-priced")
    relayer_bump_percent: int = Field(20, ge=11, description="fee increase per bump (nodes require >= 10%)")
    relayer_max_fee_gwei: float = Field(500.0, gt=0, description="never bid more than this per gas")
    batch_max_size: int = Field(100, ge=1, description="most calls carried by one batched transaction")
    batch_max_wait: float = Field(0.2, ge=0, description="seconds a call may wait for others to batch with")
    host: str = Field("127.0.0.1", description="address the API listens on")
    port: int = Field(8000, description="port the API listens on")
    log_level: str = Field("INFO", description="root log level")
    run_workers: bool = Field(True, description="run the relayer and other workers inside `machi serve`")

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> Settings:
        if self.environment != "production":
            return self
        problems = []
        for name in ("deployer_key", "relayer_key", "topup_minter_key", "benefits_minter_key", "secret_key"):
            value = getattr(self, name).get_secret_value()
            if value.strip().lower() in PLACEHOLDERS or value in DEV_KEYS:
                problems.append(f"MACHI_{name.upper()} must be set to a real secret in production")
        if len(self.secret_key.get_secret_value()) < 32:
            problems.append("MACHI_SECRET_KEY must be at least 32 characters")
        if self.rpc_url is None:
            problems.append("MACHI_RPC_URL must point at the city's chain in production")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def effective_database_url(self) -> str:
        """The SQLAlchemy URL to use (SQLite under var/ unless DATABASE_URL is set)."""
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite:///{self.var_dir / 'machi.db'}"

    @property
    def effective_rpc_url(self) -> str:
        """The JSON-RPC URL: MACHI_RPC_URL, else the embedded node."""
        return self.rpc_url or f"http://127.0.0.1:{self.node_port}"

    @property
    def deployments_dir(self) -> Path:
        """Where deployment manifests are kept."""
        return self.var_dir / "deployments"


def normalise_database_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgres://``/``postgresql://`` URLs."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once from the environment)."""
    return Settings()

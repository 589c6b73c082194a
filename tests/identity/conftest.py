"""Shared identity fixtures: one TEST CA per session (RSA keygen is the slow part)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
from eth_account import Account

from procedures.identity.certs import CertKind
from procedures.identity.jpki import JpkiVerifier
from procedures.identity.revocation import CrlRevocationChecker, RevocationChecker
from procedures.identity.testca import RsaKeyCache, Sex, TestCA, TestCard, TestResident
from protocol.nonces import new_nonce
from protocol.statement import LinkStatement

KAGA = "石川県加賀市"
REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
CHAIN_ID = 31337

ADULT_KAGA = TestResident("加賀 花子", date(1985, 6, 15), Sex.FEMALE, "石川県加賀市大聖寺南町ニ41番地")
ADULT_OTHER = TestResident("金沢 一郎", date(1970, 1, 2), Sex.MALE, "石川県金沢市広坂1丁目1番1号")
MINOR = TestResident(
    "加賀 こども", date(2016, 3, 3), Sex.UNSPECIFIED, "石川県加賀市大聖寺南町ニ41番地", minor=True
)


@pytest.fixture(scope="session")
def key_cache(tmp_path_factory: pytest.TempPathFactory) -> RsaKeyCache:
    return RsaKeyCache(tmp_path_factory.mktemp("jpki-keys"))


@pytest.fixture(scope="session")
def ca(tmp_path_factory: pytest.TempPathFactory, key_cache: RsaKeyCache) -> TestCA:
    return TestCA.create(tmp_path_factory.mktemp("jpki-ca"), key_cache=key_cache)


@pytest.fixture(scope="session")
def kaga_adult(ca: TestCA) -> TestCard:
    return ca.issue_card(ADULT_KAGA)


@pytest.fixture(scope="session")
def other_city_adult(ca: TestCA) -> TestCard:
    return ca.issue_card(ADULT_OTHER)


@pytest.fixture(scope="session")
def minor(ca: TestCA) -> TestCard:
    return ca.issue_card(MINOR)


@pytest.fixture(scope="session")
def wallet() -> Any:
    return Account.from_key("0x" + "42" * 32)


@pytest.fixture
def crl_checker(ca: TestCA) -> CrlRevocationChecker:
    return CrlRevocationChecker.from_files(ca.crl_path(CertKind.AUTH), ca.crl_path(CertKind.SIGNING))


@pytest.fixture
def make_verifier(
    ca: TestCA, crl_checker: CrlRevocationChecker
) -> Callable[..., JpkiVerifier]:
    def make(
        *,
        revocation: RevocationChecker | None = None,
        prefixes: tuple[str, ...] = (KAGA,),
        clock: Callable[[], datetime] | None = None,
        anchors: Any = None,
    ) -> JpkiVerifier:
        kwargs: dict[str, Any] = {}
        if clock is not None:
            kwargs["clock"] = clock
        return JpkiVerifier(
            anchors or ca.trust_anchors(), revocation or crl_checker, list(prefixes), **kwargs
        )

    return make


@pytest.fixture
def verifier(make_verifier: Callable[..., JpkiVerifier]) -> JpkiVerifier:
    return make_verifier()


def make_statement(wallet_address: str, **overrides: Any) -> LinkStatement:
    fields: dict[str, Any] = {
        "purpose": "link",
        "wallet": wallet_address,
        "chain_id": CHAIN_ID,
        "registry": REGISTRY,
        "nonce": new_nonce(),
        "issued_at": datetime.now(UTC),
    }
    fields.update(overrides)
    return LinkStatement.create(**fields)


def card_signatures(card: TestCard, message: bytes, *, signing: bool = True) -> dict[str, Any]:
    """``verify_card`` keyword arguments for a card that signed ``message``."""
    kwargs: dict[str, Any] = {"message": message, "auth_signature": card.sign_auth(message)}
    if signing and card.signing_cert is not None:
        kwargs["signing_signature"] = card.sign_signing(message)
    return kwargs

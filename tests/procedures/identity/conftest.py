"""Identity fixtures: one TEST CA per session (RSA keygen is the slow part) that the service under
test trusts, cards for several fictional residents, card verifiers, and helpers that drive the
HTTP API like a wallet would."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient

from chain.contracts import CityContracts, load_city
from procedures.config import Settings
from procedures.identity.certs import CertKind
from procedures.identity.jpki import JpkiVerifier
from procedures.identity.revocation import CrlRevocationChecker, RevocationChecker
from procedures.identity.testca import RsaKeyCache, Sex, TestCA, TestCard, TestResident
from procedures.runtime import Runtime
from protocol.statement import LinkStatement, sign_wallet
from tests.procedures.conftest import wallet_login
from tests.protocol.conftest import CHAIN_ID, REGISTRY, make_statement  # noqa: F401 - for this package's tests

KAGA = "石川県加賀市"
ADULT_KAGA = TestResident("加賀 花子", date(1985, 6, 15), Sex.FEMALE, "石川県加賀市大聖寺南町ニ41番地")
KAGA_RESIDENTS = [
    ADULT_KAGA,
    TestResident("山中 太郎", date(1962, 11, 30), Sex.MALE, "石川県加賀市山中温泉本町2丁目ナ1番地"),
    TestResident("片山津 恵美", date(1999, 2, 28), Sex.FEMALE, "石川県加賀市片山津温泉乙65番地2"),
    TestResident("橋立 健", date(1977, 8, 8), Sex.MALE, "石川県加賀市橋立町イ乙1番地"),
]
OTHER_CITY = TestResident("金沢 一郎", date(1970, 1, 2), Sex.MALE, "石川県金沢市広坂1丁目1番1号")
MINOR = TestResident("加賀 こども", date(2016, 3, 3), Sex.UNSPECIFIED, "石川県加賀市大聖寺南町ニ41番地", minor=True)


@pytest.fixture(scope="session")
def id_keys(tmp_path_factory: pytest.TempPathFactory) -> RsaKeyCache:
    return RsaKeyCache(tmp_path_factory.mktemp("identity-keys"))


@pytest.fixture(scope="session")
def id_ca(tmp_path_factory: pytest.TempPathFactory, id_keys: RsaKeyCache) -> TestCA:
    """The TEST CA the service under test trusts (configured like production: anchors + CRLs)."""
    return TestCA.create(tmp_path_factory.mktemp("identity-ca"), key_cache=id_keys)


@pytest.fixture(scope="session")
def impostor_ca(tmp_path_factory: pytest.TempPathFactory, id_keys: RsaKeyCache) -> TestCA:
    """Same names as ``id_ca``, different keys: its cards chain to no trusted root."""
    return TestCA.create(tmp_path_factory.mktemp("impostor-ca"), key_cache=id_keys, key_namespace="impostor")


@pytest.fixture(scope="session")
def kaga_adult(id_ca: TestCA) -> TestCard:
    return id_ca.issue_card(ADULT_KAGA)


@pytest.fixture(scope="session")
def other_city_adult(id_ca: TestCA) -> TestCard:
    return id_ca.issue_card(OTHER_CITY)


@pytest.fixture(scope="session")
def minor(id_ca: TestCA) -> TestCard:
    return id_ca.issue_card(MINOR)


@pytest.fixture(scope="session")
def wallet() -> Any:
    return Account.from_key("0x" + "42" * 32)


@pytest.fixture
def crl_checker(id_ca: TestCA) -> CrlRevocationChecker:
    return CrlRevocationChecker.from_files(id_ca.crl_path(CertKind.AUTH), id_ca.crl_path(CertKind.SIGNING))


@pytest.fixture
def make_verifier(id_ca: TestCA, crl_checker: CrlRevocationChecker) -> Callable[..., JpkiVerifier]:
    """Verifiers trusting ``id_ca`` (by default), with other revocation, city prefixes or clocks."""

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
        return JpkiVerifier(anchors or id_ca.trust_anchors(), revocation or crl_checker, list(prefixes), **kwargs)

    return make


@pytest.fixture
def verifier(make_verifier: Callable[..., JpkiVerifier]) -> JpkiVerifier:
    return make_verifier()


def card_signatures(card: TestCard, message: bytes, *, signing: bool = True) -> dict[str, Any]:
    """``verify_card`` keyword arguments for a card that signed ``message``."""
    kwargs: dict[str, Any] = {"message": message, "auth_signature": card.sign_auth(message)}
    if signing and card.signing_cert is not None:
        kwargs["signing_signature"] = card.sign_signing(message)
    return kwargs


@pytest.fixture
def issue(id_ca: TestCA) -> Callable[..., TestCard]:
    """Issue a fresh card (fresh serials, so tests never share a subject)."""

    def make(resident: TestResident = KAGA_RESIDENTS[0], **kwargs: Any) -> TestCard:
        return id_ca.issue_card(resident, **kwargs)

    return make


def trusting(settings: Settings, ca: TestCA) -> Settings:
    """``settings`` configured like production, with ``ca`` in place of J-LIS (anchors, CRLs, linkage)."""
    return settings.model_copy(update={
        "jpki_auth_anchors": [ca.directory / "roots" / "auth.pem"],
        "jpki_signing_anchors": [ca.directory / "roots" / "signing.pem"],
        "jpki_crl_paths": [ca.crl_path(CertKind.AUTH), ca.crl_path(CertKind.SIGNING)],
        "jpki_linkage_path": ca.directory / "ca.json",
    })


@pytest.fixture
def settings(settings: Settings, id_ca: TestCA) -> Settings:
    return trusting(settings, id_ca)


@pytest.fixture
def contracts(runtime: Runtime) -> CityContracts:
    return load_city(runtime.w3, runtime.manifest, runtime.compiled)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class Api:
    """Drives ``/v1/identity`` the way the wallet CLI does."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def challenge(self, wallet: str, purpose: str = "link") -> dict[str, Any]:
        response = self.client.post("/v1/identity/challenge", json={"wallet": wallet, "purpose": purpose})
        assert response.status_code == 200, response.text
        return dict(response.json())

    def body(
        self,
        card: TestCard,
        account: LocalAccount,
        challenge: dict[str, Any],
        *,
        signing: bool = True,
        card_statement: LinkStatement | None = None,
        wallet_key: bytes | None = None,
    ) -> dict[str, Any]:
        """A request body signed by ``card`` and ``account`` over the challenge's statement.

        ``card_statement`` makes the card sign something else; ``wallet_key`` makes another key
        sign for the wallet."""
        statement = LinkStatement.from_json(challenge["statement"])
        message = (card_statement or statement).canonical_bytes()
        body: dict[str, Any] = {
            "statement": challenge["statement"],
            "auth_certificate": b64(card.auth_cert_der),
            "auth_signature": b64(card.sign_auth(message)),
            "wallet_signature": "0x" + sign_wallet(statement, wallet_key or bytes(account.key)).hex(),
        }
        if signing and card.signing_cert is not None:
            assert card.signing_cert_der is not None
            body["signing_certificate"] = b64(card.signing_cert_der)
            body["signing_signature"] = b64(card.sign_signing(message))
        return body

    def post(self, action: str, body: dict[str, Any], wait: bool = True) -> Any:
        return self.client.post(f"/v1/identity/{action}", params={"wait": str(wait).lower()}, json=body)

    def link(self, card: TestCard, account: LocalAccount, wait: bool = True, **kwargs: Any) -> Any:
        body = self.body(card, account, self.challenge(account.address), **kwargs)
        return self.post("link", body, wait)

    def recover(self, card: TestCard, new: LocalAccount, lost: str, wait: bool = True) -> Any:
        body = self.body(card, new, self.challenge(new.address, "recover"))
        return self.post("recover", {**body, "lost_wallet": lost}, wait)

    def renew(self, card: TestCard, account: LocalAccount, wait: bool = True, **kwargs: Any) -> Any:
        body = self.body(card, account, self.challenge(account.address, "renew"), **kwargs)
        return self.post("renew", body, wait)

    def login(self, account: LocalAccount) -> dict[str, str]:
        """A resident bearer token by wallet login."""
        return wallet_login(self.client, account)

    def poll(self, identity_id: str, wallet: LocalAccount, wait: bool = False) -> Any:
        """``GET /v1/identity/links/{id}`` as the identity's own wallet (nobody else may read it)."""
        return self.client.get(f"/v1/identity/links/{identity_id}", params={"wait": str(wait).lower()},
                               headers=self.login(wallet))


@pytest.fixture
def api(client: TestClient) -> Api:
    return Api(client)


def error_of(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def new_wallet() -> LocalAccount:
    return Account.create()


def past(days: int) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)

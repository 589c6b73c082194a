"""Trust wiring: the development TEST CA, the J-LIS renewal linkage file, production refusing to run
without anchors, and ``machi test-ca`` making cards the service accepts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from chain.toolchain import PROJECT_ROOT
from procedures.config import Settings, get_settings
from procedures.errors import Unavailable
from procedures.identity.certs import AssuranceLevel, CertKind, CertRef
from procedures.identity.testca import TestCA
from procedures.identity.trust import JlisLinkageFile, build_trust
from protocol.cards.soft import SoftCard
from protocol.nonces import new_nonce
from protocol.statement import LinkStatement
from tests.procedures.identity.conftest import KAGA_RESIDENTS

REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def _message() -> bytes:
    return LinkStatement.create(purpose="link", wallet=REGISTRY, chain_id=31337, registry=REGISTRY,
                                nonce=new_nonce(), issued_at=datetime.now(UTC)).canonical_bytes()


def test_development_creates_and_trusts_a_test_ca(tmp_path):
    trust = build_trust(Settings(environment="development", var_dir=tmp_path))
    assert trust.test_ca == tmp_path / "jpki-test-ca"
    ca = TestCA.load(trust.test_ca)
    assert "TEST" in ca.auth_root.subject.rfc4514_string()
    card = ca.issue_card(KAGA_RESIDENTS[0])
    message = _message()
    verified = trust.verifier.verify_card(card.auth_cert_der, card.signing_cert_der, message=message,
                                          auth_signature=card.sign_auth(message),
                                          signing_signature=card.sign_signing(message))
    assert verified.level is AssuranceLevel.RESIDENT_OF_CITY
    # the renewal linkage follows the CA's records as they are written
    renewed = ca.renew(card)
    assert trust.renewals.predecessor(renewed.auth_ref) == card.auth_ref
    assert build_trust(Settings(environment="development", var_dir=tmp_path)).test_ca == trust.test_ca  # reused


def test_production_refuses_without_anchors(tmp_path):
    settings = Settings(environment="test", var_dir=tmp_path).model_copy(update={"environment": "production"})
    with pytest.raises(Unavailable) as excinfo:
        build_trust(settings)
    assert excinfo.value.status == 503 and excinfo.value.code == "identity_not_configured"
    assert not (tmp_path / "jpki-test-ca").exists()


def test_production_refuses_without_the_jlis_renewal_linkage(tmp_path, id_ca):
    anchors = {"jpki_auth_anchors": [id_ca.directory / "roots" / "auth.pem"],
               "jpki_signing_anchors": [id_ca.directory / "roots" / "signing.pem"]}
    settings = Settings(environment="test", var_dir=tmp_path).model_copy(update={"environment": "production",
                                                                                 **anchors})
    # the settings refuse it at start-up, before anything builds the card verifier
    with pytest.raises(ValidationError, match="MACHI_JPKI_LINKAGE_PATH"):
        Settings(environment="production", rpc_url="http://node", **anchors)
    assert build_trust(settings.model_copy(update={"jpki_linkage_path": tmp_path / "linkage.json"})).test_ca is None


def test_linkage_file(tmp_path, id_ca):
    path = tmp_path / "linkage.json"
    linkage = JlisLinkageFile(path, id_ca.trust_anchors())
    issuer = id_ca.auth_root.subject.public_bytes()
    old, new = CertRef(issuer, 0x1111), CertRef(issuer, 0x2222)
    assert linkage.predecessor(new) is None  # no file yet: empty
    path.write_text(json.dumps({"linkage": [{"kind": "auth", "old": "1111", "new": "2222"}]}))
    assert linkage.predecessor(new) == old and linkage.successor(old) == new
    path.write_text("not json")
    os.utime(path, ns=(1, 1))
    assert linkage.predecessor(new) is None  # unreadable: empty, never wrong


def test_machi_test_ca_issue(tmp_path, monkeypatch):
    from procedures.cli import main as machi

    monkeypatch.setenv("MACHI_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("MACHI_ENVIRONMENT", "development")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(machi, ["test-ca", "issue", "加賀 花子", "--birth-date", "1985-06-15", "--sex",
                                            "female", "--address", "石川県加賀市大聖寺南町ニ41番地", "--pin", "2580"])
        assert result.exit_code == 0, result.output
        written = tmp_path / "cards" / "card0001.p12"  # no --out: under var/, which git ignores
        assert f"machi-wallet link-card --card soft:{written}" in result.output
        assert written.with_name("card0001.sign.p12").exists()
        trust = build_trust(get_settings())
        card = SoftCard(written, "2580")
        message = _message()
        verified = trust.verifier.verify_card(card.auth_certificate(), card.signing_certificate("TESTPASS1"),
                                              message=message, auth_signature=card.sign_auth(message, "2580"),
                                              signing_signature=card.sign_with_signing_key(message, "TESTPASS1"))
        assert verified.in_city
        revoked = CliRunner().invoke(machi, ["test-ca", "revoke", "card0001"])
        assert revoked.exit_code == 0, revoked.output
        with pytest.raises(Exception, match="revoked"):
            trust.verifier.verify_card(card.auth_certificate(), message=message,
                                       auth_signature=card.sign_auth(message, "2580"))
    finally:
        get_settings.cache_clear()


_PRODUCTION_PROBE = """
import json, sys
from procedures.config import Settings
import procedures.app, procedures.cli, procedures.identity.routes, procedures.identity.service
from procedures.identity.trust import build_trust

settings = Settings(environment="test", var_dir=sys.argv[1]).model_copy(update={
    "environment": "production", "jpki_linkage_path": sys.argv[1] + "/linkage.json",
    "jpki_auth_anchors": [sys.argv[2]], "jpki_signing_anchors": [sys.argv[3]], "jpki_crl_paths": sys.argv[4:],
})
trust = build_trust(settings)
print(json.dumps({"test_ca": trust.test_ca, "loaded": sorted(m for m in sys.modules if "testca" in m)}))
"""


def test_a_production_service_never_loads_the_test_ca(tmp_path, id_ca):
    """The app, the operator CLI and the identity path, with J-LIS-style anchors configured and
    ``environment=production``: the TEST CA package stays unimported (it is test tooling)."""
    anchors = [id_ca.directory / "roots" / "auth.pem", id_ca.directory / "roots" / "signing.pem"]
    crls = [id_ca.crl_path(CertKind.AUTH), id_ca.crl_path(CertKind.SIGNING)]
    result = subprocess.run([sys.executable, "-c", _PRODUCTION_PROBE, str(tmp_path), *map(str, anchors + crls)],
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report == {"test_ca": None, "loaded": []}

"""Identity and protocol errors leave through the service's one error mapping with the status, type and
code they always had (clients match on them): one table, every error class of both branches."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import procedures.identity.errors as ident
import protocol.errors as proto
from chain.errors import MachiError
from procedures.errors import ServiceError, register_exception_handlers

NOW = datetime.now(UTC)

#: (error, status, type, code) as clients have always seen them (``invalid_address`` is new).
ANSWERS = [
    (ident.MalformedCertificate("bad", which="signing"), 400, "invalid_request_error", "malformed_certificate"),
    (ident.UnknownRoot(which="signing"), 422, "invalid_request_error", "unknown_root"),
    (ident.CertificateExpired(not_after=NOW), 422, "invalid_request_error", "certificate_expired"),
    (ident.CertificateNotYetValid(not_before=NOW), 422, "invalid_request_error", "certificate_not_yet_valid"),
    (ident.CertificateRevoked(reason="key_compromise"), 403, "permission_error", "certificate_revoked"),
    (ident.WrongKeyUsage("x"), 422, "invalid_request_error", "wrong_key_usage"),
    (ident.WrongPolicy("x"), 422, "invalid_request_error", "wrong_policy"),
    (ident.RevocationUnavailable("x"), 503, "api_error", "revocation_unavailable"),
    (ident.BadCardSignature(which="auth"), 401, "authentication_error", "bad_card_signature"),
    (ident.SubjectAlreadyLinked(), 409, "conflict_error", "subject_already_linked"),
    (ident.WalletAlreadyLinked(), 409, "conflict_error", "wallet_already_linked"),
    (ident.WalletRetired(), 409, "conflict_error", "wallet_retired"),
    (ident.CertificateMismatch(), 409, "conflict_error", "certificate_mismatch"),
    (ident.SubjectNotLinked(), 404, "not_found_error", "subject_not_linked"),
    (ident.LostWalletMismatch(), 409, "conflict_error", "lost_wallet_mismatch"),
    (ident.SigningCertificateRequired(), 403, "permission_error", "signing_certificate_required"),
    (ident.RecoveryPending(), 409, "conflict_error", "recovery_pending"),
    (ident.LostWalletFrozen(), 409, "conflict_error", "lost_wallet_frozen"),
    (ident.NoPendingRecovery(), 404, "not_found_error", "no_pending_recovery"),
    (ident.CancelSignatureInvalid(), 422, "invalid_request_error", "invalid_signature"),
    (ident.SubjectMismatch(), 403, "permission_error", "subject_mismatch"),
    (ident.IdentityNotFound(), 404, "not_found_error", "identity_not_found"),
    (ident.MyNumberRefused(paths=["$.memo"]), 422, "invalid_request_error", "my_number_refused"),
    (proto.MalformedStatement("x"), 400, "invalid_request_error", "malformed_statement"),
    (proto.NonceReused(), 409, "conflict_error", "nonce_reused"),
    (proto.NonceExpired(), 400, "invalid_request_error", "nonce_expired"),
    (proto.WalletSignatureMismatch(), 401, "authentication_error", "wallet_signature_mismatch"),
    (proto.CardError("reader gone", sw=0x6F00), 502, "api_error", "card_error"),
    (proto.WrongPin(retries_left=2), 401, "authentication_error", "wrong_pin"),
    (proto.CardLocked(), 423, "invalid_request_error", "card_locked"),
    (proto.InvalidPinFormat("4 digits"), 400, "invalid_request_error", "invalid_pin_format"),
    (proto.InvalidAddress("wallet"), 422, "invalid_request_error", "invalid_address"),
]


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    register_exception_handlers(app)
    @app.get("/raise/{index}")
    def _raise(index: int) -> None:
        raise ANSWERS[index][0]

    return TestClient(app)


@pytest.mark.parametrize(("index", "status", "type_", "code"),
                         [(i, status, type_, code) for i, (_, status, type_, code) in enumerate(ANSWERS)],
                         ids=[code for *_, code in ANSWERS])
def test_each_error_keeps_its_http_answer(client, index, status, type_, code):
    response = client.get(f"/raise/{index}")
    assert response.status_code == status
    error = response.json()["error"]
    assert (error["type"], error["code"]) == (type_, code)
    assert error["message"] == ANSWERS[index][0].message and error["param"] is None


def test_every_error_class_is_in_the_table_and_under_the_one_root():
    """A new identity or protocol error without a row here fails: decide its answer on purpose."""
    listed = {type(error) for error, *_ in ANSWERS}
    for module, root in ((ident, ident.IdentityError), (proto, proto.ProtocolError)):
        classes = {obj for name in module.__all__ if isinstance(obj := getattr(module, name), type)}
        leaves = {cls for cls in classes if cls is not root and not any(other is not cls and issubclass(other, cls)
                                                                         for other in classes)}
        assert leaves <= listed, f"no HTTP answer pinned for {sorted(c.__name__ for c in leaves - listed)}"
        assert all(issubclass(cls, MachiError) for cls in classes)
    assert issubclass(ident.IdentityError, ServiceError)
    assert not issubclass(proto.ProtocolError, ServiceError)  # the protocol knows nothing of HTTP

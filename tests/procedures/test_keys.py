"""Keys at rest: separate derived keys, the KEK ring, and a rotation without downtime (``machi keys``)."""

from __future__ import annotations

import json
import os
import threading
import uuid

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import ValidationError
from sqlalchemy import select

from procedures.config import Settings, get_settings
from procedures.crypto import (
    KEK_LABEL,
    CryptoError,
    DataKey,
    KeyRing,
    RecordErased,
    RotationReport,
    Vault,
    derive_key,
    kek_counts,
    keyed_hash,
    rotate,
)
from procedures.identity.certs import CertRef, InMemorySerialLinkage
from procedures.identity.subjects import Pepper, SubjectDirectory

SECRET = "keys-test-secret-0123456789abcdef-0123"  # the deployment's MACHI_SECRET_KEY
NEW_KEK = "the-new-kek-secret-0123456789abcdef-0123"
OLD_AND_NEW = {"s0": SECRET, "k1": NEW_KEK}


def _legacy_row(session, secret: str) -> tuple[str, bytes]:
    """A data key exactly as the service stored it before KEK ids existed (no kek_id), and its key."""
    key_id, dek, nonce = str(uuid.uuid4()), AESGCM.generate_key(bit_length=256), os.urandom(12)
    wrapped = nonce + AESGCM(derive_key(secret, KEK_LABEL)).encrypt(nonce, dek, key_id.encode())
    session.add(DataKey(id=key_id, purpose="test", wrapped=wrapped, kek_id=None))
    session.flush()
    return key_id, dek


def test_derived_keys_are_pinned_so_existing_subjects_and_api_keys_keep_theirs():
    """The pepper, the API-key HMAC key and the first KEK come from MACHI_SECRET_KEY exactly as before KEKs had a
    setting of their own: a change here would give every known card a new subject (a second wallet for one person),
    invalidate every merchant's API key, and make every data key unreadable."""
    secret = "pin-the-pepper-0123456789abcdef0123456789"
    directory = SubjectDirectory(Pepper.derive(secret), InMemorySerialLinkage())
    assert directory.subject_key("00000000-0000-4000-8000-000000000001") == (
        "0x1615fca5739274ca3b73107955fbc20a63a7f32d8bde2527621dd04f97ccf611")
    ref = CertRef(bytes.fromhex("3011310f300d06035504030c0654455354204341"), 0x1234567890ABCDEF)
    assert directory.serial_hash(ref) == "aca225f62dd2ee5a20470811e097d08c3049ff3b8b7d385a2ce8714f18c2e6f4"
    assert keyed_hash(secret, "merchant-api-key v1", b"mk_test_abc").hex() == (
        "d7974614ff2213b565655695ff5b005a14fe3c3780b94d8c12b088fedebac2b1")
    assert derive_key(secret, KEK_LABEL).hex() == "72f7ae88edb24c4d6e6e29f9448d8eadc636b0799ab4a6f14eca9054188c5565"
    # Each purpose its own key: none of them is another, or the secret itself.
    pepper = Pepper.derive(secret)
    keys = {pepper.subject, pepper.serial, derive_key(secret, "merchant-api-key v1"), derive_key(secret, KEK_LABEL)}
    assert len(keys) == 4 and secret.encode() not in keys


def test_a_kek_of_its_own_leaves_the_pepper_alone(sessions):
    """With MACHI_KEKS set, new data keys no longer depend on MACHI_SECRET_KEY at all."""
    with_kek = Settings(environment="test", secret_key=SECRET, keks={"k1": NEW_KEK})
    other_secret = Settings(environment="test", secret_key="another-secret-0123456789abcdef-0123", keks={"k1": NEW_KEK})
    with sessions() as session, session.begin():
        key_id = Vault(KeyRing.from_settings(with_kek)).new_key(session, "test")
        blob = Vault(KeyRing.from_settings(with_kek)).seal(session, key_id, b"record")
    with sessions() as session:
        assert session.get(DataKey, key_id).kek_id == "k1"
        assert Vault(KeyRing.from_settings(other_secret)).open(session, key_id, blob) == b"record"
        with pytest.raises(CryptoError, match="'k1', which is not configured"):
            Vault(SECRET).open(session, key_id, blob)


def test_rotation_without_downtime(sessions):
    """Old data readable throughout, new data under the new KEK, the old KEK not needed afterwards."""
    before = Vault(KeyRing.from_settings(Settings(environment="test", secret_key=SECRET)))
    with sessions() as session, session.begin():
        legacy_id, _ = _legacy_row(session, SECRET)  # from before KEK ids were recorded
        legacy_blob = before.seal(session, legacy_id, b"legacy record")
        old = {before.new_key(session, "test"): b"" for _ in range(6)}
        old = {key_id: before.seal(session, key_id, f"old {key_id}".encode()) for key_id in old}
        erased = next(iter(old))
        before.erase(session, erased)
    old[legacy_id] = legacy_blob

    # Step 1 (every process): the new KEK is known, the old one still wraps. Step 2: the new one wraps.
    step1 = Vault(KeyRing(OLD_AND_NEW, current="s0"))
    step2 = Vault(KeyRing(OLD_AND_NEW, current="k1"))
    written: dict[str, bytes] = {}
    problems: list[BaseException] = []
    started = threading.Event()

    def service() -> None:
        """The service at work while the operator rotates: new records, reads of old and new ones."""
        try:
            for i in range(15):
                with sessions() as session, session.begin():
                    key_id = step2.new_key(session, "test")
                    written[key_id] = step2.seal(session, key_id, f"new {i}".encode())
                    started.set()
                    for reader in (step1, step2):
                        for old_id, blob in old.items():
                            if old_id != erased:
                                assert reader.open(session, old_id, blob)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            problems.append(exc)
            started.set()

    worker = threading.Thread(target=service)
    worker.start()
    started.wait()
    report = rotate(sessions, step2, batch=2)
    worker.join()
    assert not problems, problems
    assert report == RotationReport(kek_id="k1", rewrapped=len(old) - 1, remaining=0)
    assert rotate(sessions, step2) == RotationReport(kek_id="k1", rewrapped=0, remaining=0)  # idempotent

    after = Vault(KeyRing({"k1": NEW_KEK}))  # step 3: the old KEK removed from MACHI_KEKS
    with sessions() as session:
        assert kek_counts(session) == {"k1": len(old) - 1 + len(written)}
        for key_id, blob in {**old, **written}.items():
            if key_id == erased:
                with pytest.raises(RecordErased):
                    after.open(session, key_id, blob)
            else:
                assert after.open(session, key_id, blob).startswith((b"old", b"new", b"legacy"))
        assert session.get(DataKey, erased).wrapped is None  # a rotation never brings an erased key back
        with pytest.raises(CryptoError, match="'k1'"):  # the old KEK alone reads nothing any more
            before.open(session, legacy_id, legacy_blob)


def test_rotation_stops_at_a_data_key_whose_kek_is_missing(sessions):
    with sessions() as session, session.begin():
        key_id = Vault(KeyRing({"k0": NEW_KEK})).new_key(session, "test")
    with pytest.raises(CryptoError, match="'k0', which is not configured"):
        rotate(sessions, Vault(KeyRing(OLD_AND_NEW, current="k1")))
    with sessions() as session:
        assert session.get(DataKey, key_id).kek_id == "k0"


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"keks": OLD_AND_NEW}, "MACHI_KEK_ID must say which one"),
        ({"keks": {"k1": NEW_KEK}, "kek_id": "k2"}, "not one of MACHI_KEKS"),
        ({"environment": "production", "secret_key": SECRET, "keks": {"k1": "short"}, "rpc_url": "http://node",
          "deployer_key": "0x" + "11" * 32, "relayer_key": "0x" + "12" * 32, "topup_minter_key": "0x" + "13" * 32,
          "benefits_minter_key": "0x" + "14" * 32}, "at least 32 characters"),
    ],
    ids=["several-without-current", "unknown-current", "short-in-production"],
)
def test_kek_settings_are_refused_when_ambiguous_or_weak(fields, match):
    with pytest.raises(ValidationError, match=match):
        Settings(**{"environment": "test", **fields})


def test_machi_keys_status_and_rotate(sessions, database_url, tmp_path, monkeypatch):
    from procedures.cli import main as machi

    with sessions() as session, session.begin():
        ids = [Vault(SECRET).new_key(session, "test") for _ in range(3)]
    url, schema = database_url
    base = {"MACHI_ENVIRONMENT": "test", "DATABASE_URL": url, "MACHI_VAR_DIR": str(tmp_path),
            "MACHI_SECRET_KEY": SECRET}
    if schema:
        base["MACHI_DATABASE_SCHEMA"] = schema

    def machi_keys(*args: str, **env: str):
        for name, value in {**base, **env}.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(machi, ["keys", *args])
        finally:
            get_settings.cache_clear()

    both = {"MACHI_KEKS": json.dumps(OLD_AND_NEW), "MACHI_KEK_ID": "k1"}
    only_new = {"MACHI_KEKS": json.dumps({"k1": NEW_KEK}), "MACHI_KEK_ID": "k1"}
    early = machi_keys("status", **only_new)
    assert early.exit_code == 1 and "data keys under s0 cannot be read" in early.output
    rotated = machi_keys("rotate", "--batch-size", "2", **both)
    assert rotated.exit_code == 0, rotated.output
    assert "re-wrapped 3 data keys under KEK k1" in rotated.output
    assert "no data key needs s0 any more" in rotated.output
    done = machi_keys("status", **only_new)
    assert done.exit_code == 0, done.output
    with sessions() as session:
        assert set(session.scalars(select(DataKey.kek_id).where(DataKey.id.in_(ids)))) == {"k1"}

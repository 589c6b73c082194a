"""Auth services: passwords (argon2) throttled per account and source address, bearer tokens,
single-use challenges, wallet login by EIP-712 signature."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from eth_account import Account
from eth_account.messages import encode_typed_data
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from chain.storage import utcnow
from procedures.addresses import checksum, is_wallet
from procedures.auth.models import AccessToken, Challenge, StaffAccount, StaffLoginThrottle, StaffNotice
from procedures.crypto import Vault
from procedures.errors import Conflict, InvalidRequest, NotAuthenticated, RateLimited

STAFF_ROLES = ("clerk", "supervisor", "admin")
#: Wrong passwords from one source address before that address waits between attempts.
FREE_LOGIN_ATTEMPTS = 5
#: The first wait after the free attempts; each further failure doubles it, up to ``MAX_LOGIN_BACKOFF``.
LOGIN_BACKOFF = timedelta(seconds=30)
MAX_LOGIN_BACKOFF = timedelta(hours=1)
#: Failures older than this are forgotten: the next wrong password starts a new count.
LOGIN_FAILURE_MEMORY = timedelta(hours=24)
#: Notices the owner has seen are kept this long (the console shows recent ones), then purged.
SEEN_NOTICE_RETENTION = timedelta(days=90)
STAFF_TOKEN_TTL = timedelta(hours=10)
RESIDENT_TOKEN_TTL = timedelta(hours=1)
CHALLENGE_TTL = timedelta(minutes=5)

_hasher = PasswordHasher()


@dataclass(frozen=True)
class Principal:
    """Who is calling: a staff member, a resident (by wallet) or a merchant (by API key)."""

    type: str  # staff | resident | merchant
    subject: str  # staff id, wallet address or merchant id
    role: str  # clerk | supervisor | admin | resident | merchant
    department: str | None = None
    scopes: frozenset[str] = frozenset()
    wallet: str | None = None

    @property
    def is_staff(self) -> bool:
        return self.type == "staff"


# --------------------------------------------------------------------------- staff accounts
def create_staff(
    session: Session, vault: Vault, *, username: str, password: str, role: str, display_name: str | None = None,
    department: str | None = None,
) -> StaffAccount:
    """Create a staff account with an argon2 password hash and its own signing key (custodial).

    Raises:
        InvalidRequest: unknown role, weak password, or a clerk without a department.
        Conflict: the username exists.
    """
    if role not in STAFF_ROLES:
        raise InvalidRequest(f"role must be one of {', '.join(STAFF_ROLES)}", param="role")
    if len(password) < 10:
        raise InvalidRequest("password must be at least 10 characters", param="password")
    if role == "clerk" and not department:
        raise InvalidRequest("a clerk belongs to a department", param="department")
    if session.scalar(select(StaffAccount).where(StaffAccount.username == username)) is not None:
        raise Conflict(f"a staff account named {username!r} exists", code="username_taken", param="username")
    key = Account.create()
    key_id = vault.new_key(session, "staff-signing-key")
    account = StaffAccount(
        username=username, display_name=display_name or username, role=role, department=department,
        password_hash=_hasher.hash(password), signing_key_id=key_id, signing_address=key.address,
        signing_key_blob=vault.seal(session, key_id, bytes(key.key), aad=username.encode()),
    )
    session.add(account)
    session.flush()
    return account


def staff_signer(session: Session, vault: Vault, account: StaffAccount) -> Any:
    """The staff member's own signing key (decrypted only for the moment of signing)."""
    assert account.signing_key_id and account.signing_key_blob
    return Account.from_key(vault.open(session, account.signing_key_id, account.signing_key_blob,
                                       aad=account.username.encode()))


def login_backoff(failures: int) -> timedelta:
    """How long a source waits after its ``failures``-th wrong password (zero within the free attempts)."""
    if failures < FREE_LOGIN_ATTEMPTS:
        return timedelta(0)
    wait: timedelta = LOGIN_BACKOFF * 2 ** min(failures - FREE_LOGIN_ATTEMPTS, 20)
    return min(wait, MAX_LOGIN_BACKOFF)


def authenticate_staff(session: Session, username: str, password: str, source: str) -> StaffAccount:
    """Check a password, throttling wrong ones per (account, ``source`` address) with exponential
    back-off — never locking the account: an attacker elsewhere cannot keep the clerk out.

    The account's owner is told (``StaffNotice``, shown at the next login and on the console) once
    a source runs out of free attempts, with the count kept current.

    Raises:
        NotAuthenticated: unknown user or wrong password (the same message for both).
        RateLimited: this source must wait before trying this account again (``Retry-After``);
            the password is not checked.
    """
    account = session.scalar(select(StaffAccount).where(StaffAccount.username == username))
    now = utcnow()
    if account is None or not account.active:
        _hasher.hash(password)  # same cost as a real check: no user enumeration by timing
        raise NotAuthenticated("wrong username or password", code="invalid_credentials")
    source = source[:64]
    throttle = session.scalar(select(StaffLoginThrottle).where(
        StaffLoginThrottle.staff_id == account.id, StaffLoginThrottle.source == source).with_for_update())
    if throttle is not None and throttle.blocked_until is not None and throttle.blocked_until > now:
        wait = int((throttle.blocked_until - now).total_seconds()) + 1
        raise RateLimited("too many wrong passwords from this address; wait before trying again",
                          code="login_throttled", headers={"Retry-After": str(wait)})
    try:
        _hasher.verify(account.password_hash, password)
    except (VerificationError, InvalidHashError):
        _count_failure(session, account, throttle, source, now)
        raise NotAuthenticated("wrong username or password", code="invalid_credentials") from None
    if throttle is not None:
        session.delete(throttle)
    if _hasher.check_needs_rehash(account.password_hash):
        account.password_hash = _hasher.hash(password)
    return account


def _count_failure(session: Session, account: StaffAccount, throttle: StaffLoginThrottle | None, source: str,
                   now: datetime) -> None:
    if throttle is not None and throttle.last_failed_at <= now - LOGIN_FAILURE_MEMORY:
        session.delete(throttle)
        session.flush()
        throttle = None
    if throttle is None:
        throttle = StaffLoginThrottle(staff_id=account.id, source=source, failures=0, first_failed_at=now)
        session.add(throttle)
    throttle.failures += 1
    throttle.last_failed_at = now
    wait = login_backoff(throttle.failures)
    throttle.blocked_until = now + wait if wait else None
    if throttle.failures >= FREE_LOGIN_ATTEMPTS:
        notice = session.scalar(select(StaffNotice).where(
            StaffNotice.staff_id == account.id, StaffNotice.kind == "failed_logins", StaffNotice.source == source,
            StaffNotice.seen_at.is_(None)))
        if notice is None:
            session.add(StaffNotice(staff_id=account.id, kind="failed_logins", source=source,
                                    count=throttle.failures, created_at=now))
        else:
            notice.count = throttle.failures


def take_notices(session: Session, staff_id: int) -> list[StaffNotice]:
    """The account's notices not yet shown, oldest first, now marked seen."""
    notices = list(session.scalars(select(StaffNotice).where(
        StaffNotice.staff_id == staff_id, StaffNotice.seen_at.is_(None)).order_by(StaffNotice.id)))
    now = utcnow()
    for notice in notices:
        notice.seen_at = now
    return notices


# --------------------------------------------------------------------------- tokens
def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, principal_type: str, subject: str, ttl: timedelta) -> tuple[str, datetime]:
    """A new bearer token (returned once; only its hash is stored)."""
    token = f"ml_{principal_type[:3]}_" + secrets.token_urlsafe(32)
    expires = utcnow() + ttl
    session.add(AccessToken(token_hash=_token_hash(token), principal_type=principal_type, subject=subject,
                            expires_at=expires))
    session.flush()
    return token, expires


def resolve_token(session: Session, token: str) -> AccessToken:
    """The live token row for a bearer token.

    Raises:
        NotAuthenticated: unknown, expired or revoked.
    """
    row = session.scalar(select(AccessToken).where(AccessToken.token_hash == _token_hash(token)))
    if row is None or row.revoked_at is not None:
        raise NotAuthenticated("invalid access token", code="invalid_token")
    if row.expires_at <= utcnow():
        raise NotAuthenticated("access token expired; log in again", code="token_expired")
    return row


def revoke_token(session: Session, token: str) -> None:
    """Log out."""
    row = session.scalar(select(AccessToken).where(AccessToken.token_hash == _token_hash(token)))
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()


# --------------------------------------------------------------------------- challenges
def revoke_wallet_tokens(session: Session, wallet: str) -> int:
    """Revoke every live resident token of ``wallet`` (a wallet retired by recovery or revocation);
    returns how many."""
    now = utcnow()
    tokens = session.scalars(select(AccessToken).where(
        AccessToken.principal_type == "resident", AccessToken.subject == checksum(wallet),
        AccessToken.revoked_at.is_(None)))
    count = 0
    for token in tokens:
        token.revoked_at = now
        count += 1
    return count


def issue_challenge(session: Session, purpose: str, wallet: str, ttl: timedelta = CHALLENGE_TTL) -> Challenge:
    """A fresh single-use 32-byte nonce bound to a wallet and a purpose."""
    if not is_wallet(wallet):
        raise InvalidRequest("not an Ethereum address", param="wallet")
    challenge = Challenge(nonce="0x" + secrets.token_hex(32), purpose=purpose, wallet=checksum(wallet),
                          expires_at=utcnow() + ttl)
    session.add(challenge)
    session.flush()
    return challenge


def consume_challenge(session: Session, nonce: str, purpose: str, wallet: str) -> Challenge:
    """Use a nonce exactly once (row-locked), for the wallet and purpose it was issued to.

    Raises:
        InvalidRequest: unknown nonce, or issued for another wallet or purpose (code nonce_unknown).
        Conflict: already used (code nonce_reused).
        InvalidRequest: expired (code nonce_expired).
    """
    row = session.get(Challenge, nonce.lower(), with_for_update=True)
    if row is None or row.purpose != purpose or row.wallet.lower() != wallet.lower():
        raise InvalidRequest("unknown challenge nonce; ask for a new one", code="nonce_unknown", param="nonce")
    if row.used_at is not None:
        raise Conflict("this challenge was already used; ask for a new one", code="nonce_reused", param="nonce")
    if row.expires_at <= utcnow():
        raise InvalidRequest("this challenge expired; ask for a new one", code="nonce_expired", param="nonce")
    row.used_at = utcnow()
    return row


def purge_challenges(session: Session, now: datetime, limit: int) -> int:
    """Delete at most ``limit`` expired challenges (used or not: past ``expires_at`` none can be
    consumed any more, and an unknown nonce is refused like an expired one); returns how many."""
    due = select(Challenge.nonce).where(Challenge.expires_at <= now).limit(limit)
    nonces = list(session.scalars(due))
    if nonces:
        session.execute(delete(Challenge).where(Challenge.nonce.in_(nonces)))
    return len(nonces)


def purge_login_records(session: Session, now: datetime, limit: int) -> int:
    """Delete at most ``limit`` forgotten login throttles (last failure past ``LOGIN_FAILURE_MEMORY``, no
    wait left: the next wrong password would start a new count anyway) and as many notices seen more than
    ``SEEN_NOTICE_RETENTION`` ago; returns how many rows went. Unseen notices stay."""
    throttles = list(session.scalars(select(StaffLoginThrottle.id).where(
        StaffLoginThrottle.last_failed_at <= now - LOGIN_FAILURE_MEMORY,
        or_(StaffLoginThrottle.blocked_until.is_(None), StaffLoginThrottle.blocked_until <= now)).limit(limit)))
    if throttles:
        session.execute(delete(StaffLoginThrottle).where(StaffLoginThrottle.id.in_(throttles)))
    notices = list(session.scalars(select(StaffNotice.id).where(
        StaffNotice.seen_at <= now - SEEN_NOTICE_RETENTION).limit(limit - len(throttles))))
    if notices:
        session.execute(delete(StaffNotice).where(StaffNotice.id.in_(notices)))
    return len(throttles) + len(notices)


# --------------------------------------------------------------------------- wallet login
def login_typed_data(chain_id: int, registry: str, wallet: str, nonce: str, deadline: int) -> dict[str, Any]:
    """EIP-712 typed data a resident's wallet signs to log in (chain id, contract, nonce, deadline)."""
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Login": [
                {"name": "wallet", "type": "address"},
                {"name": "nonce", "type": "bytes32"},
                {"name": "deadline", "type": "uint256"},
            ],
        },
        "primaryType": "Login",
        "domain": {"name": "Machi Ledger", "version": "1", "chainId": chain_id,
                   "verifyingContract": checksum(registry, "registry")},
        "message": {"wallet": checksum(wallet), "nonce": nonce, "deadline": deadline},
    }


def recover_typed_signer(typed_data: dict[str, Any], signature: str) -> str:
    """The address that signed ``typed_data``.

    Raises:
        InvalidRequest: the signature is malformed.
    """
    try:
        return str(Account.recover_message(encode_typed_data(full_message=typed_data), signature=signature))
    except Exception as exc:  # noqa: BLE001 - any decoding problem is the caller's malformed input
        raise InvalidRequest("malformed signature", code="bad_signature", param="signature") from exc

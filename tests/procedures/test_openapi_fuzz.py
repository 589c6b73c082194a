"""Schemathesis against the service's own OpenAPI spec: generated requests as an anonymous caller,
a resident and an administrator must never get a 5xx, and every error keeps the one shape; the same
for a hostile profile (tests/procedures/fuzz_hostile.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from eth_account import Account

from procedures.auth.service import STAFF_TOKEN_TTL, create_staff, issue_token
from tests.procedures.conftest import wallet_login
from tests.procedures.fuzz_hooks import open311_shape_problem, shape_problem

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
ROOT = Path(__file__).resolve().parents[2]
#: not_a_server_error: no 5xx; standard_error_shape (tests/procedures/fuzz_hooks.py): every 4xx has the one shape;
#: status_code_conformance and response_schema_conformance: every answer's status and body are what the OpenAPI
#: spec declares (errors: procedures.errors.API_ERRORS).
CHECKS = "not_a_server_error,standard_error_shape,status_code_conformance,response_schema_conformance"


@pytest.mark.parametrize("who", ["anonymous", "resident", "admin"])
def test_generated_requests_never_get_a_server_error(who, live_server, runtime):
    if not SCHEMATHESIS.exists() and shutil.which("schemathesis") is None:
        pytest.fail("schemathesis is a dev dependency: run `make test` (it installs .[dev])")
    headers: list[str] = []
    if who == "resident":
        headers = ["-H", f"Authorization: {wallet_login(live_server, Account.create())['Authorization']}"]
    elif who == "admin":
        with runtime.sessions() as session, session.begin():
            account = create_staff(session, runtime.vault, username="fuzz-admin", password="fuzzing admin pw",
                                   role="admin")
            token, _ = issue_token(session, "staff", str(account.id), STAFF_TOKEN_TTL)
        headers = ["-H", f"Authorization: Bearer {token}"]
    result = subprocess.run(  # noqa: S603 - our own dev tool against our own local server
        [str(SCHEMATHESIS if SCHEMATHESIS.exists() else "schemathesis"), "run", f"{live_server}/openapi.json",
         "--checks", CHECKS, "--max-examples", "6", "--workers", "1", "--no-color",
         "--seed", "20261126", *headers],
        capture_output=True, text=True, timeout=600, check=False, cwd=ROOT,
        env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.procedures.fuzz_hooks"},
    )
    summary = result.stdout[-3000:]
    assert result.returncode == 0, summary
    counts = [line.split() for line in result.stdout.splitlines() if " generated, " in line]
    assert counts, summary
    generated, passed = int(counts[-1][0]), int(counts[-1][2])
    assert generated == passed >= 1000, counts[-1]  # at least a thousand cases per caller, all answered < 500


def test_a_hostile_profile_gets_no_server_error(live_server, runtime, tmp_path):
    """Bodies, queries and path parameters bent by tests/procedures/fuzz_hostile.py (NUL, RTL marks,
    combining characters, half-width kana, 2^63 and 2^256, 40-deep and 300 KB bodies), as an
    administrator (who gets past every door): no 5xx, every 4xx in the error shape."""
    with runtime.sessions() as session, session.begin():
        account = create_staff(session, runtime.vault, username="hostile-admin", password="hostile admin pw",
                               role="admin")
        token, _ = issue_token(session, "staff", str(account.id), STAFF_TOKEN_TTL)
    answers = tmp_path / "answers.txt"
    httpx.get(f"{live_server}/openapi.json", timeout=60).raise_for_status()  # built once, then cached: fast to load
    result = subprocess.run(  # noqa: S603 - our own dev tool against our own local server
        [str(SCHEMATHESIS if SCHEMATHESIS.exists() else "schemathesis"), "run", f"{live_server}/openapi.json",
         "--checks", "not_a_server_error,standard_error_shape", "--phases", "fuzzing", "--max-examples", "2",
         "--workers", "1", "--no-color", "--seed", "20261207", "--generation-allow-x00", "true",
         "-H", f"Authorization: Bearer {token}"],
        capture_output=True, text=True, timeout=300, check=False, cwd=ROOT,
        env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.procedures.fuzz_hostile", "HOSTILE_LOG": str(answers)},
    )
    summary = result.stdout[-3000:]
    assert result.returncode == 0, summary
    counts = [line.split() for line in result.stdout.splitlines() if " generated, " in line]
    assert counts, summary
    generated, passed = int(counts[-1][0]), int(counts[-1][2])
    assert generated == passed >= 150, counts[-1]
    seen = set(answers.read_text().split("\n"))
    for answer in ("413 payload_too_large", "400 json_too_deep", "422 invalid_parameter"):
        assert answer in seen, f"the hostile profile never got {answer!r}: {sorted(seen)}"


@pytest.mark.parametrize(("status", "body", "bad"), [
    (404, b'{"error": {"type": "not_found_error", "code": "not_found", "message": "no such thing", "param": null}}',
     False),
    (422, b'{"error": {"type": "invalid_request_error", "code": "invalid_parameter", "message": "x", "param": "a"}}',
     False),
    (200, b'{"detail": "fine"}', False),
    (405, b'{"detail": "Method Not Allowed"}', True),  # FastAPI's default shape
    (404, b'<html>Not Found</html>', True),
    (400, b'{"error": {"type": "invalid_request_error", "code": "", "message": "x", "param": null}}', True),
    (401, b'{"error": {"code": "not_authenticated", "message": "x"}}', True),
    (409, b'{"error": {"type": "conflict_error", "code": "c", "message": "m", "param": null}, "extra": 1}', True),
])
def test_the_shape_check_tells_good_from_bad(status, body, bad):
    assert (shape_problem(status, body) is not None) is bad


@pytest.mark.parametrize(("status", "body", "bad"), [
    (400, b'[{"code": 400, "description": "lat is required (location_required)"}]', False),
    (200, b'[]', False),
    (404, b'{"error": {"type": "not_found_error", "code": "not_found", "message": "x", "param": null}}', True),
    (403, b'[{"code": 400, "description": "api_key"}]', True),  # the code must be the status
    (400, b'[{"code": 400}]', True),
])
def test_the_open311_shape_check_tells_good_from_bad(status, body, bad):
    assert (open311_shape_problem(status, body) is not None) is bad

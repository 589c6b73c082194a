"""The soak's clients: merchants asking for payments, residents paying them, refunds, e-applications.

Every call is retried until the service gives a definite answer: after a refused connection (the
service is restarting), a 503 (honouring ``Retry-After``), a timeout or a cut connection. A
payment counts as *accepted* only on a 2xx answer; the service answers a resent signed
authorization with the transfer it accepted the first time, so a lost answer is recovered by the
retry. A retry that is nonetheless refused as already submitted, after an attempt whose answer was
lost (timeout, cut connection, 5xx), is *unacknowledged*: the service may well have it, the client
never heard (expected 0 for payments; e-application submissions can still end so).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

#: Answers that mean "not now": retried after their Retry-After (which, with the error shape, they must carry).
RETRYABLE = (429, 503)
MAX_WAIT_S = 5.0


@dataclass
class Results:
    """What the clients saw, shared by every client thread."""

    accepted: list[tuple[str, str, str]] = field(default_factory=list)  # (payer, nonce, payment request)
    unacknowledged: list[tuple[str, str]] = field(default_factory=list)  # (payer, nonce)
    refused: list[str] = field(default_factory=list)
    refunds: list[str] = field(default_factory=list)
    submissions: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, key: str, n: int = 1) -> None:
        with self.lock:
            self.counts[key] += n

    def add(self, bucket: list[Any], item: Any) -> None:
        with self.lock:
            bucket.append(item)


class GaveUp(RuntimeError):
    """No definite answer before the run's deadline."""


class Api:
    """httpx with the soak's retry rules; one per client thread."""

    def __init__(self, base: str, results: Results, deadline: float, abort: threading.Event) -> None:
        self.http = httpx.Client(base_url=base, timeout=30)
        self.results = results
        self.deadline = deadline
        self.abort = abort

    def close(self) -> None:
        self.http.close()

    def send(self, method: str, path: str, headers: dict[str, str], body: Any = None) -> tuple[httpx.Response, bool]:
        """The first definite answer, and whether an earlier attempt's fate is unknown (ambiguous).

        Raises:
            GaveUp: the deadline passed, or the run was aborted (a fault could not be carried out).
        """
        ambiguous = False
        while time.monotonic() < self.deadline and not self.abort.is_set():
            try:
                response = self.http.request(method, path, headers=headers, json=body)
            except httpx.ConnectError:
                self.results.count("connection_refused")  # restarting: the request never arrived
                time.sleep(0.3)
                continue
            except httpx.TransportError:
                self.results.count("connection_lost")  # killed mid-request: it may have been done
                ambiguous = True
                time.sleep(0.3)
                continue
            if response.status_code in RETRYABLE:
                self._count_retryable(response)
                time.sleep(min(float(response.headers.get("Retry-After", "1")), MAX_WAIT_S))
                continue
            if response.status_code == 409 and _code(response) == "idempotency_key_in_use":
                time.sleep(0.3)  # the key's first use is still in flight: its answer will be replayed
                continue
            if response.status_code >= 500:
                self.results.count(f"http_{response.status_code}")
                ambiguous = True
                time.sleep(0.3)
                continue
            return response, ambiguous
        raise GaveUp(f"{method} {path}: no answer before the deadline (or the run was aborted)")

    def _count_retryable(self, response: httpx.Response) -> None:
        self.results.count(f"http_{response.status_code}")
        code = _code(response)
        if code is None or "Retry-After" not in response.headers:
            self.results.count("malformed_errors")
        else:
            self.results.count(f"http_{response.status_code}_{code}")


def _code(response: httpx.Response) -> str | None:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return None


@dataclass
class PlannedPayment:
    """One payment a resident will make: the merchant, the amount and the signed authorization."""

    merchant: int
    amount: int
    authorization: dict[str, Any]

    @property
    def key(self) -> tuple[str, str]:
        return str(self.authorization["from"]), str(self.authorization["nonce"])


@dataclass
class ClientPlan:
    """Everything one resident client does, prepared (and signed) before the clock starts."""

    index: int
    resident: dict[str, str]  # Authorization header
    payments: list[PlannedPayment]
    submissions: Callable[[int], dict[str, Any]]  # k → a signed e-application body


@dataclass
class Mix:
    """How often the extra operations ride along with payments."""

    refund_every: int = 10
    submit_every: int = 10


def run_client(api: Api, plan: ClientPlan, merchants: list[dict[str, str]], mix: Mix,
               progress: Callable[[], None]) -> None:
    """Pay every planned payment (each for a fresh payment request), with refunds and e-applications mixed in."""
    paid: list[tuple[int, str, int]] = []  # (merchant, payment request, amount), refund candidates
    for k, payment in enumerate(plan.payments):
        merchant = merchants[payment.merchant]
        request_id = _create_request(api, merchant, payment.amount, f"soak-{plan.index}-{k}")
        if _pay(api, plan, payment, request_id):
            paid.append((payment.merchant, request_id, payment.amount))
        if k % mix.refund_every == mix.refund_every - 1 and paid:
            _refund_one(api, merchants, paid)
        if k % mix.submit_every == mix.submit_every // 2:  # half-way between refunds
            _submit(api, plan, k)
        progress()


def _create_request(api: Api, merchant: dict[str, str], amount: int, key: str) -> str:
    headers = {"Authorization": merchant["auth"], "Idempotency-Key": key}
    response, _ = api.send("POST", "/v1/payment_requests", headers, {"amount": amount, "description": "soak"})
    if response.status_code not in (200, 201):
        raise RuntimeError(f"payment request refused: {response.status_code} {response.text[:300]}")
    api.results.count("payment_requests_created")
    return str(response.json()["id"])


def _pay(api: Api, plan: ClientPlan, payment: PlannedPayment, request_id: str) -> bool:
    response, ambiguous = api.send("POST", f"/v1/pay/requests/{request_id}", plan.resident,
                                   {"authorization": payment.authorization})
    payer, nonce = payment.key
    if response.is_success:
        api.results.add(api.results.accepted, (payer, nonce, request_id))
        return True
    if response.status_code == 409 and ambiguous:
        api.results.add(api.results.unacknowledged, (payer, nonce))
        return False
    api.results.add(api.results.refused, f"{response.status_code} {response.text[:300]}")
    return False


def _refund_one(api: Api, merchants: list[dict[str, str]], paid: list[tuple[int, str, int]]) -> None:
    """Refund a tenth of the oldest payment that is confirmed (paid); unconfirmed ones wait their turn."""
    merchant_index, request_id, amount = paid[0]
    headers = {"Authorization": merchants[merchant_index]["auth"]}
    response, _ = api.send("GET", f"/v1/payment_requests/{request_id}", headers)
    if response.status_code != 200 or response.json()["status"] != "paid":
        return
    paid.pop(0)
    response, _ = api.send("POST", "/v1/refunds", {**headers, "Idempotency-Key": f"soak-refund-{request_id}"},
                           {"payment_request": request_id, "amount": max(1, amount // 10), "reason": "soak"})
    if response.is_success:
        api.results.add(api.results.refunds, str(response.json()["id"]))
    else:
        api.results.add(api.results.refused, f"refund {response.status_code} {response.text[:300]}")


def _submit(api: Api, plan: ClientPlan, k: int) -> None:
    response, ambiguous = api.send("POST", "/v1/applications", plan.resident, plan.submissions(k))
    if response.is_success:
        api.results.add(api.results.submissions, str(response.json()["id"]))
    elif response.status_code == 409 and ambiguous:
        api.results.count("submissions_unacknowledged")
    else:
        api.results.add(api.results.refused, f"application {response.status_code} {response.text[:300]}")

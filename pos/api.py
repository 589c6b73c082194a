"""The public merchant API, as ``machi-pos`` calls it (``Authorization: Bearer mk_…``).

Every failure — the service refusing, the service unreachable, a reply that is not JSON — becomes one
``PosError`` whose message is what the cashier should read. The key is sent only in the header and never
appears in an error or a log line.
"""

from __future__ import annotations

from typing import Any

import httpx

from pos.i18n import english
from protocol.client import DEFAULT_API_URL, ClientError, ServiceClient

__all__ = ["DEFAULT_API_URL", "MerchantApi", "PosError"]

class PosError(ClientError):
    """A ``machi-pos`` command failed (the program's own error keys are worded by ``pos.i18n``)."""

    wording = staticmethod(english)


class MerchantApi(ServiceClient):
    """The merchant API with one key.

    Args:
        base_url: e.g. ``http://127.0.0.1:8000``.
        api_key: the merchant's secret key (``mk_…``).
        timeout: seconds per request.
        transport: an ``httpx`` transport (tests).
    """

    ERROR = PosError

    def __init__(self, base_url: str, api_key: str, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(base_url, timeout, transport, headers={"Authorization": f"Bearer {api_key}"})

    def call(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None) -> httpx.Response:
        """One call; the successful response.

        Raises:
            PosError: the service refused, could not be reached, or answered nonsense.
        """
        return self.send(method, path, json=json, params=params, headers=headers)

    def json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """One call whose reply is a JSON object."""
        return self.json_object(self.call(method, path, **kwargs))

    # ------------------------------------------------------------------ what the counter does
    def merchant(self) -> dict[str, Any]:
        """The merchant this key belongs to (also checks the key)."""
        return self.json("GET", "/v1/merchant")

    def create_request(self, amount: int, description: str | None, idempotency_key: str) -> dict[str, Any]:
        """A payment request of ``amount`` coins (sent once even if the reply is lost and the call repeated)."""
        return self.json("POST", "/v1/payment_requests", json={"amount": amount, "description": description},
                         headers={"Idempotency-Key": idempotency_key})

    def payment_request(self, request_id: str) -> dict[str, Any]:
        return self.json("GET", f"/v1/payment_requests/{request_id}")

    def cancel_request(self, request_id: str) -> dict[str, Any]:
        return self.json("POST", f"/v1/payment_requests/{request_id}/cancel")

    def create_refund(self, request_id: str, amount: int | None, reason: str | None,
                      idempotency_key: str) -> dict[str, Any]:
        return self.json("POST", "/v1/refunds", json={"payment_request": request_id, "amount": amount,
                                                      "reason": reason},
                         headers={"Idempotency-Key": idempotency_key})

    def refund(self, refund_id: str) -> dict[str, Any]:
        return self.json("GET", f"/v1/refunds/{refund_id}")

    def statement_csv(self, start: str, end: str) -> str:
        """The statement CSV for ``start`` ≤ settled < ``end`` (ISO 8601 times; no zone = JST)."""
        response = self.call("GET", "/v1/statements", params={"from": start, "to": end})
        return response.content.decode("utf-8-sig")

"""The public merchant API, as ``machi-pos`` calls it (``Authorization: Bearer mk_…``).

Every failure — the service refusing, the service unreachable, a reply that is not JSON — becomes one
``PosError`` whose message is what the cashier should read. The key is sent only in the header and never
appears in an error or a log line.
"""

from __future__ import annotations

from typing import Any

import httpx

from pos.i18n import english

__all__ = ["DEFAULT_API_URL", "MerchantApi", "PosError"]

DEFAULT_API_URL = "http://127.0.0.1:8000"


class PosError(Exception):
    """A ``machi-pos`` command failed.

    Either the program's own (``key`` and ``values`` name the message in ``pos.i18n``) or the service's
    (``message`` as the service sent it, its ``code``, ``param`` and HTTP ``status``).
    """

    def __init__(self, message: str, code: str | None = None, status: int | None = None, *,
                 param: str | None = None, key: str | None = None, values: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.param = param
        self.key = key
        self.values = values or {}

    @classmethod
    def of(cls, key: str, **values: Any) -> PosError:
        """The program's own error ``key`` (``pos.i18n.MESSAGES``)."""
        return cls(english(key, values), key=key, values=values)


class MerchantApi:
    """The merchant API with one key.

    Args:
        base_url: e.g. ``http://127.0.0.1:8000``.
        api_key: the merchant's secret key (``mk_…``).
        timeout: seconds per request.
        transport: an ``httpx`` transport (tests).
    """

    def __init__(self, base_url: str, api_key: str, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport,
                                  headers={"Authorization": f"Bearer {api_key}"})

    def close(self) -> None:
        self._http.close()

    def call(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None) -> httpx.Response:
        """One call; the successful response.

        Raises:
            PosError: the service refused, could not be reached, or answered nonsense.
        """
        try:
            response = self._http.request(method, path, json=json, params=params, headers=headers)
        except httpx.TimeoutException:
            raise PosError.of("service_timeout", url=self.base_url) from None
        except httpx.HTTPError:
            raise PosError.of("service_unreachable", url=self.base_url) from None
        if response.is_error:
            try:
                body = response.json()
            except ValueError:
                raise PosError.of("service_nonsense", url=self.base_url, status=response.status_code) from None
            error = body.get("error", {}) if isinstance(body, dict) else {}
            message = error.get("message") or f"HTTP {response.status_code}"
            raise PosError(str(message), code=error.get("code"), status=response.status_code,
                           param=error.get("param"))
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """One call whose reply is a JSON object."""
        response = self.call(method, path, **kwargs)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise PosError.of("service_nonsense", url=self.base_url, status=response.status_code)
        return body

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

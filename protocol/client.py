"""What the city's programs (``machi-wallet``, ``machi-pos``) share as clients of the service's REST API.

Every failure — the service refusing, the service unreachable, a reply that is not JSON — becomes one
``ClientError`` of the program's own kind, whose message is what its user should read. Each program words
its own errors (``ClientError.wording``: key → English text, for when nobody translates the error).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

import httpx

__all__ = ["DEFAULT_API_URL", "ClientError", "ServiceClient"]

DEFAULT_API_URL = "http://127.0.0.1:8000"

E = TypeVar("E", bound="ClientError")


class ClientError(Exception):
    """A command of a client program failed.

    Either the program's own (``key`` and ``values`` name the message in the program's texts; ``message``
    is its English wording) or the service's (``message`` as the service sent it, its ``code``,
    ``param`` and HTTP ``status``).
    """

    @staticmethod
    def wording(key: str, values: Mapping[str, Any] | None) -> str:
        """The program's English wording of its own error ``key`` (each program's subclass sets its own)."""
        return key

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
    def of(cls: type[E], key: str, **values: Any) -> E:
        """The program's own error ``key``."""
        return cls(cls.wording(key, values), key=key, values=values)


class ServiceClient:
    """One ``httpx`` client of the service, its failures raised as ``ERROR``.

    Args:
        base_url: e.g. ``http://127.0.0.1:8000``.
        timeout: seconds per request.
        transport: an ``httpx`` transport (tests).
        headers: sent with every request (e.g. a merchant's key).
    """

    ERROR: ClassVar[type[ClientError]] = ClientError

    def __init__(self, base_url: str = DEFAULT_API_URL, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None, headers: Mapping[str, str] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport,
                                  headers=dict(headers or {}))

    def close(self) -> None:
        self._http.close()

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One call (``kwargs`` as ``httpx.Client.request``); the successful response.

        Raises:
            ClientError: (``ERROR``) the service refused, could not be reached, or answered nonsense.
        """
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise self.ERROR.of("service_timeout", url=self.base_url) from None
        except httpx.HTTPError:
            raise self.ERROR.of("service_unreachable", url=self.base_url) from None
        if response.is_error:
            try:
                body = response.json()
            except ValueError:
                raise self.ERROR.of("service_nonsense", url=self.base_url, status=response.status_code) from None
            error = body.get("error", {}) if isinstance(body, dict) else {}
            message = error.get("message") or f"HTTP {response.status_code}"
            raise self.ERROR(str(message), code=error.get("code"), status=response.status_code,
                             param=error.get("param"))
        return response

    def json_object(self, response: httpx.Response) -> dict[str, Any]:
        """The JSON object a successful ``response`` holds.

        Raises:
            ClientError: (``ERROR``) the reply is not a JSON object.
        """
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise self.ERROR.of("service_nonsense", url=self.base_url, status=response.status_code)
        return body

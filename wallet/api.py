"""HTTP client of the Machi Ledger service for the wallet CLI.

Every failure — the service refusing a request, the service unreachable, a reply that is not
JSON — becomes one ``WalletError`` whose message is what the user should read.
"""

from __future__ import annotations

from typing import Any

import httpx
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount

from wallet.i18n import english

__all__ = ["DEFAULT_API_URL", "MachiApi", "WalletError"]

DEFAULT_API_URL = "http://127.0.0.1:8000"


class WalletError(Exception):
    """A wallet command failed.

    Either the wallet's own (``key`` and ``values`` name the message in ``wallet.i18n``; ``message`` is
    its English wording) or the service's (``message`` as the service sent it, its ``code``, ``param``
    and HTTP ``status``).
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
    def of(cls, key: str, **values: Any) -> WalletError:
        """The wallet's own error ``key`` (``wallet.i18n.MESSAGES``)."""
        return cls(english(key, values), key=key, values=values)


class MachiApi:
    """The service's REST API.

    Args:
        base_url: e.g. ``http://127.0.0.1:8000``.
        timeout: seconds per request (``?wait=true`` requests get their own, longer timeout).
        transport: an ``httpx`` transport (tests).
    """

    def __init__(self, base_url: str = DEFAULT_API_URL, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)
        self._token: str | None = None

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
                auth: bool = False, timeout: float | None = None) -> dict[str, Any]:
        """One call; the JSON reply.

        Raises:
            WalletError: the service refused, could not be reached, or answered nonsense.
        """
        headers = {"Authorization": f"Bearer {self._token}"} if auth and self._token else {}
        try:
            response = self._http.request(method, path, json=json, params=params, headers=headers,
                                          timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT)
        except httpx.TimeoutException:
            raise WalletError.of("service_timeout", url=self.base_url) from None
        except httpx.HTTPError:
            raise WalletError.of("service_unreachable", url=self.base_url) from None
        try:
            body = response.json()
        except ValueError:
            raise WalletError.of("service_nonsense", url=self.base_url, status=response.status_code) from None
        if response.is_error:
            error = body.get("error", {}) if isinstance(body, dict) else {}
            message = error.get("message") or f"HTTP {response.status_code}"
            raise WalletError(str(message), code=error.get("code"), status=response.status_code,
                              param=error.get("param"))
        if not isinstance(body, dict):
            raise WalletError.of("service_nonsense", url=self.base_url, status=response.status_code)
        return body

    # ------------------------------------------------------------------ auth
    @property
    def token(self) -> str | None:
        """The access token of the logged-in wallet (``None`` before ``login``)."""
        return self._token

    def login(self, account: LocalAccount) -> None:
        """Log the wallet in (EIP-712 signed challenge); later ``auth=True`` calls use the token."""
        challenge = self.request("POST", "/v1/auth/wallet/challenge", json={"wallet": account.address})
        typed = challenge["typed_data"]
        signed = account.sign_message(encode_typed_data(full_message=typed))
        token = self.request("POST", "/v1/auth/wallet/token", json={
            "wallet": account.address,
            "nonce": challenge["nonce"],
            "deadline": typed["message"]["deadline"],
            "signature": "0x" + bytes(signed.signature).hex(),
        })
        self._token = str(token["access_token"])

    # ------------------------------------------------------------------ identity
    def identity_challenge(self, wallet: str, purpose: str) -> dict[str, Any]:
        """A nonce and the statement to sign for ``purpose`` (link, recover, renew)."""
        return self.request("POST", "/v1/identity/challenge", json={"wallet": wallet, "purpose": purpose})

    def identity_submit(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST a signed link, recover or renew request (answers at once; poll with ``identity``)."""
        return self.request("POST", f"/v1/identity/{action}", json=body)

    def identity(self, identity_id: str, wait: bool = False) -> dict[str, Any]:
        """An identity and its last operation; ``wait`` holds until the chain has it (≤ 60 s).

        Only the identity's own wallet may read it: call ``login`` first.
        """
        return self.request("GET", f"/v1/identity/links/{identity_id}", params={"wait": str(wait).lower()},
                            auth=True, timeout=75.0 if wait else None)

    def my_identity(self) -> dict[str, Any]:
        """The logged-in wallet's identity and chain status (call ``login`` first)."""
        return self.request("GET", "/v1/identity/me", auth=True)

    def pending_recovery(self) -> dict[str, Any] | None:
        """The pending recovery of the logged-in wallet (as the lost or the new wallet), or ``None``."""
        try:
            return self.request("GET", "/v1/identity/recovery", auth=True)
        except WalletError as exc:
            if exc.code == "no_pending_recovery":
                return None
            raise

    def cancel_recovery(self, signature: str) -> dict[str, Any]:
        """Cancel the logged-in (lost) wallet's pending recovery with its ``CancelRecovery`` signature."""
        return self.request("POST", "/v1/identity/recovery/cancel", json={"signature": signature}, auth=True)

"""HTTP client of the Machi Ledger service for the wallet CLI.

Every failure — the service refusing a request, the service unreachable, a reply that is not
JSON — becomes one ``WalletError`` whose message is what the user should read.
"""

from __future__ import annotations

from typing import Any

import httpx
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount

from protocol.client import DEFAULT_API_URL, ClientError, ServiceClient
from wallet.i18n import english

__all__ = ["DEFAULT_API_URL", "MachiApi", "WalletError"]

class WalletError(ClientError):
    """A wallet command failed (the wallet's own error keys are worded by ``wallet.i18n``)."""

    wording = staticmethod(english)


class MachiApi(ServiceClient):
    """The service's REST API.

    Args:
        base_url: e.g. ``http://127.0.0.1:8000``.
        timeout: seconds per request (``?wait=true`` requests get their own, longer timeout).
        transport: an ``httpx`` transport (tests).
    """

    ERROR = WalletError

    def __init__(self, base_url: str = DEFAULT_API_URL, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(base_url, timeout, transport)
        self._token: str | None = None

    def request(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
                auth: bool = False, timeout: float | None = None) -> dict[str, Any]:
        """One call; the JSON reply.

        Raises:
            WalletError: the service refused, could not be reached, or answered nonsense.
        """
        headers = {"Authorization": f"Bearer {self._token}"} if auth and self._token else {}
        return self.json_object(self.send(method, path, json=json, params=params, headers=headers,
                                          timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT))

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

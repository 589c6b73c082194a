"""Connecting to a JSON-RPC endpoint (or several, with failover), and recognising when it is
unreachable."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import aiohttp
import requests
from web3 import HTTPProvider, Web3
from web3.exceptions import TimeExhausted
from web3.providers.rpc.utils import ExceptionRetryConfiguration

from chain.errors import NodeError
from chain.scrub import redacted

log = logging.getLogger("machi.rpc")
_T = TypeVar("_T")

#: Default seconds a single JSON-RPC call may take before it counts as "node unreachable".
DEFAULT_TIMEOUT = 5.0

#: Transport failures that mean "the node did not answer" (as opposed to "the node said no").
UNREACHABLE_ERRORS: tuple[type[Exception], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    aiohttp.ClientConnectionError,
    TimeoutError,  # also asyncio's
    ConnectionError,
    TimeExhausted,
    NodeError,
)


def is_unreachable(exc: BaseException) -> bool:
    """True if ``exc`` (or anything it was raised from) is a transport failure talking to the node.

    Walks ``__cause__``/``__context__`` so wrapped errors (a web3 error raised while handling a
    ``requests`` one, a domain error ``from`` it) are recognised too.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, UNREACHABLE_ERRORS):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


class FailoverHTTPProvider(HTTPProvider):
    """An HTTP provider over several endpoints of one chain (e.g. the city's and a bank's node).

    Requests go to the current endpoint; when it does not answer (refused, reset, timed out) the
    same request goes to the next one, and that one stays current. Only transport failures fail
    over — a node that answers with an error is an answer. Re-sending a signed transaction to
    another node is safe: the same raw bytes have the same hash, so it can be mined only once.
    """

    def __init__(self, urls: Sequence[str], **kwargs: Any) -> None:
        if not urls:
            raise NodeError("no JSON-RPC endpoint configured")
        super().__init__(urls[0], **kwargs)
        self.urls = list(urls)
        self._current = 0

    def _failover(self, request: Callable[[], _T]) -> _T:
        for attempt in range(len(self.urls)):
            try:
                return request()
            except UNREACHABLE_ERRORS as exc:
                if attempt == len(self.urls) - 1:
                    raise
                failed = self.urls[self._current]
                self._current = (self._current + 1) % len(self.urls)
                self.endpoint_uri = self.urls[self._current]  # type: ignore[assignment]
                log.warning("JSON-RPC endpoint %s did not answer (%s); failing over to %s",
                            redacted(failed), type(exc).__name__, redacted(self.urls[self._current]))
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _make_request(self, method: Any, request_data: bytes) -> bytes:
        return self._failover(lambda: super(FailoverHTTPProvider, self)._make_request(method, request_data))

    def make_batch_request(self, batch_requests: list[tuple[Any, Any]]) -> Any:
        return self._failover(lambda: super(FailoverHTTPProvider, self).make_batch_request(batch_requests))


def connect(url: str | Sequence[str], timeout: float = DEFAULT_TIMEOUT, retries: int = 2) -> Web3:
    """A web3 client for ``url`` (or a list of endpoints of one chain, with failover) with a pooled
    HTTP session.

    Args:
        url: the JSON-RPC endpoint, or several (tried in order when one does not answer).
        timeout: seconds one call may take (connect and read) before it fails — short, so an
            unreachable node turns into a quick "503, retry later" instead of a hung request.
        retries: attempts of an idempotent read on a connection error (1 = no retry); a second
            attempt covers a pooled connection the node closed. Timeouts are never retried, so an
            outage costs at most ``timeout`` per call.

    Raises:
        NodeError: the endpoint does not answer.
    """
    urls = [url] if isinstance(url, str) else list(url)
    provider = FailoverHTTPProvider(
        urls,
        request_kwargs={"timeout": timeout},
        exception_retry_configuration=ExceptionRetryConfiguration(
            errors=(requests.ConnectionError,), retries=max(1, retries), backoff_factor=0.05
        ),
    )
    w3 = Web3(provider)
    # The validation middleware asks the node for its chain id before *every* request (half of
    # all round trips in the relayer); we sign with an explicit chain id, and ENS does not exist
    # on the city's chain.
    for name in ("validation", "ens_name_to_address"):
        try:
            w3.middleware_onion.remove(name)
        except ValueError:
            pass
    try:
        w3.eth.chain_id  # noqa: B018 - one round trip proves the endpoint answers
    except Exception as exc:  # noqa: BLE001 - any transport failure means "not reachable"
        shown = ", ".join(redacted(u) for u in urls)
        raise NodeError(f"no JSON-RPC node answers at {shown}: {type(exc).__name__}") from exc
    return w3

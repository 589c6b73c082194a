"""Connecting to a JSON-RPC endpoint, and recognising when it is unreachable."""

from __future__ import annotations

import aiohttp
import requests
from web3 import HTTPProvider, Web3
from web3.exceptions import TimeExhausted
from web3.providers.rpc.utils import ExceptionRetryConfiguration

from chain.errors import NodeError

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


def connect(url: str, timeout: float = DEFAULT_TIMEOUT, retries: int = 2) -> Web3:
    """A web3 client for ``url`` with a pooled HTTP session.

    Args:
        url: the JSON-RPC endpoint.
        timeout: seconds one call may take (connect and read) before it fails — short, so an
            unreachable node turns into a quick "503, retry later" instead of a hung request.
        retries: attempts of an idempotent read on a connection error (1 = no retry); a second
            attempt covers a pooled connection the node closed. Timeouts are never retried, so an
            outage costs at most ``timeout`` per call.

    Raises:
        NodeError: the endpoint does not answer.
    """
    provider = HTTPProvider(
        url,
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
        raise NodeError(f"no JSON-RPC node answers at {url}: {exc}") from exc
    return w3

"""Connecting to a JSON-RPC endpoint."""

from __future__ import annotations

from web3 import HTTPProvider, Web3

from chain.errors import NodeError


def connect(url: str, timeout: float = 10.0) -> Web3:
    """A web3 client for ``url`` with a pooled HTTP session.

    Raises:
        NodeError: the endpoint does not answer.
    """
    w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": timeout}))
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

"""The shapes of embedded node the story and the soak run on (``make test`` runs each), as the
``MACHI_*`` variables of the network profile (procedures/config.py; docs/deploy.md).

- ``anvil``: the default profile — anvil, a block per transaction, EIP-1559, cancun.
- ``qbft``: a city's Besu QBFT network in miniature on anvil — its own chain id, a block every 2 s,
  no gas price and no base fee (legacy transactions at 0 wei), contracts compiled for shanghai,
  every block final (confirmation depth 0).
- ``hardhat``: the second node implementation — Hardhat's node, interval mining (a block a second,
  no automine), EIP-1559.
"""

from __future__ import annotations

SHAPES: dict[str, dict[str, str]] = {
    "anvil": {},
    "qbft": {"MACHI_CHAIN_ID": "7441", "MACHI_BLOCK_TIME": "2", "MACHI_FEE_MODEL": "legacy",
             "MACHI_GAS_PRICE_WEI": "0", "MACHI_EVM_VERSION": "shanghai", "MACHI_CONFIRMATIONS": "0"},
    "hardhat": {"MACHI_NODE_IMPLEMENTATION": "hardhat", "MACHI_BLOCK_TIME": "1"},
}


def shape_settings(name: str) -> dict[str, str]:
    """The shape's variables as ``Settings`` keyword arguments (``MACHI_CHAIN_ID`` → ``chain_id``).

    Raises:
        KeyError: an unknown shape.
    """
    return {key.removeprefix("MACHI_").lower(): value for key, value in SHAPES[name].items()}

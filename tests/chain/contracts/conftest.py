"""Fixtures of the contract tests: typed clients of the session's city deployment and a sender."""

from __future__ import annotations

from typing import Any

import pytest
from web3 import Web3

from chain.compiler import CompileResult
from chain.contracts import CityContracts, load_city
from chain.node import LocalNode
from tests.chain.contracts.helpers import Chain


@pytest.fixture(scope="session")
def contracts(w3: Web3, city: Any, compiled: CompileResult) -> CityContracts:
    """Typed clients of the session's city deployment."""
    return load_city(w3, city.manifest, compiled)


@pytest.fixture
def evm(w3: Web3, anvil: LocalNode, contracts: CityContracts, keys: Any, city: Any) -> Chain:
    """The test's view of the chain (its state is reverted after each test by the root conftest), with
    one ``operator`` account holding every service role (tests of a function's logic, not of the keys)."""
    chain = Chain(w3, anvil, contracts, keys)
    chain.grant_operator()
    return chain


@pytest.fixture
def deployed(w3: Web3, anvil: LocalNode, contracts: CityContracts, keys: Any, city: Any) -> Chain:
    """The chain as ``machi deploy`` leaves it: each role on its own key, nothing granted besides."""
    return Chain(w3, anvil, contracts, keys)

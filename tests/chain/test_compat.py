"""The contracts compile for forks before cancun (chain/compat.py): OpenZeppelin's ``mcopy`` replaced by
an equivalent Yul copy, checked against Python on a node that runs shanghai (where ``mcopy`` does not
exist, so any left-over would revert)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from eth_account import Account
from eth_utils.crypto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3 import Web3
from web3.contract import Contract

from chain.compat import library_overrides, replace_mcopy
from chain.compiler import collect_sources, compile_contracts
from chain.errors import CompilerError
from chain.network import node_evm_version
from chain.node import LocalNode, NodeConfig, free_port
from chain.rpc import connect
from chain.toolchain import PROJECT_ROOT
from procedures.config import DEV_DEPLOYER_KEY
from tests.conftest import deploy_fixture

SRC = PROJECT_ROOT / "contracts" / "src"
PROBE = PROJECT_ROOT / "tests" / "fixtures" / "compat"
EXAMPLES = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
blobs = st.binary(max_size=80)


@pytest.fixture(scope="module")
def shanghai() -> Iterator[Web3]:
    """A node that runs shanghai: it knows PUSH0 but not mcopy."""
    node = LocalNode(NodeConfig(port=free_port(), state_dir=None, hardfork="shanghai"))
    node.start()
    yield connect(node.url)
    node.stop()


@pytest.fixture(scope="module")
def probes(shanghai: Web3) -> tuple[Contract, Contract]:
    """CompatProbe and an ERC-1271 KeccakSigner, compiled for shanghai and deployed on the shanghai node."""
    deployer = Account.from_key(DEV_DEPLOYER_KEY)  # a dev-mnemonic account, funded on every embedded node
    compiled = compile_contracts([PROBE], evm_version="shanghai")
    return (deploy_fixture(shanghai, deployer, compiled["CompatProbe"]),
            deploy_fixture(shanghai, deployer, compiled["KeccakSigner"]))


def test_the_contracts_compile_for_shanghai_and_london_with_the_same_abis():
    cancun = compile_contracts([SRC])
    for fork in ("shanghai", "london"):
        older = compile_contracts([SRC], evm_version=fork)
        assert {n: a.abi_hash for n, a in older.artifacts.items()} == {
            n: a.abi_hash for n, a in cancun.artifacts.items()}
        assert older.cache_key != cancun.cache_key


def test_exactly_the_openzeppelin_files_with_mcopy_are_replaced_and_none_is_left():
    overrides = library_overrides(collect_sources([SRC]))
    assert sorted(overrides) == ["@openzeppelin/contracts/utils/Bytes.sol",
                                 "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol"]
    assert all(not re.search(r"\bmcopy\(", text) and "machi_mcopy(" in text for text in overrides.values())
    assert replace_mcopy("mcopy(add(a, f(b, c)), s, n) x").endswith("machi_mcopy(add(a, f(b, c)), s, n) } x")


def test_a_file_with_transient_storage_is_refused_for_an_older_fork(tmp_path):
    (tmp_path / "Guarded.sol").write_text(
        'pragma solidity ^0.8.24;\nimport {ReentrancyGuardTransient} from '
        '"@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";\ncontract Guarded {}\n')
    with pytest.raises(CompilerError, match="transient storage"):
        compile_contracts([tmp_path], cache_dir=tmp_path / "build", evm_version="shanghai")


def test_the_probe_node_really_lacks_mcopy(shanghai):
    assert node_evm_version(shanghai) == "shanghai"


@EXAMPLES
@given(buffer=blobs, start=st.integers(0, 100), end=st.integers(0, 100))
def test_slice_and_splice_match_python(probes, buffer, start, end):
    probe, _ = probes
    end_ = min(end, len(buffer))
    expected = buffer[min(start, end_):end_]
    assert probe.functions.slice(buffer, start, end).call() == expected
    assert probe.functions.splice(buffer, start, end).call() == expected


@EXAMPLES
@given(buffer=blobs, replacement=blobs, pos=st.integers(0, 90), offset=st.integers(0, 90), length=st.integers(0, 90))
def test_replace_matches_python_and_writes_nothing_beyond(probes, buffer, replacement, pos, offset, length):
    probe, _ = probes
    pos_, offset_ = min(pos, len(buffer)), min(offset, len(replacement))
    length_ = min(length, len(replacement) - offset_, len(buffer) - pos_)
    expected = buffer[:pos_] + replacement[offset_:offset_ + length_] + buffer[pos_ + length_:]
    assert probe.functions.replace(buffer, pos, replacement, offset, length).call() == expected


@EXAMPLES
@given(parts=st.lists(blobs, max_size=5))
def test_concat_matches_python(probes, parts):
    probe, _ = probes
    assert probe.functions.concat(parts).call() == b"".join(parts)


@EXAMPLES
@given(data=st.data(), buffer=st.binary(min_size=1, max_size=100))
def test_an_overlapping_move_either_way_matches_memmove(probes, data, buffer):
    probe, _ = probes
    n = data.draw(st.integers(0, len(buffer)))
    dst, src = data.draw(st.integers(0, len(buffer) - n)), data.draw(st.integers(0, len(buffer) - n))
    expected = bytearray(buffer)
    expected[dst:dst + n] = buffer[src:src + n]
    assert probe.functions.move(buffer, dst, src, n).call() == bytes(expected)


@EXAMPLES
@given(signature=st.binary(max_size=200))
def test_an_erc1271_signature_reaches_the_wallet_intact(probes, signature):
    probe, signer = probes
    assert probe.functions.checkContractSignature(signer.address, keccak(signature), signature).call()
    assert not probe.functions.checkContractSignature(signer.address, keccak(signature + b"\0"), signature).call()

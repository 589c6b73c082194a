"""The typed clients themselves: loading, calldata, value types, enums mirroring Solidity, helpers."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from eth_account import Account

from chain.contracts import (
    AssuranceLevel,
    Authorization,
    Kind,
    RevocationReason,
    SkipReason,
    decode_authorization_item,
    encode_authorization_item,
    load_city,
    make_nonce,
    random_nonce,
    random_nonce_key,
    send_call,
    sign_transfer_authorization,
    split_nonce,
)
from chain.contracts.base import to_bytes32
from chain.contracts.registry import unix_time
from chain.deploy import Manifest
from chain.errors import ContractLogicError, DeploymentError
from chain.toolchain import PROJECT_ROOT
from tests.chain.contracts.helpers import Chain, random32, unchecked_call

SOURCES = PROJECT_ROOT / "contracts" / "src"


def _solidity_enum(path: Path, name: str) -> list[str]:
    body = re.search(rf"enum {name} \{{([^}}]*)\}}", path.read_text())
    assert body is not None, f"enum {name} not found in {path}"
    return [member.strip() for member in body.group(1).split(",") if member.strip()]


@pytest.mark.parametrize(
    ("enum", "path", "name"),
    [
        (Kind, SOURCES / "interfaces" / "IIdentityRegistry.sol", "Kind"),
        (AssuranceLevel, SOURCES / "interfaces" / "IIdentityRegistry.sol", "AssuranceLevel"),
        (RevocationReason, SOURCES / "interfaces" / "IIdentityRegistry.sol", "RevocationReason"),
        (SkipReason, SOURCES / "RegionalCoin.sol", "SkipReason"),
    ],
)
def test_python_enums_mirror_the_solidity_enums(enum: type, path: Path, name: str) -> None:
    solidity = _solidity_enum(path, name)
    python = ["".join(p.capitalize() for p in member.name.split("_")) for member in enum]  # type: ignore[attr-defined]
    assert python == solidity
    assert [int(m) for m in enum] == list(range(len(solidity)))  # type: ignore[attr-defined]
    if enum is SkipReason:
        assert [m.label for m in SkipReason] == solidity


def test_load_city_binds_the_manifest_addresses(evm: Chain, city: object, compiled: object, w3: object) -> None:
    manifest: Manifest = city.manifest  # type: ignore[attr-defined]
    loaded = load_city(w3, manifest, compiled)  # type: ignore[arg-type]
    assert loaded.registry.address == manifest.address("IdentityRegistry")
    assert loaded.coin.address == manifest.address("RegionalCoin")
    assert loaded.ledger.address == manifest.address("ProcedureLedger")
    assert loaded.coin.registry_address() == loaded.registry.address
    assert (loaded.coin.name(), loaded.coin.symbol(), loaded.coin.decimals()) == ("Kaga Coin", "KAGA", 0)
    domain = loaded.coin.domain()
    assert (domain.name, domain.version, domain.chain_id) == ("Kaga Coin", "1", 31337)
    partial = Manifest(
        chain_id=manifest.chain_id,
        deployer=manifest.deployer,
        contracts={k: v for k, v in manifest.contracts.items() if k != "ProcedureLedger"},
    )
    with pytest.raises(DeploymentError):
        load_city(w3, partial, compiled)  # type: ignore[arg-type]


def test_calls_target_the_contract_and_encode_the_named_function(evm: Chain) -> None:
    wallet, subject, evidence = Account.create().address, random32(), random32()
    call = evm.registry.attest_call(wallet, subject, AssuranceLevel.RESIDENT_OF_CITY, 2**35, evidence)
    assert call.to == evm.registry.address and call.value == 0
    function, args = evm.registry.contract.decode_function_input(call.data)
    assert function.fn_name == "attest"
    assert args == {"wallet": wallet, "subjectKey": subject, "level": 2, "expiresAt": 2**35, "evidence": evidence}
    function, args = evm.coin.contract.decode_function_input(evm.coin.mint_call(wallet, 5).data)
    assert (function.fn_name, args) == ("mint", {"to": wallet, "amount": 5})
    function, args = evm.ledger.contract.decode_function_input(evm.ledger.anchor_call(subject, 9).data)
    assert (function.fn_name, args) == ("anchor", {"root": subject, "leafCount": 9})
    assert call.as_transaction(wallet.lower())["from"] == wallet


def test_client_side_validation() -> None:
    with pytest.raises(ValueError):
        to_bytes32(b"\x01" * 31)
    assert to_bytes32("0x" + "ab" * 32) == b"\xab" * 32
    with pytest.raises(ValueError):
        unix_time(datetime(2030, 1, 1))  # naive: which zone?
    assert unix_time(datetime(2030, 1, 1, tzinfo=UTC)) == 1893456000
    with pytest.raises(ValueError):
        unix_time(2**40)


def test_nonce_helpers() -> None:
    assert make_nonce(1, 2) == (2**64 + 2).to_bytes(32, "big")
    assert split_nonce(make_nonce(2**192 - 1, 2**64 - 1)) == (2**192 - 1, 2**64 - 1)
    assert split_nonce((5 << 64) | 9) == (5, 9)
    for bad in ((2**192, 0), (0, 2**64), (-1, 0)):
        with pytest.raises(ValueError):
            make_nonce(*bad)
    keys = {random_nonce_key() for _ in range(50)}
    assert len(keys) == 50 and all(0 < k < 2**192 for k in keys)
    assert split_nonce(random_nonce())[1] == 0


def test_authorization_items_round_trip(evm: Chain) -> None:
    alice = Account.create()
    auth = sign_transfer_authorization(
        alice, evm.coin.address, 31337, "Kaga Coin", evm.admin, 123, 1, 2**40, make_nonce(77, 3), ref=b"\x09" * 32
    )
    assert auth == evm.coin.sign_authorization(
        alice, evm.admin, 123, nonce=make_nonce(77, 3), valid_after=1, valid_before=2**40, ref=b"\x09" * 32
    )
    item = encode_authorization_item(auth)
    assert len(item) == 320 and decode_authorization_item(item) == auth
    assert (auth.nonce_key, auth.sequence) == (77, 3)
    relabelled = auth.with_ref(b"\x01" * 32)
    assert relabelled.ref == b"\x01" * 32 and relabelled.signature == auth.signature
    with pytest.raises(ValueError):
        decode_authorization_item(item[:-1])
    with pytest.raises(ValueError):
        sign_transfer_authorization(alice, evm.coin.address, 31337, "Kaga Coin", evm.admin, -1, 0, 1, bytes(32))


def test_the_packed_signature_works_with_the_bytes_overload(evm: Chain) -> None:
    alice, merchant = evm.resident(50), evm.merchant()
    auth: Authorization = evm.sign(alice, merchant.address, 20)
    call = unchecked_call(
        evm.coin,
        "transferWithAuthorization",
        auth.from_,
        auth.to,
        auth.value,
        auth.valid_after,
        auth.valid_before,
        auth.nonce,
        auth.signature,
    )
    evm.send(call, evm.operator)
    assert evm.coin.balance_of(merchant.address) == 20
    bad = replace(auth, nonce=make_nonce(1, 0))
    evm.reverts(
        unchecked_call(
            evm.coin,
            "transferWithAuthorization",
            bad.from_,
            bad.to,
            bad.value,
            bad.valid_after,
            bad.valid_before,
            bad.nonce,
            bad.signature,
        ),
        evm.operator,
        "ERC3009InvalidSignature",
    )


def test_send_call_signs_locally_and_decodes_reverts(evm: Chain) -> None:
    merchant = evm.merchant(1_000)
    evm.rpc("anvil_setBalance", merchant.address, hex(10**18))
    receipt = send_call(evm.w3, merchant, evm.coin.redeem_call(400, random32()))
    assert receipt["status"] == 1 and evm.coin.balance_of(merchant.address) == 600
    with pytest.raises(ContractLogicError) as caught:
        send_call(evm.w3, merchant, evm.coin.redeem_call(601, random32()))
    assert caught.value.name == "ERC20InsufficientBalance"
    assert caught.value.args_by_name == {"sender": merchant.address, "balance": 600, "needed": 601}


def test_reads_return_plain_python_types(evm: Chain) -> None:
    alice = evm.resident(10)
    status = evm.registry.status(alice.address)
    assert type(status.kind) is Kind and type(status.level) is AssuranceLevel and type(status.verified) is bool
    record = evm.registry.record_of(alice.address)
    assert type(record.revocation_reason) is RevocationReason and type(record.subject_tag) is bytes
    assert type(evm.coin.balance_of(alice.address)) is int
    assert type(evm.coin.is_frozen(alice.address)) is bool


def _sample(kind: str, who: str) -> object:
    if kind.endswith("]"):
        return [_sample(kind[: kind.rindex("[")], who)]
    if kind == "address":
        return who
    if kind == "bool":
        return True
    if kind == "string":
        return "加賀"
    if kind == "bytes":
        return b"\x01\x02"
    if kind.startswith("bytes"):
        return bytes(range(int(kind[5:])))
    return 1  # uint*/int*/enums


def _outcome(read: object) -> object:
    """The value read, or the decoded revert's name."""
    from chain.errors import DECODER

    try:
        return read()  # type: ignore[operator]
    except Exception as exc:  # noqa: BLE001 - web3 raises its own types; both sides are decoded alike
        decoded = exc if isinstance(exc, ContractLogicError) else DECODER.from_exception(exc)
        if decoded is None:
            raise
        return type(decoded).__name__


def test_the_fast_encoding_and_reads_agree_with_web3_for_every_function(evm: Chain) -> None:
    """Clients encode with eth_abi and read with a raw eth_call; web3's contract objects are the reference."""
    alice = evm.resident(25)
    compared = 0
    for client in (evm.registry, evm.coin, evm.ledger):
        for (name, _), function in client._functions.items():  # noqa: SLF001 - the fast path under test
            entry = next(e for e in client.contract.abi if e.get("type") == "function" and e["name"] == name
                         and len(e.get("inputs", [])) == len(function.inputs))
            if any("(" in kind for kind in function.inputs):
                continue
            args = [_sample(kind, alice.address) for kind in function.inputs]
            reference = bytes.fromhex(client.contract.encode_abi(name, args=args).removeprefix("0x"))
            assert client._call(name, *args).data == reference, name  # noqa: SLF001
            if entry.get("stateMutability") in ("view", "pure") and function.plain_outputs:
                fast = _outcome(lambda c=client, n=name, a=args: c._read(n, *a))  # noqa: SLF001
                slow = _outcome(lambda c=client, n=name, a=args: c.contract.functions[n](*a).call())
                assert fast == slow, name
                compared += 1
    assert compared >= 20  # the check ran over the contracts' real views
    assert evm.coin.balance_of(alice.address) == 25


def test_a_revert_on_the_fast_read_path_is_decoded(evm: Chain) -> None:
    auth = evm.sign(evm.resident(5), evm.merchant().address, 50)
    evm.rpc("anvil_impersonateAccount", evm.admin)
    with pytest.raises(ContractLogicError) as caught:
        evm.coin.screen_batch([auth], evm.admin)  # the deployer lacks RELAYER_ROLE: the whole batch reverts
    assert type(caught.value).__name__ == "AccessControlUnauthorizedAccount"

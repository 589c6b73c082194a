"""What every typed contract client shares: calldata values, decoded reads, role helpers.

A client never sends anything itself. Reads go through ``eth_call`` and come back as plain
Python values; writes come back as a ``Call`` (target address + calldata) that the service
enqueues in the relayer's outbox, or that an operator command hands to ``send_call``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import BlockIdentifier, EventData, TxReceipt

from chain.compiler import CompileResult
from chain.deploy import send_transaction
from chain.errors import DECODER
from chain.fees import FeePolicy
from chain.roles import role_id

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
ZERO_BYTES32 = bytes(32)
#: OpenZeppelin AccessControl's admin role (the zero role id).
DEFAULT_ADMIN_ROLE = ZERO_BYTES32

ClientT = TypeVar("ClientT", bound="ContractClient")


@dataclass(frozen=True)
class Call:
    """A state-changing contract call, ready to be signed and sent by whoever owns the key.

    Attributes:
        to: checksummed contract address.
        data: ABI-encoded calldata (selector + arguments).
        value: wei sent along (always 0 for the Machi contracts).
    """

    to: str
    data: bytes
    value: int = 0

    def as_transaction(self, sender: str) -> dict[str, Any]:
        """The call as a web3 transaction dict from ``sender`` (no gas, fees or nonce yet)."""
        return {"from": to_checksum_address(sender), "to": self.to, "data": self.data, "value": self.value}


def to_bytes32(value: bytes | str, what: str = "value") -> bytes:
    """Normalise a 32-byte value given as bytes or ``0x``-hex.

    Raises:
        ValueError: it is not exactly 32 bytes.
    """
    raw = bytes.fromhex(value.removeprefix("0x")) if isinstance(value, str) else bytes(value)
    if len(raw) != 32:
        raise ValueError(f"{what} must be 32 bytes, got {len(raw)}")
    return raw


def optional_address(value: str) -> str | None:
    """``None`` for the zero address, else the checksummed address."""
    address = to_checksum_address(value)
    return None if address == ZERO_ADDRESS else address


@dataclass(frozen=True)
class _Function:
    """A non-overloaded ABI function, ready to encode calls and decode results without web3's lookups."""

    selector: bytes
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    @classmethod
    def index(cls, abi: Sequence[dict[str, Any]]) -> dict[tuple[str, int], _Function]:
        """Functions by (name, number of arguments); overloads with equal arity are left to web3."""
        found: dict[tuple[str, int], _Function | None] = {}
        for entry in abi:
            if entry.get("type") != "function":
                continue
            inputs = tuple(_abi_type(i) for i in entry.get("inputs", []))
            key = (str(entry["name"]), len(inputs))
            function = cls(function_signature_to_4byte_selector(f"{entry['name']}({','.join(inputs)})"), inputs,
                           tuple(_abi_type(o) for o in entry.get("outputs", [])))
            found[key] = None if key in found else function
        return {key: function for key, function in found.items() if function is not None}

    @property
    def plain_outputs(self) -> bool:
        """Returns elementary values or arrays of them (structs are left to web3)."""
        return bool(self.outputs) and not any("(" in kind for kind in self.outputs)

    def encode(self, args: Sequence[Any]) -> bytes:
        """Selector + ABI-encoded ``args``; raises (for the caller's fallback) on values web3 would convert."""
        return self.selector + abi_encode(list(self.inputs), list(args))

    def decode(self, raw: bytes) -> Any:
        """The return values as web3 gives them: one value alone, arrays as lists, checksummed addresses."""
        values = [_as_web3(kind, value) for kind, value in zip(self.outputs, abi_decode(list(self.outputs), raw),
                                                               strict=True)]
        return values[0] if len(values) == 1 else values


def _as_web3(kind: str, value: Any) -> Any:
    if kind.endswith("]"):
        inner = kind[: kind.rindex("[")]
        return [_as_web3(inner, item) for item in value]
    return to_checksum_address(value) if kind == "address" else value


def _abi_type(param: dict[str, Any]) -> str:
    kind = str(param["type"])
    if kind.startswith("tuple"):
        return f"({','.join(_abi_type(c) for c in param.get('components', []))}){kind[5:]}"
    return kind


class ContractClient:
    """Base of the typed clients: one deployed contract, its ABI, and decoded errors.

    Subclasses set ``ARTIFACT`` (the compiled contract's name) and add typed methods.
    """

    ARTIFACT: ClassVar[str] = ""

    def __init__(self, w3: Web3, address: str, abi: Sequence[dict[str, Any]]) -> None:
        """Bind to the contract at ``address``.

        Args:
            w3: a connected web3 client.
            address: the deployed contract.
            abi: its ABI (from the compiled artifact); its custom errors are registered with
                ``chain.errors.DECODER`` so reverts decode by name.
        """
        self.w3 = w3
        self.contract: Contract = w3.eth.contract(address=to_checksum_address(address), abi=list(abi))
        self._functions = _Function.index(abi)
        DECODER.register_abi(abi)

    @classmethod
    def from_compiled(cls: type[ClientT], w3: Web3, address: str, compiled: CompileResult) -> ClientT:
        """A client for ``address`` using the ABI of the artifact named ``cls.ARTIFACT``.

        Raises:
            KeyError: the compile result has no such contract.
        """
        return cls(w3, address, compiled[cls.ARTIFACT].abi)

    @property
    def address(self) -> str:
        """The checksummed contract address."""
        return str(self.contract.address)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.address})"

    # ------------------------------------------------------------------ plumbing
    def _read(self, function: str, *args: Any, block: BlockIdentifier = "latest") -> Any:
        """``eth_call`` a view; a revert is raised as the decoded ``ContractLogicError``.

        The hot path (payments read balances and screen batches on every request) encodes with
        eth_abi and sends one raw ``eth_call``; web3's contract objects (ABI lookups, middleware,
        formatters: several ms a call) only handle what that cannot (overloads of equal arity,
        values that need web3's conversions).
        """
        fast = self._functions.get((function, len(args)))
        if fast is not None and fast.plain_outputs and isinstance(block, (str, int)):
            data = self._fast_encode(fast, args)
            if data is not None:
                return fast.decode(self._eth_call(data, block))
        try:
            # attribute lookup resolves overloads (e.g. nonces(address) / nonces(address,uint192)) by arguments
            return self.contract.functions[function](*args).call(block_identifier=block)
        except Exception as exc:
            decoded = DECODER.from_exception(exc)
            if decoded is not None:
                raise decoded from None
            raise

    def _eth_call(self, data: bytes, block: BlockIdentifier = "latest", sender: str | None = None) -> bytes:
        """One raw ``eth_call`` to this contract.

        Raises:
            ContractLogicError: it reverted (decoded custom error).
            ValueError: the node answered with any other error.
        """
        call: dict[str, Any] = {"to": self.address, "data": "0x" + data.hex()}
        if sender is not None:
            call["from"] = sender
        tag = hex(block) if isinstance(block, int) else block
        reply = self.w3.provider.make_request("eth_call", [call, tag])  # type: ignore[arg-type]
        error = reply.get("error")
        if error:
            decoded = DECODER.from_exception(ValueError(dict(error)))
            if decoded is not None:
                raise decoded
            raise ValueError(dict(error))
        return bytes.fromhex(str(reply["result"]).removeprefix("0x"))

    def _call(self, function: str, *args: Any) -> Call:
        """Encode a state-changing call (nothing is sent)."""
        fast = self._functions.get((function, len(args)))
        encoded = None if fast is None else self._fast_encode(fast, args)
        if encoded is not None:
            return Call(self.address, encoded)
        data = self.contract.encode_abi(function, args=list(args))
        return Call(self.address, bytes.fromhex(data.removeprefix("0x")))

    @staticmethod
    def _fast_encode(function: _Function, args: Sequence[Any]) -> bytes | None:
        """``function``'s calldata, or None when an argument needs web3's conversions (hex strings…)."""
        try:
            return function.encode(args)
        except Exception:  # noqa: BLE001 - web3 converts (or rejects with its own error) what eth_abi will not
            return None

    def block_time(self) -> int:
        """Unix time of the latest block: the ``block.timestamp`` the contract's next call compares with
        (the chain's clock, not this machine's)."""
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def simulate(self, call: Call, sender: str, block: BlockIdentifier = "latest") -> bytes:
        """Run ``call`` as ``sender`` with ``eth_call`` and return the raw return data.

        Raises:
            ContractLogicError: the call would revert (decoded custom error).
        """
        if call.to == self.address and not call.value and isinstance(block, (str, int)):
            return self._eth_call(call.data, block, sender=to_checksum_address(sender))
        try:
            return bytes(self.w3.eth.call(call.as_transaction(sender), block))  # type: ignore[arg-type]
        except Exception as exc:
            decoded = DECODER.from_exception(exc)
            if decoded is not None:
                raise decoded from None
            raise

    def events(self, receipt: TxReceipt, name: str) -> list[EventData]:
        """The ``name`` events this contract emitted in ``receipt``, in log order."""
        own = [log for log in receipt["logs"] if to_checksum_address(log["address"]) == self.address]
        event = self.contract.get_event_by_name(name)()
        return list(event.process_receipt({**receipt, "logs": own}, errors=DISCARD))

    # ------------------------------------------------------------------ AccessControl
    def has_role(self, role: str | bytes, account: str) -> bool:
        """Whether ``account`` holds ``role`` (a role name such as ``"REGISTRAR_ROLE"`` or its id)."""
        return bool(self._read("hasRole", _role(role), to_checksum_address(account)))

    def grant_role_call(self, role: str | bytes, account: str) -> Call:
        """Calldata granting ``role`` to ``account`` (the caller needs the role's admin role)."""
        return self._call("grantRole", _role(role), to_checksum_address(account))

    def revoke_role_call(self, role: str | bytes, account: str) -> Call:
        """Calldata revoking ``role`` from ``account`` (the caller needs the role's admin role)."""
        return self._call("revokeRole", _role(role), to_checksum_address(account))


def _role(role: str | bytes) -> bytes:
    return role_id(role) if isinstance(role, str) else to_bytes32(role, "role")


def send_call(
    w3: Web3, account: LocalAccount, call: Call, timeout: float = 120.0, fees: FeePolicy | None = None
) -> TxReceipt:
    """Sign, send and wait for ``call`` from ``account`` (operator commands, scripts, benchmarks).

    Service traffic goes through the relayer's outbox instead. ``fees`` prices it (default EIP-1559).

    Raises:
        ContractLogicError: the call would revert (decoded custom error).
        TransactionError: it was mined but failed.
    """
    receipt: TxReceipt = send_transaction(w3, account, call.as_transaction(account.address), timeout=timeout,
                                           fees=fees)
    return receipt


__all__ = [
    "DEFAULT_ADMIN_ROLE",
    "ZERO_ADDRESS",
    "ZERO_BYTES32",
    "Call",
    "ContractClient",
    "optional_address",
    "role_id",
    "send_call",
    "to_bytes32",
]

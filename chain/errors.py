"""One boundary where chain failures become typed Python exceptions.

Every revert is decoded against the ABIs of the project's contracts (and OpenZeppelin's
EIP-6093 errors), so callers see ``ContractLogicError`` subclasses named after the
contract's own custom error, e.g. ``RegionalCoinFrozenAccount(account=0x…)``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address


class MachiError(Exception):
    """Root of every exception the project raises on purpose."""

    code = "machi_error"


class ChainError(MachiError):
    """Something about the chain or its toolchain went wrong."""

    code = "chain_error"


class ToolchainError(ChainError):
    """A toolchain piece (node, npm, anvil, solc) is missing or broken; the message names the fix."""

    code = "toolchain_error"


class CompilerError(ChainError):
    """Solidity did not compile. ``errors`` holds ``file:line:col: message`` strings."""

    code = "compiler_error"

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("Solidity compilation failed:\n" + "\n".join(errors))


class NodeError(ChainError):
    """The JSON-RPC node could not be started or reached."""

    code = "node_unavailable"


class DeploymentError(ChainError):
    """The deployment manifest does not match the chain (e.g. the node was reset)."""

    code = "deployment_error"


class TransactionError(ChainError):
    """A transaction could not be built, sent or mined."""

    code = "transaction_error"


class ContractLogicError(TransactionError):
    """A call reverted. ``name`` is the custom error (or ``Error``/``Panic``), ``args`` its values."""

    code = "contract_reverted"

    def __init__(self, name: str, args: Mapping[str, Any] | None = None, raw: str = "") -> None:
        self.name = name
        self.args_by_name: dict[str, Any] = dict(args or {})
        self.raw = raw
        shown = ", ".join(f"{k}={_show(v)}" for k, v in self.args_by_name.items())
        super().__init__(f"{name}({shown})")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form for storing on an intent or returning from an API."""
        return {"name": self.name, "args": {k: _show(v) for k, v in self.args_by_name.items()}}


class NamedContractError(ContractLogicError):
    """Base of the classes made per custom error name: the class name *is* the error name."""

    def __init__(self, args: Mapping[str, Any] | None = None, raw: str = "") -> None:
        super().__init__(type(self).__name__, args, raw)


def _show(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, (list, tuple)):
        return [_show(v) for v in value]
    return value


_PANIC_CODES = {
    0x01: "assertion failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division by zero",
    0x21: "invalid enum value",
    0x31: "pop on empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to a zero-initialised function",
}


class ErrorDecoder:
    """Maps 4-byte error selectors to their ABI entries, across every known contract."""

    def __init__(self) -> None:
        self._errors: dict[bytes, tuple[str, list[dict[str, Any]]]] = {}
        self._classes: dict[str, type[NamedContractError]] = {}
        self.register_abi([{"type": "error", "name": "Error", "inputs": [{"name": "message", "type": "string"}]}])
        self.register_abi([{"type": "error", "name": "Panic", "inputs": [{"name": "code", "type": "uint256"}]}])

    def register_abi(self, abi: Iterable[Mapping[str, Any]]) -> None:
        """Learn the custom errors declared in ``abi``."""
        for entry in abi:
            if entry.get("type") != "error":
                continue
            inputs = list(entry.get("inputs", []))
            signature = f"{entry['name']}({','.join(_canonical_type(i) for i in inputs)})"
            self._errors[function_signature_to_4byte_selector(signature)] = (entry["name"], inputs)

    def error_class(self, name: str) -> type[NamedContractError]:
        """The exception class for a custom error name (created on first use, then reused)."""
        cls = self._classes.get(name)
        if cls is None:
            cls = type(name, (NamedContractError,), {"__module__": __name__})
            self._classes[name] = cls
        return cls

    def decode(self, data: bytes | str | None) -> ContractLogicError:
        """Turn revert data into a typed exception (``UnknownRevert`` when it matches nothing)."""
        raw = _to_bytes(data)
        if len(raw) < 4:
            return self.error_class("UnknownRevert")({}, raw="0x" + raw.hex())
        known = self._errors.get(raw[:4])
        if known is None:
            return self.error_class("UnknownRevert")({"selector": raw[:4]}, raw="0x" + raw.hex())
        name, inputs = known
        try:
            values = abi_decode([_canonical_type(i) for i in inputs], raw[4:])
        except Exception:  # noqa: BLE001 - malformed revert data is still a revert
            return self.error_class(name)({}, raw="0x" + raw.hex())
        args = {
            (i.get("name") or f"arg{n}"): _normalise(i, v) for n, (i, v) in enumerate(zip(inputs, values, strict=True))
        }
        if name == "Panic":
            args["reason"] = _PANIC_CODES.get(int(args["code"]), "unknown panic")
        return self.error_class(name)(args, raw="0x" + raw.hex())

    def from_exception(self, exc: BaseException) -> ContractLogicError | None:
        """Extract revert data from a web3 / JSON-RPC exception, or None if it is not a revert."""
        data = _revert_data_of(exc)
        if data is None:
            return None
        return self.decode(data)


def _canonical_type(param: Mapping[str, Any]) -> str:
    kind = str(param["type"])
    if kind.startswith("tuple"):
        inner = ",".join(_canonical_type(c) for c in param.get("components", []))
        return f"({inner}){kind[5:]}"
    return kind


def _normalise(param: Mapping[str, Any], value: Any) -> Any:
    if param["type"] == "address" and isinstance(value, str):
        return to_checksum_address(value)
    return value


def _to_bytes(data: bytes | str | None) -> bytes:
    if data is None:
        return b""
    if isinstance(data, bytes):
        return data
    text = data[2:] if data.startswith("0x") else data
    try:
        return bytes.fromhex(text)
    except ValueError:
        return b""


_HEX_DATA = re.compile(r"0x[0-9a-fA-F]{8,}")


def _revert_data_of(exc: BaseException) -> str | bytes | None:
    """web3.py puts revert data in different places depending on the node and call path."""
    data = getattr(exc, "data", None)
    if isinstance(data, (str, bytes)) and data:
        return data
    if isinstance(data, dict) and isinstance(data.get("data"), str):
        return str(data["data"])
    for arg in getattr(exc, "args", ()):
        if isinstance(arg, dict):
            inner = arg.get("data")
            if isinstance(inner, str):
                return inner
            if isinstance(inner, dict) and isinstance(inner.get("data"), str):
                return str(inner["data"])
            message = str(arg.get("message", ""))
            if "revert" in message.lower():
                match = _HEX_DATA.search(message)
                return match.group(0) if match else b""
    text = str(exc)
    if "revert" in text.lower():
        match = _HEX_DATA.search(text)
        return match.group(0) if match else b""
    return None


#: The process-wide decoder; ``chain.compiler`` registers every compiled ABI here.
DECODER = ErrorDecoder()

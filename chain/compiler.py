"""Compiles the project's Solidity through solc-js (via py-solc-x's standard-JSON interface).

Artifacts are cached under ``var/build/`` by a hash of every source, the compiler settings,
the compiler version and the OpenZeppelin version: nothing is recompiled when nothing changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import solcx
from solcx.exceptions import SolcError

from chain.compat import library_overrides, needs_compat
from chain.errors import DECODER, CompilerError
from chain.toolchain import PROJECT_ROOT, Toolchain, find_toolchain

SOLC_VERSION = "0.8.37"
#: An EVM fork a network profile may compile for.
EvmVersion = Literal["london", "paris", "shanghai", "cancun"]
#: The default EVM fork the contracts are compiled for; networks that lag get an older one.
EVM_VERSION: EvmVersion = "cancun"
#: Forks a network profile may ask for, oldest first.
EVM_VERSIONS: tuple[EvmVersion, ...] = get_args(EvmVersion)
OPTIMIZER_RUNS = 200
DEFAULT_SOURCE_DIRS = (PROJECT_ROOT / "contracts" / "src",)

COMPILER_SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
    "evmVersion": EVM_VERSION,
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "devdoc", "userdoc"]}},
}


def compiler_settings(evm_version: str = EVM_VERSION) -> dict[str, Any]:
    """solc's standard-JSON settings for ``evm_version``.

    Raises:
        CompilerError: a fork the project does not support.
    """
    if evm_version not in EVM_VERSIONS:
        raise CompilerError([f"unsupported EVM version {evm_version!r}: one of {', '.join(EVM_VERSIONS)}"])
    return {**COMPILER_SETTINGS, "evmVersion": evm_version}


@dataclass(frozen=True)
class Artifact:
    """One compiled contract."""

    name: str
    source: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str

    @property
    def abi_hash(self) -> str:
        """sha256 of the canonical ABI JSON, recorded in deployment manifests."""
        return hashlib.sha256(json.dumps(self.abi, sort_keys=True).encode()).hexdigest()

    @property
    def deployable(self) -> bool:
        """False for interfaces and abstract contracts (no creation code)."""
        return bool(self.bytecode)


@dataclass
class CompileResult:
    """Artifacts by contract name, plus whether they came from the cache."""

    artifacts: dict[str, Artifact]
    cache_key: str
    cache_hit: bool
    warnings: list[str] = field(default_factory=list)

    def __getitem__(self, name: str) -> Artifact:
        try:
            return self.artifacts[name]
        except KeyError:
            known = ", ".join(sorted(n for n, a in self.artifacts.items() if a.deployable))
            raise KeyError(f"no compiled contract named {name!r} (deployable: {known})") from None


def collect_sources(source_dirs: Iterable[Path]) -> dict[str, str]:
    """Every ``*.sol`` under the given directories, keyed by path relative to the project root."""
    sources: dict[str, str] = {}
    for directory in source_dirs:
        for path in sorted(Path(directory).rglob("*.sol")):
            key = os.path.relpath(path.resolve(), PROJECT_ROOT)
            sources[key] = path.read_text(encoding="utf-8")
    return sources


def cache_key_for(
    sources: Mapping[str, str], toolchain: Toolchain, evm_version: str = EVM_VERSION,
    overrides: Mapping[str, str] | None = None,
) -> str:
    """The hash that decides whether a cached build can be reused (``overrides``: replaced library
    sources, see ``chain.compat``)."""
    digest = hashlib.sha256()
    digest.update(json.dumps(compiler_settings(evm_version), sort_keys=True).encode())
    digest.update(SOLC_VERSION.encode())
    digest.update(toolchain.openzeppelin_version.encode())
    for name in sorted(sources):
        digest.update(name.encode() + b"\0" + sources[name].encode() + b"\0")
    for name in sorted(overrides or {}):
        digest.update(b"override\0" + name.encode() + b"\0" + (overrides or {})[name].encode() + b"\0")
    return digest.hexdigest()


def compile_contracts(
    source_dirs: Iterable[Path] = DEFAULT_SOURCE_DIRS,
    cache_dir: Path | None = None,
    toolchain: Toolchain | None = None,
    evm_version: str = EVM_VERSION,
) -> CompileResult:
    """Compile every Solidity file under ``source_dirs`` (or reuse the cached build).

    Args:
        source_dirs: directories searched recursively for ``*.sol``.
        cache_dir: where builds are cached (default ``var/build``).
        toolchain: the located toolchain (found and installed when omitted).
        evm_version: the EVM fork to compile for (one of ``EVM_VERSIONS``); before cancun the
            OpenZeppelin files that use ``mcopy`` are compiled from equivalent sources (``chain.compat``).

    Raises:
        CompilerError: with ``file:line:col: Type: message`` for each compiler error.
    """
    toolchain = toolchain or find_toolchain()
    cache_dir = cache_dir or PROJECT_ROOT / "var" / "build"
    sources = collect_sources(source_dirs)
    if not sources:
        raise CompilerError([f"no Solidity sources found under {', '.join(map(str, source_dirs))}"])
    settings = compiler_settings(evm_version)
    overrides = library_overrides(sources) if needs_compat(evm_version) else {}
    key = cache_key_for(sources, toolchain, evm_version, overrides)
    cached = cache_dir / f"{key}.json"
    if cached.exists():
        hit = {n: Artifact(**a) for n, a in json.loads(cached.read_text())["artifacts"].items()}
        _register(hit.values())
        return CompileResult(hit, key, cache_hit=True)

    standard_input = {
        "language": "Solidity",
        "sources": {name: {"content": text} for name, text in {**overrides, **sources}.items()},
        "settings": settings,
    }
    try:
        output = solcx.compile_standard(standard_input, base_path=str(PROJECT_ROOT), solc_binary=str(toolchain.solc))
    except SolcError as exc:
        details: list[dict[str, Any]] = list(exc.error_dict or [])
        raise CompilerError(_format_errors(details, sources) or [str(exc)]) from None

    warnings = [_format_one(e, sources) for e in output.get("errors", []) if e.get("severity") != "error"]
    artifacts: dict[str, Artifact] = {}
    for source_name, contracts in output.get("contracts", {}).items():
        if source_name not in sources:
            continue  # library code (OpenZeppelin): reachable through our contracts' ABIs already
        for name, data in contracts.items():
            artifacts[name] = Artifact(
                name=name,
                source=source_name,
                abi=data["abi"],
                bytecode=data["evm"]["bytecode"]["object"],
                deployed_bytecode=data["evm"]["deployedBytecode"]["object"],
            )
    # Error ABIs of library contracts (e.g. OpenZeppelin's ERC20InsufficientBalance) are part of
    # the compiled contracts' ABIs already, so registering ours is enough.
    _register(artifacts.values())
    cache_dir.mkdir(parents=True, exist_ok=True)
    payload = {"artifacts": {n: a.__dict__ for n, a in artifacts.items()}, "warnings": warnings}
    with tempfile.NamedTemporaryFile("w", dir=cache_dir, delete=False, suffix=".tmp") as handle:
        json.dump(payload, handle)
    os.replace(handle.name, cached)  # atomic: a crash never leaves half a cache entry
    return CompileResult(artifacts, key, cache_hit=False, warnings=warnings)


def _register(artifacts: Iterable[Artifact]) -> None:
    for artifact in artifacts:
        DECODER.register_abi(artifact.abi)


def _format_errors(errors: list[dict[str, Any]], sources: Mapping[str, str]) -> list[str]:
    return [_format_one(e, sources) for e in errors if e.get("severity") == "error"]


def _format_one(error: Mapping[str, Any], sources: Mapping[str, str]) -> str:
    location = error.get("sourceLocation") or {}
    where = "<input>"
    file = location.get("file")
    if file:
        start = int(location.get("start", 0))
        text = sources.get(file, "")
        line = text.count("\n", 0, max(start, 0)) + 1
        column = start - (text.rfind("\n", 0, start) + 1) + 1 if start >= 0 else 1
        where = f"{file}:{line}:{column}"
    return f"{where}: {error.get('type', 'Error')}: {error.get('message', '').strip()}"

"""Finds the Node side of the toolchain (anvil, the solc shim, OpenZeppelin) inside the project.

Everything comes from the npm registry through ``contracts/package-lock.json``; nothing is
downloaded at run time. ``ensure_node_packages`` runs ``npm ci`` once when the packages are
missing, so a fresh clone works with no manual step.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from chain.errors import ToolchainError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONTRACTS_DIR = PROJECT_ROOT / "contracts"
NODE_MODULES = CONTRACTS_DIR / "node_modules"


@dataclass(frozen=True)
class Toolchain:
    """Paths of the toolchain executables and libraries."""

    anvil: Path
    solc: Path
    openzeppelin: Path
    hardhat: Path | None = None  # Hardhat's node, the second node implementation the suite runs on

    @property
    def openzeppelin_version(self) -> str:
        """The installed OpenZeppelin Contracts version (part of the compiler cache key)."""
        package = json.loads((self.openzeppelin / "package.json").read_text())
        return str(package["version"])


def ensure_node_packages(contracts_dir: Path = CONTRACTS_DIR) -> None:
    """Install the pinned npm packages with ``npm ci`` if they are not there yet.

    Raises:
        ToolchainError: npm is missing or ``npm ci`` failed (the message says how to fix it).
    """
    node_modules = contracts_dir / "node_modules"
    marker = node_modules / ".package-lock.json"
    lock = contracts_dir / "package-lock.json"
    if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
        return
    npm = shutil.which("npm")
    if npm is None:
        raise ToolchainError("npm is not installed: install Node.js 20+ and npm (e.g. `apt-get install -y nodejs npm`)")
    with FileLock(str(contracts_dir / ".npm-install.lock")):
        if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
            return
        result = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=contracts_dir,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ToolchainError(f"`npm ci` in {contracts_dir} failed:\n{result.stderr.strip()}")


def _native_anvil(node_modules: Path) -> Path:
    """The platform binary from @foundry-rs/anvil's optional dependency.

    ``.bin/anvil`` is a Node wrapper that spawns it; running the binary directly means the
    process we signal is the node itself, so stopping it really stops the chain.
    """
    for candidate in sorted((node_modules / "@foundry-rs").glob("anvil-*/bin/anvil")):
        if candidate.is_file():
            return candidate
    return node_modules / ".bin" / "anvil"


def find_toolchain(contracts_dir: Path = CONTRACTS_DIR, install: bool = True) -> Toolchain:
    """Locate anvil, the solc shim and OpenZeppelin, installing npm packages first if allowed.

    Raises:
        ToolchainError: a piece is missing; the message names the command that fixes it.
    """
    if install:
        ensure_node_packages(contracts_dir)
    node_modules = contracts_dir / "node_modules"
    anvil = _native_anvil(node_modules)
    solc = contracts_dir / "tools" / "solc"
    oz = node_modules / "@openzeppelin" / "contracts"
    if not anvil.exists():
        raise ToolchainError(
            f"anvil not found at {anvil}: run `npm ci` in {contracts_dir} (it installs @foundry-rs/anvil)"
        )
    if not (node_modules / "solc").exists():
        raise ToolchainError(f"solc-js not found: run `npm ci` in {contracts_dir}")
    if not oz.exists():
        raise ToolchainError(f"@openzeppelin/contracts not found: run `npm ci` in {contracts_dir}")
    if shutil.which("node") is None:
        raise ToolchainError("node is not on PATH: install Node.js 20+ (the solc shim runs on it)")
    hardhat = node_modules / "hardhat" / "internal" / "cli" / "cli.js"
    return Toolchain(anvil=anvil, solc=solc, openzeppelin=oz, hardhat=hardhat if hardhat.exists() else None)

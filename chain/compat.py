"""Library sources for EVM forks older than cancun (a Besu network or Japan Open Chain that lags).

OpenZeppelin Contracts 5.x copies memory with ``mcopy`` (EIP-5656, cancun) in inline assembly —
``Bytes.slice/splice/replace/concat`` and ``SignatureChecker``'s ERC-1271 call, which the coin
reaches through ``ERC20TransferAuthorization`` — so solc refuses to compile the project for
shanghai or london. The contracts themselves need nothing newer than shanghai (``PUSH0``) or
london.

For such a fork the compiler is handed, under their own source unit names, copies of exactly the
library files our contracts import (directly or not) that use ``mcopy``, with every ``mcopy(d, s, n)``
replaced by a Yul helper that does the same: copy ``n`` bytes from ``s`` to ``d``, overlapping
ranges included (forwards in words when the destination is below the source, backwards byte by
byte otherwise), writing nothing beyond ``d + n``. Everything else — names, ABIs, custom errors —
is unchanged, so the same Python clients and error decoding work. Only the assembly of those
functions differs (more gas per copied byte than ``mcopy``).

Transient storage (``tstore``/``tload``, also cancun) cannot be emulated faithfully; a reachable
use is refused with the file named.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from pathlib import Path

from chain.errors import CompilerError
from chain.toolchain import CONTRACTS_DIR, NODE_MODULES, PROJECT_ROOT

#: Forks that know ``mcopy`` and transient storage.
CANCUN_AND_LATER = ("cancun",)

_IMPORT = re.compile(r"""^\s*import\s+(?:[^"';]*?\s+from\s+)?["']([^"']+)["']""", re.MULTILINE)
_MCOPY = re.compile(r"\bmcopy\s*\(")
_TRANSIENT = re.compile(r"\b(?:tstore|tload)\s*\(")

#: The replacement of ``mcopy`` (a Yul block defining and calling the helper: valid wherever a
#: statement is, and scoped to that block, so several copies in one assembly block never clash).
_HELPER = (
    "{ function machi_mcopy(machi_d, machi_s, machi_n) { switch gt(machi_d, machi_s) "
    "case 0 { let machi_i := 0 "
    "for { } iszero(gt(add(machi_i, 32), machi_n)) { machi_i := add(machi_i, 32) } "
    "{ mstore(add(machi_d, machi_i), mload(add(machi_s, machi_i))) } "
    "for { } lt(machi_i, machi_n) { machi_i := add(machi_i, 1) } "
    "{ mstore8(add(machi_d, machi_i), byte(0, mload(add(machi_s, machi_i)))) } } "
    "default { for { let machi_i := machi_n } machi_i { machi_i := sub(machi_i, 1) } "
    "{ mstore8(add(machi_d, sub(machi_i, 1)), byte(0, mload(add(machi_s, sub(machi_i, 1))))) } } } "
    "machi_mcopy(%s) }"
)


def needs_compat(evm_version: str) -> bool:
    """Whether ``evm_version`` predates cancun (so library sources must be replaced)."""
    return evm_version not in CANCUN_AND_LATER


def library_overrides(sources: Mapping[str, str]) -> dict[str, str]:
    """The library files reachable from ``sources`` that use ``mcopy``, by source unit name, with it
    replaced (see the module docstring).

    Raises:
        CompilerError: a reachable file uses transient storage, or an import cannot be found.
    """
    overrides: dict[str, str] = {}
    seen: set[str] = set()
    pending = list(sources)
    while pending:
        unit = pending.pop()
        if unit in seen:
            continue
        seen.add(unit)
        text = sources[unit] if unit in sources else _read_library(unit)
        if unit not in sources:
            if _TRANSIENT.search(text):
                raise CompilerError([f"{unit} uses transient storage (tstore/tload), which needs cancun: "
                                     "compile for cancun or avoid importing it"])
            if _MCOPY.search(text):
                overrides[unit] = replace_mcopy(text)
        for target in _IMPORT.findall(text):
            pending.append(_resolve(unit, target))
    return overrides


def replace_mcopy(text: str) -> str:
    """``text`` with every ``mcopy(d, s, n)`` replaced by the equivalent Yul helper call.

    Raises:
        CompilerError: an ``mcopy`` whose arguments cannot be read (unbalanced parentheses).
    """
    out: list[str] = []
    position = 0
    for match in _MCOPY.finditer(text):
        if match.start() < position:
            continue  # inside the arguments of one already replaced
        depth, end = 1, match.end()
        while depth and end < len(text):
            depth += {"(": 1, ")": -1}.get(text[end], 0)
            end += 1
        if depth:
            raise CompilerError([f"unbalanced mcopy( at offset {match.start()}"])
        out.append(text[position:match.start()])
        out.append(_HELPER % text[match.end():end - 1])
        position = end
    out.append(text[position:])
    return "".join(out)


def _resolve(importer: str, target: str) -> str:
    """The source unit name solc gives ``import target`` inside ``importer``."""
    if target.startswith(("./", "../")):
        return posixpath.normpath(posixpath.join(posixpath.dirname(importer), target))
    return target


def _read_library(unit: str) -> str:
    """A library file's text from where the compiler shim finds it (the project, contracts/, node_modules)."""
    for root in (PROJECT_ROOT, CONTRACTS_DIR, NODE_MODULES):
        path = (root / unit).resolve()
        if path.is_relative_to(root) and path.is_file():
            return Path(path).read_text(encoding="utf-8")
    raise CompilerError([f"import {unit!r} not found under {PROJECT_ROOT}, {CONTRACTS_DIR} or {NODE_MODULES}"])

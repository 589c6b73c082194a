"""Scan captured logs and command output for secrets and personal data.

The list of what to look for comes from the run that produced the logs (the PINs, passwords, keys,
tokens, My Numbers, bank account numbers and names it really used), so a leak of any of them is found
exactly. Digit-only values (a PIN, an account number, a My Number) match only as whole numbers, not
inside longer digit or hex runs (a 4-digit PIN is inside many a transaction hash); hex values (private
keys, keystore ciphertext) match in any letter case.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["Finding", "scan"]

_HEX = re.compile(r"(0x)?[0-9a-fA-F]+")


@dataclass(frozen=True)
class Finding:
    """A secret of ``kind`` seen in ``source`` at ``line`` (1-based); ``excerpt`` has it masked."""

    kind: str
    source: str
    line: int
    excerpt: str

    def __str__(self) -> str:
        return f"{self.kind} in {self.source}:{self.line}: {self.excerpt}"


def _pattern(value: str) -> re.Pattern[str]:
    if value.isdigit():
        return re.compile(rf"(?<![0-9A-Za-z]){re.escape(value)}(?![0-9A-Za-z])")
    if len(value) >= 16 and _HEX.fullmatch(value):
        return re.compile(re.escape(value.removeprefix("0x")), re.IGNORECASE)
    return re.compile(re.escape(value))


def scan(sources: Mapping[str, str], secrets: Mapping[str, Iterable[str]],
         allowed: Mapping[str, Iterable[str]] | None = None) -> list[Finding]:
    """Every place where one of ``secrets`` (kind → values) appears in ``sources`` (name → text).

    ``allowed`` (source → values) lets a source show values it exists to show (the TEST CA prints the
    PIN of the card it just issued). A finding's excerpt never contains the secret itself.
    """
    patterns = [(kind, _pattern(value)) for kind, values in secrets.items() for value in set(values) if value]
    permitted = {source: {_pattern(v).pattern for v in values} for source, values in (allowed or {}).items()}
    findings = []
    for source, text in sources.items():
        for number, line in enumerate(text.splitlines(), start=1):
            kinds = [kind for kind, pattern in patterns
                     if pattern.pattern not in permitted.get(source, set()) and pattern.search(line)]
            if kinds:
                findings += [Finding(kind, source, number, _masked(line, patterns)) for kind in kinds]
    return findings


def _masked(line: str, patterns: list[tuple[str, re.Pattern[str]]]) -> str:
    for kind, pattern in patterns:
        line = pattern.sub(f"<{kind}>", line)
    return line[:300]

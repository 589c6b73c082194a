"""JSON structured logs, with secrets and personal data kept out.

Every record is one JSON object per line. Values of keys that look secret (keys, tokens,
passwords, signatures, personal fields) are replaced before formatting, and hex private-key
shaped strings are masked in messages as a last line of defence.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

_SECRET_KEYS = re.compile(
    r"(key|secret|token|password|passwd|pin|signature|authorization|cookie|name|address_line|birth|sex)", re.I
)
_PRIVATE_KEY = re.compile(r"0x[0-9a-fA-F]{64}(?![0-9a-fA-F])")
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def redact(value: str) -> str:
    """Mask anything shaped like a 32-byte hex secret (private keys) in free text."""
    return _PRIVATE_KEY.sub(lambda m: m.group(0)[:6] + "…redacted", value)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, extra fields (redacted)."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key in _STANDARD or key.startswith("_"):
                continue
            payload[key] = "[redacted]" if _SECRET_KEYS.search(key) else value
        if record.exc_info:
            payload["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(payload, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO") -> None:
    """Send every logger's records to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access", "web3", "urllib3", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

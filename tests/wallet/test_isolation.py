"""The wallet is a client: importing every module of ``wallet`` and ``protocol`` loads nothing of the
service (its package, its web framework, its database layer, its settings, its server)."""

from __future__ import annotations

import json
import subprocess
import sys

from chain.toolchain import PROJECT_ROOT

SERVER_PACKAGES = ("procedures", "fastapi", "sqlalchemy", "starlette", "pydantic_settings", "uvicorn")

_PROBE = """
import importlib, json, pkgutil, sys
import protocol, wallet
names = []
for package in (protocol, wallet):
    names.append(package.__name__)
    names += [m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]
for name in names:
    importlib.import_module(name)
print(json.dumps({"imported": names, "loaded": sorted(sys.modules)}))
"""


def test_importing_the_wallet_and_the_protocol_loads_nothing_of_the_service():
    result = subprocess.run([sys.executable, "-c", _PROBE], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            timeout=120, check=True)
    report = json.loads(result.stdout)
    assert {"wallet.cli", "protocol.cards.pcsc", "protocol.receipts", "protocol.statement"} <= set(report["imported"])
    server = [name for name in report["loaded"] if name.split(".")[0] in SERVER_PACKAGES]
    assert server == [], f"the wallet pulls in server modules: {server[:20]}"

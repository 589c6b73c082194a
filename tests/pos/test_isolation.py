"""``machi-pos`` is a client: importing every module of ``pos`` loads nothing of the service (its package,
web framework, database layer, settings, server) — what it shares with the wallet is in ``protocol``."""

from __future__ import annotations

import json
import subprocess
import sys

from chain.toolchain import PROJECT_ROOT
from tests.wallet.test_isolation import SERVER_PACKAGES

_PROBE = """
import importlib, json, pkgutil, sys
import pos
names = ["pos"] + [m.name for m in pkgutil.walk_packages(pos.__path__, "pos.")]
for name in names:
    importlib.import_module(name)
print(json.dumps({"imported": names, "loaded": sorted(sys.modules)}))
"""


def test_importing_the_counter_program_loads_nothing_of_the_service():
    result = subprocess.run([sys.executable, "-c", _PROBE], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            timeout=120, check=True)
    report = json.loads(result.stdout)
    assert {"pos.cli", "pos.counter", "pos.statement", "pos.receipts"} <= set(report["imported"])
    server = [name for name in report["loaded"] if name.split(".")[0] in SERVER_PACKAGES]
    assert server == [], f"machi-pos pulls in server modules: {server[:20]}"

"""Run benchmarks and print one JSON line each."""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import platform
import sys
from pathlib import Path

import scripts.bench as package


def available() -> list[str]:
    """Benchmark module names, in a stable order."""
    return sorted(
        m.name for m in pkgutil.iter_modules([str(Path(package.__file__).parent)]) if not m.name.startswith("_")
    )


def main(argv: list[str]) -> int:
    names = [n for arg in argv for n in arg.split(",") if n] or available()
    unknown = [n for n in names if n not in available()]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available())}", file=sys.stderr)
        return 2
    for name in names:
        module = importlib.import_module(f"scripts.bench.{name}")
        figures = module.run()
        line = {"bench": name, **figures, "machine": {"cpus": os.cpu_count(), "python": platform.python_version()}}
        print(json.dumps(line, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

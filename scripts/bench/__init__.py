"""Benchmarks: ``python -m scripts.bench [NAME …]`` prints one JSON object per line.

Each benchmark is a module ``scripts/bench/<name>.py`` with ``run() -> dict``; the runner adds
``"bench": name`` and the machine's figures, so every line says what it was measured on.
"""

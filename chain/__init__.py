"""Python ↔ chain: toolchain discovery, compiling, deploying, contract clients, the relayer."""

import sys

# py_ecc (imported by eth_account, hence by everything here) lifts the recursion limit to 100,000
# at import time. With that limit a deeply nested JSON body overflows the C stack of the JSON
# parser and kills the process (a segmentation fault) instead of raising RecursionError. Import
# it first, then put the interpreter's default back; nothing in this project needs more.
import py_ecc  # noqa: E402,F401,I001 - for its import-time side effect, undone just below

SANE_RECURSION_LIMIT = 1000
sys.setrecursionlimit(SANE_RECURSION_LIMIT)

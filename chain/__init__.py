"""Python ↔ chain: toolchain discovery, compiling, deploying, contract clients, the relayer."""

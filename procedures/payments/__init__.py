"""What is left of the former payments package: ``uri`` (EIP-681 payment URIs, shared with the
wallet). The money domains live in ``procedures.transfers``, ``merchants``, ``settlement`` and
``operator``."""

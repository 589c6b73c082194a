"""One scrub for every stored error text: credentials out, the rest readable."""

from __future__ import annotations

import pytest

from chain.scrub import describe, scrub

TX = "0x" + "ab" * 32


@pytest.mark.parametrize(("text", "secret", "kept"), [
    ("Max retries exceeded with url: https://alice:s3cr3tpw@rpc.example.jp/ (refused)", "s3cr3tpw", "rpc.example.jp"),
    ("no answer from https://mainnet.infura.io/v3/0123456789abcdef0123456789abcdef", "0123456789abcdef", "infura.io"),
    ("HTTPConnectionPool(host='h', port=1): Max retries exceeded with url: /v2/AbCdEf0123456789xyz", "AbCdEf0123456789",
     "Max retries exceeded"),
    ("GET https://rpc.example.jp/?apikey=KEY123456&chain=1 failed", "KEY123456", "chain=1"),
    ("wss://node.example/ws?access_token=tok_998877 closed", "tok_998877", "node.example"),
    ("sent Authorization: Bearer eyJhbGciOi.abc.def", "eyJhbGciOi", "Authorization"),
    ("key mk_live_Zx9Yw8Vu7Ts6 is revoked", "Zx9Yw8Vu7Ts6", "is revoked"),
    ("private_key=0xdeadbeefcafe; password: hunter22", "hunter22", "private_key="),
])
def test_scrub_removes_the_credential_and_keeps_the_rest(text, secret, kept):
    cleaned = scrub(text)
    assert secret not in cleaned and "***" in cleaned
    assert kept in cleaned


def test_scrub_leaves_hashes_addresses_and_plain_urls_alone():
    text = f"tx {TX} reverted: RegionalCoinFrozenAccount(0x{'11' * 20}) at http://127.0.0.1:8545/"
    assert scrub(text) == text
    assert scrub("https://hooks.example.com/webhooks/machi") == "https://hooks.example.com/webhooks/machi"


def test_describe_names_the_error_type_and_scrubs():
    assert describe(ConnectionError("https://u:p4ssw0rd@h/")) == "ConnectionError: https://***@h/"

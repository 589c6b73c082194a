"""Gas report: receipt ``gasUsed`` of the city's contracts against a plain OpenZeppelin ERC-20.

Starts its own in-memory anvil, deploys the city with the production plan (``chain.plan``) and the
``PlainToken`` baseline (``tests/fixtures/contracts``) on the same node, and measures:

* coin transfer with a warm (non-zero balance) and a cold (zero balance) recipient, and the same two
  for the plain ERC-20 (``erc20_transfer_warm`` / ``erc20_transfer_cold``);
* a single ``transferWithAuthorization`` with a fresh nonce key and with a reused key;
* the batch relay per payment at 1, 10, 50 and 100 items, reused-key and fresh-key nonces
  (distinct payers with non-zero balances, one merchant with a non-zero balance);
* attest, renew, revoke, request_recovery + execute_recovery (after the delay, anvil time travel on the
  bench's own node), redeem, anchor at 1 and 1,000,000 leaves;
* the batch of 50 signed exactly as ``machi-wallet pay`` signs: key 1, the wallet's own sequence kept in
  its account word, for a wallet's first payment (``batch_per_payment_first_payment_50``, sequence 0) and
  a later one (``batch_per_payment_cli_50``);
* points (issue 15): a credit to a wallet without points and one with, the same batch of 50 when each
  payment spends points first (``batch_per_payment_points_50``: half the value in points, half in coins) against
  ``batch_per_payment_cli_50``, and the sweep per account of 50 wallets whose points expired;
* ``batch50_*_vs_erc20_warm`` ratios and whether each target of issues 3, 14 and 15 is met.

Nonce modes: key 1 writes nothing but the payer's account word, which the payment writes anyway; a
*fresh key* nonce (``random key << 64 | 0``: a generic ERC-3009 wallet, an application fee) writes a fresh
storage slot (22.1k); a *reused key* nonce (the next sequence number of another key the wallet used
before) rewrites that slot (5k).
"""

from __future__ import annotations

import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3 import Web3
from web3.types import TxReceipt

from chain.compiler import compile_contracts
from chain.contracts import (
    AssuranceLevel,
    Call,
    CityContracts,
    load_city,
    make_nonce,
    random_nonce_key,
    sequence_nonce,
)
from chain.deploy import deploy
from chain.errors import DECODER, TransactionError
from chain.merkle import MerkleTree, hash_leaf
from chain.node import LocalNode, NodeConfig, free_port
from chain.plan import PlanParams, city_plan, plan_params
from chain.rpc import connect
from chain.toolchain import PROJECT_ROOT
from procedures.config import DEV_BENEFITS_MINTER_KEY, DEV_DEPLOYER_KEY, DEV_RELAYER_KEY, DEV_TOPUP_MINTER_KEY
from protocol.points import month_of, month_start

BATCH_SIZES = (1, 10, 50, 100)
YEAR = 365 * 24 * 3600
TARGET_BATCH50_RATIO = 1.3
TARGET_ATTEST = 120_000
# issue 14: a relayed payment at or below a plain ERC-20 transfer
TARGET_CLI_50 = 30_000
TARGET_FIRST_PAYMENT = 34_400
TARGET_ATTEST_14 = 80_000
# issue 15: a payment that spends points at most 1.3x one that does not
TARGET_POINTS_RATIO = 1.3
SOURCES = [PROJECT_ROOT / "contracts" / "src", PROJECT_ROOT / "tests" / "fixtures" / "contracts"]


class _Bench:
    """Sends as any account on the bench's own anvil (unlocked dev keys, impersonation for the rest)."""

    def __init__(self, w3: Web3, city: CityContracts, operator: str, topup: str, benefits: str) -> None:
        self.w3, self.city = w3, city
        self.operator, self.topup, self.benefits = operator, topup, benefits
        self._ready: set[str] = set(w3.eth.accounts)  # anvil's unlocked, funded dev accounts

    def rpc(self, method: str, *params: Any) -> Any:
        """A node-control call (anvil_*) over web3's pooled connection."""
        response = self.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
        if "error" in response:
            raise TransactionError(f"{method}: {response['error']}")
        return response.get("result")

    def send(self, call: Call, sender: str) -> TxReceipt:
        """Send ``call`` from ``sender`` and wait for its receipt.

        Raises:
            ContractLogicError: the call reverts (decoded).
            TransactionError: it was mined but failed.
        """
        if sender not in self._ready:
            self.rpc("anvil_impersonateAccount", sender)
            self.rpc("anvil_setBalance", sender, hex(10**20))
            self._ready.add(sender)
        try:
            # anvil estimates the gas, so a revert surfaces here as its decoded custom error
            tx_hash = self.w3.eth.send_transaction(call.as_transaction(sender))  # type: ignore[arg-type]
        except Exception as exc:
            decoded = DECODER.from_exception(exc)
            if decoded is not None:
                raise decoded from None
            raise
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, poll_latency=0.01)
        if receipt["status"] != 1:
            raise TransactionError(f"benchmark transaction reverted: {receipt}")
        return receipt

    def gas(self, call: Call, sender: str) -> int:
        """Receipt ``gasUsed`` of ``call`` sent by ``sender``."""
        return int(self.send(call, sender)["gasUsed"])

    def now(self) -> int:
        """The latest block's timestamp."""
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def resident(self, balance: int = 0, evidence: bytes | None = None) -> tuple[LocalAccount, int]:
        """A fresh resident (ResidentOfCity) with ``balance``; returns it and the attest gas."""
        account: LocalAccount = Account.create()
        registry, coin = self.city.registry, self.city.coin
        attest = registry.attest_call(
            account.address,
            secrets.token_bytes(32),
            AssuranceLevel.RESIDENT_OF_CITY,
            self.now() + YEAR,
            evidence or secrets.token_bytes(32),
        )
        gas = self.gas(attest, self.operator)
        if balance:
            self.send(coin.mint_call(account.address, balance), self.topup)
        return account, gas

    def merchant(self) -> LocalAccount:
        """A fresh registered merchant."""
        account: LocalAccount = Account.create()
        call = self.city.registry.register_merchant_call(
            account.address, secrets.token_bytes(32), self.now() + YEAR, secrets.token_bytes(32)
        )
        self.send(call, self.operator)
        return account


def _calldata_gas(data: bytes) -> int:
    return sum(16 if byte else 4 for byte in data)


def _measure(bench: _Bench, plain: Any) -> dict[str, Any]:
    city, w3 = bench.city, bench.w3
    registry, coin, ledger = city.registry, city.coin, city.ledger
    figures: dict[str, Any] = {}

    # ------------------------------------------------------------------ baseline: plain OZ ERC-20
    holder, warm, cold = list(w3.eth.accounts)[5:8]
    for account in (holder, warm):
        w3.eth.wait_for_transaction_receipt(plain.functions.mint(account, 10**9).transact({"from": holder}))

    def plain_transfer(to: str) -> int:
        tx_hash = plain.functions.transfer(to, 100).transact({"from": holder})
        return int(w3.eth.wait_for_transaction_receipt(tx_hash)["gasUsed"])

    figures["erc20_transfer_warm"] = plain_transfer(warm)
    figures["erc20_transfer_cold"] = plain_transfer(cold)

    # ------------------------------------------------------------------ identity
    alice, figures["attest"] = bench.resident(50_000)
    merchant = bench.merchant()
    figures["coin_transfer_cold"] = bench.gas(coin.transfer_call(merchant.address, 1_000), alice.address)
    figures["coin_transfer_warm"] = bench.gas(coin.transfer_call(merchant.address, 1_000), alice.address)
    renew = registry.renew_call(alice.address, AssuranceLevel.RESIDENT_OF_CITY, bench.now() + 2 * YEAR, keccak(b"r"))
    figures["renew"] = bench.gas(renew, bench.operator)
    leaving, _ = bench.resident(10)
    figures["revoke"] = bench.gas(registry.revoke_call(leaving.address), bench.operator)
    lost, _ = bench.resident(20_000)
    figures["request_recovery"] = bench.gas(
        coin.request_recovery_call(lost.address, Account.create().address, keccak(b"e")), bench.operator)
    bench.rpc("evm_increaseTime", coin.recovery_delay())
    bench.rpc("evm_mine")
    figures["execute_recovery"] = bench.gas(coin.execute_recovery_call(lost.address), bench.operator)
    figures["request_plus_execute_recovery"] = figures["request_recovery"] + figures["execute_recovery"]
    figures["redeem"] = bench.gas(coin.redeem_call(500, keccak(b"payout")), merchant.address)

    # ------------------------------------------------------------------ single transferWithAuthorization
    deadline = bench.now() + 3_600
    key = random_nonce_key()
    first = coin.sign_authorization(alice, merchant.address, 10, nonce=make_nonce(key, 0), valid_before=deadline)
    second = coin.sign_authorization(alice, merchant.address, 10, nonce=make_nonce(key, 1), valid_before=deadline)
    figures["single_transfer_with_authorization_fresh_key"] = bench.gas(
        coin.transfer_with_authorization_call(first), bench.operator
    )
    figures["single_transfer_with_authorization_reused_key"] = bench.gas(
        coin.transfer_with_authorization_call(second), bench.operator
    )

    # ------------------------------------------------------------------ batch relay
    payers = [bench.resident(10_000)[0] for _ in range(max(BATCH_SIZES))]
    for size in BATCH_SIZES:
        group = [(payer, random_nonce_key()) for payer in payers[:size]]
        for mode, sequence in (("fresh_key", 0), ("reused_key", 1)):
            deadline = bench.now() + 3_600
            auths = [
                coin.sign_authorization(
                    payer,
                    merchant.address,
                    100,
                    nonce=make_nonce(k, sequence),
                    valid_before=deadline,
                    ref=secrets.token_bytes(32),
                )
                for payer, k in group
            ]
            receipt = bench.send(coin.batch_call(auths), bench.operator)
            results = coin.batch_outcomes(receipt, auths)
            if not all(r.relayed for r in results):
                skipped = sorted({r.reason.label for r in results if not r.relayed})
                raise TransactionError(f"benchmark batch of {size} skipped items: {', '.join(skipped)}")
            figures[f"batch_per_payment_{mode}_{size}"] = round(int(receipt["gasUsed"]) / size)

    # what `machi-wallet pay` signs (wallet/context.py): key 1, the wallet's next sequence number, kept in the
    # account word. A wallet's first payment is sequence 0; later ones count up.
    for mode, sequence in (("first_payment", 0), ("cli", 1)):
        deadline = bench.now() + 3_600
        signed = [
            coin.sign_authorization(payer, merchant.address, 100, nonce=sequence_nonce(sequence),
                                    valid_before=deadline, ref=secrets.token_bytes(32))
            for payer in payers[:50]
        ]
        receipt = bench.send(coin.batch_call(signed), bench.operator)
        if not all(r.relayed for r in coin.batch_outcomes(receipt, signed)):
            raise TransactionError(f"benchmark batch of the wallet CLI's nonces ({mode}) skipped items")
        figures[f"batch_per_payment_{mode}_50"] = round(int(receipt["gasUsed"]) / 50)

    _measure_points(bench, payers[:50], merchant.address, figures)

    baseline = figures["erc20_transfer_warm"]
    for mode in ("cli", "first_payment", "reused_key", "fresh_key"):
        figures[f"batch50_{mode}_vs_erc20_warm"] = round(figures[f"batch_per_payment_{mode}_50"] / baseline, 3)

    # ------------------------------------------------------------------ ledger
    bench.send(ledger.anchor_call(keccak(b"warm-up"), 1), bench.operator)  # the array's first slot is not typical
    leaf = hash_leaf(["bytes32"], [keccak(b"one event")])
    one = ledger.anchor_call(MerkleTree([leaf]).root, 1)
    many = ledger.anchor_call(keccak(b"a batch of a million events"), 1_000_000)
    figures["anchor_1_leaf"] = bench.gas(one, bench.operator)
    figures["anchor_1000000_leaves"] = bench.gas(many, bench.operator)
    # the two differ only by the calldata of the leaf count's and root's bytes
    execution_one = figures["anchor_1_leaf"] - _calldata_gas(one.data)
    constant = execution_one == figures["anchor_1000000_leaves"] - _calldata_gas(many.data)

    figures["targets"] = {
        "batch50_reused_key_le_1.3x_erc20_warm": figures["batch50_reused_key_vs_erc20_warm"] <= TARGET_BATCH50_RATIO,
        "batch50_fresh_key_le_1.3x_erc20_warm": figures["batch50_fresh_key_vs_erc20_warm"] <= TARGET_BATCH50_RATIO,
        "attest_le_120k": figures["attest"] <= TARGET_ATTEST,
        # issue 14 (a wallet's first payment is key 1's sequence 0: batch_per_payment_first_payment_50;
        # fresh_key_50 is a generic ERC-3009 wallet's random nonce, reported without a target)
        "batch50_cli_le_30000": figures["batch_per_payment_cli_50"] <= TARGET_CLI_50,
        "batch50_first_payment_le_34400": figures["batch_per_payment_first_payment_50"] <= TARGET_FIRST_PAYMENT,
        "attest_le_80k": figures["attest"] <= TARGET_ATTEST_14,
        "anchor_execution_gas_independent_of_leaf_count": constant,
        "points_payment_le_1.3x_plain": figures["points_payment_vs_plain"] <= TARGET_POINTS_RATIO,
    }
    return figures


def _measure_points(bench: _Bench, payers: list[LocalAccount], merchant: str, figures: dict[str, Any]) -> None:
    """Credits, a batch of 50 payments that spend points first (after the plain key-1 batches: sequence 2), and
    the sweep once they expired."""
    coin = bench.city.coin
    expiry = month_of(bench.now()) + 2
    gases = [bench.gas(coin.credit_points_call(payer.address, 50, expiry), bench.benefits) for payer in payers]
    figures["credit_points_first"] = gases[0]  # the fund mints what it lacks; the wallet's first points
    figures["credit_points_again"] = bench.gas(coin.credit_points_call(payers[0].address, 1, expiry), bench.benefits)
    deadline = bench.now() + 3_600
    signed = [coin.sign_authorization(payer, merchant, 100, nonce=sequence_nonce(2), valid_before=deadline,
                                      ref=secrets.token_bytes(32)) for payer in payers]
    receipt = bench.send(coin.batch_call(signed), bench.operator)
    if not all(r.relayed for r in coin.batch_outcomes(receipt, signed)):
        raise TransactionError("benchmark batch of payments that spend points skipped items")
    if coin.points_of(payers[1].address).unexpired != 0:
        raise TransactionError("the points batch did not spend the payers' points")
    figures["batch_per_payment_points_50"] = round(int(receipt["gasUsed"]) / len(payers))
    figures["points_payment_vs_plain"] = round(
        figures["batch_per_payment_points_50"] / figures["batch_per_payment_cli_50"], 3)
    # the sweep: every payer gets points again, they expire, one call gives them all back
    for payer in payers:
        bench.send(coin.credit_points_call(payer.address, 10, month_of(bench.now())), bench.benefits)
    bench.rpc("evm_mine", month_start(month_of(bench.now()) + 1) + 60)
    sweep = bench.gas(coin.sweep_expired_points_call([p.address for p in payers]), bench.operator)
    figures["sweep_per_account_50"] = round(sweep / len(payers))


def run() -> dict[str, Any]:
    """Measure everything on a private in-memory anvil; returns the figures (the runner adds ``bench``)."""
    started = time.perf_counter()
    compiled = compile_contracts(SOURCES)
    node = LocalNode(NodeConfig(port=free_port(), state_dir=None))
    node.start()
    try:
        w3 = connect(node.url)
        deployer, relayer = Account.from_key(DEV_DEPLOYER_KEY), Account.from_key(DEV_RELAYER_KEY)
        topup, benefits = Account.from_key(DEV_TOPUP_MINTER_KEY), Account.from_key(DEV_BENEFITS_MINTER_KEY)
        params = PlanParams(
            currency_name="Kaga Coin",
            currency_symbol="KAGA",
            relayer=relayer.address,
            registrar=relayer.address,  # one operator key calls everything here, as measured before
            freezer=relayer.address,
            recovery=relayer.address,
            topup_minter=topup.address,
            benefits_minter=benefits.address,
            topup_allowance=10**12,
            benefits_allowance=10**10,
        )
        with tempfile.TemporaryDirectory(prefix="machi-bench-") as directory:
            manifest, _ = deploy(
                w3, deployer, compiled, city_plan(), Path(directory), params=plan_params(params, deployer.address)
            )
        city = load_city(w3, manifest, compiled)
        artifact = compiled["PlainToken"]
        factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        receipt = w3.eth.wait_for_transaction_receipt(factory.constructor().transact({"from": deployer.address}))
        plain = w3.eth.contract(address=receipt["contractAddress"], abi=artifact.abi)

        figures = _measure(_Bench(w3, city, relayer.address, topup.address, benefits.address), plain)
        figures["deploy"] = {
            name: int(w3.eth.get_transaction_receipt(entry.tx_hash)["gasUsed"])  # type: ignore[arg-type]
            for name, entry in manifest.contracts.items()
        }
        figures["node"] = "anvil (in memory), evm cancun, solc 0.8.37 optimizer 200 runs"
        figures["seconds"] = round(time.perf_counter() - started, 1)
        return figures
    finally:
        node.stop()

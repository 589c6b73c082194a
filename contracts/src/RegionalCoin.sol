// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {ERC20TransferAuthorization} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20TransferAuthorization.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {NoncesKeyed} from "@openzeppelin/contracts/utils/NoncesKeyed.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ERC4337Utils} from "@openzeppelin/contracts/account/utils/ERC4337Utils.sol";
import {IIdentityRegistry} from "./interfaces/IIdentityRegistry.sol";
import {JstMonth} from "./JstMonth.sol";

/**
 * @title RegionalCoin
 * @notice The city's digital currency: 1 coin = 1 yen (0 decimals). ERC-20 + EIP-2612 permit + ERC-3009
 * (gasless transfers signed by the payer, relayed by the city), with USDC-style separated roles.
 *
 * Every balance change except {executeRecovery} goes through {_update}, which checks both parties against the
 * {IIdentityRegistry} (verified = attested, not revoked, not expired) and this contract's freeze list,
 * the kind-to-kind transfer policy, and the residents' balance cap. Mint is a transfer from kind `None`,
 * burn ({redeem}) a transfer to kind `None`, so the policy also says who may receive mints and redeem.
 *
 * Each account is one storage word ({_accounts}): its coins (bits 0-39), the sequence of its built-in nonce
 * key 1 (bits 40-63), its freeze (bits 102-103) and its points (bits 104-252: the JST month of bucket 0, then
 * seven 19-bit buckets, bucket i = points expiring at the end of month base + i); bits 64-101 (the mirrored
 * identity status, docs/coin-storage.md) and 253-255 are reserved and zero. A payment reads and writes one
 * word per party.
 *
 * Points (top-up premiums, benefits, rewards) are not coins: they are not in {balanceOf}, cannot be sent to
 * a resident or redeemed, and expire. They are backed by the points fund, this contract's own account
 * (`balanceOf(address(this))`; no key can move it): a minter's {creditPoints} reserves fund coins for them
 * (minting what the fund lacks), a resident's payment to a merchant spends points first, earliest expiry
 * first, and the fund pays their part to the payer inside the payment (`Transfer(fund, payer, points)`, then
 * the payment's own `Transfer`), so the merchant receives ordinary coins. {sweepExpiredPoints} gives expired
 * points back to the fund's free coins. Invariants: `totalSupply = Σ balanceOf` (the fund included),
 * reserved = Σ buckets ≤ the fund's coins.
 *
 * ERC-3009 nonces are keyed sequential nonces: a `bytes32` nonce is a 192-bit key followed by a 64-bit
 * sequence number; nonces with different keys are independent, nonces with the same key are used in order.
 * Key 0 is EIP-2612's permit nonce, so ERC-3009 refuses it (a permit and an authorization must never cancel
 * each other out). Key 1 ({SEQUENCE_KEY}) is every wallet's own sequence, kept in its account word: a payment
 * on it writes no extra slot (what `machi-wallet pay` signs). Every other key is OpenZeppelin's
 * {NoncesKeyed} slot (a fresh key costs a fresh 22.1k slot; for authorizations relayed later, such as
 * application fees, which must not hold up the wallet's key-1 payments).
 *
 * Lost-wallet recovery is the only way coins move without their owner's signature, so it is slow, visible
 * and stoppable: the recovery agent {requestRecovery}s (announced by `RecoveryRequested` with its eta), the
 * lost wallet itself (directly or by a relayed signature) or the freezer can {cancelRecovery} until it
 * runs, and from the eta on anyone can {executeRecovery}: the registry re-binds the subject and the whole
 * balance moves, in one transaction. A frozen wallet cannot be recovered unless the freeze says "reported
 * lost".
 */
contract RegionalCoin is ERC20, ERC20Permit, ERC20TransferAuthorization, AccessControl, Pausable {
    using ECDSA for bytes32;

    /// @notice Configures and removes minters and their allowances.
    bytes32 public constant MASTER_MINTER_ROLE = keccak256("MASTER_MINTER_ROLE");
    /// @notice Pauses and unpauses every balance change.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    /// @notice Freezes and unfreezes accounts.
    bytes32 public constant FREEZER_ROLE = keccak256("FREEZER_ROLE");
    /// @notice Requests (delayed, cancellable) lost-wallet recoveries.
    bytes32 public constant RECOVERY_ROLE = keccak256("RECOVERY_ROLE");
    /// @notice Credits points ({creditPoints}), within its minter allowance: one key for premiums, benefits and
    /// rewards alike, so the sender tells no credit from another.
    bytes32 public constant POINTS_ISSUER_ROLE = keccak256("POINTS_ISSUER_ROLE");
    /// @notice Submits batches of signed authorizations ({batchTransferWithAuthorization}).
    bytes32 public constant RELAYER_ROLE = keccak256("RELAYER_ROLE");
    /// @notice The nonce key whose sequence lives in the account word (no extra storage per payment).
    uint192 public constant SEQUENCE_KEY = 1;

    /// @dev Account word layout (see the contract's notice).
    uint256 private constant _COINS = (1 << 40) - 1;
    uint256 private constant _SEQ_SHIFT = 40;
    uint256 private constant _SEQ_MAX = (1 << 24) - 1;
    uint256 private constant _FREEZE_SHIFT = 102;
    uint256 private constant _BASE_SHIFT = 104;
    uint256 private constant _BASE_MAX = (1 << 16) - 1;
    uint256 private constant _BUCKETS_SHIFT = 120;
    uint256 private constant _BUCKET_BITS = 19;
    uint256 private constant _BUCKET_MAX = (1 << 19) - 1;
    /// @notice How many expiry months a wallet holds points for at once (the current one and six more).
    uint256 public constant POINTS_BUCKETS = 7;
    /// @dev The points field (base and buckets, bits 104-252) of an account word.
    uint256 private constant _POINTS_FIELD = ((uint256(1) << 149) - 1) << _BASE_SHIFT;

    /**
     * @notice Why {batchTransferWithAuthorization} skipped an item (`None` = relayed). Stable numeric codes:
     * 0 None, 1 NotYetValid, 2 Expired, 3 InvalidSignature, 4 NonceUsed (used or cancelled),
     * 5 NonceAhead (an earlier nonce of the same key is still unused), 6 SenderNotVerified, 7 SenderFrozen,
     * 8 RecipientNotVerified, 9 RecipientFrozen, 10 TransferNotAllowed (policy), 11 InsufficientBalance,
     * 12 BalanceCapExceeded, 13 NonceKeyZero (key 0 is the permits' nonce), 14 PointsExpired (the payment
     * would need points that expired), 15 PointsNotTransferable (it would need points, and points pay merchants
     * only).
     */
    enum SkipReason {
        None,
        NotYetValid,
        Expired,
        InvalidSignature,
        NonceUsed,
        NonceAhead,
        SenderNotVerified,
        SenderFrozen,
        RecipientNotVerified,
        RecipientFrozen,
        TransferNotAllowed,
        InsufficientBalance,
        BalanceCapExceeded,
        NonceKeyZero,
        PointsExpired,
        PointsNotTransferable
    }

    /// @notice How an account is frozen. `ReportedLost`: frozen because its owner reported it lost, which
    /// (unlike `Frozen`) lets a recovery move it.
    enum FreezeKind {
        None,
        Frozen,
        ReportedLost
    }

    /// @notice A requested recovery: where the balance goes, from when it may run, the successor's evidence.
    struct PendingRecovery {
        address successor;
        uint40 eta;
        bytes32 evidence;
    }

    /**
     * @notice One ERC-3009 `TransferWithAuthorization` signed by `from`, plus an opaque payment reference.
     * @dev `ref` is not signed: it labels a skipped item's `AuthorizationSkipped` (the payment it was).
     */
    struct Authorization {
        address from;
        address to;
        uint256 value;
        uint256 validAfter;
        uint256 validBefore;
        bytes32 nonce;
        uint8 v;
        bytes32 r;
        bytes32 s;
        bytes32 ref;
    }

    /// @dev Policy bitmap (bit `4 * fromKind + toKind`), the residents' caps and the recovery delay, in one slot.
    struct Config {
        uint16 transferPolicy;
        uint64 cardAuthenticatedCap;
        uint64 residentOfCityCap;
        uint40 recoveryDelay;
    }

    bytes32 private constant CANCEL_RECOVERY_TYPEHASH =
        keccak256("CancelRecovery(address lostWallet,address successor,uint256 eta,bytes32 evidence)");

    IIdentityRegistry private immutable _registry;
    Config private _config;
    /// @dev One word per account: coins, key-1 sequence, freeze (layout above). Replaces ERC20's balances.
    mapping(address account => uint256 word) private _accounts;
    /// @dev Replaces ERC20's total supply (its private balances and supply stay unused).
    uint256 private _supply;
    mapping(address lostWallet => PendingRecovery) private _recoveries;
    mapping(address minter => bool) private _minters;
    mapping(address minter => uint256) private _minterAllowances;
    /// @dev Fund coins reserved for unswept points (= Σ every account's buckets, expired ones included).
    uint256 private _pointsReserve;

    /// @notice A minter was configured with a new allowance.
    event MinterConfigured(address indexed minter, uint256 allowance);
    /// @notice A minter was removed (its allowance is gone).
    event MinterRemoved(address indexed minter);
    /// @notice `minter` minted `amount` to `to` (alongside the ERC-20 Transfer from address(0)).
    event Minted(address indexed minter, address indexed to, uint256 amount);
    /// @notice An account can no longer send or receive (`kind` Frozen or ReportedLost).
    event AccountFrozen(address indexed account, FreezeKind kind);
    /// @notice A frozen account can send and receive again.
    event AccountUnfrozen(address indexed account);
    /// @notice A recovery of `lostWallet` to `successor` was requested; it may run from `eta` on.
    event RecoveryRequested(address indexed lostWallet, address indexed successor, uint256 eta);
    /// @notice A requested recovery was cancelled (by the lost wallet or the freezer).
    event RecoveryCancelled(address indexed lostWallet, address indexed successor);
    /// @notice A recovery ran: the subject moved to `successor` with the lost wallet's whole balance.
    event Recovered(address indexed lostWallet, address indexed successor, uint256 amount);
    /// @notice The delay between a recovery request and its execution changed.
    event RecoveryDelaySet(uint256 delay);
    /// @notice An account burnt `amount` coins, to be paid out in yen off chain against `ref`.
    event Redeemed(address indexed merchant, uint256 amount, bytes32 indexed ref);
    /// @notice A batched authorization was skipped; its nonce stays unused. `reason` is a {SkipReason}.
    event AuthorizationSkipped(bytes32 indexed ref, address indexed from, bytes32 nonce, SkipReason reason);
    /// @notice `account` was credited `amount` points that count until `expiresAt` (the first second they no
    /// longer do: the start of the JST month after their expiry month).
    event PointsCredited(address indexed account, uint256 amount, uint256 expiresAt);
    /// @notice `amount` expired points of `account` went back to the fund's free coins.
    event PointsExpired(address indexed account, uint256 amount);
    /// @notice A recovery moved `amount` unexpired points of `lostWallet` to `successor`.
    event PointsRecovered(address indexed lostWallet, address indexed successor, uint256 amount);
    /// @notice The balance cap of residents at `level` changed.
    event BalanceCapSet(IIdentityRegistry.AssuranceLevel indexed level, uint256 cap);
    /// @notice Transfers from `fromKind` to `toKind` were allowed or forbidden.
    event TransferRuleSet(IIdentityRegistry.Kind indexed fromKind, IIdentityRegistry.Kind indexed toKind, bool allowed);

    /// @dev The registry, the admin or a minter is the zero address.
    error RegionalCoinInvalidAddress();
    /// @dev The account is not verified in the registry (no record, revoked or expired).
    error RegionalCoinUnverifiedAccount(address account);
    /// @dev The account is frozen.
    error RegionalCoinFrozenAccount(address account);
    /// @dev The policy forbids transfers between these kinds (`None` stands for mint and burn).
    error RegionalCoinTransferNotAllowed(IIdentityRegistry.Kind fromKind, IIdentityRegistry.Kind toKind);
    /// @dev Receiving `value` would put the resident's `balance` over `cap`.
    error RegionalCoinBalanceCapExceeded(address account, uint256 balance, uint256 value, uint256 cap);
    /// @dev The caller (or the given account) is not a minter.
    error RegionalCoinNotMinter(address account);
    /// @dev The minter's remaining allowance is below the amount.
    error RegionalCoinMinterAllowanceExceeded(address minter, uint256 allowance, uint256 amount);
    /// @dev Balance caps exist for the levels CardAuthenticated and ResidentOfCity only.
    error RegionalCoinInvalidLevel(IIdentityRegistry.AssuranceLevel level);
    /// @dev An ERC-3009 nonce with key 0 (the EIP-2612 permit nonce).
    error RegionalCoinNonceKeyZero();
    /// @dev A recovery of this wallet is already pending.
    error RegionalCoinRecoveryPending(address lostWallet);
    /// @dev No recovery of this wallet is pending.
    error RegionalCoinNoPendingRecovery(address lostWallet);
    /// @dev The recovery may only run from `eta` on.
    error RegionalCoinRecoveryNotDue(address lostWallet, uint256 eta);
    /// @dev Only the lost wallet itself or the freezer cancels a recovery.
    error RegionalCoinRecoveryCancelNotAllowed(address caller);
    /// @dev The cancellation was not signed by the lost wallet.
    error RegionalCoinInvalidSigner(address signer, address lostWallet);
    /// @dev `account` would hold more than 2^40 - 1 coins (the account word's coins field).
    error RegionalCoinAmountTooLarge(address account, uint256 value);
    /// @dev The wallet used all 2^24 - 1 nonces of key 1; it signs with another key from now on.
    error RegionalCoinSequenceExhausted(address account);
    /// @dev Points are credited to residents only.
    error RegionalCoinPointsRecipientNotResident(address account);
    /// @dev A credit's expiry month must be between the current JST month and six months later (the buckets).
    error RegionalCoinPointsExpiryOutOfRange(uint256 expiryMonth, uint256 currentMonth);
    /// @dev A credit of no points.
    error RegionalCoinPointsZeroAmount();
    /// @dev The account's points expiring in `expiryMonth` would exceed 2^19 - 1 (one bucket).
    error RegionalCoinPointsBucketFull(address account, uint256 expiryMonth);
    /// @dev The payment needs `value` but `account` has only `available` coins and unexpired points: the
    /// rest are points that expired.
    error RegionalCoinPointsExpired(address account, uint256 available, uint256 value);
    /// @dev The transfer needs `value` but `account` has only `coins` coins; its points pay merchants only.
    error RegionalCoinPointsNotTransferable(address account, uint256 coins, uint256 value);

    /**
     * @param name ERC-20 name, also the EIP-712 domain name (version "1")
     * @param symbol ERC-20 symbol
     * @param identityRegistry the identity registry every transfer is checked against
     * @param admin receives DEFAULT_ADMIN_ROLE (policy, caps, recovery delay, and granting every other role)
     * @param initialRecoveryDelay seconds between a recovery request and its execution (the city's default: 72 h)
     */
    constructor(
        string memory name,
        string memory symbol,
        IIdentityRegistry identityRegistry,
        address admin,
        uint40 initialRecoveryDelay
    ) ERC20(name, symbol) ERC20Permit(name) {
        if (address(identityRegistry) == address(0) || admin == address(0)) revert RegionalCoinInvalidAddress();
        _registry = identityRegistry;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        // Default policy (bit 4 * from + to; kinds None=0, Resident=1, Merchant=2, City=3):
        // mint to residents; residents, merchants and city accounts pay each other; merchants and
        // city accounts redeem.
        uint16 policy;
        policy |= _bit(IIdentityRegistry.Kind.None, IIdentityRegistry.Kind.Resident);
        for (uint8 from = 1; from <= 3; ++from) {
            for (uint8 to = 1; to <= 3; ++to) {
                policy |= _bit(IIdentityRegistry.Kind(from), IIdentityRegistry.Kind(to));
            }
        }
        policy |= _bit(IIdentityRegistry.Kind.Merchant, IIdentityRegistry.Kind.None);
        policy |= _bit(IIdentityRegistry.Kind.City, IIdentityRegistry.Kind.None);
        _config = Config({
            transferPolicy: policy,
            cardAuthenticatedCap: 100_000,
            residentOfCityCap: 2_000_000,
            recoveryDelay: initialRecoveryDelay
        });
        emit RecoveryDelaySet(initialRecoveryDelay);
    }

    // ---------------------------------------------------------------- ERC-20

    /// @notice 0: one coin is one yen.
    function decimals() public pure override returns (uint8) {
        return 0;
    }

    /// @notice The account's coins (the low 40 bits of its account word).
    function balanceOf(address account) public view override returns (uint256) {
        return _accounts[account] & _COINS;
    }

    /// @notice All coins in existence (minted minus burnt).
    function totalSupply() public view override returns (uint256) {
        return _supply;
    }

    /// @notice The identity registry every transfer is checked against.
    function registry() external view returns (IIdentityRegistry) {
        return _registry;
    }

    // ---------------------------------------------------------------- batch relay

    /**
     * @notice Executes many ERC-3009 `transferWithAuthorization`s in one call. An invalid item never
     * reverts the batch: it is skipped, its nonce stays unused, and `AuthorizationSkipped(ref, from,
     * nonce, reason)` reports why. A valid item emits ERC-3009's `AuthorizationUsed(from, nonce)` and ERC-20's
     * `Transfer`, nothing more (the pair says everything about it; its `ref` is the relayer's own label, kept in
     * its records). Items run in order, each against the state left by the previous ones.
     * @dev RELAYER_ROLE; reverts as a whole only when paused or called by another account. Signatures are
     * the ERC-3009 `TransferWithAuthorization` EIP-712 signatures (ECDSA, EOAs), exactly as for
     * {transferWithAuthorization}.
     * @param authorizations the signed authorizations with their payment references
     * @return reasons one {SkipReason} per item (`None` = relayed), handy with `eth_call` to pre-screen
     */
    function batchTransferWithAuthorization(
        Authorization[] calldata authorizations
    ) external onlyRole(RELAYER_ROLE) whenNotPaused returns (SkipReason[] memory reasons) {
        uint256 count = authorizations.length;
        reasons = new SkipReason[](count);
        uint256 month; // the JST month, computed once by the first item that needs it (0: not yet)
        for (uint256 i = 0; i < count; ++i) {
            Authorization calldata auth = authorizations[i];
            SkipReason reason;
            (reason, month) = _tryTransferWithAuthorization(auth, month);
            if (reason != SkipReason.None) {
                reasons[i] = reason;
                emit AuthorizationSkipped(auth.ref, auth.from, auth.nonce, reason);
            }
        }
    }

    // ---------------------------------------------------------------- minting

    /**
     * @notice Makes `minter` a minter with `allowance` coins left to mint (replaces the previous allowance).
     * @dev MASTER_MINTER_ROLE. Top-ups and benefits are separate minters, each with its own budget.
     */
    function configureMinter(address minter, uint256 allowance) external onlyRole(MASTER_MINTER_ROLE) {
        if (minter == address(0)) revert RegionalCoinInvalidAddress();
        _minters[minter] = true;
        _minterAllowances[minter] = allowance;
        emit MinterConfigured(minter, allowance);
    }

    /// @notice Removes a minter and its allowance.
    /// @dev MASTER_MINTER_ROLE.
    function removeMinter(address minter) external onlyRole(MASTER_MINTER_ROLE) {
        if (!_minters[minter]) revert RegionalCoinNotMinter(minter);
        delete _minters[minter];
        delete _minterAllowances[minter];
        emit MinterRemoved(minter);
    }

    /**
     * @notice Mints `amount` to `to` out of the caller's minter allowance.
     * @dev Minters only. Subject to every {_update} check (mint counts as a transfer from kind `None`).
     */
    function mint(address to, uint256 amount) external {
        address minter = _msgSender();
        if (!_minters[minter]) revert RegionalCoinNotMinter(minter);
        _useMinterAllowance(minter, amount);
        _mint(to, amount);
        emit Minted(minter, to, amount);
    }

    /// @notice Whether `account` is a minter.
    function isMinter(address account) external view returns (bool) {
        return _minters[account];
    }

    /// @notice How many coins `minter` may still mint.
    function minterAllowance(address minter) external view returns (uint256) {
        return _minterAllowances[minter];
    }

    // ---------------------------------------------------------------- points

    /**
     * @notice Credits `amount` points to resident `to`, expiring at the end of JST month `expiryMonth`
     * (`JstMonth` numbering; `protocol.points.expiry_month` gives the default 180-day rule). The fund reserves
     * `amount` of its free coins and mints what it lacks; the whole amount counts against the caller's minter
     * allowance (the points budget). Premiums, benefits and rewards all take this path and emit the same
     * events (`PointsCredited`, plus `Transfer(0, fund)` and `Minted` when the fund mints).
     * @dev POINTS_ISSUER_ROLE and a minter, not while paused. `to` must be a verified, unfrozen resident;
     * `expiryMonth` between the current month and six months later. Credits first sweep `to`'s expired points
     * (`PointsExpired`).
     */
    function creditPoints(
        address to,
        uint256 amount,
        uint256 expiryMonth
    ) external onlyRole(POINTS_ISSUER_ROLE) whenNotPaused {
        address minter = _msgSender();
        if (!_minters[minter]) revert RegionalCoinNotMinter(minter);
        if (amount == 0) revert RegionalCoinPointsZeroAmount();
        uint256 month = JstMonth.monthOf(block.timestamp);
        if (expiryMonth < month || expiryMonth >= month + POINTS_BUCKETS) {
            revert RegionalCoinPointsExpiryOutOfRange(expiryMonth, month);
        }
        _requirePointsRecipient(to);
        _useMinterAllowance(minter, amount);

        (uint256 word, uint256 expired) = _sweep(to, _accounts[to], month);
        uint256 shift = _BUCKETS_SHIFT + (expiryMonth - month) * _BUCKET_BITS;
        if (((word >> shift) & _BUCKET_MAX) + amount > _BUCKET_MAX) revert RegionalCoinPointsBucketFull(to, expiryMonth);
        _accounts[to] = word + (amount << shift);

        uint256 reserve = _pointsReserve - expired; // the recipient's expired points are free again
        uint256 free = balanceOf(address(this)) - reserve;
        if (amount > free) {
            _move(address(0), address(this), amount - free, 0, 0);
            emit Minted(minter, address(this), amount - free);
        }
        _pointsReserve = reserve + amount;
        emit PointsCredited(to, amount, JstMonth.start(expiryMonth + 1));
    }

    /**
     * @notice Gives every expired point of `accounts` back to the fund's free coins (`PointsExpired` per
     * account that had some). Idempotent: an account without expired points is neither written nor reported.
     * @dev Anyone, not while paused (the worker `machi points sweep` batches them).
     * @return swept the expired points moved back, all accounts together
     */
    function sweepExpiredPoints(address[] calldata accounts) external whenNotPaused returns (uint256 swept) {
        uint256 month = JstMonth.monthOf(block.timestamp);
        for (uint256 i = 0; i < accounts.length; ++i) {
            address account = accounts[i];
            uint256 word = _accounts[account];
            (, uint256 expired) = _points(word, month);
            if (expired == 0) continue;
            (_accounts[account], ) = _sweep(account, word, month);
            swept += expired;
        }
        if (swept != 0) _pointsReserve -= swept;
    }

    /**
     * @notice `account`'s points: `unexpired` may be spent at merchants; `expired` await the sweep; the
     * earliest unexpired ones (`nextAmount`) stop counting at `nextExpiry` (0: no unexpired points).
     */
    function pointsOf(
        address account
    ) external view returns (uint256 unexpired, uint256 expired, uint256 nextExpiry, uint256 nextAmount) {
        uint256 word = _accounts[account];
        uint256 month = JstMonth.monthOf(block.timestamp);
        (unexpired, expired) = _points(word, month);
        if (unexpired == 0) return (unexpired, expired, 0, 0);
        uint256 base = (word >> _BASE_SHIFT) & _BASE_MAX;
        for (uint256 i = month > base ? month - base : 0; i < POINTS_BUCKETS; ++i) {
            nextAmount = (word >> (_BUCKETS_SHIFT + i * _BUCKET_BITS)) & _BUCKET_MAX;
            if (nextAmount != 0) return (unexpired, expired, JstMonth.start(base + i + 1), nextAmount);
        }
    }

    /// @notice The points fund (this contract's account): its coins and how many of them back points.
    function pointsFund() external view returns (address fund, uint256 coins, uint256 reserved) {
        return (address(this), balanceOf(address(this)), _pointsReserve);
    }

    // ---------------------------------------------------------------- redemption and recovery

    /**
     * @notice Burns `amount` of the caller's coins, to be paid out in yen off chain; `ref` links the payout.
     * @dev Allowed for the kinds the policy lets send to `None` (by default merchants and city accounts).
     */
    function redeem(uint256 amount, bytes32 ref) external {
        address account = _msgSender();
        _burn(account, amount);
        emit Redeemed(account, amount, ref);
    }

    /**
     * @notice Starts the recovery of `lostWallet` to `successor`: announced now, executable from
     * `now + recoveryDelay` on, cancellable until it runs by the lost wallet or the freezer.
     * @dev RECOVERY_ROLE. Refused while a recovery of the wallet is pending, while it is frozen (unless the
     * freeze says `ReportedLost`), and when the registry could not re-bind it to `successor` now.
     * @param evidence the successor's evidence commitment (the card check for the new wallet)
     * @return eta the first second at which {executeRecovery} may run
     */
    function requestRecovery(
        address lostWallet,
        address successor,
        bytes32 evidence
    ) external onlyRole(RECOVERY_ROLE) returns (uint256 eta) {
        if (_recoveries[lostWallet].eta != 0) revert RegionalCoinRecoveryPending(lostWallet);
        _requireRecoverable(lostWallet);
        _registry.checkRebind(lostWallet, successor);
        eta = block.timestamp + _config.recoveryDelay;
        _recoveries[lostWallet] = PendingRecovery(successor, uint40(eta), evidence);
        emit RecoveryRequested(lostWallet, successor, eta);
    }

    /**
     * @notice Cancels the pending recovery of `lostWallet`.
     * @dev The lost wallet itself or FREEZER_ROLE, any time before it ran.
     */
    function cancelRecovery(address lostWallet) external {
        address caller = _msgSender();
        if (caller != lostWallet && !hasRole(FREEZER_ROLE, caller)) revert RegionalCoinRecoveryCancelNotAllowed(caller);
        _cancelRecovery(lostWallet);
    }

    /**
     * @notice Cancels the pending recovery of `lostWallet` with the lost wallet's EIP-712 signature over
     * `CancelRecovery(address lostWallet,address successor,uint256 eta,bytes32 evidence)` (relayed: the owner
     * holds no gas).
     * @dev Anyone may submit it; the signature names the request (successor, eta and the fresh evidence
     * commitment of its card check), so it cancels that request only.
     */
    function cancelRecoveryWithSignature(address lostWallet, uint8 v, bytes32 r, bytes32 s) external {
        PendingRecovery memory pending = _recoveries[lostWallet];
        bytes32 digest = _hashTypedDataV4(
            keccak256(
                abi.encode(
                    CANCEL_RECOVERY_TYPEHASH,
                    lostWallet,
                    pending.successor,
                    uint256(pending.eta),
                    pending.evidence
                )
            )
        );
        address signer = digest.recover(v, r, s);
        if (signer != lostWallet) revert RegionalCoinInvalidSigner(signer, lostWallet);
        _cancelRecovery(lostWallet);
    }

    /**
     * @notice Runs a due recovery: the registry re-binds the subject of `lostWallet` to the successor
     * (the lost wallet is retired) and the whole balance moves there, in one transaction: its coins and its
     * unexpired points with their expiry months (`PointsRecovered`; expired ones go back to the fund).
     * @dev Anyone, from the eta on, not while paused, not while the lost wallet is frozen (unless
     * `ReportedLost`). The lost wallet's own checks (revoked, policy) are waived; the successor must be
     * verified, not frozen and stay within its cap, else the whole recovery reverts and stays pending.
     * @return successor the receiving wallet
     * @return amount the balance moved (may be 0)
     */
    function executeRecovery(address lostWallet) external whenNotPaused returns (address successor, uint256 amount) {
        PendingRecovery memory pending = _recoveries[lostWallet];
        if (pending.eta == 0) revert RegionalCoinNoPendingRecovery(lostWallet);
        if (block.timestamp < pending.eta) revert RegionalCoinRecoveryNotDue(lostWallet, pending.eta);
        _requireRecoverable(lostWallet);
        delete _recoveries[lostWallet];
        successor = pending.successor;
        _registry.rebind(lostWallet, successor, pending.evidence);
        amount = balanceOf(lostWallet);
        (SkipReason reason, IIdentityRegistry.Kind kind, IIdentityRegistry.AssuranceLevel level) = _screenAccount(
            successor,
            false
        );
        if (reason == SkipReason.None && kind == IIdentityRegistry.Kind.Resident) {
            if (_capExceeded(_config, level, successor, amount)) reason = SkipReason.BalanceCapExceeded;
        }
        if (reason != SkipReason.None) _revertTransfer(reason, lostWallet, successor, amount);
        _move(lostWallet, successor, amount, 0, 0);
        if (_accounts[lostWallet] >> _BUCKETS_SHIFT != 0) _recoverPoints(lostWallet, successor);
        emit Recovered(lostWallet, successor, amount);
    }

    /// @notice The pending recovery of `lostWallet` (eta 0: none).
    function pendingRecovery(address lostWallet) external view returns (PendingRecovery memory) {
        return _recoveries[lostWallet];
    }

    /// @notice Seconds between a recovery request and its execution.
    function recoveryDelay() external view returns (uint256) {
        return _config.recoveryDelay;
    }

    /// @notice Sets the delay for recoveries requested from now on (pending ones keep their eta).
    /// @dev DEFAULT_ADMIN_ROLE.
    function setRecoveryDelay(uint40 delay) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _config.recoveryDelay = delay;
        emit RecoveryDelaySet(delay);
    }

    // ---------------------------------------------------------------- freeze and pause

    /// @notice Blocks `account` from sending and receiving (and from being recovered).
    /// @dev FREEZER_ROLE.
    function freeze(address account) external onlyRole(FREEZER_ROLE) {
        _freeze(account, FreezeKind.Frozen);
    }

    /// @notice Freezes `account` because its owner reported it lost: it can neither send nor receive, but a
    /// recovery may move it.
    /// @dev FREEZER_ROLE.
    function freezeAsLost(address account) external onlyRole(FREEZER_ROLE) {
        _freeze(account, FreezeKind.ReportedLost);
    }

    /// @notice Lets a frozen `account` send and receive again.
    /// @dev FREEZER_ROLE.
    function unfreeze(address account) external onlyRole(FREEZER_ROLE) {
        _setFreeze(account, FreezeKind.None);
        emit AccountUnfrozen(account);
    }

    /// @notice Whether `account` is frozen (either kind).
    function isFrozen(address account) external view returns (bool) {
        return _frozenAs(_accounts[account]) != FreezeKind.None;
    }

    /// @notice How `account` is frozen.
    function freezeKindOf(address account) external view returns (FreezeKind) {
        return _frozenAs(_accounts[account]);
    }

    /// @notice Stops every balance change (transfers, mints, redemptions, relays, recovery executions).
    /// @dev PAUSER_ROLE.
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @notice Resumes balance changes.
    /// @dev PAUSER_ROLE.
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    // ---------------------------------------------------------------- policy and caps

    /**
     * @notice Allows or forbids transfers from `fromKind` to `toKind`. Kind `None` stands for mint (as
     * `fromKind`) and burn/redeem (as `toKind`).
     * @dev DEFAULT_ADMIN_ROLE.
     */
    function setTransferRule(
        IIdentityRegistry.Kind fromKind,
        IIdentityRegistry.Kind toKind,
        bool allowed
    ) external onlyRole(DEFAULT_ADMIN_ROLE) {
        uint16 bit = _bit(fromKind, toKind);
        uint16 policy = _config.transferPolicy;
        _config.transferPolicy = allowed ? policy | bit : policy & ~bit;
        emit TransferRuleSet(fromKind, toKind, allowed);
    }

    /// @notice Whether the policy allows transfers from `fromKind` to `toKind`.
    function isTransferAllowed(IIdentityRegistry.Kind fromKind, IIdentityRegistry.Kind toKind) external view returns (bool) {
        return _config.transferPolicy & _bit(fromKind, toKind) != 0;
    }

    /// @notice The whole policy as a bitmap: bit `4 * fromKind + toKind` set = allowed.
    function transferPolicy() external view returns (uint16) {
        return _config.transferPolicy;
    }

    /**
     * @notice Sets the most a resident at `level` may hold (defaults: 100,000 CardAuthenticated,
     * 2,000,000 ResidentOfCity). Lowering a cap never takes coins away; it only blocks receiving. A cap above
     * 2^40 - 1 (what an account word holds) is set to 2^40 - 1.
     * @dev DEFAULT_ADMIN_ROLE. Merchants and city accounts are uncapped (bounded by the account word alone).
     */
    function setBalanceCap(IIdentityRegistry.AssuranceLevel level, uint64 cap) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (cap > _COINS) cap = uint64(_COINS); // no account holds more (the account word's coins field)
        if (level == IIdentityRegistry.AssuranceLevel.CardAuthenticated) {
            _config.cardAuthenticatedCap = cap;
        } else if (level == IIdentityRegistry.AssuranceLevel.ResidentOfCity) {
            _config.residentOfCityCap = cap;
        } else {
            revert RegionalCoinInvalidLevel(level);
        }
        emit BalanceCapSet(level, cap);
    }

    /// @notice The most a resident at `level` may hold (0 for level None).
    function balanceCap(IIdentityRegistry.AssuranceLevel level) external view returns (uint256) {
        return _cap(_config, level);
    }

    // ---------------------------------------------------------------- hooks and overrides

    /**
     * @dev The single transfer hook (transfer, transferFrom, ERC-3009, mint, redeem): not paused, then
     * {_screen}; reverts with the custom error matching the first failed check.
     */
    function _update(address from, address to, uint256 value) internal override {
        _requireNotPaused();
        (SkipReason reason, uint256 points, uint256 month) = _screen(from, to, value, 0);
        if (reason != SkipReason.None) _revertTransfer(reason, from, to, value);
        _move(from, to, value, points, month);
    }

    /**
     * @notice ERC-20 `transferFrom`; a frozen spender cannot use its allowances either.
     * @dev The parties are checked by {_update}.
     */
    function transferFrom(address from, address to, uint256 value) public override returns (bool) {
        address spender = _msgSender();
        if (_frozenAs(_accounts[spender]) != FreezeKind.None) revert RegionalCoinFrozenAccount(spender);
        return super.transferFrom(from, to, value);
    }

    /// @inheritdoc ERC20Permit
    function nonces(address owner) public view override(ERC20Permit, Nonces) returns (uint256) {
        return super.nonces(owner);
    }

    /// @notice The next nonce of `key` for `owner` (key in the high 192 bits); key 1 reads the account word.
    function nonces(address owner, uint192 key) public view override returns (uint256) {
        if (key == SEQUENCE_KEY) return (uint256(SEQUENCE_KEY) << 64) | _sequence(_accounts[owner]);
        return super.nonces(owner, key);
    }

    /// @dev ERC-3009 nonces are keyed; key 0 is the permit's sequential nonce, refused here (every ERC-3009
    /// path, cancellation included, consumes through this function; permits do not). Key 1 is the sequence
    /// in the account word; other keys are {NoncesKeyed}'s.
    function _useCheckedNonce(address owner, uint256 keyNonce) internal override(Nonces, NoncesKeyed) {
        uint256 key = keyNonce >> 64;
        if (key == 0) revert RegionalCoinNonceKeyZero();
        if (key != SEQUENCE_KEY) return super._useCheckedNonce(owner, keyNonce);
        uint256 word = _accounts[owner];
        uint256 current = _sequence(word);
        if (uint64(keyNonce) != current) revert InvalidAccountNonce(owner, (uint256(SEQUENCE_KEY) << 64) | current);
        if (current == _SEQ_MAX) revert RegionalCoinSequenceExhausted(owner);
        unchecked {
            _accounts[owner] = word + (1 << _SEQ_SHIFT);
        }
    }

    // ---------------------------------------------------------------- private

    /// @dev Runs one batched authorization; returns why it was skipped, or `None` after executing it, and the
    /// JST month (`month` as given, or computed if the item needed it).
    function _tryTransferWithAuthorization(
        Authorization calldata auth,
        uint256 month
    ) private returns (SkipReason reason, uint256) {
        reason = _checkAuthorization(auth);
        if (reason != SkipReason.None) return (reason, month);
        (address from, address to, uint256 value, bytes32 nonce) = (auth.from, auth.to, auth.value, auth.nonce);

        uint192 key = uint192(uint256(nonce) >> 64);
        if (key == 0) return (SkipReason.NonceKeyZero, month);
        uint64 sequence = uint64(uint256(nonce));
        uint64 next = uint64(nonces(from, key));
        if (sequence != next) return (sequence < next ? SkipReason.NonceUsed : SkipReason.NonceAhead, month);
        // key 1's last number cannot be used (the sequence field is full): skipped, not fatal to the batch
        if (key == SEQUENCE_KEY && sequence == _SEQ_MAX) return (SkipReason.NonceUsed, month);

        // address(0) would make _screen see a burn; the single-call path rejects it in ERC20._transfer.
        if (to == address(0)) return (SkipReason.RecipientNotVerified, month);
        uint256 points;
        (reason, points, month) = _screen(from, to, value, month);
        if (reason != SkipReason.None) return (reason, month);

        _consumeNonce(from, nonce);
        emit AuthorizationUsed(from, nonce);
        _move(from, to, value, points, month); // checks done by _screen just above
        return (SkipReason.None, month);
    }

    /// @dev An authorization's validity window (the same dual clock as ERC3009._checkValidity) and signature.
    function _checkAuthorization(Authorization calldata auth) private view returns (SkipReason) {
        (uint256 validAfter, uint256 validBefore) = (auth.validAfter, auth.validBefore);
        uint256 flag = validAfter & validBefore & ERC4337Utils.BLOCK_RANGE_FLAG;
        uint256 current = flag == 0 ? block.timestamp : block.number;
        if (current <= validAfter & ~flag) return SkipReason.NotYetValid;
        if (current >= validBefore & ~flag) return SkipReason.Expired;
        bytes32 digest = _hashTypedDataV4(
            keccak256(
                abi.encode(
                    TRANSFER_WITH_AUTHORIZATION_TYPEHASH,
                    auth.from,
                    auth.to,
                    auth.value,
                    validAfter,
                    validBefore,
                    auth.nonce
                )
            )
        );
        (address signer, ECDSA.RecoverError recoverError, ) = digest.tryRecover(auth.v, auth.r, auth.s);
        if (recoverError != ECDSA.RecoverError.NoError || signer != auth.from) return SkipReason.InvalidSignature;
        return SkipReason.None;
    }

    /**
     * @dev Every transfer rule except pause, as a {SkipReason} (`None` = allowed), and how many of the
     * sender's points pay (a resident paying a merchant: points first, up to `value`; nobody else spends
     * points). `from == 0` is a mint, `to == 0` a burn. Order: sender verified, sender not frozen, recipient
     * verified, recipient not frozen, policy, balance (coins and points), recipient's cap. Costs one registry
     * call and one account-word read per party. `month`: the current JST month if known (0: not yet; computed
     * only for a sender with points), returned as used.
     */
    function _screen(
        address from,
        address to,
        uint256 value,
        uint256 month
    ) private view returns (SkipReason reason, uint256 points, uint256) {
        IIdentityRegistry.Kind fromKind;
        IIdentityRegistry.Kind toKind;
        IIdentityRegistry.AssuranceLevel toLevel;
        if (from != address(0)) {
            (reason, fromKind, ) = _screenAccount(from, true);
            if (reason != SkipReason.None) return (reason, 0, month);
        }
        if (to != address(0)) {
            (reason, toKind, toLevel) = _screenAccount(to, false);
            if (reason != SkipReason.None) return (reason, 0, month);
        }
        Config memory config = _config;
        if (config.transferPolicy & _bit(fromKind, toKind) == 0) return (SkipReason.TransferNotAllowed, 0, month);
        if (from != address(0)) {
            (reason, points, month) = _screenBalance(from, fromKind == IIdentityRegistry.Kind.Resident,
                toKind == IIdentityRegistry.Kind.Merchant, value, month);
            if (reason != SkipReason.None) return (reason, 0, month);
        }
        if (to != address(0) && from != to) {
            if (toKind == IIdentityRegistry.Kind.Resident ? _capExceeded(config, toLevel, to, value) : value > _COINS - balanceOf(to)) {
                return (SkipReason.BalanceCapExceeded, 0, month); // an uncapped account is still bounded by the word's coins field
            }
        }
        return (SkipReason.None, points, month);
    }

    /**
     * @dev Whether `from` can pay `value`, and with how many points: a resident paying a merchant spends its
     * unexpired points first, then coins; every other transfer is coins only. Short of coins, the reason says
     * whether points would have covered it (`PointsNotTransferable`: not to this recipient; `PointsExpired`).
     */
    function _screenBalance(
        address from,
        bool resident,
        bool toMerchant,
        uint256 value,
        uint256 month
    ) private view returns (SkipReason reason, uint256 points, uint256) {
        uint256 word = _accounts[from];
        uint256 coins = word & _COINS;
        if (word >> _BUCKETS_SHIFT == 0) {
            return (coins < value ? SkipReason.InsufficientBalance : SkipReason.None, 0, month);
        }
        if (month == 0) month = JstMonth.monthOf(block.timestamp);
        (uint256 unexpired, uint256 expired) = _points(word, month);
        if (resident && toMerchant) {
            points = unexpired < value ? unexpired : value;
            if (coins >= value - points) return (SkipReason.None, points, month);
            reason = coins + unexpired + expired >= value ? SkipReason.PointsExpired : SkipReason.InsufficientBalance;
            return (reason, 0, month);
        }
        if (coins >= value) return (SkipReason.None, 0, month);
        reason = coins + unexpired + expired >= value ? SkipReason.PointsNotTransferable : SkipReason.InsufficientBalance;
        return (reason, 0, month);
    }

    function _screenAccount(
        address account,
        bool sender
    ) private view returns (SkipReason reason, IIdentityRegistry.Kind kind, IIdentityRegistry.AssuranceLevel level) {
        bool verified;
        (kind, level, verified) = _registry.status(account);
        if (!verified) {
            reason = sender ? SkipReason.SenderNotVerified : SkipReason.RecipientNotVerified;
        } else if (_frozenAs(_accounts[account]) != FreezeKind.None) {
            reason = sender ? SkipReason.SenderFrozen : SkipReason.RecipientFrozen;
        }
    }

    function _freeze(address account, FreezeKind kind) private {
        _setFreeze(account, kind);
        emit AccountFrozen(account, kind);
    }

    function _setFreeze(address account, FreezeKind kind) private {
        uint256 word = _accounts[account] & ~(uint256(3) << _FREEZE_SHIFT);
        _accounts[account] = word | (uint256(kind) << _FREEZE_SHIFT);
    }

    /**
     * @dev Moves `value` coins (checks done by the caller): `from == 0` mints, `to == 0` burns. `points` of
     * them are `from`'s points, paid by the fund (`Transfer(fund, from, points)` first); `month` is the current
     * JST month (known whenever `points` is not zero). The one writer of
     * balances and supply; emits the ERC-20 `Transfer`s.
     */
    function _move(address from, address to, uint256 value, uint256 points, uint256 month) private {
        if (points != 0) {
            unchecked {
                _accounts[address(this)] -= points; // reserved for these points: reserve <= the fund's coins
                _pointsReserve -= points;
            }
            emit Transfer(address(this), from, points);
        }
        if (from == address(0)) {
            _supply += value;
        } else {
            uint256 word = points == 0 ? _accounts[from] : _spendPoints(_accounts[from], points, month);
            uint256 coins = value - points;
            if (word & _COINS < coins) revert ERC20InsufficientBalance(from, word & _COINS, coins);
            unchecked {
                _accounts[from] = word - coins;
            }
        }
        if (to == address(0)) {
            unchecked {
                _supply -= value; // value <= the sender's coins <= supply
            }
        } else {
            uint256 word = _accounts[to];
            if (value > _COINS - (word & _COINS)) revert RegionalCoinAmountTooLarge(to, value);
            unchecked {
                _accounts[to] = word + value;
            }
        }
        emit Transfer(from, to, value);
    }

    function _useMinterAllowance(address minter, uint256 amount) private {
        uint256 allowance = _minterAllowances[minter];
        if (amount > allowance) revert RegionalCoinMinterAllowanceExceeded(minter, allowance, amount);
        unchecked {
            _minterAllowances[minter] = allowance - amount;
        }
    }

    /// @dev Points go to verified, unfrozen residents only.
    function _requirePointsRecipient(address to) private view {
        (IIdentityRegistry.Kind kind, , bool verified) = _registry.status(to);
        if (!verified) revert RegionalCoinUnverifiedAccount(to);
        if (_frozenAs(_accounts[to]) != FreezeKind.None) revert RegionalCoinFrozenAccount(to);
        if (kind != IIdentityRegistry.Kind.Resident) revert RegionalCoinPointsRecipientNotResident(to);
    }

    /// @dev `word`'s points in JST month `month`: unexpired (buckets of `month` and later) and expired ones.
    function _points(uint256 word, uint256 month) private pure returns (uint256 unexpired, uint256 expired) {
        uint256 buckets = word >> _BUCKETS_SHIFT;
        if (buckets == 0) return (0, 0);
        uint256 base = (word >> _BASE_SHIFT) & _BASE_MAX;
        uint256 live = month > base ? month - base : 0; // index of the first unexpired bucket
        for (uint256 i = 0; i < POINTS_BUCKETS; ++i) {
            uint256 amount = (buckets >> (i * _BUCKET_BITS)) & _BUCKET_MAX;
            if (i < live) expired += amount;
            else unexpired += amount;
        }
    }

    /**
     * @dev `word` with its bucket 0 moved to `month` (the expired buckets dropped, `PointsExpired` for them);
     * the caller lowers the reserve by `expired`. The base only moves forward.
     */
    function _sweep(address account, uint256 word, uint256 month) private returns (uint256, uint256 expired) {
        uint256 buckets = word >> _BUCKETS_SHIFT;
        uint256 base = (word >> _BASE_SHIFT) & _BASE_MAX;
        if (buckets != 0 && base >= month) return (word, 0);
        if (buckets != 0) {
            uint256 gone = month - base;
            (, expired) = _points(word, month);
            buckets = gone >= POINTS_BUCKETS ? 0 : buckets >> (gone * _BUCKET_BITS);
            if (expired != 0) emit PointsExpired(account, expired);
        }
        return ((word & ~_POINTS_FIELD) | (month << _BASE_SHIFT) | (buckets << _BUCKETS_SHIFT), expired);
    }

    /// @dev `word` less `amount` unexpired points, earliest expiry first (the caller checked there are enough).
    function _spendPoints(uint256 word, uint256 amount, uint256 month) private pure returns (uint256) {
        uint256 base = (word >> _BASE_SHIFT) & _BASE_MAX;
        for (uint256 i = month > base ? month - base : 0; amount != 0 && i < POINTS_BUCKETS; ++i) {
            uint256 shift = _BUCKETS_SHIFT + i * _BUCKET_BITS;
            uint256 bucket = (word >> shift) & _BUCKET_MAX;
            uint256 take = bucket < amount ? bucket : amount;
            word -= take << shift;
            amount -= take;
        }
        return word;
    }

    function _sequence(uint256 word) private pure returns (uint256) {
        return (word >> _SEQ_SHIFT) & _SEQ_MAX;
    }

    function _frozenAs(uint256 word) private pure returns (FreezeKind) {
        return FreezeKind((word >> _FREEZE_SHIFT) & 3);
    }

    /// @dev A recovery may neither be requested nor run while the lost wallet is frozen, unless reported lost.
    function _requireRecoverable(address lostWallet) private view {
        if (_frozenAs(_accounts[lostWallet]) == FreezeKind.Frozen) revert RegionalCoinFrozenAccount(lostWallet);
    }

    /// @dev Adds `lostWallet`'s unexpired points to `successor`'s buckets of the same months (both swept
    /// first); a bucket that would overflow reverts the recovery, which stays pending.
    function _recoverPoints(address lostWallet, address successor) private {
        uint256 month = JstMonth.monthOf(block.timestamp);
        (uint256 lost, uint256 expiredLost) = _sweep(lostWallet, _accounts[lostWallet], month);
        (uint256 kept, uint256 expiredKept) = _sweep(successor, _accounts[successor], month);
        if (expiredLost + expiredKept != 0) _pointsReserve -= expiredLost + expiredKept;
        uint256 moved;
        for (uint256 i = 0; i < POINTS_BUCKETS; ++i) {
            uint256 shift = _BUCKETS_SHIFT + i * _BUCKET_BITS;
            uint256 amount = (lost >> shift) & _BUCKET_MAX;
            if (amount == 0) continue;
            if (((kept >> shift) & _BUCKET_MAX) + amount > _BUCKET_MAX) {
                revert RegionalCoinPointsBucketFull(successor, month + i);
            }
            kept += amount << shift;
            moved += amount;
        }
        _accounts[lostWallet] = lost & ~(((uint256(1) << (_BUCKET_BITS * POINTS_BUCKETS)) - 1) << _BUCKETS_SHIFT);
        _accounts[successor] = kept;
        if (moved != 0) emit PointsRecovered(lostWallet, successor, moved);
    }

    function _cancelRecovery(address lostWallet) private {
        PendingRecovery memory pending = _recoveries[lostWallet];
        if (pending.eta == 0) revert RegionalCoinNoPendingRecovery(lostWallet);
        delete _recoveries[lostWallet];
        emit RecoveryCancelled(lostWallet, pending.successor);
    }

    function _capExceeded(
        Config memory config,
        IIdentityRegistry.AssuranceLevel level,
        address account,
        uint256 value
    ) private view returns (bool) {
        uint256 cap = _cap(config, level);
        uint256 balance = balanceOf(account);
        return balance > cap || value > cap - balance;
    }

    /// @dev Turns a failed {_screen} into its custom error (only runs on the failure path).
    function _revertTransfer(SkipReason reason, address from, address to, uint256 value) private view {
        if (reason == SkipReason.SenderNotVerified) revert RegionalCoinUnverifiedAccount(from);
        if (reason == SkipReason.SenderFrozen) revert RegionalCoinFrozenAccount(from);
        if (reason == SkipReason.RecipientNotVerified) revert RegionalCoinUnverifiedAccount(to);
        if (reason == SkipReason.RecipientFrozen) revert RegionalCoinFrozenAccount(to);
        if (reason == SkipReason.InsufficientBalance) revert ERC20InsufficientBalance(from, balanceOf(from), value);
        if (reason == SkipReason.PointsNotTransferable) revert RegionalCoinPointsNotTransferable(from, balanceOf(from), value);
        if (reason == SkipReason.PointsExpired) {
            (uint256 unexpired, ) = _points(_accounts[from], JstMonth.monthOf(block.timestamp));
            revert RegionalCoinPointsExpired(from, balanceOf(from) + unexpired, value);
        }
        if (reason == SkipReason.TransferNotAllowed) {
            revert RegionalCoinTransferNotAllowed(_kindOf(from), _kindOf(to));
        }
        (IIdentityRegistry.Kind kind, IIdentityRegistry.AssuranceLevel level, ) = _registry.status(to);
        uint256 cap = kind == IIdentityRegistry.Kind.Resident ? _cap(_config, level) : _COINS;
        revert RegionalCoinBalanceCapExceeded(to, balanceOf(to), value, cap);
    }

    function _kindOf(address account) private view returns (IIdentityRegistry.Kind kind) {
        if (account != address(0)) (kind, , ) = _registry.status(account);
    }

    function _cap(Config memory config, IIdentityRegistry.AssuranceLevel level) private pure returns (uint256) {
        if (level == IIdentityRegistry.AssuranceLevel.CardAuthenticated) return config.cardAuthenticatedCap;
        if (level == IIdentityRegistry.AssuranceLevel.ResidentOfCity) return config.residentOfCityCap;
        return 0;
    }

    function _bit(IIdentityRegistry.Kind fromKind, IIdentityRegistry.Kind toKind) private pure returns (uint16) {
        return uint16(1) << (4 * uint8(fromKind) + uint8(toKind));
    }
}

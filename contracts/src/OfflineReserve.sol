// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";

/// @notice The part of the coin the reserve uses: ERC-20 plus ERC-3009's `receiveWithAuthorization`.
interface IReceiveWithAuthorization is IERC20 {
    function receiveWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes memory signature
    ) external;
}

/**
 * @title OfflineReserve
 * @notice Offline payments that cannot bounce. A resident moves coins into their reserve beforehand (an
 * ERC-3009 `ReceiveWithAuthorization` to this contract, relayed); with no network they sign EIP-712
 * `OfflinePayment`s against it, which a merchant's counter checks offline and relays later. Each
 * payment is settled once (its nonce) and only from what is still reserved, so every payment within
 * the reserve is paid and a reserve spent twice pays exactly once: the later item is refused with
 * a reason, never reverting the batch. Releasing unused coins back to the resident takes `releaseDelay`
 * after a signed request, longer than any payment's validity plus a counter's sync interval, so a release
 * can never race payments in flight.
 * @dev Kept out of RegionalCoin (its size limit). The coin sees this contract as a city account: it must be
 * registered in the IdentityRegistry (kind City) to hold, pay out and return coins.
 */
contract OfflineReserve is EIP712, AccessControl {
    /// @notice Submits reserves, settlements, release requests and releases (the city's relayer).
    bytes32 public constant RELAYER_ROLE = keccak256("RELAYER_ROLE");
    bytes32 public constant OFFLINE_PAYMENT_TYPEHASH =
        keccak256("OfflinePayment(address payer,address merchant,uint256 amount,bytes32 nonce,uint256 validBefore)");
    bytes32 public constant RELEASE_TYPEHASH = keccak256("ReleaseRequest(address payer,bytes32 nonce)");

    /// @notice Why {settleBatch} refused an item (0 = settled): 1 Expired, 2 InvalidSignature, 3 NonceUsed,
    /// 4 InsufficientReserve, 5 ZeroAmount, 6 MerchantRefused (the coin refused the merchant: not verified,
    /// frozen).
    enum Refusal {
        None,
        Expired,
        InvalidSignature,
        NonceUsed,
        InsufficientReserve,
        ZeroAmount,
        MerchantRefused
    }

    struct Payment {
        address payer;
        address merchant;
        uint256 amount;
        bytes32 nonce;
        uint256 validBefore;
        bytes signature;
    }

    struct Reserve {
        uint192 amount;
        uint64 releaseAt; // 0: no release requested
    }

    error OfflineReserveInvalidSignature(address payer);
    error OfflineReserveNonceUsed(address payer, bytes32 nonce);
    error OfflineReserveZeroAmount();
    error OfflineReserveNoRelease(address payer);
    error OfflineReserveReleaseNotDue(address payer, uint64 releaseAt);
    error OfflineReserveInvalidAddress();

    event Reserved(address indexed payer, uint256 amount, uint256 reserved);
    event OfflinePaymentSettled(address indexed payer, address indexed merchant, bytes32 indexed nonce, uint256 amount);
    event OfflinePaymentRefused(address indexed payer, address indexed merchant, bytes32 indexed nonce, Refusal reason);
    event ReleaseRequested(address indexed payer, uint64 releaseAt);
    event Released(address indexed payer, uint256 amount);

    IReceiveWithAuthorization private immutable _coin;
    uint64 private immutable _releaseDelay;
    mapping(address payer => Reserve) private _reserves;
    mapping(address payer => mapping(bytes32 nonce => bool used)) private _used;

    /**
     * @param coin_ the RegionalCoin
     * @param delay seconds from a release request to the release (longer than a payment's validity
     * plus a counter's sync interval)
     * @param admin DEFAULT_ADMIN_ROLE (grants RELAYER_ROLE)
     */
    constructor(IReceiveWithAuthorization coin_, uint64 delay, address admin) EIP712("Machi Offline Reserve", "1") {
        if (address(coin_) == address(0) || admin == address(0)) revert OfflineReserveInvalidAddress();
        _coin = coin_;
        _releaseDelay = delay;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    // ---------------------------------------------------------------- reserving

    /**
     * @notice Moves `amount` coins of `payer` into their reserve (and withdraws a pending release request:
     * whoever reserves again means to pay offline).
     * @dev RELAYER_ROLE. `signature` is the payer's ERC-3009 `ReceiveWithAuthorization` to this contract.
     */
    function reserve(
        address payer,
        uint256 amount,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes calldata signature
    ) external onlyRole(RELAYER_ROLE) {
        if (amount == 0) revert OfflineReserveZeroAmount();
        _coin.receiveWithAuthorization(payer, address(this), amount, validAfter, validBefore, nonce, signature);
        Reserve storage r = _reserves[payer];
        r.amount += uint192(amount);
        r.releaseAt = 0;
        emit Reserved(payer, amount, r.amount);
    }

    // ---------------------------------------------------------------- settling

    /**
     * @notice Settles signed offline payments in order, each from what its payer still has reserved. A
     * refused item never reverts the batch: `OfflinePaymentRefused` says why and its nonce stays unused.
     * @dev RELAYER_ROLE. Use with `eth_call` to pre-screen.
     * @return reasons one {Refusal} per item (`None` = settled)
     */
    function settleBatch(Payment[] calldata payments) external onlyRole(RELAYER_ROLE) returns (Refusal[] memory reasons) {
        uint256 count = payments.length;
        reasons = new Refusal[](count);
        for (uint256 i = 0; i < count; ++i) {
            Payment calldata p = payments[i];
            Refusal reason = screen(p);
            if (reason != Refusal.None) {
                reasons[i] = reason;
                emit OfflinePaymentRefused(p.payer, p.merchant, p.nonce, reason);
                continue;
            }
            _used[p.payer][p.nonce] = true;
            _reserves[p.payer].amount -= uint192(p.amount);
            // the coin checks the merchant (verified, not frozen); a refusal undoes this item only
            try _coin.transfer(p.merchant, p.amount) returns (bool ok) {
                if (ok) {
                    emit OfflinePaymentSettled(p.payer, p.merchant, p.nonce, p.amount);
                    continue;
                }
            } catch {}
            _used[p.payer][p.nonce] = false;
            _reserves[p.payer].amount += uint192(p.amount);
            reasons[i] = Refusal.MerchantRefused;
            emit OfflinePaymentRefused(p.payer, p.merchant, p.nonce, Refusal.MerchantRefused);
        }
    }

    /// @notice Why a payment would be refused now (`None`: it would settle).
    function screen(Payment calldata p) public view returns (Refusal) {
        if (p.amount == 0) return Refusal.ZeroAmount;
        if (block.timestamp > p.validBefore) return Refusal.Expired;
        if (!SignatureChecker.isValidSignatureNow(p.payer, paymentDigest(p), p.signature)) {
            return Refusal.InvalidSignature;
        }
        if (_used[p.payer][p.nonce]) return Refusal.NonceUsed;
        if (_reserves[p.payer].amount < p.amount) return Refusal.InsufficientReserve;
        return Refusal.None;
    }

    /// @notice The EIP-712 digest the payer signs for a payment.
    function paymentDigest(Payment calldata p) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(abi.encode(OFFLINE_PAYMENT_TYPEHASH, p.payer, p.merchant, p.amount, p.nonce, p.validBefore))
        );
    }

    // ---------------------------------------------------------------- releasing

    /**
     * @notice Starts the release of `payer`'s unused reserve: {release} works `releaseDelay` from now.
     * @dev RELAYER_ROLE. `signature` is the payer's EIP-712 `ReleaseRequest(payer, nonce)`.
     */
    function requestRelease(address payer, bytes32 nonce, bytes calldata signature) external onlyRole(RELAYER_ROLE) {
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(RELEASE_TYPEHASH, payer, nonce)));
        if (!SignatureChecker.isValidSignatureNow(payer, digest, signature)) revert OfflineReserveInvalidSignature(payer);
        if (_used[payer][nonce]) revert OfflineReserveNonceUsed(payer, nonce);
        _used[payer][nonce] = true;
        uint64 releaseAt = uint64(block.timestamp) + _releaseDelay;
        _reserves[payer].releaseAt = releaseAt;
        emit ReleaseRequested(payer, releaseAt);
    }

    /// @notice Returns `payer`'s unused reserve to them, once the release they requested is due (anyone may call).
    function release(address payer) external {
        Reserve memory r = _reserves[payer];
        if (r.releaseAt == 0) revert OfflineReserveNoRelease(payer);
        if (block.timestamp < r.releaseAt) revert OfflineReserveReleaseNotDue(payer, r.releaseAt);
        delete _reserves[payer];
        emit Released(payer, r.amount);
        if (r.amount > 0) require(_coin.transfer(payer, r.amount));
    }

    // ---------------------------------------------------------------- views

    /// @notice What `payer` has reserved, and when its requested release is due (0: none requested).
    function reserveOf(address payer) external view returns (uint256 amount, uint64 releaseAt) {
        Reserve memory r = _reserves[payer];
        return (r.amount, r.releaseAt);
    }

    /// @notice Whether `payer` used `nonce` (a settled payment or a release request).
    function isNonceUsed(address payer, bytes32 nonce) external view returns (bool) {
        return _used[payer][nonce];
    }

    /// @notice Seconds from a release request to the release.
    function releaseDelay() external view returns (uint64) {
        return _releaseDelay;
    }

    /// @notice The coin held in reserve.
    function coin() external view returns (address) {
        return address(_coin);
    }
}

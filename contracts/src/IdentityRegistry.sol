// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IIdentityRegistry} from "./interfaces/IIdentityRegistry.sol";

/**
 * @title IdentityRegistry
 * @notice Binds wallets to opaque subjects: residents (linked with their My Number card), merchants and
 * city accounts. One subject has at most one live wallet, enforced here. Expiry and revocation are
 * checked by {isVerified} and {status}, so callers never have to.
 *
 * No personal data is ever stored: a record is one storage word holding a kind, an assurance level, the
 * expiry, how it ended (revoked, re-bound or suspended — never why) and the leading bytes of a 32-byte
 * subject key (HMAC(city pepper, random subject id), unlinkable without the pepper) and of a 32-byte
 * commitment to the encrypted evidence bundle kept off chain; the whole values are in the events.
 *
 * A record is "live" while it is not revoked (an expired record is still live: it blocks a second
 * wallet for its subject and can be renewed or re-bound).
 */
contract IdentityRegistry is AccessControl, IIdentityRegistry {
    /// @notice Attests, renews and revokes records; registers and suspends merchants.
    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");
    /// @notice Re-binds a subject to a new wallet ({rebind}). Granted to the coin contract only, whose
    /// recovery is delayed, announced and cancellable; no key holds it.
    bytes32 public constant RECOVERY_ROLE = keccak256("RECOVERY_ROLE");

    mapping(address wallet => Record) private _records;
    /// @dev The last wallet bound to a subject, by the subject key's tag ({Record-subjectTag}); the subject's
    /// live wallet when that wallet's record is live and carries the tag.
    mapping(bytes16 subjectTag => address wallet) private _wallets;

    /// @dev The admin given to the constructor is the zero address.
    error IdentityRegistryInvalidAdmin(address admin);
    /// @dev The wallet is the zero address.
    error IdentityRegistryInvalidWallet(address wallet);
    /// @dev The subject key is zero.
    error IdentityRegistryInvalidSubjectKey();
    /// @dev The level does not fit the kind (residents need a level, merchants and city accounts `None`).
    error IdentityRegistryInvalidLevel(Kind kind, AssuranceLevel level);
    /// @dev The expiry is not in the future.
    error IdentityRegistryInvalidExpiry(uint40 expiresAt);
    /// @dev The wallet already has a live record.
    error IdentityRegistryWalletAlreadyAttested(address wallet);
    /// @dev The wallet was given up by {rebind} (lost) and can never be attested again.
    error IdentityRegistryWalletRetired(address wallet);
    /// @dev The subject is already bound to another live wallet.
    error IdentityRegistrySubjectAlreadyBound(bytes32 subjectKey, address wallet);
    /// @dev The wallet has no live record.
    error IdentityRegistryNotAttested(address wallet);
    /// @dev The wallet is not a merchant.
    error IdentityRegistryNotMerchant(address wallet);

    /// @param admin receives DEFAULT_ADMIN_ROLE (grants REGISTRAR_ROLE, and RECOVERY_ROLE to the coin)
    constructor(address admin) {
        if (admin == address(0)) revert IdentityRegistryInvalidAdmin(admin);
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    // ---------------------------------------------------------------- registrar

    /**
     * @notice Binds `wallet` to a resident subject after the card-linking checks passed off chain.
     * @dev REGISTRAR_ROLE. The wallet must have no live record and not be retired; the subject must
     * have no live wallet (a lost wallet's subject moves by the coin's delayed recovery). A wallet revoked for another reason (e.g. the
     * resident moved out and back) may be attested again.
     * @param wallet the resident's wallet
     * @param subjectKey opaque subject identifier (non-zero)
     * @param level CardAuthenticated or ResidentOfCity
     * @param expiresAt unix time at which the record stops being valid (in the future)
     * @param evidence commitment to the encrypted evidence bundle
     */
    function attest(
        address wallet,
        bytes32 subjectKey,
        AssuranceLevel level,
        uint40 expiresAt,
        bytes32 evidence
    ) external onlyRole(REGISTRAR_ROLE) {
        _bind(wallet, Kind.Resident, level, subjectKey, expiresAt, evidence);
    }

    /**
     * @notice Registers a merchant wallet (also re-registers a suspended one).
     * @dev REGISTRAR_ROLE. Same rules as {attest}; the merchant key is an opaque merchant identifier.
     */
    function registerMerchant(
        address wallet,
        bytes32 merchantKey,
        uint40 expiresAt,
        bytes32 evidence
    ) external onlyRole(REGISTRAR_ROLE) {
        _bind(wallet, Kind.Merchant, AssuranceLevel.None, merchantKey, expiresAt, evidence);
    }

    /**
     * @notice Registers a city account (fee treasury, benefit payer, ...).
     * @dev REGISTRAR_ROLE. Same rules as {attest}; the account key is an opaque identifier.
     */
    function registerCityAccount(
        address wallet,
        bytes32 accountKey,
        uint40 expiresAt,
        bytes32 evidence
    ) external onlyRole(REGISTRAR_ROLE) {
        _bind(wallet, Kind.City, AssuranceLevel.None, accountKey, expiresAt, evidence);
    }

    /**
     * @notice Renews a live record (also after it expired): new level, expiry and evidence commitment.
     * @dev REGISTRAR_ROLE. `level` must fit the record's kind.
     */
    function renew(
        address wallet,
        AssuranceLevel level,
        uint40 expiresAt,
        bytes32 evidence
    ) external onlyRole(REGISTRAR_ROLE) {
        Record storage record = _liveRecord(wallet);
        _checkLevel(record.kind, level);
        _checkExpiry(expiresAt);
        record.level = level;
        record.expiresAt = expiresAt;
        record.evidenceTag = bytes8(evidence);
        emit Renewed(wallet, level, expiresAt, evidence);
    }

    /**
     * @notice Revokes a live record. Its subject becomes free for another wallet.
     * @dev REGISTRAR_ROLE. Takes no reason: why (moved out, deceased, card revoked, at the holder's
     * request) is personal and stays in the city's encrypted record.
     */
    function revoke(address wallet) external onlyRole(REGISTRAR_ROLE) {
        _revoke(wallet, RevocationReason.Revoked);
    }

    /**
     * @notice Suspends a merchant (revocation with reason `Suspended`); {registerMerchant} reinstates it.
     * @dev REGISTRAR_ROLE.
     */
    function suspendMerchant(address wallet) external onlyRole(REGISTRAR_ROLE) {
        if (_records[wallet].kind != Kind.Merchant) revert IdentityRegistryNotMerchant(wallet);
        _revoke(wallet, RevocationReason.Suspended);
    }

    /**
     * @notice Lost-wallet recovery, the registry's half: moves the subject of `lostWallet` to `newWallet`.
     * @dev RECOVERY_ROLE, held by the coin contract alone, which calls this from its delayed
     * {RegionalCoin-executeRecovery} and moves the balance in the same transaction. The lost wallet is
     * revoked (`Rebound`) and retired for good; the new wallet inherits kind, level and expiry with a
     * fresh evidence commitment.
     */
    function rebind(address lostWallet, address newWallet, bytes32 evidence) external onlyRole(RECOVERY_ROLE) {
        checkRebind(lostWallet, newWallet);
        Record storage old = _records[lostWallet];
        Record memory moved = old;
        old.revocationReason = RevocationReason.Rebound;
        emit Revoked(lostWallet);

        moved.evidenceTag = bytes8(evidence);
        _records[newWallet] = moved;
        _wallets[moved.subjectTag] = newWallet;
        emit Rebound(lostWallet, newWallet, evidence);
    }

    /// @inheritdoc IIdentityRegistry
    function checkRebind(address lostWallet, address newWallet) public view {
        _liveRecord(lostWallet);
        _checkFreshWallet(newWallet);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IIdentityRegistry
    function isVerified(address wallet) external view returns (bool) {
        Record storage record = _records[wallet];
        return _verified(record.kind, record.revocationReason, record.expiresAt);
    }

    /// @inheritdoc IIdentityRegistry
    function status(address wallet) external view returns (Kind kind, AssuranceLevel level, bool verified) {
        Record storage record = _records[wallet];
        kind = record.kind;
        level = record.level;
        verified = _verified(kind, record.revocationReason, record.expiresAt);
    }

    /// @inheritdoc IIdentityRegistry
    function walletOf(bytes32 subjectKey) public view returns (address) {
        bytes16 tag = bytes16(subjectKey);
        address wallet = _wallets[tag];
        return wallet != address(0) && _records[wallet].subjectTag == tag ? wallet : address(0);
    }

    /// @inheritdoc IIdentityRegistry
    function successorOf(address wallet) external view returns (address) {
        bytes16 tag = _records[wallet].subjectTag;
        if (tag == bytes16(0)) return address(0);
        address current = _wallets[tag];
        return current == wallet || _records[current].subjectTag != tag ? address(0) : current;
    }

    /// @inheritdoc IIdentityRegistry
    function recordOf(address wallet) external view returns (Record memory) {
        return _records[wallet];
    }

    // ---------------------------------------------------------------- internals

    function _bind(
        address wallet,
        Kind kind,
        AssuranceLevel level,
        bytes32 subjectKey,
        uint40 expiresAt,
        bytes32 evidence
    ) private {
        if (bytes16(subjectKey) == bytes16(0)) revert IdentityRegistryInvalidSubjectKey();
        _checkLevel(kind, level);
        _checkExpiry(expiresAt);
        _checkFreshWallet(wallet);
        address bound = _liveWallet(subjectKey);
        if (bound != address(0)) revert IdentityRegistrySubjectAlreadyBound(subjectKey, bound);

        bytes16 tag = bytes16(subjectKey);
        _records[wallet] = Record({
            kind: kind,
            level: level,
            revocationReason: RevocationReason.None,
            expiresAt: expiresAt,
            subjectTag: tag,
            evidenceTag: bytes8(evidence)
        });
        _wallets[tag] = wallet;
        emit Attested(wallet, subjectKey, kind, level, expiresAt, evidence);
    }

    function _revoke(address wallet, RevocationReason reason) private {
        Record storage record = _liveRecord(wallet);
        record.revocationReason = reason;
        emit Revoked(wallet);
    }

    /// @dev The live wallet of a subject, or address(0).
    function _liveWallet(bytes32 subjectKey) private view returns (address) {
        bytes16 tag = bytes16(subjectKey);
        address wallet = _wallets[tag];
        if (wallet == address(0)) return address(0);
        Record storage record = _records[wallet];
        return record.revocationReason == RevocationReason.None && record.subjectTag == tag ? wallet : address(0);
    }

    function _liveRecord(address wallet) private view returns (Record storage record) {
        record = _records[wallet];
        if (record.kind == Kind.None || record.revocationReason != RevocationReason.None) {
            revert IdentityRegistryNotAttested(wallet);
        }
    }

    function _checkFreshWallet(address wallet) private view {
        if (wallet == address(0)) revert IdentityRegistryInvalidWallet(wallet);
        Record storage record = _records[wallet];
        if (record.kind == Kind.None) return;
        if (record.revocationReason == RevocationReason.None) revert IdentityRegistryWalletAlreadyAttested(wallet);
        if (record.revocationReason == RevocationReason.Rebound) revert IdentityRegistryWalletRetired(wallet);
    }

    function _checkLevel(Kind kind, AssuranceLevel level) private pure {
        bool ok = kind == Kind.Resident ? level != AssuranceLevel.None : level == AssuranceLevel.None;
        if (!ok) revert IdentityRegistryInvalidLevel(kind, level);
    }

    function _checkExpiry(uint40 expiresAt) private view {
        if (expiresAt <= block.timestamp) revert IdentityRegistryInvalidExpiry(expiresAt);
    }

    function _verified(Kind kind, RevocationReason ended, uint40 expiresAt) private view returns (bool) {
        return kind != Kind.None && ended == RevocationReason.None && block.timestamp < expiresAt;
    }
}

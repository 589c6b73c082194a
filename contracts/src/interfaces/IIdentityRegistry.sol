// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/**
 * @title IIdentityRegistry
 * @notice Who may hold the regional currency and file procedures: one record per wallet, holding only
 * opaque 32-byte values (a subject key and an evidence commitment) and times, never personal data.
 */
interface IIdentityRegistry {
    /// @notice What a wallet is. `None` means "no record".
    enum Kind {
        None,
        Resident,
        Merchant,
        City
    }

    /// @notice How strongly a resident's identity was established. Merchants and city accounts have `None`.
    enum AssuranceLevel {
        None,
        CardAuthenticated,
        ResidentOfCity
    }

    /**
     * @notice How a record ended. `Revoked` by the city (why is a personal fact — moved out, deceased,
     * card revoked — kept only in the city's encrypted records, never on chain), `Rebound` by a lost-wallet
     * recovery ({rebind}: retired for good), `Suspended` by {suspendMerchant}.
     */
    enum RevocationReason {
        None,
        Revoked,
        Rebound,
        Suspended
    }

    /**
     * @notice A wallet's record: exactly one storage slot, so binding a wallet writes two fresh slots (this
     * and the subject's). The whole subject key and evidence commitment are in the events ({Attested},
     * {Renewed}, {Rebound}); the record keeps their leading bytes, which identify them among the city's own
     * values (subject keys are HMACs under the city's pepper: nobody can aim a collision at 128 bits).
     * Issue and revocation times are the events' block times.
     * @param kind resident, merchant or city account
     * @param level assurance level (residents only)
     * @param revocationReason how the record ended (`None` while live; never why)
     * @param expiresAt first second at which the record is no longer valid
     * @param subjectTag the first 16 bytes of the subject key (HMAC(city pepper, random subject id))
     * @param evidenceTag the first 8 bytes of the commitment to the off-chain (encrypted) evidence bundle
     */
    struct Record {
        Kind kind;
        AssuranceLevel level;
        RevocationReason revocationReason;
        uint40 expiresAt;
        bytes16 subjectTag;
        bytes8 evidenceTag;
    }

    /// @notice A wallet was bound to a subject (by {attest}, {registerMerchant} or {registerCityAccount}).
    event Attested(
        address indexed wallet,
        bytes32 indexed subjectKey,
        Kind kind,
        AssuranceLevel level,
        uint40 expiresAt,
        bytes32 evidence
    );

    /// @notice A live record got a new level, expiry and evidence commitment.
    event Renewed(address indexed wallet, AssuranceLevel level, uint40 expiresAt, bytes32 evidence);

    /// @notice A record was revoked (also emitted for the old wallet by {rebind} and by {suspendMerchant}).
    /// @dev No reason: why a resident's record ended is personal (see {RevocationReason}).
    event Revoked(address indexed wallet);

    /// @notice A subject moved from a lost wallet to a new one, which inherited the record.
    event Rebound(address indexed oldWallet, address indexed newWallet, bytes32 evidence);

    /**
     * @notice Lost-wallet recovery, the registry's half: moves the subject of `lostWallet` to `newWallet`.
     * @dev Only the coin's delayed recovery calls it ({RegionalCoin-executeRecovery}): RECOVERY_ROLE is
     * granted to the coin contract, never to a key.
     */
    function rebind(address lostWallet, address newWallet, bytes32 evidence) external;

    /// @notice Reverts with the reason {rebind} would revert with now (for a recovery request).
    function checkRebind(address lostWallet, address newWallet) external view;

    /// @notice True when `wallet` has a record that is neither revoked nor expired.
    function isVerified(address wallet) external view returns (bool);

    /**
     * @notice The coin's hot path: kind, level and {isVerified} from a single storage read.
     * @return kind the record's kind (`None` without a record)
     * @return level the record's assurance level
     * @return verified same as {isVerified}
     */
    function status(address wallet) external view returns (Kind kind, AssuranceLevel level, bool verified);

    /// @notice The wallet a subject is currently bound to (live or not), or address(0).
    function walletOf(bytes32 subjectKey) external view returns (address);

    /// @notice The wallet that now holds `wallet`'s subject, when it is another wallet; else address(0).
    function successorOf(address wallet) external view returns (address);

    /// @notice The full record of `wallet` (all zero without a record).
    function recordOf(address wallet) external view returns (Record memory);
}

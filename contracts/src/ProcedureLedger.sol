// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/**
 * @title ProcedureLedger
 * @notice Tamper evidence for e-applications. The service signs every procedure event (submission,
 * status change, decision) off chain and anchors batches of them here as Merkle roots. A resident's
 * receipt (leaf, proof, anchor id) can then be checked by anyone with {verify}, without the service.
 *
 * Trees use OpenZeppelin's commutative keccak256 pair hashing (sorted pairs), as built by
 * OpenZeppelin's StandardMerkleTree (npm merkle-tree package). Leaves must be double-hashed,
 * `keccak256(bytes.concat(keccak256(record)))`, so that no inner node can pass as a leaf.
 * Nothing on chain says what a leaf is about: no wallet, no procedure type.
 */
contract ProcedureLedger is AccessControl {
    /// @notice Appends anchors.
    bytes32 public constant ANCHOR_ROLE = keccak256("ANCHOR_ROLE");

    /**
     * @notice One anchored batch (two storage slots).
     * @param root Merkle root of the batch
     * @param leafCount number of leaves in the batch
     * @param anchoredAt block timestamp of the anchoring
     * @param blockNumber block number of the anchoring (to find the transaction)
     */
    struct Anchor {
        bytes32 root;
        uint64 leafCount;
        uint64 anchoredAt;
        uint64 blockNumber;
    }

    Anchor[] private _anchors;

    /// @notice Batch `anchorId` was anchored.
    event Anchored(uint256 indexed anchorId, bytes32 indexed root, uint64 leafCount);

    /// @dev The admin given to the constructor is the zero address.
    error ProcedureLedgerInvalidAdmin(address admin);
    /// @dev The root is zero.
    error ProcedureLedgerEmptyRoot();
    /// @dev The batch has no leaves.
    error ProcedureLedgerEmptyBatch();
    /// @dev No anchor has this id.
    error ProcedureLedgerUnknownAnchor(uint256 anchorId);

    /// @param admin receives DEFAULT_ADMIN_ROLE (grants ANCHOR_ROLE)
    constructor(address admin) {
        if (admin == address(0)) revert ProcedureLedgerInvalidAdmin(admin);
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /**
     * @notice Appends an immutable anchor; ids count up from 0. Gas does not depend on `leafCount`.
     * @dev ANCHOR_ROLE.
     * @param root Merkle root of the batch (non-zero)
     * @param leafCount number of leaves (non-zero)
     * @return anchorId the new anchor's id
     */
    function anchor(bytes32 root, uint64 leafCount) external onlyRole(ANCHOR_ROLE) returns (uint256 anchorId) {
        if (root == bytes32(0)) revert ProcedureLedgerEmptyRoot();
        if (leafCount == 0) revert ProcedureLedgerEmptyBatch();
        anchorId = _anchors.length;
        _anchors.push(
            Anchor({
                root: root,
                leafCount: leafCount,
                anchoredAt: uint64(block.timestamp),
                blockNumber: uint64(block.number)
            })
        );
        emit Anchored(anchorId, root, leafCount);
    }

    /**
     * @notice Whether `leaf` is in the batch anchored as `anchorId`, given its Merkle `proof`.
     * @dev Reverts with {ProcedureLedgerUnknownAnchor} for an id that was never anchored.
     */
    function verify(bytes32 leaf, bytes32[] calldata proof, uint256 anchorId) external view returns (bool) {
        return MerkleProof.verifyCalldata(proof, _anchor(anchorId).root, leaf);
    }

    /// @notice How many anchors exist (the next anchor's id).
    function anchorCount() external view returns (uint256) {
        return _anchors.length;
    }

    /// @notice Anchor `anchorId` (reverts with {ProcedureLedgerUnknownAnchor} if it does not exist).
    function anchors(uint256 anchorId) external view returns (Anchor memory) {
        return _anchor(anchorId);
    }

    function _anchor(uint256 anchorId) private view returns (Anchor storage) {
        if (anchorId >= _anchors.length) revert ProcedureLedgerUnknownAnchor(anchorId);
        return _anchors[anchorId];
    }
}

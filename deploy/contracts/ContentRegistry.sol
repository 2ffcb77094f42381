// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";

/// @title Chorus content registry
/// @notice Records who uploaded which CID. A chorus node relays the owner's EIP-712 signature
/// (made in the owner's wallet at upload time) and pays the gas; the owner needs no ether.
/// @dev EIP-712 domain: name "Chorus", version "1", this chain's id, this contract's address.
/// The typed structs below are a wire contract with the Rust node (see README.md).
/// Uploads and delistings share one nonce space per owner. A CID is registered once, ever:
/// delisting hides it but does not free it. No admin, no upgrades.
contract ContentRegistry is EIP712 {
    /// @dev kind of a plain file or DAG
    uint8 internal constant KIND_FILE = 0;
    /// @dev kind of a track's source audio
    uint8 internal constant KIND_TRACK_SOURCE = 1;
    /// @dev kind of a track's HLS root (only through registerTrackFor)
    uint8 internal constant KIND_TRACK = 2;

    /// @dev keccak256 of the Upload type string (the wire contract)
    bytes32 private constant UPLOAD_TYPEHASH =
        keccak256("Upload(string cid,address owner,uint256 timestamp,uint256 nonce)");
    /// @dev keccak256 of the Delist type string (the wire contract)
    bytes32 private constant DELIST_TYPEHASH =
        keccak256("Delist(string cid,address owner,uint256 timestamp,uint256 nonce)");

    /// @dev One registered CID. `owner` is never zero for a registered CID.
    struct Record {
        address owner;
        uint8 kind;
        bool delisted;
        uint64 blockNumber;
        uint64 timestamp;
    }

    mapping(string cid => Record) private _records;
    /// @dev whether `owner` has used `nonce` (for an upload or a delisting); read with nonceUsed
    mapping(address owner => mapping(uint256 nonce => bool)) private usedNonces;

    /// @notice a CID was registered; `timestamp` is the one the owner signed
    event ContentRegistered(address indexed owner, string cid, uint8 kind, string meta, uint256 timestamp);
    /// @notice a CID was delisted by its owner (directly or through a relay)
    event ContentDelisted(address indexed owner, string cid);

    /// @notice the owner is the zero address
    error ZeroOwner();
    /// @notice a CID is empty
    error EmptyCid();
    /// @notice registerFor takes kind 0 or 1 (2 only through registerTrackFor)
    error InvalidKind(uint8 kind);
    /// @notice the signature is malformed, malleable (high s) or not the owner's over these fields
    error InvalidSignature();
    /// @notice the owner already used this nonce (for an upload or a delisting)
    error NonceAlreadyUsed(address owner, uint256 nonce);
    /// @notice the CID was registered before (delisting does not free it)
    error AlreadyRegistered(string cid);
    /// @notice the CID was never registered
    error NotRegistered(string cid);
    /// @notice the CID is delisted already
    error AlreadyDelisted(string cid);
    /// @notice the CID belongs to someone else
    error NotContentOwner(string cid, address caller);
    /// @notice the signed timestamp does not fit in 64 bits
    error TimestampOutOfRange(uint256 timestamp);

    constructor() EIP712("Chorus", "1") {}

    /// @notice Registers `cid` for `owner`, relayed by anyone holding the owner's signature.
    /// @param owner the uploader, who signed Upload(cid, owner, timestamp, nonce)
    /// @param cid the content's CID (as a string)
    /// @param kind 0 = file/DAG, 1 = track source audio (2 only through registerTrackFor)
    /// @param meta free-form metadata, only emitted
    /// @param timestamp unix seconds at signing
    /// @param nonce any value the owner has not used before
    /// @param signature the owner's 65-byte EIP-712 signature
    function registerFor(
        address owner,
        string calldata cid,
        uint8 kind,
        string calldata meta,
        uint256 timestamp,
        uint256 nonce,
        bytes calldata signature
    ) external {
        if (kind > KIND_TRACK_SOURCE) revert InvalidKind(kind);
        _consumeSignature(UPLOAD_TYPEHASH, cid, owner, timestamp, nonce, signature);
        _register(owner, cid, kind, meta, timestamp);
    }

    /// @notice Registers a track: its source audio `sourceCid` (kind 1) and its HLS root
    /// `trackCid` (kind 2), on one Upload signature over the source CID. Both or neither.
    /// @param owner the uploader, who signed Upload(sourceCid, owner, timestamp, nonce)
    function registerTrackFor(
        address owner,
        string calldata sourceCid,
        string calldata trackCid,
        string calldata meta,
        uint256 timestamp,
        uint256 nonce,
        bytes calldata signature
    ) external {
        _consumeSignature(UPLOAD_TYPEHASH, sourceCid, owner, timestamp, nonce, signature);
        _register(owner, sourceCid, KIND_TRACK_SOURCE, meta, timestamp);
        _register(owner, trackCid, KIND_TRACK, meta, timestamp);
    }

    /// @notice Delists `cid`; only its owner may call.
    function delist(string calldata cid) external {
        _delist(cid, msg.sender);
    }

    /// @notice Delists `cid` for `owner`, relayed by anyone holding the owner's signature over
    /// Delist(cid, owner, timestamp, nonce). The nonce space is shared with uploads.
    function delistFor(
        string calldata cid,
        address owner,
        uint256 timestamp,
        uint256 nonce,
        bytes calldata signature
    ) external {
        _consumeSignature(DELIST_TYPEHASH, cid, owner, timestamp, nonce, signature);
        _delist(cid, owner);
    }

    /// @notice the owner of `cid`, or zero when it was never registered (delisted CIDs keep theirs)
    function ownerOf(string calldata cid) external view returns (address) {
        return _records[cid].owner;
    }

    /// @notice everything recorded for `cid` (all zero when it was never registered)
    /// @return owner the uploader
    /// @return kind 0 = file/DAG, 1 = track source audio, 2 = track (HLS root)
    /// @return blockNumber the block it was registered in
    /// @return timestamp the upload timestamp the owner signed
    /// @return delisted whether the owner has delisted it
    function recordOf(string calldata cid)
        external
        view
        returns (address owner, uint8 kind, uint64 blockNumber, uint64 timestamp, bool delisted)
    {
        Record storage r = _records[cid];
        return (r.owner, r.kind, r.blockNumber, r.timestamp, r.delisted);
    }

    /// @notice whether `owner` has used `nonce`
    function nonceUsed(address owner, uint256 nonce) external view returns (bool) {
        return usedNonces[owner][nonce];
    }

    /// @notice the EIP-712 digest the owner signs for an upload (for cross-checking signers)
    function uploadDigest(string calldata cid, address owner, uint256 timestamp, uint256 nonce)
        external
        view
        returns (bytes32)
    {
        return _digest(UPLOAD_TYPEHASH, cid, owner, timestamp, nonce);
    }

    /// @notice the EIP-712 digest the owner signs for a delisting
    function delistDigest(string calldata cid, address owner, uint256 timestamp, uint256 nonce)
        external
        view
        returns (bytes32)
    {
        return _digest(DELIST_TYPEHASH, cid, owner, timestamp, nonce);
    }

    /// @dev The typed-data digest of Upload or Delist (same field layout, different typehash).
    function _digest(bytes32 typehash, string calldata cid, address owner, uint256 timestamp, uint256 nonce)
        private
        view
        returns (bytes32)
    {
        return _hashTypedDataV4(keccak256(abi.encode(typehash, keccak256(bytes(cid)), owner, timestamp, nonce)));
    }

    /// @dev Checks that `owner` signed the typed message and burns the nonce. ECDSA rejects
    /// malleable (high-s) and malformed signatures.
    function _consumeSignature(
        bytes32 typehash,
        string calldata cid,
        address owner,
        uint256 timestamp,
        uint256 nonce,
        bytes calldata signature
    ) private {
        if (owner == address(0)) revert ZeroOwner();
        if (bytes(cid).length == 0) revert EmptyCid();
        (address signer, ECDSA.RecoverError err,) =
            ECDSA.tryRecoverCalldata(_digest(typehash, cid, owner, timestamp, nonce), signature);
        if (err != ECDSA.RecoverError.NoError || signer != owner) revert InvalidSignature();
        if (usedNonces[owner][nonce]) revert NonceAlreadyUsed(owner, nonce);
        usedNonces[owner][nonce] = true;
    }

    /// @dev Records a new CID and emits ContentRegistered.
    function _register(address owner, string calldata cid, uint8 kind, string calldata meta, uint256 timestamp)
        private
    {
        if (bytes(cid).length == 0) revert EmptyCid();
        if (timestamp > type(uint64).max) revert TimestampOutOfRange(timestamp);
        Record storage r = _records[cid];
        if (r.owner != address(0)) revert AlreadyRegistered(cid);
        r.owner = owner;
        r.kind = kind;
        r.blockNumber = uint64(block.number);
        r.timestamp = uint64(timestamp);
        emit ContentRegistered(owner, cid, kind, meta, timestamp);
    }

    /// @dev Marks `cid` delisted if `owner` owns it and it is still listed.
    function _delist(string calldata cid, address owner) private {
        Record storage r = _records[cid];
        if (r.owner == address(0)) revert NotRegistered(cid);
        if (r.owner != owner) revert NotContentOwner(cid, owner);
        if (r.delisted) revert AlreadyDelisted(cid);
        r.delisted = true;
        emit ContentDelisted(owner, cid);
    }
}

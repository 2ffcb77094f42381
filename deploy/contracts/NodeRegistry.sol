// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

/// @title Chorus node registry
/// @notice A directory of chorus nodes: each operator's wallet announces its nodes' libp2p peer
/// ids, listen multiaddrs and HTTP gateway URL, so that clients and other nodes can find them.
/// @dev A peer id belongs to the operator who registered it until that operator deregisters
/// it; the same operator registering again updates the entry. Enumeration is over the nodes
/// registered now (removal swaps the last entry into the gap). No admin, no upgrades.
contract NodeRegistry {
    /// @dev One registered node.
    struct Node {
        address operator;
        string peerId;
        string[] multiaddrs;
        string gatewayUrl;
    }

    Node[] private _nodes;
    /// @dev peer id => its index in _nodes plus one (zero: not registered)
    mapping(string peerId => uint256) private _slot;

    /// @notice a node was registered or its entry updated
    event NodeRegistered(address indexed operator, string peerId, string[] multiaddrs, string gatewayUrl);
    /// @notice a node was removed by its operator
    event NodeDeregistered(address indexed operator, string peerId);

    /// @notice the peer id is empty
    error EmptyPeerId();
    /// @notice another operator registered this peer id
    error PeerIdTaken(string peerId, address operator);
    /// @notice no node is registered under this peer id
    error UnknownPeerId(string peerId);
    /// @notice only the node's operator may deregister it
    error NotOperator(string peerId, address caller);
    /// @notice nodeAt past the end
    error IndexOutOfRange(uint256 index, uint256 count);

    /// @notice Registers `peerId` for the caller, or updates the caller's existing entry.
    /// @param peerId the node's libp2p peer id (as a string)
    /// @param multiaddrs where the node listens (replaces any previous list)
    /// @param gatewayUrl the node's public HTTP gateway, or empty
    function register(string calldata peerId, string[] calldata multiaddrs, string calldata gatewayUrl) external {
        if (bytes(peerId).length == 0) revert EmptyPeerId();
        uint256 slot = _slot[peerId];
        Node storage n;
        if (slot == 0) {
            n = _nodes.push();
            n.operator = msg.sender;
            n.peerId = peerId;
            _slot[peerId] = _nodes.length;
        } else {
            n = _nodes[slot - 1];
            if (n.operator != msg.sender) revert PeerIdTaken(peerId, n.operator);
        }
        delete n.multiaddrs;
        for (uint256 i = 0; i < multiaddrs.length; ++i) {
            n.multiaddrs.push(multiaddrs[i]);
        }
        n.gatewayUrl = gatewayUrl;
        emit NodeRegistered(msg.sender, peerId, multiaddrs, gatewayUrl);
    }

    /// @notice Removes `peerId`; only its operator may call. The peer id is free afterwards.
    function deregister(string calldata peerId) external {
        uint256 slot = _slot[peerId];
        if (slot == 0) revert UnknownPeerId(peerId);
        uint256 index = slot - 1;
        if (_nodes[index].operator != msg.sender) revert NotOperator(peerId, msg.sender);
        uint256 last = _nodes.length - 1;
        if (index != last) {
            _nodes[index] = _nodes[last];
            _slot[_nodes[index].peerId] = slot;
        }
        _nodes.pop();
        delete _slot[peerId];
        emit NodeDeregistered(msg.sender, peerId);
    }

    /// @notice how many nodes are registered now
    function nodeCount() external view returns (uint256) {
        return _nodes.length;
    }

    /// @notice the `i`th registered node (0 <= i < nodeCount(); the order changes on removal)
    function nodeAt(uint256 i)
        external
        view
        returns (address operator, string memory peerId, string[] memory multiaddrs, string memory gatewayUrl)
    {
        if (i >= _nodes.length) revert IndexOutOfRange(i, _nodes.length);
        Node storage n = _nodes[i];
        return (n.operator, n.peerId, n.multiaddrs, n.gatewayUrl);
    }
}

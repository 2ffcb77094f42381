#!/bin/sh
# Points the repos of a chorus community at the registries of issue 16 (ContentRegistry and
# NodeRegistry) on a chain, deploying them first if needed (deploy/compose.yaml runs it under
# the `chain` profile, after community-init and once anvil is healthy; the image has it as
# /usr/local/bin/chorus-chain-init):
#
#   CHAIN_RPC_URL=http://anvil:8545 chorus-chain-init OPERATOR_REPO [REPO...]
#
# The repos exist already (community-init made them). OPERATOR_REPO holds the operator wallet
# that deploys the registries and relays the nodes' registrations: it is created
# (`chorus wallet new`) if the repo has none, and an empty one is funded with 100 ether
# (anvil's `anvil_setBalance`: on another chain, fund it yourself). The registries are deployed
# (`chorus chain deploy`) only when OPERATOR_REPO's settings name none that has code on this
# chain with this chain id: on the first run, or after a dev chain restarted empty. Every repo
# (OPERATOR_REPO included) then gets chain.rpc_url = CHAIN_RPC_URL, chain.chain_id, both
# registries, chain.confirmations = 0 (a dev chain does not reorg) and chain.poll_interval =
# POLL_INTERVAL (2s by default), each written only where it differs, so running it again changes
# nothing. A daemon reads them when it starts. With OWNER=uid:gid set, the repos are handed to
# that user afterwards (compose runs this step as root).
set -eu
chorus=${CHORUS_BIN:-/usr/local/bin/chorus}
url=${CHAIN_RPC_URL:?set CHAIN_RPC_URL to the JSON-RPC endpoint of the chain, http://HOST:PORT}
poll=${POLL_INTERVAL:-2s}
[ $# -ge 1 ] || { echo "usage: CHAIN_RPC_URL=URL $0 OPERATOR_REPO [REPO...]" >&2; exit 2; }
operator_repo=$1
for repo in "$@"; do
  [ -f "$repo/config.toml" ] || { echo "$repo is not a chorus repo (run community-init first)" >&2; exit 2; }
done

# One JSON-RPC call to the chain; prints the result (a string's value, without quotes), or
# nothing if the call failed.
rpc() {
  curl -sf --max-time 10 -H 'Content-Type: application/json' \
    --data "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$1\",\"params\":$2}" "$url" \
    | sed -n 's/.*"result" *: *"\{0,1\}\([^",}]*\).*/\1/p'
}

# Whether ADDRESS holds a contract on the chain (a failed call stops the script: it must not
# be taken for "no registry here" and lead to a second deployment).
has_code() {
  [ -n "$1" ] || return 1
  code=$(rpc eth_getCode "[\"$1\",\"latest\"]")
  [ -n "$code" ] || { echo "$url did not answer eth_getCode" >&2; exit 1; }
  [ "$code" != "0x" ]
}

# A field of `chorus chain deploy --json`'s output.
field() {
  printf '%s\n' "$deployed" | sed -n "s/.*\"$1\" *: *\"\{0,1\}\([^\",}]*\).*/\1/p"
}

# The chain answers (compose waits for anvil's health check; this covers a slow start).
tries=0
while :; do
  id_hex=$(rpc eth_chainId '[]')
  [ -z "$id_hex" ] || break
  tries=$((tries + 1))
  [ "$tries" -lt 60 ] || { echo "$url does not answer eth_chainId" >&2; exit 1; }
  sleep 1
done
chain_id=$(printf '%d' "$id_hex")

# The operator wallet, kept if the repo has one.
if ! operator=$("$chorus" --repo "$operator_repo" wallet address 2>/dev/null); then
  operator=$("$chorus" --repo "$operator_repo" wallet new)
  echo "created the operator wallet $operator in $operator_repo" >&2
fi

# The registries: those OPERATOR_REPO names if they are on this chain, else new ones.
content=$("$chorus" --repo "$operator_repo" config chain.content_registry)
nodes=$("$chorus" --repo "$operator_repo" config chain.node_registry)
if [ "$("$chorus" --repo "$operator_repo" config chain.chain_id)" = "$chain_id" ] \
  && has_code "$content" && has_code "$nodes"; then
  echo "the registries are deployed already: ContentRegistry $content, NodeRegistry $nodes" >&2
else
  if [ "$(rpc eth_getBalance "[\"$operator\",\"latest\"]")" = "0x0" ]; then
    rpc anvil_setBalance "[\"$operator\",\"0x56bc75e2d63100000\"]" >/dev/null
    echo "funded $operator with 100 ether" >&2
  fi
  deployed=$("$chorus" --repo "$operator_repo" chain deploy --rpc-url "$url" --json)
  content=$(field ContentRegistry)
  nodes=$(field NodeRegistry)
  chain_id=$(field ChainId)
  [ -n "$content" ] && [ -n "$nodes" ] && [ -n "$chain_id" ] \
    || { echo "unexpected output of chorus chain deploy: $deployed" >&2; exit 1; }
  echo "deployed ContentRegistry $content and NodeRegistry $nodes on chain $chain_id" >&2
fi

# Sets KEY to VALUE in REPO unless it holds that value already (extra arguments: `--json`).
changed=0
setting() {
  in=$1 key=$2 value=$3
  shift 3
  [ "$("$chorus" --repo "$in" config "$key")" != "$value" ] || return 0
  "$chorus" --repo "$in" config "$@" "$key" "$value"
  changed=1
}
for repo in "$@"; do
  changed=0
  setting "$repo" chain.rpc_url "$url"
  setting "$repo" chain.chain_id "$chain_id" --json
  setting "$repo" chain.content_registry "$content"
  setting "$repo" chain.node_registry "$nodes"
  setting "$repo" chain.confirmations 0 --json
  setting "$repo" chain.poll_interval "$poll"
  if [ "$changed" = 1 ]; then
    echo "$repo follows ContentRegistry $content on chain $chain_id at $url" >&2
  else
    echo "$repo is configured already" >&2
  fi
done

if [ -n "${OWNER:-}" ]; then
  for repo in "$@"; do chown -R "$OWNER" "$repo"; done
fi

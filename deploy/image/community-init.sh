#!/bin/sh
# Initialises the repos of a chorus community: every node replicates within the community
# (replication.enabled, replication.nodes) and is peered with all the others
# (deploy/compose.yaml runs it once before the nodes start; the image has it as
# /usr/local/bin/chorus-community-init):
#
#   chorus-community-init REPO=ADDRESS [REPO=ADDRESS...]
#
# REPO is a node's repo directory; ADDRESS is the multiaddr the other nodes reach its swarm at,
# without /p2p (e.g. /dns4/chorus1/tcp/4001). A repo that exists keeps its identity and its
# settings; only replication.enabled, replication.nodes (every node's ADDRESS/p2p/<peer id>)
# and swarm.peering (the others') are rewritten, so running it again (or with a node added)
# is safe. The other [replication] keys keep their values (R = 3, W = 2 by default). With OWNER=uid:gid set, the repos are handed to that
# user afterwards (compose runs this step as root on fresh volumes).
set -eu
chorus=${CHORUS_BIN:-/usr/local/bin/chorus}
[ $# -ge 2 ] || { echo "usage: $0 REPO=ADDRESS REPO=ADDRESS [...]" >&2; exit 2; }

for node in "$@"; do
  repo=${node%%=*}
  [ "$repo" != "$node" ] || { echo "$node: expected REPO=ADDRESS" >&2; exit 2; }
  if [ ! -f "$repo/config.toml" ]; then
    "$chorus" --repo "$repo" init >/dev/null
    echo "initialised $repo" >&2
  fi
done

# The community: every node's address with its peer id.
all=""
for node in "$@"; do
  id=$("$chorus" --repo "${node%%=*}" config identity.peer_id)
  all="$all${all:+,}\"${node#*=}/p2p/$id\""
done

# Each node's peering list: every other node's address with its peer id, as a JSON list.
for node in "$@"; do
  repo=${node%%=*}
  list=""
  for other in "$@"; do
    [ "$other" != "$node" ] || continue
    id=$("$chorus" --repo "${other%%=*}" config identity.peer_id)
    list="$list${list:+,}\"${other#*=}/p2p/$id\""
  done
  "$chorus" --repo "$repo" config --json swarm.peering "[$list]"
  "$chorus" --repo "$repo" config --json replication.nodes "[$all]"
  "$chorus" --repo "$repo" config --json replication.enabled true
  echo "$repo peers with [$list]" >&2
done

if [ -n "${OWNER:-}" ]; then
  for node in "$@"; do chown -R "$OWNER" "${node%%=*}"; done
fi

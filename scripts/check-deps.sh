#!/usr/bin/env bash
# The workspace's dependency direction, checked from `cargo metadata`:
#   storage ← protocol ← node ← bin, storage ← chain ← node (the Ethereum half), and the
#   transcoder depends on no chorus crate.
# A library crate that reached up (storage → protocol, protocol → node, anything → bin)
# would tie the layers together; this fails the test run when one does.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo metadata --format-version 1 --no-deps --locked | python3 -c '
import json, sys
allowed = {
    "chorus-storage": set(),
    "chorus-protocol": {"chorus-storage"},
    "chorus-chain": {"chorus-storage"},
    "chorus-node": {"chorus-storage", "chorus-protocol", "chorus-chain"},
    "chorus-transcoder": set(),
    "chorus": {"chorus-storage", "chorus-protocol", "chorus-chain", "chorus-node", "chorus-transcoder"},
}
meta = json.load(sys.stdin)
members = {p["name"] for p in meta["packages"]}
bad = []
for p in meta["packages"]:
    name = p["name"]
    if name not in allowed:
        bad.append(name + ": a workspace crate this check does not know; add it to scripts/check-deps.sh")
        continue
    for d in p["dependencies"]:
        dep = d["name"]
        if dep in members and dep not in allowed[name]:
            kind = d.get("kind") or "normal"
            bad.append(f"{name} depends on {dep} ({kind}): against the direction storage <- protocol <- node <- bin")
if bad:
    print("\n".join(bad), file=sys.stderr)
    sys.exit(1)
print("dependency direction: ok (" + ", ".join(sorted(allowed)) + ")")
'

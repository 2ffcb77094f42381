#!/usr/bin/env bash
# Exercises deploy/compose.yaml without a container engine that can run it (run by
# scripts/test.sh; scripts/check-image.sh checks the image itself):
#   - the file: every service the README names, every file it mounts exists, Prometheus scrapes
#     exactly the chorus nodes, Grafana's provisioning points at Prometheus and at the mounted
#     dashboard, the init step covers every node's volume, every CHORUS_* variable is a setting;
#   - the chain profile's wiring: anvil with a health check, chain-init after it and after
#     community-init on every node's volume, the nodes after chain-init only when the profile is
#     on (an optional dependency), every entrypoint the file names copied into the image;
#   - the community: deploy/image/community-init.sh initialises three repos as one replication
#     community, peered (by /dns4 names, as in compose), is idempotent, and the three daemons
#     started on those repos with the compose file's environment connect to each other, fetch
#     each other's blocks and hold an upload on all three nodes (R = 3);
#   - the chain: deploy/image/chain-init.sh, run with compose's environment (the RPC URL of a
#     real anvil on loopback instead of http://anvil:8545) on the three repos, twice, creates the
#     operator wallet in the first, deploys the registries once and points the three configs at
#     them; the second run deploys nothing and changes no file; the daemons follow the chain.
#
#   scripts/check-compose.sh [path/to/chorus]     (default: target/debug/chorus)
set -euo pipefail
cd "$(dirname "$0")/.."
chorus=$(realpath "${1:-target/debug/chorus}")
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "compose: the file"
"$chorus" --repo "$work/settings" init >/dev/null
"$chorus" --repo "$work/settings" config show --effective >"$work/settings.json"
# PyYAML from the test peers' Python packages (scripts/install-test-peers.sh).
PYTHONPATH="$PWD/.cache/python${PYTHONPATH:+:$PYTHONPATH}" \
  python3 - "$work/settings.json" "$work/chain-init.env" >"$work/node.env" <<'PY'
import json, os, sys, yaml
settings = json.load(open(sys.argv[1]))
compose = yaml.safe_load(open("deploy/compose.yaml"))
services = compose["services"]
problems = []
def want(cond, what):
    if not cond:
        problems.append(what)
nodes = sorted(s for s in services if s.startswith("chorus"))
want(nodes == ["chorus1", "chorus2", "chorus3"], f"three chorus nodes (found {nodes})")
for name in ("community-init", "prometheus", "grafana", "anvil", "chain-init"):
    want(name in services, f"a {name} service")
# Bind mounts are relative to deploy/; named volumes must be declared.
for name, svc in services.items():
    for vol in svc.get("volumes", []):
        src = vol.split(":")[0]
        if src.startswith("."):
            want(os.path.exists(os.path.join("deploy", src)), f"{name} mounts {src}, which exists")
        else:
            want(src in (compose.get("volumes") or {}), f"{name}'s volume {src} is declared")
# Prometheus scrapes exactly the nodes, on the metrics port.
prom = yaml.safe_load(open("deploy/prometheus/prometheus.yml"))
targets = sorted(t for job in prom["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"])
want(targets == [f"{n}:9464" for n in nodes], f"Prometheus scrapes the nodes (targets {targets})")
# Grafana: the data source is the prometheus service; the dashboard provider reads the
# directory chorus.json is mounted in.
ds = yaml.safe_load(open("deploy/grafana/provisioning/datasources/prometheus.yml"))["datasources"]
want([d["url"] for d in ds] == ["http://prometheus:9090"], "Grafana's data source is the prometheus service")
provider = yaml.safe_load(open("deploy/grafana/provisioning/dashboards/chorus.yml"))["providers"][0]
mounts = [v.split(":") for v in services["grafana"]["volumes"]]
want(["./grafana/chorus.json", provider["options"]["path"] + "/chorus.json", "ro"] in mounts,
     "the dashboard is mounted where the provider reads")
want(["./grafana/provisioning", "/etc/grafana/provisioning", "ro"] in mounts, "provisioning is mounted")
# The init step names every node, by its host name, on its volume.
init = services["community-init"]
init_mounts = {v.split(":")[1]: v.split(":")[0] for v in init["volumes"]}
for n in nodes:
    node_volume = [v.split(":")[0] for v in services[n]["volumes"] if v.endswith(":/data")]
    arg = f"/nodes/{n}=/dns4/{n}/tcp/4001"
    want(arg in init["command"], f"community-init peers {n} ({arg})")
    want(init_mounts.get(f"/nodes/{n}") == (node_volume or [None])[0], f"community-init has {n}'s volume")
    want(services[n].get("hostname") == n, f"{n}'s host name is {n}")
# The chain profile: anvil (chain id 31337, JSON-RPC on port 8545 of every interface) with a
# health check; chain-init once it is healthy and community-init is done, with anvil's URL, on
# every node's volume (chorus1's first: its repo gets the operator wallet), handing the repos
# to the nodes' user as community-init does; every node after chain-init.
chain = [n for n, svc in services.items() if "chain" in (svc.get("profiles") or [])]
want(sorted(chain) == ["anvil", "chain-init"], f"the chain profile is anvil and chain-init (found {chain})")
anvil = services.get("anvil", {})
args = (anvil.get("entrypoint") or []) + (anvil.get("command") or [])
def arg(flag):
    return args[args.index(flag) + 1] if flag in args[:-1] else None
want(args[:1] == ["anvil"] and arg("--chain-id") == "31337" and arg("--host") == "0.0.0.0"
     and arg("--port") in ("8545", None), f"anvil serves chain 31337 on port 8545 ({args})")
want((anvil.get("healthcheck") or {}).get("test"), "anvil has a health check")
ci = services.get("chain-init", {})
ci_deps = ci.get("depends_on") or {}
want((ci_deps.get("anvil") or {}).get("condition") == "service_healthy", "chain-init waits for anvil's health")
want((ci_deps.get("community-init") or {}).get("condition") == "service_completed_successfully",
     "chain-init runs after community-init")
ci_env = ci.get("environment") or {}
want(ci_env.get("CHAIN_RPC_URL") == "http://anvil:8545", "chain-init's CHAIN_RPC_URL is the anvil service")
want(ci.get("command") == [f"/nodes/{n}" for n in nodes],
     f"chain-init configures every node, chorus1 (the operator) first ({ci.get('command')})")
ci_mounts = {v.split(":")[1]: v.split(":")[0] for v in ci.get("volumes", [])}
for n in nodes:
    node_volume = [v.split(":")[0] for v in services[n]["volumes"] if v.endswith(":/data")]
    want(ci_mounts.get(f"/nodes/{n}") == (node_volume or [None])[0], f"chain-init has {n}'s volume")
    want((services[n].get("depends_on") or {}).get("chain-init")
         == {"condition": "service_completed_successfully", "required": False},
         f"{n} starts after chain-init, and without the chain profile too (required: false)")
want(ci.get("user") == init.get("user") and ci_env.get("OWNER") == (init.get("environment") or {}).get("OWNER"),
     "chain-init runs and hands the repos over as community-init does")
# A service outside a profile may depend on a profile's service only optionally: the project
# must stay valid without the profile.
for name, svc in services.items():
    if svc.get("profiles"):
        continue
    deps = svc.get("depends_on") or {}
    for dep in deps:
        if (services.get(dep) or {}).get("profiles"):
            want(isinstance(deps, dict) and deps[dep].get("required") is False,
                 f"{name}'s dependency on {dep} (a profile's service) is optional")
# Every entrypoint a chorus-image service names is one of the image's: copied there by the
# Dockerfile from an executable script.
copies = {}
for line in open("deploy/Dockerfile"):
    parts = line.split()
    if parts[:1] == ["COPY"] and len(parts) == 3 and parts[1].startswith("deploy/"):
        copies[parts[2]] = parts[1]
for name, svc in services.items():
    if "CHORUS_IMAGE" in str(svc.get("image")) and svc.get("entrypoint"):
        path = svc["entrypoint"][0]
        src = copies.get(path)
        want(src and os.access(src, os.X_OK), f"{name}'s entrypoint {path} is an executable script the Dockerfile copies")
# chain-init's environment, less what the check replaces (the RPC URL) or cannot do (OWNER).
with open(sys.argv[2], "w") as out:
    for key, value in ci_env.items():
        if key not in ("CHAIN_RPC_URL", "OWNER"):
            print(f"{key}={value}", file=out)
# Every CHORUS_* variable names a setting (CHORUS_<SECTION>_<KEY>).
env = {}
for n in nodes:
    env.update(services[n].get("environment") or {})
for key in env:
    section, _, name = key.removeprefix("CHORUS_").lower().partition("_")
    want(name in settings.get(section, {}), f"{key} is a setting ({section}.{name})")
if problems:
    sys.exit("deploy/compose.yaml: " + "; ".join(problems))
for key, value in env.items():
    if not str(value).startswith("$"):
        print(f"{key}={value}")
PY

echo "compose: community-init and three peered daemons"
ports=$(python3 -c 'import socket
socks = [socket.socket() for _ in range(3)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))')
read -r -a port <<<"$ports"
args=()
for i in 0 1 2; do args+=("$work/n$i=/dns4/localhost/tcp/${port[$i]}"); done
CHORUS_BIN=$chorus sh deploy/image/community-init.sh "${args[@]}" 2>"$work/init.log"
ids=()
for i in 0 1 2; do ids+=("$("$chorus" --repo "$work/n$i" config identity.peer_id)"); done
# A second run keeps every identity and yields the same peering.
"$chorus" --repo "$work/n0" config swarm.peering >"$work/peering.before"
CHORUS_BIN=$chorus sh deploy/image/community-init.sh "${args[@]}" 2>>"$work/init.log"
for i in 0 1 2; do
  [ "$("$chorus" --repo "$work/n$i" config identity.peer_id)" = "${ids[$i]}" ] \
    || { echo "community-init changed node $i's identity" >&2; exit 1; }
done
"$chorus" --repo "$work/n0" config swarm.peering | cmp -s - "$work/peering.before" \
  || { echo "community-init is not idempotent" >&2; exit 1; }

echo "compose: chain-init against a real anvil, twice"
# anvil from the test peers' npm packages (scripts/install-test-peers.sh), on a free loopback
# port: chain-init runs on the three repos with the compose file's environment, its RPC URL
# pointing there instead of at http://anvil:8545.
anvil_bin="${CHORUS_TEST_CACHE:-$PWD/.cache}/npm/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
[ -x "$anvil_bin" ] || { echo "anvil missing at $anvil_bin: run scripts/install-test-peers.sh" >&2; exit 1; }
anvil_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
rpc_url="http://127.0.0.1:$anvil_port"
"$anvil_bin" --host 127.0.0.1 --port "$anvil_port" --chain-id 31337 --silent >"$work/anvil.log" 2>&1 &
pids+=($!)
rpc() { # METHOD PARAMS: the call's result, as JSON
  curl -sf -H 'Content-Type: application/json' \
    --data "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$1\",\"params\":$2}" "$rpc_url" \
    | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["result"]))'
}
for _ in $(seq 100); do rpc eth_chainId '[]' >/dev/null 2>&1 && break; sleep 0.1; done
[ "$(rpc eth_chainId '[]')" = '"0x7a69"' ] || { cat "$work/anvil.log" >&2; echo "anvil did not start" >&2; exit 1; }
# chorus, counting its `chain deploy` runs.
printf '#!/bin/sh\ncase " $* " in *" chain deploy "*) echo deploy >>"%s" ;; esac\nexec "%s" "$@"\n' \
  "$work/deploys" "$chorus" >"$work/chorus-counted"
chmod +x "$work/chorus-counted"
: >"$work/deploys"
mapfile -t chain_env <"$work/chain-init.env"
repos=("$work/n0" "$work/n1" "$work/n2")
chain_init() {
  env "${chain_env[@]}" CHAIN_RPC_URL="$rpc_url" CHORUS_BIN="$work/chorus-counted" \
    sh deploy/image/chain-init.sh "${repos[@]}" 2>>"$work/chain-init.log" \
    || { cat "$work/chain-init.log" >&2; echo "chain-init failed" >&2; exit 1; }
}
chain_init
[ "$(wc -l <"$work/deploys")" = 1 ] || { cat "$work/chain-init.log" >&2; echo "chain-init did not deploy once" >&2; exit 1; }
operator=$("$chorus" --repo "$work/n0" wallet address)
content=$("$chorus" --repo "$work/n0" config chain.content_registry)
registry=$("$chorus" --repo "$work/n0" config chain.node_registry)
for address in "$content" "$registry"; do
  [ -n "$address" ] && [ "$(rpc eth_getCode "[\"$address\",\"latest\"]")" != '"0x"' ] \
    || { echo "no contract at '$address', a registry chain-init configured" >&2; exit 1; }
done
[ "$(rpc eth_getTransactionCount "[\"$operator\",\"latest\"]")" = '"0x2"' ] \
  || { echo "the operator wallet $operator did not deploy the two registries" >&2; exit 1; }
poll=$(sed -n 's/^POLL_INTERVAL=//p' "$work/chain-init.env")
for i in 0 1 2; do
  for kv in "chain.rpc_url=$rpc_url" chain.chain_id=31337 "chain.content_registry=$content" \
    "chain.node_registry=$registry" chain.confirmations=0 "chain.poll_interval=$poll"; do
    got=$("$chorus" --repo "$work/n$i" config "${kv%%=*}")
    [ "$got" = "${kv#*=}" ] || { echo "node $i: ${kv%%=*} is '$got', not '${kv#*=}'" >&2; exit 1; }
  done
done
for i in 1 2; do
  if "$chorus" --repo "$work/n$i" wallet address >/dev/null 2>&1; then
    echo "chain-init made a wallet in node $i, not only in the operator's repo" >&2
    exit 1
  fi
done
# A second run deploys nothing, sends nothing and leaves every config and key as it was.
sums() { find "${repos[@]}" \( -name config.toml -o -path '*/keystore/*' \) -type f | sort | xargs sha256sum; }
sums >"$work/sums.before"
block=$(rpc eth_blockNumber '[]')
chain_init
[ "$(wc -l <"$work/deploys")" = 1 ] || { echo "chain-init deployed again on its second run" >&2; exit 1; }
[ "$(rpc eth_blockNumber '[]')" = "$block" ] || { echo "chain-init's second run sent transactions" >&2; exit 1; }
sums | cmp -s - "$work/sums.before" || { echo "chain-init's second run changed a config or key" >&2; exit 1; }

mapfile -t node_env <"$work/node.env"
for i in 0 1 2; do
  env "${node_env[@]}" "$chorus" --repo "$work/n$i" daemon --api-addr 127.0.0.1:0 \
    --gateway-addr 127.0.0.1:0 --metrics-addr 127.0.0.1:0 \
    --swarm-addr "/ip4/127.0.0.1/tcp/${port[$i]}" >"$work/daemon$i.log" 2>&1 &
  pids+=($!)
done
for i in 0 1 2; do
  for _ in $(seq 300); do grep -q "Daemon is ready" "$work/daemon$i.log" && break; sleep 0.1; done
  grep -q "Daemon is ready" "$work/daemon$i.log" || { cat "$work/daemon$i.log" >&2; exit 1; }
done
# Peering dials at start-up: each node reaches both others (within 30 s).
for i in 0 1 2; do
  for _ in $(seq 300); do
    peers=$("$chorus" --repo "$work/n$i" swarm peers)
    missing=0
    for j in 0 1 2; do
      [ "$i" = "$j" ] || grep -q "${ids[$j]}" <<<"$peers" || missing=1
    done
    [ "$missing" = 0 ] && break
    sleep 0.1
  done
  [ "$missing" = 0 ] || { echo "node $i is not connected to both others: $peers" >&2; exit 1; }
done
# A block added on one node is fetched over Bitswap by another.
cid=$(head -c 4096 /dev/urandom | "$chorus" --repo "$work/n0" block put)
"$chorus" --repo "$work/n2" block get "$cid" | cmp -s - <("$chorus" --repo "$work/n0" block get "$cid") \
  || { echo "node 2 could not fetch $cid from node 0" >&2; exit 1; }
# They form a replication community: an upload is acknowledged with its holders (all three:
# R = 3 by default), and node 2 reports the same.
api=$(awk '/API server listening on/ {print $NF}' "$work/daemon0.log" | awk -F/ '{print $3":"$5}')
head -c 100000 /dev/urandom >"$work/upload.bin"
last=$(curl -sf -X POST -F "file=@$work/upload.bin" "http://$api/api/v0/add" | tail -1)
root=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["Hash"])' "$last")
holders=$(python3 -c 'import json,sys; print(len(json.loads(sys.argv[1]).get("Holders", [])))' "$last")
[ "$holders" -ge 2 ] || { echo "the upload was acknowledged by $holders nodes: $last" >&2; exit 1; }
for _ in $(seq 300); do
  held=$("$chorus" --repo "$work/n2" replication status --json "$root" \
    | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["Holders"]))')
  [ "$held" = 3 ] && break
  sleep 0.1
done
[ "$held" = 3 ] || { echo "node 2 sees $held holders of $root, not 3" >&2; exit 1; }
# Each node follows the registry chain-init configured: its metrics say the endpoint is
# reached and the cursor is at the head (confirmations 0).
for i in 0 1 2; do
  metrics=$(awk '/Metrics server listening on/ {print $NF}' "$work/daemon$i.log" | awk -F/ '{print $3":"$5}')
  for _ in $(seq 150); do
    following=$(curl -sf "http://$metrics/metrics" | python3 -c '
import sys
m = dict(l.split()[:2] for l in sys.stdin if l.startswith("chorus_chain_"))
head = float(m.get("chorus_chain_head_block", 0))
print(int(m.get("chorus_chain_reachable") == "1" and head > 0
          and float(m.get("chorus_chain_cursor_block", -1)) == head))')
    [ "$following" = 1 ] && break
    sleep 0.1
  done
  [ "$following" = 1 ] || {
    echo "node $i does not follow the chain: $(curl -s "http://$metrics/metrics" | grep '^chorus_chain_')" >&2
    exit 1
  }
done
echo "compose: ok"

#!/usr/bin/env bash
# Exercises deploy/compose.yaml without a container engine that can run it (run by
# scripts/test.sh; scripts/check-image.sh checks the image itself):
#   - the file: every service the README names, every file it mounts exists, Prometheus scrapes
#     exactly the chorus nodes, Grafana's provisioning points at Prometheus and at the mounted
#     dashboard, the init step covers every node's volume, every CHORUS_* variable is a setting;
#   - the community: deploy/image/community-init.sh initialises three repos as one replication
#     community, peered (by /dns4 names, as in compose), is idempotent, and the three daemons
#     started on those repos with the compose file's environment connect to each other, fetch
#     each other's blocks and hold an upload on all three nodes (R = 3).
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
  python3 - "$work/settings.json" >"$work/node.env" <<'PY'
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
for name in ("community-init", "prometheus", "grafana", "chain"):
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
echo "compose: ok"

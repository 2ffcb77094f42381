"""Replication benchmark (scripts/bench-replication.sh): a library of 4 MB tracks replicated
across five chorus daemons at R = 3, W = 2, beside a chorus -> chorus pairwise copy of the same
library in the same run; and the acknowledgement latency of a 4 MB upload at W = 2 beside a
plain local add. Everything on loopback, fresh repos, release binary."""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_util import free_port  # noqa: E402


class Node:
    def __init__(self, chorus, root, name):
        self.chorus = chorus
        self.repo = os.path.join(root, name)
        self.port = free_port()
        self.proc = None
        self.api = None
        self.run("init")
        self.run("config", "swarm.routing", "none")
        self.run("config", "--json", "swarm.autonat", "false")
        self.id = self.run("config", "identity.peer_id").strip()

    def run(self, *args):
        return subprocess.run([self.chorus, "--repo", self.repo, *args], check=True,
                              capture_output=True, text=True).stdout

    def addr(self):
        return f"/ip4/127.0.0.1/tcp/{self.port}/p2p/{self.id}"

    def start(self):
        self.proc = subprocess.Popen(
            [self.chorus, "--repo", self.repo, "daemon", "--api-addr", "127.0.0.1:0",
             "--gateway-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0",
             "--swarm-addr", f"/ip4/127.0.0.1/tcp/{self.port}"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for line in self.proc.stdout:
            if line.startswith("API server listening on"):
                parts = line.split()[-1].split("/")
                self.api = f"{parts[2]}:{parts[4]}"
            if line.strip() == "Daemon is ready":
                break
        else:
            sys.exit(f"daemon {self.repo} did not start")

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait()

    def rpc(self, command, *args):
        url = f"http://{self.api}/api/v0/{command}"
        out = subprocess.run(["curl", "-sS", "--fail-with-body", "-X", "POST", *args, url],
                             check=True, capture_output=True, text=True).stdout
        return out

    def add(self, path):
        """Adds `path`; returns (root, seconds until the response ended)."""
        out = subprocess.run(
            ["curl", "-sS", "--fail-with-body", "-X", "POST", "-F", f"file=@{path}",
             "-w", "\n%{time_total}", f"http://{self.api}/api/v0/add"],
            check=True, capture_output=True, text=True).stdout.splitlines()
        out = [line for line in out if line.strip()]
        return json.loads(out[-2])["Hash"], float(out[-1])


def library(root, count, size, seed):
    os.makedirs(root, exist_ok=True)
    rng = random.Random(seed)
    paths = []
    for i in range(count):
        path = os.path.join(root, f"track{i:04}.bin")
        with open(path, "wb") as f:
            f.write(rng.randbytes(size))
        paths.append(path)
    return paths


def wait_connected(nodes):
    deadline = time.time() + 60
    for n in nodes:
        for m in nodes:
            if n is m:
                continue
            while m.id not in n.rpc("swarm/peers"):
                if time.time() > deadline:
                    sys.exit(f"{n.id} never connected to {m.id}")
                time.sleep(0.1)


def pct(values, p):
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--chorus", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--library-mib", type=int, default=1024)
    ap.add_argument("--latency-samples", type=int, default=40)
    a = ap.parse_args()
    track = 4_000_000
    count = max(1, a.library_mib * 1024 * 1024 // track)
    tracks = library(os.path.join(a.work, "library"), count, track, 1)
    total = count * track
    print(f"library: {count} tracks of 4 MB = {total / 1e6:.0f} MB", flush=True)

    # Pairwise: B pins every root of A's library over Bitswap (the copy replication makes).
    a_node = Node(a.chorus, a.work, "pair-a")
    b_node = Node(a.chorus, a.work, "pair-b")
    a_node.start()
    b_node.start()
    roots = [a_node.add(p)[0] for p in tracks]
    b_node.rpc("swarm/connect", "--data-urlencode", f"arg={a_node.addr()}", "-G")
    started = time.time()
    for r in roots:
        b_node.rpc(f"pin/add?arg={r}")
    pair_secs = time.time() - started
    pair = total / pair_secs / 1e6
    print(f"pairwise chorus -> chorus (pin add over Bitswap): {pair:.1f} MB/s", flush=True)

    # Plain local adds of 4 MB (no replication): the latency reference.
    fresh = library(os.path.join(a.work, "plain"), a.latency_samples, track, 2)
    plain = [a_node.add(p)[1] for p in fresh]
    a_node.stop()
    b_node.stop()

    # Five nodes, R = 3, W = 2: the library uploaded to node 0, then until every root has
    # three holders.
    nodes = [Node(a.chorus, a.work, f"node{i}") for i in range(5)]
    addrs = [n.addr() for n in nodes]
    section = json.dumps({"enabled": True, "nodes": addrs, "factor": 3, "write_quorum": 2,
                          "repair_interval": "2s", "repair_bytes_per_sec": 0})
    for n in nodes:
        n.run("config", "--json", "replication", section)
        n.start()
    wait_connected(nodes)
    started = time.time()
    roots = [nodes[0].add(p)[0] for p in tracks]
    acked = time.time() - started
    pending = set(roots)
    while pending:
        for r in list(pending):
            status = json.loads(nodes[0].rpc(f"replication/status?arg={r}"))
            if len(status["Holders"]) >= 3:
                pending.discard(r)
        if pending:
            time.sleep(0.5)
    repl_secs = time.time() - started
    repl = 3 * total / repl_secs / 1e6
    print(f"replication, 5 nodes, R = 3, W = 2: {repl:.1f} MB/s of stored copies "
          f"({3 * total / 1e6:.0f} MB in {repl_secs:.1f} s; uploads acknowledged after "
          f"{acked:.1f} s) = {repl / pair:.2f} x pairwise", flush=True)

    fresh = library(os.path.join(a.work, "acked"), a.latency_samples, track, 3)
    ack = [nodes[0].add(p)[1] for p in fresh]
    for n in nodes:
        n.stop()
    print(f"4 MB upload, W = 2: median {statistics.median(ack) * 1000:.0f} ms, "
          f"p99 {pct(ack, 99) * 1000:.0f} ms; plain local add: median "
          f"{statistics.median(plain) * 1000:.0f} ms, p99 {pct(plain, 99) * 1000:.0f} ms; "
          f"median ratio {statistics.median(ack) / statistics.median(plain):.2f}", flush=True)


if __name__ == "__main__":
    main()

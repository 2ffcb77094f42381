#!/usr/bin/env python3
"""Kill -9 campaign: kills the daemon or the CLI at random points of every write path, many
times, and checks after each kill that the repo opens, `repo verify` is clean, and every
write that was acknowledged before the kill is there (pinned, and every block of it readable).

  scripts/kill-campaign.py [--kills N] [--paths add,import,pin-fetched,gc,compaction,cli-add]
                           [--chorus path/to/chorus] [--seed S]

Paths:
  add          RPC `add` through the CLI with a daemon; the daemon is killed.
  import       RPC `dag import` of CARs through the CLI; the daemon is killed.
  pin-fetched  `pin add` of content another daemon holds (fetched over Bitswap); the
               fetching daemon is killed.
  gc           `repo gc` with pinned and unpinned content; the daemon is killed mid-GC.
  compaction   `repo gc` over 256 KiB blocks in small packs, so GC compacts; killed mid-GC.
  cli-add      the offline CLI's `add` (no daemon); the CLI is killed.

An acknowledgement is a line of output the client printed (`added <cid> ...`, `pinned ...`,
`import ... root <cid>`) before the kill. Everything runs on 127.0.0.1 in temporary repos.
Prints one line per path: kills, acknowledged writes checked, failures; exits 1 on any failure.
"""

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def default_chorus():
    for p in ("target/release/chorus", "target/debug/chorus"):
        if os.path.exists(os.path.join(ROOT, p)):
            return os.path.join(ROOT, p)
    sys.exit("build chorus first (cargo build --release -p chorus)")


class Repo:
    def __init__(self, chorus, path):
        self.chorus = chorus
        self.path = path
        self.daemon = None
        self.api = None
        self.swarm = []
        # Acknowledged roots already checked whole (see `check`).
        self.checked = 0

    def run(self, *args, check=True, stdin=None, timeout=300):
        p = subprocess.run([self.chorus, "--repo", self.path, *args], capture_output=True,
                           stdin=stdin, timeout=timeout)
        if check and p.returncode != 0:
            raise RuntimeError(f"chorus {' '.join(args)}: {p.returncode}\n{p.stderr.decode()}")
        return p.stdout.decode()

    def popen(self, *args):
        return subprocess.Popen([self.chorus, "--repo", self.path, *args], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True)

    def start(self, offline=True):
        args = ["daemon", "--api-addr", "127.0.0.1:0", "--gateway-addr", "127.0.0.1:0",
                "--metrics-addr", ""]
        if offline:
            args.append("--offline")
        else:
            args += ["--swarm-addr", "/ip4/127.0.0.1/tcp/0"]
        self.daemon = subprocess.Popen([self.chorus, "--repo", self.path, *args],
                                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                       stdin=subprocess.DEVNULL, text=True)
        self.swarm = []
        for line in self.daemon.stdout:
            line = line.strip()
            if line.startswith("Swarm listening on "):
                self.swarm.append(line.rsplit(" ", 1)[1])
            if line == "Daemon is ready":
                break
        else:
            raise RuntimeError("daemon exited before it was ready")
        threading.Thread(target=lambda s=self.daemon.stdout: [None for _ in s],
                         daemon=True).start()

    def kill(self):
        if self.daemon and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGKILL)
        if self.daemon:
            self.daemon.wait()
        self.daemon = None

    def stop(self):
        if self.daemon and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            self.daemon.wait(timeout=60)
        self.daemon = None

    def peer_id(self):
        import json
        return json.loads(self.run("id"))["ID"]


def write_files(dir, rng, n, size):
    os.makedirs(dir, exist_ok=True)
    paths = []
    for i in range(n):
        p = os.path.join(dir, f"f{i}-{rng.randrange(1 << 30)}")
        with open(p, "wb") as f:
            f.write(rng.randbytes(rng.randrange(size // 2, size)))
        paths.append(p)
    return paths


def acked_roots(lines, prefix):
    """CIDs the client acknowledged: the second word of lines starting with `prefix`."""
    out = []
    for line in lines:
        parts = line.split()
        if len(parts) >= 2 and line.startswith(prefix):
            out.append(parts[1])
    return out


SAMPLER = random.Random(0)


def check(repo, acked, failures, what):
    """The repo opens, verifies clean, holds every acknowledged root pinned, and the roots
    acknowledged since the last check plus a sample of older ones are whole (every block
    exported)."""
    fresh = len(acked) - repo.checked
    repo.checked = len(acked)
    p = subprocess.run([repo.chorus, "--repo", repo.path, "repo", "verify"],
                       capture_output=True, text=True)
    if p.returncode != 0 or "0 corrupt, 0 missing" not in p.stdout:
        failures.append(f"{what}: repo verify: {(p.stdout + p.stderr).strip()[-300:]}")
    pins = repo.run("pin", "ls", "--type", "recursive", "-q")
    pinned = set(pins.split())
    for cid in acked:
        if cid not in pinned:
            failures.append(f"{what}: acknowledged {cid} is not pinned")
    older = acked[: len(acked) - fresh]
    sample = acked[len(acked) - fresh :] + SAMPLER.sample(older, min(5, len(older)))
    for cid in sample:
        p = subprocess.run([repo.chorus, "--repo", repo.path, "dag", "export", cid],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if p.returncode != 0:
            failures.append(f"{what}: acknowledged {cid} unreadable: {p.stderr.decode()[-200:]}")


# Kills that hit a client still at work (the others came after it had finished).
INTERRUPTED = [0]
# Running estimate of how long the operation under test takes, seconds.
DURATION = [None]


def kill_during(repo, client, rng, _max_delay=None):
    """Kills the daemon (or the client, when there is no daemon) at a random point of the
    client's run, then collects the lines the client printed before. The point is drawn from
    how long the operation has been taking (a running estimate), in the later 60 % of it: the
    CLI's start-up takes the first tenth of a second, and a daemon killed before the CLI
    connects is just absent (the CLI then works offline). Most kills land while the write is
    in progress, some just after it is acknowledged."""
    started = time.time()
    if DURATION[0] is None:
        # The path's first run calibrates: it completes, then the kill comes right after
        # the acknowledgement (the other case worth testing).
        client.wait()
        DURATION[0] = time.time() - started
    deadline = started + rng.uniform(0.4 * DURATION[0], 0.98 * DURATION[0])
    while time.time() < deadline and client.poll() is None:
        time.sleep(0.002)
    if client.poll() is not None:
        # Finished first: the estimate was too long.
        DURATION[0] = 0.5 * DURATION[0] + 0.5 * (time.time() - started)
    else:
        # Still running: the run takes at least this long.
        DURATION[0] = max(DURATION[0], (time.time() - started) * 1.05)
    if repo.daemon:
        repo.kill()
    else:
        client.send_signal(signal.SIGKILL)
    try:
        out, _ = client.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        client.kill()
        out, _ = client.communicate()
    if client.returncode != 0:
        INTERRUPTED[0] += 1
    return out.splitlines()


def path_add(chorus, work, rng, kills, cli_only=False):
    repo = Repo(chorus, os.path.join(work, "repo"))
    repo.run("init")
    acked, failures = [], []
    for k in range(kills):
        files = write_files(os.path.join(work, f"in{k}"), rng, rng.randrange(2, 8), 8_000_000)
        if not cli_only:
            repo.start()
        client = repo.popen("add", "-r", "--chunker", "size-65536", *files)
        lines = kill_during(repo, client, rng, 1.5)
        # `add` prints each file when its DAG is done and the root last; only the whole
        # command's success acknowledges (its roots are pinned once it returns), so the
        # lines of a killed add count only if the command finished before the kill.
        if client.returncode == 0:
            acked += acked_roots(lines, "added ")
        shutil.rmtree(os.path.join(work, f"in{k}"))
        check(repo, acked, failures, f"kill {k}")
    return acked, failures


def path_import(chorus, work, rng, kills):
    src = Repo(chorus, os.path.join(work, "src"))
    src.run("init")
    cars = []
    for i in range(8):
        files = write_files(os.path.join(work, f"src{i}"), rng, 6, 4_000_000)
        root = src.run("add", "-r", "-Q", "--cid-version", "1", *files).split()[-1]
        car = os.path.join(work, f"{i}.car")
        with open(car, "wb") as f:
            subprocess.run([chorus, "--repo", src.path, "dag", "export", root], stdout=f,
                           check=True)
        cars.append((car, root))
    repo = Repo(chorus, os.path.join(work, "repo"))
    repo.run("init")
    acked, failures = [], []
    for k in range(kills):
        repo.start()
        chosen = rng.sample(cars, rng.randrange(1, len(cars)))
        client = repo.popen("dag", "import", *[c for c, _ in chosen])
        lines = kill_during(repo, client, rng, 0.8)
        if client.returncode == 0:
            acked += [root for _, root in chosen]
        check(repo, acked, failures, f"kill {k}")
    return acked, failures


def path_pin_fetched(chorus, work, rng, kills):
    provider = Repo(chorus, os.path.join(work, "provider"))
    provider.run("init")
    provider.run("config", "swarm.routing", "none")
    provider.start(offline=False)
    repo = Repo(chorus, os.path.join(work, "repo"))
    repo.run("init")
    repo.run("config", "swarm.routing", "none")
    acked, failures = [], []
    try:
        for k in range(kills):
            files = write_files(os.path.join(work, f"in{k}"), rng, 8, 3_000_000)
            root = provider.run("add", "-r", "-Q", *files).split()[-1]
            repo.start(offline=False)
            repo.run("swarm", "connect", provider.swarm[0] + "/p2p/" + provider.peer_id())
            client = repo.popen("pin", "add", root)
            lines = kill_during(repo, client, rng, 1.0)
            if client.returncode == 0 and any(root in line for line in lines):
                acked.append(root)
            check(repo, acked, failures, f"kill {k}")
    finally:
        provider.stop()
    return acked, failures


def path_gc(chorus, work, rng, kills, block_size, pack_size=None):
    repo = Repo(chorus, os.path.join(work, "repo"))
    repo.run("init")
    if pack_size:
        # Small packs seal often, so each GC finds sparse sealed packs to compact.
        repo.run("config", "--json", "datastore.pack_size_bytes", str(pack_size))
    acked, failures = [], []
    for k in range(kills):
        keep = write_files(os.path.join(work, f"keep{k}"), rng, 3, 300_000)
        # Enough garbage (thousands of blocks) that GC runs for a while to be killed in.
        drop = write_files(os.path.join(work, f"drop{k}"), rng, 48, 2_000_000)
        chunker = f"size-{block_size}"
        root = repo.run("add", "-r", "-Q", "--chunker", chunker, *keep).split()[-1]
        acked.append(root)
        # Garbage for this round: added unpinned, in one command.
        repo.run("add", "-r", "-Q", "--pin=false", "--chunker", chunker, *drop)
        shutil.rmtree(os.path.join(work, f"keep{k}"))
        shutil.rmtree(os.path.join(work, f"drop{k}"))
        repo.start()
        client = repo.popen("repo", "gc", "-q")
        kill_during(repo, client, rng, 0.6)
        check(repo, acked, failures, f"kill {k}")
    return acked, failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kills", type=int, default=100)
    ap.add_argument("--paths", default="add,import,pin-fetched,gc,compaction,cli-add")
    ap.add_argument("--chorus", default=None)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    args = ap.parse_args()
    chorus = os.path.abspath(args.chorus or default_chorus())
    rng = random.Random(args.seed)
    print(f"seed {args.seed}, {args.kills} kills per path, {chorus}")
    status = 0
    for name in args.paths.split(","):
        with tempfile.TemporaryDirectory(prefix=f"chorus-kill-{name}-") as work:
            started = time.time()
            INTERRUPTED[0] = 0
            DURATION[0] = None
            if name == "add":
                acked, failures = path_add(chorus, work, rng, args.kills)
            elif name == "cli-add":
                acked, failures = path_add(chorus, work, rng, args.kills, cli_only=True)
            elif name == "import":
                acked, failures = path_import(chorus, work, rng, args.kills)
            elif name == "pin-fetched":
                acked, failures = path_pin_fetched(chorus, work, rng, args.kills)
            elif name == "gc":
                acked, failures = path_gc(chorus, work, rng, args.kills, 32768)
            elif name == "compaction":
                acked, failures = path_gc(chorus, work, rng, args.kills, 32768, 4 << 20)
            else:
                sys.exit(f"unknown path {name}")
            took = time.time() - started
            print(f"{name:12} kills {args.kills:4}  mid-operation {INTERRUPTED[0]:4}  "
                  f"acknowledged {len(acked):5}  failures {len(failures)}  ({took:.0f} s)")
            for f in failures[:10]:
                print("   ", f)
            if failures:
                status = 1
    sys.exit(status)


if __name__ == "__main__":
    main()

"""Reprovide sweep benchmark (a step of scripts/bench-scale.sh, or alone on an existing repo):
a daemon on REPO, strategy `all`, bootstrapped to a local DHT of N kad servers
(node/examples/dht_servers.rs, one process, 127.0.0.1), runs one full reprovide cycle.

Reported: the work-list build (keys, seconds, RSS peak), the sweep (keys/hour announced,
ADD_PROVIDER records the servers received, RSS min/max while sweeping, daemon CPU), and a check
that every sampled key (1 in 4,096 of the repo's keys, chosen by its multihash's last bytes as
the servers choose it) reached every server. A sweep that outlasts --budget-secs is stopped and
its rate reported over the part done.

Alone: python3 bench_reprovide.py --chorus BIN --servers-bin BIN --repo REPO --work DIR
(the repo is used as it is, with its config changed: bootstrap peers, log level).
"""

import argparse
import base64
import datetime
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_util import free_port, proc_kb  # noqa: E402

# The daemon's first reprovide cycle starts one minute after start (DEFAULT_INITIAL_DELAY).
INITIAL_DELAY_S = 60
STEP_TIMEOUT_S = 600
# The daemon's log colours its fields.
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def cpu_secs(pid):
    """User + system CPU seconds of a live process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def varint(buf, i):
    n = shift = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return n, i


B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def multihash(cid):
    """The multihash bytes of a CID string (CIDv0 base58btc, or CIDv1 in base32 `b...`)."""
    if cid.startswith("Qm"):
        n = 0
        for ch in cid:
            n = n * 58 + B58.index(ch)
        return n.to_bytes(34, "big")
    if not cid.startswith("b"):
        raise ValueError(f"unexpected multibase in {cid}")
    s = cid[1:].upper()
    raw = base64.b32decode(s + "=" * (-len(s) % 8))
    _, i = varint(raw, 0)  # version
    _, i = varint(raw, i)  # codec
    return raw[i:]


def sampled(mh):
    """The servers' sample: a multihash ending in a byte below 16, then a zero byte."""
    return mh[-1] == 0 and mh[-2] < 16


class Servers:
    def __init__(self, binary, n, log_path):
        self.proc = subprocess.Popen([binary, str(n)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=open(log_path, "wb"),
                                     text=True)
        self.addrs = []
        while True:
            line = self.proc.stdout.readline()
            if not line:
                sys.exit(f"dht_servers exited; see {log_path}")
            if line.startswith("addr "):
                self.addrs.append(line.split()[1])
            elif line.strip() == "ready":
                break

    def stats(self):
        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def metric(port, name):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def log_time(stamp):
    """A log line's RFC 3339 timestamp, or None."""
    try:
        return datetime.datetime.fromisoformat(stamp)
    except ValueError:
        return None


def expected_sample(chorus, repo, api_port):
    """The repo's sampled multihashes, from `refs local`."""
    out = subprocess.run(["curl", "-sf", "-X", "POST",
                          f"http://127.0.0.1:{api_port}/api/v0/refs/local"],
                         check=True, capture_output=True, text=True, timeout=STEP_TIMEOUT_S).stdout
    want, total = set(), 0
    for line in out.splitlines():
        if not line.strip():
            continue
        total += 1
        mh = multihash(json.loads(line)["Ref"])
        if sampled(mh):
            want.add(mh.hex())
    return want, total


def sweep(chorus, servers_bin, repo, work, row, n_servers=20, budget_secs=3600,
          log=lambda msg: print(msg, file=sys.stderr, flush=True)):
    """Runs the benchmark; reports through row(what, value, reference, verdict)."""
    servers = Servers(servers_bin, n_servers, os.path.join(work, "dht-servers.log"))
    daemon = None
    try:
        subprocess.run([chorus, "--repo", repo, "bootstrap", "add", *servers.addrs],
                       check=True, capture_output=True)
        api, metrics = free_port(), free_port()
        log_path = os.path.join(work, "reprovide-daemon.log")
        env = dict(os.environ, RUST_LOG="warn,chorus_node::network::reprovide=info", NO_COLOR="1")
        started = time.monotonic()
        daemon = subprocess.Popen(
            [chorus, "--repo", repo, "daemon", "--swarm-addr", "/ip4/127.0.0.1/tcp/0",
             "--api-addr", f"127.0.0.1:{api}", "--gateway-addr", "127.0.0.1:0",
             "--metrics-addr", f"127.0.0.1:{metrics}"],
            stdout=open(log_path, "wb"), stderr=subprocess.STDOUT, env=env)
        with open(os.path.join(work, "daemon.pid"), "w") as f:
            f.write(str(daemon.pid))

        def log_text():
            with open(log_path, errors="replace") as f:
                return ANSI.sub("", f.read())

        def wait_log(pattern, timeout, what):
            deadline = time.monotonic() + timeout
            while True:
                m = re.search(pattern, log_text(), re.M)
                if m:
                    return m
                if daemon.poll() is not None:
                    sys.exit(f"daemon exited during {what}; see {log_path}")
                if time.monotonic() > deadline:
                    return None
                time.sleep(0.2)

        rss = {"build": 0, "sweep_min": None, "sweep_max": 0}
        phase = ["wait"]
        halt = threading.Event()

        def sample():
            while not halt.is_set():
                v = proc_kb(daemon.pid, "VmRSS")
                if phase[0] == "build":
                    rss["build"] = max(rss["build"], v)
                elif phase[0] == "sweep" and v:
                    rss["sweep_max"] = max(rss["sweep_max"], v)
                    rss["sweep_min"] = v if rss["sweep_min"] is None else min(rss["sweep_min"], v)
                time.sleep(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()

        log(f"reprovide: waiting for the first cycle ({INITIAL_DELAY_S} s after start)")
        # The build starts at the end of the initial delay; its end is logged.
        while time.monotonic() < started + INITIAL_DELAY_S:
            if daemon.poll() is not None:
                sys.exit(f"daemon exited; see {log_path}")
            time.sleep(0.2)
        phase[0] = "build"
        build_start = time.monotonic()
        m = wait_log(r"^(\S+)\s.*work list built.*keys=(\d+)", STEP_TIMEOUT_S * 6,
                     "the work-list build")
        if not m:
            sys.exit("the reprovide work list was not built within an hour")
        keys = int(m.group(2))
        built_at = log_time(m.group(1))
        build_secs = time.monotonic() - build_start
        phase[0] = "sweep"
        sweep_start = time.monotonic()
        cpu0 = cpu_secs(daemon.pid)
        srv_cpu0 = cpu_secs(servers.proc.pid)
        log(f"reprovide: work list of {keys:,} keys in {build_secs:.1f} s; sweeping "
            f"(budget {budget_secs} s)")
        done = wait_log(r"^(\S+)\s.*reprovide cycle done", budget_secs, "the sweep")
        sweep_secs = time.monotonic() - sweep_start
        if done and built_at and log_time(done.group(1)):
            # The daemon's own timestamps, finer than this loop's polling.
            sweep_secs = (log_time(done.group(1)) - built_at).total_seconds()
        cpu = cpu_secs(daemon.pid) - cpu0
        srv_cpu = cpu_secs(servers.proc.pid) - srv_cpu0
        halt.set()
        sampler.join()
        announced = metric(metrics, "chorus_network_reprovide_keys_total")
        errors = metric(metrics, "chorus_network_reprovide_errors_total")
        regions = metric(metrics, "chorus_network_reprovide_regions_total")
        stats = servers.stats()
        want, total = expected_sample(chorus, repo, api)
    finally:
        if daemon is not None and daemon.poll() is None:
            daemon.terminate()
            try:
                daemon.wait(60)
            except subprocess.TimeoutExpired:
                daemon.kill()
        pidfile = os.path.join(work, "daemon.pid")
        if os.path.exists(pidfile):
            os.remove(pidfile)
        servers.stop()

    per_hour = announced / sweep_secs * 3600 if sweep_secs else 0
    row("reprovide: work list (strategy all)", f"{keys:,} keys in {build_secs:.1f} s",
        f"RSS peak {rss['build'] / 1e6:,.0f} MB", "")
    state = "full cycle" if done else f"stopped after {budget_secs} s"
    row(f"reprovide sweep to {n_servers} local DHT servers ({state})",
        f"{announced:,.0f} keys in {sweep_secs:.1f} s = {per_hour / 1e6:.2f}M keys/hour",
        "target >= 1M/hour (kubo's sweep: ~0.3M/hour on small boards)",
        "met" if per_hour >= 1e6 else "MISSED")
    row("  ADD_PROVIDER records received (sum over servers; per server min/max)",
        f"{stats['records']:,} ({stats['min']:,} / {stats['max']:,})",
        f"{regions:,.0f} regions swept, {errors:,.0f} errors", "")
    row("  daemon RSS while sweeping (min / max)",
        f"{(rss['sweep_min'] or 0) / 1e6:,.0f} / {rss['sweep_max'] / 1e6:,.0f} MB",
        "flat; target < 250 MB", "met" if rss["sweep_max"] < 250e6 else "MISSED")
    row("  CPU during the sweep (daemon / the DHT servers)",
        f"{cpu:.0f} s / {srv_cpu:.0f} s", "", "")
    got = {k: n for k, n in stats["sampled"]}
    full = sum(1 for k in want if got.get(k) == n_servers)
    stray = sum(1 for k in got if k not in want)
    if done:
        verdict = "met" if full == len(want) and not stray else "MISSED"
    else:
        verdict = f"{full / max(1, len(want)):.0%} so far"
    row("  sampled keys on every server",
        f"{full:,} of {len(want):,} (of {total:,} keys); {stray} not in the repo",
        "all of them after a full cycle", verdict)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--chorus", required=True)
    ap.add_argument("--servers-bin", required=True)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--servers", type=int, default=20)
    ap.add_argument("--budget-secs", type=float, default=3600)
    a = ap.parse_args()

    def row(what, value, ref, verdict):
        print(f"{what} | {value} | {ref} | {verdict}", flush=True)

    sweep(a.chorus, a.servers_bin, a.repo, a.work, row, a.servers, a.budget_secs)


if __name__ == "__main__":
    main()

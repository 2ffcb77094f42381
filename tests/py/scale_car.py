"""Deterministic CARv1 generator for the scale benchmark (scripts/bench-scale.sh,
tests/py/bench_scale.py).

The repo it describes is a music library's worth of blocks: "track groups" of SMALL_PER_GROUP
small raw blocks (JSON metadata, 200-1000 bytes each, so they live inline in chorus's index)
followed by one 256 KiB raw payload block (incompressible). The leaves are split into ROOTS
contiguous ranges; each range hangs under a balanced tree of plain dag-pb nodes (links only:
Hash and Tsize, no Name, no Data; at most FANOUT = 174 links per node, as UnixFS's balanced
layout), whose top node is one root. Every block is unique. Leaves are CIDv1 raw (0x55),
nodes CIDv1 dag-pb (0x70), all sha2-256.

Blocks are written post-order (a node right after its last child), so the file streams in one
pass; the header's roots are rewritten in place at the end (every root CID has the same length).

Everything derives from `seed`: small block i from one sequential stream, payload block k from
its own generator, so the payload alone (`payload_file`) and the first n small blocks
(`small_files`) can be written again later without the CAR: kubo's inputs, the same bytes.

Usage (standalone): scale_car.py OUT.car LEAVES [--seed N]  -> prints the manifest as JSON.
"""

import base64
import hashlib
import json
import os
import random
import sys

SMALL_MIN, SMALL_MAX = 200, 1000
SMALL_PER_GROUP = 800
PAYLOAD = 256 * 1024
FANOUT = 174
ROOTS = 100
RAW, DAG_PB = 0x55, 0x70
SAMPLE = 20000  # leaf CIDs of pinned roots kept for random gateway reads


def varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def cid_bytes(codec: int, data: bytes) -> bytes:
    return bytes((0x01, codec, 0x12, 0x20)) + hashlib.sha256(data).digest()


def cid_str(raw: bytes) -> str:
    """CIDv1 in base32 (multibase 'b'), as chorus and kubo print v1 CIDs."""
    return "b" + base64.b32encode(raw).decode().lower().rstrip("=")


def dagpb_node(links) -> bytes:
    """PBNode with only Links (field 2): PBLink{Hash(1) bytes, Tsize(3) varint}."""
    out = bytearray()
    for cid, tsize in links:
        link = b"\x0a" + varint(len(cid)) + cid + b"\x18" + varint(tsize)
        out += b"\x12" + varint(len(link)) + link
    return bytes(out)


def is_payload(leaf: int) -> bool:
    return leaf % (SMALL_PER_GROUP + 1) == SMALL_PER_GROUP


def payload_block(seed: int, k: int) -> bytes:
    return random.Random(seed * 1_000_003 + k).randbytes(PAYLOAD)


class SmallBlocks:
    """Small block i: a JSON object of 200-1000 bytes, unique through its id."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        # 1 MiB of base64 text to cut descriptions from.
        self.pool = base64.b64encode(self.rng.randbytes(768 * 1024))
        self.i = 0

    def next(self) -> bytes:
        rng = self.rng
        size = SMALL_MIN + rng.getrandbits(16) % (SMALL_MAX - SMALL_MIN + 1)
        i = self.i
        self.i += 1
        head = b'{"id":%d,"kind":"track-meta","group":%d,"title":"track %d","desc":"' % (
            i, i // SMALL_PER_GROUP, i % SMALL_PER_GROUP)
        fill = max(0, size - len(head) - 2)
        off = rng.getrandbits(20) % (len(self.pool) - fill)
        return head + self.pool[off:off + fill] + b'"}'


def root_header(roots) -> bytes:
    """dag-cbor {"roots": [CID...], "version": 1} (keys in canonical order)."""
    n = len(roots)
    if n < 24:
        arr = bytes((0x80 + n,))
    elif n < 256:
        arr = bytes((0x98, n))
    else:
        arr = bytes((0x99,)) + n.to_bytes(2, "big")
    body = bytearray(b"\xa2\x65roots" + arr)
    for c in roots:
        body += b"\xd8\x2a\x58" + bytes((len(c) + 1,)) + b"\x00" + c
    body += b"\x67version\x01"
    return varint(len(body)) + bytes(body)


def generate(path: str, leaves: int, seed: int = 1, roots: int = ROOTS) -> dict:
    roots = max(1, min(roots, leaves))
    placeholder = [bytes(36)] * roots
    small = SmallBlocks(seed)
    sample_rng = random.Random(seed + 7)
    stats = {"small_blocks": 0, "small_bytes": 0, "payload_blocks": 0, "payload_bytes": 0,
             "node_blocks": 0, "node_bytes": 0}
    root_cids, root_blocks = [], []
    sample, seen = [], 0  # reservoir of (root index, leaf CID string)
    buf = bytearray()
    f = open(path, "wb", buffering=0)
    f.write(root_header(placeholder))

    def put(c: bytes, data: bytes) -> None:
        buf.extend(varint(len(c) + len(data)))
        buf.extend(c)
        buf.extend(data)
        if len(buf) >= 8 << 20:
            f.write(buf)
            buf.clear()

    leaf = 0
    payload_k = 0
    for r in range(roots):
        end = leaves * (r + 1) // roots
        levels = [[]]  # levels[h]: (cid, tsize) of finished subtrees of height h
        count = 0
        nodes_before = stats["node_blocks"]

        def emit_node(links) -> tuple:
            data = dagpb_node(links)
            c = cid_bytes(DAG_PB, data)
            put(c, data)
            stats["node_blocks"] += 1
            stats["node_bytes"] += len(data)
            return c, len(data) + sum(t for _, t in links)

        def push(h: int, entry) -> None:
            while True:
                if len(levels) <= h:
                    levels.append([])
                levels[h].append(entry)
                if len(levels[h]) < FANOUT:
                    return
                entry = emit_node(levels[h])
                levels[h] = []
                h += 1

        while leaf < end:
            if is_payload(leaf):
                data = payload_block(seed, payload_k)
                payload_k += 1
                stats["payload_blocks"] += 1
                stats["payload_bytes"] += len(data)
            else:
                data = small.next()
                stats["small_blocks"] += 1
                stats["small_bytes"] += len(data)
            c = cid_bytes(RAW, data)
            put(c, data)
            count += 1
            if r != 0:  # root 0 is the one left unpinned: never read it
                seen += 1
                if len(sample) < SAMPLE:
                    sample.append(c)
                else:
                    j = sample_rng.randrange(seen)
                    if j < SAMPLE:
                        sample[j] = c
            push(0, (c, len(data)))
            leaf += 1
        # Close the tree: every partial level becomes a node, up to a single dag-pb top.
        h = 0
        while True:
            higher = any(levels[k] for k in range(h + 1, len(levels)))
            if not higher and h > 0 and len(levels[h]) == 1:
                top = levels[h][0]
                break
            if levels[h]:
                entry = emit_node(levels[h])
                levels[h] = []
                if len(levels) <= h + 1:
                    levels.append([])
                levels[h + 1].append(entry)
            h += 1
        root_cids.append(top[0])
        root_blocks.append(count + stats["node_blocks"] - nodes_before)
    f.write(buf)
    f.seek(0)
    f.write(root_header(root_cids))
    f.close()
    blocks = stats["small_blocks"] + stats["payload_blocks"] + stats["node_blocks"]
    block_bytes = stats["small_bytes"] + stats["payload_bytes"] + stats["node_bytes"]
    return dict(stats, seed=seed, leaves=leaves, blocks=blocks, block_bytes=block_bytes,
                car_bytes=os.path.getsize(path), roots=[cid_str(c) for c in root_cids],
                root_blocks=root_blocks, unpinned_root=0,
                sample=[cid_str(c) for c in sample])


def payload_file(path: str, seed: int, count: int) -> int:
    """The payload blocks, concatenated: what kubo chunks back into the same 256 KiB pieces."""
    with open(path, "wb") as f:
        for k in range(count):
            f.write(payload_block(seed, k))
    return count * PAYLOAD


def small_files(root: str, seed: int, count: int, per_dir: int = 1000) -> int:
    """The first `count` small blocks, one file each, `per_dir` files per subdirectory."""
    small = SmallBlocks(seed)
    total = 0
    for i in range(count):
        if i % per_dir == 0:
            d = os.path.join(root, f"d{i // per_dir:05}")
            os.makedirs(d)
        data = small.next()
        total += len(data)
        with open(os.path.join(d, f"m{i:07}.json"), "wb") as f:
            f.write(data)
    return total


if __name__ == "__main__":
    seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 1
    m = generate(sys.argv[1], int(sys.argv[2]), seed)
    m["sample"] = m["sample"][:5]
    print(json.dumps(m, indent=1))

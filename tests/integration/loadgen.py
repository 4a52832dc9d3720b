#!/usr/bin/python3
"""A bounded CPU and disk hog for running the test suite under load.

    tests/integration/loadgen.py [--seconds 900] [--cpu N] [--dir DIR] [--mib 256]

Starts N CPU spinners (default: one per CPU) and one disk writer that
rewrites a file of --mib MiB under DIR (default: a fresh directory in /tmp)
in 1 MiB chunks, fsyncing every chunk, round and round. Everything stops
after --seconds, on SIGTERM or SIGINT, or when the parent that started it
goes away; the scratch file is removed. The test harness starts it for the
whole session when DYNVOL_TEST_LOAD is set (tests/integration/conftest.py):
the suite must pass with another process using the CPUs and the disk, as
on a shared machine.
"""
import argparse
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import time


def child(parent):
    """In a hog: SIGTERM ends it (the parent's handler is not its own),
    and so does the parent's end."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    return lambda: os.getppid() == parent


def spin(deadline, parent):
    alive = child(parent)
    x = 0
    while time.monotonic() < deadline and alive():
        for _ in range(100000):
            x = (x * 1103515245 + 12345) & 0xFFFFFFFF


def write(deadline, path, mib, parent):
    alive = child(parent)
    chunk = os.urandom(1 << 20)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        i = 0
        while time.monotonic() < deadline and alive():
            os.pwrite(fd, chunk, (i % mib) << 20)
            os.fsync(fd)
            i += 1
    finally:
        os.close(fd)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=900)
    ap.add_argument("--cpu", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--dir")
    ap.add_argument("--mib", type=int, default=256)
    args = ap.parse_args()
    deadline = time.monotonic() + args.seconds
    scratch = tempfile.mkdtemp(prefix="dvt-load-", dir=args.dir or "/tmp")
    parent, me = os.getppid(), os.getpid()
    procs = [multiprocessing.Process(target=spin, args=(deadline, me), daemon=True)
             for _ in range(args.cpu)]
    procs.append(multiprocessing.Process(
        target=write, daemon=True, args=(deadline, os.path.join(scratch, "hog"), args.mib, me)))
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    for p in procs:
        p.start()
    print(f"loadgen: {args.cpu} CPU spinners and a disk writer in {scratch} for "
          f"{args.seconds:g} s", file=sys.stderr, flush=True)
    try:
        while not stop and time.monotonic() < deadline and os.getppid() == parent:
            time.sleep(0.2)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.join(5)
            if p.is_alive():
                p.kill()
                p.join(5)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Controller benchmark: CreateVolume+DeleteVolume pairs/s and p50/p99 on
the dir and image pools at concurrency 1, 16 and 64; the cost per pair with
100 and with 10,000 existing volumes (it must stay flat); ListVolumes pages
of 500 over 10,000 volumes; the driver's RSS with 10,000 volumes.

  bench/controller.py [--build build] [--duration 3s] [--volumes 10000]

Pools live in a temporary directory on the file system of /tmp. Prints a
table and the ratios against the targets (2 cores: >= 1,000 pairs/s on the
image pool at concurrency 16; a page of 500 in < 20 ms; per-pair cost at
10,000 volumes within 1.2x of the cost at 100).
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def wait_socket(path, proc):
    end = time.time() + 10
    while time.time() < end:
        if proc.poll() is not None:
            raise SystemExit(f"driver exited with {proc.returncode}")
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
            s.close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("driver did not start")


def bench(ctl, endpoint, *args):
    out = subprocess.run([ctl, "-e", endpoint, "-o", "json", "bench", *args],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"bench {args} failed: {out.stderr.strip()}")
    return json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--duration", default="3s")
    ap.add_argument("--volumes", type=int, default=10000)
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    build = os.path.join(ROOT, args.build)
    ctl = os.path.join(build, "dynvolctl")
    tmp = tempfile.mkdtemp(prefix="dvbench-", dir="/tmp")
    for d in ("dir", "img"):
        os.makedirs(os.path.join(tmp, d))
    cfg = os.path.join(tmp, "config.yaml")
    with open(cfg, "w") as f:
        f.write(f"pools:\n  - name: dir\n    backend: dir\n    root: {tmp}/dir\n"
                f"  - name: img\n    backend: image\n    root: {tmp}/img\n"
                f"    options:\n      overcommit: \"100\"\n")
    sock = os.path.join(tmp, "csi.sock")
    endpoint = "unix://" + sock
    proc = subprocess.Popen([os.path.join(build, "dynvol"), "driver", "--endpoint", endpoint,
                             "--state-dir", tmp, "--config", cfg, "--log-level", "warn"],
                            stderr=subprocess.DEVNULL)
    results = {"pairs": [], "growth": {}, "list": None}
    try:
        wait_socket(sock, proc)
        for pool in ("dir", "img"):
            for conc in (1, 16, 64):
                print(f"create+delete on {pool} at concurrency {conc} ...", file=sys.stderr, flush=True)
                r = bench(ctl, endpoint, "-c", str(conc), "-d", args.duration, "--pool", pool,
                          "create-delete")
                r["pool"] = pool
                results["pairs"].append(r)
        # cost growth on the image pool: 100 volumes, then args.volumes
        print("filling 100 volumes ...", file=sys.stderr, flush=True)
        bench(ctl, endpoint, "-c", "16", "-n", "100", "--pool", "img", "create")
        at100 = bench(ctl, endpoint, "-c", "16", "-d", args.duration, "--pool", "img", "create-delete")
        print(f"filling to {args.volumes} volumes ...", file=sys.stderr, flush=True)
        bench(ctl, endpoint, "-c", "16", "-n", str(args.volumes - 100), "--pool", "img", "create")
        atn = bench(ctl, endpoint, "-c", "16", "-d", args.duration, "--pool", "img", "create-delete")
        lst = bench(ctl, endpoint, "-c", "1", "-d", args.duration, "list-page")
        rss = rss_kb(proc.pid)
        results["growth"] = {"at_100": at100, f"at_{args.volumes}": atn}
        results["list"] = lst
        results["rss_kb_with_volumes"] = rss

        print(f"{'pool':>5} {'conc':>5} {'pairs/s':>9} {'p50 us':>8} {'p99 us':>8} {'errors':>6}")
        for r in results["pairs"]:
            print(f"{r['pool']:>5} {r['concurrency']:>5} {r['calls_per_sec']:>9.0f} "
                  f"{r['p50_us']:>8.0f} {r['p99_us']:>8.0f} {r['errors']:>6}")
        c100 = 1e6 / at100["calls_per_sec"]
        cn = 1e6 / atn["calls_per_sec"]
        print(f"image pool, concurrency 16: {at100['calls_per_sec']:.0f} pairs/s with 100 volumes, "
              f"{atn['calls_per_sec']:.0f} with {args.volumes}: cost ratio {cn / c100:.2f} "
              f"(target <= 1.2)")
        print(f"ListVolumes page of 500 over {args.volumes}: p50 {lst['p50_us'] / 1000:.2f} ms, "
              f"p99 {lst['p99_us'] / 1000:.2f} ms (target < 20 ms: {20000 / max(lst['p99_us'], 1):.1f}x)")
        img16 = [r for r in results["pairs"] if r["pool"] == "img" and r["concurrency"] == 16][0]
        print(f"image pairs/s @16: {img16['calls_per_sec']:.0f} / 1000 = "
              f"{img16['calls_per_sec'] / 1000:.2f}x target")
        print(f"driver RSS with {args.volumes} volumes: {rss} kB (target < 8192 kB: "
              f"{8192 / rss:.2f}x)")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=2)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Memory benchmark: where the driver's RSS goes, idle, after concurrent
load and with many volumes, and whether it comes back after the load.

  bench/memory.py [--build build] [--duration 2s] [--volumes 10000]
                  [--settle 1.5] [--malloc-info] [--json FILE]

Starts `dynvol driver` with a dir and an image pool in a temporary
directory under /tmp (as bench/controller.py does), then:

  idle          just after start
  pairs         CreateVolume+DeleteVolume on both pools at concurrency
                1, 16 and 64 (--duration each), like controller.py
  volumes       the image pool filled to --volumes, then ListVolumes pages
                of 500 for --duration

After each phase the RSS is read twice: at once ("end") and --settle
seconds later ("settled"), when the driver has been idle long enough to
hand freed memory back (src/cmd/driver.c on_idle). The peak is the highest
sample (every 0.1 s) during the phase. Each reading splits VmRSS into
anonymous memory (heap, arenas, stacks: what the driver allocates) and
file pages (the mapped binary and libraries: shared, read-only, the same
at every point). --malloc-info also attaches gdb after each phase and prints
glibc's arenas: bytes taken from the system and bytes of those that are
free; a large free share is fragmentation (needs gdb; the driver stops for
about a second).

Targets (docs/benchmarks.md): RSS < 8 MiB idle with pools and with 10,000
volumes. Not a test: it prints numbers.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from benchlib import ctl_bench as bench, stop_driver, wait_socket  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET_KB = 8192
FILL_CHUNK = 1000
T0 = time.time()


def log(msg):
    print(f"[{time.time() - T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


def status_kb(pid):
    """VmRSS, RssAnon and RssFile (+RssShmem) of the process, in kB."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
                    out[key] = int(rest.split()[0])
    except OSError:
        return None
    return {"rss": out.get("VmRSS"), "anon": out.get("RssAnon"),
            "file": out.get("RssFile", 0) + out.get("RssShmem", 0)}


def heap_kb(pid):
    """Rss of the [heap] mapping (glibc's main arena)."""
    total, in_heap = 0, False
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                    in_heap = line.rstrip().endswith("[heap]")
                elif in_heap and line.startswith("Rss:"):
                    total += int(line.split()[1])
    except OSError:
        return None
    return total


def malloc_info(pid):
    """glibc's arenas via gdb: [(arena, system bytes, free bytes)], or None."""
    if not shutil.which("gdb"):
        return None
    tmp = tempfile.mkdtemp(prefix="dvmem-")
    xml_path, script = os.path.join(tmp, "info.xml"), os.path.join(tmp, "info.gdb")
    with open(script, "w") as f:
        f.write(f'set $f = (void *)fopen("{xml_path}", "w")\n'
                "call (int)malloc_info(0, $f)\n"
                "call (int)fclose($f)\n")
    try:
        # the executable by its /proc link: a rebuild may have replaced the file
        subprocess.run(["gdb", "-batch", "-nx", "-x", script, f"/proc/{pid}/exe", str(pid)],
                       capture_output=True, text=True, timeout=60, check=False,
                       stdin=subprocess.DEVNULL)
        with open(xml_path) as f:
            xml = f.read()
    except (OSError, subprocess.TimeoutExpired):
        return None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    arenas = []
    for nr, body in re.findall(r'<heap nr="(\d+)">(.*?)</heap>', xml, re.S):
        free = sum(int(x) for x in re.findall(r'<total type="(?:fast|rest)" count="\d+" '
                                                r'size="(\d+)"/>', body))
        system = re.search(r'<system type="current" size="(\d+)"/>', body)
        arenas.append({"arena": int(nr), "system": int(system.group(1)) if system else None,
                       "free": free})
    return arenas or None


class Sampler:
    """Highest VmRSS every 0.1 s while a phase runs."""

    def __init__(self, pid):
        self.pid, self.peak = pid, 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            s = status_kb(self.pid)
            if s and s["rss"] and s["rss"] > self.peak:
                self.peak = s["rss"]
            time.sleep(0.1)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--duration", default="2s", help="per load run (default 2s)")
    ap.add_argument("--volumes", type=int, default=10000)
    ap.add_argument("--settle", type=float, default=1.5,
                    help="seconds idle before the settled reading (default 1.5)")
    ap.add_argument("--malloc-info", action="store_true",
                    help="print glibc's arenas after each phase (attaches gdb)")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    build = os.path.join(ROOT, args.build)
    exe, ctl = os.path.join(build, "dynvol"), os.path.join(build, "dynvolctl")

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
    proc = subprocess.Popen([exe, "driver", "--endpoint", endpoint, "--state-dir", tmp,
                             "--config", cfg, "--log-level", "warn"],
                            stderr=subprocess.DEVNULL)
    pid = proc.pid
    phases = []

    def reading(name, peak=None):
        end = status_kb(pid)
        log(f"{name}: RSS {end['rss']} kB; settling {args.settle}s ...")
        time.sleep(args.settle)
        settled = status_kb(pid)
        ph = {"phase": name, "peak_kb": peak, "end": end, "settled": settled,
              "heap_kb": heap_kb(pid)}
        if args.malloc_info:
            ph["arenas"] = malloc_info(pid)
        phases.append(ph)

    try:
        wait_socket(sock, proc)
        time.sleep(0.3)
        reading("idle")
        with Sampler(pid) as s:
            for pool in ("dir", "img"):
                for conc in (1, 16, 64):
                    log(f"create+delete on {pool} at concurrency {conc} for {args.duration}")
                    bench(ctl, endpoint, "-c", str(conc), "-d", args.duration,
                          "--pool", pool, "create-delete")
        reading("after create+delete @1/16/64", s.peak)
        with Sampler(pid) as s:
            have = 0
            while have < args.volumes:
                k = min(FILL_CHUNK, args.volumes - have)
                bench(ctl, endpoint, "-c", "16", "-n", str(k), "--pool", "img", "create")
                have += k
                log(f"filling img: {have}/{args.volumes} volumes")
            log(f"ListVolumes pages of 500 for {args.duration}")
            bench(ctl, endpoint, "-c", "1", "-d", args.duration, "list-page")
        reading(f"with {have} volumes, after list pages", s.peak)
    finally:
        stop_driver(proc)
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"{'phase':<36} {'peak':>6} {'end':>6} {'settled':>7} {'anon':>6} {'file':>6} "
          f"{'heap':>6}   (kB; anon/file/heap: settled)")
    for ph in phases:
        st = ph["settled"]
        print(f"{ph['phase']:<36} {ph['peak_kb'] or '-':>6} {ph['end']['rss']:>6} "
              f"{st['rss']:>7} {st['anon']:>6} {st['file']:>6} {ph['heap_kb']:>6}")
        for a in ph.get("arenas") or []:
            print(f"{'':<4}arena {a['arena']}: {a['system'] // 1024} kB from the system, "
                  f"{a['free'] // 1024} kB of it free")
    last = phases[-1]["settled"]["rss"]
    print(f"RSS with {args.volumes} volumes, settled: {last} kB (target < {TARGET_KB} kB: "
          f"{TARGET_KB / last:.2f}x)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"volumes": args.volumes, "duration": args.duration,
                       "settle_s": args.settle, "phases": phases, "target_kb": TARGET_KB},
                      f, indent=2)


if __name__ == "__main__":
    main()

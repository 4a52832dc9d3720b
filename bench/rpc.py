#!/usr/bin/python3
"""RPC round-trip benchmark: Probe calls/s and p50/p99 latency at
concurrency 1, 16 and 64 over a unix socket, plus the driver's RSS idle and
under load. Not a test: it prints numbers and ratios against the targets.

  bench/rpc.py [--build build] [--duration 5s] [--endpoint EP --pid PID]
               [--go-client PATH | --no-go]

With --endpoint it measures another CSI driver already running there (its
RSS only when --pid is given), so peers can be compared side by side.

Then the same Probe load from grpc-go, the client library of the Kubernetes
sidecars: tests/interop/go's client in its -bench mode, 16 goroutines on one
ClientConn (as a sidecar multiplexes its calls) and on 16 ClientConns. The
client is built with tests/interop/go/build.sh unless --go-client names a
built one; without Go those rows are skipped with a note.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from benchlib import rss_kb, stop_driver, wait_socket  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGETS = {"calls_per_sec@16": 20000, "p99_us@16": 2000, "rss_kb_load": 8192}

# Issue 11: the Go host-path driver served 34,300 Probe calls/s to a grpc-go
# client at concurrency 16 on 2 cores; dynvol is to reach 1.5x that, with a
# lower p99 (the Go driver's was about dynvol's then: 1.5-1.6 ms measured
# here with the same client).
GO_DRIVER_PROBE_CPS16 = 34300
GO_TARGETS = {"calls_per_sec@16": 1.5 * GO_DRIVER_PROBE_CPS16, "p99_us@16": 1500}
# (label, goroutines, ClientConns)
GO_RUNS = (("1 conn", 16, 1), ("16 conns", 16, 16))


def build_go_client(build):
    """(path, None) or (None, why not): tests/interop/go's client, built
    into the build directory (the Go cache kept there for the next run)."""
    out = os.path.join(build, "interop-go", "interop")
    cache = os.path.join(build, "interop-go", "gocache")
    if not shutil.which("go"):
        return None, "skipped: go is not installed (scripts/install-deps.sh)"
    os.makedirs(cache, exist_ok=True)
    r = subprocess.run(["bash", os.path.join(ROOT, "tests", "interop", "go", "build.sh"), out],
                       capture_output=True, text=True, check=False,
                       env=dict(os.environ, DYNVOL_GOCACHE=cache))
    if r.returncode != 0:
        return None, f"skipped: building the grpc-go client failed: {r.stderr.strip()[-400:]}"
    return out, None


def run_go_bench(client, endpoint, conc, conns, duration):
    out = subprocess.run([client, "-endpoint", endpoint, "-bench", "probe", "-c", str(conc),
                          "-conns", str(conns), "-d", duration],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"grpc-go bench failed: {out.stdout.strip()} {out.stderr.strip()}")
    return json.loads(out.stdout)


def run_bench(ctl, endpoint, conc, duration):
    out = subprocess.run([ctl, "-e", endpoint, "-o", "json", "bench", "-c", str(conc),
                          "-d", duration, "probe"], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"bench failed: {out.stderr.strip()}")
    return json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--duration", default="5s")
    ap.add_argument("--endpoint")
    ap.add_argument("--pid", type=int)
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--go-client", help="a built tests/interop/go client (default: build it)")
    ap.add_argument("--no-go", action="store_true", help="leave out the grpc-go rows")
    args = ap.parse_args()

    build = os.path.join(ROOT, args.build)
    ctl = os.path.join(build, "dynvolctl")
    proc = None
    tmp = None
    endpoint, pid = args.endpoint, args.pid
    if not endpoint:
        tmp = tempfile.mkdtemp(prefix="dvbench-", dir="/tmp")
        sock = os.path.join(tmp, "csi.sock")
        endpoint = "unix://" + sock
        proc = subprocess.Popen([os.path.join(build, "dynvol"), "driver", "--endpoint", endpoint,
                                 "--state-dir", tmp, "--log-level", "warn"],
                                stderr=subprocess.DEVNULL)
        pid = proc.pid
        wait_socket(sock, proc)
    try:
        time.sleep(0.3)
        # The machine's load when the run began: on 2 shared cores a busy
        # neighbour halves these rates; say so next to them.
        results = {"endpoint": endpoint, "loadavg_1m": round(os.getloadavg()[0], 2),
                   "rss_kb_idle": rss_kb(pid) if pid else None,
                   "rss_anon_kb_idle": rss_kb(pid, "RssAnon") if pid else None, "runs": []}
        peak = [0]
        peak_anon = [0]

        for conc in (1, 16, 64):
            stop = threading.Event()

            def sample():
                while not stop.is_set():
                    r = rss_kb(pid) if pid else None
                    if r and r > peak[0]:
                        peak[0] = r
                    a = rss_kb(pid, "RssAnon") if pid else None
                    if a and a > peak_anon[0]:
                        peak_anon[0] = a
                    time.sleep(0.1)

            t = threading.Thread(target=sample)
            t.start()
            print(f"probe at concurrency {conc} for {args.duration} ...", file=sys.stderr, flush=True)
            try:
                r = run_bench(ctl, endpoint, conc, args.duration)
            finally:
                stop.set()
                t.join()
            r["rss_kb_peak"] = peak[0] or None
            r["rss_anon_kb_peak"] = peak_anon[0] or None
            results["runs"].append(r)
        results["go_runs"] = []
        go_client, results["go_note"] = args.go_client, None
        if args.no_go:
            results["go_note"] = "skipped: --no-go"
        elif not endpoint.startswith("unix:///"):
            go_client, results["go_note"] = None, "skipped: the grpc-go client dials unix:/// only"
        elif not go_client:
            print("building the grpc-go client ...", file=sys.stderr, flush=True)
            go_client, results["go_note"] = build_go_client(build)
        if go_client:
            for label, conc, conns in GO_RUNS:
                print(f"grpc-go probe at concurrency {conc} on {label} for {args.duration} ...",
                      file=sys.stderr, flush=True)
                r = run_go_bench(go_client, endpoint, conc, conns, args.duration)
                r["label"] = label
                results["go_runs"].append(r)
        by_c = {r["concurrency"]: r for r in results["runs"]}
        results["rss_kb_load"] = by_c[16]["rss_kb_peak"]
        results["rss_anon_kb_load"] = by_c[16]["rss_anon_kb_peak"]

        print(f"{'conc':>5} {'calls/s':>10} {'p50 us':>8} {'p99 us':>8} {'max us':>8} {'errors':>6} {'peak RSS kB':>12}")
        for r in results["runs"]:
            print(f"{r['concurrency']:>5} {r['calls_per_sec']:>10.0f} {r['p50_us']:>8.0f} {r['p99_us']:>8.0f} "
                  f"{r['max_us']:>8.0f} {r['errors']:>6} {r['rss_kb_peak'] or '-':>12}")
        print(f"load average (1 min) at the start: {results['loadavg_1m']} on {os.cpu_count()} CPUs")
        print(f"driver RSS idle: {results['rss_kb_idle']} kB "
              f"({results['rss_anon_kb_idle']} kB anonymous)")
        r16 = by_c[16]
        print("against the targets (ratio > 1 is better than target):")
        print(f"  calls/s @16   {r16['calls_per_sec']:.0f} / {TARGETS['calls_per_sec@16']} = "
              f"{r16['calls_per_sec'] / TARGETS['calls_per_sec@16']:.2f}x")
        print(f"  p99 @16       {TARGETS['p99_us@16']} / {r16['p99_us']:.0f} us = "
              f"{TARGETS['p99_us@16'] / max(r16['p99_us'], 1):.2f}x")
        if r16["rss_kb_peak"]:
            print(f"  RSS @16       {TARGETS['rss_kb_load']} / {r16['rss_kb_peak']} kB = "
                  f"{TARGETS['rss_kb_load'] / r16['rss_kb_peak']:.2f}x")
        if results["go_runs"]:
            print(f"grpc-go client (tests/interop/go -bench probe), Go host-path driver "
                  f"{GO_DRIVER_PROBE_CPS16} calls/s @16 (issue 11):")
            print(f"{'conc':>5} {'conns':>5} {'calls/s':>10} {'p50 us':>8} {'p99 us':>8} "
                  f"{'max us':>8} {'errors':>6} {'/ Go driver':>11}")
            for r in results["go_runs"]:
                print(f"{r['concurrency']:>5} {r['conns']:>5} {r['calls_per_sec']:>10.0f} "
                      f"{r['p50_us']:>8.0f} {r['p99_us']:>8.0f} {r['max_us']:>8.0f} "
                      f"{r['errors']:>6} {r['calls_per_sec'] / GO_DRIVER_PROBE_CPS16:>10.2f}x")
            g1 = results["go_runs"][0]
            print(f"  grpc-go calls/s @16 (1 conn)  {g1['calls_per_sec']:.0f} / "
                  f"{GO_TARGETS['calls_per_sec@16']:.0f} = "
                  f"{g1['calls_per_sec'] / GO_TARGETS['calls_per_sec@16']:.2f}x")
            print(f"  grpc-go p99 @16 (1 conn)      {GO_TARGETS['p99_us@16']} / {g1['p99_us']:.0f} us = "
                  f"{GO_TARGETS['p99_us@16'] / max(g1['p99_us'], 1):.2f}x")
        elif results["go_note"]:
            print(f"grpc-go rows {results['go_note']}")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=2)
    finally:
        stop_driver(proc, timeout=10)
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Controller benchmark: CreateVolume+DeleteVolume pairs/s and p50/p99 on
the dir and image pools at concurrency 1, 16 and 64; the cost per pair as
the pool fills from 100 to 10,000 existing volumes (100, 1000, 2500, 5000,
10000: it must stay flat); ListVolumes pages of 500 over 10,000 volumes;
the driver's RSS idle and with 10,000 volumes (at the end of the load and
--settle seconds later, when the driver has returned what the load freed).

  bench/controller.py [--build build] [--duration 3s] [--volumes 10000]
                      [--counts 100,1000,2500,5000,10000] [--json FILE]
  bench/controller.py --endpoint EP --pool P [--pool P2] [--pid PID] ...
                      [--go-client BIN | --no-go]

By default it starts its own driver with a dir pool and an image pool in a
temporary directory on the file system of /tmp. With --endpoint it measures
a CSI driver already running there instead: give the StorageClass
parameter pool=P with --pool (--pool '' sends no pool parameter), and
--pid for its RSS. The cost curve runs on the image pool (or the first
--pool; --growth-pool to choose). Volumes it made on a driver it did not
start are deleted at the end (every volume that appeared during the run;
--keep-volumes to leave them).

The pairs at concurrency 16 are driven a second time from grpc-go (the
interop client's -ctl-bench mode, tests/interop/go/ctlbench.go, built with
tests/interop/go/build.sh unless --go-client names a binary; --no-go skips
it), since the Kubernetes sidecars are grpc-go clients: the `go_pairs`
rows, 1 MiB volumes, one ClientConn, like the external-provisioner.

Prints a table and the ratios against the targets (2 cores: >= 10,000
pairs/s on the dir pool and >= 5,000 on the image pool at concurrency 16,
issue 11; a page of 500 in < 20 ms;
per-pair cost at 10,000 volumes within 1.2x of the cost at 100; RSS with
10,000 volumes < 8 MB). Progress goes to stderr.
"""
import argparse
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from benchlib import ctl_bench as bench, rss_kb, stop_driver, wait_socket  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_COUNTS = (100, 1000, 2500, 5000, 10000)
GROWTH_CONCURRENCY = 16
FILL_CHUNK = 1000
TARGETS = {"dir_pairs_per_sec@16": 10000, "img_pairs_per_sec@16": 5000, "list_p99_us": 20000,
           "cost_ratio": 1.2, "rss_kb_with_volumes": 8192}
GO_BUILD = os.path.join(ROOT, "tests", "interop", "go", "build.sh")
T0 = time.time()


def log(msg):
    print(f"[{time.time() - T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


def settled_rss(pid, settle):
    """The RSS and its anonymous part after `settle` idle seconds: the
    driver hands memory freed by a burst back once it has been quiet for
    0.5 s (src/cmd/driver.c on_idle)."""
    if not pid:
        return None, None
    time.sleep(settle)
    return rss_kb(pid), rss_kb(pid, "RssAnon")


def pool_args(pool):
    """--pool '' sends no pool parameter (the driver's default)."""
    return ["--pool", pool] if pool else []


def pool_label(pool):
    return pool if pool else "(default)"


def list_ids(ctl, endpoint):
    out = subprocess.run([ctl, "-e", endpoint, "-o", "json", "controller", "list", "--all"],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"ListVolumes failed: {out.stderr.strip()}")
    # one JSON document per page
    ids, dec, text, i = set(), json.JSONDecoder(), out.stdout, 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return ids
        doc, i = dec.raw_decode(text, i)
        ids.update(e["volume"]["volume_id"] for e in doc.get("entries", [])
                   if e.get("volume", {}).get("volume_id"))


def delete_ids(ctl, endpoint, ids):
    def one(vid):
        r = subprocess.run([ctl, "-e", endpoint, "controller", "delete", vid],
                           capture_output=True, text=True, check=False)
        return r.returncode == 0
    ids = sorted(ids)
    failed = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as ex:
        for i, ok in enumerate(ex.map(one, ids), 1):
            failed += not ok
            if i % 1000 == 0:
                log(f"cleanup: deleted {i}/{len(ids)} volumes")
    return failed


def go_client(args, tmp):
    """The grpc-go interop client: --go-client, or built into tmp; (path,
    None) or (None, why not)."""
    if args.no_go:
        return None, "--no-go"
    if args.go_client:
        return args.go_client, None
    out = os.path.join(tmp, "interop-go")
    env = dict(os.environ)
    env.setdefault("DYNVOL_GOCACHE", os.path.join(tmp, "gocache"))
    r = subprocess.run([GO_BUILD, out], capture_output=True, text=True, env=env, check=False)
    if r.returncode != 0:
        return None, "building the grpc-go client failed: " + (r.stderr.strip()[-300:] or "?")
    return out, None


def go_pairs(client, endpoint, pool, conc, duration):
    """CreateVolume+DeleteVolume pairs from grpc-go, parsed."""
    out = subprocess.run([client, "-ctl-bench", "-endpoint", endpoint, "-pool", pool,
                          "-c", str(conc), "-d", duration], capture_output=True, text=True,
                         check=False)
    if out.returncode not in (0, 1) or not out.stdout.strip():
        raise SystemExit(f"grpc-go create-delete failed: {out.stderr.strip()}")
    return json.loads(out.stdout)


def counts_for(args):
    if args.counts:
        counts = sorted({int(x) for x in args.counts.split(",") if x.strip()})
    else:
        counts = [c for c in DEFAULT_COUNTS if c < args.volumes] + [args.volumes]
    if not counts or counts[0] < 1:
        raise SystemExit("--counts/--volumes: volume counts must be >= 1")
    return counts


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--duration", default="3s", help="per measurement (default 3s)")
    ap.add_argument("--volumes", type=int, default=10000,
                    help="volumes at the end of the cost curve (default 10000)")
    ap.add_argument("--counts", help="the cost curve's volume counts, comma-separated "
                    "(default 100,1000,2500,5000,10000, capped at --volumes)")
    ap.add_argument("--endpoint", help="measure the CSI driver already running there")
    ap.add_argument("--pid", type=int, help="with --endpoint: its pid, for the RSS")
    ap.add_argument("--pool", action="append",
                    help="pool parameter for create+delete, repeatable (default: dir and img "
                    "of the driver it starts; required with --endpoint; '' for none)")
    ap.add_argument("--growth-pool", help="pool of the cost curve (default img, else the "
                    "first --pool)")
    ap.add_argument("--keep-volumes", action="store_true",
                    help="with --endpoint: do not delete the volumes the run made")
    ap.add_argument("--settle", type=float, default=1.5,
                    help="idle seconds before the settled RSS readings (default 1.5)")
    ap.add_argument("--go-client", help="a built grpc-go interop client (default: build one)")
    ap.add_argument("--no-go", action="store_true", help="skip the grpc-go create+delete rows")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    build = os.path.join(ROOT, args.build)
    ctl = os.path.join(build, "dynvolctl")
    counts = counts_for(args)
    if args.endpoint and args.pool is None:
        raise SystemExit("--endpoint needs --pool (the StorageClass parameter pool=P; "
                         "--pool '' for none)")
    pools = args.pool if args.pool is not None else ["dir", "img"]
    growth_pool = args.growth_pool if args.growth_pool is not None else (
        "img" if "img" in pools else pools[0])

    proc = None
    tmp = None
    endpoint, pid = args.endpoint, args.pid
    if not endpoint:
        unknown = [p for p in pools + [growth_pool] if p not in ("dir", "img")]
        if unknown:
            raise SystemExit(f"the driver this starts has the pools dir and img, not {unknown}")
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
        pid = proc.pid
    results = {"endpoint": endpoint if args.endpoint else None, "duration": args.duration,
               "volumes": counts[-1], "pairs": [], "growth": {}, "growth_pool": growth_pool,
               "growth_curve": [], "list": None, "targets": TARGETS, "go_pairs": [],
               "settle_s": args.settle}
    before = None
    try:
        if proc:
            wait_socket(sock, proc)
        time.sleep(0.3)
        results["rss_kb_idle"] = rss_kb(pid)
        if args.endpoint:
            before = list_ids(ctl, endpoint)
            results["preexisting_volumes"] = len(before)
            if before:
                log(f"{len(before)} volumes exist already; the counts include them")
        existing = len(before) if before else 0
        for pool in pools:
            for conc in (1, 16, 64):
                log(f"create+delete on {pool_label(pool)} at concurrency {conc} "
                    f"for {args.duration} ...")
                r = bench(ctl, endpoint, "-c", str(conc), "-d", args.duration, *pool_args(pool),
                          "create-delete")
                r["pool"] = pool_label(pool)
                results["pairs"].append(r)

        gotmp = tempfile.mkdtemp(prefix="dvbench-go-", dir="/tmp")
        try:
            client, why = go_client(args, gotmp)
            if client:
                for pool in pools:
                    log(f"create+delete on {pool_label(pool)} at concurrency 16 from grpc-go "
                        f"for {args.duration} ...")
                    r = go_pairs(client, endpoint, pool, 16, args.duration)
                    r["pool"] = pool_label(pool)
                    results["go_pairs"].append(r)
            else:
                results["go_skipped"] = why
                log(f"grpc-go rows skipped: {why}")
        finally:
            shutil.rmtree(gotmp, ignore_errors=True)

        results["rss_kb_after_pairs"] = rss_kb(pid)
        (results["rss_kb_after_pairs_settled"],
         results["rss_anon_kb_after_pairs_settled"]) = settled_rss(pid, args.settle)

        # the cost curve: fill the growth pool up to each count, then measure
        have = existing
        warm = True
        for n in counts:
            if n < have and n != counts[-1]:
                log(f"cost curve: skipping {n} volumes, {have} exist already")
                continue
            while have < n:
                k = min(FILL_CHUNK, n - have)
                bench(ctl, endpoint, "-c", "16", "-n", str(k), *pool_args(growth_pool), "create")
                have += k
                log(f"filling {pool_label(growth_pool)}: {have}/{counts[-1]} volumes")
            if warm:
                # not recorded: lets the tail of the concurrency-64 runs settle, so the
                # first point is not inflated
                log("warm-up: create+delete for 1s (not recorded) ...")
                bench(ctl, endpoint, "-c", str(GROWTH_CONCURRENCY), "-d", "1s",
                      *pool_args(growth_pool), "create-delete")
                warm = False
            log(f"create+delete at {have} volumes, concurrency {GROWTH_CONCURRENCY} "
                f"for {args.duration} ...")
            r = bench(ctl, endpoint, "-c", str(GROWTH_CONCURRENCY), "-d", args.duration,
                      *pool_args(growth_pool), "create-delete")
            r["pool"] = pool_label(growth_pool)
            r["volumes"] = have
            r["cost_us"] = 1e6 / r["calls_per_sec"] if r["calls_per_sec"] else None
            r["rss_kb"] = rss_kb(pid)
            results["growth_curve"].append(r)
        log(f"ListVolumes pages of 500 over {have} volumes for {args.duration} ...")
        lst = bench(ctl, endpoint, "-c", "1", "-d", args.duration, "list-page")
        lst["volumes"] = have
        rss = rss_kb(pid)
        curve = results["growth_curve"]
        first, last = curve[0], curve[-1]
        # the keys of the two-point version, kept for older readers
        results["growth"] = {f"at_{first['volumes']}": first, f"at_{last['volumes']}": last}
        results["cost_ratio"] = (last["cost_us"] / first["cost_us"]
                                 if first["cost_us"] and last["cost_us"] else None)
        results["list"] = lst
        results["rss_kb_with_volumes"] = rss
        (results["rss_kb_with_volumes_settled"],
         results["rss_anon_kb_with_volumes_settled"]) = settled_rss(pid, args.settle)

        print(f"{'pool':>9} {'conc':>5} {'pairs/s':>9} {'p50 us':>8} {'p99 us':>8} {'errors':>6}")
        for r in results["pairs"]:
            print(f"{r['pool']:>9} {r['concurrency']:>5} {r['calls_per_sec']:>9.0f} "
                  f"{r['p50_us']:>8.0f} {r['p99_us']:>8.0f} {r['errors']:>6}")
        for r in results["go_pairs"]:
            print(f"{r['pool']:>9} {r['concurrency']:>5} {r['calls_per_sec']:>9.0f} "
                  f"{r['p50_us']:>8.0f} {r['p99_us']:>8.0f} {r['errors']:>6}  (grpc-go client)")
        print(f"\ncost curve, pool {pool_label(growth_pool)}, concurrency {GROWTH_CONCURRENCY}:")
        print(f"{'volumes':>8} {'pairs/s':>9} {'us/pair':>8} {'p50 us':>8} {'p99 us':>8} "
              f"{'RSS kB':>8}")
        for r in curve:
            print(f"{r['volumes']:>8} {r['calls_per_sec']:>9.0f} {r['cost_us'] or 0:>8.0f} "
                  f"{r['p50_us']:>8.0f} {r['p99_us']:>8.0f} {r['rss_kb'] or '-':>8}")
        if results["cost_ratio"]:
            print(f"cost at {last['volumes']} / cost at {first['volumes']} volumes: "
                  f"{results['cost_ratio']:.2f} (target <= 1.2)")
        print(f"ListVolumes page of 500 over {have}: p50 {lst['p50_us'] / 1000:.2f} ms, "
              f"p99 {lst['p99_us'] / 1000:.2f} ms (target < 20 ms: "
              f"{20000 / max(lst['p99_us'], 1):.1f}x)")
        for label, rows in (("dynvolctl", results["pairs"]), ("grpc-go", results["go_pairs"])):
            for r in rows:
                target = TARGETS.get(f"{r['pool']}_pairs_per_sec@16")
                if r["concurrency"] == 16 and target:
                    print(f"{r['pool']} pairs/s @16 ({label}): {r['calls_per_sec']:.0f} / "
                          f"{target} = {r['calls_per_sec'] / target:.2f}x target")
        if results["rss_kb_idle"]:
            print(f"driver RSS idle: {results['rss_kb_idle']} kB")
        if results["rss_kb_after_pairs"]:
            print(f"driver RSS after the create+delete runs: {results['rss_kb_after_pairs']} kB, "
                  f"{args.settle:g}s later {results['rss_kb_after_pairs_settled']} kB "
                  f"({results['rss_anon_kb_after_pairs_settled']} kB anonymous)")
        if rss:
            st = results["rss_kb_with_volumes_settled"]
            print(f"driver RSS with {have} volumes: {rss} kB at the end of the load, "
                  f"{st} kB {args.settle:g}s later "
                  f"({results['rss_anon_kb_with_volumes_settled']} kB anonymous) "
                  f"(target < 8192 kB: {8192 / max(rss, st):.2f}x)")
        else:
            print("driver RSS: not measured (give --pid with --endpoint)")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=2)
    finally:
        stop_driver(proc)
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
        if args.endpoint and before is not None and not args.keep_volumes:
            try:
                made = list_ids(ctl, endpoint) - before
            except SystemExit as e:
                log(f"cleanup: {e}; volumes the run made are left behind")
                made = set()
            if made:
                log(f"cleanup: deleting the {len(made)} volumes this run made ...")
                failed = delete_ids(ctl, endpoint, made)
                if failed:
                    log(f"cleanup: {failed} deletions failed")


if __name__ == "__main__":
    main()

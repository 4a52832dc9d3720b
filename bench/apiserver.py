#!/usr/bin/python3
"""Benchmarks the embedded Kubernetes API server (`dynvol apiserver`).

  bench/apiserver.py [--build build] [--duration 3s] [--objects 10000] [--json]

Starts a fresh server on a temporary state directory and drives it with
bench/apiload (Go's net/http, the client stack of the Kubernetes
controllers; built offline with Debian's golang-go into the build
directory):

  crud     create / get / merge-patch / delete of PVCs at concurrency 1, 16
           and 64 over keep-alive connections; every write is a durable
           (fsynced) commit before its reply
  watch    100 watchers on one namespace, event latency p50/p99 (from the
           writer's send time to the watcher's decode)
  list     --objects PVCs and as many PVs, then the PVCs in pages of 500
  memory   RSS idle and with the 2 x --objects objects stored (at once, and
           settled 3 s later: freed heap goes back every 2 s), and the
           anonymous part (the rest is shared library pages)

The server speaks HTTP/1.1 (libmicrohttpd has no HTTP/2): Go negotiates
HTTP/1.1 through ALPN and reuses its keep-alive connections, as client-go
does against any HTTP/1.1 server.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import rss_kb, stop_driver  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

TARGETS = {
    "writes_per_s@16": (">=", 5000),
    "event_p99_ms": ("<", 5.0),
    "rss_mib_20k": ("<", 20.0),
    "page_p99_ms": ("<", 20.0),
}


def build_apiload(build):
    out = Path(build) / "apiload"
    src = REPO / "bench" / "apiload" / "main.go"
    if out.exists() and out.stat().st_mtime > src.stat().st_mtime:
        return out
    with tempfile.TemporaryDirectory() as gopath:
        env = dict(os.environ, GO111MODULE="off", GOPATH=gopath,
                   GOCACHE=os.path.join(gopath, "cache"), GOFLAGS="")
        subprocess.run(["go", "build", "-o", str(out.resolve()), "."],
                       cwd=src.parent, env=env, check=True)
    return out


def start(binary, state):
    state.mkdir()
    proc = subprocess.Popen([str(binary), "apiserver", "--state-dir", str(state), "--port", "0"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kc = state / "kubeconfig"
    for _ in range(200):
        if kc.exists():
            return proc, kc
        time.sleep(0.05)
    raise SystemExit("dynvol apiserver did not start")


def load(apiload, kc, *args):
    out = subprocess.run([str(apiload), "-kubeconfig", str(kc), *args],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=str(REPO / "build"))
    ap.add_argument("--duration", default="3s")
    ap.add_argument("--objects", type=int, default=10000)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    apiload = build_apiload(a.build)
    binary = Path(a.build) / "dynvol"
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        proc, kc = start(binary, Path(tmp) / "state")
        try:
            time.sleep(0.5)
            res["rss_mib_idle"] = rss_kb(proc.pid) / 1024
            for c in (1, 16, 64):
                r = load(apiload, kc, "-mode", "crud", "-concurrency", str(c),
                         "-duration", a.duration, "-namespace", f"crud{c}")
                res[f"crud@{c}"] = r
                res[f"writes_per_s@{c}"] = r["writes_per_s"]
            w = load(apiload, kc, "-mode", "watch", "-watchers", "100", "-events", "300")
            res["watch"] = w
            res["event_p99_ms"] = w["event_p99_ms"]
            lst = load(apiload, kc, "-mode", "list", "-objects", str(a.objects), "-page", "500",
                       "-pvs", "-namespace", "list")
            res["list"] = lst
            res["page_p99_ms"] = lst["page_p99_ms"]
            res["rss_mib_20k_at_once"] = rss_kb(proc.pid) / 1024
            # settled: the server hands freed heap back every 2 s
            time.sleep(3.0)
            res["rss_mib_20k"] = rss_kb(proc.pid) / 1024
            res["rss_anon_mib_20k"] = rss_kb(proc.pid, "RssAnon") / 1024
        finally:
            stop_driver(proc)
    if a.json:
        print(json.dumps(res, indent=1))
        return
    print(f"{'metric':<22} {'value':>12} {'target':>10} {'ratio':>7}")
    rows = [("writes_per_s@1", res["writes_per_s@1"]), ("writes_per_s@16", res["writes_per_s@16"]),
            ("writes_per_s@64", res["writes_per_s@64"]),
            ("write_p99_ms@16", res["crud@16"]["write_p99_ms"]),
            ("event_p50_ms", res["watch"]["event_p50_ms"]), ("event_p99_ms", res["event_p99_ms"]),
            ("page_p99_ms", res["page_p99_ms"]), ("full_list_ms", res["list"]["full_list_ms"]),
            ("rss_mib_idle", res["rss_mib_idle"]),
            ("rss_mib_20k_at_once", res["rss_mib_20k_at_once"]),
            ("rss_mib_20k", res["rss_mib_20k"]), ("rss_anon_mib_20k", res["rss_anon_mib_20k"])]
    for name, v in rows:
        t = TARGETS.get(name)
        if t:
            ratio = v / t[1] if t[0] == ">=" else (t[1] / v if v else float("inf"))
            print(f"{name:<22} {v:>12.2f} {t[0] + str(t[1]):>10} {ratio:>7.2f}")
        else:
            print(f"{name:<22} {v:>12.2f} {'':>10} {'':>7}")


if __name__ == "__main__":
    main()

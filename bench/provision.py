#!/usr/bin/python3
"""Provisioning benchmark: the whole control plane on one machine.

  bench/provision.py [--build build] [--claims 500] [--threads 16]
                     [--qps 0] [--json FILE]

Starts `dynvol apiserver`, `dynvol driver` (a dir pool in a temporary
directory) and `dynvol controller --controllers all` (provisioner + binder
+ the rest) as separate processes, then:

  bind     --claims PVCs created at once in one namespace by --threads client
           threads (keep-alive HTTPS, the token of the server's kubeconfig);
           time until every claim is Bound (seen on a watch), binds/s, and
           per-claim latency p50/p90 (create sent -> Bound seen)
  delete   every claim deleted at once (reclaim Delete); time until every
           PV is gone (the binder releases, the provisioner calls
           DeleteVolume and removes the PV), deletes/s
  memory   the controller's RSS after the binds and after the deletes

--qps is the controller's --kube-api-qps (0: no client-side limit, the
default here; the upstream numbers below are quoted at both).

Targets (issue 13): >= 500 binds/s and >= 500 deletes/s; controller RSS
< 10 MiB. The upstream stack on this class of machine (external-provisioner
v3.4.1 + kube-controller-manager 1.26 on kube-apiserver + etcd) binds 3.9-4.1
PVCs/s at default QPS limits and 21.5/s with all limits raised, deletes
4.9/s, and holds ~55 MiB (provisioner) + ~105 MiB (controller-manager).
"""
import argparse
import concurrent.futures
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.join(ROOT, "bench"))

from apiserver.kube import ApiServer  # noqa: E402
from benchlib import rss_kb, stop_driver, wait_socket  # noqa: E402

DRIVER = "csi.dynvol.io"
UPSTREAM_BINDS = 21.5
UPSTREAM_DELETES = 4.9


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else 0.0


def log(*a):
    print(*a, file=sys.stderr, flush=True)


class Watcher(threading.Thread):
    """Timestamps PVC phases and PV deletions as a watch delivers them."""

    def __init__(self, api, path):
        super().__init__(daemon=True)
        self.api, self.path = api, path
        self.bound, self.gone = {}, {}
        self.stop = False

    def run(self):
        while not self.stop:
            try:
                w = self.api.watch(self.path + "?watch=1&timeoutSeconds=300", timeout=330)
            except OSError:
                time.sleep(0.1)
                continue
            try:
                while not self.stop:
                    ev = w.next()
                    if ev is None:
                        break
                    o = ev["object"]
                    name = o["metadata"]["name"]
                    now = time.monotonic()
                    if ev["type"] == "DELETED":
                        self.gone.setdefault(name, now)
                    elif o.get("status", {}).get("phase") == "Bound":
                        self.bound.setdefault(name, now)
            except (OSError, ValueError):
                pass
            finally:
                w.close()


def create_claims(api, n, threads):
    sent = {}
    local = threading.local()

    def one(i):
        if not hasattr(local, "conn"):
            local.conn = api.connection()
        name = f"bench-{i:05d}"
        body = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": name, "namespace": "default"},
                "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "bench",
                         "resources": {"requests": {"storage": "1Mi"}}}}
        sent[name] = time.monotonic()
        code, resp, _ = api.request("POST", "/api/v1/namespaces/default/persistentvolumeclaims",
                                    body, conn=local.conn)
        if code != 201:
            raise RuntimeError(f"create {name}: {code} {resp}")
        return name

    with concurrent.futures.ThreadPoolExecutor(threads) as ex:
        names = list(ex.map(one, range(n)))
    return names, sent


def delete_claims(api, names, threads):
    local = threading.local()

    def one(name):
        if not hasattr(local, "conn"):
            local.conn = api.connection()
        code, resp, _ = api.request(
            "DELETE", f"/api/v1/namespaces/default/persistentvolumeclaims/{name}",
            conn=local.conn)
        if code not in (200, 202):
            raise RuntimeError(f"delete {name}: {code} {resp}")

    with concurrent.futures.ThreadPoolExecutor(threads) as ex:
        list(ex.map(one, names))


def wait_until(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.01)
    raise SystemExit(f"timed out waiting for {what}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--claims", type=int, default=500)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--qps", type=float, default=0)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--json")
    a = ap.parse_args()
    binary = os.path.join(a.build, "dynvol")
    tmp = tempfile.mkdtemp(prefix="dvbench-prov-")
    procs = []
    try:
        state = os.path.join(tmp, "api")
        os.mkdir(state)
        api = ApiServer(binary, state).start()
        sock = os.path.join(tmp, "csi.sock")
        drv_log = open(os.path.join(tmp, "driver.log"), "wb")
        drv = subprocess.Popen([binary, "driver", "--state-dir", os.path.join(tmp, "drv"),
                                "--endpoint", "unix://" + sock, "--node-id", "node-1"],
                               stdout=drv_log, stderr=subprocess.STDOUT)
        procs.append(drv)
        wait_socket(sock, drv)
        ctl_log = open(os.path.join(tmp, "controller.log"), "wb")
        ctl = subprocess.Popen([binary, "controller", "--kubeconfig", api.kubeconfig,
                                "--csi-address", "unix://" + sock, "--controllers", "all",
                                "--kube-api-qps", str(a.qps), "--log-level", "warn"],
                               stdout=ctl_log, stderr=subprocess.STDOUT)
        procs.append(ctl)
        api.request("POST", "/apis/storage.k8s.io/v1/storageclasses",
                    {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                     "metadata": {"name": "bench"}, "provisioner": DRIVER,
                     "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"})
        time.sleep(1.0)  # informers synced (the controller logs it; 1 s is ample)
        if ctl.poll() is not None:
            raise SystemExit("dynvol controller exited: see " + tmp)
        rss_idle = rss_kb(ctl.pid)

        pvcs = Watcher(api, "/api/v1/namespaces/default/persistentvolumeclaims")
        pvs = Watcher(api, "/api/v1/persistentvolumes")
        pvcs.start()
        pvs.start()
        time.sleep(0.3)
        log(f"creating {a.claims} claims with {a.threads} threads")
        t0 = time.monotonic()
        names, sent = create_claims(api, a.claims, a.threads)
        t_created = time.monotonic() - t0
        wait_until(lambda: len(pvcs.bound) >= a.claims, a.timeout, "every claim Bound")
        t_bound = max(pvcs.bound.values()) - t0
        lat = [pvcs.bound[n] - sent[n] for n in names]
        rss_bound = rss_kb(ctl.pid)

        log("deleting every claim")
        t1 = time.monotonic()
        delete_claims(api, names, a.threads)
        wait_until(lambda: len(pvs.gone) >= a.claims, a.timeout, "every PV gone")
        t_deleted = max(pvs.gone.values()) - t1
        rss_deleted = rss_kb(ctl.pid)
        pvcs.stop = pvs.stop = True

        res = {
            "claims": a.claims, "threads": a.threads, "kube_api_qps": a.qps,
            "create_s": round(t_created, 3),
            "bind_s": round(t_bound, 3), "binds_per_s": round(a.claims / t_bound, 1),
            "bind_p50_ms": round(pct(lat, 0.5) * 1000, 1),
            "bind_p90_ms": round(pct(lat, 0.9) * 1000, 1),
            "delete_s": round(t_deleted, 3),
            "deletes_per_s": round(a.claims / t_deleted, 1),
            "controller_rss_kib": {"idle": rss_idle, "bound": rss_bound,
                                   "deleted": rss_deleted},
        }
        print(f"claims {a.claims}, {a.threads} client threads, controller qps "
              f"{a.qps or 'unlimited'}")
        print(f"  bind    {res['bind_s']:8.2f} s  {res['binds_per_s']:8.1f} binds/s   "
              f"p50 {res['bind_p50_ms']} ms  p90 {res['bind_p90_ms']} ms   "
              f"{res['binds_per_s'] / UPSTREAM_BINDS:.1f}x upstream (21.5/s), "
              f"target 500/s: {'met' if res['binds_per_s'] >= 500 else 'NOT met'}")
        print(f"  delete  {res['delete_s']:8.2f} s  {res['deletes_per_s']:8.1f} deletes/s "
              f"{res['deletes_per_s'] / UPSTREAM_DELETES:.1f}x upstream (4.9/s), "
              f"target 500/s: {'met' if res['deletes_per_s'] >= 500 else 'NOT met'}")
        print(f"  controller RSS  idle {rss_idle} KiB, bound {rss_bound} KiB, "
              f"after delete {rss_deleted} KiB (target < 10240 KiB; upstream ~163840)")
        if a.json:
            with open(a.json, "w") as f:
                json.dump(res, f, indent=1)
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
        try:
            api.stop()
        except Exception:  # noqa: BLE001 - the numbers are printed already
            pass
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

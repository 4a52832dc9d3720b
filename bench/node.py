#!/usr/bin/python3
"""Node benchmark (root, loop devices).

1. Cycles: NodeStage + NodePublish + NodeUnpublish + NodeUnstage of one
   pre-created, already formatted volume, N times (default 100), for the
   image pool with an ext4 volume, the image pool with an xfs volume and
   the dir pool: cycles/s and p50/p99 per cycle.
2. Data path: sequential (1 MiB) and random (4 KiB) read and write
   throughput inside a published image volume (ext4 on a loop device over
   an image file) against the same test on the file system that holds the
   image (the host's /tmp), with direct I/O both times; prints the ratios.
   Uses fio when installed (apt-get install fio), else a dd + Python
   fallback.

  /usr/bin/python3 bench/node.py [--build build] [--cycles 100]
                                 [--io-size 256M] [--io-time 5] [--no-fio]

Everything lives in a temporary directory under /tmp (pools, the
kubelet-like --path-prefix, the state dir) and is torn down at the end.
"""
import argparse
import importlib
import json
import mmap
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")
import grpc  # noqa: E402

from benchlib import stop_driver, wait_socket  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIB = 1 << 20


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def load_csi(tmp):
    out = os.path.join(tmp, "pb")
    os.makedirs(out)
    subprocess.run(["protoc", f"--python_out={out}", f"-I{ROOT}/proto", "-I/usr/include",
                    f"{ROOT}/proto/csi.proto"], check=True)
    sys.path.insert(0, out)
    return importlib.import_module("csi_pb2")


def parse_size(s):
    s = s.strip()
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if s[-1].upper() in mult:
        return int(float(s[:-1]) * mult[s[-1].upper()])
    return int(s)


class Client:
    def __init__(self, m, target):
        self.m = m
        self.ch = grpc.insecure_channel(target)

    def call(self, svc, method, req):
        resp_cls = getattr(self.m, method + "Response")
        fn = self.ch.unary_unary(f"/csi.v1.{svc}/{method}",
                                 request_serializer=lambda x: x.SerializeToString(),
                                 response_deserializer=resp_cls.FromString)
        return fn(req, timeout=120)

    def cap(self, fs=""):
        m = self.m
        c = m.VolumeCapability(access_mode=m.VolumeCapability.AccessMode(
            mode=m.VolumeCapability.AccessMode.SINGLE_NODE_WRITER))
        c.mount.CopyFrom(m.VolumeCapability.MountVolume(fs_type=fs))
        return c

    def create(self, name, pool, size, fs):
        m = self.m
        req = m.CreateVolumeRequest(name=name, parameters={"pool": pool},
                                    volume_capabilities=[self.cap(fs)],
                                    capacity_range=m.CapacityRange(required_bytes=size))
        return self.call("Controller", "CreateVolume", req).volume.volume_id

    def delete(self, vid):
        self.call("Controller", "DeleteVolume", self.m.DeleteVolumeRequest(volume_id=vid))

    def cpublish(self, vid, node, fs):
        self.call("Controller", "ControllerPublishVolume",
                  self.m.ControllerPublishVolumeRequest(volume_id=vid, node_id=node,
                                                        volume_capability=self.cap(fs)))

    def cunpublish(self, vid, node):
        self.call("Controller", "ControllerUnpublishVolume",
                  self.m.ControllerUnpublishVolumeRequest(volume_id=vid, node_id=node))

    def node_id(self):
        return self.call("Node", "NodeGetInfo", self.m.NodeGetInfoRequest()).node_id

    def stage(self, vid, staging, fs):
        self.call("Node", "NodeStageVolume",
                  self.m.NodeStageVolumeRequest(volume_id=vid, staging_target_path=staging,
                                                volume_capability=self.cap(fs)))

    def unstage(self, vid, staging):
        self.call("Node", "NodeUnstageVolume",
                  self.m.NodeUnstageVolumeRequest(volume_id=vid, staging_target_path=staging))

    def publish(self, vid, staging, target, fs):
        self.call("Node", "NodePublishVolume",
                  self.m.NodePublishVolumeRequest(volume_id=vid, staging_target_path=staging,
                                                  target_path=target,
                                                  volume_capability=self.cap(fs)))

    def unpublish(self, vid, target):
        self.call("Node", "NodeUnpublishVolume",
                  self.m.NodeUnpublishVolumeRequest(volume_id=vid, target_path=target))


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


# --------------------------------------------------------------------------
# cycles


def bench_cycles(c, node, prefix, label, pool, size, fs, n):
    vid = c.create(f"bench-{label}", pool, size, fs)
    c.cpublish(vid, node, fs)
    staging = os.path.join(prefix, "plugins/kubernetes.io/csi/csi.dynvol.io", vid, "globalmount")
    os.makedirs(staging)
    target = os.path.join(prefix, "pods/bench/volumes/kubernetes.io~csi", vid, "mount")
    os.makedirs(os.path.dirname(target))
    # the first stage formats: not part of the cycle
    t0 = time.perf_counter()
    c.stage(vid, staging, fs)
    first = time.perf_counter() - t0
    c.unstage(vid, staging)
    times = []
    start = time.perf_counter()
    for _ in range(n):
        t0 = time.perf_counter()
        c.stage(vid, staging, fs)
        c.publish(vid, staging, target, fs)
        c.unpublish(vid, target)
        c.unstage(vid, staging)
        times.append(time.perf_counter() - t0)
    total = time.perf_counter() - start
    c.cunpublish(vid, node)
    c.delete(vid)
    return {"label": label, "cycles": n, "cycles_per_sec": n / total,
            "p50_ms": statistics.median(times) * 1000, "p99_ms": pct(times, 99) * 1000,
            "first_stage_ms": first * 1000}


# --------------------------------------------------------------------------
# data path

FIO_JOBS = [
    # name, rw, bs, iodepth
    ("seq-write", "write", "1M", 8),
    ("seq-read", "read", "1M", 8),
    ("rand-write", "randwrite", "4k", 16),
    ("rand-read", "randread", "4k", 16),
]


def run_fio(directory, size, seconds):
    out = {}
    path = os.path.join(directory, "bench.fio")
    for name, rw, bs, depth in FIO_JOBS:
        cmd = ["fio", "--name=" + name, "--filename=" + path, f"--size={size}",
               f"--rw={rw}", f"--bs={bs}", "--direct=1", "--ioengine=libaio",
               f"--iodepth={depth}", "--time_based", f"--runtime={seconds}",
               "--ramp_time=1", "--group_reporting", "--output-format=json",
               "--end_fsync=1" if "write" in rw else "--end_fsync=0"]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise SystemExit(f"fio {name} in {directory} failed: {res.stderr.strip()}")
        job = json.loads(res.stdout[res.stdout.index("{"):])["jobs"][0]
        side = job["write"] if "write" in rw else job["read"]
        out[name] = {"MiB/s": side["bw_bytes"] / MIB, "iops": side["iops"]}
    os.unlink(path)
    return out


def _aligned(n):
    return mmap.mmap(-1, n)


def run_fallback(directory, size, seconds):
    """dd for sequential I/O, Python O_DIRECT pread/pwrite for random 4 KiB."""
    out = {}
    path = os.path.join(directory, "bench.dd")
    count = size // MIB

    def dd(args):
        t0 = time.perf_counter()
        subprocess.run(["dd", *args], check=True, capture_output=True)
        return time.perf_counter() - t0
    t = dd(["if=/dev/zero", f"of={path}", "bs=1M", f"count={count}", "oflag=direct",
            "conv=fsync"])
    out["seq-write"] = {"MiB/s": count / t, "iops": count / t}
    t = dd([f"if={path}", "of=/dev/null", "bs=1M", "iflag=direct"])
    out["seq-read"] = {"MiB/s": count / t, "iops": count / t}
    blocks = size // 4096
    rnd = random.Random(1)
    for name, write in (("rand-write", True), ("rand-read", False)):
        fd = os.open(path, (os.O_RDWR if write else os.O_RDONLY) | os.O_DIRECT)
        buf = _aligned(4096)
        buf.write(os.urandom(4096))
        n = 0
        end = time.perf_counter() + seconds
        t0 = time.perf_counter()
        while time.perf_counter() < end:
            for _ in range(64):
                off = rnd.randrange(blocks) * 4096
                if write:
                    os.pwritev(fd, [buf], off)
                else:
                    os.preadv(fd, [buf], off)
            n += 64
        if write:
            os.fsync(fd)
        t = time.perf_counter() - t0
        os.close(fd)
        out[name] = {"MiB/s": n * 4096 / t / MIB, "iops": n / t}
    os.unlink(path)
    return out


def bench_datapath(c, node, prefix, pool, io_size, seconds, use_fio, raw_dir):
    size = io_size * 2 + 64 * MIB
    vid = c.create("bench-io", pool, size, "ext4")
    c.cpublish(vid, node, "ext4")
    staging = os.path.join(prefix, "plugins/kubernetes.io/csi/csi.dynvol.io", vid, "globalmount")
    os.makedirs(staging)
    target = os.path.join(prefix, "pods/bench-io/volumes/kubernetes.io~csi", vid, "mount")
    os.makedirs(os.path.dirname(target))
    c.stage(vid, staging, "ext4")
    c.publish(vid, staging, target, "ext4")
    fn = run_fio if use_fio else run_fallback
    try:
        log("data path: inside the published volume ...")
        vol = fn(target, io_size, seconds)
        raw = None
        if raw_dir:
            log("data path: on the backing file system ...")
            raw = fn(raw_dir, io_size, seconds)
    finally:
        c.unpublish(vid, target)
        c.unstage(vid, staging)
        c.cunpublish(vid, node)
        c.delete(vid)
    return vol, raw


# --------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--cycles", type=int, default=100)
    ap.add_argument("--io-size", default="256M", help="file size for the data path tests")
    ap.add_argument("--io-time", type=int, default=5, help="seconds per data path test")
    ap.add_argument("--no-fio", action="store_true", help="use the dd/Python fallback")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench/node.py needs root (loop devices, mount)")
    if not os.path.exists("/dev/loop-control"):
        raise SystemExit("bench/node.py needs loop devices: /dev/loop-control is missing")
    use_fio = not args.no_fio and shutil.which("fio") is not None
    io_size = parse_size(args.io_size)
    build = os.path.join(ROOT, args.build)

    tmp = tempfile.mkdtemp(prefix="dvbench-node-", dir="/tmp")
    prefix = os.path.join(tmp, "kubelet")
    raw_dir = os.path.join(tmp, "raw")
    for d in ("img", "img-buf", "dir", "state", prefix, raw_dir):
        os.makedirs(os.path.join(tmp, d), exist_ok=True)
    cfg = os.path.join(tmp, "config.yaml")
    with open(cfg, "w") as f:
        f.write(f"nodeId: bench-node\npools:\n"
                f"  - name: img\n    backend: image\n    root: {tmp}/img\n"
                f"  - name: img-buf\n    backend: image\n    root: {tmp}/img-buf\n"
                f"    options: {{directIO: \"false\"}}\n"
                f"  - name: dir\n    backend: dir\n    root: {tmp}/dir\n")
    sock = os.path.join(tmp, "csi.sock")
    m = load_csi(tmp)
    proc = subprocess.Popen([os.path.join(build, "dynvol"), "driver", "--endpoint",
                             "unix://" + sock, "--state-dir", os.path.join(tmp, "state"),
                             "--config", cfg, "--log-level", "warn", "--path-prefix", prefix],
                            stderr=subprocess.DEVNULL)
    results = {}
    try:
        wait_socket(sock, proc)
        c = Client(m, "unix://" + sock)
        node = c.node_id()
        cycles = []
        for label, pool, size, fs in (("image/ext4", "img", 64 * MIB, "ext4"),
                                      ("image/xfs", "img", 300 * MIB, "xfs"),
                                      ("dir", "dir", 64 * MIB, "")):
            log(f"cycles: {label} x {args.cycles} ...")
            cycles.append(bench_cycles(c, node, prefix, label.replace("/", "-"), pool, size, fs,
                                       args.cycles))
            cycles[-1]["label"] = label
        results["cycles"] = cycles
        vol, raw = bench_datapath(c, node, prefix, "img", io_size, args.io_time, use_fio,
                                  raw_dir)
        log("data path: the same on a pool with directIO: false (buffered loop) ...")
        vol_buf, _raw = bench_datapath(c, node, prefix, "img-buf", io_size, args.io_time,
                                       use_fio, None)
        results["datapath"] = {"tool": "fio" if use_fio else "dd+python", "volume": vol,
                               "backing": raw, "volume_buffered_loop": vol_buf}

        print("stage+publish+unpublish+unstage cycles (one pre-created volume):")
        print(f"{'pool/fs':>11} {'cycles':>6} {'cycles/s':>9} {'p50 ms':>7} {'p99 ms':>7} "
              f"{'first stage ms':>14}")
        for r in cycles:
            print(f"{r['label']:>11} {r['cycles']:>6} {r['cycles_per_sec']:>9.1f} "
                  f"{r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} {r['first_stage_ms']:>14.1f}")
        fstype = subprocess.run(["findmnt", "-n", "-o", "FSTYPE", "-T", raw_dir],
                                capture_output=True, text=True).stdout.strip()
        print(f"\ndata path ({results['datapath']['tool']}, direct I/O, {args.io_size} file, "
              f"{args.io_time}s each): ext4 volume on a loop device vs. the backing "
              f"{fstype} directly")
        print(f"{'test':>10} {'volume MiB/s':>12} {'backing MiB/s':>13} {'volume iops':>11} "
              f"{'backing iops':>12} {'ratio':>6} {'buffered loop':>13} {'ratio':>6}")
        for name, *_ in FIO_JOBS:
            v, b, vb = vol[name], raw[name], vol_buf[name]
            ratio = v["MiB/s"] / b["MiB/s"] if b["MiB/s"] else float("nan")
            ratio_b = vb["MiB/s"] / b["MiB/s"] if b["MiB/s"] else float("nan")
            print(f"{name:>10} {v['MiB/s']:>12.1f} {b['MiB/s']:>13.1f} {v['iops']:>11.0f} "
                  f"{b['iops']:>12.0f} {ratio:>6.2f} {vb['MiB/s']:>13.1f} {ratio_b:>6.2f}")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=2)
    finally:
        stop_driver(proc)
        # whatever an interrupted run left: mounts under the tree, loop devices
        mnts = subprocess.run(["findmnt", "-rn", "-o", "TARGET"], capture_output=True,
                              text=True).stdout.split()
        for mp in sorted((x for x in mnts if x.startswith(tmp + "/")), key=len, reverse=True):
            subprocess.run(["umount", mp], capture_output=True)
        loops = subprocess.run(["losetup", "-J", "-l"], capture_output=True, text=True).stdout
        for dev in (json.loads(loops).get("loopdevices", []) if loops.strip() else []):
            if (dev.get("back-file") or "").startswith(tmp + "/"):
                subprocess.run(["losetup", "-d", dev["name"]], capture_output=True)
        mnts = subprocess.run(["findmnt", "-rn", "-o", "TARGET"], capture_output=True,
                              text=True).stdout.split()
        if any(x.startswith(tmp + "/") for x in mnts):
            log(f"bench/node.py: mounts left under {tmp}; not removing it")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

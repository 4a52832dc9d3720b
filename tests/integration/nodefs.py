"""Helpers for the Node service tests (test_node.py) and bench/node.py.

- NodeEnv: fresh pool roots for one test - an image pool on the host's /tmp
  (ext4), an image pool on a loop-mounted xfs, a btrfs pool on a
  loop-mounted btrfs, a dir pool on /tmp - a kubelet-like path prefix
  (/tmp/dvk-XXXX, given to the driver with --path-prefix), and drivers
  started on them. Like the kubelet, it makes staging directories and the
  parents of publish targets.
- NodeCsi: the poolfs Controller client plus ControllerPublish and every
  Node call.
- leftovers(): mounts under the prefix or state dir and loop devices backed
  by a pool's files, i.e. what a full teardown must not leave behind.

Needs root and loop devices (require_root_and_loop skips otherwise).
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from conftest import unary
from poolfs import (SANITIZER_MARKERS, Csi, detach_loop, loops_backed_by,
                    mounts_under, remove_pool_root, run, umount)

NODE = "/csi.v1.Node/"
MIB = 1024 * 1024
GIB = 1024 * MIB

# pool name -> (backend, where its root lives, volume fs_type to use)
NODE_POOLS = {
    "img-ext4": ("image", "host", "ext4"),   # image files on the host's /tmp (ext4)
    "img-xfs": ("image", "xfs", "xfs"),      # image files on a loop-mounted xfs
    "btr": ("btrfs", "btrfs", ""),
    "plain": ("dir", "host", ""),
}

_counter = [0]


def losetup_j(image):
    """Loop devices `losetup -j` lists for image (its name, e.g. /dev/loop3)."""
    res = run(["losetup", "-j", str(image)], check=False)
    return [line.split(":", 1)[0] for line in res.stdout.splitlines() if line.strip()]


def findmnt_json(path):
    """(source, fstype, options) of the mount at path, or None."""
    res = subprocess.run(["findmnt", "-n", "-o", "SOURCE,FSTYPE,OPTIONS", "--mountpoint",
                          str(path)], capture_output=True, text=True)
    if res.returncode != 0:
        return None
    parts = res.stdout.split()
    return parts[0], parts[1], parts[2].split(",")


def blkid_type(path):
    """TYPE blkid reports for path (a file or device), or '' for none."""
    res = subprocess.run(["blkid", "-p", "-o", "value", "-s", "TYPE", str(path)],
                         capture_output=True, text=True)
    return res.stdout.strip()


# A child process that writes size bytes of random data to a file, fsyncs
# it, and prints the sha256: the data must come from a process other than
# the test (a pod, not the driver's caller).
_WRITER = r"""
import hashlib, os, sys
path, size = sys.argv[1], int(sys.argv[2])
h = hashlib.sha256()
with open(path, "wb") as f:
    left = size
    while left:
        b = os.urandom(min(left, 1 << 20))
        f.write(b)
        h.update(b)
        left -= len(b)
    f.flush()
    os.fsync(f.fileno())
print(h.hexdigest())
"""


def child_write(path, size):
    """Writes size random bytes to path from a child process; returns the sha256."""
    res = subprocess.run([sys.executable, "-c", _WRITER, str(path), str(size)],
                         capture_output=True, text=True, timeout=120)
    if res.returncode != 0:
        raise OSError(f"child writer on {path} exited {res.returncode}: {res.stderr.strip()}")
    return res.stdout.strip()


_TRY_WRITER = r"""
import errno, os, sys
try:
    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"x" * 4096)
    os.fsync(fd)
    os.close(fd)
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)), e.strerror)
    sys.exit(1)
"""


def child_try_write(path):
    """Tries to create and write path from a child process; returns (rc, what
    the child reports: the errno name, e.g. 'EROFS Read-only file system')."""
    res = subprocess.run([sys.executable, "-c", _TRY_WRITER, str(path)],
                         capture_output=True, text=True, timeout=60)
    return res.returncode, res.stdout.strip() + res.stderr.strip()


class NodeCsi(Csi):
    """Controller calls (poolfs.Csi) plus ControllerPublish and the Node service."""

    SNW = "SINGLE_NODE_WRITER"

    def node(self, method, req, resp_cls, timeout=None):
        return unary(self.ch, NODE + method, req, resp_cls, timeout=timeout or self.timeout)

    def node_future(self, method, req, timeout=30.0):
        """Sends a Node call without waiting for it (a grpc future)."""
        resp_cls = getattr(self.m, method + "Response")
        fn = self.ch.unary_unary(NODE + method,
                                 request_serializer=lambda m: m.SerializeToString(),
                                 response_deserializer=resp_cls.FromString)
        return fn.future(req, timeout=timeout)

    def stage_request(self, vid, staging, block=False, fs_type="", flags=(), mode=None):
        return self.m.NodeStageVolumeRequest(
            volume_id=vid, staging_target_path=str(staging),
            volume_capability=self.vcap(block, fs_type, flags, mode))

    def publish_request(self, vid, staging, target, readonly=False, block=False, fs_type="",
                        mode=None):
        return self.m.NodePublishVolumeRequest(
            volume_id=vid, staging_target_path=str(staging), target_path=str(target),
            readonly=readonly, volume_capability=self.vcap(block, fs_type, mode=mode))

    def vcap(self, block=False, fs_type="", flags=(), mode=None):
        m = self.m
        am = m.VolumeCapability.AccessMode.Mode.Value(mode or self.SNW)
        c = m.VolumeCapability(access_mode=m.VolumeCapability.AccessMode(mode=am))
        if block:
            c.block.CopyFrom(m.VolumeCapability.BlockVolume())
        else:
            c.mount.CopyFrom(m.VolumeCapability.MountVolume(fs_type=fs_type,
                                                             mount_flags=list(flags)))
        return c

    # controller ---------------------------------------------------------

    def create(self, name, pool, size, fs_type="", block=False):
        m = self.m
        req = m.CreateVolumeRequest(name=name, parameters={"pool": pool},
                                    volume_capabilities=[self.vcap(block, fs_type)])
        req.capacity_range.CopyFrom(m.CapacityRange(required_bytes=size))
        return self.call("CreateVolume", req, m.CreateVolumeResponse).volume

    def controller_publish(self, vid, node_id, block=False, fs_type="", readonly=False,
                           mode=None):
        m = self.m
        req = m.ControllerPublishVolumeRequest(
            volume_id=vid, node_id=node_id, readonly=readonly,
            volume_capability=self.vcap(block, fs_type, mode=mode))
        return self.call("ControllerPublishVolume", req, m.ControllerPublishVolumeResponse)

    def controller_unpublish(self, vid, node_id):
        m = self.m
        return self.call("ControllerUnpublishVolume",
                         m.ControllerUnpublishVolumeRequest(volume_id=vid, node_id=node_id),
                         m.ControllerUnpublishVolumeResponse)

    # node ---------------------------------------------------------------

    def info(self):
        return self.node("NodeGetInfo", self.m.NodeGetInfoRequest(), self.m.NodeGetInfoResponse)

    def caps(self):
        return self.node("NodeGetCapabilities", self.m.NodeGetCapabilitiesRequest(),
                         self.m.NodeGetCapabilitiesResponse)

    def stage(self, vid, staging, block=False, fs_type="", flags=(), mode=None,
              context=None, timeout=None):
        m = self.m
        req = m.NodeStageVolumeRequest(volume_id=vid, staging_target_path=str(staging),
                                       volume_capability=self.vcap(block, fs_type, flags, mode),
                                       volume_context=context or {})
        return self.node("NodeStageVolume", req, m.NodeStageVolumeResponse, timeout)

    def unstage(self, vid, staging, timeout=None):
        m = self.m
        return self.node("NodeUnstageVolume",
                         m.NodeUnstageVolumeRequest(volume_id=vid,
                                                    staging_target_path=str(staging)),
                         m.NodeUnstageVolumeResponse, timeout)

    def publish(self, vid, staging, target, readonly=False, block=False, fs_type="",
                flags=(), mode=None, context=None, timeout=None):
        m = self.m
        req = m.NodePublishVolumeRequest(volume_id=vid, target_path=str(target),
                                         readonly=readonly,
                                         volume_capability=self.vcap(block, fs_type, flags, mode),
                                         volume_context=context or {})
        if staging is not None:
            req.staging_target_path = str(staging)
        return self.node("NodePublishVolume", req, m.NodePublishVolumeResponse, timeout)

    def unpublish(self, vid, target, timeout=None):
        m = self.m
        return self.node("NodeUnpublishVolume",
                         m.NodeUnpublishVolumeRequest(volume_id=vid, target_path=str(target)),
                         m.NodeUnpublishVolumeResponse, timeout)

    def stats(self, vid, path):
        m = self.m
        return self.node("NodeGetVolumeStats",
                         m.NodeGetVolumeStatsRequest(volume_id=vid, volume_path=str(path)),
                         m.NodeGetVolumeStatsResponse)

    def node_expand(self, vid, path, required=0, block=False, staging=None):
        m = self.m
        req = m.NodeExpandVolumeRequest(volume_id=vid, volume_path=str(path),
                                        volume_capability=self.vcap(block))
        if required:
            req.capacity_range.CopyFrom(m.CapacityRange(required_bytes=required))
        if staging is not None:
            req.staging_target_path = str(staging)
        return self.node("NodeExpandVolume", req, m.NodeExpandVolumeResponse)


def usage_bytes(stats):
    for u in stats.usage:
        if u.unit == 1:  # BYTES
            return u
    return None


class NodeEnv:
    """Pools, a kubelet-like prefix and a state dir for one test."""

    def __init__(self, driver_factory, xfs, btrfs, tmp_path, node_id="dvt-node",
                 max_volumes=None, pools=None):
        _counter[0] += 1
        tag = f"n{os.getpid()}-{_counter[0]}"
        self.prefix = Path(tempfile.mkdtemp(prefix="dvk-", dir="/tmp"))
        self.host = Path(tempfile.mkdtemp(prefix="dvh-", dir="/tmp"))
        self.outside = Path(tempfile.mkdtemp(prefix="dvo-", dir="/tmp"))  # not beneath the prefix
        where = {"host": self.host, "xfs": xfs.mnt / tag if xfs else None,
                 "btrfs": btrfs.mnt / tag if btrfs else None}
        self.tops = [p for p in where.values() if p is not None]
        self.pools = {}
        self.roots = {}
        for name, (backend, loc, fs) in (pools or NODE_POOLS).items():
            if where[loc] is None:
                continue
            self.pools[name] = (backend, fs)
            self.roots[name] = where[loc] / name
            self.roots[name].mkdir(parents=True)
        self.state_dir = tmp_path / "state"
        self.state_dir.mkdir()
        self.node_id = node_id
        self.max_volumes = max_volumes
        self.config = tmp_path / "dynvol.yaml"
        lines = [f"nodeId: {node_id}", "pools:"]
        for name, (backend, _fs) in self.pools.items():
            lines += [f"  - name: {name}", f"    backend: {backend}",
                      f"    root: {self.roots[name]}"]
        self.config.write_text("\n".join(lines) + "\n")
        self._factory = driver_factory
        self.drivers = []
        self.driver = None

    # driver ---------------------------------------------------------------

    def start(self, env=None, delay=None, wait=True):
        args = ["--config", str(self.config), "--log-format", "json",
                "--path-prefix", str(self.prefix)]
        if self.max_volumes is not None:
            args += ["--max-volumes-per-node", str(self.max_volumes)]
        proc_env = {"DYNVOL_CRASHPOINT": ""}
        proc_env.update(env or {})
        drv = self._factory(state_dir=self.state_dir, extra_args=args, env=proc_env,
                            delay=delay, wait=wait)
        self.drivers.append(drv)
        self.driver = drv
        return drv

    def client(self, csi_mod, drv=None, timeout=60.0):
        return NodeCsi(csi_mod, (drv or self.driver).channel(), timeout=timeout)

    def kill(self, drv=None):
        drv = drv or self.driver
        drv.proc.send_signal(signal.SIGKILL)
        drv.proc.wait(timeout=10)
        drv.close_channels()

    # paths the CO makes -------------------------------------------------------

    def staging(self, vid, block=False):
        """A staging path as the kubelet lays it out, created (like the kubelet)."""
        if block:
            p = self.prefix / "plugins/kubernetes.io/csi/volumeDevices/staging" / vid
        else:
            p = self.prefix / "plugins/kubernetes.io/csi/csi.dynvol.io" / vid / "globalmount"
        p.mkdir(parents=True, exist_ok=True)
        return p

    def target(self, vid, block=False, pod=None):
        """A publish target; only its parent is created (the driver makes it)."""
        pod = pod or uuid.uuid4().hex[:12]
        if block:
            p = self.prefix / "plugins/kubernetes.io/csi/volumeDevices/publish" / vid / pod
        else:
            p = self.prefix / "pods" / pod / "volumes/kubernetes.io~csi" / vid / "mount"
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def image(self, pool, vid):
        return self.roots[pool] / "volumes" / (vid + ".img")

    def backing(self, pool, vid):
        backend = self.pools[pool][0]
        return self.image(pool, vid) if backend == "image" else self.roots[pool] / "volumes" / vid

    # checks ------------------------------------------------------------------

    def leftovers(self):
        """Mounts and loop devices a full teardown must not leave behind."""
        out = []
        for m in mounts_under(self.prefix):
            out.append(f"mount {m}")
        for m in mounts_under(self.state_dir):
            out.append(f"mount {m}")
        for name, root in self.roots.items():
            for dev in loops_backed_by(root):
                out.append(f"loop device {dev} backed by a file in pool {name}")
        return out

    def sanitizer_reports(self):
        return [d.describe() for d in self.drivers
                if any(m in d.stderr() for m in SANITIZER_MARKERS)]

    def close(self):
        """Stops drivers and force-removes whatever a failed test left."""
        for d in self.drivers:
            d.close_channels()
            if d.alive():
                d.stop(signal.SIGTERM)
        reports = self.sanitizer_reports()
        for base in (self.prefix, self.state_dir, self.outside):
            for m in mounts_under(base):
                umount(m)
        for name, (backend, _fs) in self.pools.items():
            for dev in loops_backed_by(self.roots[name]):
                detach_loop(dev)
            remove_pool_root(backend, self.roots[name])
        stuck = []
        for t in self.tops + [self.prefix, self.outside]:
            # never rmtree through a mount that would not go away
            if mounts_under(t):
                stuck.append(t)
            else:
                shutil.rmtree(t, ignore_errors=True)
        assert not stuck, f"mounts that could not be removed under {stuck}"
        assert not reports, "sanitizer reports:\n" + "\n".join(reports)


def mountinfo_snapshot(tries=50):
    """/proc/self/mountinfo as one consistent table. The kernel shows it a
    page per read(2) and lets mounts change between reads, so a table read
    while mounts come and go can hold a removed mount next to the one that
    replaced it (its mount ID even reused): stacks that never were. Two
    whole reads in a row that agree are a table that was."""
    last = None
    for _ in range(tries):
        with open("/proc/self/mountinfo", "rb") as f:
            data = f.read()
        if data == last:
            break
        last = data
    return last.decode("utf-8", "surrogateescape")


def mount_count(path):
    """How many mounts are stacked on path (from /proc/self/mountinfo)."""
    path = str(path)
    n = 0
    for line in mountinfo_snapshot().splitlines():
        mp = line.split()[4].replace("\\040", " ").replace("\\011", "\t") \
            .replace("\\012", "\n").replace("\\134", "\\")
        if mp == path:
            n += 1
    return n


# --------------------------------------------------------------------------
# holding the driver at a point inside a call, from outside (no crash
# points exist in the node code): dynvol serialises loop attaches with an
# flock on /dev/loop-control and waits (busy_timeout) for the registry's
# write lock, so holding either one parks a stage right before that step.


class LoopControlLock:
    """An exclusive flock on /dev/loop-control: parks dynvol's loop attach."""

    def __init__(self):
        import fcntl
        self.fd = os.open("/dev/loop-control", os.O_RDWR | os.O_CLOEXEC)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def release(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class RegistryWriteLock:
    """The registry's write lock (BEGIN IMMEDIATE, rolled back): parks the
    driver's next registry write (it waits up to its busy timeout)."""

    def __init__(self, state_dir):
        import sqlite3
        self.con = sqlite3.connect(str(Path(state_dir) / "registry.db"), timeout=10,
                                   isolation_level=None)
        self.con.execute("BEGIN IMMEDIATE")

    def release(self):
        if self.con is not None:
            self.con.execute("ROLLBACK")
            self.con.close()
            self.con = None


def stage_row(state_dir, vid):
    """The node_stages row of vid as a dict, or None (read-only)."""
    import sqlite3
    con = sqlite3.connect(f"file:{Path(state_dir) / 'registry.db'}?mode=ro", uri=True,
                          timeout=10)
    try:
        cur = con.execute("SELECT staging_path, device, state FROM node_stages "
                          "WHERE volume_id = ?", (vid,))
        row = cur.fetchone()
    finally:
        con.close()
    if row is None:
        return None
    return {"staging_path": row[0], "device": row[1], "state": row[2]}

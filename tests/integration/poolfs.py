"""Shared helpers for the pool tests (test_pools.py, test_crash.py).

- LoopFs: a real file system on a loop device (a sparse image file ->
  mkfs -> losetup -> mount), torn down however the tests end.
- loop_fs_fixture(): a module-scoped pytest fixture around LoopFs.
- PoolEnv: fresh pool roots for one test (image on xfs, btrfs, dir), the
  driver's YAML config, and a way to start `dynvol driver` on them.
- Csi: thin CSI Controller client (grpcio + messages from proto/csi.proto).
- pool_objects(): what a pool directory holds, for comparing with the
  registry's view (ListVolumes / ListSnapshots).

Everything here needs root and loop devices; `require_root_and_loop()`
skips (with the reason) when they are not there.
"""

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import rpc_code, unary

MIB = 1024 * 1024
GIB = 1024 * MIB

CONTROLLER = "/csi.v1.Controller/"

# Backend of each pool in PoolEnv's config.
POOLS = {"img-xfs": "image", "btr": "btrfs", "plain": "dir"}

ID_RE = re.compile(r"^(vol|snap)-[0-9a-f]{32}$")

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                     "runtime error:", "SUMMARY: UndefinedBehaviorSanitizer")


# --------------------------------------------------------------------------
# shell helpers


def run(cmd, check=True, timeout=120, **kw):
    """subprocess.run with text output; raises with stderr on failure."""
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                         stdin=subprocess.DEVNULL, **kw)
    if check and res.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} exited {res.returncode}:\n"
                             f"{res.stdout}\n{res.stderr}")
    return res


def require_root_and_loop():
    if os.geteuid() != 0:
        pytest.skip("pool tests need root (mkfs, losetup, mount, btrfs quotas)")
    if not os.path.exists("/dev/loop-control"):
        pytest.skip("pool tests need loop devices: /dev/loop-control is missing")


def is_mounted(path):
    return subprocess.run(["findmnt", "--mountpoint", str(path)],
                          capture_output=True).returncode == 0


def mounts_under(prefix):
    """Mount points at or below prefix (deepest first)."""
    res = run(["findmnt", "-rn", "-o", "TARGET"], check=False)
    prefix = str(prefix).rstrip("/")
    out = [m for m in res.stdout.split()
           if m == prefix or m.startswith(prefix + "/")]
    return sorted(out, key=len, reverse=True)


def loops_backed_by(prefix):
    """Loop devices whose backing file lies at or below prefix."""
    res = run(["losetup", "-J", "-l"], check=False)
    if res.returncode != 0 or not res.stdout.strip():
        return []
    prefix = str(prefix).rstrip("/")
    out = []
    devs = json.loads(res.stdout).get("loopdevices", [])
    for dev in devs:
        back = (dev.get("back-file") or "").removesuffix(" (deleted)")
        if back == prefix or back.startswith(prefix + "/"):
            out.append(dev["name"])
    # loop devices stacked on those (read-only views of raw block volumes)
    # come first: they hold the device under them busy
    found = set(out)
    while True:
        more = [d["name"] for d in devs
                if d["name"] not in found and (d.get("back-file") or "") in found]
        if not more:
            return out
        found.update(more)
        out = more + out


def umount(path, tries=20):
    """Unmounts path, retrying while busy; lazily as the last resort."""
    for i in range(tries):
        if not is_mounted(path):
            return True
        res = subprocess.run(["umount", str(path)], capture_output=True)
        if res.returncode == 0 and not is_mounted(path):
            return True
        time.sleep(0.1 * (i + 1) if i < 5 else 0.5)
    subprocess.run(["umount", "-l", str(path)], capture_output=True)
    return not is_mounted(path)


def detach_loop(dev, tries=20):
    for i in range(tries):
        res = subprocess.run(["losetup", "-d", dev], capture_output=True, text=True)
        if res.returncode == 0 or "No such device" in res.stderr:
            return True
        time.sleep(0.1 * (i + 1) if i < 5 else 0.5)
    return False


@contextlib.contextmanager
def attached(path, read_only=False):
    """The file at path attached to a loop device for the block's lifetime."""
    args = ["losetup", "--find", "--show"]
    if read_only:
        args.append("--read-only")
    dev = run(args + [str(path)]).stdout.strip()
    try:
        yield dev
    finally:
        assert detach_loop(dev), f"could not detach {dev}"


@contextlib.contextmanager
def mounted_image(path, options=""):
    """The file system inside image file path mounted (-o loop) on a temp dir."""
    mnt = tempfile.mkdtemp(prefix="dvt-mnt-", dir="/tmp")
    opts = "loop" + ("," + options if options else "")
    try:
        run(["mount", "-o", opts, str(path), mnt])
        try:
            yield Path(mnt)
        finally:
            # -o loop devices are auto-cleared at umount, soon after it
            assert umount(mnt), f"could not unmount {mnt}"
            deadline = time.monotonic() + 10
            while loops_backed_by(path) and time.monotonic() < deadline:
                time.sleep(0.05)
            for dev in loops_backed_by(path):
                detach_loop(dev)
    finally:
        os.rmdir(mnt)


# --------------------------------------------------------------------------
# loop file systems


class LoopFs:
    """A file system on a loop device over a sparse image in a temp dir."""

    def __init__(self, fstype, size):
        self.fstype = fstype
        self.size = size
        self.base = None
        self.image = None
        self.mnt = None
        self.dev = None

    def create(self):
        self.base = Path(tempfile.mkdtemp(prefix=f"dvt-{self.fstype}-", dir="/tmp"))
        self.image = self.base / "fs.img"
        self.mnt = self.base / "mnt"
        self.mnt.mkdir()
        with open(self.image, "wb") as f:
            f.truncate(self.size)
        if self.fstype == "xfs":
            run(["mkfs.xfs", "-q", "-f", "-m", "reflink=1", str(self.image)])
        elif self.fstype == "btrfs":
            run(["mkfs.btrfs", "-q", "-f", str(self.image)])
        elif self.fstype == "ext4":
            run(["mkfs.ext4", "-q", "-F", str(self.image)])
        else:
            raise ValueError(self.fstype)
        # --find races with other users of loop devices: retry
        for attempt in range(5):
            res = run(["losetup", "--find", "--show", str(self.image)], check=False)
            if res.returncode == 0:
                self.dev = res.stdout.strip()
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"losetup --find --show failed: {res.stderr}")
        run(["mount", self.dev, str(self.mnt)])
        return self

    def destroy(self):
        """Unmounts, detaches and removes everything; returns problems found."""
        problems = []
        if self.base is None:
            return problems
        # whatever a failed test left inside: mounts, then loop devices
        for m in mounts_under(self.mnt):
            if m != str(self.mnt) and not umount(m):
                problems.append(f"could not unmount {m}")
        for dev in loops_backed_by(self.mnt):
            if not detach_loop(dev):
                problems.append(f"could not detach {dev} (backed by a file in {self.mnt})")
        if self.mnt.exists() and not umount(self.mnt):
            problems.append(f"could not unmount {self.mnt}")
        if self.dev:
            detach_loop(self.dev)
        for dev in loops_backed_by(self.image):
            if not detach_loop(dev):
                problems.append(f"could not detach {dev} (backing {self.image})")
        # verify
        if is_mounted(self.mnt):
            problems.append(f"{self.mnt} is still mounted")
        left = loops_backed_by(self.image)
        if left:
            problems.append(f"loop devices still attached to {self.image}: {left}")
        if not problems:
            shutil.rmtree(self.base, ignore_errors=True)
            if self.base.exists():
                problems.append(f"could not remove {self.base}")
        return problems


def loop_fs_fixture(fstype, size):
    """A module-scoped fixture yielding a mounted LoopFs of fstype."""

    @pytest.fixture(scope="module")
    def fixture(request):
        require_root_and_loop()
        fs = LoopFs(fstype, size)

        def fin():
            problems = fs.destroy()
            assert not problems, "teardown of the %s loop fs: %s" % (fstype, problems)

        request.addfinalizer(fin)
        fs.create()
        return fs

    return fixture


# --------------------------------------------------------------------------
# pools


def btrfs_delete_subvolumes_under(path):
    """Deletes every subvolume below path (deepest first)."""
    path = Path(path)
    if not path.exists():
        return
    subs = []
    res = run(["btrfs", "subvolume", "list", str(path)], check=False)
    root = Path(run(["findmnt", "-n", "-o", "TARGET", "-T", str(path)]).stdout.strip())
    for line in res.stdout.splitlines():
        m = re.search(r" path (.*)$", line)
        if m:
            p = root / m.group(1)
            if str(p).startswith(str(path) + "/"):
                subs.append(p)
    for p in sorted(subs, key=lambda x: len(str(x)), reverse=True):
        run(["btrfs", "property", "set", "-ts", str(p), "ro", "false"], check=False)
        run(["btrfs", "subvolume", "delete", str(p)], check=False)


def remove_pool_root(backend, root):
    root = Path(root)
    if not root.exists():
        return
    for m in mounts_under(root):
        umount(m)
    for dev in loops_backed_by(root):
        detach_loop(dev)
    if backend == "btrfs":
        btrfs_delete_subvolumes_under(root)
    shutil.rmtree(root, ignore_errors=True)


_env_counter = [0]


class PoolEnv:
    """Fresh pool roots for one test, a config, and drivers started on them.

    img-xfs: image backend on the xfs loop fs; btr: btrfs backend on the
    btrfs loop fs; plain: dir backend (on the xfs loop fs, so that its
    capacity is a small, known file system too).
    """

    def __init__(self, driver_factory, xfs, btrfs, tmp_path, remove_orphans=None):
        _env_counter[0] += 1
        tag = f"t{os.getpid()}-{_env_counter[0]}"
        self.roots = {
            "img-xfs": xfs.mnt / tag / "pool",
            "btr": btrfs.mnt / tag / "pool",
            "plain": xfs.mnt / tag / "plain",
        }
        self.tops = [xfs.mnt / tag, btrfs.mnt / tag]
        for r in self.roots.values():
            r.mkdir(parents=True)
        self.state_dir = tmp_path / "state"
        self.state_dir.mkdir()
        self.config = tmp_path / "dynvol.yaml"
        lines = ["pools:"]
        for name, backend in POOLS.items():
            lines += [f"  - name: {name}", f"    backend: {backend}",
                      f"    root: {self.roots[name]}"]
        if remove_orphans is not None:
            lines.insert(0, f"removeOrphans: {'true' if remove_orphans else 'false'}")
        self.config.write_text("\n".join(lines) + "\n")
        self._factory = driver_factory
        self.drivers = []
        self.driver = None

    def backend(self, pool):
        return POOLS[pool]

    def start(self, env=None, wait=True):
        """Starts a driver on the same state dir and pools (log format json)."""
        proc_env = {"DYNVOL_CRASHPOINT": ""}
        if env:
            proc_env.update(env)
        drv = self._factory(state_dir=self.state_dir,
                            extra_args=["--config", str(self.config),
                                        "--log-format", "json"],
                            env=proc_env, wait=wait)
        self.drivers.append(drv)
        self.driver = drv
        return drv

    def csi(self, csi_mod, drv=None):
        return Csi(csi_mod, (drv or self.driver).channel())

    def stop(self, drv=None, sig=signal.SIGTERM):
        drv = drv or self.driver
        drv.close_channels()
        return drv.stop(sig)

    def sanitizer_reports(self):
        out = []
        for d in self.drivers:
            text = d.stderr()
            if any(m in text for m in SANITIZER_MARKERS):
                out.append(d.describe())
        return out

    def close(self):
        for d in self.drivers:
            d.close_channels()
            if d.alive():
                d.stop(signal.SIGTERM)
        reports = self.sanitizer_reports()
        for name, backend in POOLS.items():
            remove_pool_root(backend, self.roots[name])
        for t in self.tops:
            shutil.rmtree(t, ignore_errors=True)
        assert not reports, "sanitizer reports:\n" + "\n".join(reports)

    # registry (read-only, for invariants the CSI API cannot show) ----------

    def registry_rows(self, query):
        db = self.state_dir / "registry.db"
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute(query).fetchall()
        finally:
            con.close()


def pool_objects(backend, root):
    """(volume ids, snapshot ids, other entries) found in a pool root."""
    vols, snaps, other = set(), set(), []
    for sub, ids in (("volumes", vols), ("snapshots", snaps)):
        d = Path(root) / sub
        if not d.exists():
            continue
        for name in os.listdir(d):
            obj = name[:-4] if backend == "image" and name.endswith(".img") else name
            if ID_RE.match(obj) and (backend != "image" or name.endswith(".img")):
                ids.add(obj)
            else:
                other.append(f"{sub}/{name}")
    for name in os.listdir(root):
        if name not in ("volumes", "snapshots"):
            other.append(name)
    return vols, snaps, other


def volume_path(env, pool, vid):
    suffix = ".img" if env.backend(pool) == "image" else ""
    return env.roots[pool] / "volumes" / (vid + suffix)


def snapshot_path(env, pool, sid):
    suffix = ".img" if env.backend(pool) == "image" else ""
    return env.roots[pool] / "snapshots" / (sid + suffix)


# --------------------------------------------------------------------------
# btrfs


def btrfs_subvol_info(path):
    """`btrfs subvolume show` as a dict (Subvolume ID, Flags, ...)."""
    res = run(["btrfs", "subvolume", "show", str(path)])
    info = {}
    for line in res.stdout.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            info[k.strip()] = v.strip()
    return info


def btrfs_qgroup_limit(path):
    """max_rfer of the subvolume at path (None: no limit), from the CLI."""
    sid = btrfs_subvol_info(path)["Subvolume ID"]
    run(["btrfs", "quota", "rescan", "-w", str(path)], check=False)
    res = run(["btrfs", "qgroup", "show", "-re", "--raw", str(path)])
    header = None
    for line in res.stdout.splitlines():
        cols = line.split()
        if not cols:
            continue
        if cols[0].lower() in ("qgroupid", "qgroup"):
            header = [c.lower() for c in cols]
            continue
        if cols[0] == f"0/{sid}":
            idx = header.index("max_rfer") if header and "max_rfer" in header else 3
            v = cols[idx]
            return None if v == "none" else int(v)
    raise AssertionError(f"no qgroup 0/{sid} in:\n{res.stdout}")


# --------------------------------------------------------------------------
# data


def write_random(path, size, digest=True):
    """Writes size random bytes to path, fsyncs; returns the sha256 hex
    (None when digest is false)."""
    h = hashlib.sha256() if digest else None
    block = os.urandom(MIB)
    with open(path, "wb") as f:
        left = size
        i = 0
        while left > 0:
            # vary every block so no two blocks share content
            chunk = hashlib.sha256(block[:64] + i.to_bytes(8, "little")).digest() + block[32:]
            chunk = chunk[:min(MIB, left)]
            f.write(chunk)
            if h:
                h.update(chunk)
            left -= len(chunk)
            i += 1
        f.flush()
        os.fsync(f.fileno())
    return h.hexdigest() if h else None


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(MIB), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------
# CSI client


class Csi:
    """CSI Controller calls; each returns the response or raises RpcError."""

    def __init__(self, csi, channel, timeout=60.0):
        self.m = csi
        self.ch = channel
        self.timeout = timeout

    def call(self, method, req, resp_cls, timeout=None):
        return unary(self.ch, CONTROLLER + method, req, resp_cls,
                     timeout=timeout or self.timeout)

    def code(self, fn, *a, **kw):
        return rpc_code(fn, *a, **kw)

    def cap(self, fs_type="", block=False):
        m = self.m
        c = m.VolumeCapability(access_mode=m.VolumeCapability.AccessMode(
            mode=m.VolumeCapability.AccessMode.SINGLE_NODE_WRITER))
        if block:
            c.block.CopyFrom(m.VolumeCapability.BlockVolume())
        else:
            c.mount.CopyFrom(m.VolumeCapability.MountVolume(fs_type=fs_type))
        return c

    def create_volume(self, name, pool, required=0, limit=0, fs_type="",
                      snapshot=None, volume=None, block=False, timeout=None):
        m = self.m
        req = m.CreateVolumeRequest(name=name, parameters={"pool": pool},
                                    volume_capabilities=[self.cap(fs_type, block)])
        if required or limit:
            req.capacity_range.CopyFrom(m.CapacityRange(required_bytes=required,
                                                        limit_bytes=limit))
        if snapshot is not None:
            req.volume_content_source.snapshot.snapshot_id = snapshot
        if volume is not None:
            req.volume_content_source.volume.volume_id = volume
        return self.call("CreateVolume", req, m.CreateVolumeResponse, timeout).volume

    def delete_volume(self, vid):
        return self.call("DeleteVolume", self.m.DeleteVolumeRequest(volume_id=vid),
                         self.m.DeleteVolumeResponse)

    def expand(self, vid, required, limit=0):
        m = self.m
        req = m.ControllerExpandVolumeRequest(
            volume_id=vid, capacity_range=m.CapacityRange(required_bytes=required,
                                                         limit_bytes=limit))
        return self.call("ControllerExpandVolume", req, m.ControllerExpandVolumeResponse)

    def get_volume(self, vid):
        return self.call("ControllerGetVolume",
                         self.m.ControllerGetVolumeRequest(volume_id=vid),
                         self.m.ControllerGetVolumeResponse)

    def capacity(self, pool):
        m = self.m
        return self.call("GetCapacity", m.GetCapacityRequest(parameters={"pool": pool}),
                         m.GetCapacityResponse).available_capacity

    def create_snapshot(self, name, source, timeout=None):
        m = self.m
        return self.call("CreateSnapshot",
                         m.CreateSnapshotRequest(name=name, source_volume_id=source),
                         m.CreateSnapshotResponse, timeout).snapshot

    def delete_snapshot(self, sid):
        return self.call("DeleteSnapshot", self.m.DeleteSnapshotRequest(snapshot_id=sid),
                         self.m.DeleteSnapshotResponse)

    def list_volumes(self):
        m = self.m
        out, token = [], ""
        while True:
            resp = self.call("ListVolumes",
                             m.ListVolumesRequest(max_entries=100, starting_token=token),
                             m.ListVolumesResponse)
            out += list(resp.entries)
            token = resp.next_token
            if not token:
                return out

    def list_snapshots(self):
        m = self.m
        out, token = [], ""
        while True:
            resp = self.call("ListSnapshots",
                             m.ListSnapshotsRequest(max_entries=100, starting_token=token),
                             m.ListSnapshotsResponse)
            out += list(resp.entries)
            token = resp.next_token
            if not token:
                return out

"""Concurrency torture of the Node service (with the Controller calls that
change what the node sees).

Many clients (CLIENTS threads over CHANNELS gRPC channels) hammer one driver
for a bounded time with a random mix of CreateVolume, DeleteVolume,
ControllerExpandVolume, NodeStageVolume, NodePublishVolume,
NodeUnpublishVolume, NodeUnstageVolume, NodeExpandVolume and
NodeGetVolumeStats on a few volume names (SLOTS: ext4 and xfs image
volumes, raw block volumes on both image pools, a btrfs and two dir
volumes), each volume with two staging paths (the kubelet's, and another
one) and three publish targets, as the kubelet lays them out; stale volume
IDs (deleted) and IDs that never existed are mixed in.

While it runs:
- every answer must be one the CSI spec allows for that call under
  contention (ALLOWED); anything else (INTERNAL, UNKNOWN, DATA_LOSS,
  DEADLINE_EXCEEDED, ...) fails the test with the call, the request and the
  message. A few other answers are allowed only with a cause the test can
  see, and are counted and printed ("tolerated"): UNAVAILABLE "busy" from
  an unpublish/unstage while the test itself (the sampler below, or a
  NodeGetVolumeStats) was inside that volume; INTERNAL from resize2fs in a
  container without CAP_SYS_RESOURCE (online ext4 growth needs it;
  test_node.py skips for the same reason);
- a DeleteVolume that answers OK must not leave a stage row of its volume
  behind (a staged volume is refused); a NodeStageVolume racing a
  DeleteVolume of its volume answers NOT_FOUND, never INTERNAL;
- a sample of the publishes and stages that answered OK are checked at
  once, when no unpublish/unstage/delete of that volume can have intervened:
  exactly one mount at the path, of this volume (its loop device's backing
  file, or its directory), read-only exactly when asked, and writable (a
  file written and read back; raw block: pwrite/pread on the device node),
  or EROFS when read-only.

Afterwards, before any clean-up:
- the registry's node_stages and node_publishes rows are exactly what the
  mount table and the loop devices show: every row's mount exists once and
  is of its volume, every mount under the kubelet prefix is a row's, every
  loop device backed by a pool file is a stage row's, nothing is left in
  state STAGING;
- registry volumes == pool objects (test_crash.check_invariants, plus the
  img-ext4 pool it does not know).
Then everything is unpublished, unstaged and deleted through the API, and
no mount is left under the test's dirs, no loop device is backed by a pool
file, the node tables, the volumes table and the journal are empty, and the
pools hold nothing.

Whatever happens, the env fixture unmounts everything under the test's dirs
and detaches loop devices backed by the pools (nodefs.NodeEnv.close).

The other tests isolate what the torture found, and what it cannot check
with the kubelet's one-path-per-volume layout: a stage racing a delete of
its volume (parked with gdb), a raw block volume whose loop device number
was reused behind the driver's back, a staging path shared by two
volumes, and two volumes fighting over the same target paths (a smaller
torture). Where dynvol is wrong a test is marked xfail(strict=True,
reason="dynvol bug: ...").

TORTURE_SEED=N repeats a run's random choices (not its timing).

Needs root and loop devices (skipped otherwise).
"""

import errno
import glob
import os
import random
import re
import shutil
import sqlite3
import stat
import subprocess
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from google.protobuf import text_format

from nodefs import GIB, MIB, NodeEnv, mountinfo_snapshot
from poolfs import (detach_loop, loop_fs_fixture, loops_backed_by, mounts_under,
                    pool_objects, require_root_and_loop, run)
from test_crash import check_invariants

xfs_fs = loop_fs_fixture("xfs", 3 * GIB)
btrfs_fs = loop_fs_fixture("btrfs", GIB)

CLIENTS = 48
CHANNELS = 8
SECONDS = 15
CALL_TIMEOUT = 30.0
SAMPLE = 0.35  # fraction of OK publishes/stages checked on the spot
PARK_AT = "store_lock_volume_at"

# name -> (pool, block, fs_type, size)
SLOTS = {
    "tn-ext4-a": ("img-ext4", False, "ext4", 64 * MIB),
    "tn-ext4-b": ("img-ext4", False, "ext4", 64 * MIB),
    "tn-xfs": ("img-xfs", False, "xfs", 300 * MIB),
    "tn-blk-a": ("img-ext4", True, "", 32 * MIB),
    "tn-blk-b": ("img-xfs", True, "", 32 * MIB),
    "tn-btr": ("btr", False, "", 64 * MIB),
    "tn-dir-a": ("plain", False, "", 64 * MIB),
    "tn-dir-b": ("plain", False, "", 64 * MIB),
}
TARGETS_PER_VOLUME = 3

S = grpc.StatusCode
# What each call may answer under contention (the spec's error tables, plus
# ABORTED for "an operation on this volume is in progress").
ALLOWED = {
    "CreateVolume": {S.OK, S.ABORTED, S.ALREADY_EXISTS, S.RESOURCE_EXHAUSTED},
    "DeleteVolume": {S.OK, S.ABORTED, S.FAILED_PRECONDITION},
    "ControllerExpandVolume": {S.OK, S.ABORTED, S.NOT_FOUND, S.OUT_OF_RANGE,
                               S.RESOURCE_EXHAUSTED, S.FAILED_PRECONDITION},
    "NodeStageVolume": {S.OK, S.ABORTED, S.NOT_FOUND, S.ALREADY_EXISTS,
                        S.FAILED_PRECONDITION},
    # + FAILED_PRECONDITION "still published" (the driver's documented
    # refusal, test_node.py), UNAVAILABLE busy (see busy_allowed)
    "NodeUnstageVolume": {S.OK, S.ABORTED, S.NOT_FOUND},
    "NodePublishVolume": {S.OK, S.ABORTED, S.NOT_FOUND, S.ALREADY_EXISTS,
                          S.FAILED_PRECONDITION},
    # + UNAVAILABLE busy (see busy_allowed)
    "NodeUnpublishVolume": {S.OK, S.ABORTED, S.NOT_FOUND},
    "NodeExpandVolume": {S.OK, S.ABORTED, S.NOT_FOUND, S.OUT_OF_RANGE,
                         S.FAILED_PRECONDITION},
    "NodeGetVolumeStats": {S.OK, S.NOT_FOUND},
}
WEIGHTS = {
    "CreateVolume": 9, "DeleteVolume": 6, "ControllerExpandVolume": 4,
    "NodeStageVolume": 14, "NodeUnstageVolume": 8, "NodePublishVolume": 16,
    "NodeUnpublishVolume": 10, "NodeExpandVolume": 5, "NodeGetVolumeStats": 8,
}
OPS = list(WEIGHTS)

STAGED = 1  # node_stages.state REG_STAGE_STAGED (0 is STAGING)

def has_cap_sys_resource():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) & (1 << 24))
    return False


# --------------------------------------------------------------------------
# mount table, loop devices, registry


def _unescape(s):
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)


def mount_table():
    """[{mp, root, majmin, opts, fstype, source}] from /proc/self/mountinfo."""
    out = []
    for line in mountinfo_snapshot().splitlines():
        a, b = line.split(" - ", 1)
        fa, fb = a.split(), b.split()
        out.append({"id": fa[0], "parent": fa[1],
                    "mp": _unescape(fa[4]), "root": _unescape(fa[3]), "majmin": fa[2],
                    "opts": fa[5].split(","), "fstype": fb[0],
                    "source": _unescape(fb[1]) if len(fb) > 1 else ""})
    return out


def mounts_at(path, table=None):
    path = str(path)
    return [m for m in (table if table is not None else mount_table()) if m["mp"] == path]


def loop_devices():
    """{'/dev/loopN': (major:minor, backing file or '')} from sysfs."""
    out = {}
    for d in glob.glob("/sys/block/loop*"):
        name = os.path.basename(d)
        try:
            with open(f"{d}/dev") as f:
                majmin = f.read().strip()
        except OSError:
            continue
        try:
            with open(f"{d}/loop/backing_file") as f:
                back = f.read().strip()
        except OSError:
            back = ""  # not bound
        out["/dev/" + name] = (majmin, back)
    return out


def _strip_deleted(back):
    return back[:-len(" (deleted)")] if back.endswith(" (deleted)") else back


def registry_rows(state_dir, query):
    con = sqlite3.connect(f"file:{Path(state_dir) / 'registry.db'}?mode=ro", uri=True,
                          timeout=10)
    try:
        return con.execute(query).fetchall()
    finally:
        con.close()


class RegistryView:
    """What test_crash.check_invariants needs of an env, over a NodeEnv."""

    def __init__(self, env):
        self.env = env
        self.roots = env.roots
        self.state_dir = env.state_dir

    def backend(self, pool):
        return self.env.pools[pool][0]

    def registry_rows(self, query):
        return registry_rows(self.state_dir, query)


# --------------------------------------------------------------------------
# fixtures


@pytest.fixture(autouse=True)
def _root():
    require_root_and_loop()


@pytest.fixture
def env(driver_factory, xfs_fs, btrfs_fs, tmp_path):
    e = NodeEnv(driver_factory, xfs_fs, btrfs_fs, tmp_path, node_id="torture-node")
    try:
        e.start()
        yield e
    finally:
        # unmounts everything under the prefix and the state dir, detaches
        # loop devices backed by the pools, removes the pools - also when
        # the test failed half-way
        e.close()


# --------------------------------------------------------------------------
# the torture


class Torture:
    """Shared state of one run: volume IDs, paths, counters, findings."""

    def __init__(self, env, csi):
        self.env = env
        self.m = csi
        self.clients = [env.client(csi, timeout=CALL_TIMEOUT) for _ in range(CHANNELS)]
        self.lock = threading.Lock()
        self.current = {}          # name -> volume ID of its latest create
        self.slot_of = {}          # volume ID (also made-up ones) -> slot name
        self.seen = []             # every real volume ID, deleted ones too
        self.paths = {}            # volume ID -> (stagings, targets)
        self.codes = defaultdict(Counter)        # op -> code -> n
        self.messages = defaultdict(Counter)     # (op, code) -> message -> n (non-OK)
        self.bad = []
        self.tolerated = Counter()  # why -> n
        # what may undo a publish/stage, per target and per volume:
        # [started, in flight]
        self.unpub = defaultdict(lambda: [0, 0])     # target
        self.unstage = defaultdict(lambda: [0, 0])   # volume ID
        self.delete = defaultdict(lambda: [0, 0])    # volume ID
        self.deleted = set()       # volume IDs a DeleteVolume answered OK for
        # the test's own accesses inside a volume (sampler, stats):
        # [in flight, generation]
        self.touch = defaultdict(lambda: [0, 0])
        self.samples = Counter()
        self.sample_problems = []
        self.deleted_while_staged = []
        self.no_resize_cap = not has_cap_sys_resource()
        self.block_off = 0
        self.trace = defaultdict(list)  # ID -> [(t, client, op, phase, code, path)]

    # volumes and paths ---------------------------------------------------

    def pick_volume(self, rnd):
        with self.lock:
            r = rnd.random()
            if r < 0.04 or not (self.current or self.seen):
                vid = "vol-%032x" % rnd.getrandbits(128)  # never existed
                self.slot_of.setdefault(vid, rnd.choice(list(SLOTS)))
                return vid
            if r < 0.14 and self.seen or not self.current:
                return rnd.choice(self.seen)
            return self.current[rnd.choice(list(self.current))]

    def paths_of(self, vid):
        with self.lock:
            p = self.paths.get(vid)
        if p is not None:
            return p
        block = SLOTS[self.slot_of[vid]][1]
        main = self.env.staging(vid, block)
        alt = main.parent / (vid + "-alt") if block else main.parent / "alt"
        alt.mkdir(parents=True, exist_ok=True)
        targets = [self.env.target(vid, block, pod=f"torture-p{k}")
                   for k in range(TARGETS_PER_VOLUME)]
        with self.lock:
            return self.paths.setdefault(vid, ([main, alt], targets))

    # requests ------------------------------------------------------------

    def request(self, op, rnd):
        """(volume ID, or the name for CreateVolume; the request message)."""
        m, c0 = self.m, self.clients[0]
        if op == "CreateVolume":
            name = rnd.choice(list(SLOTS))
            pool, block, fs, size = SLOTS[name]
            req = m.CreateVolumeRequest(name=name, parameters={"pool": pool},
                                        volume_capabilities=[c0.vcap(block, fs)])
            req.capacity_range.CopyFrom(m.CapacityRange(required_bytes=size))
            return name, req
        vid = self.pick_volume(rnd)
        pool, block, fs, size = SLOTS[self.slot_of[vid]]
        stagings, targets = self.paths_of(vid)
        staging = stagings[0] if rnd.random() < 0.85 else stagings[1]
        target = rnd.choice(targets)
        if op == "DeleteVolume":
            return vid, m.DeleteVolumeRequest(volume_id=vid)
        if op == "ControllerExpandVolume":
            return vid, m.ControllerExpandVolumeRequest(
                volume_id=vid, capacity_range=m.CapacityRange(
                    required_bytes=size + rnd.choice([0, 16, 32, 48]) * MIB))
        if op == "NodeStageVolume":
            flags = ["noatime"] if not block and rnd.random() < 0.08 else []
            return vid, m.NodeStageVolumeRequest(
                volume_id=vid, staging_target_path=str(staging),
                volume_capability=c0.vcap(block, fs if rnd.random() < 0.7 else "", flags))
        if op == "NodeUnstageVolume":
            return vid, m.NodeUnstageVolumeRequest(volume_id=vid,
                                                   staging_target_path=str(staging))
        if op == "NodePublishVolume":
            readonly = rnd.random() < 0.2
            return vid, m.NodePublishVolumeRequest(
                volume_id=vid, staging_target_path=str(stagings[0]), target_path=str(target),
                readonly=readonly, volume_capability=c0.vcap(block, fs))
        if op == "NodeUnpublishVolume":
            return vid, m.NodeUnpublishVolumeRequest(volume_id=vid, target_path=str(target))
        if op == "NodeExpandVolume":
            req = m.NodeExpandVolumeRequest(
                volume_id=vid, volume_path=str(rnd.choice([stagings[0], target])),
                volume_capability=c0.vcap(block, fs))
            if rnd.random() < 0.7:
                req.capacity_range.CopyFrom(m.CapacityRange(
                    required_bytes=size + rnd.choice([0, 16, 32, 48]) * MIB))
            return vid, req
        if op == "NodeGetVolumeStats":
            return vid, m.NodeGetVolumeStatsRequest(
                volume_id=vid, volume_path=str(rnd.choice([stagings[0], target])))
        raise ValueError(op)

    # bookkeeping around a call ------------------------------------------

    def before(self, op, key, req):
        """Marks what this call may undo; returns a snapshot, taken as the
        call starts, of what may interfere with it: (touch in flight, touch
        generation, deletes started, deletes in flight, unpublishes/unstages
        started, in flight) - of its volume, and of its target for a publish."""
        with self.lock:
            if op == "NodeUnpublishVolume":
                s = self.unpub[req.target_path]
                s[0] += 1
                s[1] += 1
            elif op == "NodeUnstageVolume":
                s = self.unstage[key]
                s[0] += 1
                s[1] += 1
            elif op == "DeleteVolume":
                s = self.delete[key]
                s[0] += 1
                s[1] += 1
            elif op == "NodeGetVolumeStats":
                self.touch[key][0] += 1
                self.touch[key][1] += 1
            if key not in self.slot_of:  # CreateVolume: a name
                return (0, 0, 0, 0, 0, 0)
            t, d = self.touch[key], self.delete[key]
            u = self.unpub[req.target_path] if op == "NodePublishVolume" else \
                self.unstage[key]
            return t[0], t[1], d[0], d[1], u[0], u[1]

    def after(self, op, key, req):
        with self.lock:
            if op == "NodeUnpublishVolume":
                self.unpub[req.target_path][1] -= 1
            elif op == "NodeUnstageVolume":
                self.unstage[key][1] -= 1
            elif op == "DeleteVolume":
                self.delete[key][1] -= 1
            elif op == "NodeGetVolumeStats":
                self.touch[key][0] -= 1
                self.touch[key][1] += 1

    def delete_overlapped(self, key, before):
        """Did a DeleteVolume of this volume run during the call?"""
        with self.lock:
            started, inflight = self.delete[key]
        return before[3] > 0 or inflight > 0 or started != before[2]

    def busy_allowed(self, key, at_start):
        """Was the test itself inside this volume during the call?"""
        with self.lock:
            inflight, gen = self.touch[key]
        return at_start[0] > 0 or inflight > 0 or gen != at_start[1]

    def record(self, op, code, details, req, key, at_start):
        ok = code in ALLOWED[op]
        why = None
        if not ok and op == "NodeUnstageVolume" and code == S.FAILED_PRECONDITION \
                and "still published" in details:
            ok = True
        if not ok and code == S.UNAVAILABLE and "busy" in details and \
                op in ("NodeUnpublishVolume", "NodeUnstageVolume") and \
                self.busy_allowed(key, at_start):
            ok, why = True, f"{op} UNAVAILABLE while the test was inside the volume"
        if not ok and op == "NodeExpandVolume" and code == S.INTERNAL and self.no_resize_cap \
                and SLOTS[self.slot_of[key]][2] == "ext4" and "resize2fs" in details \
                and "Permission denied" in details:
            ok, why = True, "NodeExpandVolume ext4: resize2fs without CAP_SYS_RESOURCE"
        with self.lock:
            self.codes[op][code.name] += 1
            if code != S.OK:
                self.messages[(op, code.name)][_shape(details)] += 1
            if why:
                self.tolerated[why] += 1
            if not ok:
                self.bad.append((op, code.name, details,
                                 text_format.MessageToString(req, as_one_line=True)))

    # one client ----------------------------------------------------------

    def worker(self, n, stop_at, seed):
        rnd = random.Random(seed * 1000 + n)
        c = self.clients[n % CHANNELS]
        while time.monotonic() < stop_at:
            op = rnd.choices(OPS, [WEIGHTS[o] for o in OPS])[0]
            try:
                key, req = self.request(op, rnd)
                resp_cls = getattr(self.m, op + "Response")
                method = ("/csi.v1.Node/" if op.startswith("Node") else
                          "/csi.v1.Controller/") + op
                at_start = self.before(op, key, req)
                path = getattr(req, "target_path", "") or \
                    getattr(req, "staging_target_path", "") or getattr(req, "volume_path", "")
                self.trace[key].append((time.monotonic(), n, op, "start", "", path))
                try:
                    fn = c.ch.unary_unary(method,
                                          request_serializer=lambda r: r.SerializeToString(),
                                          response_deserializer=resp_cls.FromString)
                    resp = fn(req, timeout=CALL_TIMEOUT)
                    code, details = S.OK, ""
                except grpc.RpcError as e:
                    resp, code, details = None, e.code(), e.details() or ""
                self.trace[key].append((time.monotonic(), n, op, "end", code.name, path))
                self.record(op, code, details, req, key, at_start)
                if code == S.OK:
                    self.on_ok(op, key, req, resp, rnd, at_start)
                self.after(op, key, req)
            except Exception as e:  # a bug in the test: fail, don't hang
                with self.lock:
                    self.bad.append((op, "test exception", repr(e), ""))
                raise

    def on_ok(self, op, key, req, resp, rnd, at_start):
        if op == "CreateVolume":
            vid = resp.volume.volume_id
            with self.lock:
                self.current[key] = vid
                if vid not in self.slot_of:
                    self.slot_of[vid] = key
                    self.seen.append(vid)
        elif op == "DeleteVolume":
            with self.lock:
                self.deleted.add(key)
                name = self.slot_of[key]
                if self.current.get(name) == key:
                    del self.current[name]
            self.check_not_staged(key)
        elif op == "NodePublishVolume" and rnd.random() < SAMPLE:
            self.sample(key, req.target_path, "publish", req.readonly, at_start)
        elif op == "NodeStageVolume" and rnd.random() < SAMPLE:
            self.sample(key, req.staging_target_path, "stage", False, at_start)

    def check_not_staged(self, vid):
        """A DeleteVolume answered OK: the volume must not be staged here.
        (Read after the call: a row seen now was there during the delete -
        stage needs the volume, which is gone - unless a stage that had
        looked the volume up before the delete went on after it.)"""
        rows = registry_rows(self.env.state_dir,
                             f"SELECT staging_path, state FROM node_stages "
                             f"WHERE volume_id = '{vid}' AND state = {STAGED}")
        if rows:
            with self.lock:
                self.deleted_while_staged.append((vid, self.slot_of[vid], rows))

    # the on-the-spot check of a publish or stage ---------------------------

    def sample(self, vid, path, what, readonly, at_start):
        """Checks a publish/stage that answered OK, if nothing that could undo
        it overlapped the call or the check: the driver may have run the call
        anywhere between its start and its answer, and answers can arrive out
        of order, so an unpublish/unstage/delete that ran at any time since
        the call started makes the check inconclusive."""
        with self.lock:
            undo = self.unpub[path] if what == "publish" else self.unstage[vid]
            dele = self.delete[vid]
            if at_start[3] or at_start[5] or undo[1] or dele[1] or vid in self.deleted:
                self.samples[what + " skipped"] += 1
                return
            mark = (at_start[4], at_start[2])
            self.touch[vid][0] += 1
            self.touch[vid][1] += 1
        try:
            problem = self.verify(vid, path, what, readonly)
        except OSError as e:
            problem = repr(e)
        finally:
            with self.lock:
                self.touch[vid][0] -= 1
                self.touch[vid][1] += 1
                intact = (undo[0], dele[0]) == mark and vid not in self.deleted
                verdict = "inconclusive" if not intact else "FAILED" if problem else "verified"
                self.samples[f"{what} {verdict}"] += 1
        if verdict == "FAILED":
            self.sample_problems.append(f"{what} of {vid} ({self.slot_of[vid]}) at {path}: "
                                        f"{problem}\n{self.history(vid)}")

    def history(self, vid):
        """The test's last calls on vid and the driver's log lines about it."""
        calls = "\n".join(f"    {t:.4f} client {n} {op} {phase} {code} {p}"
                          for t, n, op, phase, code, p in self.trace[vid][-40:])
        logs = "\n".join(line for line in self.env.driver.stderr().splitlines()
                         if vid in line)[-3000:]
        return f"  calls:\n{calls}\n  driver log:\n{logs}\n  loop devices: {loop_devices()}"

    @staticmethod
    def verify_readonly_device(path):
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError as e:
            if e.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                return f"read-only device: open O_RDWR gave {e!r}"
        else:
            try:
                os.pwrite(fd, b"\0" * 4096, 0)
                os.fsync(fd)
                return "a read-only raw block publish took a write"
            except OSError:
                pass
            finally:
                os.close(fd)
        fd = os.open(path, os.O_RDONLY)
        try:
            if len(os.pread(fd, 4096, 0)) != 4096:
                return "a read-only raw block publish cannot be read"
        finally:
            os.close(fd)
        return None

    def verify(self, vid, path, what, readonly):
        """None if path shows vid as it should, else what is wrong."""
        pool, block, fs, _ = SLOTS[self.slot_of[vid]]
        image = str(self.env.image(pool, vid))
        backing = self.env.backing(pool, vid)
        if what == "stage" and block:
            backs = [d for d, (_mm, b) in loop_devices().items() if _strip_deleted(b) == image]
            return None if len(backs) == 1 else f"{len(backs)} loop devices back {image}"
        ms = mounts_at(path)
        if len(ms) != 1:
            return f"{len(ms)} mounts at the path: {ms}"
        mnt = ms[0]
        if block:
            st = os.stat(path)
            if not stat.S_ISBLK(st.st_mode):
                return f"not a block device: mode {oct(st.st_mode)}"
            mm = f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
            loops = loop_devices()
            backs = [b for _d, (m2, b) in loops.items() if m2 == mm]
            if readonly and len(backs) == 1 and backs[0] in loops:
                # a read-only view: a read-only loop device on the staged one
                backs = [loops[backs[0]][1]]
            if [_strip_deleted(b) for b in backs] != [image]:
                return f"device {mm} is backed by {backs}, not {image}"
            if readonly:
                return self.verify_readonly_device(path)
            data = os.urandom(4096)
            with self.lock:  # each sample its own block: samplers run in parallel
                self.block_off = (self.block_off + 1) % (SLOTS[self.slot_of[vid]][3] // 4096)
                off = self.block_off * 4096
            fd = os.open(path, os.O_RDWR)
            try:
                os.pwrite(fd, data, off)
                os.fsync(fd)
                if os.pread(fd, 4096, off) != data:
                    return "read back other data"
            finally:
                os.close(fd)
            return None
        if ("ro" in mnt["opts"]) != readonly:
            return f"mount options {mnt['opts']}, read-only requested: {readonly}"
        if self.env.pools[pool][0] == "image":
            backs = [b for _d, (m2, b) in loop_devices().items() if m2 == mnt["majmin"]]
            if [_strip_deleted(b) for b in backs] != [image] or mnt["fstype"] != fs:
                return f"{mnt['fstype']} from {mnt['source']} backed by {backs}, not {fs} " \
                       f"on {image}"
        else:
            a, b = os.stat(path), os.stat(backing)
            if (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino):
                return f"not the volume's directory {backing}"
        probe = Path(path) / f".torture-{threading.get_ident()}"
        if readonly:
            try:
                fd = os.open(probe, os.O_WRONLY | os.O_CREAT, 0o644)
            except OSError as e:
                return None if e.errno == errno.EROFS else f"read-only: open gave {e!r}"
            os.close(fd)
            return "a read-only publish took a write"
        data = os.urandom(4096)
        try:
            with open(probe, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            with open(probe, "rb") as f:
                if f.read() != data:
                    return "read back other data"
        except OSError as e:
            return f"not writable: {e!r}"
        return None

    # the run -------------------------------------------------------------

    def run(self, seconds, clients, seed):
        stop_at = time.monotonic() + seconds
        threads = [threading.Thread(target=self.worker, args=(i, stop_at, seed), daemon=True)
                   for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=max(1.0, stop_at - time.monotonic()) + CALL_TIMEOUT + 30)
        return [t.name for t in threads if t.is_alive()]

    def summary(self):
        return {op: dict(v) for op, v in self.codes.items()}


def _shape(details):
    """A message with its IDs and paths blanked, to count kinds of answers."""
    s = re.sub(r"vol-[0-9a-f]{32}", "vol-*", details)
    s = re.sub(r"/dev/loop\d+", "/dev/loop*", s)
    return re.sub(r"/tmp/\S+", "/tmp/...", s)[:200]


# --------------------------------------------------------------------------
# what the registry says vs what is there


def node_state_problems(env, tt):
    """Registry node rows vs mount table and loop devices; returns problems."""
    problems = []
    stages = registry_rows(env.state_dir, "SELECT volume_id, staging_path, device, block, "
                                          "state FROM node_stages")
    pubs = registry_rows(env.state_dir, "SELECT volume_id, target_path, readonly "
                                        "FROM node_publishes")
    vols = {v: p for v, p in registry_rows(env.state_dir, "SELECT id, pool FROM volumes")}
    table = mount_table()
    loops = loop_devices()
    by_majmin = {mm: (d, b) for d, (mm, b) in loops.items()}
    stage_of = {}
    for vid, spath, dev, block, state in stages:
        stage_of[vid] = (spath, dev, block)
        slot = tt.slot_of.get(vid)
        if slot is None:
            problems.append(f"stage row of {vid}, a volume the test never made")
            continue
        pool, _b, fs, _ = SLOTS[slot]
        if state != STAGED:
            problems.append(f"stage row of {vid} left in state {state} (STAGING)")
        gone = vid not in vols
        if gone:
            problems.append(f"stage row of {vid} ({slot}), a deleted volume")
        if env.pools[pool][0] == "image":
            image = str(env.image(pool, vid))
            if not dev or _strip_deleted(loops.get(dev, ("", ""))[1]) != image:
                problems.append(f"stage row of {vid}: device {dev!r} is backed by "
                                f"{loops.get(dev)}, not {image}")
        if block:
            continue
        ms = mounts_at(spath, table)
        if len(ms) != 1:
            problems.append(f"stage row of {vid}: {len(ms)} mounts at {spath}")
            continue
        if env.pools[pool][0] == "image":
            if by_majmin.get(ms[0]["majmin"], ("",))[0] != dev:
                problems.append(f"stage of {vid}: {spath} mounts {ms[0]['source']}, not {dev}")
        elif not gone:
            backing = env.backing(pool, vid)
            try:
                a, b = os.stat(spath), os.stat(backing)
                if (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino):
                    problems.append(f"stage of {vid}: {spath} is not {backing}")
            except OSError as e:
                problems.append(f"stage of {vid}: {e!r}")
    for vid, target, ro in pubs:
        if vid not in stage_of:
            problems.append(f"publish row of {vid} at {target} without a stage row")
            continue
        spath, dev, block = stage_of[vid]
        ms = mounts_at(target, table)
        if len(ms) != 1:
            problems.append(f"publish row of {vid}: {len(ms)} mounts at {target}")
            continue
        try:
            a = os.stat(target)
            if block:
                mm = f"{os.major(a.st_rdev)}:{os.minor(a.st_rdev)}"
                got, back = by_majmin.get(mm, ("", ""))
                if ro:  # the read-only view: a loop device backed by dev
                    got = back if back in loops else ""
                if got != dev:
                    problems.append(f"publish of {vid} at {target} (readonly {ro}): device "
                                    f"{mm} ({by_majmin.get(mm)}), not {dev}")
            else:
                if ("ro" in ms[0]["opts"]) != bool(ro):
                    problems.append(f"publish of {vid} at {target}: options {ms[0]['opts']}, "
                                    f"readonly {ro}")
                b = os.stat(spath)
                if (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino):
                    problems.append(f"publish of {vid} at {target} is not its staging {spath}")
        except OSError as e:
            problems.append(f"publish of {vid} at {target}: {e!r}")
    recorded = {p for _v, p, _d, b, _s in stages if not b} | {t for _v, t, _r in pubs}
    for m in table:
        mp = m["mp"]
        if (mp.startswith(str(env.prefix) + "/") and mp not in recorded) or \
                mp.startswith(str(env.state_dir) + "/"):
            problems.append(f"mount at {mp} ({m['source']}) that no row records")
    devices = [d for _v, _p, d, _b, _s in stages if d]
    if len(devices) != len(set(devices)):
        problems.append(f"stage rows share loop devices: {sorted(devices)}")
    for name, root in env.roots.items():
        for dev, (_mm, back) in loops.items():
            if _strip_deleted(back).startswith(str(root) + "/") and dev not in devices:
                problems.append(f"loop device {dev} backed by {back} (pool {name}) that no "
                                f"stage row records")
    # read-only views (loop devices on a staged device): exactly one for a
    # staged raw block volume with a read-only publish, never two. (One may
    # outlive the read-only publishes while the volume has others: it goes
    # with the last publish or the unstage; the clean-up checks it went.)
    ro_block = {stage_of[v][1] for v, _t, ro in pubs
                if ro and v in stage_of and stage_of[v][2]}
    views = Counter(back for _dev, (_mm, back) in loops.items() if back in devices)
    for dev in set(devices):
        if views[dev] > 1 or (dev in ro_block and views[dev] != 1):
            problems.append(f"{views[dev]} read-only views on {dev}"
                            f"{' (read-only publishes)' if dev in ro_block else ''}")
    return problems


def pool_problems(env, c):
    """Registry volumes vs pool objects, on all four pools."""
    problems = check_invariants(RegistryView(env), c, "plain", {})
    # check_invariants knows img-xfs, btr and plain; the same for img-ext4
    reg = {v for (v,) in registry_rows(env.state_dir,
                                       "SELECT id FROM volumes WHERE pool = 'img-ext4'")}
    on, snaps, other = pool_objects("image", env.roots["img-ext4"])
    if on != reg or snaps or other:
        problems.append(f"pool img-ext4: objects {sorted(on)} (other: {other}), "
                        f"registry {sorted(reg)}")
    return problems


def call_until_ok(fn, *args, tries=40):
    """The CO's retry loop for the clean-up: ABORTED/UNAVAILABLE are retried."""
    for i in range(tries):
        try:
            return fn(*args)
        except grpc.RpcError as e:
            if e.code() not in (S.ABORTED, S.UNAVAILABLE) or i == tries - 1:
                raise AssertionError(f"{fn.__name__}{args}: {e.code()} {e.details()}")
            time.sleep(0.05)


def teardown_through_api(env, tt):
    """Unpublishes and unstages every path of every volume the test saw, then
    deletes every volume; returns the calls that did not end OK."""
    c = tt.clients[0]
    failures = []

    def one(vid):
        stagings, targets = tt.paths_of(vid)
        try:
            for t in targets:
                call_until_ok(c.unpublish, vid, t)
            for s in stagings:
                call_until_ok(c.unstage, vid, s)
        except AssertionError as e:
            failures.append(str(e))

    with ThreadPoolExecutor(8) as ex:
        list(ex.map(one, list(tt.paths)))
    for e in c.list_volumes():
        try:
            call_until_ok(c.delete_volume, e.volume.volume_id)
        except AssertionError as err:
            failures.append(str(err))
    return failures


# --------------------------------------------------------------------------


def test_node_torture(env, csi):
    tt = Torture(env, csi)
    seed = int(os.environ.get("TORTURE_SEED", random.randrange(1 << 30)))
    print(f"torture seed {seed} (TORTURE_SEED={seed} repeats the choices)")
    t0 = time.monotonic()
    hung = tt.run(SECONDS, CLIENTS, seed)
    elapsed = time.monotonic() - t0
    assert not hung, f"clients still inside calls {CALL_TIMEOUT + 30}s after the end: " \
                     f"{hung}\n" + env.driver.describe()
    assert env.driver.alive(), "the driver died: " + env.driver.describe()

    total = sum(sum(v.values()) for v in tt.codes.values())
    oks = sum(v.get("OK", 0) for v in tt.codes.values())
    print(f"node torture: {total} calls in {elapsed:.1f}s, {len(tt.seen)} volumes made")
    for op in OPS:
        print(f"  {op}: {dict(tt.codes[op])}")
    for (op, code), msgs in sorted(tt.messages.items()):
        for msg, n in msgs.most_common(4):
            print(f"    {op} {code} x{n}: {msg}")
    print(f"  samples: {dict(tt.samples)}")
    print(f"  tolerated: {dict(tt.tolerated)}")
    for p in tt.sample_problems[:10]:
        print(f"  sample problem: {p}")

    assert not tt.bad, "answers the spec does not allow under contention:\n" + "\n".join(
        f"  {op} -> {code}: {details}\n      request: {req}"
        for op, code, details, req in tt.bad[:25]) + f"\n(all codes: {tt.summary()})"
    assert not tt.deleted_while_staged, (
        "DeleteVolume answered OK for volumes staged on this node (volume, name, stage rows "
        f"right after the answer): {tt.deleted_while_staged[:5]}")
    assert total > 1000 and oks > 300, tt.summary()
    for op in ("NodeStageVolume", "NodePublishVolume", "NodeUnpublishVolume",
               "NodeUnstageVolume", "CreateVolume", "DeleteVolume"):
        assert tt.codes[op]["OK"] > 5, f"too few successful {op}: {tt.summary()}"
    assert not tt.sample_problems, "published/staged volumes that are not usable:\n" + \
        "\n".join(tt.sample_problems[:20])
    assert tt.samples["publish verified"] >= 10, tt.samples

    # the state it was left in: registry == mounts == loop devices == pools
    problems = node_state_problems(env, tt) + pool_problems(env, tt.clients[0])
    assert not problems, "after the torture:\n  " + "\n  ".join(problems)

    # everything comes down through the API; nothing is left
    failures = teardown_through_api(env, tt)
    assert not failures, "clean-up through the API failed:\n  " + "\n  ".join(failures)
    for table in ("node_publishes", "node_stages", "volumes", "snapshots", "operations"):
        rows = registry_rows(env.state_dir, f"SELECT * FROM {table}")
        assert not rows, f"{table} not empty after the clean-up: {rows}"
    left = env.leftovers()
    assert not left, f"left behind after the clean-up: {left}"
    assert not mounts_under(env.prefix) and not mounts_under(env.state_dir)
    for name, root in env.roots.items():
        assert not loops_backed_by(root), name
        vols, snaps, other = pool_objects(env.pools[name][0], root)
        assert not vols and not snaps and not other, (name, vols, snaps, other)
    assert env.driver.alive(), env.driver.describe()


class GdbMI:
    """gdb's machine interface, attached to a process in non-stop mode: one
    thread can be parked at a breakpoint while the others serve calls."""

    def __init__(self, pid):
        self.proc = subprocess.Popen(
            ["gdb", "-q", "-nx", "--interpreter=mi2", "-iex", "set debuginfod enabled off"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, bufsize=1)
        self.out = []
        self.attached = False
        threading.Thread(target=self._read, daemon=True).start()
        for c in ("-gdb-set mi-async on", "-gdb-set non-stop on",
                  "-gdb-set pagination off", f"-target-attach {pid}"):
            self.cmd(c)
        self.attached = True

    def _read(self):
        for line in self.proc.stdout:
            self.out.append(line)

    def cmd(self, command, timeout=30):
        """Sends command and waits for its result record; returns it."""
        n = len(self.out)
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        line = self.wait(lambda ln: ln.startswith(("^done", "^running", "^error")), timeout, n)
        if line is None or line.startswith("^error"):
            raise RuntimeError(f"gdb {command}: {line or 'no answer'}\n" + "".join(self.out[-15:]))
        return line

    def resume_all(self, timeout=10):
        """Resumes every thread. The attach stops them one by one, and a stop
        reported after an -exec-continue leaves that thread stopped: repeat
        until -thread-info shows none stopped."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.cmd("-exec-continue --all")
            time.sleep(0.05)
            if 'state="stopped"' not in self.cmd("-thread-info"):
                return
        raise RuntimeError("gdb: threads stay stopped:\n" + "".join(self.out[-15:]))

    def wait(self, pred, timeout, start=0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.out[start:]:
                if pred(line):
                    return line
            time.sleep(0.01)
        return None

    def close(self):
        try:
            if self.attached and self.proc.poll() is None:
                self.cmd("-break-delete", 10)
                self.cmd("-exec-continue --all", 10)
                self.cmd("-target-detach", 10)
        except (RuntimeError, OSError):
            pass
        finally:
            self.proc.kill()
            self.proc.wait(10)


@pytest.mark.parametrize("pool", [
    "img-ext4",
    "plain",
    "btr",
])
def test_stage_of_a_volume_deleted_under_it_is_not_found(env, csi, pool):
    """The torture's rarest wrong answer, made deterministic: a
    NodeStageVolume has looked its volume up and is parked (gdb, non-stop)
    where it takes the volume lock; a DeleteVolume runs to completion
    meanwhile; then the stage goes on. It must answer NOT_FOUND (the volume
    is gone) and leave nothing mounted or attached."""
    if shutil.which("gdb") is None:
        pytest.skip("needs gdb to park a call inside the driver")
    c = env.client(csi, timeout=CALL_TIMEOUT)
    fs = env.pools[pool][1]
    vid = c.create("pvc-gone", pool, 64 * MIB, fs).volume_id
    staging = env.staging(vid)
    gdb = GdbMI(env.driver.pid)
    try:
        try:
            gdb.cmd(f"-break-insert {PARK_AT}")
        except RuntimeError as e:
            pytest.skip(f"cannot break at {PARK_AT} (renamed?): {e}")
        gdb.resume_all()
        n = len(gdb.out)
        fut = c.node_future("NodeStageVolume", c.stage_request(vid, staging, fs_type=fs))
        hit = gdb.wait(lambda ln: ln.startswith("*stopped") and "breakpoint-hit" in ln, 10, n)
        assert hit, "the stage never reached " + PARK_AT + ":\n" + "".join(gdb.out[-15:])
        c.delete_volume(vid)  # the parked stage holds no lock yet
    finally:
        gdb.close()
    try:
        fut.result(timeout=30)
        code, details = S.OK, ""
    except grpc.RpcError as e:
        code, details = e.code(), e.details()
    left = env.leftovers()
    rows = registry_rows(env.state_dir, "SELECT volume_id, state FROM node_stages")
    if code == S.OK:
        call_until_ok(c.unstage, vid, staging)
    assert code == S.NOT_FOUND, (code.name, details, left, rows)
    assert not left and not rows, (left, rows)


def _one_mount_of(env, path, vid, pool):
    """None if path has exactly one mount and it is vid's, else what is there."""
    ms = mounts_at(path)
    if len(ms) != 1:
        return f"{len(ms)} mounts at {path}: {[(m['source'], m['root']) for m in ms]}"
    if env.pools[pool][0] == "image":
        backs = [b for _d, (mm, b) in loop_devices().items() if mm == ms[0]["majmin"]]
        if [_strip_deleted(b) for b in backs] != [str(env.image(pool, vid))]:
            return f"{path} mounts {ms[0]['source']} backed by {backs}, not {vid}"
        return None
    a, b = os.stat(path), os.stat(env.backing(pool, vid))
    if (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino):
        return f"{path} shows another directory than {vid}'s"
    return None


def test_a_staging_path_in_use_by_another_volume_is_refused(env, csi):
    c = env.client(csi)
    a = c.create("pvc-a", "plain", 64 * MIB).volume_id
    b = c.create("pvc-b", "plain", 64 * MIB).volume_id
    shared = env.staging("shared")
    c.stage(a, shared)
    (shared / "owner").write_text("a")
    code = S.OK
    try:
        c.stage(b, shared)
    except grpc.RpcError as e:
        code = e.code()
    problem = _one_mount_of(env, shared, a, "plain")
    t = env.target(a)
    published = False
    if problem is None:
        c.publish(a, shared, t)
        published = True
        if (t / "owner").read_text() != "a":
            problem = f"A's publish shows {os.listdir(t)}"
    try:
        assert code in (S.ALREADY_EXISTS, S.FAILED_PRECONDITION), \
            f"staging B where A is staged answered {code.name}; then: {problem}"
        assert problem is None, problem
    finally:
        if published:
            call_until_ok(c.unpublish, a, t)
        for vid in (b, a):
            try:
                call_until_ok(c.unstage, vid, shared)
            except AssertionError:
                pass  # the fixture unmounts what is left
    assert not env.leftovers(), env.leftovers()


SHARED_SECONDS = 4


def test_node_torture_shared_targets(env, csi):
    """Volumes that do not belong together fight over the same two target
    paths: at most one publish may win a path at a time (the others get
    ALREADY_EXISTS or ABORTED), a path never carries two mounts, and what
    a path shows is the volume its publish row names."""
    c0 = env.client(csi, timeout=CALL_TIMEOUT)
    clients = [env.client(csi, timeout=CALL_TIMEOUT) for _ in range(4)]
    vols = []
    for i, (pool, fs) in enumerate([("plain", ""), ("plain", ""), ("img-ext4", "ext4"),
                                    ("img-ext4", "ext4"), ("btr", "")]):
        vid = c0.create(f"pvc-shared-{i}", pool, 64 * MIB, fs).volume_id
        c0.stage(vid, env.staging(vid), fs_type=fs)
        vols.append((vid, pool, fs))
    targets = [env.prefix / "pods" / f"shared-{k}" / "volumes/kubernetes.io~csi/pvc/mount"
               for k in range(2)]
    for t in targets:
        t.parent.mkdir(parents=True, exist_ok=True)
    allowed = {"NodePublishVolume": {S.OK, S.ABORTED, S.ALREADY_EXISTS},
               # FAILED_PRECONDITION: the path holds another volume's mount
               "NodeUnpublishVolume": {S.OK, S.ABORTED, S.FAILED_PRECONDITION},
               "NodeGetVolumeStats": {S.OK, S.NOT_FOUND}}
    bad, stacked, codes = [], [], Counter()
    lock = threading.Lock()
    stop_at = time.monotonic() + SHARED_SECONDS

    def worker(n):
        rnd = random.Random(n)
        c = clients[n % len(clients)]
        while time.monotonic() < stop_at:
            vid, pool, fs = rnd.choice(vols)
            t = rnd.choice(targets)
            op = rnd.choice(["NodePublishVolume", "NodePublishVolume", "NodeUnpublishVolume",
                             "NodeGetVolumeStats"])
            try:
                if op == "NodePublishVolume":
                    c.publish(vid, env.staging(vid), t, fs_type=fs)
                elif op == "NodeUnpublishVolume":
                    c.unpublish(vid, t)
                else:
                    c.stats(vid, t)
                code, details = S.OK, ""
            except grpc.RpcError as e:
                code, details = e.code(), e.details()
            with lock:
                codes[(op, code.name)] += 1
                if code not in allowed[op]:
                    bad.append((op, vid, str(t), code.name, details))

    def watcher():
        while time.monotonic() < stop_at:
            table = mount_table()
            for t in targets:
                ms = mounts_at(t, table)
                if len(ms) > 1:
                    stacked.append((str(t), [(m["id"], m["parent"], m["majmin"], m["root"])
                                             for m in ms]))
            time.sleep(0.002)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    threads.append(threading.Thread(target=watcher))
    for t in threads:
        t.start()
    for t in threads:
        t.join(SHARED_SECONDS + CALL_TIMEOUT + 30)
    assert not any(t.is_alive() for t in threads), "clients hung"
    print(f"shared targets: {dict(codes)}; stacked seen {len(stacked)} times")

    # what is left: per target at most one mount, of the volume its row names
    end = []
    pubs = registry_rows(env.state_dir, "SELECT volume_id, target_path FROM node_publishes")
    for t in targets:
        rows = [v for v, tp in pubs if tp == str(t)]
        if len(rows) > 1:
            end.append(f"{t} has publish rows of {rows}")
        elif rows:
            pool = next(p for v, p, _f in vols if v == rows[0])
            problem = _one_mount_of(env, t, rows[0], pool)
            if problem:
                end.append(problem)
        elif mounts_at(t):
            end.append(f"{t} is mounted without a publish row")
    # clean-up through the API
    left = []
    for vid, _pool, _fs in vols:
        for t in targets:
            try:
                call_until_ok(c0.unpublish, vid, t)
            except AssertionError as e:
                if "did not make" not in str(e):  # another volume's
                    left.append(str(e))
    for vid, _pool, _fs in vols:
        try:
            call_until_ok(c0.unstage, vid, env.staging(vid))
            call_until_ok(c0.delete_volume, vid)
        except AssertionError as e:
            left.append(str(e))
    leftovers = env.leftovers()

    assert not stacked, f"two mounts on one target path, seen {len(stacked)} times: " \
                        f"{stacked[:3]}"
    assert not end, end
    assert not bad, f"answers not allowed: {bad[:10]}"
    assert not left, left
    assert not leftovers, leftovers


def test_a_raw_block_volume_never_hands_out_a_reused_loop_device(env, csi, tmp_path):
    """What the torture saw once on 403205a, made deterministic: the loop
    device of a staged and published raw block volume is detached from
    outside (there: a test suite running at the same time on this host)
    and its number given to another file. A repeated NodeStageVolume must
    then attach the volume again (or fail), a new publish must show the
    volume's own data, and the unstage must leave the other file's device
    alone. (403205a answered OK to both and bound the other file's device
    into the pod; NodeUnstageVolume detached it; fixed by e84b53e.)"""
    c = env.client(csi, timeout=CALL_TIMEOUT)
    vid = c.create("pvc-blk", "img-ext4", 32 * MIB, "", True).volume_id
    image = env.image("img-ext4", vid)
    with open(image, "r+b") as f:
        f.write(b"OUR-VOLUME".ljust(4096, b"."))
    other = tmp_path / "other.img"
    with open(other, "wb") as f:
        f.write(b"OTHER-FILE".ljust(4096, b"."))
        f.truncate(32 * MIB)
    staging = env.staging(vid, block=True)
    t1, t2 = env.target(vid, block=True), env.target(vid, block=True)
    c.stage(vid, staging, block=True)
    c.publish(vid, staging, t1, block=True)
    devs = [d for d, (_mm, b) in loop_devices().items() if _strip_deleted(b) == str(image)]
    assert len(devs) == 1, devs
    dev = devs[0]
    try:
        run(["losetup", "-d", dev])                  # someone else detaches it ...
        run(["losetup", dev, str(other)])            # ... and the number is reused
        code, details = S.OK, ""
        try:
            c.stage(vid, staging, block=True)        # the kubelet's periodic repeat
            c.publish(vid, staging, t2, block=True)  # a second pod
        except grpc.RpcError as e:
            code, details = e.code(), e.details()
        seen = None
        if code == S.OK:
            with open(t2, "rb") as f:
                seen = f.read(10)
        for t in (t1, t2):
            call_until_ok(c.unpublish, vid, t)
        call_until_ok(c.unstage, vid, staging)
        back = loop_devices().get(dev, ("", ""))[1]
        assert code != S.OK or seen == b"OUR-VOLUME", \
            f"the second pod got {seen!r} through {dev}, which now backs {other} " \
            f"({code.name} {details})"
        assert back == str(other), \
            f"NodeUnstageVolume detached {dev}, the other file's device (now: {back!r})"
    finally:
        if loop_devices().get(dev, ("", ""))[1] == str(other):
            detach_loop(dev)
    call_until_ok(c.delete_volume, vid)
    assert not env.leftovers(), env.leftovers()

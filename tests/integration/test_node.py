"""The CSI Node service on real loop devices, file systems and mounts.

Pools (nodefs.NODE_POOLS): `img-ext4` (image backend on the host's /tmp,
volumes formatted ext4), `img-xfs` (image backend on a loop-mounted xfs,
volumes formatted xfs), `btr` (btrfs backend on a loop-mounted btrfs) and
`plain` (dir backend on /tmp). The driver runs with --path-prefix set to a
fresh /tmp/dvk-XXXX that plays the kubelet directory; the tests make the
staging directories and the targets' parents, as the kubelet does.

After every teardown nothing may be left: no mount under the prefix or the
state dir, no loop device backed by a pool's file.

Crashes: every node.* crash point (DYNVOL_CRASHPOINT) is reached from each
pool, followed by the kubelet's retry or its opposite call; SIGKILLs at
timed offsets inside a first stage; and two windows no crash point covers,
placed from outside by holding dynvol's flock on /dev/loop-control (parks a
stage before its loop attach) and the registry's write lock (parks it before
its next registry write).

Where dynvol is wrong the test is marked xfail(strict=True, reason="dynvol
bug: ...").

Needs root and loop devices (skipped otherwise, with the reason).
"""

import errno
import hashlib
import mmap
import os
import re
import time
from pathlib import Path

import grpc
import pytest

from conftest import rpc_code, wait_for
from nodefs import (GIB, MIB, LoopControlLock, NodeEnv, RegistryWriteLock, blkid_type,
                    child_try_write, child_write, findmnt_json, losetup_j, mount_count,
                    stage_row, usage_bytes)
from poolfs import (detach_loop, loop_fs_fixture, loops_backed_by, mounted_image, mounts_under, require_root_and_loop, run,
                    sha256_file)

xfs_fs = loop_fs_fixture("xfs", 3 * GIB)
btrfs_fs = loop_fs_fixture("btrfs", GIB)

OK = grpc.StatusCode.OK
INVALID = grpc.StatusCode.INVALID_ARGUMENT
ALREADY = grpc.StatusCode.ALREADY_EXISTS
PRECOND = grpc.StatusCode.FAILED_PRECONDITION
DATA_LOSS = grpc.StatusCode.DATA_LOSS

# volume sizes: xfs needs 300 MiB at least
SIZE = {"ext4": 64 * MIB, "xfs": 300 * MIB, "": 64 * MIB}


@pytest.fixture(autouse=True)
def _root():
    require_root_and_loop()


@pytest.fixture
def env(driver_factory, xfs_fs, btrfs_fs, tmp_path):
    e = NodeEnv(driver_factory, xfs_fs, btrfs_fs, tmp_path, max_volumes=17)
    try:
        e.start()
        yield e
    finally:
        e.close()


@pytest.fixture
def c(env, csi):
    return env.client(csi)


def code_of(fn, *a, **kw):
    return rpc_code(fn, *a, **kw)[:2]


def assert_ok(fn, *a, **kw):
    code, details, res = rpc_code(fn, *a, **kw)
    assert code == OK, f"{fn.__name__}: {code} {details}"
    return res


def assert_clean(env):
    left = env.leftovers()
    assert not left, f"left behind after teardown: {left}"


class Vol:
    """A volume and where it is staged/published, for one test."""

    def __init__(self, env, c, pool, name="pvc-1", size=None, block=False, fs_type=None):
        self.env, self.c, self.pool, self.block = env, c, pool, block
        backend, default_fs = env.pools[pool]
        self.fs = "" if block else (default_fs if fs_type is None else fs_type)
        size = size or SIZE[self.fs]
        self.v = c.create(name, pool, size, self.fs, block)
        self.id = self.v.volume_id
        self.node_id = c.info().node_id
        c.controller_publish(self.id, self.node_id, block=block, fs_type=self.fs)
        self.staging = env.staging(self.id, block)
        self.targets = []

    def new_target(self):
        t = self.env.target(self.id, self.block)
        self.targets.append(t)
        return t

    def stage(self, **kw):
        return self.c.stage(self.id, self.staging, block=self.block, fs_type=self.fs, **kw)

    def publish(self, target, **kw):
        return self.c.publish(self.id, self.staging, target, block=self.block, fs_type=self.fs,
                              **kw)

    def teardown(self, delete=True):
        for t in self.targets:
            assert_ok(self.c.unpublish, self.id, t)
        assert_ok(self.c.unstage, self.id, self.staging)
        assert_ok(self.c.controller_unpublish, self.id, self.node_id)
        if delete:
            assert_ok(self.c.delete_volume, self.id)


# --------------------------------------------------------------------------
# lifecycle


LIFECYCLE = [("img-ext4", "ext4"), ("img-xfs", "xfs"), ("btr", ""), ("plain", "")]


@pytest.mark.parametrize("pool,fs", LIFECYCLE, ids=[p for p, _ in LIFECYCLE])
def test_full_lifecycle(env, c, pool, fs):
    vol = Vol(env, c, pool)
    assert vol.fs == fs
    assert_ok(vol.stage)
    t1 = vol.new_target()
    assert_ok(vol.publish, t1)
    if env.pools[pool][0] == "image":
        m = findmnt_json(vol.staging)
        assert m and m[1] == fs, f"staging mount: {m}"
        assert len(losetup_j(env.image(pool, vol.id))) == 1
    assert findmnt_json(t1), f"{t1} is not mounted"
    digest = child_write(t1 / "data.bin", 8 * MIB)
    os.makedirs(t1 / "sub")
    child_write(t1 / "sub" / "small", 4096)

    assert_ok(c.unpublish, vol.id, t1)
    assert not t1.exists(), "target left behind after unpublish"
    assert_ok(c.unstage, vol.id, vol.staging)
    assert findmnt_json(vol.staging) is None
    if env.pools[pool][0] == "image":
        assert not losetup_j(env.image(pool, vol.id)), "unstage left the loop device"
    vol.targets.clear()

    assert_ok(vol.stage)
    t2 = vol.new_target()
    assert_ok(vol.publish, t2)
    assert sha256_file(t2 / "data.bin") == digest
    assert (t2 / "sub" / "small").stat().st_size == 4096

    vol.teardown()
    assert_clean(env)
    assert not env.backing(pool, vol.id).exists()


# --------------------------------------------------------------------------
# idempotency and incompatible repeats


@pytest.mark.parametrize("pool", ["img-ext4", "plain"])
def test_every_node_call_is_idempotent(env, c, pool):
    vol = Vol(env, c, pool)
    assert_ok(c.controller_publish, vol.id, vol.node_id, fs_type=vol.fs)
    t = vol.new_target()
    for _ in range(3):
        assert_ok(vol.stage)
    for _ in range(3):
        assert_ok(vol.publish, t)
    assert mount_count(vol.staging) == 1
    assert mount_count(t) == 1
    if env.pools[pool][0] == "image":
        assert len(losetup_j(env.image(pool, vol.id))) == 1
    for _ in range(2):
        s = assert_ok(c.stats, vol.id, t)
        assert not s.volume_condition.abnormal, s
    for _ in range(3):
        assert_ok(c.unpublish, vol.id, t)
    assert mount_count(t) == 0 and not t.exists()
    for _ in range(3):
        assert_ok(c.unstage, vol.id, vol.staging)
    assert mount_count(vol.staging) == 0
    code, details = code_of(c.stats, vol.id, vol.staging)
    assert code == grpc.StatusCode.NOT_FOUND, (code, details)
    for _ in range(2):
        assert_ok(c.controller_unpublish, vol.id, vol.node_id)
    assert_ok(c.delete_volume, vol.id)
    assert_clean(env)


def test_incompatible_second_stage_is_already_exists(env, c):
    vol = Vol(env, c, "img-ext4")
    assert_ok(vol.stage)
    other = env.staging(vol.id + "-other")
    code, details = code_of(c.stage, vol.id, other, fs_type="ext4")
    assert code == ALREADY, (code, details)
    assert mount_count(other) == 0
    code, details = code_of(vol.stage, flags=["noatime"])
    assert code == ALREADY, (code, details)
    code, details = code_of(vol.stage, flags=["ro"])
    assert code == ALREADY, (code, details)
    # the original stage is untouched
    assert mount_count(vol.staging) == 1
    assert len(losetup_j(env.image("img-ext4", vol.id))) == 1
    assert_ok(vol.stage)
    # publish the same target once rw, then ro: ALREADY_EXISTS, spec 4.3
    t = vol.new_target()
    assert_ok(vol.publish, t)
    code, details = code_of(vol.publish, t, readonly=True)
    assert code == ALREADY, (code, details)
    assert mount_count(t) == 1
    # unstage while published is refused (the kubelet unpublishes first)
    code, details = code_of(c.unstage, vol.id, vol.staging)
    assert code == PRECOND, (code, details)
    assert mount_count(vol.staging) == 1
    os.rmdir(other)
    vol.teardown()
    assert_clean(env)


@pytest.mark.parametrize("pool", ["img-ext4", "plain"])
def test_publish_before_stage_is_failed_precondition(env, c, pool):
    vol = Vol(env, c, pool)
    t = env.target(vol.id)
    code, details = code_of(vol.publish, t)
    assert code == PRECOND, (code, details)
    assert not t.exists(), "a refused publish created its target"
    # and again after a stage/unstage round
    assert_ok(vol.stage)
    assert_ok(c.unstage, vol.id, vol.staging)
    code, details = code_of(vol.publish, t)
    assert code == PRECOND, (code, details)
    assert not t.exists()
    assert_ok(c.controller_unpublish, vol.id, vol.node_id)
    assert_ok(c.delete_volume, vol.id)
    assert_clean(env)


def test_stage_mount_flags_are_applied(env, c):
    vol = Vol(env, c, "img-xfs")
    assert_ok(vol.stage, flags=["noatime", "nodiratime"])
    opts = findmnt_json(vol.staging)[2]
    assert "noatime" in opts and "nosuid" in opts and "nodev" in opts, opts
    assert_ok(vol.stage, flags=["noatime", "nodiratime"])  # same flags: idempotent
    t = vol.new_target()
    assert_ok(vol.publish, t)
    assert "noatime" in findmnt_json(t)[2]
    # flags that would widen access are refused
    assert_ok(c.unpublish, vol.id, t)
    vol.targets.clear()
    assert_ok(c.unstage, vol.id, vol.staging)
    for bad in (["suid"], ["dev"], ["defaults"], ["bind"], ["rshared"], ["noatime,suid"]):
        code, details = code_of(vol.stage, flags=bad)
        assert code == INVALID, (bad, code, details)
        assert mount_count(vol.staging) == 0
        assert not losetup_j(env.image("img-xfs", vol.id))
    # a read-only stage is healthy, not "read-only because of errors"
    assert_ok(vol.stage, flags=["ro"])
    assert "ro" in findmnt_json(vol.staging)[2]
    s = assert_ok(c.stats, vol.id, vol.staging)
    assert not s.volume_condition.abnormal, s.volume_condition.message
    vol.teardown()
    assert_clean(env)


# --------------------------------------------------------------------------
# read-only, block, multi-writer


@pytest.mark.parametrize("pool", ["img-ext4", "img-xfs", "btr", "plain"])
def test_readonly_publish_refuses_writes(env, c, pool):
    vol = Vol(env, c, pool)
    assert_ok(vol.stage)
    rw = vol.new_target()
    assert_ok(vol.publish, rw)
    digest = child_write(rw / "before", 64 * 1024)
    ro = vol.new_target()
    assert_ok(vol.publish, ro, readonly=True)
    rc, err = child_try_write(ro / "new")
    assert rc != 0 and err.startswith("EROFS"), (rc, err)
    with pytest.raises(OSError) as ei:
        with open(ro / "before", "r+b") as f:
            f.write(b"x")
    assert ei.value.errno == errno.EROFS
    assert "ro" in findmnt_json(ro)[2]
    assert sha256_file(ro / "before") == digest
    # the rw publish is still writable: ro applies to its own bind only
    child_write(rw / "after", 4096)
    s = assert_ok(c.stats, vol.id, ro)
    assert not s.volume_condition.abnormal, s.volume_condition.message
    vol.teardown()
    assert_clean(env)


def test_block_raw_io_two_targets(env, c):
    vol = Vol(env, c, "img-ext4", block=True, size=32 * MIB)
    assert_ok(vol.stage)
    t1, t2 = vol.new_target(), vol.new_target()
    assert_ok(vol.publish, t1)
    assert_ok(vol.publish, t2)
    assert t1.is_file() or t1.is_block_device()
    image = env.image("img-ext4", vol.id)
    devs = losetup_j(image)
    assert len(devs) == 1, devs
    assert os.stat(t1).st_rdev == os.stat(devs[0]).st_rdev
    patterns = {off: os.urandom(4096) for off in (0, 4096 * 7, 16 * MIB, 32 * MIB - 4096)}
    fd = os.open(t1, os.O_RDWR)
    try:
        for off, data in patterns.items():
            assert os.pwrite(fd, data, off) == len(data)
        os.fsync(fd)
        assert os.lseek(fd, 0, os.SEEK_END) == 32 * MIB
    finally:
        os.close(fd)
    fd = os.open(t2, os.O_RDONLY | os.O_DIRECT)
    try:
        buf = mmap.mmap(-1, 4096)
        for off, data in patterns.items():
            assert os.preadv(fd, [buf], off) == 4096
            assert bytes(buf) == data, f"offset {off}: the second target reads other data"
    finally:
        os.close(fd)
    # and it is in the image file itself
    with open(image, "rb") as f:
        f.seek(16 * MIB)
        assert f.read(4096) == patterns[16 * MIB]
    vol.teardown()
    assert_clean(env)


def assert_block_read_only(target):
    """Writes through the device node at target fail."""
    try:
        fd = os.open(target, os.O_RDWR)
    except OSError as e:
        assert e.errno in (errno.EROFS, errno.EACCES, errno.EPERM), e
        return
    try:
        with pytest.raises(OSError):
            os.pwrite(fd, b"\0" * 4096, 8192)
            os.fsync(fd)
    finally:
        os.close(fd)


@pytest.mark.parametrize("pool", ["img-ext4", "plain"])
def test_publish_refuses_a_foreign_mount_on_the_staging_path(env, c, pool):
    """The row says staged, but what is mounted at the staging path now is
    not the volume (it went, and something else took the path): publishing
    would hand the pod that other file system."""
    vol = Vol(env, c, pool)
    assert_ok(vol.stage)
    run(["umount", str(vol.staging)])
    run(["mount", "-t", "tmpfs", "-o", "size=1m", "dvt-foreign", str(vol.staging)])
    try:
        t = vol.new_target()
        code, details = code_of(vol.publish, t)
        assert code == PRECOND, ("published a foreign mount", code, details)
        assert mount_count(t) == 0
    finally:
        run(["umount", str(vol.staging)])
    assert_ok(vol.stage)
    assert_ok(vol.publish, t)
    assert findmnt_json(t)[1] != "tmpfs"
    child_write(t / "ok", 4096)
    vol.teardown()
    assert_clean(env)


def test_block_restage_after_reboot_never_takes_a_reused_loop_device(env, c, tmp_path):
    """After a reboot the recorded /dev/loopN may be bound to another file.
    A repeated NodeStageVolume must attach the volume's own image again,
    and NodePublishVolume must never bind the foreign device: the pod
    would write into someone else's data."""
    vol = Vol(env, c, "img-ext4", block=True, size=32 * MIB)
    put = _put_block_data(env, vol)
    assert_ok(vol.stage)
    (dev,) = losetup_j(env.image("img-ext4", vol.id))
    # "reboot": the device goes, and the same number comes back for another file
    run(["losetup", "-d", dev])
    foreign = tmp_path / "foreign.img"
    foreign.write_bytes(b"\xee" * (32 * MIB))
    run(["losetup", dev, str(foreign)])
    try:
        t = vol.new_target()
        code, details = code_of(vol.publish, t)
        assert code == PRECOND, ("published over a foreign device", code, details)
        assert mount_count(t) == 0
        assert_ok(vol.stage)  # the kubelet stages again after a reboot
        devs = losetup_j(env.image("img-ext4", vol.id))
        assert len(devs) == 1 and devs[0] != dev, devs
        assert_ok(vol.publish, t)
        off, data = put
        with open(t, "rb") as f:
            f.seek(off)
            assert f.read(len(data)) == data, "the target is not the volume"
        assert foreign.read_bytes()[:4096] == b"\xee" * 4096
        vol.teardown()
    finally:
        detach_loop(dev)
    assert_clean(env)


def test_block_readonly_publish_refuses_writes(env, c):
    vol = Vol(env, c, "img-ext4", block=True, size=32 * MIB)
    assert_ok(vol.stage)
    rw, ro = vol.new_target(), vol.new_target()
    assert_ok(vol.publish, rw)
    assert_ok(vol.publish, ro, readonly=True)
    pattern = os.urandom(4096)
    fd = os.open(rw, os.O_RDWR)
    try:
        os.pwrite(fd, pattern, 8192)
        os.fsync(fd)
    finally:
        os.close(fd)
    fd = os.open(ro, os.O_RDONLY)
    try:
        assert os.pread(fd, 4096, 8192) == pattern
    finally:
        os.close(fd)
    assert_block_read_only(ro)
    # a second read-only target shares the view; the read-write one stays
    # writable, and its writes are seen through the view at once
    ro2 = vol.new_target()
    assert_ok(vol.publish, ro2, readonly=True)
    assert_block_read_only(ro2)
    assert os.stat(ro2).st_rdev == os.stat(ro).st_rdev != os.stat(rw).st_rdev
    pattern2 = os.urandom(4096)
    fd = os.open(rw, os.O_RDWR | os.O_DIRECT)
    try:
        buf = mmap.mmap(-1, 4096)
        buf.write(pattern2)
        assert os.pwritev(fd, [buf], 16384) == 4096
    finally:
        os.close(fd)
    fd = os.open(ro2, os.O_RDONLY | os.O_DIRECT)
    try:
        buf = mmap.mmap(-1, 4096)
        assert os.preadv(fd, [buf], 16384) == 4096
        assert bytes(buf) == pattern2, "the read-only view reads stale data"
    finally:
        os.close(fd)
    # the view goes with the volume's last publish, not before
    image = env.image(vol.pool, vol.id)
    assert_ok(c.unpublish, vol.id, ro)
    assert_ok(c.unpublish, vol.id, ro2)
    assert len(loops_backed_by(image)) == 2, "the view went while the volume was published"
    assert_ok(c.unpublish, vol.id, rw)
    assert len(loops_backed_by(image)) == 1, "the read-only view outlived the last publish"
    vol.targets = []
    vol.teardown()
    assert_clean(env)


@pytest.mark.parametrize("pool", ["img-ext4", "btr", "plain"])
def test_delete_of_a_staged_volume_is_refused(env, c, pool):
    """A CO that skipped (or already undid) ControllerPublish must still not
    delete a volume a pod is using: FAILED_PRECONDITION, and the data stays."""
    vol = Vol(env, c, pool)
    assert_ok(vol.stage)
    t = vol.new_target()
    assert_ok(vol.publish, t)
    digest = child_write(t / "data", MIB)
    assert_ok(c.controller_unpublish, vol.id, vol.node_id)
    code, details = code_of(c.delete_volume, vol.id)
    assert code == PRECOND, (code, details)
    assert "staged" in details, details
    assert sha256_file(t / "data") == digest
    assert_ok(c.unpublish, vol.id, t)
    code, details = code_of(c.delete_volume, vol.id)
    assert code == PRECOND, ("still staged", code, details)
    assert_ok(c.unstage, vol.id, vol.staging)
    assert_ok(c.delete_volume, vol.id)
    assert_clean(env)


def _with_options(env, pool, options):
    """Rewrites the config with options for one pool; returns the old text."""
    old = env.config.read_text()
    root = f"    root: {env.roots[pool]}\n"
    assert root in old
    env.config.write_text(old.replace(root, root + f"    options: {options}\n"))
    return old


def test_image_pool_direct_io_option(env, csi):
    """directIO: "false" attaches an image pool's loop devices with buffered
    I/O (re-reads served from the host's page cache, the data cached twice);
    the default is direct I/O. An unknown option stops the driver with a
    message that names it, instead of being ignored."""
    env.driver.close_channels()
    env.driver.stop()
    _with_options(env, "img-ext4", '{directIO: "false"}')
    env.start()
    c = env.client(csi)
    buffered, direct = Vol(env, c, "img-ext4", "pvc-buf"), Vol(env, c, "img-xfs", "pvc-dio")
    for vol, want in ((buffered, "0"), (direct, "1")):
        assert_ok(vol.stage)
        t = vol.new_target()
        assert_ok(vol.publish, t)
        (dev,) = losetup_j(env.image(vol.pool, vol.id))
        dio = Path(f"/sys/block/{os.path.basename(dev)}/loop/dio").read_text().strip()
        assert dio == want, (vol.pool, dev, dio)
        digest = child_write(t / "data", 2 * MIB)
        assert sha256_file(t / "data") == digest
        vol.teardown()
    assert_clean(env)

    env.driver.close_channels()
    env.driver.stop()
    good = env.config.read_text()
    env.config.write_text(good.replace('{directIO: "false"}', '{directIo: "false"}'))
    try:
        drv = env.start(wait=False)
        assert drv.wait_exit(10) not in (None, 0), "started with an unknown pool option"
        assert "unknown option 'directIo'" in drv.stderr(), drv.stderr()[-2000:]
        env.config.write_text(good.replace('"false"', '"maybe"'))
        drv = env.start(wait=False)
        assert drv.wait_exit(10) not in (None, 0), "started with directIO: maybe"
        assert "directIO must be true or false" in drv.stderr(), drv.stderr()[-2000:]
    finally:
        env.config.write_text(good)
        env.start()


@pytest.mark.parametrize("pool", ["img-xfs", "btr"])
def test_multi_writer_publishes_share_data(env, c, pool):
    mode = "SINGLE_NODE_MULTI_WRITER"
    backend, fs = env.pools[pool]
    v = c.create("pvc-mw", pool, SIZE[fs], fs)
    vid = v.volume_id
    node = c.info().node_id
    assert_ok(c.controller_publish, vid, node, fs_type=fs, mode=mode)
    staging = env.staging(vid)
    assert_ok(c.stage, vid, staging, fs_type=fs, mode=mode)
    t1, t2 = env.target(vid), env.target(vid)
    assert_ok(c.publish, vid, staging, t1, fs_type=fs, mode=mode)
    assert_ok(c.publish, vid, staging, t2, fs_type=fs, mode=mode)
    digest = child_write(t1 / "shared", 2 * MIB)
    assert sha256_file(t2 / "shared") == digest
    child_write(t2 / "back", 4096)
    assert (t1 / "back").stat().st_size == 4096
    for t in (t1, t2):
        assert_ok(c.unpublish, vid, t)
    assert_ok(c.unstage, vid, staging)
    assert_ok(c.controller_unpublish, vid, node)
    assert_ok(c.delete_volume, vid)
    assert_clean(env)


# --------------------------------------------------------------------------
# expansion


def _statvfs_total(path):
    st = os.statvfs(path)
    return st.f_blocks * st.f_frsize


@pytest.mark.parametrize("pool,fs", [("img-xfs", "xfs"), ("img-ext4", "ext4")])
def test_online_expansion_while_mounted(env, c, pool, fs):
    size0, size1 = (300 * MIB, 400 * MIB) if fs == "xfs" else (64 * MIB, 128 * MIB)
    vol = Vol(env, c, pool, size=size0)
    assert_ok(vol.stage)
    t = vol.new_target()
    assert_ok(vol.publish, t)
    digest = child_write(t / "keep", 4 * MIB)
    before = _statvfs_total(t)
    free_before = os.statvfs(t).f_bavail * os.statvfs(t).f_frsize
    assert before < size0
    r = c.expand(vol.id, size1)
    assert r.capacity_bytes == size1 and r.node_expansion_required
    code, details, resp = rpc_code(c.node_expand, vol.id, t, required=size1)
    if code != OK and fs == "ext4" and "Permission denied" in details:
        why = [ln for ln in details.splitlines() if "Permission denied" in ln][0].strip()
        vol.teardown()
        assert_clean(env)
        pytest.skip("online ext4 resize needs CAP_SYS_RESOURCE, which this container lacks "
                    f"(NodeExpandVolume: {why})")
    assert code == OK, (code, details)
    assert resp.capacity_bytes == size1
    after = _statvfs_total(t)
    assert after > before + (size1 - size0) * 0.9, (before, after)
    df = run(["df", "-B1", "--output=size", str(t)]).stdout.split()[-1]
    assert int(df) == after
    assert sha256_file(t / "keep") == digest
    # the space is usable: write past the old size
    child_write(t / "big", free_before + 16 * MIB)
    # a repeat is harmless
    resp = assert_ok(c.node_expand, vol.id, t, required=size1)
    assert resp.capacity_bytes == size1
    vol.teardown()
    assert_clean(env)


def test_block_expansion_reports_new_size(env, c):
    vol = Vol(env, c, "img-ext4", block=True, size=32 * MIB)
    assert_ok(vol.stage)
    t, ro = vol.new_target(), vol.new_target()
    assert_ok(vol.publish, t)
    assert_ok(vol.publish, ro, readonly=True)
    assert_ok(c.expand, vol.id, 48 * MIB)
    resp = assert_ok(c.node_expand, vol.id, t, required=48 * MIB, block=True)
    assert resp.capacity_bytes == 48 * MIB
    size = int(run(["blockdev", "--getsize64", losetup_j(env.image("img-ext4", vol.id))[0]])
               .stdout)
    assert size == 48 * MIB
    # the read-only target (a view of the device) grew with it
    assert int(run(["blockdev", "--getsize64", str(ro)]).stdout) == 48 * MIB
    s = assert_ok(c.stats, vol.id, t)
    assert usage_bytes(s).total == 48 * MIB
    vol.teardown()
    assert_clean(env)


# --------------------------------------------------------------------------
# stats and volume condition


@pytest.mark.parametrize("pool", ["img-ext4", "img-xfs", "btr"])
def test_stats_used_bytes_grow(env, c, pool):
    vol = Vol(env, c, pool, size=SIZE[env.pools[pool][1]])
    assert_ok(vol.stage)
    t = vol.new_target()
    assert_ok(vol.publish, t)
    s0 = assert_ok(c.stats, vol.id, t)
    u0 = usage_bytes(s0)
    assert u0 is not None and u0.total > 0, s0
    assert not s0.volume_condition.abnormal
    child_write(t / "fill", 24 * MIB)
    run(["sync", "-f", str(t)])

    def grown():
        u = usage_bytes(assert_ok(c.stats, vol.id, t))
        return u if u.used >= u0.used + 20 * MIB else None
    if env.pools[pool][0] == "btrfs":
        run(["btrfs", "quota", "rescan", "-w", str(env.roots[pool])], check=False)
    u1 = wait_for(grown, 10, 0.2)
    assert u1, (u0, usage_bytes(assert_ok(c.stats, vol.id, t)))
    assert u1.available <= u0.available - 20 * MIB
    # the staging path answers too
    assert usage_bytes(assert_ok(c.stats, vol.id, vol.staging)).used >= u1.used - MIB
    vol.teardown()
    assert_clean(env)


def test_condition_abnormal_when_image_removed(env, c):
    vol = Vol(env, c, "img-ext4")
    assert_ok(vol.stage)
    t = vol.new_target()
    assert_ok(vol.publish, t)
    child_write(t / "x", MIB)
    s = assert_ok(c.stats, vol.id, t)
    assert not s.volume_condition.abnormal
    image = env.image("img-ext4", vol.id)
    os.unlink(image)
    # the loop device holds the inode: the mount still works
    child_write(t / "y", MIB)
    s = assert_ok(c.stats, vol.id, t)
    assert s.volume_condition.abnormal, s
    assert s.volume_condition.message and s.volume_condition.message != "healthy", s
    s = assert_ok(c.stats, vol.id, vol.staging)
    assert s.volume_condition.abnormal
    # teardown still works and leaves nothing (the deleted image's loop
    # device included)
    for tt in vol.targets:
        assert_ok(c.unpublish, vol.id, tt)
    assert_ok(c.unstage, vol.id, vol.staging)
    assert_ok(c.controller_unpublish, vol.id, vol.node_id)
    code, details = code_of(c.delete_volume, vol.id)
    assert code == OK, (code, details)
    assert_clean(env)


# --------------------------------------------------------------------------
# never reformat


def _sha_range(path, start, length):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        f.seek(start)
        left = length
        while left > 0:
            b = f.read(min(MIB, left))
            if not b:
                break
            h.update(b)
            left -= len(b)
    return h.hexdigest()


def _assert_stage_failed_cleanly(env, vol):
    assert mount_count(vol.staging) == 0, "a refused stage left a mount"
    assert not losetup_j(env.image(vol.pool, vol.id)), "a refused stage left a loop device"


def test_foreign_filesystem_is_never_formatted(env, c):
    # ext4 requested, but before the first stage somebody put xfs on it
    vol = Vol(env, c, "img-ext4", size=300 * MIB)
    image = env.image("img-ext4", vol.id)
    run(["mkfs.xfs", "-q", "-f", str(image)])
    assert blkid_type(image) == "xfs"
    head = _sha_range(image, 0, 4 * MIB)
    code, details = code_of(vol.stage)
    assert code == PRECOND, (code, details)
    assert "xfs" in details, details
    assert blkid_type(image) == "xfs", "the xfs superblock is gone"
    assert _sha_range(image, 0, 4 * MIB) == head, "the refused stage wrote to the image"
    _assert_stage_failed_cleanly(env, vol)
    # a repeat refuses again (no "second try formats" path)
    code, details = code_of(vol.stage)
    assert code == PRECOND, (code, details)
    assert blkid_type(image) == "xfs"
    assert _sha_range(image, 0, 4 * MIB) == head
    _assert_stage_failed_cleanly(env, vol)
    assert_ok(c.controller_unpublish, vol.id, vol.node_id)
    assert_ok(c.delete_volume, vol.id)
    assert_clean(env)


def test_partition_table_is_never_formatted(env, c):
    vol = Vol(env, c, "img-ext4")
    image = env.image("img-ext4", vol.id)
    # a DOS partition table: one Linux partition from sector 2048
    mbr = bytearray(512)
    entry = bytes([0x00, 0, 0, 0, 0x83, 0, 0, 0]) + (2048).to_bytes(4, "little") + \
        (16384).to_bytes(4, "little")
    mbr[446:462] = entry
    mbr[440:444] = b"\x12\x34\x56\x78"
    mbr[510:512] = b"\x55\xaa"
    with open(image, "r+b") as f:
        f.write(mbr)
    pt = run(["blkid", "-p", "-o", "value", "-s", "PTTYPE", str(image)], check=False).stdout
    assert pt.strip() == "dos", pt
    head = _sha_range(image, 0, 4 * MIB)
    code, details = code_of(vol.stage)
    assert code == PRECOND, (code, details)
    assert _sha_range(image, 0, 4 * MIB) == head
    _assert_stage_failed_cleanly(env, vol)
    assert_ok(c.controller_unpublish, vol.id, vol.node_id)
    assert_ok(c.delete_volume, vol.id)
    assert_clean(env)


def test_filesystem_made_outside_dynvol_is_mounted_not_formatted(env, c):
    vol = Vol(env, c, "img-ext4")
    image = env.image("img-ext4", vol.id)
    run(["mkfs.ext4", "-q", "-F", str(image)])
    with mounted_image(image) as mnt:
        (mnt / "made-outside").write_bytes(b"keep me")
    assert_ok(vol.stage)
    t = vol.new_target()
    assert_ok(vol.publish, t)
    assert (t / "made-outside").read_bytes() == b"keep me"
    vol.teardown()
    assert_clean(env)


@pytest.mark.parametrize("pool", ["img-ext4", "img-xfs"])
def test_wiped_superblock_is_data_loss_not_a_format(env, c, pool):
    vol = Vol(env, c, pool)
    assert_ok(vol.stage)
    t = vol.new_target()
    assert_ok(vol.publish, t)
    child_write(t / "data", 8 * MIB)
    vol.teardown(delete=False)
    vol.targets.clear()
    image = env.image(pool, vol.id)
    fs = env.pools[pool][1]
    assert blkid_type(image) == fs
    run(["dd", "if=/dev/zero", f"of={image}", "bs=1M", "count=1", "conv=notrunc,fsync"])
    assert blkid_type(image) == ""
    size = image.stat().st_size
    tail = _sha_range(image, MIB, size - MIB)
    assert_ok(c.controller_publish, vol.id, vol.node_id, fs_type=vol.fs)
    for _ in range(2):
        code, details = code_of(vol.stage)
        assert code == DATA_LOSS, (code, details)
        assert blkid_type(image) == "", "the driver formatted a volume that held data"
        assert _sha_range(image, 0, MIB) == _sha_range("/dev/zero", 0, MIB)
        assert _sha_range(image, MIB, size - MIB) == tail, "the refused stage wrote to the image"
        _assert_stage_failed_cleanly(env, vol)
    assert_ok(c.controller_unpublish, vol.id, vol.node_id)
    assert_ok(c.delete_volume, vol.id)
    assert_clean(env)


# --------------------------------------------------------------------------
# hostile paths


def _hostile_paths(env, leaf):
    """(label, path) pairs a driver must refuse: outside the prefix, through
    a symlink, with '..' or '.', relative, a look-alike prefix."""
    pods = env.prefix / "pods"
    pods.mkdir(exist_ok=True)
    link_dir = pods / "evil-dir"
    if not link_dir.is_symlink():
        link_dir.symlink_to(env.outside)
    link_leaf = pods / "evil-leaf"
    link_leaf.mkdir(exist_ok=True)
    if not (link_leaf / leaf).is_symlink():
        (link_leaf / leaf).symlink_to(env.outside / f"{leaf}-via-link")
    lookalike = f"{env.prefix}-evil/{leaf}"
    return [
        ("outside", str(env.outside / leaf)),
        ("symlinked parent", str(link_dir / leaf)),
        ("symlinked leaf", str(link_leaf / leaf)),
        ("dotdot", f"{env.prefix}/pods/../../{env.outside.name}/{leaf}"),
        ("dotdot inside", f"{env.prefix}/pods/../pods/{leaf}"),
        ("dot", f"{env.prefix}/pods/./{leaf}"),
        ("relative", f"pods/{leaf}"),
        ("relative dot", f"./pods/{leaf}"),
        ("double slash", f"{env.prefix}//pods/{leaf}"),
        ("lookalike prefix", lookalike),
        ("the prefix itself", str(env.prefix)),
    ]


def _outside_untouched(env):
    assert os.listdir(env.outside) == [], f"{env.outside} got {os.listdir(env.outside)}"
    assert not mount_count(env.outside)
    assert not os.path.exists(f"{env.prefix}-evil"), "look-alike prefix dir created"


def test_hostile_publish_targets_are_refused(env, c):
    vol = Vol(env, c, "img-ext4")
    assert_ok(vol.stage)
    mounts_before = run(["findmnt", "-rn", "-o", "TARGET"]).stdout
    for label, path in _hostile_paths(env, "mount"):
        code, details = code_of(c.publish, vol.id, vol.staging, path, fs_type="ext4")
        assert code == INVALID, f"{label} ({path}): {code} {details}"
        code, details = code_of(c.publish, vol.id, vol.staging, path, fs_type="ext4",
                                readonly=True)
        assert code == INVALID, f"{label} ({path}) ro: {code} {details}"
        _outside_untouched(env)
    assert run(["findmnt", "-rn", "-o", "TARGET"]).stdout == mounts_before
    # NodeUnpublish through the same paths touches nothing either: an
    # existing directory outside stays
    keep = env.outside / "mount"
    keep.mkdir()
    for label, path in _hostile_paths(env, "mount"):
        code, details = code_of(c.unpublish, vol.id, path)
        assert code == INVALID, f"unpublish {label} ({path}): {code} {details}"
        assert keep.is_dir(), f"unpublish {label} removed {keep}"
    keep.rmdir()
    # block: a symlinked file target
    assert_ok(c.unstage, vol.id, vol.staging)
    assert_ok(c.controller_unpublish, vol.id, vol.node_id)
    assert_ok(c.delete_volume, vol.id)
    assert_clean(env)


def test_hostile_block_publish_targets_are_refused(env, c):
    vol = Vol(env, c, "img-ext4", block=True, size=16 * MIB)
    assert_ok(vol.stage)
    for label, path in _hostile_paths(env, "dev"):
        code, details = code_of(c.publish, vol.id, vol.staging, path, block=True)
        assert code == INVALID, f"{label} ({path}): {code} {details}"
        _outside_untouched(env)
    assert not mounts_under_any(env)
    assert_ok(c.unstage, vol.id, vol.staging)
    assert_ok(c.controller_unpublish, vol.id, vol.node_id)
    assert_ok(c.delete_volume, vol.id)
    assert_clean(env)


@pytest.mark.parametrize("whose", ["known volume", "unknown volume"])
def test_unpublish_never_unmounts_what_dynvol_did_not_mount(env, c, whose):
    vol = Vol(env, c, "plain")
    assert_ok(vol.stage)
    t = env.target(vol.id)
    t.mkdir()
    run(["mount", "-t", "tmpfs", "-o", "size=1m", "foreign", str(t)])
    (t / "precious").write_text("another driver's data")
    vid = vol.id if whose == "known volume" else "vol-" + "ab" * 16
    code, details = code_of(c.unpublish, vid, t)
    try:
        assert mount_count(t) == 1, f"NodeUnpublish ({code}) unmounted a foreign tmpfs at {t}"
        assert (t / "precious").read_text() == "another driver's data"
    finally:
        while mount_count(t):
            run(["umount", str(t)])
    vol.teardown()
    assert_clean(env)


def test_hostile_staging_paths_are_refused(env, c):
    vol = Vol(env, c, "img-ext4")
    image = env.image("img-ext4", vol.id)
    for label, path in _hostile_paths(env, "globalmount"):
        code, details = code_of(c.stage, vol.id, path, fs_type="ext4")
        assert code == INVALID, f"{label} ({path}): {code} {details}"
        assert not losetup_j(image), f"{label}: a loop device was attached"
        assert blkid_type(image) == "", f"{label}: the image was formatted"
        _outside_untouched(env)
        code, details = code_of(c.unstage, vol.id, path)
        assert code == INVALID, f"unstage {label} ({path}): {code} {details}"
    assert not mounts_under_any(env)
    # the refused paths left nothing in the registry: a proper stage works
    assert_ok(vol.stage)
    vol.teardown()
    assert_clean(env)


def mounts_under_any(env):
    return mounts_under(env.prefix) + mounts_under(env.outside)


# --------------------------------------------------------------------------
# kill -9


def _restart(env, **kw):
    env.kill()
    return env.start(**kw)


def _assert_single(env, vol, targets=()):
    if env.pools[vol.pool][0] == "image":
        devs = losetup_j(env.image(vol.pool, vol.id))
        assert len(devs) <= 1, f"duplicate loop devices for one image: {devs}"
    assert mount_count(vol.staging) <= 1, "stacked mounts on the staging path"
    for t in targets:
        assert mount_count(t) <= 1, f"stacked mounts on {t}"


@pytest.mark.parametrize("pool", ["img-ext4", "img-xfs"])
def test_kill9_during_stage_and_publish_then_after(env, csi, pool):
    c = env.client(csi)
    vol = Vol(env, c, pool)
    # 1. SIGKILL while NodeStageVolume is in flight (held by the test delay)
    env.driver.close_channels()
    env.driver.stop()
    env.start(delay="NodeStageVolume:500")
    c = vol.c = env.client(csi)
    fut = c.node_future("NodeStageVolume", c.stage_request(vol.id, vol.staging, fs_type=vol.fs))
    time.sleep(0.2)
    env.kill()
    with pytest.raises(grpc.RpcError):
        fut.result(timeout=10)
    env.start(delay="NodePublishVolume:500")
    c = vol.c = env.client(csi)
    _assert_single(env, vol)
    assert_ok(vol.stage)
    _assert_single(env, vol)
    assert mount_count(vol.staging) == 1
    # 2. SIGKILL while NodePublishVolume is in flight
    t = vol.new_target()
    fut = c.node_future("NodePublishVolume",
                        c.publish_request(vol.id, vol.staging, t, fs_type=vol.fs))
    time.sleep(0.2)
    env.kill()
    with pytest.raises(grpc.RpcError):
        fut.result(timeout=10)
    env.start()
    c = vol.c = env.client(csi)
    assert_ok(vol.stage)
    assert_ok(vol.publish, t)
    _assert_single(env, vol, [t])
    assert mount_count(t) == 1
    digest = child_write(t / "data", 4 * MIB)
    # 3. SIGKILL after both completed, before any unpublish/unstage
    env.kill()
    env.start()
    c = vol.c = env.client(csi)
    assert_ok(vol.stage)
    assert_ok(vol.publish, t)
    _assert_single(env, vol, [t])
    assert mount_count(t) == 1 and mount_count(vol.staging) == 1
    if env.pools[pool][0] == "image":
        assert len(losetup_j(env.image(pool, vol.id))) == 1
    assert sha256_file(t / "data") == digest
    vol.teardown()
    assert_clean(env)


# Kill offsets (seconds after the call is sent): a first stage takes ~10 ms
# (ext4, 64 MiB) to ~40 ms (xfs, 300 MiB) here: attach, blkid, mkfs, mount.
KILL_OFFSETS = [0.0, 0.002, 0.004, 0.006, 0.008, 0.012, 0.016, 0.024, 0.035, 0.05]


@pytest.mark.parametrize("pool", ["img-ext4", "img-xfs"])
def test_kill9_mid_first_stage_then_retry_converges(env, csi, pool):
    """SIGKILL at a range of points inside a first stage (attach, probe,
    mkfs, mount, registry updates), restart, retry the stage: it converges
    on one loop device and one mount of the requested file system.

    Which step a given offset hits varies from run to run; every outcome
    must converge. (The same kills followed by an unstage instead of a retry
    are made deterministic in test_kill9_between_loop_attach_and_its_record.)"""
    c = env.client(csi)
    for i, off in enumerate(KILL_OFFSETS):
        vol = Vol(env, c, pool, name=f"pvc-k{i}")
        fut = c.node_future("NodeStageVolume",
                            c.stage_request(vol.id, vol.staging, fs_type=vol.fs))
        time.sleep(off)
        env.kill()
        try:
            fut.result(timeout=10)
        except grpc.RpcError:
            pass
        env.start()
        c = vol.c = env.client(csi)
        _assert_single(env, vol)
        image = env.image(pool, vol.id)
        code, details = code_of(vol.stage)
        assert code == OK, f"kill at +{off * 1000:.0f} ms: retry: {code} {details}"
        _assert_single(env, vol)
        assert len(losetup_j(image)) == 1 and mount_count(vol.staging) == 1
        assert findmnt_json(vol.staging)[1] == vol.fs
        t = vol.new_target()
        assert_ok(vol.publish, t)
        child_write(t / "x", 4096)
        vol.teardown()
        assert_clean(env)


def _park_stage_after_attach(env, c, vol):
    """Sends a first NodeStageVolume and SIGKILLs the driver after it attached
    the loop device and before it recorded which device that is. Returns the
    device the dead driver attached."""
    image = env.image(vol.pool, vol.id)
    loop_lock = LoopControlLock()
    reg_lock = None
    try:
        fut = c.node_future("NodeStageVolume",
                            c.stage_request(vol.id, vol.staging, fs_type=vol.fs))
        # the intent is recorded, then the attach waits for loop-control
        assert wait_for(lambda: stage_row(env.state_dir, vol.id), 10), \
            "the stage never recorded its intent"
        time.sleep(0.05)
        assert not losetup_j(image)
        reg_lock = RegistryWriteLock(env.state_dir)
        loop_lock.release()
        # the attach goes through; recording the device waits for the registry
        devs = wait_for(lambda: losetup_j(image), 10)
        assert devs, "the stage never attached the image"
        time.sleep(0.1)
        env.kill()
    finally:
        loop_lock.release()
        if reg_lock:
            reg_lock.release()
    try:
        fut.result(timeout=10)
    except grpc.RpcError:
        pass
    row = stage_row(env.state_dir, vol.id)
    assert row is not None and row["device"] == "", row  # the window we aimed at
    return devs[0]


def test_kill9_before_the_loop_attach_then_unstage(env, csi):
    """Killed while waiting for loop-control (intent recorded, nothing
    attached): an unstage finds nothing to undo."""
    c = env.client(csi)
    vol = Vol(env, c, "img-ext4")
    loop_lock = LoopControlLock()
    try:
        fut = c.node_future("NodeStageVolume",
                            c.stage_request(vol.id, vol.staging, fs_type=vol.fs))
        assert wait_for(lambda: stage_row(env.state_dir, vol.id), 10)
        time.sleep(0.05)
        env.kill()
    finally:
        loop_lock.release()
    try:
        fut.result(timeout=10)
    except grpc.RpcError:
        pass
    env.start()
    c = vol.c = env.client(csi)
    assert_ok(c.unstage, vol.id, vol.staging)
    assert not losetup_j(env.image("img-ext4", vol.id))
    assert stage_row(env.state_dir, vol.id) is None
    # and a stage afterwards works from scratch
    assert_ok(vol.stage)
    vol.teardown()
    assert_clean(env)


def test_kill9_between_loop_attach_and_its_record_then_retry(env, csi):
    c = env.client(csi)
    vol = Vol(env, c, "img-ext4")
    dev = _park_stage_after_attach(env, c, vol)
    env.start()
    c = vol.c = env.client(csi)
    assert_ok(vol.stage)
    assert losetup_j(env.image("img-ext4", vol.id)) == [dev], "the retry did not reuse the device"
    assert mount_count(vol.staging) == 1
    vol.teardown()
    assert_clean(env)


def test_kill9_between_loop_attach_and_its_record_then_unstage(env, csi):
    c = env.client(csi)
    vol = Vol(env, c, "img-ext4")
    image = env.image("img-ext4", vol.id)
    dev = _park_stage_after_attach(env, c, vol)
    env.start()
    c = vol.c = env.client(csi)
    assert_ok(c.unstage, vol.id, vol.staging)
    assert mount_count(vol.staging) == 0
    left = losetup_j(image)
    assert not left, f"NodeUnstage after the crash left {left} (attached as {dev}) on {image}"
    assert_ok(c.controller_unpublish, vol.id, vol.node_id)
    assert_ok(c.delete_volume, vol.id)
    assert_clean(env)


def test_kill9_inside_a_readonly_publish_leaves_it_read_only(env, csi):
    c = env.client(csi)
    vol = Vol(env, c, "img-ext4")
    assert_ok(vol.stage)
    t = vol.new_target()
    assert_ok(vol.publish, t, readonly=True)
    env.kill()
    # The state a SIGKILL between the bind and its read-only remount leaves:
    # the publish row (readonly) is committed, the bind is read-write.
    run(["mount", "-o", "remount,bind,rw,nosuid,nodev", str(t)])
    assert "rw" in findmnt_json(t)[2]
    env.start()
    c = vol.c = env.client(csi)
    assert_ok(vol.stage)
    assert_ok(vol.publish, t, readonly=True)  # the kubelet's retry
    assert mount_count(t) == 1
    rc, err = child_try_write(t / "new")
    assert rc != 0 and err.startswith("EROFS"), \
        f"read-only publish is writable after the retry: {findmnt_json(t)}"
    vol.teardown()
    assert_clean(env)


def test_concurrent_calls_on_a_staging_volume_are_aborted(env, csi):
    """A stage parked before its loop attach holds the volume: a second
    stage, a publish, an unstage, an expansion and a delete of the same
    volume get ABORTED at once (DESIGN: concurrent operations on one
    volume); another volume is not held up."""
    c = env.client(csi)
    vol = Vol(env, c, "img-ext4")
    other = Vol(env, c, "plain", name="pvc-other")
    aborted = grpc.StatusCode.ABORTED
    lock = LoopControlLock()
    try:
        fut = c.node_future("NodeStageVolume",
                            c.stage_request(vol.id, vol.staging, fs_type=vol.fs))
        assert wait_for(lambda: stage_row(env.state_dir, vol.id), 10)
        t0 = time.monotonic()
        for what, fn, args in (
                ("stage", vol.stage, ()),
                ("publish", vol.publish, (env.target(vol.id),)),
                ("unstage", c.unstage, (vol.id, vol.staging)),
                ("node expand", c.node_expand, (vol.id, vol.staging, 128 * MIB)),
                ("delete", c.delete_volume, (vol.id,))):
            code, details = code_of(fn, *args)
            assert code == aborted, f"{what} during a stage: {code} {details}"
        assert time.monotonic() - t0 < 5, "the refusals waited for the stage"
        assert_ok(other.stage)  # other volumes go on
    finally:
        lock.release()
    fut.result(timeout=30)
    assert mount_count(vol.staging) == 1
    assert len(losetup_j(env.image("img-ext4", vol.id))) == 1
    assert env.image("img-ext4", vol.id).exists()
    other.teardown()
    vol.teardown()
    assert_clean(env)


# --------------------------------------------------------------------------
# crash points (DYNVOL_CRASHPOINT: the driver SIGKILLs itself there)


SRC = Path(__file__).resolve().parents[2] / "src"
CRASHPOINT_RE = re.compile(r'dv_crashpoint\("([^"]*)"\)')

ALL_TARGETS = ["img-ext4", "img-xfs", "btr", "plain", "block"]
# node crash point -> (the call that reaches it, where: a pool, or "block"
# for a Block volume on the image pool)
NODE_POINTS = {
    "node.stage.after_attach": ("stage", ["img-ext4", "img-xfs", "block"]),
    "node.stage.after_format": ("stage", ["img-ext4", "img-xfs"]),
    "node.stage.after_mount": ("stage", ALL_TARGETS),
    "node.publish.after_record": ("publish", ALL_TARGETS),
    # a read-only Block publish: its read-only loop device is attached
    "node.publish.after_view": ("publish", ["block"]),
    "node.unstage.after_umount": ("unstage", ALL_TARGETS),
}
# what the kubelet does after the failed call: the same call again, or the
# opposite one (it gave up: the pod went away, or it changed its mind)
THEN = {"stage": ("retry", "unstage"), "publish": ("retry", "unpublish"),
        "unstage": ("retry", "stage")}

CRASH_SCENARIOS = [(point, where, state, then)
                   for point, (op, wheres) in NODE_POINTS.items()
                   for where in wheres
                   for state in (("fresh", "used") if op == "stage" else ("used",))
                   for then in THEN[op]]


def test_every_node_crash_point_is_covered():
    found = set()
    for path in sorted(SRC.rglob("*.[ch]")):
        found |= {n for n in CRASHPOINT_RE.findall(path.read_text(errors="replace"))
                  if n.startswith("node.")}
    assert found, f"no node.* crash points under {SRC}"
    missing = sorted(found - set(NODE_POINTS))
    assert not missing, f"node crash points no test reaches (add them to NODE_POINTS): {missing}"
    stale = sorted(set(NODE_POINTS) - found)
    assert not stale, f"NODE_POINTS names crash points the sources no longer have: {stale}"


def _crash_in(env, csi, point, fn):
    """Restarts the driver armed at point, makes the call with fn(client),
    checks the driver died there, and restarts it unarmed; returns the new client."""
    env.driver.close_channels()
    env.driver.stop()
    drv = env.start(env={"DYNVOL_CRASHPOINT": point})
    c = env.client(csi)
    code, details = code_of(fn, c)
    rc = drv.wait_exit(10)
    assert rc is not None, f"the driver armed at {point} is still running ({code} {details})"
    assert f"crash point reached: {point}" in drv.stderr(), \
        f"the call did not reach {point}: {code} {details}\n{drv.stderr()[-2000:]}"
    drv.close_channels()
    env.start()
    return env.client(csi)


def _put_block_data(env, vol):
    """Random data in the middle of a block volume's image; returns (offset, data)."""
    data = os.urandom(64 * 1024)
    with open(env.image(vol.pool, vol.id), "r+b") as f:
        f.seek(4 * MIB)
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return 4 * MIB, data


def _block_data_intact(env, vol, put):
    off, data = put
    with open(env.image(vol.pool, vol.id), "rb") as f:
        f.seek(off)
        return f.read(len(data)) == data


@pytest.mark.parametrize("point,where,state,then", CRASH_SCENARIOS,
                         ids=["-".join(x) for x in CRASH_SCENARIOS])
def test_node_crash_point(env, csi, point, where, state, then):
    op = NODE_POINTS[point][0]
    ro = point == "node.publish.after_view"  # the publishes are read-only
    c = env.client(csi)
    block = where == "block"
    pool = "img-ext4" if block else where
    vol = Vol(env, c, pool, block=block, size=32 * MIB if block else None)
    image_backed = env.pools[pool][0] == "image"
    data = None
    # "used": formatted, written, unstaged - as a volume is between two pods
    if state == "used":
        if block:
            data = _put_block_data(env, vol)
        else:
            assert_ok(vol.stage)
            t0 = env.target(vol.id)
            assert_ok(vol.publish, t0)
            data = child_write(t0 / "data", 2 * MIB)
            assert_ok(c.unpublish, vol.id, t0)
            assert_ok(c.unstage, vol.id, vol.staging)
    t = env.target(vol.id, block)
    if op in ("publish", "unstage"):
        assert_ok(vol.stage)
    if op == "unstage":
        assert_ok(vol.publish, t)
        assert_ok(c.unpublish, vol.id, t)

    if op == "stage":
        c = _crash_in(env, csi, point, lambda cc: cc.stage(vol.id, vol.staging, block=block,
                                                          fs_type=vol.fs))
    elif op == "publish":
        c = _crash_in(env, csi, point, lambda cc: cc.publish(vol.id, vol.staging, t,
                                                            block=block, fs_type=vol.fs,
                                                            readonly=ro))
    else:
        c = _crash_in(env, csi, point, lambda cc: cc.unstage(vol.id, vol.staging))
    vol.c = c
    _assert_single(env, vol, [t])

    def check_data(target):
        if data is None:
            return
        if block:
            assert _block_data_intact(env, vol, data), "block volume data changed"
        else:
            assert sha256_file(target / "data") == data, "data lost"

    staged_after = (op == "stage" and then == "retry") or op == "publish" or \
        (op == "unstage" and then == "stage")
    if op == "stage" and then == "retry" or op == "unstage" and then == "stage":
        assert_ok(vol.stage)
    elif op == "stage" and then == "unstage" or op == "unstage" and then == "retry":
        assert_ok(c.unstage, vol.id, vol.staging)
    if staged_after:
        if image_backed:
            assert len(losetup_j(env.image(pool, vol.id))) == 1
        if not block:
            assert mount_count(vol.staging) == 1
            if image_backed:
                assert findmnt_json(vol.staging)[1] == vol.fs
        if op == "publish" and then == "unpublish":
            assert_ok(c.unpublish, vol.id, t)
            assert mount_count(t) == 0
        assert_ok(vol.publish, t, readonly=ro)
        vol.targets.append(t)
        assert mount_count(t) == 1
        check_data(t)
        if ro:
            assert_block_read_only(t)
        if not block:
            child_write(t / "after-crash", 4096)
        _assert_single(env, vol, [t])
        vol.teardown()
    else:
        assert mount_count(vol.staging) == 0
        if image_backed:
            left = losetup_j(env.image(pool, vol.id))
            assert not left, f"loop device {left} left after the unstage"
        assert stage_row(env.state_dir, vol.id) is None
        if block:
            check_data(None)
        assert_ok(c.controller_unpublish, vol.id, vol.node_id)
        assert_ok(c.delete_volume, vol.id)
    assert_clean(env)


@pytest.mark.parametrize("pool", ["img-ext4", "plain"])
def test_publish_after_a_crash_in_unstage_never_binds_the_bare_staging_dir(env, csi, pool):
    """Killed in NodeUnstageVolume after the unmount: the row still says
    staged. A NodePublishVolume now must not bind the (empty, host) staging
    directory onto the target - the pod would write to the host's disk
    instead of its volume. Either a refusal or the volume's real content."""
    c = env.client(csi)
    vol = Vol(env, c, pool)
    assert_ok(vol.stage)
    t0 = env.target(vol.id)
    assert_ok(vol.publish, t0)
    digest = child_write(t0 / "data", MIB)
    assert_ok(c.unpublish, vol.id, t0)
    c = vol.c = _crash_in(env, csi, "node.unstage.after_umount",
                          lambda cc: cc.unstage(vol.id, vol.staging))
    assert mount_count(vol.staging) == 0
    t = env.target(vol.id)
    code, details = code_of(vol.publish, t)
    if code == OK:
        vol.targets.append(t)
        assert (t / "data").exists() and sha256_file(t / "data") == digest, (
            f"NodePublishVolume answered OK but {t} shows {os.listdir(t)} - "
            f"{findmnt_json(t)}: not the volume")
    else:
        assert code == PRECOND, (code, details)
        assert mount_count(t) == 0
    assert_ok(vol.stage)
    vol.teardown()
    assert_clean(env)


EPH_POINTS = [("node.stage.after_attach", "img-ext4"), ("node.stage.after_format", "img-ext4"),
              ("node.stage.after_mount", "img-ext4"), ("node.stage.after_mount", "btr"),
              ("node.publish.after_record", "img-ext4"), ("node.publish.after_record", "plain"),
              ("store.create.after_intent", "img-ext4"), ("store.create.after_pool", "img-ext4")]


@pytest.mark.parametrize("point,pool", EPH_POINTS, ids=[f"{p}-{q}" for p, q in EPH_POINTS])
@pytest.mark.parametrize("then", ["retry", "unpublish"])
def test_ephemeral_crash_point(env, csi, point, pool, then):
    handle = "csi-" + os.urandom(16).hex()
    t = env.target(handle)
    ctx = dict(EPH_CTX, size="32Mi", pool=pool)
    c = _crash_in(env, csi, point, lambda cc: cc.publish(handle, None, t, context=ctx))
    assert mount_count(t) <= 1
    if then == "retry":
        assert_ok(c.publish, handle, None, t, context=ctx)
        assert mount_count(t) == 1
        child_write(t / "f", MIB)
        vols = c.list_volumes()
        assert len(vols) == 1, vols
    assert_ok(c.unpublish, handle, t)
    assert mount_count(t) == 0
    assert c.list_volumes() == [], "the ephemeral volume outlived its pod"
    vols_dir = env.roots[pool] / "volumes"
    assert not [n for n in os.listdir(vols_dir) if not n.startswith(".")], \
        f"pool objects left: {os.listdir(vols_dir)}"
    assert_clean(env)


# --------------------------------------------------------------------------
# ephemeral inline volumes


EPH_CTX = {"csi.storage.k8s.io/ephemeral": "true",
           "csi.storage.k8s.io/pod.name": "web-0",
           "csi.storage.k8s.io/pod.namespace": "default",
           "csi.storage.k8s.io/pod.uid": "6a4b7c3e-1111-2222-3333-444455556666",
           "csi.storage.k8s.io/serviceAccount.name": "default"}


def _settled_capacity(c, pool, root, btrfs=False):
    if btrfs:
        # deleted subvolumes are freed by btrfs's cleaner, which a
        # transaction commit wakes: commit, then wait for it
        run(["btrfs", "filesystem", "sync", str(root)], check=False)
        run(["btrfs", "subvolume", "sync", str(root)], check=False, timeout=60)
    prev = None
    for _ in range(20):
        run(["sync", "-f", str(root)])
        cur = c.capacity(pool)
        if cur == prev:
            return cur
        prev = cur
        time.sleep(0.05)
    return cur


@pytest.mark.parametrize("pool", ["img-xfs", "btr"])
def test_ephemeral_volume_lifecycle(env, c, pool):
    """Made by the first publish, gone with the last unpublish. What is
    asserted is what the driver controls: its record, the backing object,
    and for the image pool (thick: preallocated) the image's size and
    allocated bytes. The image pool's free space is not compared: it is the
    file system's, and the file system's own background work (xfs frees
    blocks of deleted files asynchronously) moves it whatever the driver
    does. The btrfs pool's reported capacity drops by the promise the
    driver recorded (its accounting) and comes back."""
    image = env.pools[pool][0] == "image"
    btrfs = env.pools[pool][0] == "btrfs"
    cap0 = _settled_capacity(c, pool, env.roots[pool], True) if btrfs else None
    handle = "csi-" + os.urandom(16).hex()
    t = env.target(handle)
    ctx = dict(EPH_CTX, size="64Mi", pool=pool)
    for _ in range(2):  # the kubelet may repeat it
        assert_ok(c.publish, handle, None, t, context=ctx)
    assert mount_count(t) == 1
    digest = child_write(t / "scratch", 8 * MIB)
    assert sha256_file(t / "scratch") == digest
    vols = [e.volume for e in c.list_volumes()]
    assert len(vols) == 1, vols
    vid = vols[0].volume_id
    assert vols[0].capacity_bytes == 64 * MIB
    assert env.backing(pool, vid).exists()
    if image:
        st = env.backing(pool, vid).stat()
        assert st.st_size == 64 * MIB, st
        assert st.st_blocks * 512 >= 64 * MIB, ("not preallocated", st.st_blocks * 512)
    if btrfs:
        cap1 = _settled_capacity(c, pool, env.roots[pool], True)
        assert cap1 <= cap0 - 64 * MIB + MIB, (cap0, cap1)
    s = assert_ok(c.stats, vid, t)
    assert not s.volume_condition.abnormal
    for _ in range(2):
        assert_ok(c.unpublish, handle, t)
    assert mount_count(t) == 0 and not t.exists()
    assert c.list_volumes() == []
    assert not env.backing(pool, vid).exists(), "the ephemeral volume's object is left"
    if btrfs:
        cap2 = _settled_capacity(c, pool, env.roots[pool], True)
        # back to at least where it was (btrfs may free earlier tests'
        # extents meanwhile, so it can also be more)
        assert cap2 >= cap0 - MIB, (cap0, cap2)
    assert not any((env.state_dir / "ephemeral").iterdir()), "ephemeral staging dir left"
    assert_clean(env)


def test_ephemeral_volume_survives_a_driver_kill(env, csi):
    c = env.client(csi)
    handle = "csi-" + os.urandom(16).hex()
    t = env.target(handle)
    ctx = dict(EPH_CTX, size="32Mi", pool="img-ext4")
    assert_ok(c.publish, handle, None, t, context=ctx)
    digest = child_write(t / "f", MIB)
    env.kill()
    env.start()
    c = env.client(csi)
    assert_ok(c.publish, handle, None, t, context=ctx)  # the kubelet's repeat
    assert mount_count(t) == 1
    assert sha256_file(t / "f") == digest
    assert len(c.list_volumes()) == 1
    vid = c.list_volumes()[0].volume.volume_id
    assert_ok(c.unpublish, handle, t)
    assert c.list_volumes() == []
    assert not env.image("img-ext4", vid).exists()
    assert_clean(env)


def test_ephemeral_bad_attributes_create_nothing(env, c):
    t = env.target("csi-bad")
    for ctx in (dict(EPH_CTX, size="lots"), dict(EPH_CTX, colour="blue"),
                dict(EPH_CTX, size="64Mi", pool="no-such-pool")):
        code, details = code_of(c.publish, "csi-bad", None, t, context=ctx)
        assert code != OK, ctx
        assert mount_count(t) == 0
    assert c.list_volumes() == []
    assert_clean(env)


# --------------------------------------------------------------------------
# info and capabilities


def test_node_get_info(env, c):
    info = c.info()
    assert info.node_id == "dvt-node"
    assert info.max_volumes_per_node == 17
    segs = dict(info.accessible_topology.segments)
    assert segs.get("topology.dynvol.io/node") == "dvt-node", segs
    # volumes are accessible from exactly that topology
    v = c.create("pvc-topo", "plain", MIB)
    assert [dict(t.segments) for t in v.accessible_topology] == [segs]
    assert_ok(c.delete_volume, v.volume_id)


def test_max_volumes_per_node_is_enforced(env, c):
    node = c.info().node_id
    vids = [c.create(f"pvc-max-{i}", "plain", MIB).volume_id for i in range(18)]
    for vid in vids[:17]:
        assert_ok(c.controller_publish, vid, node)
    code, details = code_of(c.controller_publish, vids[17], node)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, (code, details)
    assert_ok(c.controller_publish, vids[0], node)  # a repeat is not a new one
    assert_ok(c.controller_unpublish, vids[0], node)
    assert_ok(c.controller_publish, vids[17], node)
    for vid in vids:
        assert_ok(c.controller_unpublish, vid, node)
        assert_ok(c.delete_volume, vid)


def test_node_get_capabilities(env, c):
    T = c.m.NodeServiceCapability.RPC.Type
    got = {cap.rpc.type for cap in c.caps().capabilities}
    want = {T.Value(n) for n in ("STAGE_UNSTAGE_VOLUME", "GET_VOLUME_STATS", "EXPAND_VOLUME",
                                 "VOLUME_CONDITION", "SINGLE_NODE_MULTI_WRITER")}
    assert want <= got, got

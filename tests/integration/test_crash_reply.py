"""Crash matrix over the RPC layer: the work is done, the reply is lost.

For every mutating CSI call, on every pool (and raw block on the image
pool), the driver is killed with SIGKILL after the call's work is done and
before its reply leaves (DYNVOL_CRASHPOINT=rpc.before_reply:<method>, in
rpc_call_reply). The client sees the connection drop, as a CO does when a
node or plugin dies at that instant. After a restart, the CO's retry of the
same call must answer OK with the same result: nothing done twice (no
second volume, snapshot, mount or loop device), nothing lost, nothing
leaked once the objects are torn down through the API.
"""

import grpc
import pytest

from conftest import rpc_code
from nodefs import (GIB, MIB, NodeEnv, child_write, losetup_j, mount_count, stage_row,
                    usage_bytes)
from poolfs import (loop_fs_fixture, loops_backed_by, pool_objects, require_root_and_loop,
                    sha256_file)

xfs_fs = loop_fs_fixture("xfs", 3 * GIB)
btrfs_fs = loop_fs_fixture("btrfs", GIB)

OK = grpc.StatusCode.OK
SIZE = {"ext4": 64 * MIB, "xfs": 300 * MIB, "": 64 * MIB}
CONTROLLER = "/csi.v1.Controller/"
NODE = "/csi.v1.Node/"
ALL = ["img-ext4", "img-xfs", "btr", "plain"]


@pytest.fixture(autouse=True)
def _root():
    require_root_and_loop()


@pytest.fixture
def env(driver_factory, xfs_fs, btrfs_fs, tmp_path):
    e = NodeEnv(driver_factory, xfs_fs, btrfs_fs, tmp_path)
    try:
        e.start()
        yield e
    finally:
        e.close()


def ok(fn, *a, **kw):
    code, details, res = rpc_code(fn, *a, **kw)
    assert code == OK, f"{fn.__name__}: {code} {details}"
    return res


def crash_before_reply(env, csi, method, fn):
    """Restarts the driver armed at the reply of method, makes the call with
    fn(client), checks the driver died there, restarts it unarmed and
    returns a client of the new driver."""
    env.driver.close_channels()
    env.driver.stop()
    point = f"rpc.before_reply:{method}"
    drv = env.start(env={"DYNVOL_CRASHPOINT": point})
    code, details, _ = rpc_code(fn, env.client(csi))
    assert drv.wait_exit(10) is not None, f"armed at {point}, still running: {code} {details}"
    assert f"crash point reached: {point}" in drv.stderr(), \
        f"{method} did not reach its reply: {code} {details}\n{drv.stderr()[-2000:]}"
    assert code != OK, "the client heard OK from a driver killed before replying"
    drv.close_channels()
    env.start()
    return env.client(csi)


class Vol:
    """A volume of one test: pool, mode, and where it is staged/published."""

    def __init__(self, env, c, where, name="pvc-r"):
        self.env, self.c = env, c
        self.block = where == "block"
        self.pool = "img-ext4" if self.block else where
        backend, fs = env.pools[self.pool]
        self.image = backend == "image"
        self.fs = "" if self.block else fs
        self.name = name
        self.size = 32 * MIB if self.block else SIZE[self.fs]
        self.id = None
        self.staging = None
        self.targets = []

    def create(self, c=None):
        v = (c or self.c).create(self.name, self.pool, self.size, self.fs, self.block)
        self.id = v.volume_id
        return v

    def cpublish(self, c=None):
        return (c or self.c).controller_publish(self.id, self.env.node_id, block=self.block,
                                                fs_type=self.fs)

    def stage(self, c=None):
        if self.staging is None:
            self.staging = self.env.staging(self.id, self.block)
        return (c or self.c).stage(self.id, self.staging, block=self.block, fs_type=self.fs)

    def new_target(self):
        t = self.env.target(self.id, self.block)
        self.targets.append(t)
        return t

    def publish(self, t, c=None):
        return (c or self.c).publish(self.id, self.staging, t, block=self.block,
                                     fs_type=self.fs)

    def loops(self):
        return loops_backed_by(self.env.image(self.pool, self.id)) if self.image else []

    def teardown(self, c):
        for t in self.targets:
            ok(c.unpublish, self.id, t)
        if self.staging is not None:
            ok(c.unstage, self.id, self.staging)
        ok(c.controller_unpublish, self.id, self.env.node_id)
        ok(c.delete_volume, self.id)


def assert_nothing_left(env, c):
    assert not c.list_volumes(), "volumes left after the teardown"
    assert not c.list_snapshots(), "snapshots left after the teardown"
    for p, (backend, _fs) in env.pools.items():
        vols, snaps, other = pool_objects(backend, env.roots[p])
        assert not (vols or snaps or other), f"pool {p} holds {vols} {snaps} {other}"
    left = env.leftovers()
    assert not left, f"left behind: {left}"


# --------------------------------------------------------------------------
# Controller calls


@pytest.mark.parametrize("where", ALL + ["block"])
def test_create_volume_reply_lost(env, csi, where):
    c = env.client(csi)
    vol = Vol(env, c, where)
    c = crash_before_reply(env, csi, CONTROLLER + "CreateVolume", lambda cc: vol.create(cc))
    first = ok(vol.create, c)
    again = ok(vol.create, c)
    assert first.volume_id == again.volume_id
    assert first.capacity_bytes >= vol.size
    ids = {e.volume.volume_id for e in c.list_volumes()}
    assert ids == {first.volume_id}, f"the retry made another volume: {ids}"
    vols, _snaps, _other = pool_objects(env.pools[vol.pool][0], env.roots[vol.pool])
    assert vols == {first.volume_id}
    ok(c.delete_volume, first.volume_id)
    assert_nothing_left(env, c)


@pytest.mark.parametrize("where", ALL)
def test_delete_volume_reply_lost(env, csi, where):
    c = env.client(csi)
    vol = Vol(env, c, where)
    vol.create()
    c = crash_before_reply(env, csi, CONTROLLER + "DeleteVolume",
                           lambda cc: cc.delete_volume(vol.id))
    assert not c.list_volumes(), "the volume outlived its delete"
    ok(c.delete_volume, vol.id)
    assert_nothing_left(env, c)


@pytest.mark.parametrize("where", ALL)
def test_create_snapshot_reply_lost(env, csi, where):
    c = env.client(csi)
    vol = Vol(env, c, where)
    vol.create()
    c = crash_before_reply(env, csi, CONTROLLER + "CreateSnapshot",
                           lambda cc: cc.create_snapshot("snap-r", vol.id))
    s1 = ok(c.create_snapshot, "snap-r", vol.id)
    s2 = ok(c.create_snapshot, "snap-r", vol.id)
    assert s1.snapshot_id == s2.snapshot_id and s1.source_volume_id == vol.id
    assert s1.ready_to_use
    snaps = [e.snapshot.snapshot_id for e in c.list_snapshots()]
    assert snaps == [s1.snapshot_id], f"the retry made another snapshot: {snaps}"
    ok(c.delete_snapshot, s1.snapshot_id)
    ok(c.delete_volume, vol.id)
    assert_nothing_left(env, c)


@pytest.mark.parametrize("where", ALL)
def test_delete_snapshot_reply_lost(env, csi, where):
    c = env.client(csi)
    vol = Vol(env, c, where)
    vol.create()
    s = ok(c.create_snapshot, "snap-r", vol.id)
    c = crash_before_reply(env, csi, CONTROLLER + "DeleteSnapshot",
                           lambda cc: cc.delete_snapshot(s.snapshot_id))
    assert not c.list_snapshots(), "the snapshot outlived its delete"
    ok(c.delete_snapshot, s.snapshot_id)
    ok(c.delete_volume, vol.id)
    assert_nothing_left(env, c)


@pytest.mark.parametrize("where", ALL + ["block"])
def test_controller_expand_reply_lost(env, csi, where):
    c = env.client(csi)
    vol = Vol(env, c, where)
    vol.create()
    want = vol.size + 64 * MIB
    c = crash_before_reply(env, csi, CONTROLLER + "ControllerExpandVolume",
                           lambda cc: cc.expand(vol.id, want))
    assert ok(c.get_volume, vol.id).volume.capacity_bytes >= want, "the expansion was lost"
    resp = ok(c.expand, vol.id, want)
    assert resp.capacity_bytes >= want
    if vol.image:
        assert env.image(vol.pool, vol.id).stat().st_size == resp.capacity_bytes
    ok(c.delete_volume, vol.id)
    assert_nothing_left(env, c)


def test_controller_publish_and_unpublish_replies_lost(env, csi):
    c = env.client(csi)
    vol = Vol(env, c, "img-ext4")
    vol.create()
    c = crash_before_reply(env, csi, CONTROLLER + "ControllerPublishVolume",
                           lambda cc: vol.cpublish(cc))
    ctx1 = dict(ok(vol.cpublish, c).publish_context)
    assert dict(ok(vol.cpublish, c).publish_context) == ctx1
    c = crash_before_reply(env, csi, CONTROLLER + "ControllerUnpublishVolume",
                           lambda cc: cc.controller_unpublish(vol.id, env.node_id))
    ok(c.controller_unpublish, vol.id, env.node_id)
    ok(c.delete_volume, vol.id)  # nothing holds it any more
    assert_nothing_left(env, c)


# --------------------------------------------------------------------------
# Node calls


def node_vol(env, c, where, stage=True):
    """A created, ControllerPublished (and staged) volume, as the kubelet
    finds it before the Node call under test."""
    vol = Vol(env, c, where)
    vol.create()
    vol.cpublish()
    if stage:
        ok(vol.stage)
    return vol


def staged_once(env, vol):
    if vol.image:
        assert len(losetup_j(env.image(vol.pool, vol.id))) == 1, "not exactly one loop device"
    if not vol.block:
        assert mount_count(vol.staging) == 1, "not exactly one mount on the staging path"
    assert stage_row(env.state_dir, vol.id) is not None


def usable(vol, t):
    """The published volume works: a file written is read back, or the
    device node opens and has the volume's size."""
    if vol.block:
        with open(t, "rb") as f:
            assert f.seek(0, 2) == vol.size
    else:
        digest = child_write(t / "probe", 1 * MIB)
        assert sha256_file(t / "probe") == digest


@pytest.mark.parametrize("where", ALL + ["block"])
def test_stage_reply_lost(env, csi, where):
    c = env.client(csi)
    vol = node_vol(env, c, where, stage=False)
    vol.staging = env.staging(vol.id, vol.block)
    c = crash_before_reply(env, csi, NODE + "NodeStageVolume", lambda cc: vol.stage(cc))
    ok(vol.stage, c)
    staged_once(env, vol)
    t = vol.new_target()
    ok(vol.publish, t, c)
    usable(vol, t)
    vol.teardown(c)
    assert_nothing_left(env, c)


@pytest.mark.parametrize("where", ALL + ["block"])
def test_publish_and_unpublish_replies_lost(env, csi, where):
    c = env.client(csi)
    vol = node_vol(env, c, where)
    t = vol.new_target()
    c = crash_before_reply(env, csi, NODE + "NodePublishVolume", lambda cc: vol.publish(t, cc))
    ok(vol.publish, t, c)
    assert mount_count(t) == 1, "the retry stacked a second bind"
    usable(vol, t)
    c = crash_before_reply(env, csi, NODE + "NodeUnpublishVolume",
                           lambda cc: cc.unpublish(vol.id, t))
    assert mount_count(t) == 0
    ok(c.unpublish, vol.id, t)
    vol.targets = []
    staged_once(env, vol)
    vol.teardown(c)
    assert_nothing_left(env, c)


@pytest.mark.parametrize("where", ALL + ["block"])
def test_unstage_reply_lost(env, csi, where):
    c = env.client(csi)
    vol = node_vol(env, c, where)
    c = crash_before_reply(env, csi, NODE + "NodeUnstageVolume",
                           lambda cc: cc.unstage(vol.id, vol.staging))
    assert mount_count(vol.staging) == 0 and not vol.loops()
    assert stage_row(env.state_dir, vol.id) is None
    ok(c.unstage, vol.id, vol.staging)
    vol.staging = None
    vol.teardown(c)
    assert_nothing_left(env, c)


@pytest.mark.parametrize("where", ["img-xfs", "block"])
def test_node_expand_reply_lost(env, csi, where):
    c = env.client(csi)
    vol = node_vol(env, c, where)
    t = vol.new_target()
    ok(vol.publish, t)
    want = vol.size + 64 * MIB
    before = usage_bytes(ok(c.stats, vol.id, t)).total
    ok(c.expand, vol.id, want)
    path = t if vol.block else vol.staging
    c = crash_before_reply(env, csi, NODE + "NodeExpandVolume",
                           lambda cc: cc.node_expand(vol.id, path, want, block=vol.block))
    resp = ok(c.node_expand, vol.id, path, want, block=vol.block)
    assert resp.capacity_bytes >= want
    total = usage_bytes(ok(c.stats, vol.id, t)).total
    if vol.block:
        assert total == want
    else:
        assert total >= before + 60 * MIB, f"the file system did not grow: {before} -> {total}"
        usable(vol, t)
    staged_once(env, vol)
    vol.teardown(c)
    assert_nothing_left(env, c)

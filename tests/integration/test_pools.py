"""Pools through the CSI Controller service, checked on real file systems.

Three pools on loop-device file systems (see poolfs.py): `img-xfs` (image
backend on xfs with reflink), `btr` (btrfs backend) and `plain` (dir
backend). Every test gets fresh pool roots and a fresh state directory; the
file systems live for the module. Each test drives `dynvol driver` over
CSI, then looks at the pool directories (file sizes, qgroup limits, shared
extents, subvolumes) to check that what the driver says is what it did.

Needs root and loop devices (skipped otherwise, with the reason).
"""

import os
import shutil
import time

import grpc
import pytest

from poolfs import (GIB, MIB, POOLS, attached, btrfs_qgroup_limit,
                    btrfs_subvol_info, loop_fs_fixture, mounted_image, pool_objects,
                    run, sha256_file, snapshot_path, volume_path, write_random,
                    PoolEnv)

xfs_fs = loop_fs_fixture("xfs", 2 * GIB)
btrfs_fs = loop_fs_fixture("btrfs", GIB)

OK = grpc.StatusCode.OK


@pytest.fixture
def env(driver_factory, xfs_fs, btrfs_fs, tmp_path):
    e = PoolEnv(driver_factory, xfs_fs, btrfs_fs, tmp_path)
    try:
        e.start()
        yield e
    finally:
        e.close()


@pytest.fixture
def c(env, csi):
    return env.csi(csi)


def object_size(env, pool, vid):
    """What the pool object says the volume's size is."""
    backend = env.backend(pool)
    path = volume_path(env, pool, vid)
    if backend == "image":
        return path.stat().st_size
    if backend == "btrfs":
        return btrfs_qgroup_limit(path)
    return None  # dir: nothing holds a size


# The file systems' free space moves a few blocks on its own (deferred
# inode and extent frees of earlier tests, btrfs's cleaner), and it caps what
# GetCapacity reports: capacities are compared to within this much.
CAPACITY_NOISE = MIB


def settled_capacity(env, c, pool):
    """GetCapacity after syncing the pool's file system, once two reads agree."""
    prev = None
    for _ in range(20):
        run(["sync", "-f", str(env.roots[pool])])
        cur = c.capacity(pool)
        if cur == prev:
            return cur
        prev = cur
        time.sleep(0.05)
    return cur


def close_to(a, b):
    return abs(a - b) <= CAPACITY_NOISE


def assert_pool_matches_registry(env, c):
    """ListVolumes/ListSnapshots and the pool directories name the same objects."""
    listed_v = {e.volume.volume_id: e for e in c.list_volumes()}
    listed_s = {e.snapshot.snapshot_id: e for e in c.list_snapshots()}
    for pool, backend in POOLS.items():
        vols, snaps, other = pool_objects(backend, env.roots[pool])
        assert not other, f"pool {pool}: unexpected entries {other}"
        in_pool_v = {v for v, e in listed_v.items()
                     if dict(e.volume.volume_context).get("dynvol.io/pool") == pool}
        assert vols == in_pool_v, f"pool {pool}: on disk {vols}, listed {in_pool_v}"
    all_snaps = set()
    for pool, backend in POOLS.items():
        all_snaps |= pool_objects(backend, env.roots[pool])[1]
    assert all_snaps == set(listed_s), f"snapshots on disk {all_snaps}, listed {set(listed_s)}"
    for e in listed_v.values():
        assert not e.status.volume_condition.abnormal, e


# --------------------------------------------------------------------------
# sizes, expansion, deletion


SIZE_CASES = [
    # pool, required, fs_type, expected size
    ("img-xfs", 10 * MIB, "", 16 * MIB),             # minimum
    ("img-xfs", 20 * MIB + 1, "ext4", 21 * MIB),     # 1 MiB granularity
    ("img-xfs", 64 * MIB, "", 64 * MIB),
    ("img-xfs", 10 * MIB, "xfs", 300 * MIB),         # mkfs.xfs minimum
    ("img-xfs", 300 * MIB + 1, "xfs", 301 * MIB),
    ("btr", 1, "", 16 * MIB),
    ("btr", 20 * MIB + 1, "btrfs", 21 * MIB),
    ("plain", 20 * MIB + 1, "", 20 * MIB + 1),       # dir: taken as asked
]


@pytest.mark.parametrize("pool,required,fs_type,expected", SIZE_CASES,
                         ids=[f"{p}-{r}-{f or 'default'}" for p, r, f, _ in SIZE_CASES])
def test_create_rounds_size_and_object_matches(env, c, pool, required, fs_type, expected):
    v = c.create_volume("pvc-size", pool, required=required, fs_type=fs_type)
    assert v.capacity_bytes == expected
    assert dict(v.volume_context)["dynvol.io/pool"] == pool
    assert dict(v.volume_context)["dynvol.io/backend"] == env.backend(pool)
    path = volume_path(env, pool, v.volume_id)
    assert path.exists() and not path.is_symlink(), path
    if env.backend(pool) == "image":
        assert path.is_file()
        assert path.stat().st_size == expected
        assert path.stat().st_size % MIB == 0
        # thick (no overcommit): every block is allocated up front, so the
        # file system cannot run out under the volume later
        assert path.stat().st_blocks * 512 >= expected
    elif env.backend(pool) == "btrfs":
        info = btrfs_subvol_info(path)
        assert "readonly" not in info.get("Flags", "")
        assert btrfs_qgroup_limit(path) == expected
    else:
        assert path.is_dir()
    # the same request again: the same volume (idempotent by name)
    again = c.create_volume("pvc-size", pool, required=required, fs_type=fs_type)
    assert again.volume_id == v.volume_id and again.capacity_bytes == expected
    got = c.get_volume(v.volume_id)
    assert got.volume.capacity_bytes == expected
    assert_pool_matches_registry(env, c)
    c.delete_volume(v.volume_id)
    assert not os.path.lexists(path)


@pytest.mark.parametrize("pool", ["img-xfs", "btr"])
def test_limit_below_the_minimum_is_out_of_range(env, c, pool):
    code, details, _ = c.code(c.create_volume, "pvc-tiny", pool, required=MIB,
                              limit=2 * MIB)
    assert code == grpc.StatusCode.OUT_OF_RANGE, details
    assert pool_objects(env.backend(pool), env.roots[pool]) == (set(), set(), [])
    assert c.list_volumes() == []


@pytest.mark.parametrize("pool", list(POOLS))
def test_expand_shrink_delete(env, c, pool):
    backend = env.backend(pool)
    v = c.create_volume("pvc-grow", pool, required=16 * MIB)
    vid = v.volume_id
    path = volume_path(env, pool, vid)

    r = c.expand(vid, 40 * MIB + 5)
    want = 40 * MIB + 5 if backend == "dir" else 41 * MIB
    assert r.capacity_bytes == want
    assert r.node_expansion_required == (backend == "image")
    if backend != "dir":
        assert object_size(env, pool, vid) == want
    assert c.get_volume(vid).volume.capacity_bytes == want

    # the same expansion again: nothing changes
    assert c.expand(vid, 40 * MIB + 5).capacity_bytes == want

    # a shrink (limit below the current size) is refused, nothing changes
    code, details, _ = c.code(c.expand, vid, 16 * MIB, 16 * MIB)
    assert code == grpc.StatusCode.OUT_OF_RANGE, details
    if backend != "dir":
        assert object_size(env, pool, vid) == want
    assert c.get_volume(vid).volume.capacity_bytes == want
    # a smaller required size without a limit: already satisfied, no shrink
    r = c.expand(vid, 16 * MIB)
    assert r.capacity_bytes == want
    if backend != "dir":
        assert object_size(env, pool, vid) == want

    c.delete_volume(vid)
    assert not os.path.lexists(path)
    assert pool_objects(backend, env.roots[pool]) == (set(), set(), [])
    # deleting again succeeds; the volume is gone for every other call
    c.delete_volume(vid)
    for fn, args in ((c.get_volume, (vid,)), (c.expand, (vid, 64 * MIB))):
        code, details, _ = c.code(fn, *args)
        assert code == grpc.StatusCode.NOT_FOUND, (fn.__name__, details)
    assert c.list_volumes() == []


@pytest.mark.parametrize("pool", ["img-xfs", "btr"])
def test_capacity_returns_after_delete(env, c, pool):
    cap0 = settled_capacity(env, c, pool)
    assert cap0 > 0
    vols = [c.create_volume(f"pvc-{i}", pool, required=s)
            for i, s in enumerate((16 * MIB, 200 * MIB))]
    assert c.capacity(pool) < cap0
    c.expand(vols[1].volume_id, 300 * MIB)
    for v in vols:
        c.delete_volume(v.volume_id)
    cap = settled_capacity(env, c, pool)
    assert close_to(cap, cap0), f"GetCapacity {cap0} before, {cap} after"


@pytest.mark.parametrize("pool", [
    "img-xfs",
    "btr",
])
def test_capacity_thick_accounting(env, c, pool):
    """Every byte promised to a volume comes off GetCapacity, at once."""
    cap0 = settled_capacity(env, c, pool)
    v = c.create_volume("pvc-a", pool, required=16 * MIB)
    cap1 = settled_capacity(env, c, pool)
    c.expand(v.volume_id, 48 * MIB)
    cap2 = settled_capacity(env, c, pool)
    # what the pool says it can still give, taken: all promises together
    # must fit in the space the file system had for them
    big = c.create_volume("pvc-rest", pool, required=cap2 // MIB * MIB)
    promised = 48 * MIB + big.capacity_bytes
    c.delete_volume(big.volume_id)
    c.delete_volume(v.volume_id)
    problems = []
    if not (close_to(cap0 - cap1, 16 * MIB) and close_to(cap0 - cap2, 48 * MIB)):
        problems.append(f"GetCapacity {cap0} -> {cap1} after a 16 MiB volume -> {cap2} "
                        f"after growing it to 48 MiB (decreases {cap0 - cap1}, "
                        f"{cap0 - cap2})")
    if promised > cap0 + CAPACITY_NOISE:
        problems.append(f"then a volume of the {cap2} bytes it reported was created: "
                        f"{promised} bytes promised where {cap0} were available")
    assert not problems, problems


@pytest.mark.parametrize("pool", list(POOLS))
def test_capacity_exhausted_leaves_nothing(env, c, pool):
    backend = env.backend(pool)
    keep = c.create_volume("pvc-keep", pool, required=16 * MIB)
    avail = settled_capacity(env, c, pool)
    before = pool_objects(backend, env.roots[pool])
    for name, size in (("pvc-huge", avail + 64 * MIB), ("pvc-absurd", 1 << 60)):
        code, details, _ = c.code(c.create_volume, name, pool, required=size)
        assert code in (grpc.StatusCode.RESOURCE_EXHAUSTED,
                        grpc.StatusCode.OUT_OF_RANGE), (name, code, details)
        assert pool_objects(backend, env.roots[pool]) == before
        assert [e.volume.volume_id for e in c.list_volumes()] == [keep.volume_id]
    # growing past the pool fails the same way and changes nothing
    code, details, _ = c.code(c.expand, keep.volume_id, avail + 64 * MIB)
    assert code in (grpc.StatusCode.RESOURCE_EXHAUSTED,
                    grpc.StatusCode.OUT_OF_RANGE), (code, details)
    assert c.get_volume(keep.volume_id).volume.capacity_bytes == 16 * MIB
    if backend != "dir":
        assert object_size(env, pool, keep.volume_id) == 16 * MIB
    cap = settled_capacity(env, c, pool)
    assert close_to(cap, avail), f"GetCapacity {avail} before, {cap} after"
    # no stuck record: the name is free for a volume that fits
    v = c.create_volume("pvc-huge", pool, required=16 * MIB)
    c.delete_volume(v.volume_id)
    c.delete_volume(keep.volume_id)
    assert pool_objects(backend, env.roots[pool]) == (set(), set(), [])


# --------------------------------------------------------------------------
# the size is enforced


def test_image_size_enforced(env, c):
    v = c.create_volume("pvc-img", "img-xfs", required=16 * MIB, block=True)
    path = volume_path(env, "img-xfs", v.volume_id)
    with attached(path) as dev:
        ok = run(["dd", "if=/dev/zero", f"of={dev}", "bs=1M", "seek=15", "count=1",
                  "oflag=direct"], check=False)
        assert ok.returncode == 0, ok.stderr
        past = run(["dd", "if=/dev/zero", f"of={dev}", "bs=1M", "seek=16", "count=1",
                    "oflag=direct"], check=False)
        assert past.returncode != 0
        assert "No space left on device" in past.stderr, past.stderr
        # never pulled from under a loop device
        code, details, _ = c.code(c.delete_volume, v.volume_id)
        assert code == grpc.StatusCode.FAILED_PRECONDITION, (code, details)
        assert path.stat().st_size == 16 * MIB
    assert path.stat().st_size == 16 * MIB
    c.delete_volume(v.volume_id)
    assert not path.exists()


def test_btrfs_size_enforced(env, c):
    v = c.create_volume("pvc-btr", "btr", required=16 * MIB)
    path = volume_path(env, "btr", v.volume_id)
    res = run(["dd", "if=/dev/urandom", f"of={path}/fill", "bs=1M", "count=32",
               "conv=fsync"], check=False)
    assert res.returncode != 0, "wrote 32 MiB into a 16 MiB volume"
    assert "Disk quota exceeded" in res.stderr, res.stderr
    os.unlink(path / "fill")
    # expansion raises the enforced limit
    c.expand(v.volume_id, 64 * MIB)
    run(["btrfs", "filesystem", "sync", str(path)])
    res = run(["dd", "if=/dev/urandom", f"of={path}/fill", "bs=1M", "count=32",
               "conv=fsync"], check=False)
    assert res.returncode == 0, res.stderr
    c.delete_volume(v.volume_id)
    assert not path.exists()


# --------------------------------------------------------------------------
# snapshots, restores, clones


def shared_extents(path):
    """(extents, extents flagged shared) of a file, from filefrag -v."""
    out = run(["filefrag", "-v", str(path)]).stdout
    ext = [ln for ln in out.splitlines() if ln.strip()[:1].isdigit() and ":" in ln]
    return len(ext), sum(1 for ln in ext if "shared" in ln)


class VolumeData:
    """Reads and writes a file inside a volume, whatever its backend."""

    def __init__(self, env, pool):
        self.env = env
        self.pool = pool
        self.backend = env.backend(pool)

    def prepare(self, vid):
        if self.backend == "image":
            run(["mkfs.ext4", "-q", "-F", str(volume_path(self.env, self.pool, vid))])

    def _with_dir(self, vid, fn):
        path = volume_path(self.env, self.pool, vid)
        if self.backend == "image":
            with mounted_image(path) as mnt:
                return fn(mnt)
        return fn(path)

    def write(self, vid):
        return self._with_dir(vid, lambda d: write_random(d / "data.bin", 8 * MIB))

    def checksum(self, vid):
        return self._with_dir(vid, lambda d: sha256_file(d / "data.bin"))


@pytest.mark.parametrize("pool", list(POOLS))
def test_snapshot_restore_clone_integrity(env, c, pool):
    backend = env.backend(pool)
    data = VolumeData(env, pool)
    v = c.create_volume("pvc-src", pool, required=64 * MIB)
    src = v.volume_id
    data.prepare(src)
    old = data.write(src)

    snap = c.create_snapshot("snap-1", src)
    assert snap.ready_to_use and snap.source_volume_id == src
    assert snap.size_bytes == 64 * MIB or backend == "dir"
    sid = snap.snapshot_id
    spath = snapshot_path(env, pool, sid)
    assert spath.exists() and not spath.is_symlink()
    # idempotent by name
    assert c.create_snapshot("snap-1", src).snapshot_id == sid
    assert [e.snapshot.snapshot_id for e in c.list_snapshots()] == [sid]
    if backend == "image":
        n, shared = shared_extents(spath)
        assert n > 0 and shared > 0, f"snapshot shares no extents with its source ({n} extents)"
    elif backend == "btrfs":
        info = btrfs_subvol_info(spath)
        assert "readonly" in info.get("Flags", ""), info
        assert info["Parent UUID"] == btrfs_subvol_info(volume_path(env, pool, src))["UUID"]
        n, shared = shared_extents(spath / "data.bin")
        assert n > 0 and shared == n, f"{shared} of {n} extents shared"

    new = data.write(src)
    assert new != old

    clone = c.create_volume("pvc-clone", pool, required=96 * MIB, volume=src)
    assert clone.content_source.volume.volume_id == src
    if backend != "dir":
        assert clone.capacity_bytes == 96 * MIB
        assert object_size(env, pool, clone.volume_id) == 96 * MIB
    assert data.checksum(clone.volume_id) == new

    # snapshots outlive their source volume
    c.delete_volume(src)
    assert not os.path.lexists(volume_path(env, pool, src))
    restored = c.create_volume("pvc-restored", pool, required=16 * MIB, snapshot=sid)
    assert restored.content_source.snapshot.snapshot_id == sid
    if backend != "dir":
        # never smaller than the snapshot
        assert restored.capacity_bytes == 64 * MIB
        assert object_size(env, pool, restored.volume_id) == 64 * MIB
    if backend == "btrfs":
        info = btrfs_subvol_info(volume_path(env, pool, restored.volume_id))
        assert "readonly" not in info.get("Flags", "")
    assert data.checksum(restored.volume_id) == old
    # the snapshot itself is unchanged by all this
    if backend == "image":
        with mounted_image(spath, "ro,noload") as mnt:
            assert sha256_file(mnt / "data.bin") == old
    else:
        assert sha256_file(spath / "data.bin") == old

    assert_pool_matches_registry(env, c)
    for vid in (clone.volume_id, restored.volume_id):
        c.delete_volume(vid)
    c.delete_snapshot(sid)
    c.delete_snapshot(sid)
    assert pool_objects(backend, env.roots[pool]) == (set(), set(), [])
    assert c.list_snapshots() == []


def test_image_snapshot_is_a_reflink(env, c, xfs_fs):
    """A 512 MiB image full of data snapshots far faster than a copy."""
    size = 512 * MIB
    v = c.create_volume("pvc-big", "img-xfs", required=size, block=True)
    path = volume_path(env, "img-xfs", v.volume_id)
    write_random(path, size, digest=False)
    assert path.stat().st_blocks * 512 >= size

    t0 = time.monotonic()
    snap = c.create_snapshot("snap-big", v.volume_id, timeout=120)
    snap_time = time.monotonic() - t0
    spath = snapshot_path(env, "img-xfs", snap.snapshot_id)
    n, shared = shared_extents(spath)
    assert n > 0 and shared == n, f"{shared} of {n} extents shared"

    copy = xfs_fs.mnt / f"copy-{os.getpid()}.img"
    try:
        t0 = time.monotonic()
        run(["cp", "--reflink=never", str(path), str(copy)])
        run(["sync", "-f", str(copy)])
        copy_time = time.monotonic() - t0
        assert shared_extents(copy)[1] == 0
    finally:
        copy.unlink(missing_ok=True)
    print(f"512 MiB image: snapshot {snap_time:.3f}s, plain copy {copy_time:.3f}s")
    assert snap_time < copy_time / 4, \
        f"snapshot took {snap_time:.3f}s, a plain copy {copy_time:.3f}s"
    c.delete_snapshot(snap.snapshot_id)
    c.delete_volume(v.volume_id)
    assert pool_objects("image", env.roots["img-xfs"]) == (set(), set(), [])


# --------------------------------------------------------------------------
# hostile input


def tree_state(*roots):
    """Every path below roots with its type, size and mtime."""
    out = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            for n in dirnames + filenames:
                p = os.path.join(dirpath, n)
                st = os.lstat(p)
                out[p] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


def stat_of(*paths):
    return [(p, st.st_ino, st.st_mode, st.st_size, st.st_mtime_ns)
            for p in paths for st in [os.lstat(p)]]


HOSTILE_IDS = [
    "../x", "/etc", "/etc/passwd", "vol-../../x", "vol-../../../../etc",
    "snap-../../x", ".", "..", "vol-", "vol-" + "0" * 31 + "/",
    "vol-\x00../../etc", "\x00", "vol-%s\x00" % ("a" * 32),
    "vol-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "vol-0123456789abcdef0123456789abcdef/../../..",
]
LONG_IDS = ["vol-" + "a" * 10240, "x" * 10240, "../" * 3413 + "etc"]


def metadata_too_large(code, details):
    """grpcio's own refusal of an answer whose headers exceed its limit."""
    return code == grpc.StatusCode.RESOURCE_EXHAUSTED and "metadata size exceeds" in details


def hostile_calls(c, hid):
    ok_or_clean = {grpc.StatusCode.OK, grpc.StatusCode.NOT_FOUND,
                   grpc.StatusCode.INVALID_ARGUMENT}
    bad = {grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT}
    return [
        ("DeleteVolume", c.delete_volume, (hid,), ok_or_clean),
        ("ControllerExpandVolume", c.expand, (hid, 64 * MIB), bad),
        ("CreateSnapshot", c.create_snapshot, ("snap-hostile", hid), bad),
        ("ControllerGetVolume", c.get_volume, (hid,), bad),
        ("DeleteSnapshot", c.delete_snapshot, (hid,), ok_or_clean),
        ("CreateVolume(snapshot)", c.create_volume, ("pvc-h1", "plain", 0, 0, "", hid), bad),
        ("CreateVolume(volume)", c.create_volume,
         ("pvc-h2", "plain", 0, 0, "", None, hid), bad),
    ]


@pytest.fixture
def canary(tmp_path):
    d = tmp_path / "outside"
    d.mkdir()
    (d / "canary").write_bytes(b"canary" * 1000)
    return d


def test_hostile_volume_ids(env, c, canary):
    # something to lose in every pool
    keep = {pool: c.create_volume(f"pvc-keep-{pool}", pool, required=16 * MIB)
            for pool in POOLS}
    snap = c.create_snapshot("snap-keep", keep["plain"].volume_id)
    # the pool roots, their parents ("vol-../../x" lands there) and a canary
    roots = [str(t) for t in env.tops] + [str(canary)]
    before = tree_state(*roots)
    canary_before = tree_state(str(canary))
    etc_before = stat_of("/etc", "/etc/passwd")
    caps = {p: settled_capacity(env, c, p) for p in POOLS}
    for hid in HOSTILE_IDS + LONG_IDS:
        for what, fn, args, allowed in hostile_calls(c, hid):
            code, details, _ = c.code(fn, *args)
            if hid in LONG_IDS and metadata_too_large(code, details):
                continue  # the answer's text: test_long_ids_get_a_readable_error
            assert code in allowed, f"{what}({hid[:60]!r}): {code} {details[:200]}"
        assert env.driver.alive(), env.driver.describe()
    assert tree_state(*roots) == before
    assert stat_of("/etc", "/etc/passwd") == etc_before
    after = {p: settled_capacity(env, c, p) for p in POOLS}
    assert all(close_to(after[p], caps[p]) for p in POOLS), (caps, after)
    assert sorted(e.volume.volume_id for e in c.list_volumes()) == \
        sorted(v.volume_id for v in keep.values())
    assert [e.snapshot.snapshot_id for e in c.list_snapshots()] == [snap.snapshot_id]
    # names are only names: path-like ones make objects named by IDs
    for name in ("../../../../tmp/evil", "/etc/passwd", "vol-" + "c" * 32):
        v = c.create_volume(name, "plain", required=MIB)
        assert pool_objects("dir", env.roots["plain"])[0] >= {v.volume_id}
        s = c.create_snapshot(name, v.volume_id)
        c.delete_snapshot(s.snapshot_id)
        c.delete_volume(v.volume_id)
    # too long, or with characters the CSI spec bans in strings
    for name in ("x" * 10240, "ctl\x01x", "\x7f"):
        code, details, _ = c.code(c.create_volume, name, "plain", MIB)
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (name[:20], code, details)
        code, details, _ = c.code(c.create_snapshot, name, keep["plain"].volume_id)
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (name[:20], code, details)
    assert not os.path.lexists("/tmp/evil")
    assert tree_state(str(canary)) == canary_before
    c.delete_snapshot(snap.snapshot_id)
    for v in keep.values():
        c.delete_volume(v.volume_id)


def test_long_ids_get_a_readable_error(env, c):
    problems = []
    for hid in LONG_IDS:
        for what, fn, args, allowed in hostile_calls(c, hid):
            code, details, _ = c.code(fn, *args)
            if code not in allowed:
                problems.append(f"{what}(<{len(hid)} bytes>): {code.name} {details[:80]}")
    # what the driver really answered, read with a larger metadata limit
    wide = env.csi(c.m)
    wide.ch = env.driver.channel(options=[("grpc.max_metadata_size", 1 << 20)])
    code, details, _ = wide.code(wide.expand, LONG_IDS[0], 64 * MIB)
    assert not problems, [f"read with a 1 MiB metadata limit the answer is {code.name} "
                          f"with a grpc-message of {len(details)} bytes"] + problems


NUL_BUG = ("dynvol bug: request strings are used up to their first NUL byte, so "
           "'<id>\\0junk' names the volume <id> (ControllerGetVolume answers for it, "
           "ControllerExpandVolume grows it, DeleteVolume deletes it) and names "
           "'x\\0y' and 'x\\0z' are the same CreateVolume name")


def test_nul_in_ids_and_names_never_names_another_volume(env, c):
    v = c.create_volume("pvc-real", "plain", required=16 * MIB)
    vid = v.volume_id
    alias = vid + "\x00../../etc"
    results = {}
    results["ControllerGetVolume"] = c.code(c.get_volume, alias)[0]
    results["ControllerExpandVolume"] = c.code(c.expand, alias, 64 * MIB)[0]
    results["CreateSnapshot"] = c.code(c.create_snapshot, "snap-nul", alias)[0]
    results["DeleteVolume"] = c.code(c.delete_volume, alias)[0]
    still = c.code(c.get_volume, vid)
    cv1 = c.code(c.create_volume, "pvc\x00one", "plain", 16 * MIB)
    cv2 = c.code(c.create_volume, "pvc\x00two", "plain", 16 * MIB)
    problems = []
    for what, code in results.items():
        if what != "DeleteVolume" and code == grpc.StatusCode.OK:
            problems.append(f"{what}(<id>\\0...) answered OK for volume {vid}")
    if still[0] != grpc.StatusCode.OK:
        problems.append(f"DeleteVolume(<id>\\0...) deleted volume {vid}")
    elif still[2].volume.capacity_bytes != 16 * MIB:
        problems.append(f"volume {vid} was resized to {still[2].volume.capacity_bytes}")
    if cv1[0] == grpc.StatusCode.OK and cv2[0] == grpc.StatusCode.OK and \
            cv1[2].volume_id == cv2[2].volume_id:
        problems.append("names 'pvc\\0one' and 'pvc\\0two' gave the same volume "
                        f"{cv1[2].volume_id}")
    assert not problems, problems


@pytest.mark.parametrize("pool", list(POOLS))
def test_planted_symlink_with_valid_id_is_never_followed(env, c, canary, pool):
    """An entry in <root>/volumes named like an ID but pointing outside."""
    backend = env.backend(pool)
    fake = "vol-" + "ab" * 16
    target = canary / "canary" if backend == "image" else canary
    link = volume_path(env, pool, fake)
    os.symlink(target, link)
    before = tree_state(str(canary))
    canary_bytes = (canary / "canary").read_bytes()

    c.delete_volume(fake)  # no such volume: done
    for fn, args in ((c.get_volume, (fake,)), (c.expand, (fake, 64 * MIB)),
                     (c.create_snapshot, ("snap-x", fake)),
                     (c.create_volume, ("pvc-x", pool, 0, 0, "", None, fake))):
        code, details, _ = c.code(fn, *args)
        assert code == grpc.StatusCode.NOT_FOUND, (fn.__name__, code, details)
    assert tree_state(str(canary)) == before
    assert (canary / "canary").read_bytes() == canary_bytes
    assert os.path.islink(link)

    # a restart that reconciles and removes orphans must remove the link only
    env.stop()
    env.config.write_text("removeOrphans: true\n" + env.config.read_text())
    env.start()
    c = env.csi(c.m)
    # removed (the link itself) or kept: either way never followed
    assert tree_state(str(canary)) == before
    assert (canary / "canary").read_bytes() == canary_bytes
    assert c.list_volumes() == []


DIR_SYMLINK_BUG = ("dynvol bug: the dir backend copies snapshots, restores and clones "
                   "with `cp -a <root>/<volumes|snapshots>/<id>/. <dst>` by path "
                   "(pool_dir.c copy_tree), which follows a symlink that replaced the "
                   "object's directory, so files from outside the pool are copied into it")


def swap_for_symlink(env, pool, path, canary):
    """Replaces a pool object by a symlink to the canary (file or dir)."""
    backend = env.backend(pool)
    if backend == "image":
        os.truncate(canary / "canary", 16 * MIB)
        target = canary / "canary"
        path.unlink()
    else:
        target = canary
        if backend == "btrfs":
            run(["btrfs", "subvolume", "delete", str(path)])
        else:
            shutil.rmtree(path)
    os.symlink(target, path)


@pytest.mark.parametrize("pool,kind", [
    ("img-xfs", "volume"), ("img-xfs", "snapshot"), ("btr", "volume"), ("btr", "snapshot"),
    ("plain", "volume"),
    ("plain", "snapshot"),
])
def test_object_replaced_by_symlink_is_never_followed(env, c, canary, pool, kind):
    """A registered volume's or snapshot's object swapped for a symlink out."""
    v = c.create_volume("pvc-victim", pool, required=16 * MIB)
    vid = v.volume_id
    results = {}
    if kind == "volume":
        swap_for_symlink(env, pool, volume_path(env, pool, vid), canary)
        before = tree_state(str(canary))
        canary_bytes = (canary / "canary").read_bytes()
        results["ControllerExpandVolume"] = c.code(c.expand, vid, 64 * MIB)
        results["CreateSnapshot"] = c.code(c.create_snapshot, "snap-victim", vid)
        results["CreateVolume(clone)"] = c.code(c.create_volume, "pvc-clone", pool,
                                                16 * MIB, 0, "", None, vid)
        if results["CreateSnapshot"][0] == OK:
            sid = results["CreateSnapshot"][2].snapshot_id
            results["CreateVolume(restore)"] = c.code(c.create_volume, "pvc-restore",
                                                      pool, 16 * MIB, 0, "", sid)
        results["DeleteVolume"] = c.code(c.delete_volume, vid)
    else:
        sid = c.create_snapshot("snap-victim", vid).snapshot_id
        swap_for_symlink(env, pool, snapshot_path(env, pool, sid), canary)
        before = tree_state(str(canary))
        canary_bytes = (canary / "canary").read_bytes()
        results["CreateVolume(restore)"] = c.code(c.create_volume, "pvc-restore", pool,
                                                  16 * MIB, 0, "", sid)
        results["DeleteSnapshot"] = c.code(c.delete_snapshot, sid)
    for what, (code, details, _) in results.items():
        assert code in (OK, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INTERNAL,
                        grpc.StatusCode.FAILED_PRECONDITION), (what, code, details)
    # the outside is untouched...
    assert tree_state(str(canary)) == before
    assert (canary / "canary").read_bytes() == canary_bytes
    # ...and nothing from it was copied into the pool
    leaked = [os.path.join(d, f) for d, _, fs in os.walk(env.roots[pool]) for f in fs
              if f == "canary"]
    assert not leaked, f"outside files copied into the pool: {leaked}; " \
        f"results: { {k: (v[0].name, v[1]) for k, v in results.items()} }"
    assert env.driver.alive()

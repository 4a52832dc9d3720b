"""Crash matrix: kill -9 at every controller crash point, restart, check.

For each crash point on a controller path (dv_crashpoint("...") in
src/store, src/pool, src/csi/controller.c, or named store.*, image.*,
btrfs.*, dir.*), a scenario sets up what the mutation needs with a normal
driver, restarts the driver with DYNVOL_CRASHPOINT=<point>, issues the
mutation that reaches the point and sees the driver die of SIGKILL. Then a
driver without the variable starts on the same state and pools, and:

- the journal is empty and no record is left CREATING or DELETING;
- ListVolumes / ListSnapshots name exactly the objects in the pool
  directories (no orphan file or subvolume, no record without its object,
  no *.tmp leftovers), every object's size is its record's;
- volumes and snapshots that were there before the crash are intact;
- the interrupted call, retried with the same arguments, succeeds and does
  what it says (idempotent by name); the invariants hold again, and
  deleting everything leaves the pools empty.

test_every_crash_point_is_covered fails when the sources have a crash
point no scenario reaches, so a new point needs a scenario here.
"""

import hashlib
import os
import re
from pathlib import Path

import grpc
import pytest

from conftest import REPO
from poolfs import (GIB, MIB, POOLS, PoolEnv, btrfs_qgroup_limit, loop_fs_fixture,
                    pool_objects, sha256_file, snapshot_path, volume_path, write_random)

xfs_fs = loop_fs_fixture("xfs", 2 * GIB)
btrfs_fs = loop_fs_fixture("btrfs", GIB)

SRC = REPO / "src"
CRASHPOINT_RE = re.compile(r'dv_crashpoint\("([^"]*)"\)')
CONTROLLER_PREFIXES = ("store.", "image.", "btrfs.", "dir.")
CONTROLLER_DIRS = ("store", "pool", "registry")
CONTROLLER_FILES = ("csi/controller.c",)

POOL_OF = {"image": "img-xfs", "btrfs": "btr", "dir": "plain"}
ALL = ("image", "btrfs", "dir")

# crash point -> (operations that reach it, backends where they do)
REACHES = {
    "store.create.after_intent": (("create", "restore", "clone"), ALL),
    "store.create.after_pool": (("create", "restore", "clone"), ALL),
    "store.delete.after_intent": (("delete",), ALL),
    "store.delete.after_pool": (("delete",), ALL),
    "store.expand.after_intent": (("expand",), ALL),
    "store.expand.after_pool": (("expand",), ALL),
    "store.snapshot.after_intent": (("snapshot",), ALL),
    "store.snapshot.after_pool": (("snapshot",), ALL),
    "store.snapdelete.after_intent": (("snapdelete",), ALL),
    "store.snapdelete.after_pool": (("snapdelete",), ALL),
    "image.create.after_open": (("create",), ("image",)),
    "image.create.after_size": (("create",), ("image",)),
    "image.copy.after_copy": (("snapshot", "restore", "clone"), ("image",)),
    "btrfs.create.after_subvol": (("create",), ("btrfs",)),
    "btrfs.create.after_limit": (("create", "restore", "clone"), ("btrfs",)),
    "dir.create.after_mkdir": (("create",), ("dir",)),
    "dir.copy.before_rename": (("snapshot", "restore", "clone"), ("dir",)),
}

SCENARIOS = [(point, backend, op)
             for point, (ops, backends) in REACHES.items()
             for backend in backends for op in ops]

# Known driver bugs, by scenario: (point, backend, op) -> reason.
KNOWN_BUGS = {}


def source_crash_points():
    """{name: [file, ...]} for every dv_crashpoint("name") under src/."""
    found = {}
    for path in sorted(SRC.rglob("*.[ch]")):
        rel = path.relative_to(SRC).as_posix()
        for name in CRASHPOINT_RE.findall(path.read_text(errors="replace")):
            found.setdefault(name, []).append(rel)
    return found


def on_controller_path(name, files):
    return name.startswith(CONTROLLER_PREFIXES) or any(
        f.split("/")[0] in CONTROLLER_DIRS or f in CONTROLLER_FILES for f in files)


def test_every_crash_point_is_covered():
    found = source_crash_points()
    assert found, f"no dv_crashpoint(...) found under {SRC}"
    wanted = {n for n, files in found.items() if on_controller_path(n, files)}
    covered = {p for p, _, _ in SCENARIOS}
    missing = sorted(wanted - covered)
    assert not missing, (
        "crash points no scenario reaches (add them to REACHES in test_crash.py): "
        + ", ".join(f"{n} ({', '.join(found[n])})" for n in missing))
    stale = sorted(covered - set(found))
    assert not stale, f"REACHES names crash points the sources no longer have: {stale}"


# --------------------------------------------------------------------------
# content helpers


def put_content(env, pool, vid):
    """1 MiB of random data in a volume; returns content_sha of it."""
    path = volume_path(env, pool, vid)
    if env.backend(pool) == "image":
        with open(path, "r+b") as f:
            f.write(os.urandom(MIB))
            f.flush()
            os.fsync(f.fileno())
    else:
        write_random(path / "data.bin", MIB)
    return content_sha(env, pool, path)


def content_sha(env, pool, path):
    """Checksum of the content of a volume or snapshot object: the first
    16 MiB of an image, the data file in a directory or subvolume."""
    path = Path(path)
    if env.backend(pool) == "image":
        h = hashlib.sha256()
        with open(path, "rb") as f:
            h.update(f.read(16 * MIB))
        return h.hexdigest()
    return sha256_file(path / "data.bin")


def object_size(env, pool, vid):
    path = volume_path(env, pool, vid)
    if env.backend(pool) == "image":
        return path.stat().st_size
    if env.backend(pool) == "btrfs":
        return btrfs_qgroup_limit(path)
    return None


# --------------------------------------------------------------------------
# invariants


def check_invariants(env, c, pool, keep):
    """Registry, journal and pool agree; `keep` ({id: sha}) objects intact."""
    problems = []
    ops = env.registry_rows("SELECT kind, object, pool, detail FROM operations")
    if ops:
        problems.append(f"journal not empty after recovery: {ops}")
    for table in ("volumes", "snapshots"):
        rows = env.registry_rows(f"SELECT id, name, state FROM {table} WHERE state != 1")
        if rows:
            problems.append(f"{table} not READY after recovery (id, name, state): {rows}")

    vols = {e.volume.volume_id: e for e in c.list_volumes()}
    snaps = {e.snapshot.snapshot_id: e for e in c.list_snapshots()}
    for p, backend in POOLS.items():
        on_v, on_s, other = pool_objects(backend, env.roots[p])
        if other:
            problems.append(f"pool {p}: leftovers {other}")
        reg_v = {v for v, e in vols.items()
                 if dict(e.volume.volume_context).get("dynvol.io/pool") == p}
        reg_s = {s for s, _ in env.registry_rows(
            f"SELECT id, pool FROM snapshots WHERE pool = '{p}'")}
        if on_v - reg_v:
            problems.append(f"pool {p}: orphan volume objects {sorted(on_v - reg_v)}")
        if reg_v - on_v:
            problems.append(f"pool {p}: volumes without an object {sorted(reg_v - on_v)}")
        if on_s - reg_s:
            problems.append(f"pool {p}: orphan snapshot objects {sorted(on_s - reg_s)}")
        if reg_s - on_s:
            problems.append(f"pool {p}: snapshots without an object {sorted(reg_s - on_s)}")
    reg_all_s = {s for (s,) in env.registry_rows("SELECT id FROM snapshots")}
    if set(snaps) != reg_all_s:
        problems.append(f"ListSnapshots {sorted(snaps)} != registry {sorted(reg_all_s)}")
    for vid, e in vols.items():
        if e.status.volume_condition.abnormal:
            problems.append(f"volume {vid}: {e.status.volume_condition.message}")
        p = dict(e.volume.volume_context)["dynvol.io/pool"]
        if vid in pool_objects(env.backend(p), env.roots[p])[0]:
            size = object_size(env, p, vid)
            if size is not None and size != e.volume.capacity_bytes:
                problems.append(f"volume {vid}: object size {size}, "
                                f"record {e.volume.capacity_bytes}")
    for oid, sha in keep.items():
        path = (volume_path if oid.startswith("vol-") else snapshot_path)(env, pool, oid)
        if not os.path.lexists(path):
            problems.append(f"{oid} that existed before the crash is gone")
        elif content_sha(env, pool, path) != sha:
            problems.append(f"{oid} that existed before the crash changed content")
    return problems


# --------------------------------------------------------------------------
# the matrix


def setup_for(c, env, pool, op):
    """Creates what op needs; returns (context dict, {id: sha} to keep)."""
    ctx, keep = {}, {}
    # a bystander volume and snapshot that no crash may touch
    by = c.create_volume("pvc-bystander", pool, required=16 * MIB).volume_id
    keep[by] = put_content(env, pool, by)
    bys = c.create_snapshot("snap-bystander", by).snapshot_id
    keep[bys] = keep[by]
    if op in ("restore", "clone", "snapshot", "snapdelete", "delete", "expand"):
        src = c.create_volume("pvc-source", pool, required=16 * MIB).volume_id
        ctx["src"] = src
        ctx["sha"] = put_content(env, pool, src)
        if op not in ("delete", "expand"):
            keep[src] = ctx["sha"]
    if op in ("restore", "snapdelete"):
        ctx["snap"] = c.create_snapshot("snap-source", ctx["src"]).snapshot_id
        if op == "restore":
            keep[ctx["snap"]] = ctx["sha"]
    return ctx, keep


def do_op(c, pool, op, ctx):
    """The mutation (also the retry); returns what it answered."""
    if op == "create":
        return c.create_volume("pvc-new", pool, required=20 * MIB)
    if op == "restore":
        return c.create_volume("pvc-new", pool, required=16 * MIB, snapshot=ctx["snap"])
    if op == "clone":
        return c.create_volume("pvc-new", pool, required=16 * MIB, volume=ctx["src"])
    if op == "delete":
        return c.delete_volume(ctx["src"])
    if op == "expand":
        return c.expand(ctx["src"], 48 * MIB)
    if op == "snapshot":
        return c.create_snapshot("snap-new", ctx["src"])
    if op == "snapdelete":
        return c.delete_snapshot(ctx["snap"])
    raise ValueError(op)


def check_result(env, c, pool, op, ctx, res):
    """What the retried op must have done."""
    backend = env.backend(pool)
    if op in ("create", "restore", "clone"):
        path = volume_path(env, pool, res.volume_id)
        assert os.path.lexists(path), f"{op}: {res.volume_id} has no object"
        want = 20 * MIB if op == "create" else 16 * MIB
        if backend != "dir":
            assert res.capacity_bytes == want
            assert object_size(env, pool, res.volume_id) == want
        if op != "create":
            assert content_sha(env, pool, path) == ctx["sha"], f"{op}: wrong content"
    elif op == "delete":
        assert not os.path.lexists(volume_path(env, pool, ctx["src"]))
        code, details, _ = c.code(c.get_volume, ctx["src"])
        assert code == grpc.StatusCode.NOT_FOUND, details
    elif op == "expand":
        assert res.capacity_bytes == 48 * MIB
        assert c.get_volume(ctx["src"]).volume.capacity_bytes == 48 * MIB
        if backend != "dir":
            assert object_size(env, pool, ctx["src"]) == 48 * MIB
    elif op == "snapshot":
        assert res.ready_to_use and res.source_volume_id == ctx["src"]
        path = snapshot_path(env, pool, res.snapshot_id)
        assert os.path.lexists(path), f"snapshot {res.snapshot_id} has no object"
        assert content_sha(env, pool, path) == ctx["sha"]
    elif op == "snapdelete":
        assert not os.path.lexists(snapshot_path(env, pool, ctx["snap"]))
        assert ctx["snap"] not in {e.snapshot.snapshot_id for e in c.list_snapshots()}


def scenario_param(point, backend, op):
    marks = []
    if (point, backend, op) in KNOWN_BUGS:
        marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[(point, backend, op)]))
    return pytest.param(point, backend, op, marks=marks, id=f"{point}-{backend}-{op}")


@pytest.fixture
def env(driver_factory, xfs_fs, btrfs_fs, tmp_path):
    e = PoolEnv(driver_factory, xfs_fs, btrfs_fs, tmp_path)
    try:
        yield e
    finally:
        e.close()


@pytest.mark.parametrize("point,backend,op", [scenario_param(*s) for s in SCENARIOS])
def test_crash_point(env, csi, point, backend, op):
    pool = POOL_OF[backend]

    # 1. set up with a normal driver
    env.start()
    c = env.csi(csi)
    ctx, keep = setup_for(c, env, pool, op)
    assert check_invariants(env, c, pool, keep) == []
    assert env.stop() == 0, env.driver.describe()

    # 2. the armed driver dies at the crash point
    armed = env.start(env={"DYNVOL_CRASHPOINT": point})
    c = env.csi(csi)
    code, details, _ = c.code(do_op, c, pool, op, ctx)
    assert code != grpc.StatusCode.OK, f"{op} on {backend} finished without reaching {point}"
    rc = armed.wait_exit(10)
    assert rc == -9, f"expected death by SIGKILL at {point}, got {rc}: " + armed.describe()
    assert f"crash point reached: {point}" in armed.stderr(), armed.describe()
    armed.close_channels()

    # 3. restart without the variable: recovery
    env.start()
    c = env.csi(csi)
    problems = check_invariants(env, c, pool, keep)
    assert not problems, f"after recovery from {point}: {problems}\n" + env.driver.describe()

    # 4. the retried call succeeds and did its job
    res = do_op(c, pool, op, ctx)
    check_result(env, c, pool, op, ctx, res)
    problems = check_invariants(env, c, pool, keep)
    assert not problems, f"after retrying {op}: {problems}"

    # 5. everything can be deleted, and nothing is left
    for e in c.list_snapshots():
        c.delete_snapshot(e.snapshot.snapshot_id)
    for e in c.list_volumes():
        c.delete_volume(e.volume.volume_id)
    for p, b in POOLS.items():
        assert pool_objects(b, env.roots[p]) == (set(), set(), []), p
    assert env.registry_rows("SELECT COUNT(*) FROM operations") == [(0,)]
    assert env.stop() == 0, env.driver.describe()

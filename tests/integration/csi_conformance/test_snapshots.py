"""CreateSnapshot, DeleteSnapshot, ListSnapshots, and volumes made from
snapshots and volumes (spec.md sections and error tables; content checks
on dynvol's dir pool)."""

import os

import pytest

from .helpers import (ABORTED, ALREADY_EXISTS, FAILED_PRECONDITION, INVALID_ARGUMENT, MIB,
                      NOT_FOUND, OK, OUT_OF_RANGE, RESOURCE_EXHAUSTED, tree_digest,
                      tree_files, unique, write_tree)


@pytest.fixture
def sn(endpoint):
    endpoint.require("CREATE_DELETE_VOLUME", "CREATE_DELETE_SNAPSHOT")
    return endpoint


def listed_snapshot(ep, snapshot_id):
    if "LIST_SNAPSHOTS" not in ep.controller_caps():
        return None
    resp = ep.call("ListSnapshots", snapshot_id=snapshot_id)
    assert len(resp.entries) <= 1
    return resp.entries[0].snapshot if resp.entries else None


# ---------------------------------------------------------------------------
# CreateSnapshot


def test_create_snapshot_success(sn):
    vol = sn.create_volume(required=MIB)
    name = unique("snap")
    snap = sn.call("CreateSnapshot", name=name, source_volume_id=vol.volume_id).snapshot
    assert snap.snapshot_id
    assert snap.source_volume_id == vol.volume_id      # REQUIRED
    assert snap.HasField("creation_time")               # REQUIRED
    assert snap.creation_time.seconds > 0
    assert snap.size_bytes >= 0
    # synchronous cut, no post-processing: 'ready_to_use ... SHOULD be true'
    assert snap.ready_to_use
    if snap.size_bytes and vol.capacity_bytes:
        # 'The size of the volume MUST NOT be less than the size of the
        # source snapshot' -- a snapshot of a volume is not larger than it
        assert snap.size_bytes <= vol.capacity_bytes
    listed = listed_snapshot(sn, snap.snapshot_id)
    if listed is not None:
        assert listed == snap


def test_create_snapshot_idempotent(sn):
    """'If a snapshot corresponding to the specified snapshot name is
    successfully cut and ready to use ..., the Plugin MUST reply 0 OK with
    the corresponding CreateSnapshotResponse.'"""
    vol = sn.create_volume()
    name = unique("snap")
    a = sn.create_snapshot(vol.volume_id, name=name)
    b = sn.create_snapshot(vol.volume_id, name=name)
    assert a == b
    if "LIST_SNAPSHOTS" in sn.controller_caps():
        assert sn.snapshot_ids(source_volume_id=vol.volume_id).count(a.snapshot_id) == 1


def test_create_snapshot_missing_name(sn):
    vol = sn.create_volume()
    sn.expect(INVALID_ARGUMENT, "CreateSnapshot", source_volume_id=vol.volume_id)


def test_create_snapshot_missing_source_volume_id(sn):
    sn.expect(INVALID_ARGUMENT, "CreateSnapshot", name=unique("snap"))


def test_create_snapshot_already_exists_for_other_volume(sn):
    """'Snapshot already exists but is incompatible | 6 ALREADY_EXISTS'."""
    a, b = sn.create_volume(), sn.create_volume()
    name = unique("snap")
    sn.create_snapshot(a.volume_id, name=name)
    sn.expect(ALREADY_EXISTS, "CreateSnapshot", name=name, source_volume_id=b.volume_id)


def test_create_snapshot_already_exists_for_unknown_volume(sn):
    a = sn.create_volume()
    name = unique("snap")
    sn.create_snapshot(a.volume_id, name=name)
    sn.expect(ALREADY_EXISTS, "CreateSnapshot", name=name,
              source_volume_id=sn.deleted_volume_id())


def test_create_snapshot_source_not_found(sn):
    sn.expect(NOT_FOUND, "CreateSnapshot", name=unique("snap"),
              source_volume_id=sn.deleted_volume_id())
    sn.expect(NOT_FOUND, "CreateSnapshot", name=unique("snap"),
              source_volume_id="no-such-volume")


@pytest.mark.dynvol
def test_create_snapshot_unknown_parameter(sn):
    details = sn.expect(INVALID_ARGUMENT, "CreateSnapshot", name=unique("snap"),
                        source_volume_id=sn.create_volume().volume_id,
                        parameters={"retention": "7d"})
    assert "retention" in details


@pytest.mark.dynvol
def test_create_snapshot_kubernetes_parameters_accepted(sn):
    vol = sn.create_volume()
    params = {"csi.storage.k8s.io/volumesnapshot/name": "snap-1",
              "csi.storage.k8s.io/volumesnapshot/namespace": "team-a",
              "csi.storage.k8s.io/volumesnapshotcontent/name": "snapcontent-1"}
    name = unique("snap")
    a = sn.create_snapshot(vol.volume_id, name=name, parameters=params)
    assert sn.create_snapshot(vol.volume_id, name=name, parameters=params) == a


@pytest.mark.dynvol
def test_create_snapshot_not_enough_space(sn):
    """'Not enough space to create snapshot | 8 RESOURCE_EXHAUSTED'. The dir
    pool reserves a snapshot's full size; a volume as large as all the free
    space, plus a few MiB written, leaves no room for its snapshot."""
    cap = sn.call("GetCapacity", volume_capabilities=[sn.mount_cap()])
    # a margin against other writers on the shared file system between the
    # calls, and a filler larger than the margin
    size = cap.maximum_volume_size.value - 128 * MIB
    assert size > 0
    vol = sn.create_volume(required=size)
    with open(sn.volume_dir(vol.volume_id) / "filler", "wb") as f:
        chunk = b"\xa5" * (16 * MIB)
        for _ in range(12):
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())
    sn.expect(RESOURCE_EXHAUSTED, "CreateSnapshot", name=unique("snap"),
              source_volume_id=vol.volume_id)
    assert os.listdir(sn.pool_root / "snapshots") == []


# ---------------------------------------------------------------------------
# DeleteSnapshot


def test_delete_snapshot_success(sn):
    vol = sn.create_volume()
    snap = sn.create_snapshot(vol.volume_id)
    sn.expect(OK, "DeleteSnapshot", snapshot_id=snap.snapshot_id)
    if "LIST_SNAPSHOTS" in sn.controller_caps():
        assert listed_snapshot(sn, snap.snapshot_id) is None
        assert snap.snapshot_id not in sn.snapshot_ids()
    sn.expect(NOT_FOUND, "CreateVolume", name=unique(),
              volume_capabilities=[sn.mount_cap()],
              volume_content_source=sn.snapshot_source(snap.snapshot_id))


def test_delete_snapshot_idempotent(sn):
    """'If a snapshot corresponding to the specified snapshot_id does not
    exist ..., the Plugin MUST reply 0 OK.'"""
    vol = sn.create_volume()
    snap = sn.create_snapshot(vol.volume_id)
    sn.expect(OK, "DeleteSnapshot", snapshot_id=snap.snapshot_id)
    sn.expect(OK, "DeleteSnapshot", snapshot_id=snap.snapshot_id)


@pytest.mark.parametrize("sid", ["no-such-snapshot", "snap-00000000000000000000000000000000"])
def test_delete_snapshot_unknown_id(sn, sid):
    sn.expect(OK, "DeleteSnapshot", snapshot_id=sid)


def test_delete_snapshot_missing_snapshot_id(sn):
    sn.expect(INVALID_ARGUMENT, "DeleteSnapshot")


def test_delete_snapshot_used_by_a_restored_volume(sn):
    """dynvol's copies are independent: the restored volume outlives its
    snapshot (otherwise: 'Snapshot in use | 9 FAILED_PRECONDITION')."""
    vol = sn.create_volume()
    snap = sn.create_snapshot(vol.volume_id)
    restored = sn.create_volume(volume_content_source=sn.snapshot_source(snap.snapshot_id))
    code, details, _ = sn.try_call("DeleteSnapshot", snapshot_id=snap.snapshot_id)
    if sn.external:
        assert code in (OK, FAILED_PRECONDITION), (code, details)
    else:
        assert code == OK, details
        assert sn.volume_dir(restored.volume_id).is_dir()
        assert not sn.snapshot_dir(snap.snapshot_id).exists()


@pytest.mark.dynvol
def test_delete_snapshot_removes_its_copy(sn):
    vol = sn.create_volume()
    snap = sn.create_snapshot(vol.volume_id)
    assert sn.snapshot_dir(snap.snapshot_id).is_dir()
    sn.call("DeleteSnapshot", snapshot_id=snap.snapshot_id)
    assert not sn.snapshot_dir(snap.snapshot_id).exists()


# ---------------------------------------------------------------------------
# ListSnapshots


@pytest.fixture
def ls(sn):
    sn.require("LIST_SNAPSHOTS")
    return sn


def test_list_snapshots_success(ls):
    v1, v2 = ls.create_volume(), ls.create_volume()
    s1 = ls.create_snapshot(v1.volume_id)
    s2 = ls.create_snapshot(v1.volume_id)
    s3 = ls.create_snapshot(v2.volume_id)
    entries, _ = ls.walk("ListSnapshots")
    by_id = {e.snapshot.snapshot_id: e.snapshot for e in entries}
    for s in (s1, s2, s3):
        assert by_id[s.snapshot_id] == s


def test_list_snapshots_by_source_volume(ls):
    v1, v2 = ls.create_volume(), ls.create_volume()
    s1 = ls.create_snapshot(v1.volume_id)
    s2 = ls.create_snapshot(v1.volume_id)
    ls.create_snapshot(v2.volume_id)
    entries, _ = ls.walk("ListSnapshots", source_volume_id=v1.volume_id)
    assert sorted(e.snapshot.snapshot_id for e in entries) == \
        sorted([s1.snapshot_id, s2.snapshot_id])
    assert all(e.snapshot.source_volume_id == v1.volume_id for e in entries)


def test_list_snapshots_by_snapshot_id(ls):
    vol = ls.create_volume()
    s1 = ls.create_snapshot(vol.volume_id)
    ls.create_snapshot(vol.volume_id)
    resp = ls.call("ListSnapshots", snapshot_id=s1.snapshot_id)
    assert [e.snapshot for e in resp.entries] == [s1]
    assert resp.next_token == ""
    # both filters, matching and not matching
    resp = ls.call("ListSnapshots", snapshot_id=s1.snapshot_id,
                   source_volume_id=vol.volume_id)
    assert [e.snapshot.snapshot_id for e in resp.entries] == [s1.snapshot_id]
    other = ls.create_volume()
    resp = ls.call("ListSnapshots", snapshot_id=s1.snapshot_id,
                   source_volume_id=other.volume_id)
    assert list(resp.entries) == []


@pytest.mark.parametrize("field", ["snapshot_id", "source_volume_id"])
def test_list_snapshots_unknown_filter_is_empty_not_error(ls, field):
    vol = ls.create_volume()
    ls.create_snapshot(vol.volume_id)
    well_formed = ("snap-00000000000000000000000000000000" if field == "snapshot_id"
                   else "vol-00000000000000000000000000000000")
    for value in ("no-such-object", well_formed):
        resp = ls.call("ListSnapshots", **{field: value})
        assert list(resp.entries) == [], resp


def test_list_snapshots_max_entries(ls):
    vol = ls.create_volume()
    mine = {ls.create_snapshot(vol.volume_id).snapshot_id for _ in range(5)}
    entries, pages = ls.walk("ListSnapshots", max_entries=2)
    assert all(len(p.entries) <= 2 for p in pages)
    assert all(p.next_token for p in pages[:-1])
    ids = [e.snapshot.snapshot_id for e in entries]
    assert len(ids) == len(set(ids))
    assert mine <= set(ids)
    entries, pages = ls.walk("ListSnapshots", max_entries=2, source_volume_id=vol.volume_id)
    assert sorted(e.snapshot.snapshot_id for e in entries) == sorted(mine)
    if not ls.external:
        assert [len(p.entries) for p in pages] == [2, 2, 1]


def test_list_snapshots_negative_max_entries(ls):
    ls.expect(INVALID_ARGUMENT, "ListSnapshots", max_entries=-1)


@pytest.mark.parametrize("token", ["not-a-token", "-1", "99999999999"])
def test_list_snapshots_invalid_starting_token(ls, token):
    """'Invalid starting_token | 10 ABORTED'."""
    vol = ls.create_volume()
    ls.create_snapshot(vol.volume_id)
    ls.expect(ABORTED, "ListSnapshots", max_entries=1, starting_token=token)


def test_list_snapshots_idempotent(ls):
    vol = ls.create_volume()
    for _ in range(3):
        ls.create_snapshot(vol.volume_id)
    assert ls.call("ListSnapshots", max_entries=2) == ls.call("ListSnapshots", max_entries=2)


def test_snapshot_outlives_its_source_volume(ls):
    """DeleteVolume: 'If the Controller Plugin supports deleting a volume
    without affecting its existing snapshots, then these snapshots MUST still
    be fully operational and acceptable as sources for new volumes as well as
    appear on ListSnapshot calls once the volume has been deleted.'"""
    vol = ls.create_volume()
    snap = ls.create_snapshot(vol.volume_id)
    code, details, _ = ls.try_call("DeleteVolume", volume_id=vol.volume_id)
    if code != OK:
        pytest.skip(f"the plugin keeps volumes with snapshots ({code.name}: {details})")
    assert listed_snapshot(ls, snap.snapshot_id) == snap
    assert snap.snapshot_id in ls.snapshot_ids(source_volume_id=vol.volume_id)
    restored = ls.create_volume(volume_content_source=ls.snapshot_source(snap.snapshot_id))
    assert restored.content_source.snapshot.snapshot_id == snap.snapshot_id


# ---------------------------------------------------------------------------
# volumes from snapshots and volumes


def test_restore_from_snapshot(sn):
    vol = sn.create_volume(required=MIB)
    snap = sn.create_snapshot(vol.volume_id)
    name = unique("restore")
    src = sn.snapshot_source(snap.snapshot_id)
    r = sn.create_volume(name=name, volume_content_source=src)
    # Volume.content_source: 'If specified, indicates that the volume is not
    # empty and is pre-populated with data from the specified source.'
    assert r.content_source.snapshot.snapshot_id == snap.snapshot_id
    if r.capacity_bytes and snap.size_bytes:
        assert r.capacity_bytes >= snap.size_bytes
    again = sn.create_volume(name=name, volume_content_source=src)
    assert again.volume_id == r.volume_id
    if "GET_VOLUME" in sn.controller_caps():
        got = sn.call("ControllerGetVolume", volume_id=r.volume_id).volume
        assert got.content_source == r.content_source
        assert dict(got.volume_context) == dict(r.volume_context)


def test_clone_from_volume(sn):
    sn.require("CLONE_VOLUME")
    vol = sn.create_volume(required=MIB)
    name = unique("clone")
    src = sn.volume_source(vol.volume_id)
    c = sn.create_volume(name=name, volume_content_source=src)
    assert c.content_source.volume.volume_id == vol.volume_id
    if c.capacity_bytes and vol.capacity_bytes:
        assert c.capacity_bytes >= vol.capacity_bytes
    assert sn.create_volume(name=name, volume_content_source=src).volume_id == c.volume_id


def test_restore_larger_than_snapshot(sn):
    """'the Plugin can either refuse such a call with OUT_OF_RANGE error or
    MUST provide a volume that ... has both the requested (larger) size and
    contains data from the snapshot'."""
    vol = sn.create_volume(required=MIB)
    snap = sn.create_snapshot(vol.volume_id)
    code, details, resp = sn.try_call(
        "CreateVolume", name=unique(), volume_capabilities=[sn.mount_cap()],
        capacity_range=sn.csi.CapacityRange(required_bytes=8 * MIB),
        volume_content_source=sn.snapshot_source(snap.snapshot_id))
    assert code in (OK, OUT_OF_RANGE), (code, details)
    if code == OK and resp.volume.capacity_bytes:
        assert resp.volume.capacity_bytes >= 8 * MIB


@pytest.mark.dynvol
def test_restore_and_clone_content_on_dir_pool(sn):
    """Write files into the source, snapshot, change the source; a restore
    has the old content, a clone the current content (sha256 of the trees)."""
    vol = sn.create_volume(required=MIB)
    src_dir = sn.volume_dir(vol.volume_id)
    old = {"a.txt": b"first version\n",
           "sub/b.bin": os.urandom(256 * 1024),
           "sub/deeper/c.txt": b"unchanged\n",
           "gone.txt": b"deleted after the snapshot\n"}
    write_tree(src_dir, old)
    os.chmod(src_dir / "a.txt", 0o640)
    old_digest = tree_digest(src_dir)

    snap = sn.create_snapshot(vol.volume_id)
    assert tree_digest(sn.snapshot_dir(snap.snapshot_id)) == old_digest

    (src_dir / "a.txt").write_bytes(b"second version\n")
    (src_dir / "gone.txt").unlink()
    write_tree(src_dir, {"new/d.txt": b"added after the snapshot\n"})
    new_digest = tree_digest(src_dir)
    assert new_digest != old_digest

    restored = sn.create_volume(volume_content_source=sn.snapshot_source(snap.snapshot_id))
    r_dir = sn.volume_dir(restored.volume_id)
    assert tree_digest(r_dir) == old_digest, (tree_files(r_dir), tree_files(src_dir))
    assert (r_dir / "a.txt").read_bytes() == b"first version\n"
    assert (r_dir / "gone.txt").exists() and not (r_dir / "new").exists()

    clone = sn.create_volume(volume_content_source=sn.volume_source(vol.volume_id))
    c_dir = sn.volume_dir(clone.volume_id)
    assert tree_digest(c_dir) == new_digest

    # the copies are independent of each other and of the source
    (r_dir / "a.txt").write_bytes(b"changed in the restore\n")
    (c_dir / "a.txt").write_bytes(b"changed in the clone\n")
    assert tree_digest(src_dir) == new_digest
    assert tree_digest(sn.snapshot_dir(snap.snapshot_id)) == old_digest

    # the snapshot still restores the old content after the source is gone
    sn.delete_volume(vol.volume_id)
    again = sn.create_volume(volume_content_source=sn.snapshot_source(snap.snapshot_id))
    assert tree_digest(sn.volume_dir(again.volume_id)) == old_digest

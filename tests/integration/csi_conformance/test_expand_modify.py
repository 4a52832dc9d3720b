"""ControllerExpandVolume and ControllerModifyVolume (spec.md sections and
error tables)."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from .helpers import (FAILED_PRECONDITION, INVALID_ARGUMENT, MIB, NOT_FOUND, OK,
                      OUT_OF_RANGE, RESOURCE_EXHAUSTED, unique)


@pytest.fixture
def ex(endpoint):
    endpoint.require("CREATE_DELETE_VOLUME", "EXPAND_VOLUME")
    return endpoint


def expand(ep, volume_id, required=0, limit=0, **kw):
    return ep.call("ControllerExpandVolume", volume_id=volume_id,
                   capacity_range=ep.csi.CapacityRange(required_bytes=required,
                                                       limit_bytes=limit), **kw)


# ---------------------------------------------------------------------------
# ControllerExpandVolume


def test_expand_success(ex):
    vol = ex.create_volume(required=MIB)
    resp = expand(ex, vol.volume_id, required=4 * MIB)
    assert resp.capacity_bytes >= 4 * MIB          # 'This field is REQUIRED.'
    if "GET_VOLUME" in ex.controller_caps():
        got = ex.call("ControllerGetVolume", volume_id=vol.volume_id).volume
        assert got.capacity_bytes == resp.capacity_bytes
    if "LIST_VOLUMES" in ex.controller_caps():
        entries, _ = ex.walk("ListVolumes")
        assert [e.volume.capacity_bytes for e in entries
                if e.volume.volume_id == vol.volume_id] == [resp.capacity_bytes]


def test_expand_idempotent(ex):
    """'If a volume corresponding to the specified volume ID is already
    larger than or equal to the target capacity of the expansion request,
    the plugin SHOULD reply 0 OK.'"""
    vol = ex.create_volume(required=MIB)
    a = expand(ex, vol.volume_id, required=4 * MIB)
    b = expand(ex, vol.volume_id, required=4 * MIB)
    assert a.capacity_bytes == b.capacity_bytes
    assert a.node_expansion_required == b.node_expansion_required


def test_expand_to_smaller_size_is_ok(ex):
    vol = ex.create_volume(required=4 * MIB)
    resp = expand(ex, vol.volume_id, required=MIB)
    assert resp.capacity_bytes >= max(vol.capacity_bytes, MIB)


@pytest.mark.dynvol
def test_expand_dir_volume_needs_no_node_expansion(ex):
    vol = ex.create_volume(required=MIB)
    resp = expand(ex, vol.volume_id, required=2 * MIB)
    assert resp.capacity_bytes == 2 * MIB
    assert resp.node_expansion_required is False


def test_expand_missing_volume_id(ex):
    ex.expect(INVALID_ARGUMENT, "ControllerExpandVolume",
              capacity_range=ex.csi.CapacityRange(required_bytes=MIB))


def test_expand_missing_capacity_range(ex):
    """capacity_range: 'This field is REQUIRED.'"""
    vol = ex.create_volume()
    ex.expect(INVALID_ARGUMENT, "ControllerExpandVolume", volume_id=vol.volume_id)


def test_expand_negative_capacity(ex):
    vol = ex.create_volume()
    ex.expect(INVALID_ARGUMENT, "ControllerExpandVolume", volume_id=vol.volume_id,
              capacity_range=ex.csi.CapacityRange(required_bytes=-MIB))


def test_expand_volume_not_found(ex):
    """'Volume does not exist | 5 NOT_FOUND'."""
    ex.expect(NOT_FOUND, "ControllerExpandVolume", volume_id=ex.deleted_volume_id(),
              capacity_range=ex.csi.CapacityRange(required_bytes=MIB))
    ex.expect(NOT_FOUND, "ControllerExpandVolume", volume_id="no-such-volume",
              capacity_range=ex.csi.CapacityRange(required_bytes=MIB))


def test_expand_limit_below_current_size_out_of_range(ex):
    """'Unsupported capacity_range | 11 OUT_OF_RANGE'."""
    vol = ex.create_volume(required=4 * MIB)
    if not vol.capacity_bytes:
        pytest.skip("the volume's capacity is unknown")
    ex.expect(OUT_OF_RANGE, "ControllerExpandVolume", volume_id=vol.volume_id,
              capacity_range=ex.csi.CapacityRange(required_bytes=MIB,
                                                  limit_bytes=vol.capacity_bytes - 1))


def test_expand_limit_below_required(ex):
    vol = ex.create_volume(required=MIB)
    ex.expect_one_of((INVALID_ARGUMENT, OUT_OF_RANGE), "ControllerExpandVolume",
                     volume_id=vol.volume_id,
                     capacity_range=ex.csi.CapacityRange(required_bytes=8 * MIB,
                                                         limit_bytes=4 * MIB))


def test_expand_beyond_capacity(ex):
    vol = ex.create_volume(required=MIB)
    ex.expect_one_of((OUT_OF_RANGE, RESOURCE_EXHAUSTED), "ControllerExpandVolume",
                     volume_id=vol.volume_id,
                     capacity_range=ex.csi.CapacityRange(required_bytes=1 << 62))
    if "GET_VOLUME" in ex.controller_caps():
        got = ex.call("ControllerGetVolume", volume_id=vol.volume_id).volume
        assert got.capacity_bytes == vol.capacity_bytes


def test_expand_published_volume_without_online_expansion(ex):
    """ControllerExpandVolume Errors: 'Volume in use | 9 FAILED_PRECONDITION |
    Indicates that the volume corresponding to the specified volume_id could
    not be expanded because it is currently published on a node but the
    plugin does not have ONLINE expansion capability.'"""
    ex.require("PUBLISH_UNPUBLISH_VOLUME")
    vol = ex.create_volume(required=MIB)
    ex.publish(vol.volume_id)
    want = OK if "VolumeExpansion.ONLINE" in ex.plugin_caps() else FAILED_PRECONDITION
    ex.expect(want, "ControllerExpandVolume", volume_id=vol.volume_id,
              capacity_range=ex.csi.CapacityRange(required_bytes=2 * MIB))


def test_expand_unpublished_volume_with_offline_expansion(ex):
    """After ControllerUnpublishVolume, expansion works whatever the mode."""
    ex.require("PUBLISH_UNPUBLISH_VOLUME")
    vol = ex.create_volume(required=MIB)
    ex.publish(vol.volume_id)
    ex.unpublish(vol.volume_id)
    assert expand(ex, vol.volume_id, required=2 * MIB).capacity_bytes >= 2 * MIB


@pytest.mark.dynvol
@pytest.mark.parametrize("capname", ["multi-node", "block"])
def test_expand_with_capability_the_volume_does_not_have(ex, capname):
    """ControllerExpandVolume Errors: 'Exceeds capabilities | 3
    INVALID_ARGUMENT | Indicates that the CO has specified capabilities not
    supported by the volume.'"""
    vol = ex.create_volume(required=MIB)
    cap = ex.mount_cap("MULTI_NODE_MULTI_WRITER") if capname == "multi-node" else ex.block_cap()
    ex.expect(INVALID_ARGUMENT, "ControllerExpandVolume", volume_id=vol.volume_id,
              capacity_range=ex.csi.CapacityRange(required_bytes=2 * MIB),
              volume_capability=cap)


def test_expand_with_the_volumes_own_capability(ex):
    vol = ex.create_volume(required=MIB)
    resp = expand(ex, vol.volume_id, required=2 * MIB, volume_capability=ex.mount_cap())
    assert resp.capacity_bytes >= 2 * MIB


# ---------------------------------------------------------------------------
# ControllerModifyVolume


@pytest.fixture
def mv(endpoint):
    endpoint.require("CREATE_DELETE_VOLUME", "MODIFY_VOLUME")
    return endpoint


def test_modify_missing_volume_id(mv):
    mv.expect(INVALID_ARGUMENT, "ControllerModifyVolume",
              mutable_parameters={"compression": "zstd"})


# An empty mutable_parameters map is a no-op, not a missing field: see
# test_error_order.py (test_modify_with_empty_mutable_parameters_*).


def test_modify_unknown_parameter(mv):
    """'Parameters not supported | 3 INVALID_ARGUMENT'."""
    vol = mv.create_volume()
    mv.expect(INVALID_ARGUMENT, "ControllerModifyVolume", volume_id=vol.volume_id,
              mutable_parameters={"no-such-mutable-parameter": "1"})


def test_modify_volume_not_found(mv):
    """'Volume does not exist | 5 NOT_FOUND'."""
    vid = mv.deleted_volume_id()
    req = mv.request("ControllerModifyVolume", volume_id=vid,
                     mutable_parameters={"compression": "zstd"})
    if mv.external:  # the key may be unknown to another plugin
        mv.expect_one_of((NOT_FOUND, INVALID_ARGUMENT), "ControllerModifyVolume", req)
    else:
        mv.expect(NOT_FOUND, "ControllerModifyVolume", req)
        mv.expect(NOT_FOUND, "ControllerModifyVolume", volume_id="no-such-volume",
                  mutable_parameters={"compression": "zstd"})


@pytest.mark.dynvol
def test_modify_dir_volume_has_no_mutable_parameters(mv):
    """'Parameters not supported | 3 INVALID_ARGUMENT | Indicates that the CO
    has specified mutable parameters not supported by the volume.'"""
    vol = mv.create_volume()
    mv.expect(INVALID_ARGUMENT, "ControllerModifyVolume", volume_id=vol.volume_id,
              mutable_parameters={"compression": "zstd"})


# ---- success needs a pool with mutable parameters: btrfs on a loop device


@pytest.fixture(scope="module")
def btrfs_root(request):
    from .conftest import _external
    if _external(request.config):
        pytest.skip("dynvol-specific")
    if os.geteuid() != 0 or not os.path.exists("/dev/loop-control") or \
            not shutil.which("mkfs.btrfs") or not shutil.which("btrfs"):
        pytest.skip("needs root, loop devices and btrfs-progs")
    base = Path(tempfile.mkdtemp(prefix="dvt-conf-btrfs-", dir="/tmp"))
    image, mnt = base / "fs.img", base / "mnt"
    mnt.mkdir()
    with open(image, "wb") as f:
        f.truncate(512 * MIB)
    subprocess.run(["mkfs.btrfs", "-q", "-f", str(image)], check=True,
                   capture_output=True)
    mounted = subprocess.run(["mount", "-o", "loop", str(image), str(mnt)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"cannot mount a btrfs loop image: {mounted.stderr.strip()}")
    try:
        yield mnt
    finally:
        for sub in sorted(mnt.rglob("*"), key=lambda p: len(str(p)), reverse=True):
            if sub.is_dir():
                subprocess.run(["btrfs", "property", "set", "-ts", str(sub), "ro", "false"],
                               capture_output=True)
        subprocess.run(["umount", str(mnt)], capture_output=True)
        if subprocess.run(["findmnt", str(mnt)], capture_output=True).returncode == 0:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def btrfs_ep(request, csi, btrfs_root, driver_factory, tmp_path):
    """Our driver with one btrfs pool named default (fresh root per test)."""
    from .helpers import Endpoint
    root = btrfs_root / unique("pool")
    root.mkdir()
    cfg = tmp_path / "btrfs.yaml"
    cfg.write_text('{"pools": [{"name": "default", "backend": "btrfs", '
                   f'"root": "{root}"}}]}}')
    drv = driver_factory(node_id="node-under-test", extra_args=["--config", str(cfg)])
    ep = Endpoint(csi, drv.target, "node-under-test", driver=drv)
    ep.btrfs_pool_root = root
    yield ep
    ep.cleanup()
    drv.close_channels()
    drv.stop()
    # delete what the test left (subvolumes) before the next test
    for sub in ("volumes", "snapshots"):
        d = root / sub
        if d.exists():
            for p in d.iterdir():
                subprocess.run(["btrfs", "property", "set", "-ts", str(p), "ro", "false"],
                               capture_output=True)
                subprocess.run(["btrfs", "subvolume", "delete", str(p)], capture_output=True)


def btrfs_compression(path):
    res = subprocess.run(["btrfs", "property", "get", str(path), "compression"],
                         capture_output=True, text=True)
    out = res.stdout.strip()
    return out.split("=", 1)[1] if "=" in out else ""


@pytest.mark.dynvol
def test_modify_success_on_btrfs(btrfs_ep):
    ep = btrfs_ep
    vol = ep.create_volume(required=32 * MIB, parameters={"compression": "lzo"})
    path = ep.btrfs_pool_root / "volumes" / vol.volume_id
    assert btrfs_compression(path) == "lzo"
    req = ep.request("ControllerModifyVolume", volume_id=vol.volume_id,
                     mutable_parameters={"compression": "zstd"})
    ep.expect(OK, "ControllerModifyVolume", req)
    assert btrfs_compression(path) == "zstd"
    # 'This operation MUST be idempotent.'
    ep.expect(OK, "ControllerModifyVolume", req)
    assert btrfs_compression(path) == "zstd"
    ep.expect(INVALID_ARGUMENT, "ControllerModifyVolume", volume_id=vol.volume_id,
              mutable_parameters={"compression": "gzip"})
    assert btrfs_compression(path) == "zstd"


@pytest.mark.dynvol
def test_create_volume_applies_mutable_parameters_on_btrfs(btrfs_ep):
    """CreateVolumeRequest.mutable_parameters: 'Plugins MUST treat these as
    if they take precedence over the parameters field.'"""
    ep = btrfs_ep
    vol = ep.create_volume(required=32 * MIB, parameters={"compression": "lzo"},
                           mutable_parameters={"compression": "zstd"})
    path = ep.btrfs_pool_root / "volumes" / vol.volume_id
    assert btrfs_compression(path) == "zstd"

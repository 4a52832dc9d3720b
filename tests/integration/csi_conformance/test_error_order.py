"""Which error wins: "does the object exist" before the form of other fields.

The spec's error tables list NOT_FOUND for a volume (or node, or source)
that does not exist. A request that names such an object must get that
answer even when another field is malformed (a relative path, a capability
without an access mode, a negative size, an unknown parameter): the CO's
recovery for NOT_FOUND ("verify that the volume_id is correct") is not the
one for INVALID_ARGUMENT ("fix the request"), and csi-sanity asks
NodeGetVolumeStats about `some/path` on purpose. What comes first is only
the presence of REQUIRED fields (the Error Scheme's "missing required
field"): csi-sanity sends a made-up volume_id with a missing path and wants
INVALID_ARGUMENT.

NodeUnstageVolume and NodeUnpublishVolume are idempotent: a volume that is
not staged or published there answers OK (dynvol) or NOT_FOUND (the table),
never INVALID_ARGUMENT for the shape of a path nothing was ever mounted at.

ControllerModifyVolume with an empty mutable_parameters map is a no-op on
a volume that exists, NOT_FOUND on one that does not.
"""

import os

import pytest

from .helpers import (INVALID_ARGUMENT, NOT_FOUND, OK, MIB, unique)

# paths of every odd shape; none can be where a volume is available
ODD_PATHS = ["some/path", "relative", "/no/such/dir/anywhere", "/tmp/x/../y", "/tmp//y",
             "/tmp/y/"]


@pytest.fixture
def node(endpoint):
    """The endpoint, when it serves the Node service."""
    code, details, _ = endpoint.try_call("NodeGetCapabilities")
    if code != OK:
        pytest.skip(f"the endpoint serves no Node service ({code.name}: {details})")
    return endpoint


def stats_cap_reported(ep):
    resp = ep.call("NodeGetCapabilities")
    T = ep.csi.NodeServiceCapability.RPC.Type
    return any(c.rpc.type == T.Value("GET_VOLUME_STATS") for c in resp.capabilities)


def no_such_volume(ep):
    """A volume ID that names nothing: one that existed (any driver's ID
    scheme) when the endpoint has a Controller, else a made-up one."""
    if "CREATE_DELETE_VOLUME" in ep.controller_caps():
        return ep.deleted_volume_id()
    return "no-such-volume-" + unique()


# ---------------------------------------------------------------------------
# NodeGetVolumeStats


@pytest.mark.parametrize("path", ODD_PATHS)
def test_stats_of_unknown_volume_is_not_found_whatever_the_path(node, path):
    """NodeGetVolumeStats errors: 'Volume does not exist | 5 NOT_FOUND |
    Indicates that a volume corresponding to the specified volume_id does
    not exist on specified volume_path.' (csi-sanity: volume "id" at
    "some/path")."""
    if not stats_cap_reported(node):
        pytest.skip("GET_VOLUME_STATS not reported")
    node.expect(NOT_FOUND, "NodeGetVolumeStats", volume_id=no_such_volume(node),
                volume_path=path)


@pytest.mark.parametrize("path", ["some/path", "/no/such/dir/anywhere"])
def test_stats_of_known_volume_where_it_is_not_is_not_found(node, path):
    """A volume that exists but is not staged or published at volume_path
    does not exist *there*: NOT_FOUND, not INVALID_ARGUMENT for the path."""
    if not stats_cap_reported(node):
        pytest.skip("GET_VOLUME_STATS not reported")
    node.require("CREATE_DELETE_VOLUME")
    vol = node.create_volume()
    node.expect(NOT_FOUND, "NodeGetVolumeStats", volume_id=vol.volume_id, volume_path=path)


def test_stats_required_fields_come_first(node):
    """Missing required fields are INVALID_ARGUMENT even for a volume that
    does not exist (csi-sanity's 'no volume path' case sends volume "id")."""
    if not stats_cap_reported(node):
        pytest.skip("GET_VOLUME_STATS not reported")
    node.expect(INVALID_ARGUMENT, "NodeGetVolumeStats", volume_path="/some/path")
    node.expect(INVALID_ARGUMENT, "NodeGetVolumeStats", volume_id="id")


@pytest.mark.dynvol
@pytest.mark.driver_options(config={"pathPrefixes": ["/tmp"]})
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to bind-mount")
def test_stats_of_published_volume_at_other_paths_is_not_found(node, tmp_path):
    """Staged and published: OK at its staging path and its target, and
    NOT_FOUND at any other path, an odd one or a real directory."""
    vol = node.create_volume(required=MIB)
    staging, target = tmp_path / "staging", tmp_path / "target"
    staging.mkdir()
    cap = node.mount_cap()
    node.publish(vol.volume_id, cap=cap)
    node.call("NodeStageVolume", volume_id=vol.volume_id, staging_target_path=str(staging),
              volume_capability=cap)
    try:
        node.call("NodePublishVolume", volume_id=vol.volume_id,
                  staging_target_path=str(staging), target_path=str(target),
                  volume_capability=cap)
        try:
            for good in (staging, target):
                resp = node.call("NodeGetVolumeStats", volume_id=vol.volume_id,
                                 volume_path=str(good))
                assert resp.usage, resp
            other = tmp_path / "elsewhere"
            other.mkdir()
            for bad in ODD_PATHS + [str(other), str(target) + "/sub"]:
                node.expect(NOT_FOUND, "NodeGetVolumeStats", volume_id=vol.volume_id,
                            volume_path=bad)
        finally:
            node.call("NodeUnpublishVolume", volume_id=vol.volume_id,
                      target_path=str(target))
    finally:
        node.call("NodeUnstageVolume", volume_id=vol.volume_id,
                  staging_target_path=str(staging))
        node.unpublish(vol.volume_id)


# ---------------------------------------------------------------------------
# the other Node calls


@pytest.mark.parametrize("path", ["some/path", "/tmp/x/../y"])
def test_stage_of_unknown_volume_is_not_found_whatever_the_path(node, path):
    """NodeStageVolume errors: 'Volume does not exist | 5 NOT_FOUND'."""
    node.expect(NOT_FOUND, "NodeStageVolume", volume_id=no_such_volume(node),
                staging_target_path=path, volume_capability=node.mount_cap())


def test_stage_of_unknown_volume_with_odd_capability_is_not_found(node):
    cap = node.mount_cap()
    cap.ClearField("access_mode")
    node.expect(NOT_FOUND, "NodeStageVolume", volume_id=no_such_volume(node),
                staging_target_path="/tmp/somewhere", volume_capability=cap)


@pytest.mark.parametrize("path", ["some/path", "/tmp/x/../y"])
def test_publish_of_unknown_volume_is_not_found_whatever_the_path(node, path):
    """NodePublishVolume errors: 'Volume does not exist | 5 NOT_FOUND'."""
    node.expect(NOT_FOUND, "NodePublishVolume", volume_id=no_such_volume(node),
                target_path=path, staging_target_path="odd/staging",
                volume_capability=node.mount_cap())


def test_node_required_fields_come_first(node):
    """Missing required fields: INVALID_ARGUMENT before any lookup."""
    cap = node.mount_cap()
    node.expect(INVALID_ARGUMENT, "NodeStageVolume", volume_id="id", volume_capability=cap)
    node.expect(INVALID_ARGUMENT, "NodeStageVolume", volume_id="id",
                staging_target_path="/tmp/x")
    node.expect(INVALID_ARGUMENT, "NodePublishVolume", volume_id="id", volume_capability=cap)
    node.expect(INVALID_ARGUMENT, "NodePublishVolume", volume_id="id", target_path="/tmp/x")
    node.expect(INVALID_ARGUMENT, "NodeUnstageVolume", volume_id="id")
    node.expect(INVALID_ARGUMENT, "NodeUnpublishVolume", volume_id="id")
    node.expect(INVALID_ARGUMENT, "NodeUnpublishVolume", target_path="/tmp/x")


@pytest.mark.parametrize("path", ["some/path", "/tmp/x/../y"])
def test_unstage_and_unpublish_of_unknown_volume_never_judge_the_path(node, path):
    """Idempotent teardown: nothing of an unknown volume is at any path;
    OK (nothing to do) or the table's NOT_FOUND, not INVALID_ARGUMENT."""
    vid = no_such_volume(node)
    allowed = (OK,) if not node.external else (OK, NOT_FOUND)
    node.expect_one_of(allowed, "NodeUnstageVolume", volume_id=vid, staging_target_path=path)
    node.expect_one_of(allowed, "NodeUnpublishVolume", volume_id=vid, target_path=path)


@pytest.mark.dynvol
def test_unstage_and_unpublish_of_known_volume_judge_the_path(node):
    """A known volume at a malformed path: the request is wrong."""
    vol = node.create_volume()
    node.expect(INVALID_ARGUMENT, "NodeUnstageVolume", volume_id=vol.volume_id,
                staging_target_path="some/path")
    node.expect(INVALID_ARGUMENT, "NodeUnpublishVolume", volume_id=vol.volume_id,
                target_path="some/path")


def test_expand_node_of_unknown_volume_is_not_found(node):
    """NodeExpandVolume errors: 'Volume does not exist | 5 NOT_FOUND'."""
    resp = node.call("NodeGetCapabilities")
    T = node.csi.NodeServiceCapability.RPC.Type
    if not any(c.rpc.type == T.Value("EXPAND_VOLUME") for c in resp.capabilities):
        pytest.skip("EXPAND_VOLUME not reported")
    node.expect(NOT_FOUND, "NodeExpandVolume", volume_id=no_such_volume(node),
                volume_path="some/path")


# ---------------------------------------------------------------------------
# Controller calls


def test_controller_publish_unknown_volume_with_odd_capability_is_not_found(endpoint):
    """ControllerPublishVolume errors: 'Volume does not exist | 5 NOT_FOUND'."""
    endpoint.require("CREATE_DELETE_VOLUME", "PUBLISH_UNPUBLISH_VOLUME")
    cap = endpoint.mount_cap()
    cap.ClearField("access_mode")
    endpoint.expect(NOT_FOUND, "ControllerPublishVolume",
                    volume_id=endpoint.deleted_volume_id(),
                    node_id=endpoint.require_node_id(), volume_capability=cap)


def test_validate_unknown_volume_with_odd_capability_is_not_found(endpoint):
    """ValidateVolumeCapabilities errors: 'Volume does not exist | 5 NOT_FOUND'."""
    endpoint.require("CREATE_DELETE_VOLUME")
    cap = endpoint.mount_cap(fs_type="no-such-fs")
    cap.ClearField("access_mode")
    endpoint.expect(NOT_FOUND, "ValidateVolumeCapabilities",
                    volume_id=endpoint.deleted_volume_id(), volume_capabilities=[cap],
                    parameters={"no-such-parameter": "1"})


def test_controller_expand_unknown_volume_with_odd_range_is_not_found(endpoint):
    """ControllerExpandVolume errors: 'Volume does not exist | 5 NOT_FOUND'."""
    endpoint.require("CREATE_DELETE_VOLUME", "EXPAND_VOLUME")
    endpoint.expect(NOT_FOUND, "ControllerExpandVolume",
                    volume_id=endpoint.deleted_volume_id(),
                    capacity_range=endpoint.csi.CapacityRange(required_bytes=2 * MIB,
                                                              limit_bytes=MIB))


def test_create_from_unknown_snapshot_with_odd_fields_is_not_found(endpoint):
    """CreateVolume errors: 'Source does not exist | 5 NOT_FOUND'."""
    endpoint.require("CREATE_DELETE_VOLUME", "CREATE_DELETE_SNAPSHOT")
    sid = endpoint.deleted_snapshot_id()
    endpoint.expect(NOT_FOUND, "CreateVolume", name=unique("vol"),
                    volume_capabilities=[endpoint.mount_cap(fs_type="no-such-fs")],
                    capacity_range=endpoint.csi.CapacityRange(required_bytes=-1),
                    volume_content_source=endpoint.snapshot_source(sid))


# ---------------------------------------------------------------------------
# ControllerModifyVolume with nothing to modify


@pytest.fixture
def mv(endpoint):
    endpoint.require("CREATE_DELETE_VOLUME", "MODIFY_VOLUME")
    return endpoint


@pytest.mark.parametrize("with_parameters", [False, True])
def test_modify_with_empty_mutable_parameters_is_a_no_op(mv, with_parameters):
    """An empty map asks for no change: OK on a volume that exists, made
    with or without parameters; the volume is unchanged."""
    kw = {"parameters": {"pool": "default"}} if with_parameters and not mv.external else {}
    vol = mv.create_volume(**kw)
    mv.expect(OK, "ControllerModifyVolume", volume_id=vol.volume_id)
    mv.expect(OK, "ControllerModifyVolume", volume_id=vol.volume_id, mutable_parameters={})
    if "GET_VOLUME" in mv.controller_caps():
        got = mv.call("ControllerGetVolume", volume_id=vol.volume_id)
        assert got.volume.volume_id == vol.volume_id
        assert got.volume.capacity_bytes == vol.capacity_bytes


def test_modify_with_empty_mutable_parameters_of_unknown_volume_is_not_found(mv):
    mv.expect(NOT_FOUND, "ControllerModifyVolume", volume_id=mv.deleted_volume_id())


def test_modify_unknown_volume_with_unknown_key_is_not_found(mv):
    """The volume's existence first; the key's validity after."""
    mv.expect(NOT_FOUND, "ControllerModifyVolume", volume_id=mv.deleted_volume_id(),
              mutable_parameters={"no-such-mutable-parameter": "1"})


def test_create_retry_after_its_source_was_deleted_finds_the_volume(endpoint):
    """The existence check of a content source must not break idempotency:
    a CreateVolume retried (its reply lost) after the snapshot it was made
    from was deleted answers OK with the volume it made, not NOT_FOUND (the
    provisioner would give up on the PVC and leak the volume)."""
    endpoint.require("CREATE_DELETE_VOLUME", "CREATE_DELETE_SNAPSHOT")
    src = endpoint.create_volume()
    snap = endpoint.create_snapshot(src.volume_id)
    name = unique("vol")
    req = endpoint.request("CreateVolume", name=name,
                           volume_capabilities=[endpoint.mount_cap()],
                           volume_content_source=endpoint.snapshot_source(snap.snapshot_id))
    first = endpoint.call("CreateVolume", req).volume
    code, details, _ = endpoint.try_call("DeleteSnapshot", snapshot_id=snap.snapshot_id)
    if code != OK:
        pytest.skip(f"the snapshot of a restored volume cannot be deleted here ({code.name})")
    again = endpoint.call("CreateVolume", req).volume
    assert again.volume_id == first.volume_id

"""ValidateVolumeCapabilities, ControllerGetVolume and
ControllerGetCapabilities (spec.md sections and error tables)."""

import shutil

import pytest

from .helpers import INVALID_ARGUMENT, NOT_FOUND, OK, unique

# ---------------------------------------------------------------------------
# ValidateVolumeCapabilities


def test_validate_confirms_what_the_volume_was_created_with(endpoint):
    endpoint.require("CREATE_DELETE_VOLUME")
    cap = endpoint.mount_cap()
    vol = endpoint.create_volume(caps=[cap])
    resp = endpoint.call("ValidateVolumeCapabilities", volume_id=vol.volume_id,
                         volume_context=dict(vol.volume_context),
                         volume_capabilities=[cap])
    assert resp.HasField("confirmed"), resp
    # Confirmed.volume_capabilities: 'This field is REQUIRED.'
    assert list(resp.confirmed.volume_capabilities) == [cap]


def test_validate_idempotent(endpoint):
    endpoint.require("CREATE_DELETE_VOLUME")
    vol = endpoint.create_volume()
    req = endpoint.request("ValidateVolumeCapabilities", volume_id=vol.volume_id,
                           volume_capabilities=[endpoint.mount_cap()])
    a = endpoint.call("ValidateVolumeCapabilities", req)
    b = endpoint.call("ValidateVolumeCapabilities", req)
    assert a == b


def test_validate_missing_volume_id(endpoint):
    endpoint.expect(INVALID_ARGUMENT, "ValidateVolumeCapabilities",
                    volume_capabilities=[endpoint.mount_cap()])


def test_validate_missing_volume_capabilities(endpoint):
    endpoint.require("CREATE_DELETE_VOLUME")
    vol = endpoint.create_volume()
    endpoint.expect(INVALID_ARGUMENT, "ValidateVolumeCapabilities", volume_id=vol.volume_id)


def test_validate_capability_without_access_mode(endpoint):
    endpoint.require("CREATE_DELETE_VOLUME")
    vol = endpoint.create_volume()
    c = endpoint.csi
    endpoint.expect(INVALID_ARGUMENT, "ValidateVolumeCapabilities", volume_id=vol.volume_id,
                    volume_capabilities=[c.VolumeCapability(
                        mount=c.VolumeCapability.MountVolume())])


def test_validate_volume_not_found(endpoint):
    """'Volume does not exist | 5 NOT_FOUND'."""
    endpoint.require("CREATE_DELETE_VOLUME")
    vid = endpoint.deleted_volume_id()
    endpoint.expect(NOT_FOUND, "ValidateVolumeCapabilities", volume_id=vid,
                    volume_capabilities=[endpoint.mount_cap()])


def test_validate_volume_id_of_unknown_format_not_found(endpoint):
    endpoint.expect(NOT_FOUND, "ValidateVolumeCapabilities", volume_id="no-such-volume",
                    volume_capabilities=[endpoint.mount_cap()])


@pytest.mark.dynvol
@pytest.mark.parametrize("capname", ["multi-node", "block", "xfs"])
def test_validate_unsupported_capability_not_confirmed(endpoint, capname):
    """'This RPC call SHALL return confirmed only if all the volume
    capabilities specified in the request are supported'; 'message' says why."""
    vol = endpoint.create_volume()
    cap = {"multi-node": endpoint.mount_cap("MULTI_NODE_READER_ONLY"),
           "block": endpoint.block_cap(),
           "xfs": endpoint.mount_cap(fs_type="xfs")}[capname]
    caps = [cap] if capname == "block" else [endpoint.mount_cap(), cap]
    resp = endpoint.call("ValidateVolumeCapabilities", volume_id=vol.volume_id,
                         volume_capabilities=caps)
    assert not resp.HasField("confirmed"), resp
    assert resp.message, resp


@pytest.mark.dynvol
def test_validate_unknown_parameter_invalid_argument(endpoint):
    vol = endpoint.create_volume()
    details = endpoint.expect(INVALID_ARGUMENT, "ValidateVolumeCapabilities",
                              volume_id=vol.volume_id,
                              volume_capabilities=[endpoint.mount_cap()],
                              parameters={"bogus-parameter": "1"})
    assert "bogus-parameter" in details


@pytest.mark.dynvol
@pytest.mark.parametrize("field", ["parameters", "volume_context"])
def test_validate_does_not_confirm_what_the_volume_does_not_have(endpoint, field):
    """Confirmed.parameters: 'The volume creation parameters validated by the
    plugin.' Confirmed.volume_context: 'Volume context validated by the
    plugin.' The CO 'SHALL compare the fields of this message to the
    originally requested' ones, so whatever is echoed counts as validated.
    ValidateVolumeCapabilitiesRequest.volume_context: 'MUST match the
    volume_context of the volume identified by volume_id'."""
    vol = endpoint.create_volume()
    assert dict(vol.volume_context)["dynvol.io/pool"] == "default"
    wrong = ({"pool": "nosuch", "tier": "gold"} if field == "parameters"
             else {"dynvol.io/pool": "other"})
    code, details, resp = endpoint.try_call(
        "ValidateVolumeCapabilities", volume_id=vol.volume_id,
        volume_capabilities=[endpoint.mount_cap()], **{field: wrong})
    if code == OK and resp.HasField("confirmed"):
        confirmed = dict(getattr(resp.confirmed, field))
        assert not (set(wrong.items()) & set(confirmed.items())), (
            f"confirmed {field} the volume does not have: {confirmed}")
    else:
        assert code in (OK, INVALID_ARGUMENT), (code, details)


# ---------------------------------------------------------------------------
# ControllerGetVolume


@pytest.fixture
def gv(endpoint):
    endpoint.require("CREATE_DELETE_VOLUME", "GET_VOLUME")
    return endpoint


def test_get_volume_success(gv):
    vol = gv.create_volume(required=1024 * 1024)
    resp = gv.call("ControllerGetVolume", volume_id=vol.volume_id)
    assert resp.volume.volume_id == vol.volume_id
    assert resp.volume.capacity_bytes == vol.capacity_bytes
    # Volume.volume_context: 'A volume uniquely identified by volume_id SHALL
    # always report the same volume_context.'
    assert dict(resp.volume.volume_context) == dict(vol.volume_context)
    assert resp.HasField("status")  # 'This field is REQUIRED.'
    assert list(resp.status.published_node_ids) == []
    if "VOLUME_CONDITION" in gv.controller_caps():
        # 'A Controller Plugin MUST provide a non-empty volume_condition field
        # ... if it has VOLUME_CONDITION capability.'
        assert resp.status.HasField("volume_condition")
        assert not resp.status.volume_condition.abnormal
        assert resp.status.volume_condition.message


def test_get_volume_idempotent(gv):
    vol = gv.create_volume()
    a = gv.call("ControllerGetVolume", volume_id=vol.volume_id)
    b = gv.call("ControllerGetVolume", volume_id=vol.volume_id)
    assert a == b


def test_get_volume_shows_publication(gv):
    gv.require("PUBLISH_UNPUBLISH_VOLUME", "LIST_VOLUMES_PUBLISHED_NODES")
    vol = gv.create_volume()
    gv.publish(vol.volume_id)
    resp = gv.call("ControllerGetVolume", volume_id=vol.volume_id)
    assert list(resp.status.published_node_ids) == [gv.node_id]
    gv.unpublish(vol.volume_id)
    resp = gv.call("ControllerGetVolume", volume_id=vol.volume_id)
    assert list(resp.status.published_node_ids) == []


def test_get_volume_missing_volume_id(gv):
    gv.expect(INVALID_ARGUMENT, "ControllerGetVolume")


def test_get_volume_not_found(gv):
    """'Volume does not exist | 5 NOT_FOUND'."""
    gv.expect(NOT_FOUND, "ControllerGetVolume", volume_id=gv.deleted_volume_id())
    gv.expect(NOT_FOUND, "ControllerGetVolume", volume_id="no-such-volume")


@pytest.mark.dynvol
def test_get_volume_reports_missing_storage_as_abnormal(endpoint):
    """VOLUME_CONDITION: a volume whose directory vanished while the driver
    was down is reported abnormal (ControllerGetVolume and ListVolumes)."""
    vol = endpoint.create_volume()
    healthy = endpoint.create_volume()
    d = endpoint.volume_dir(vol.volume_id)
    endpoint.restart(before_start=lambda: shutil.rmtree(d))
    resp = endpoint.call("ControllerGetVolume", volume_id=vol.volume_id)
    assert resp.status.volume_condition.abnormal, resp
    assert resp.status.volume_condition.message
    ok = endpoint.call("ControllerGetVolume", volume_id=healthy.volume_id)
    assert not ok.status.volume_condition.abnormal
    entries, _ = endpoint.walk("ListVolumes")
    cond = {e.volume.volume_id: e.status.volume_condition.abnormal for e in entries}
    assert cond == {vol.volume_id: True, healthy.volume_id: False}


# ---------------------------------------------------------------------------
# ControllerGetCapabilities


def test_controller_get_capabilities(endpoint):
    resp = endpoint.call("ControllerGetCapabilities")
    T = endpoint.csi.ControllerServiceCapability.RPC.Type
    types = [c.rpc.type for c in resp.capabilities]
    assert T.Value("UNKNOWN") not in types
    assert len(types) == len(set(types)), "duplicate capabilities"
    names = {T.Name(t) for t in types}
    # LIST_VOLUMES_PUBLISHED_NODES: 'The SP MUST also support
    # PUBLISH_UNPUBLISH_VOLUME.'
    if "LIST_VOLUMES_PUBLISHED_NODES" in names:
        assert "PUBLISH_UNPUBLISH_VOLUME" in names
    # the Controller service itself is announced by the plugin
    assert "CONTROLLER_SERVICE" in endpoint.plugin_caps()
    # idempotent
    assert endpoint.call("ControllerGetCapabilities") == resp


@pytest.mark.dynvol
def test_controller_get_capabilities_dynvol(endpoint):
    assert endpoint.controller_caps() == {
        "CREATE_DELETE_VOLUME", "PUBLISH_UNPUBLISH_VOLUME", "LIST_VOLUMES",
        "LIST_VOLUMES_PUBLISHED_NODES", "GET_CAPACITY", "CREATE_DELETE_SNAPSHOT",
        "LIST_SNAPSHOTS", "CLONE_VOLUME", "PUBLISH_READONLY", "EXPAND_VOLUME",
        "GET_VOLUME", "VOLUME_CONDITION", "SINGLE_NODE_MULTI_WRITER", "MODIFY_VOLUME"}


def test_single_node_writer_accepted_with_single_node_multi_writer(endpoint):
    """SINGLE_NODE_MULTI_WRITER: 'Plugins MUST accept and allow use of the
    SINGLE_NODE_WRITER access mode when either SINGLE_NODE_SINGLE_WRITER
    and/or SINGLE_NODE_MULTI_WRITER are supported'."""
    endpoint.require("CREATE_DELETE_VOLUME", "SINGLE_NODE_MULTI_WRITER")
    for mode in ("SINGLE_NODE_WRITER", "SINGLE_NODE_SINGLE_WRITER",
                 "SINGLE_NODE_MULTI_WRITER"):
        vol = endpoint.create_volume(name=unique(mode.lower().replace("_", "-")),
                                     caps=[endpoint.mount_cap(mode)])
        resp = endpoint.call("ValidateVolumeCapabilities", volume_id=vol.volume_id,
                             volume_capabilities=[endpoint.mount_cap(mode)])
        assert resp.HasField("confirmed"), (mode, resp)

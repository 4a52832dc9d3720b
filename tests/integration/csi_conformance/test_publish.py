"""ControllerPublishVolume and ControllerUnpublishVolume (spec.md sections
and error tables).

Not covered: ControllerPublishVolume's 'Volume published to another node |
9 FAILED_PRECONDITION' row needs a second node the controller knows;
dynvol's controller serves local pools and knows only its own node
(publishing to any other node is NOT_FOUND, test_publish_node_not_found).
"""

import pytest

from .helpers import (ALREADY_EXISTS, FAILED_PRECONDITION, INVALID_ARGUMENT, NOT_FOUND,
                      OK, RESOURCE_EXHAUSTED, unique)


@pytest.fixture
def ep(endpoint):
    endpoint.require("CREATE_DELETE_VOLUME", "PUBLISH_UNPUBLISH_VOLUME")
    endpoint.require_node_id()
    return endpoint


def published_nodes(ep, volume_id):
    if "GET_VOLUME" in ep.controller_caps():
        return list(ep.call("ControllerGetVolume", volume_id=volume_id)
                    .status.published_node_ids)
    entries, _ = ep.walk("ListVolumes")
    for e in entries:
        if e.volume.volume_id == volume_id:
            return list(e.status.published_node_ids)
    raise AssertionError(f"{volume_id} is not listed")


# ---------------------------------------------------------------------------
# ControllerPublishVolume


def test_publish_success(ep):
    vol = ep.create_volume()
    resp = ep.publish(vol.volume_id, volume_context=dict(vol.volume_context))
    assert resp is not None
    if "LIST_VOLUMES_PUBLISHED_NODES" in ep.controller_caps():
        assert published_nodes(ep, vol.volume_id) == [ep.node_id]


def test_publish_idempotent(ep):
    """'If the volume ... has already been published at the node ... and is
    compatible with the specified volume_capability and readonly flag, the
    Plugin MUST reply 0 OK.'"""
    vol = ep.create_volume()
    a = ep.publish(vol.volume_id)
    b = ep.publish(vol.volume_id)
    assert dict(a.publish_context) == dict(b.publish_context)
    if "LIST_VOLUMES_PUBLISHED_NODES" in ep.controller_caps():
        assert published_nodes(ep, vol.volume_id) == [ep.node_id]


def test_publish_readonly(ep):
    ep.require("PUBLISH_READONLY")
    vol = ep.create_volume()
    ep.publish(vol.volume_id, readonly=True)
    ep.publish(vol.volume_id, readonly=True)


def test_publish_missing_volume_id(ep):
    ep.expect(INVALID_ARGUMENT, "ControllerPublishVolume", node_id=ep.node_id,
              volume_capability=ep.mount_cap())


def test_publish_missing_node_id(ep):
    vol = ep.create_volume()
    ep.expect(INVALID_ARGUMENT, "ControllerPublishVolume", volume_id=vol.volume_id,
              volume_capability=ep.mount_cap())


def test_publish_missing_volume_capability(ep):
    vol = ep.create_volume()
    ep.expect(INVALID_ARGUMENT, "ControllerPublishVolume", volume_id=vol.volume_id,
              node_id=ep.node_id)


def test_publish_capability_without_access_mode(ep):
    vol = ep.create_volume()
    c = ep.csi
    ep.expect(INVALID_ARGUMENT, "ControllerPublishVolume", volume_id=vol.volume_id,
              node_id=ep.node_id,
              volume_capability=c.VolumeCapability(mount=c.VolumeCapability.MountVolume()))


def test_publish_volume_not_found(ep):
    """'Volume does not exist | 5 NOT_FOUND'."""
    vid = ep.deleted_volume_id()
    ep.expect(NOT_FOUND, "ControllerPublishVolume", volume_id=vid, node_id=ep.node_id,
              volume_capability=ep.mount_cap())


def test_publish_volume_id_of_unknown_format_not_found(ep):
    ep.expect(NOT_FOUND, "ControllerPublishVolume", volume_id="no-such-volume",
              node_id=ep.node_id, volume_capability=ep.mount_cap())


def test_publish_node_not_found(ep):
    """'Node does not exist | 5 NOT_FOUND'."""
    vol = ep.create_volume()
    ep.expect(NOT_FOUND, "ControllerPublishVolume", volume_id=vol.volume_id,
              node_id=unique("no-such-node"), volume_capability=ep.mount_cap())
    if "LIST_VOLUMES_PUBLISHED_NODES" in ep.controller_caps():
        assert published_nodes(ep, vol.volume_id) == []


def test_publish_incompatible_readonly_already_exists(ep):
    """'Volume published but is incompatible | 6 ALREADY_EXISTS | ...
    incompatible with the specified volume_capability or readonly flag'."""
    ep.require("PUBLISH_READONLY")
    vol = ep.create_volume()
    ep.publish(vol.volume_id, readonly=False)
    ep.expect(ALREADY_EXISTS, "ControllerPublishVolume", volume_id=vol.volume_id,
              node_id=ep.node_id, volume_capability=ep.mount_cap(), readonly=True)
    # and the other way round
    vol2 = ep.create_volume()
    ep.publish(vol2.volume_id, readonly=True)
    ep.expect(ALREADY_EXISTS, "ControllerPublishVolume", volume_id=vol2.volume_id,
              node_id=ep.node_id, volume_capability=ep.mount_cap(), readonly=False)


def test_publish_block_capability_on_mount_volume(ep):
    """'SP MUST ensure the CO can use the published volume as described.
    Otherwise SP MUST return the appropriate gRPC error code.'"""
    vol = ep.create_volume()
    code, details, _ = ep.try_call("ControllerPublishVolume", volume_id=vol.volume_id,
                                   node_id=ep.node_id, volume_capability=ep.block_cap())
    assert code != OK, "a mount volume was published as a block device"


@pytest.mark.dynvol
@pytest.mark.parametrize("capname", ["multi-node", "xfs"])
def test_publish_capability_the_volume_cannot_serve(endpoint, capname):
    """ControllerPublishVolumeRequest.volume_capability: 'SP MUST ensure the
    CO can use the published volume as described. Otherwise SP MUST return
    the appropriate gRPC error code.'"""
    vol = endpoint.create_volume()
    cap = (endpoint.mount_cap("MULTI_NODE_MULTI_WRITER") if capname == "multi-node"
           else endpoint.mount_cap(fs_type="xfs"))
    v = endpoint.call("ValidateVolumeCapabilities", volume_id=vol.volume_id,
                      volume_capabilities=[cap])
    assert not v.HasField("confirmed"), "precondition: the dir pool cannot serve this"
    endpoint.expect(INVALID_ARGUMENT, "ControllerPublishVolume", volume_id=vol.volume_id,
                    node_id=endpoint.node_id, volume_capability=cap)


@pytest.mark.driver_options(config={"maxVolumesPerNode": 2})
def test_publish_max_volumes_attached_resource_exhausted(ep):
    """'Max volumes attached | 8 RESOURCE_EXHAUSTED'."""
    vols = [ep.create_volume().volume_id for _ in range(3)]
    ep.publish(vols[0])
    ep.publish(vols[1])
    details = ep.expect(RESOURCE_EXHAUSTED, "ControllerPublishVolume", volume_id=vols[2],
                        node_id=ep.node_id, volume_capability=ep.mount_cap())
    assert ep.node_id in details
    # an idempotent repeat at the maximum is still OK
    ep.publish(vols[1])
    ep.unpublish(vols[0])
    ep.publish(vols[2])


# ---------------------------------------------------------------------------
# ControllerUnpublishVolume


def test_unpublish_success(ep):
    vol = ep.create_volume()
    ep.publish(vol.volume_id)
    ep.unpublish(vol.volume_id)
    if "LIST_VOLUMES_PUBLISHED_NODES" in ep.controller_caps():
        assert published_nodes(ep, vol.volume_id) == []
    ep.delete_volume(vol.volume_id)


def test_unpublish_idempotent(ep):
    """'If the volume ... is not attached to the node ..., the Plugin MUST
    reply 0 OK.'"""
    vol = ep.create_volume()
    ep.publish(vol.volume_id)
    ep.unpublish(vol.volume_id)
    ep.unpublish(vol.volume_id)


def test_unpublish_never_published(ep):
    vol = ep.create_volume()
    ep.unpublish(vol.volume_id)


def test_unpublish_unknown_volume(ep):
    """'If the volume ... cannot be found by the Plugin and the volume can be
    safely regarded as ControllerUnpublished from the node, the plugin
    SHOULD return 0 OK.'"""
    vid = ep.deleted_volume_id()
    ep.expect(OK, "ControllerUnpublishVolume", volume_id=vid, node_id=ep.node_id)
    ep.expect(OK, "ControllerUnpublishVolume", volume_id="no-such-volume",
              node_id=ep.node_id)


def test_unpublish_unknown_node(ep):
    vol = ep.create_volume()
    ep.publish(vol.volume_id)
    ep.expect(OK, "ControllerUnpublishVolume", volume_id=vol.volume_id,
              node_id=unique("no-such-node"))
    if "LIST_VOLUMES_PUBLISHED_NODES" in ep.controller_caps():
        assert published_nodes(ep, vol.volume_id) == [ep.node_id]


def test_unpublish_missing_volume_id(ep):
    ep.expect(INVALID_ARGUMENT, "ControllerUnpublishVolume", node_id=ep.node_id)


def test_unpublish_without_node_id_unpublishes_everywhere(ep):
    """ControllerUnpublishVolumeRequest.node_id: 'If the value is unset, the
    SP MUST unpublish the volume from all nodes it is published to.'"""
    vol = ep.create_volume()
    ep.publish(vol.volume_id)
    ep.expect(OK, "ControllerUnpublishVolume", volume_id=vol.volume_id)
    if "LIST_VOLUMES_PUBLISHED_NODES" in ep.controller_caps():
        assert published_nodes(ep, vol.volume_id) == []
    ep.delete_volume(vol.volume_id)


def test_publish_after_unpublish_with_other_readonly(ep):
    ep.require("PUBLISH_READONLY")
    vol = ep.create_volume()
    ep.publish(vol.volume_id, readonly=False)
    ep.unpublish(vol.volume_id)
    ep.publish(vol.volume_id, readonly=True)


def test_published_volume_cannot_be_deleted_until_unpublished(ep):
    vol = ep.create_volume()
    ep.publish(vol.volume_id)
    ep.expect(FAILED_PRECONDITION, "DeleteVolume", volume_id=vol.volume_id)
    ep.unpublish(vol.volume_id)
    ep.expect(OK, "DeleteVolume", volume_id=vol.volume_id)

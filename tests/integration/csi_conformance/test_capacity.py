"""GetCapacity (spec.md "GetCapacity") and its agreement with CreateVolume."""

import pytest

from .helpers import INVALID_ARGUMENT, MIB, OK, RESOURCE_EXHAUSTED, unique


@pytest.fixture
def gc(endpoint):
    endpoint.require("GET_CAPACITY")
    return endpoint


def test_get_capacity_success(gc):
    resp = gc.call("GetCapacity")
    assert resp.available_capacity > 0, resp     # 'MUST NOT be negative'
    if resp.HasField("maximum_volume_size"):
        assert resp.maximum_volume_size.value >= 0
    if resp.HasField("minimum_volume_size"):
        assert resp.minimum_volume_size.value >= 0


def test_get_capacity_with_capabilities(gc):
    resp = gc.call("GetCapacity", volume_capabilities=[gc.mount_cap()])
    assert resp.available_capacity > 0, resp


def test_get_capacity_repeat_is_stable(gc):
    a = gc.call("GetCapacity", volume_capabilities=[gc.mount_cap()])
    b = gc.call("GetCapacity", volume_capabilities=[gc.mount_cap()])
    assert a.available_capacity > 0 and b.available_capacity > 0
    # the same storage, asked twice: within 10% (other writers may exist)
    assert abs(a.available_capacity - b.available_capacity) <= a.available_capacity // 10


def test_get_capacity_for_this_nodes_topology(gc):
    mine = gc.node_topology()
    resp = gc.call("GetCapacity", volume_capabilities=[gc.mount_cap()],
                   accessible_topology=gc.topology(mine))
    assert resp.available_capacity > 0, resp


def test_get_capacity_for_another_nodes_topology_is_zero(gc):
    """accessible_topology: 'the Plugin SHALL report the capacity of the
    storage that can be used to provision volumes that in the specified
    accessible_topology' -- none here."""
    other = gc.other_topology()
    resp = gc.call("GetCapacity", volume_capabilities=[gc.mount_cap()],
                   accessible_topology=gc.topology(other))
    assert resp.available_capacity == 0, resp
    if resp.HasField("maximum_volume_size"):
        assert resp.maximum_volume_size.value == 0


def test_create_volume_far_above_maximum_volume_size_fails(gc):
    """maximum_volume_size: 'The largest size that may be used in a
    CreateVolumeRequest.capacity_range.required_bytes field'."""
    gc.require("CREATE_DELETE_VOLUME")
    resp = gc.call("GetCapacity", volume_capabilities=[gc.mount_cap()])
    if not resp.HasField("maximum_volume_size") or not resp.maximum_volume_size.value:
        pytest.skip("no maximum_volume_size reported")
    mx = resp.maximum_volume_size.value
    code, details, _ = gc.try_call("CreateVolume", name=unique(),
                                   volume_capabilities=[gc.mount_cap()],
                                   capacity_range=gc.csi.CapacityRange(
                                       required_bytes=mx * 4 + 1024 * MIB))
    assert code != OK, "a volume far above maximum_volume_size was created"


@pytest.mark.dynvol
def test_get_capacity_maximum_volume_size_can_be_created(gc):
    """The dir pool allocates nothing up front, so a volume of half the
    reported maximum is cheap to make (and must be possible)."""
    resp = gc.call("GetCapacity", volume_capabilities=[gc.mount_cap()])
    mx = resp.maximum_volume_size.value
    vol = gc.create_volume(required=mx // 2)
    assert vol.capacity_bytes >= mx // 2


@pytest.mark.dynvol
def test_get_capacity_dir_pool(gc):
    resp = gc.call("GetCapacity")
    assert resp.available_capacity > 0
    assert resp.HasField("maximum_volume_size")
    assert 0 < resp.maximum_volume_size.value <= resp.available_capacity
    # the dir pool has no minimum size: the field stays unset
    assert not resp.HasField("minimum_volume_size")


@pytest.mark.dynvol
def test_get_capacity_other_node_dynvol_key(gc):
    """GetCapacity with {"topology.dynvol.io/node": "other"} is 0, with this
    node's value it is positive."""
    other = gc.call("GetCapacity",
                    accessible_topology=gc.topology({"topology.dynvol.io/node": "other"}))
    assert other.available_capacity == 0
    mine = gc.call("GetCapacity",
                   accessible_topology=gc.topology({"topology.dynvol.io/node": gc.node_id}))
    assert mine.available_capacity > 0


@pytest.mark.dynvol
def test_create_volume_requisite_other_node_dynvol_key(gc):
    gc.expect(RESOURCE_EXHAUSTED, "CreateVolume", name=unique(),
              volume_capabilities=[gc.mount_cap()],
              accessibility_requirements=gc.csi.TopologyRequirement(
                  requisite=[gc.topology({"topology.dynvol.io/node": "other"})]))


@pytest.mark.dynvol
@pytest.mark.parametrize("params,positive", [
    ({"pool": "default"}, True),
    ({"pool": "nosuch"}, False),
    ({"csi.storage.k8s.io/pvc/name": "claim"}, True),
    ({"compression": "zstd"}, False),       # the dir pool cannot compress
    ({"tier": "fast"}, False),              # no pool has that tier
])
def test_get_capacity_with_parameters(gc, params, positive):
    """'If ... parameters is specified in the request, the Plugin SHALL take
    those into consideration when calculating the available capacity'."""
    resp = gc.call("GetCapacity", parameters=params)
    assert (resp.available_capacity > 0) == positive, resp


@pytest.mark.dynvol
@pytest.mark.parametrize("cap", ["multi-node", "block"])
def test_get_capacity_with_capabilities_the_pool_cannot_serve(gc, cap):
    c = gc.mount_cap("MULTI_NODE_MULTI_WRITER") if cap == "multi-node" else gc.block_cap()
    resp = gc.call("GetCapacity", volume_capabilities=[c])
    assert resp.available_capacity == 0, resp


@pytest.mark.dynvol
def test_get_capacity_unknown_parameter(gc):
    details = gc.expect(INVALID_ARGUMENT, "GetCapacity", parameters={"speed": "fast"})
    assert "speed" in details

"""CreateVolume and DeleteVolume (spec.md "CreateVolume", "DeleteVolume",
their error tables, and the general Error Scheme)."""

import pytest

from .helpers import (ALREADY_EXISTS, FAILED_PRECONDITION, INVALID_ARGUMENT, MIB,
                      NOT_FOUND, OK, OUT_OF_RANGE, RESOURCE_EXHAUSTED, unique)

# ---------------------------------------------------------------------------
# CreateVolume: success and idempotency


def test_create_volume_success(endpoint):
    endpoint.require("CREATE_DELETE_VOLUME")
    name = unique("create")
    resp = endpoint.call("CreateVolume", name=name,
                         volume_capabilities=[endpoint.mount_cap()],
                         capacity_range=endpoint.csi.CapacityRange(required_bytes=MIB))
    vol = resp.volume
    assert vol.volume_id
    # "If not set (value of 0), it indicates that the capacity ... is unknown"
    assert vol.capacity_bytes == 0 or vol.capacity_bytes >= MIB
    assert not vol.HasField("content_source")
    if "VOLUME_ACCESSIBILITY_CONSTRAINTS" not in endpoint.plugin_caps():
        assert not vol.accessible_topology
    if "LIST_VOLUMES" in endpoint.controller_caps():
        assert vol.volume_id in endpoint.volume_ids()


def test_create_volume_honours_capacity_range(endpoint):
    endpoint.require("CREATE_DELETE_VOLUME")
    vol = endpoint.create_volume(required=2 * MIB, limit=4 * MIB)
    if vol.capacity_bytes:
        assert 2 * MIB <= vol.capacity_bytes <= 4 * MIB, vol


def test_create_volume_idempotent(endpoint):
    endpoint.require("CREATE_DELETE_VOLUME")
    name = unique("idem")
    req = endpoint.request("CreateVolume", name=name,
                           volume_capabilities=[endpoint.mount_cap()],
                           capacity_range=endpoint.csi.CapacityRange(required_bytes=MIB),
                           parameters={"csi.storage.k8s.io/pvc/name": "claim-1",
                                       "csi.storage.k8s.io/pvc/namespace": "default"})
    first = endpoint.call("CreateVolume", req).volume
    second = endpoint.call("CreateVolume", req).volume
    assert second.volume_id == first.volume_id
    assert second.capacity_bytes == first.capacity_bytes
    assert dict(second.volume_context) == dict(first.volume_context)
    if "LIST_VOLUMES" in endpoint.controller_caps():
        ids = endpoint.volume_ids()
        assert ids.count(first.volume_id) == 1


def test_create_volume_idempotent_without_capacity_range(endpoint):
    endpoint.require("CREATE_DELETE_VOLUME")
    name = unique("idem")
    a = endpoint.create_volume(name=name)
    b = endpoint.create_volume(name=name)
    assert a.volume_id == b.volume_id


def test_create_volume_name_of_128_bytes(endpoint):
    """Size Limits: strings up to 128 bytes are within the limits."""
    endpoint.require("CREATE_DELETE_VOLUME")
    name = unique("n")
    name = name + "x" * (128 - len(name))
    assert len(name.encode()) == 128
    a = endpoint.create_volume(name=name)
    assert endpoint.create_volume(name=name).volume_id == a.volume_id


def test_create_volume_unicode_name(endpoint):
    """'Any Unicode string that conforms to the length limit is allowed
    except those containing the following banned characters'."""
    endpoint.require("CREATE_DELETE_VOLUME")
    name = unique("ünïcødé-✓")
    a = endpoint.create_volume(name=name)
    assert endpoint.create_volume(name=name).volume_id == a.volume_id


@pytest.mark.parametrize("ws", ["\t", "\n", "\r"], ids=["tab", "lf", "cr"])
def test_create_volume_name_with_allowed_whitespace(endpoint, ws):
    """CreateVolumeRequest.name: 'Any Unicode string that conforms to the
    length limit is allowed except those containing the following banned
    characters: U+0000-U+0008, U+000B, U+000C, U+000E-U+001F, U+007F-U+009F.
    (These are control characters other than commonly used whitespace.)'"""
    endpoint.require("CREATE_DELETE_VOLUME")
    name = unique("ws") + ws + "end"
    code, details, resp = endpoint.try_call("CreateVolume", name=name,
                                            volume_capabilities=[endpoint.mount_cap()])
    assert code == OK, f"{code.name}: {details}"


@pytest.mark.parametrize("bad", ["\x01", "\x0b", "\x1f", "\x7f"],
                         ids=["U+0001", "U+000B", "U+001F", "U+007F"])
def test_create_volume_name_with_banned_control_character(endpoint, bad):
    endpoint.require("CREATE_DELETE_VOLUME")
    endpoint.expect(INVALID_ARGUMENT, "CreateVolume", name=unique("bad") + bad,
                    volume_capabilities=[endpoint.mount_cap()])


@pytest.mark.parametrize("bad", ["\x85", "\x9f"], ids=["U+0085", "U+009F"])
def test_create_volume_name_with_banned_c1_character(endpoint, bad):
    endpoint.require("CREATE_DELETE_VOLUME")
    endpoint.expect(INVALID_ARGUMENT, "CreateVolume", name=unique("c1") + bad,
                    volume_capabilities=[endpoint.mount_cap()])


# ---------------------------------------------------------------------------
# CreateVolume: missing and invalid fields (Error Scheme: INVALID_ARGUMENT)


def test_create_volume_missing_name(endpoint):
    endpoint.require("CREATE_DELETE_VOLUME")
    endpoint.expect(INVALID_ARGUMENT, "CreateVolume",
                    volume_capabilities=[endpoint.mount_cap()])


def test_create_volume_missing_volume_capabilities(endpoint):
    endpoint.require("CREATE_DELETE_VOLUME")
    endpoint.expect(INVALID_ARGUMENT, "CreateVolume", name=unique())


def test_create_volume_capability_without_access_mode(endpoint):
    endpoint.require("CREATE_DELETE_VOLUME")
    c = endpoint.csi
    cap = c.VolumeCapability(mount=c.VolumeCapability.MountVolume())
    endpoint.expect(INVALID_ARGUMENT, "CreateVolume", name=unique(),
                    volume_capabilities=[cap])


def test_create_volume_capability_with_unknown_access_mode(endpoint):
    endpoint.require("CREATE_DELETE_VOLUME")
    endpoint.expect(INVALID_ARGUMENT, "CreateVolume", name=unique(),
                    volume_capabilities=[endpoint.mount_cap("UNKNOWN")])


def test_create_volume_capability_without_access_type(endpoint):
    """VolumeCapability: 'One of the following fields MUST be specified'
    (block or mount)."""
    endpoint.require("CREATE_DELETE_VOLUME")
    c = endpoint.csi
    cap = c.VolumeCapability(access_mode=c.VolumeCapability.AccessMode(
        mode=c.VolumeCapability.AccessMode.Mode.Value("SINGLE_NODE_WRITER")))
    endpoint.expect(INVALID_ARGUMENT, "CreateVolume", name=unique(),
                    volume_capabilities=[cap])


@pytest.mark.parametrize("required,limit", [(-1, 0), (0, -1)],
                         ids=["negative-required", "negative-limit"])
def test_create_volume_negative_capacity(endpoint, required, limit):
    """CapacityRange: 'The value of this field MUST NOT be negative.'"""
    endpoint.require("CREATE_DELETE_VOLUME")
    endpoint.expect(INVALID_ARGUMENT, "CreateVolume", name=unique(),
                    volume_capabilities=[endpoint.mount_cap()],
                    capacity_range=endpoint.csi.CapacityRange(required_bytes=required,
                                                              limit_bytes=limit))


def test_create_volume_limit_below_required(endpoint):
    endpoint.require("CREATE_DELETE_VOLUME")
    endpoint.expect_one_of((INVALID_ARGUMENT, OUT_OF_RANGE), "CreateVolume",
                           name=unique(), volume_capabilities=[endpoint.mount_cap()],
                           capacity_range=endpoint.csi.CapacityRange(
                               required_bytes=4 * MIB, limit_bytes=MIB))


def test_create_volume_content_source_without_type(endpoint):
    """VolumeContentSource: 'One of the type fields MUST be specified.'"""
    endpoint.require("CREATE_DELETE_VOLUME")
    req = endpoint.request("CreateVolume", name=unique(),
                           volume_capabilities=[endpoint.mount_cap()])
    req.volume_content_source.SetInParent()
    endpoint.expect(INVALID_ARGUMENT, "CreateVolume", req)


@pytest.mark.parametrize("kind", ["snapshot", "volume"])
def test_create_volume_content_source_with_empty_id(endpoint, kind):
    """SnapshotSource.snapshot_id / VolumeSource.volume_id: 'This field is
    REQUIRED.' Error Scheme: 'Missing required field | 3 INVALID_ARGUMENT'."""
    endpoint.require("CREATE_DELETE_VOLUME")
    src = endpoint.snapshot_source("") if kind == "snapshot" else endpoint.volume_source("")
    endpoint.expect(INVALID_ARGUMENT, "CreateVolume", name=unique(),
                    volume_capabilities=[endpoint.mount_cap()],
                    volume_content_source=src)


# ---------------------------------------------------------------------------
# CreateVolume: error table rows


def test_create_volume_source_snapshot_not_found(endpoint):
    """'Source does not exist | 5 NOT_FOUND'."""
    endpoint.require("CREATE_DELETE_VOLUME", "CREATE_DELETE_SNAPSHOT")
    sid = endpoint.deleted_snapshot_id()
    endpoint.expect(NOT_FOUND, "CreateVolume", name=unique(),
                    volume_capabilities=[endpoint.mount_cap()],
                    volume_content_source=endpoint.snapshot_source(sid))


def test_create_volume_source_volume_not_found(endpoint):
    endpoint.require("CREATE_DELETE_VOLUME", "CLONE_VOLUME")
    vid = endpoint.deleted_volume_id()
    endpoint.expect(NOT_FOUND, "CreateVolume", name=unique(),
                    volume_capabilities=[endpoint.mount_cap()],
                    volume_content_source=endpoint.volume_source(vid))


def test_create_volume_source_id_of_unknown_format_not_found(endpoint):
    endpoint.require("CREATE_DELETE_VOLUME", "CREATE_DELETE_SNAPSHOT")
    endpoint.expect(NOT_FOUND, "CreateVolume", name=unique(),
                    volume_capabilities=[endpoint.mount_cap()],
                    volume_content_source=endpoint.snapshot_source("no-such-snapshot"))


def test_create_volume_already_exists_with_larger_capacity(endpoint):
    """'Volume already exists but is incompatible | 6 ALREADY_EXISTS' for
    capacity_range."""
    endpoint.require("CREATE_DELETE_VOLUME")
    name = unique("ae")
    endpoint.create_volume(name=name, required=MIB, limit=MIB)
    endpoint.expect(ALREADY_EXISTS, "CreateVolume", name=name,
                    volume_capabilities=[endpoint.mount_cap()],
                    capacity_range=endpoint.csi.CapacityRange(required_bytes=8 * MIB,
                                                              limit_bytes=8 * MIB))


def test_create_volume_already_exists_with_smaller_limit(endpoint):
    endpoint.require("CREATE_DELETE_VOLUME")
    name = unique("ae")
    vol = endpoint.create_volume(name=name, required=8 * MIB)
    if not vol.capacity_bytes:
        pytest.skip("the endpoint reports no capacity")
    endpoint.expect(ALREADY_EXISTS, "CreateVolume", name=name,
                    volume_capabilities=[endpoint.mount_cap()],
                    capacity_range=endpoint.csi.CapacityRange(
                        limit_bytes=vol.capacity_bytes - 1))


def test_create_volume_already_exists_with_other_content_source(endpoint):
    """ALREADY_EXISTS: incompatible with the specified volume_content_source."""
    endpoint.require("CREATE_DELETE_VOLUME", "CLONE_VOLUME")
    src = endpoint.create_volume()
    name = unique("ae")
    endpoint.create_volume(name=name)
    endpoint.expect(ALREADY_EXISTS, "CreateVolume", name=name,
                    volume_capabilities=[endpoint.mount_cap()],
                    volume_content_source=endpoint.volume_source(src.volume_id))


@pytest.mark.dynvol
def test_create_volume_already_exists_with_other_parameters(endpoint):
    """ALREADY_EXISTS: incompatible with the specified parameters."""
    name = unique("ae")
    endpoint.create_volume(name=name)
    endpoint.expect(ALREADY_EXISTS, "CreateVolume", name=name,
                    volume_capabilities=[endpoint.mount_cap()],
                    parameters={"pool": "default"})


def test_create_volume_already_exists_with_other_topology(endpoint):
    """'Volume already exists but is incompatible | 6 ALREADY_EXISTS |
    ... incompatible with the specified capacity_range, volume_capabilities,
    parameters, accessibility_requirements or volume_content_source.'"""
    endpoint.require("CREATE_DELETE_VOLUME")
    other = endpoint.other_topology()
    name = unique("ae")
    endpoint.create_volume(name=name)
    endpoint.expect(ALREADY_EXISTS, "CreateVolume", name=name,
                    volume_capabilities=[endpoint.mount_cap()],
                    accessibility_requirements=endpoint.csi.TopologyRequirement(
                        requisite=[endpoint.topology(other)]))


def test_create_volume_requisite_topology_unreachable(endpoint):
    """'Unable to provision in accessible_topology | 8 RESOURCE_EXHAUSTED'."""
    endpoint.require("CREATE_DELETE_VOLUME")
    other = endpoint.other_topology()
    endpoint.expect(RESOURCE_EXHAUSTED, "CreateVolume", name=unique(),
                    volume_capabilities=[endpoint.mount_cap()],
                    accessibility_requirements=endpoint.csi.TopologyRequirement(
                        requisite=[endpoint.topology(other)],
                        preferred=[endpoint.topology(other)]))


def test_create_volume_requisite_topology_includes_this_node(endpoint):
    endpoint.require("CREATE_DELETE_VOLUME")
    mine, other = endpoint.node_topology(), endpoint.other_topology()
    req = endpoint.csi.TopologyRequirement(
        requisite=[endpoint.topology(other), endpoint.topology(mine)],
        preferred=[endpoint.topology(mine)])
    vol = endpoint.create_volume(accessibility_requirements=req)
    # "the provisioned volume MUST be accessible from at least one of the
    # requisite topologies"
    assert any(dict(t.segments) == mine for t in vol.accessible_topology), vol


def test_create_volume_preferred_topology_elsewhere_is_only_a_preference(endpoint):
    """Without requisite, 'the SP MAY choose from the list of all possible
    topologies'."""
    endpoint.require("CREATE_DELETE_VOLUME")
    other = endpoint.other_topology()
    vol = endpoint.create_volume(accessibility_requirements=endpoint.csi.TopologyRequirement(
        preferred=[endpoint.topology(other)]))
    assert vol.volume_id


def test_create_volume_beyond_capacity(endpoint):
    """More than the storage has: RESOURCE_EXHAUSTED (not enough space) or
    OUT_OF_RANGE (unsupported capacity_range), never success."""
    endpoint.require("CREATE_DELETE_VOLUME")
    endpoint.expect_one_of((RESOURCE_EXHAUSTED, OUT_OF_RANGE), "CreateVolume",
                           name=unique(), volume_capabilities=[endpoint.mount_cap()],
                           capacity_range=endpoint.csi.CapacityRange(required_bytes=1 << 62))


def test_create_volume_restore_smaller_than_snapshot_out_of_range(endpoint):
    """'Unsupported capacity_range | 11 OUT_OF_RANGE | ... for example when
    trying to create a volume smaller than the source snapshot'."""
    endpoint.require("CREATE_DELETE_VOLUME", "CREATE_DELETE_SNAPSHOT")
    src = endpoint.create_volume(required=4 * MIB)
    snap = endpoint.create_snapshot(src.volume_id)
    if not snap.size_bytes:
        pytest.skip("the snapshot's size is unknown")
    endpoint.expect(OUT_OF_RANGE, "CreateVolume", name=unique(),
                    volume_capabilities=[endpoint.mount_cap()],
                    capacity_range=endpoint.csi.CapacityRange(limit_bytes=snap.size_bytes // 2),
                    volume_content_source=endpoint.snapshot_source(snap.snapshot_id))


def test_create_volume_clone_smaller_than_source_out_of_range(endpoint):
    endpoint.require("CREATE_DELETE_VOLUME", "CLONE_VOLUME")
    src = endpoint.create_volume(required=4 * MIB)
    if not src.capacity_bytes:
        pytest.skip("the source's size is unknown")
    endpoint.expect(OUT_OF_RANGE, "CreateVolume", name=unique(),
                    volume_capabilities=[endpoint.mount_cap()],
                    capacity_range=endpoint.csi.CapacityRange(limit_bytes=src.capacity_bytes // 2),
                    volume_content_source=endpoint.volume_source(src.volume_id))


# ---------------------------------------------------------------------------
# CreateVolume: dynvol's parameters and capabilities (StorageClass parameters
# are plugin-specific, so these are dynvol-only)


@pytest.mark.dynvol
def test_parameters_unknown_key_is_invalid_argument_naming_it(endpoint):
    details = endpoint.expect(INVALID_ARGUMENT, "CreateVolume", name=unique(),
                              volume_capabilities=[endpoint.mount_cap()],
                              parameters={"replicas-typo": "3"})
    assert "replicas-typo" in details, details


@pytest.mark.dynvol
def test_parameters_kubernetes_sidecar_keys_accepted(endpoint):
    params = {"csi.storage.k8s.io/pvc/name": "data-claim",
              "csi.storage.k8s.io/pvc/namespace": "team-a",
              "csi.storage.k8s.io/pv/name": "pvc-4f7e"}
    name = unique()
    a = endpoint.create_volume(name=name, parameters=params)
    assert endpoint.create_volume(name=name, parameters=params).volume_id == a.volume_id


@pytest.mark.dynvol
def test_parameters_pool_default_accepted(endpoint):
    vol = endpoint.create_volume(parameters={"pool": "default"})
    assert endpoint.volume_dir(vol.volume_id).is_dir()


@pytest.mark.dynvol
def test_parameters_pool_nosuch_invalid_argument(endpoint):
    details = endpoint.expect(INVALID_ARGUMENT, "CreateVolume", name=unique(),
                              volume_capabilities=[endpoint.mount_cap()],
                              parameters={"pool": "nosuch"})
    assert "nosuch" in details, details


@pytest.mark.dynvol
@pytest.mark.parametrize("params", [{"fsType": "zfs"}, {"compression": "gzip"},
                                    {"pool": "Not_A_Pool"}],
                         ids=["fsType", "compression", "pool-name"])
def test_parameters_invalid_values(endpoint, params):
    endpoint.expect(INVALID_ARGUMENT, "CreateVolume", name=unique(),
                    volume_capabilities=[endpoint.mount_cap()], parameters=params)


@pytest.mark.dynvol
@pytest.mark.parametrize("capname", ["multi-node", "block", "xfs"])
def test_dir_pool_unsupported_capability(endpoint, capname):
    """'SP MUST provision a volume that will satisfy ALL of the capabilities
    specified in this list. Otherwise SP MUST return the appropriate gRPC
    error code.' The dir pool is local to one node, has no block devices and
    no file system of its own."""
    cap = {"multi-node": endpoint.mount_cap("MULTI_NODE_MULTI_WRITER"),
           "block": endpoint.block_cap(),
           "xfs": endpoint.mount_cap(fs_type="xfs")}[capname]
    caps = [cap] if capname == "block" else [endpoint.mount_cap(), cap]
    endpoint.expect(INVALID_ARGUMENT, "CreateVolume", name=unique(),
                    volume_capabilities=caps)


@pytest.mark.dynvol
def test_create_volume_mutable_parameters_unknown_key(endpoint):
    """CreateVolumeRequest.mutable_parameters: 'The Plugin is responsible for
    parsing and validating these parameters.' Error Scheme: 'Invalid or
    unsupported field in the request | 3 INVALID_ARGUMENT'."""
    endpoint.expect(INVALID_ARGUMENT, "CreateVolume", name=unique(),
                    volume_capabilities=[endpoint.mount_cap()],
                    mutable_parameters={"no-such-mutable-key": "1"})


@pytest.mark.dynvol
def test_create_volume_makes_the_directory(endpoint):
    vol = endpoint.create_volume()
    assert endpoint.volume_dir(vol.volume_id).is_dir()
    assert dict(vol.volume_context).get("dynvol.io/pool") == "default"
    assert [dict(t.segments) for t in vol.accessible_topology] == \
        [{"topology.dynvol.io/node": endpoint.node_id}]


# ---------------------------------------------------------------------------
# DeleteVolume


def test_delete_volume_success(endpoint):
    endpoint.require("CREATE_DELETE_VOLUME")
    vol = endpoint.create_volume()
    endpoint.delete_volume(vol.volume_id)
    if "LIST_VOLUMES" in endpoint.controller_caps():
        assert vol.volume_id not in endpoint.volume_ids()
    if "GET_VOLUME" in endpoint.controller_caps():
        endpoint.expect(NOT_FOUND, "ControllerGetVolume", volume_id=vol.volume_id)


def test_delete_volume_idempotent(endpoint):
    """'If a volume corresponding to the specified volume_id does not exist
    ... the Plugin MUST reply 0 OK.'"""
    endpoint.require("CREATE_DELETE_VOLUME")
    vol = endpoint.create_volume()
    endpoint.delete_volume(vol.volume_id)
    endpoint.delete_volume(vol.volume_id)


@pytest.mark.parametrize("vid", ["no-such-volume",
                                 "vol-00000000000000000000000000000000"])
def test_delete_volume_unknown_id(endpoint, vid):
    endpoint.require("CREATE_DELETE_VOLUME")
    endpoint.expect(OK, "DeleteVolume", volume_id=vid)


def test_delete_volume_missing_volume_id(endpoint):
    endpoint.require("CREATE_DELETE_VOLUME")
    endpoint.expect(INVALID_ARGUMENT, "DeleteVolume")


def test_delete_volume_published_failed_precondition(endpoint):
    """'Volume in use | 9 FAILED_PRECONDITION'; DESIGN.md: the volume must
    not be altered."""
    endpoint.require("CREATE_DELETE_VOLUME", "PUBLISH_UNPUBLISH_VOLUME")
    vol = endpoint.create_volume()
    endpoint.publish(vol.volume_id)
    endpoint.expect(FAILED_PRECONDITION, "DeleteVolume", volume_id=vol.volume_id)
    if "GET_VOLUME" in endpoint.controller_caps():
        got = endpoint.call("ControllerGetVolume", volume_id=vol.volume_id)
        assert got.volume.volume_id == vol.volume_id
        assert list(got.status.published_node_ids) == [endpoint.node_id]
    endpoint.unpublish(vol.volume_id)
    endpoint.delete_volume(vol.volume_id)


@pytest.mark.dynvol
def test_delete_volume_removes_the_directory(endpoint):
    vol = endpoint.create_volume()
    d = endpoint.volume_dir(vol.volume_id)
    (d / "data.txt").write_text("bye")
    endpoint.delete_volume(vol.volume_id)
    assert not d.exists()


@pytest.mark.dynvol
def test_delete_published_volume_keeps_its_data(endpoint):
    vol = endpoint.create_volume()
    d = endpoint.volume_dir(vol.volume_id)
    (d / "keep.txt").write_text("still here")
    endpoint.publish(vol.volume_id)
    endpoint.expect(FAILED_PRECONDITION, "DeleteVolume", volume_id=vol.volume_id)
    assert (d / "keep.txt").read_text() == "still here"


def test_delete_then_recreate_same_name_gives_a_new_volume(endpoint):
    endpoint.require("CREATE_DELETE_VOLUME")
    name = unique("again")
    a = endpoint.create_volume(name=name)
    endpoint.delete_volume(a.volume_id)
    b = endpoint.create_volume(name=name)
    if "LIST_VOLUMES" in endpoint.controller_caps():
        assert b.volume_id in endpoint.volume_ids()

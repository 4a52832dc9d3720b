"""Durable before OK: no reply is sent between a registry commit and its sync.

The registry syncs its WAL after every commit that a reply depends on
(group commit, src/registry/registry.c). The crash point
registry.before_sync:<what> kills the driver right after commit <what>
reached the WAL and before the sync that makes it survive a power loss. If
any reply went out before the sync, the client would see OK here; it must
see the connection die instead (UNAVAILABLE), and after a restart the
kubelet's or provisioner's retry must answer OK with one volume, as after
any crash. tests/unit/test_registry_durable.c shows the same from inside:
a write call returns only after a sync that began after its commit.
"""

import signal

import grpc
import pytest

from conftest import unary


def mount_cap(csi):
    return csi.VolumeCapability(
        mount=csi.VolumeCapability.MountVolume(),
        access_mode=csi.VolumeCapability.AccessMode(mode="SINGLE_NODE_WRITER"))


def call(drv, csi, method, service, **fields):
    req = getattr(csi, method + "Request")(**fields)
    resp = getattr(csi, method + "Response")
    return unary(drv.channel(), f"/csi.v1.{service}/{method}", req, resp, timeout=10)


def create(drv, csi, name):
    return call(drv, csi, "CreateVolume", "Controller", name=name,
                volume_capabilities=[mount_cap(csi)]).volume


def volume_ids(drv, csi):
    return [e.volume.volume_id for e in
            call(drv, csi, "ListVolumes", "Controller", max_entries=1000).entries]


def pool_volumes(drv):
    return sorted(p.name for p in (drv.state_dir / "pools" / "default" / "volumes").iterdir())


def expect_killed(drv, fn):
    """fn() must not answer: the driver dies at the crash point first."""
    with pytest.raises(grpc.RpcError) as e:
        fn()
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE, (e.value.code(), e.value.details())
    assert drv.wait_exit(10) == -signal.SIGKILL, drv.describe()
    assert "crash point reached: registry.before_sync:" in drv.stderr()


def restart(driver_factory, drv, env=None):
    drv.close_channels()
    return driver_factory(node_id="n1", state_dir=drv.state_dir, sock_path=drv.sock_path,
                          env=env)


@pytest.mark.parametrize("what", ["volume_create_intent", "volume_create_commit"])
def test_create_never_answers_before_its_commit_is_synced(driver_factory, csi, what):
    drv = driver_factory(node_id="n1", env={"DYNVOL_CRASHPOINT": f"registry.before_sync:{what}"})
    expect_killed(drv, lambda: create(drv, csi, "pvc-durable"))
    drv = restart(driver_factory, drv)
    vol = create(drv, csi, "pvc-durable")  # the provisioner's retry
    assert volume_ids(drv, csi) == [vol.volume_id]
    assert pool_volumes(drv) == [vol.volume_id]


def test_delete_never_answers_before_its_commit_is_synced(driver_factory, csi):
    drv = driver_factory(node_id="n1")
    vol = create(drv, csi, "pvc-durable")
    drv.close_channels()
    drv.stop()
    drv = restart(driver_factory, drv,
                  env={"DYNVOL_CRASHPOINT": "registry.before_sync:volume_delete_commit"})
    expect_killed(drv, lambda: call(drv, csi, "DeleteVolume", "Controller",
                                    volume_id=vol.volume_id))
    drv = restart(driver_factory, drv)
    call(drv, csi, "DeleteVolume", "Controller", volume_id=vol.volume_id)  # the retry
    assert volume_ids(drv, csi) == []
    assert pool_volumes(drv) == []


def test_publish_never_answers_before_its_record_is_synced(driver_factory, csi):
    drv = driver_factory(node_id="n1")
    vol = create(drv, csi, "pvc-durable")
    drv.close_channels()
    drv.stop()
    drv = restart(driver_factory, drv,
                  env={"DYNVOL_CRASHPOINT": "registry.before_sync:publication_add"})
    publish = dict(volume_id=vol.volume_id, node_id="n1", volume_capability=mount_cap(csi))
    expect_killed(drv, lambda: call(drv, csi, "ControllerPublishVolume", "Controller",
                                    **publish))
    drv = restart(driver_factory, drv)
    call(drv, csi, "ControllerPublishVolume", "Controller", **publish)
    got = call(drv, csi, "ControllerGetVolume", "Controller", volume_id=vol.volume_id)
    assert list(got.status.published_node_ids) == ["n1"]

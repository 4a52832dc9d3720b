"""Secrets (spec.md "Secrets Requirements": 'This information is sensitive
and MUST be treated as such (not logged, etc.)'; fields marked csi_secret).

Every Controller RPC that has a `secrets` field is called with the same
secret, at --log-level debug (dynvol logs each request there), including
calls that fail; the value must not appear in the driver's stderr, in any
file under its state dir (registry.db and its WAL included), nor in a
status message.
"""

import pytest

from .helpers import OK, all_files_under, stop_driver, unique

SECRET_VALUE = "s3cr3t-VALUE"
SECRETS = {"password": SECRET_VALUE, "username": "admin"}


def exercise_with_secrets(ep):
    s = SECRETS
    details = []

    def call(method, want_ok=True, **fields):
        code, d, resp = ep.try_call(method, secrets=s, **fields)
        if want_ok:
            assert code == OK, f"{method}: {code.name} {d}"
        details.append(d)
        return resp

    vol = call("CreateVolume", name=unique("secret"),
               volume_capabilities=[ep.mount_cap()],
               capacity_range=ep.csi.CapacityRange(required_bytes=1 << 20)).volume
    # the idempotent repeat, and failures (error paths log too)
    call("CreateVolume", name=unique("secret-bad"),
         volume_capabilities=[ep.mount_cap()], parameters={"bogus": "1"}, want_ok=False)
    call("CreateVolume", volume_capabilities=[ep.mount_cap()], want_ok=False)
    call("ValidateVolumeCapabilities", volume_id=vol.volume_id,
         volume_capabilities=[ep.mount_cap()])
    call("ControllerPublishVolume", volume_id=vol.volume_id, node_id=ep.node_id,
         volume_capability=ep.mount_cap())
    call("ControllerPublishVolume", volume_id=vol.volume_id, node_id="elsewhere",
         volume_capability=ep.mount_cap(), want_ok=False)
    call("DeleteVolume", volume_id=vol.volume_id, want_ok=False)   # published
    call("ControllerUnpublishVolume", volume_id=vol.volume_id, node_id=ep.node_id)
    call("ControllerExpandVolume", volume_id=vol.volume_id,
         capacity_range=ep.csi.CapacityRange(required_bytes=2 << 20))
    call("ControllerModifyVolume", volume_id=vol.volume_id,
         mutable_parameters={"compression": "zstd"}, want_ok=False)
    snap = call("CreateSnapshot", name=unique("secret-snap"),
                source_volume_id=vol.volume_id).snapshot
    call("ListSnapshots", snapshot_id=snap.snapshot_id)
    restored = call("CreateVolume", name=unique("secret-restore"),
                    volume_capabilities=[ep.mount_cap()],
                    volume_content_source=ep.snapshot_source(snap.snapshot_id)).volume
    call("DeleteSnapshot", snapshot_id=snap.snapshot_id)
    call("DeleteVolume", volume_id=restored.volume_id)
    call("DeleteVolume", volume_id=vol.volume_id)
    return details


@pytest.mark.dynvol
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_secrets_never_logged_nor_stored(driver_factory, csi, log_format):
    from .helpers import Endpoint
    drv = driver_factory(node_id="node-under-test", log_level="debug",
                         log_format=log_format)
    ep = Endpoint(csi, drv.target, "node-under-test", driver=drv)
    details = exercise_with_secrets(ep)
    ep.cleanup()
    # the files while the driver runs (WAL not yet checkpointed) and after
    live = {f: f.read_bytes() for f in all_files_under(drv.state_dir)}
    assert any(f.name == "registry.db-wal" for f in live), sorted(f.name for f in live)
    assert stop_driver(drv) == 0, drv.describe()
    for f, data in live.items():
        assert SECRET_VALUE.encode() not in data, f"the secret value is stored in {f}"

    for d in details:
        assert SECRET_VALUE not in d, f"a status message carries the secret: {d!r}"
    err = drv.stderr_bytes()
    # the debug log really shows requests (else this test proves nothing)
    assert b"CreateVolume" in err and b"ControllerPublishVolume" in err, err[-2000:]
    assert SECRET_VALUE.encode() not in err, "the secret value is in the driver's stderr"
    assert b"s3cr3t" not in err
    assert SECRET_VALUE.encode() not in drv.stdout_path.read_bytes()

    db = drv.state_dir / "registry.db"
    assert db.is_file()
    checked = []
    for f in all_files_under(drv.state_dir):
        data = f.read_bytes()
        checked.append(f.name)
        assert SECRET_VALUE.encode() not in data, f"the secret value is stored in {f}"
        assert SECRET_VALUE.encode("utf-16-le") not in data, f"the secret (UTF-16) is in {f}"
    assert "registry.db" in checked

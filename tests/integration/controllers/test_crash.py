"""The controllers' crash matrix: `dynvol controller` dies of SIGKILL at
each of its crash points (DYNVOL_CRASHPOINT, src/common/crashpoint.h),
exactly as kill -9 would there; a fresh controller then starts, and the
work must end as if nothing happened: one PV per claim, one volume per PV
in the driver, no finalizer left behind, and after a delete no volume and
no PV.

test_every_controller_crash_point_is_covered fails when src/controllers/
has a crash point no scenario here reaches."""

import re
import signal

import pytest

from conftest import REPO
from .test_provisioner import (DRIVER, Volumes, claim_finalizers, pvc, release,
                               storage_class, wait_pv, wanted)

PROVISION = ("provisioner.after_finalizer", "provisioner.after_create_volume",
             "provisioner.after_pv")
DELETE = ("provisioner.delete.after_delete_volume", "provisioner.delete.after_pv_delete")
CRASHPOINT_RE = re.compile(r'dv_crashpoint\("([^"]*)"\)')


def test_every_controller_crash_point_is_covered():
    found = set()
    for path in sorted((REPO / "src" / "controllers").glob("*.c")):
        found.update(CRASHPOINT_RE.findall(path.read_text()))
    covered = set(PROVISION) | set(DELETE)
    assert found - covered == set(), "crash points without a scenario here"
    assert covered - found == set(), "scenarios for crash points the sources lost"


def crashing(controller_factory, point):
    c = controller_factory(args=["--controllers", "provisioner"], start=False)
    c.start(env={"DYNVOL_CRASHPOINT": point})
    c.wait_running()
    return c


def died_at(c, point, timeout=60):
    rc = c.proc.wait(timeout=timeout)
    assert rc == -signal.SIGKILL, f"exit {rc} instead of SIGKILL at {point}: {c.read_log()}"
    c.log.close()


@pytest.fixture
def vols(csi, csi_driver):
    return Volumes(csi, csi_driver)


@pytest.mark.parametrize("point", PROVISION)
def test_kill9_while_provisioning(api, vols, controller_factory, point):
    c = crashing(controller_factory, point)
    api.apply(storage_class("crash"), pvc("c", size="20Mi", sc="crash", annotations=wanted()))
    died_at(c, point)
    c.start()
    c.wait_running()
    pv = wait_pv(api, "c")
    # (no ProvisioningSucceeded check: a crash after the PV create loses
    # that event, and the restarted controller finds the work done)
    api.wait(lambda: "dynvol.io/provisioning" not in claim_finalizers(api, "c"),
             what="the provisioning finalizer to go")
    # One volume in the driver, the PV's, with the claim's size: the
    # CreateVolume the crash interrupted was repeated by name, not doubled.
    held = vols.list()
    assert list(held) == [pv["spec"]["csi"]["volumeHandle"]]
    assert held[pv["spec"]["csi"]["volumeHandle"]].capacity_bytes == 20 << 20
    assert [o["metadata"]["name"] for o in api.get("pv")["items"]] == [pv["metadata"]["name"]]


@pytest.mark.parametrize("point", DELETE)
def test_kill9_while_deleting(api, vols, controller_factory, point):
    c = crashing(controller_factory, point)
    api.apply(storage_class("crash"), pvc("d", sc="crash", annotations=wanted()))
    pv = wait_pv(api, "d")
    name = pv["metadata"]["name"]
    api.kubectl("delete", "pvc", "d", "--wait=false")
    release(api, name)
    died_at(c, point)
    c.start()
    c.wait_running()

    def done():
        o = api.get("pv", name, check=False)
        return o is None or (o["metadata"].get("deletionTimestamp") and
                             "external-provisioner.volume.kubernetes.io/finalizer"
                             not in o["metadata"].get("finalizers", []))
    api.wait(done, what="the PV deleted and the provisioner's finalizer gone")
    assert vols.list() == {}

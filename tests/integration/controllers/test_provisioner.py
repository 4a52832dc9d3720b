"""The provisioner, end to end: `dynvol apiserver`, `dynvol driver` and
`dynvol controller --controllers provisioner` as separate processes, driven
with kubectl. Without the binder in the controller, the tests play the PV
binder's part where the provisioner depends on it: they set the
volume.kubernetes.io/storage-provisioner annotation (what the binder, or
kube-controller-manager, writes on a claim that needs a new volume) and,
for reclaim, the PV's status phase."""

import json
import time

import grpc
import pytest

from conftest import unary
from .cluster import pvc, storage_class

DRIVER = "csi.dynvol.io"
ANN_PROV = "volume.kubernetes.io/storage-provisioner"
ANN_NODE = "volume.kubernetes.io/selected-node"
TOPO_KEY = "topology.dynvol.io/node"
CTRL = "/csi.v1.Controller/"


def wanted(annotations=None):
    a = {ANN_PROV: DRIVER}
    a.update(annotations or {})
    return a


class Volumes:
    """The driver's side: what volumes and snapshots it really holds."""

    def __init__(self, csi, driver):
        self.m = csi
        self.ch = driver.channel()

    def list(self):
        r = unary(self.ch, CTRL + "ListVolumes", self.m.ListVolumesRequest(),
                  self.m.ListVolumesResponse)
        return {e.volume.volume_id: e.volume for e in r.entries}

    def create(self, name, size=1 << 20):
        req = self.m.CreateVolumeRequest(name=name)
        cap = req.volume_capabilities.add()
        cap.access_mode.mode = self.m.VolumeCapability.AccessMode.SINGLE_NODE_WRITER
        cap.mount.SetInParent()
        req.capacity_range.required_bytes = size
        return unary(self.ch, CTRL + "CreateVolume", req, self.m.CreateVolumeResponse).volume

    def snapshot(self, name, source):
        return unary(self.ch, CTRL + "CreateSnapshot",
                     self.m.CreateSnapshotRequest(name=name, source_volume_id=source),
                     self.m.CreateSnapshotResponse).snapshot


@pytest.fixture
def vols(csi, csi_driver):
    return Volumes(csi, csi_driver)


def provisioner(controller_factory, args=(), **kw):
    return controller_factory(args=["--controllers", "provisioner", *args], **kw)


def wait_pv(api, claim, namespace="default", timeout=60):
    """The PV the provisioner made for claim (found by its claimRef)."""
    def find():
        o = api.get("pvc", claim, namespace, check=False)
        if not o:
            return None
        pv = api.get("pv", "pvc-" + o["metadata"]["uid"], check=False)
        return pv
    return api.wait(find, timeout, what=f"a PV for {namespace}/{claim}")


def claim_finalizers(api, name, namespace="default"):
    o = api.get("pvc", name, namespace)
    return o["metadata"].get("finalizers", [])


def event_messages(api, name, reason, namespace="default"):
    return [e.get("message", "") for e in api.events(name, namespace, reason)]


def test_immediate_claim_gets_a_pv_with_everything_the_class_says(api, vols, controller_factory):
    provisioner(controller_factory)
    api.apply(storage_class("fast", reclaim="Retain", mount_options=["noatime"]),
              pvc("data", size="100Mi", sc="fast", annotations=wanted()))
    pv = wait_pv(api, "data")
    claim = api.get("pvc", "data")
    spec = pv["spec"]
    assert pv["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"] == DRIVER
    assert "external-provisioner.volume.kubernetes.io/finalizer" in pv["metadata"]["finalizers"]
    assert spec["claimRef"]["uid"] == claim["metadata"]["uid"]
    assert spec["claimRef"]["name"] == "data" and spec["claimRef"]["namespace"] == "default"
    assert spec["capacity"]["storage"] == "100Mi"
    assert spec["accessModes"] == ["ReadWriteOnce"]
    assert spec["persistentVolumeReclaimPolicy"] == "Retain"
    assert spec["storageClassName"] == "fast"
    assert spec["mountOptions"] == ["noatime"]
    assert spec["volumeMode"] == "Filesystem"
    assert spec["csi"]["driver"] == DRIVER
    # The volume exists in the driver with the requested size.
    v = vols.list()[spec["csi"]["volumeHandle"]]
    assert v.capacity_bytes == 100 << 20
    # Node affinity from the volume's accessible topology.
    terms = spec["nodeAffinity"]["required"]["nodeSelectorTerms"]
    assert any(e["key"] == TOPO_KEY for t in terms for e in t["matchExpressions"])
    api.wait_event("data", "ProvisioningSucceeded")
    # The in-flight finalizer is gone once the PV exists.
    api.wait(lambda: "dynvol.io/provisioning" not in claim_finalizers(api, "data"),
             what="the provisioning finalizer to go")


def test_only_claims_waiting_for_this_driver_are_provisioned(api, vols, controller_factory):
    provisioner(controller_factory)
    api.apply(storage_class("mine"), storage_class("theirs", provisioner="other.csi.io"),
              pvc("unannotated", sc="mine"),
              pvc("other-driver", sc="theirs",
                  annotations={ANN_PROV: "other.csi.io"}),
              pvc("ours", sc="mine", annotations=wanted()))
    wait_pv(api, "ours")
    # The controller handles claims in arrival order per worker; the two
    # others were queued before "ours" finished, and got nothing.
    for name in ("unannotated", "other-driver"):
        uid = api.get("pvc", name)["metadata"]["uid"]
        assert not api.exists("pv", "pvc-" + uid)
    assert len(vols.list()) == 1


def test_reserved_parameter_typo_fails_with_an_event_and_stays_pending(api, vols,
                                                                        controller_factory):
    provisioner(controller_factory)
    api.apply(storage_class("typo", parameters={"csi.storage.k8s.io/fs-type": "ext4"}),
              storage_class("driver-says-no", parameters={"no-such-key": "1"}),
              pvc("a", sc="typo", annotations=wanted()),
              pvc("b", sc="driver-says-no", annotations=wanted()))
    msgs = api.wait(lambda: event_messages(api, "a", "ProvisioningFailed"),
                    what="ProvisioningFailed on a")
    assert any('unknown parameter key "csi.storage.k8s.io/fs-type"' in m for m in msgs), msgs
    msgs = api.wait(lambda: event_messages(api, "b", "ProvisioningFailed"),
                    what="ProvisioningFailed on b")
    assert any("INVALID_ARGUMENT" in m and "no-such-key" in m for m in msgs), msgs
    assert api.get("pvc", "a")["status"].get("phase") == "Pending"
    assert vols.list() == {}


def test_missing_class_is_reported_and_retried_when_it_appears(api, vols, controller_factory):
    provisioner(controller_factory)
    api.apply(pvc("late", sc="later", annotations=wanted()))
    msgs = api.wait(lambda: event_messages(api, "late", "ProvisioningFailed"),
                    what="ProvisioningFailed")
    assert any('"later" not found' in m for m in msgs), msgs
    api.apply(storage_class("later"))
    wait_pv(api, "late")


def test_secrets_are_resolved_from_templates_and_never_shown(api, vols, controller_factory):
    ctl = provisioner(controller_factory)
    secret_value = "s3cr3t-value-never-logged"
    params = {
        "csi.storage.k8s.io/provisioner-secret-name": "${pvc.name}-creds",
        "csi.storage.k8s.io/provisioner-secret-namespace": "${pvc.namespace}",
        "csi.storage.k8s.io/node-stage-secret-name": "stage-${pvc.annotations['team']}",
        "csi.storage.k8s.io/node-stage-secret-namespace": "default",
    }
    api.apply(storage_class("secretive", parameters=params),
              pvc("vault", sc="secretive", annotations=wanted({"team": "blue"})))
    msgs = api.wait(lambda: event_messages(api, "vault", "ProvisioningFailed"),
                    what="ProvisioningFailed for the missing Secret")
    assert any("default/vault-creds not found" in m for m in msgs), msgs
    api.apply({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": "vault-creds", "namespace": "default"},
               "stringData": {"token": secret_value}})
    pv = wait_pv(api, "vault")
    assert pv["spec"]["csi"]["nodeStageSecretRef"] == {"name": "stage-blue",
                                                       "namespace": "default"}
    ann = pv["metadata"]["annotations"]
    assert ann["volume.kubernetes.io/provisioner-deletion-secret-name"] == "vault-creds"
    assert ann["volume.kubernetes.io/provisioner-deletion-secret-namespace"] == "default"
    events = json.dumps(api.get("events")["items"])
    assert secret_value not in events
    assert secret_value not in ctl.read_log()


def test_bad_secret_template_is_refused(api, vols, controller_factory):
    provisioner(controller_factory)
    api.apply(storage_class("badtmpl", parameters={
        "csi.storage.k8s.io/provisioner-secret-name": "${pvc.uid}",
        "csi.storage.k8s.io/provisioner-secret-namespace": "default"}),
        pvc("t", sc="badtmpl", annotations=wanted()))
    msgs = api.wait(lambda: event_messages(api, "t", "ProvisioningFailed"),
                    what="ProvisioningFailed")
    assert any("${pvc.uid} is not supported" in m for m in msgs), msgs
    assert vols.list() == {}


def register_node(api, name="node-1"):
    """What the node plugin's registration leaves in the API."""
    api.apply({"apiVersion": "v1", "kind": "Node",
               "metadata": {"name": name, "labels": {TOPO_KEY: name}}},
              {"apiVersion": "storage.k8s.io/v1", "kind": "CSINode",
               "metadata": {"name": name},
               "spec": {"drivers": [{"name": DRIVER, "nodeID": name,
                                     "topologyKeys": [TOPO_KEY]}]}})


def test_wait_for_first_consumer_waits_for_the_selected_node(api, vols, controller_factory):
    provisioner(controller_factory)
    register_node(api)
    api.apply(storage_class("wffc", binding="WaitForFirstConsumer"), storage_class("now"),
              pvc("later", sc="wffc", annotations=wanted()),
              pvc("marker", sc="now", annotations=wanted()))
    wait_pv(api, "marker")
    uid = api.get("pvc", "later")["metadata"]["uid"]
    assert not api.exists("pv", "pvc-" + uid), "provisioned before a node was selected"
    api.kubectl("annotate", "pvc", "later", f"{ANN_NODE}=node-1")
    pv = wait_pv(api, "later")
    terms = pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"]
    assert {"key": TOPO_KEY, "operator": "In", "values": ["node-1"]} in \
        terms[0]["matchExpressions"]


def test_selected_node_outside_allowed_topologies_is_refused(api, vols, controller_factory):
    provisioner(controller_factory)
    register_node(api)
    allowed = [{"matchLabelExpressions": [{"key": TOPO_KEY, "values": ["node-9"]}]}]
    api.apply(storage_class("zoned", binding="WaitForFirstConsumer",
                            allowed_topologies=allowed),
              pvc("z", sc="zoned", annotations=wanted({ANN_NODE: "node-1"})))
    msgs = api.wait(lambda: event_messages(api, "z", "ProvisioningFailed"),
                    what="ProvisioningFailed")
    assert any("outside the class's allowedTopologies" in m for m in msgs), msgs
    # A final refusal on the selected node hands the claim back to the scheduler.
    api.wait(lambda: ANN_NODE not in api.get("pvc", "z")["metadata"].get("annotations", {}),
             what="the selected-node annotation to be removed")
    assert vols.list() == {}


def test_block_volume_from_an_image_pool(api, csi, driver_factory, controller_factory,
                                        tmp_path):
    root = tmp_path / "img"
    root.mkdir()
    cfg = tmp_path / "dynvol.yaml"
    cfg.write_text(f"pools:\n  - name: img\n    backend: image\n    root: {root}\n")
    drv = driver_factory(node_id="node-1", extra_args=["--config", str(cfg)])
    provisioner(controller_factory, driver=drv)
    api.apply(storage_class("raw", parameters={"pool": "img"}),
              pvc("blk", size="8Mi", sc="raw", volume_mode="Block", annotations=wanted()))
    pv = wait_pv(api, "blk")
    assert pv["spec"]["volumeMode"] == "Block"
    assert "fsType" not in pv["spec"]["csi"]
    v = Volumes(csi, drv).list()[pv["spec"]["csi"]["volumeHandle"]]
    # The image pool rounds small volumes up; the PV says what was allocated.
    assert v.capacity_bytes >= 8 << 20 and v.capacity_bytes % (1 << 20) == 0
    assert pv["spec"]["capacity"]["storage"] == f"{v.capacity_bytes >> 20}Mi"


def test_access_mode_the_pool_cannot_serve_fails_with_the_drivers_reason(api, vols,
                                                                         controller_factory):
    provisioner(controller_factory)
    api.apply(storage_class("local"),
              pvc("rwx", sc="local", modes=("ReadWriteMany",), annotations=wanted()))
    msgs = api.wait(lambda: event_messages(api, "rwx", "ProvisioningFailed"),
                    what="ProvisioningFailed")
    assert any("INVALID_ARGUMENT" in m and "multi-node" in m for m in msgs), msgs
    assert vols.list() == {}


def test_capacity_is_what_the_driver_allocated(api, vols, controller_factory):
    provisioner(controller_factory)
    api.apply(storage_class("odd"), pvc("odd", size="1000001", sc="odd", annotations=wanted()))
    pv = wait_pv(api, "odd")
    v = vols.list()[pv["spec"]["csi"]["volumeHandle"]]
    assert v.capacity_bytes >= 1000001
    got = pv["spec"]["capacity"]["storage"]
    expect = {v.capacity_bytes: str(v.capacity_bytes)}
    if v.capacity_bytes % (1 << 20) == 0:
        expect = {v.capacity_bytes: f"{v.capacity_bytes >> 20}Mi"}
    if v.capacity_bytes % (1 << 10) == 0 and v.capacity_bytes % (1 << 20):
        expect = {v.capacity_bytes: f"{v.capacity_bytes >> 10}Ki"}
    assert got == expect[v.capacity_bytes], (got, v.capacity_bytes)


def drop_finalizer(api, kind, name, finalizer, namespace=None):
    """What Kubernetes' protection controllers do (the binder's job in
    dynvol; not running in these tests)."""
    ns = ["-n", namespace] if namespace else []
    def once():
        o = api.get(kind, name, namespace, check=False)
        if o is None:
            return True
        fins = o["metadata"].get("finalizers", [])
        if finalizer not in fins:
            return True
        i = fins.index(finalizer)
        p = api.kubectl("patch", kind, name, *ns, "--type=json", "-p", json.dumps([
            {"op": "test", "path": f"/metadata/finalizers/{i}", "value": finalizer},
            {"op": "remove", "path": f"/metadata/finalizers/{i}"}]), check=False)
        return p.returncode == 0
    api.wait(once, what=f"{finalizer} removed from {kind} {name}")


def only_finalizers(api, kind, name, expect, namespace=None):
    o = api.get(kind, name, namespace, check=False)
    return o is not None and o["metadata"].get("finalizers", []) == expect


def release(api, pv_name):
    """The binder's part: the claim is gone, so the PV is Released."""
    api.kubectl("patch", "pv", pv_name, "--subresource=status", "--type=merge",
                "-p", json.dumps({"status": {"phase": "Released"}}))


def test_released_pv_with_delete_policy_is_deleted_with_its_volume(api, vols,
                                                                     controller_factory):
    provisioner(controller_factory)
    api.apply(storage_class("del"), pvc("gone", sc="del", annotations=wanted()))
    pv = wait_pv(api, "gone")
    handle = pv["spec"]["csi"]["volumeHandle"]
    assert handle in vols.list()
    api.kubectl("delete", "pvc", "gone", "--wait=false")
    release(api, pv["metadata"]["name"])
    name = pv["metadata"]["name"]
    # DeleteVolume, then the PV deleted and our finalizer dropped.
    api.wait(lambda: only_finalizers(api, "pv", name, ["kubernetes.io/pv-protection"]),
             what="the provisioner's PV finalizer to go")
    assert api.get("pv", name)["metadata"].get("deletionTimestamp")
    assert handle not in vols.list()
    drop_finalizer(api, "pv", name, "kubernetes.io/pv-protection")
    api.wait_gone("pv", name)


def test_retain_keeps_the_volume_when_the_pv_is_deleted(api, vols, controller_factory):
    provisioner(controller_factory)
    api.apply(storage_class("keep", reclaim="Retain"),
              pvc("kept", sc="keep", annotations=wanted()))
    pv = wait_pv(api, "kept")
    name, handle = pv["metadata"]["name"], pv["spec"]["csi"]["volumeHandle"]
    release(api, name)
    api.kubectl("delete", "pv", name, "--wait=false")
    api.wait(lambda: only_finalizers(api, "pv", name, ["kubernetes.io/pv-protection"]),
             what="the provisioner's PV finalizer to go")
    drop_finalizer(api, "pv", name, "kubernetes.io/pv-protection")
    api.wait_gone("pv", name)
    assert handle in vols.list()


def ready_snapshot(api, vols, source_handle, name="snap", namespace="default"):
    """A VolumeSnapshot bound to a content whose snapshot really exists in
    the driver (the snapshotter's part, played by the test)."""
    snap = vols.snapshot(name + "-csi", source_handle)
    api.apply({"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotContent",
               "metadata": {"name": name + "-content"},
               "spec": {"driver": DRIVER, "deletionPolicy": "Delete",
                        "source": {"snapshotHandle": snap.snapshot_id},
                        "volumeSnapshotRef": {"name": name, "namespace": namespace}}},
              {"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
               "metadata": {"name": name, "namespace": namespace},
               "spec": {"source": {"volumeSnapshotContentName": name + "-content"}}})
    api.kubectl("patch", "volumesnapshotcontent", name + "-content", "--subresource=status",
                "--type=merge", "-p", json.dumps({"status": {
                    "snapshotHandle": snap.snapshot_id, "readyToUse": True,
                    "restoreSize": snap.size_bytes}}))
    api.kubectl("patch", "volumesnapshot", name, "-n", namespace, "--subresource=status",
                "--type=merge", "-p", json.dumps({"status": {
                    "boundVolumeSnapshotContentName": name + "-content", "readyToUse": True}}))
    return snap


def test_restore_from_a_snapshot(api, vols, controller_factory):
    provisioner(controller_factory)
    api.apply(storage_class("snapcls"), pvc("orig", size="10Mi", sc="snapcls",
                                            annotations=wanted()))
    src = wait_pv(api, "orig")
    snap = ready_snapshot(api, vols, src["spec"]["csi"]["volumeHandle"])
    ds = {"apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot", "name": "snap"}
    api.apply(pvc("small", size="1Mi", sc="snapcls", data_source=ds, annotations=wanted()),
              pvc("restored", size="10Mi", sc="snapcls", data_source=ds,
                  annotations=wanted()))
    pv = wait_pv(api, "restored")
    v = vols.list()[pv["spec"]["csi"]["volumeHandle"]]
    assert v.content_source.snapshot.snapshot_id == snap.snapshot_id
    msgs = api.wait(lambda: event_messages(api, "small", "ProvisioningFailed"),
                    what="ProvisioningFailed for a too small restore")
    assert any("less than the size" in m for m in msgs), msgs


def bind_by_hand(api, claim, pv_name, size, namespace="default"):
    """The binder's part, for a clone source."""
    api.kubectl("patch", "pvc", claim, "-n", namespace, "--type=merge", "-p",
                json.dumps({"spec": {"volumeName": pv_name}}))
    api.kubectl("patch", "pvc", claim, "-n", namespace, "--subresource=status",
                "--type=merge", "-p", json.dumps({"status": {
                    "phase": "Bound", "capacity": {"storage": size}}}))


def test_clone_of_a_bound_claim_and_cross_namespace_refused(api, vols, controller_factory):
    provisioner(controller_factory)
    api.apply(storage_class("clonecls"),
              pvc("parent", size="4Mi", sc="clonecls", annotations=wanted()))
    src = wait_pv(api, "parent")
    bind_by_hand(api, "parent", src["metadata"]["name"], "4Mi")
    api.kubectl("create", "namespace", "elsewhere")
    api.apply(pvc("child", size="4Mi", sc="clonecls", annotations=wanted(),
                  data_source={"kind": "PersistentVolumeClaim", "name": "parent"}),
              pvc("thief", size="4Mi", sc="clonecls", namespace="elsewhere",
                  annotations=wanted(),
                  data_source_ref={"kind": "PersistentVolumeClaim", "name": "parent",
                                   "namespace": "default"}))
    pv = wait_pv(api, "child")
    v = vols.list()[pv["spec"]["csi"]["volumeHandle"]]
    assert v.content_source.volume.volume_id == src["spec"]["csi"]["volumeHandle"]
    # The source's cloning-protection finalizer is gone after the clone.
    api.wait(lambda: "provisioner.storage.kubernetes.io/cloning-protection" not in
             claim_finalizers(api, "parent"), what="cloning-protection to go")
    msgs = api.wait(lambda: event_messages(api, "thief", "ProvisioningFailed", "elsewhere"),
                    what="ProvisioningFailed for a cross-namespace source")
    assert any("cross-namespace" in m for m in msgs), msgs


def test_claim_deleted_mid_provision_leaves_no_volume(api, vols, driver_factory,
                                                      controller_factory):
    slow = driver_factory(node_id="node-1", delay="CreateVolume:3000")
    provisioner(controller_factory, driver=slow)
    sv = Volumes(vols.m, slow)
    api.apply(storage_class("slow"), pvc("brief", sc="slow", annotations=wanted()))
    api.wait_event("brief", "Provisioning")
    uid = api.get("pvc", "brief")["metadata"]["uid"]
    api.kubectl("delete", "pvc", "brief", "--wait=false")
    api.wait(lambda: only_finalizers(api, "pvc", "brief", ["kubernetes.io/pvc-protection"]),
             what="the provisioning finalizer to go")
    drop_finalizer(api, "pvc", "brief", "kubernetes.io/pvc-protection")
    api.wait_gone("pvc", "brief", timeout=60)
    assert not api.exists("pv", "pvc-" + uid)
    assert sv.list() == {}


def test_kill9_mid_provision_then_restart_finishes_with_one_volume(api, vols, driver_factory,
                                                                   controller_factory):
    slow = driver_factory(node_id="node-1", delay="CreateVolume:2000")
    ctl = provisioner(controller_factory, driver=slow)
    sv = Volumes(vols.m, slow)
    api.apply(storage_class("k9"), pvc("k9", sc="k9", annotations=wanted()))
    api.wait_event("k9", "Provisioning")
    ctl.kill9()
    ctl.start()
    ctl.wait_running()
    pv = wait_pv(api, "k9")
    assert list(sv.list()) == [pv["spec"]["csi"]["volumeHandle"]]


def test_pv_create_failure_is_retried_without_a_second_volume(api, vols, controller_factory):
    provisioner(controller_factory)
    api.apply(storage_class("blocked"), pvc("blocked", sc="blocked"))
    uid = api.get("pvc", "blocked")["metadata"]["uid"]
    # A PV of that name for another claim makes the provisioner's create fail
    # after CreateVolume succeeded.
    api.apply({"apiVersion": "v1", "kind": "PersistentVolume",
               "metadata": {"name": "pvc-" + uid},
               "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                        "claimRef": {"namespace": "default", "name": "someone-else",
                                     "uid": "00000000-0000-0000-0000-000000000000"},
                        "hostPath": {"path": "/nonexistent"}}})
    api.kubectl("annotate", "pvc", "blocked", f"{ANN_PROV}={DRIVER}")
    msgs = api.wait(lambda: event_messages(api, "blocked", "ProvisioningFailed"),
                    what="ProvisioningFailed for the PV clash")
    assert any("exists for another claim" in m for m in msgs), msgs
    assert len(vols.list()) == 1
    api.kubectl("delete", "pv", "pvc-" + uid, "--wait=false")
    drop_finalizer(api, "pv", "pvc-" + uid, "kubernetes.io/pv-protection")
    pv = api.wait(lambda: (lambda o: o if o and o["spec"].get("csi") else None)(
        api.get("pv", "pvc-" + uid, check=False)), what="the provisioner's PV")
    assert list(vols.list()) == [pv["spec"]["csi"]["volumeHandle"]]


def test_leader_election_one_acts_and_the_other_takes_over(api, vols, controller_factory):
    le = ["--leader-elect", "--leader-elect-lease-duration", "3s",
          "--leader-elect-renew-deadline", "2s", "--leader-elect-retry-period", "500ms"]
    a = provisioner(controller_factory, le)
    b = provisioner(controller_factory, le, wait=False)
    api.wait(lambda: "waiting to lead" in b.read_log(), what="the second to wait")
    api.apply(storage_class("le"), pvc("one", sc="le", annotations=wanted()))
    wait_pv(api, "one")
    assert "controller: running" not in b.read_log()
    a.kill9()
    b.wait_running(timeout=30)
    api.apply(pvc("two", sc="le", annotations=wanted()))
    wait_pv(api, "two")
    assert len(vols.list()) == 2


def test_third_party_driver_name(api, csi, driver_factory, controller_factory):
    other = driver_factory(node_id="node-1", driver_name="other.vendor.io")
    provisioner(controller_factory, driver=other)
    api.apply(storage_class("vendor", provisioner="other.vendor.io"),
              pvc("v", sc="vendor", annotations={ANN_PROV: "other.vendor.io"}))
    pv = wait_pv(api, "v")
    assert pv["spec"]["csi"]["driver"] == "other.vendor.io"
    assert pv["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"] == \
        "other.vendor.io"

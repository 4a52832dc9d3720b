"""The attacher, end to end: `dynvol apiserver`, `dynvol driver` and
`dynvol controller --controllers attacher` as separate processes, driven
with kubectl. The tests play kubelet's and the attach/detach controller's
parts: they register the node's CSINode and create and delete the
VolumeAttachments; what they check is what kubectl shows (status,
finalizers) and what the driver really has published (ListVolumes)."""

import pytest

from conftest import unary

DRIVER = "csi.dynvol.io"
FINALIZER = "external-attacher/csi-dynvol-io"
NODE = "node-1"
CTRL = "/csi.v1.Controller/"


class Driver:
    """The driver's side: its volumes and the nodes each is published to."""

    def __init__(self, csi, driver):
        self.m = csi
        self.ch = driver.channel()

    def create(self, name, size=1 << 20):
        req = self.m.CreateVolumeRequest(name=name)
        cap = req.volume_capabilities.add()
        cap.access_mode.mode = self.m.VolumeCapability.AccessMode.SINGLE_NODE_WRITER
        cap.mount.SetInParent()
        req.capacity_range.required_bytes = size
        return unary(self.ch, CTRL + "CreateVolume", req, self.m.CreateVolumeResponse).volume

    def published(self, volume_id):
        r = unary(self.ch, CTRL + "ListVolumes", self.m.ListVolumesRequest(),
                  self.m.ListVolumesResponse)
        for e in r.entries:
            if e.volume.volume_id == volume_id:
                return list(e.status.published_node_ids)
        raise AssertionError(f"volume {volume_id} is not in the driver")


@pytest.fixture
def drv(csi, csi_driver):
    return Driver(csi, csi_driver)


def attacher(controller_factory, **kw):
    return controller_factory(args=["--controllers", "attacher"], **kw)


def csinode(name, drivers=((DRIVER, NODE),)):
    return {"apiVersion": "storage.k8s.io/v1", "kind": "CSINode",
            "metadata": {"name": name},
            "spec": {"drivers": [{"name": d, "nodeID": i,
                                  "topologyKeys": ["topology.dynvol.io/node"]}
                                 for d, i in drivers]}}


def static_pv(name, handle, secret=None, modes=("ReadWriteOnce",)):
    pv = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
          "spec": {"capacity": {"storage": "1Mi"}, "accessModes": list(modes),
                   "persistentVolumeReclaimPolicy": "Retain", "volumeMode": "Filesystem",
                   "csi": {"driver": DRIVER, "volumeHandle": handle,
                           "volumeAttributes": {"origin": "test"}}}}
    if secret:
        pv["spec"]["csi"]["controllerPublishSecretRef"] = {"name": secret,
                                                           "namespace": "default"}
    return pv


def va(name, pv=None, node=NODE, attacher_name=DRIVER, inline=None):
    source = {"persistentVolumeName": pv} if pv else {"inlineVolumeSpec": inline}
    return {"apiVersion": "storage.k8s.io/v1", "kind": "VolumeAttachment",
            "metadata": {"name": name},
            "spec": {"attacher": attacher_name, "nodeName": node, "source": source}}


def wait_attached(api, name, timeout=60):
    def check():
        o = api.get("volumeattachment", name, check=False)
        return o if o and o.get("status", {}).get("attached") is True else None
    return api.wait(check, timeout, what=f"VolumeAttachment {name} attached")


def wait_error(api, name, field, text, timeout=60):
    def check():
        o = api.get("volumeattachment", name, check=False)
        msg = ((o or {}).get("status", {}).get(field) or {}).get("message", "")
        return o if text in msg else None
    return api.wait(check, timeout, what=f"{field} with {text!r} on {name}")


def finalizers(obj):
    return obj["metadata"].get("finalizers", [])


def delete_va(api, name):
    api.kubectl("delete", "volumeattachment", name, "--wait=false")


def test_attach_publishes_to_the_node_and_detach_unpublishes(api, drv, controller_factory):
    attacher(controller_factory)
    vol = drv.create("vol-a")
    api.apply(csinode(NODE), static_pv("pv-a", vol.volume_id), va("va-a", "pv-a"),
              va("va-theirs", "pv-a", attacher_name="other.csi.io"))
    o = wait_attached(api, "va-a")
    # What the driver said in its publish context, and no error.
    assert o["status"]["attachmentMetadata"] == {"dynvol.io/pool": vol.volume_context["dynvol.io/pool"]}
    assert not o["status"].get("attachError")
    assert FINALIZER in finalizers(o)
    assert o["metadata"]["annotations"]["csi.alpha.kubernetes.io/node-id"] == NODE
    assert FINALIZER in finalizers(api.get("pv", "pv-a"))
    assert drv.published(vol.volume_id) == [NODE]
    # Another driver's attachment is not ours to touch.
    theirs = api.get("volumeattachment", "va-theirs")
    assert not theirs.get("status", {}).get("attached")
    assert FINALIZER not in finalizers(theirs)
    api.kubectl("delete", "volumeattachment", "va-theirs")

    delete_va(api, "va-a")
    api.wait_gone("volumeattachment", "va-a")
    assert drv.published(vol.volume_id) == []
    # The PV's finalizer only holds it while an attachment names it (the
    # API server's pv-protection finalizer is kube-controller-manager's).
    api.kubectl("delete", "pv", "pv-a", "--wait=false")
    api.wait(lambda: FINALIZER not in finalizers(api.get("pv", "pv-a")),
             what="the attacher's PV finalizer to go")


def test_inline_volume_spec_is_attached(api, drv, controller_factory):
    attacher(controller_factory)
    vol = drv.create("vol-inline")
    inline = {"accessModes": ["ReadWriteOnce"],
              "csi": {"driver": DRIVER, "volumeHandle": vol.volume_id}}
    api.apply(csinode(NODE), va("va-inline", inline=inline))
    o = wait_attached(api, "va-inline")
    assert FINALIZER in finalizers(o)
    assert drv.published(vol.volume_id) == [NODE]
    delete_va(api, "va-inline")
    api.wait_gone("volumeattachment", "va-inline")
    assert drv.published(vol.volume_id) == []


def test_unknown_node_is_an_attach_error_and_heals_when_registered(api, drv,
                                                                   controller_factory):
    attacher(controller_factory)
    vol = drv.create("vol-node")
    api.apply(static_pv("pv-n", vol.volume_id), va("va-n", "pv-n", node="node-2"))
    o = wait_error(api, "va-n", "attachError", 'csinode.storage.k8s.io "node-2" not found')
    assert o["status"]["attachError"]["time"]
    assert not o["status"].get("attached")
    # Nothing was published, so nothing holds the VA back from deletion.
    assert FINALIZER not in finalizers(o)
    # A CSINode without our driver: the driver is not running there.
    api.apply(csinode("node-2", drivers=(("other.csi.io", "x"),)))
    wait_error(api, "va-n", "attachError", f"CSINode node-2 does not contain driver {DRIVER}")
    # Our driver there, but the volume lives on node-1 only: the driver's no.
    api.apply(csinode("node-2", drivers=((DRIVER, "node-2"),)))
    wait_error(api, "va-n", "attachError", "rpc error: code = NOT_FOUND")
    assert drv.published(vol.volume_id) == []
    # The detach of a never-published attachment needs no driver call.
    delete_va(api, "va-n")
    api.wait_gone("volumeattachment", "va-n")


def test_publish_secret_is_required_and_retried(api, drv, controller_factory):
    attacher(controller_factory)
    vol = drv.create("vol-secret")
    api.apply(csinode(NODE), static_pv("pv-s", vol.volume_id, secret="publish-creds"),
              va("va-s", "pv-s"))
    wait_error(api, "va-s", "attachError", 'failed to load secret "default/publish-creds"')
    assert drv.published(vol.volume_id) == []
    api.kubectl("create", "secret", "generic", "publish-creds", "--from-literal=token=s3cr3t")
    o = wait_attached(api, "va-s")
    assert not o["status"].get("attachError")
    assert "s3cr3t" not in str(o)
    assert drv.published(vol.volume_id) == [NODE]


def test_kill9_mid_attach_and_mid_detach_is_finished_after_restart(
        api, csi, driver_factory, controller_factory):
    slow = driver_factory(node_id=NODE,
                          delay="ControllerPublishVolume:2000,ControllerUnpublishVolume:2000")
    d = Driver(csi, slow)
    vol = d.create("vol-crash")
    c = attacher(controller_factory, driver=slow)
    api.apply(csinode(NODE), static_pv("pv-c", vol.volume_id), va("va-c", "pv-c"))
    # The finalizer is written right before ControllerPublishVolume.
    api.wait(lambda: FINALIZER in finalizers(api.get("volumeattachment", "va-c")),
             what="the attacher to start publishing")
    c.kill9()
    assert not api.get("volumeattachment", "va-c").get("status", {}).get("attached")
    c = attacher(controller_factory, driver=slow)
    wait_attached(api, "va-c")
    assert d.published(vol.volume_id) == [NODE]

    delete_va(api, "va-c")
    api.wait(lambda: api.get("volumeattachment", "va-c")["metadata"].get("deletionTimestamp"),
             what="the VolumeAttachment to be marked for deletion")
    c.kill9()
    assert api.exists("volumeattachment", "va-c")
    attacher(controller_factory, driver=slow)
    api.wait_gone("volumeattachment", "va-c")
    assert d.published(vol.volume_id) == []


def test_detach_after_the_csinode_went_uses_the_recorded_node_id(api, drv, controller_factory):
    attacher(controller_factory)
    vol = drv.create("vol-gone-node")
    api.apply(csinode(NODE), static_pv("pv-g", vol.volume_id), va("va-g", "pv-g"))
    wait_attached(api, "va-g")
    # The node's driver deregistered (node shut down): the detach must
    # still reach the driver with the node id the attach used.
    api.kubectl("delete", "csinode", NODE)
    delete_va(api, "va-g")
    api.wait_gone("volumeattachment", "va-g")
    assert drv.published(vol.volume_id) == []


def test_capabilities_the_volume_cannot_have_are_attach_errors(api, drv, controller_factory):
    attacher(controller_factory)
    vol = drv.create("vol-modes")
    # Another driver's volume named by an attachment for ours.
    inline = {"accessModes": ["ReadWriteOnce"],
              "csi": {"driver": "other.csi.io", "volumeHandle": vol.volume_id}}
    api.apply(csinode(NODE), va("va-m", inline=inline))
    o = wait_error(api, "va-m", "attachError",
                   f'the volume belongs to CSI driver "other.csi.io", not "{DRIVER}"')
    # Nothing was written before the checks passed.
    assert FINALIZER not in finalizers(o)
    # A filesystem volume asked for as Block: the driver's own no, after
    # the finalizers (the driver may have done something).
    pv = static_pv("pv-b", vol.volume_id)
    pv["spec"]["volumeMode"] = "Block"
    api.apply(pv, va("va-b", "pv-b"))
    wait_error(api, "va-b", "attachError", "rpc error: code = INVALID_ARGUMENT")
    assert FINALIZER in finalizers(api.get("pv", "pv-b"))
    assert drv.published(vol.volume_id) == []
    delete_va(api, "va-b")
    api.wait_gone("volumeattachment", "va-b")


def test_a_publication_the_driver_lost_is_restored_by_the_reconcile_at_start(
        api, drv, csi, controller_factory):
    c = attacher(controller_factory)
    vol = drv.create("vol-lost")
    api.apply(csinode(NODE), static_pv("pv-l", vol.volume_id), va("va-l", "pv-l"))
    wait_attached(api, "va-l")
    c.stop()
    # Behind the controller's back the driver forgets the publication.
    unary(drv.ch, CTRL + "ControllerUnpublishVolume",
          csi.ControllerUnpublishVolumeRequest(volume_id=vol.volume_id, node_id=NODE),
          csi.ControllerUnpublishVolumeResponse)
    assert drv.published(vol.volume_id) == []
    c = attacher(controller_factory)
    api.wait(lambda: drv.published(vol.volume_id) == [NODE],
             what="the reconcile to publish the volume again")
    assert "is not published to node node-1 any more" in c.read_log()
    assert api.get("volumeattachment", "va-l")["status"]["attached"] is True

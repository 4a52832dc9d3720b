"""The capacity publisher, end to end: `dynvol apiserver`, `dynvol driver`
and `dynvol controller --controllers capacity` as separate processes,
driven with kubectl. The tests play kubelet's part (Nodes with topology
labels, CSINodes) and compare the CSIStorageCapacity objects with what the
driver itself answers to GetCapacity.

The driver's class uses a thin image pool: its capacity (overcommit x the
file system's size) does not move while other processes write to the
disk, so the published value can be compared exactly."""

import pytest

from conftest import unary
from .cluster import storage_class

DRIVER = "csi.dynvol.io"
TOPO_KEY = "topology.dynvol.io/node"
LABEL_DRIVER = "csi.storage.k8s.io/drivername"
LABEL_MANAGED = "csi.storage.k8s.io/managed-by"
SUFFIX = {"": 1, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40,
          "Pi": 1 << 50, "Ei": 1 << 60, "k": 10**3, "M": 10**6, "G": 10**9,
          "T": 10**12, "P": 10**15, "E": 10**18}


def quantity_bytes(q):
    num = q.rstrip("KMGTPEik")
    return int(num) * SUFFIX[q[len(num):]]


@pytest.fixture
def thin_driver(driver_factory, tmp_path):
    root = tmp_path / "thin"
    root.mkdir()
    cfg = tmp_path / "driver.yaml"
    cfg.write_text(f"""pools:
  - name: thin
    backend: image
    root: {root}
    options:
      overcommit: "50"
  - name: default
    backend: dir
    root: {tmp_path / "dirpool"}
""")
    (tmp_path / "dirpool").mkdir()
    return driver_factory(node_id="node-1", extra_args=["--config", str(cfg)])


def get_capacity(csi, driver, params, node=None):
    req = csi.GetCapacityRequest(parameters=params)
    if node:
        req.accessible_topology.segments[TOPO_KEY] = node
    return unary(driver.channel(), "/csi.v1.Controller/GetCapacity", req,
                 csi.GetCapacityResponse)


def publisher(controller_factory, driver, extra=()):
    return controller_factory(args=["--controllers", "capacity",
                                    "--capacity-poll-interval", "1s", *extra], driver=driver)


def node(name):
    return [{"apiVersion": "v1", "kind": "Node",
             "metadata": {"name": name, "labels": {TOPO_KEY: name}}},
            {"apiVersion": "storage.k8s.io/v1", "kind": "CSINode", "metadata": {"name": name},
             "spec": {"drivers": [{"name": DRIVER, "nodeID": name,
                                   "topologyKeys": [TOPO_KEY]}]}}]


def capacities(api, namespace="default", cls=None):
    items = api.get("csistoragecapacities", namespace=namespace)["items"]
    return [o for o in items if cls is None or o.get("storageClassName") == cls]


def by_node(objs):
    return {o["nodeTopology"]["matchLabels"][TOPO_KEY]: o for o in objs}


def ours(objs):
    return [o for o in objs if o["metadata"].get("labels", {}).get(LABEL_MANAGED) ==
            "dynvol-controller"]


def wait_capacities(api, cls, nodes, namespace="default", timeout=60):
    """Exactly one object of ours per node for the class."""
    def check():
        objs = ours(capacities(api, namespace, cls))
        got = sorted(o.get("nodeTopology", {}).get("matchLabels", {}).get(TOPO_KEY, "")
                     for o in objs)
        return by_node(objs) if got == sorted(nodes) else None
    return api.wait(check, timeout, what=f"capacity objects of {cls} for {nodes}")


def test_each_class_and_segment_gets_what_get_capacity_says(api, csi, thin_driver,
                                                            controller_factory):
    publisher(controller_factory, thin_driver)
    api.apply(*node("node-1"), *node("node-2"),
              storage_class("thin", parameters={"pool": "thin"}),
              storage_class("theirs", provisioner="other.csi.io"))
    objs = wait_capacities(api, "thin", ["node-1", "node-2"])
    want = get_capacity(csi, thin_driver, {"pool": "thin"}, "node-1")
    assert want.available_capacity > 0
    mine = objs["node-1"]
    assert quantity_bytes(mine["capacity"]) == want.available_capacity
    assert quantity_bytes(mine["maximumVolumeSize"]) == want.maximum_volume_size.value
    assert mine["metadata"]["name"].startswith("csisc-")
    assert mine["metadata"]["labels"] == {LABEL_DRIVER: DRIVER,
                                          LABEL_MANAGED: "dynvol-controller"}
    assert mine["nodeTopology"] == {"matchLabels": {TOPO_KEY: "node-1"}}
    assert not mine["metadata"].get("ownerReferences")
    # node-2's segment is not this driver's: nothing can be placed there.
    assert quantity_bytes(objs["node-2"]["capacity"]) == 0
    # Only our driver's classes.
    assert capacities(api, cls="theirs") == []


def test_deleted_class_and_node_lose_their_objects(api, csi, thin_driver, controller_factory):
    api.kubectl("create", "namespace", "storage")
    publisher(controller_factory, thin_driver, ["--capacity-namespace", "storage"])
    api.apply(*node("node-1"), *node("node-2"),
              storage_class("thin", parameters={"pool": "thin"}),
              storage_class("plain"))
    wait_capacities(api, "thin", ["node-1", "node-2"], "storage")
    wait_capacities(api, "plain", ["node-1", "node-2"], "storage")
    assert capacities(api, "default") == []

    api.kubectl("delete", "storageclass", "plain")
    api.wait(lambda: capacities(api, "storage", "plain") == [],
             what="the deleted class's objects to go")
    api.kubectl("delete", "csinode", "node-2")
    wait_capacities(api, "thin", ["node-1"], "storage")
    # A node relabelled into another segment moves its object there.
    api.kubectl("label", "node", "node-1", "--overwrite", f"{TOPO_KEY}=rack-9")
    objs = wait_capacities(api, "thin", ["rack-9"], "storage")
    assert quantity_bytes(objs["rack-9"]["capacity"]) == 0


def test_restart_and_outside_deletes_do_not_duplicate(api, csi, thin_driver,
                                                      controller_factory):
    c = publisher(controller_factory, thin_driver)
    # Someone else's object for the same class: not ours to touch.
    stranger = {"apiVersion": "storage.k8s.io/v1", "kind": "CSIStorageCapacity",
                "metadata": {"name": "stranger",
                             "labels": {LABEL_DRIVER: DRIVER, LABEL_MANAGED: "someone"}},
                "storageClassName": "thin", "capacity": "1Gi"}
    api.apply(stranger, *node("node-1"), storage_class("thin", parameters={"pool": "thin"}))
    first = wait_capacities(api, "thin", ["node-1"])["node-1"]["metadata"]["name"]
    c.stop()
    c = publisher(controller_factory, thin_driver)
    # A new class shows the new process has done a whole pass.
    api.apply(storage_class("second", parameters={"pool": "thin"}))
    wait_capacities(api, "second", ["node-1"])
    assert sorted(o["metadata"]["name"] for o in capacities(api, cls="thin")) == \
        sorted([first, "stranger"])
    c.kill9()
    publisher(controller_factory, thin_driver)
    api.apply(storage_class("third", parameters={"pool": "thin"}))
    wait_capacities(api, "third", ["node-1"])
    assert sorted(o["metadata"]["name"] for o in capacities(api, cls="thin")) == \
        sorted([first, "stranger"])
    assert len(capacities(api)) == 4
    # An object deleted behind our back comes back (under a new name).
    api.kubectl("delete", "csistoragecapacity", first)
    again = api.wait(lambda: [o for o in capacities(api, cls="thin")
                              if o["metadata"]["name"] not in (first, "stranger")],
                     what="the object to come back")
    assert len(again) == 1
    assert api.exists("csistoragecapacity", "stranger")

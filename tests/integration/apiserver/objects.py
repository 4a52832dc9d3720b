"""A valid object of every kind the embedded API server serves, as a user
would write it, and what `kubectl get` calls it."""

NS = "default"


def objects(suffix="a"):
    n = f"obj-{suffix}"
    return [
        ("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                        "metadata": {"name": f"ns-{suffix}"}}),
        ("persistentvolumeclaims", {
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": n, "namespace": NS},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "manual",
                     "resources": {"requests": {"storage": "1Gi"}}}}),
        ("persistentvolumes", {
            "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": n},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                     "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "manual",
                     "csi": {"driver": "csi.dynvol.io", "volumeHandle": f"vol-{suffix}"}}}),
        ("pods", {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": n, "namespace": NS},
            "spec": {"containers": [{"name": "app", "image": "busybox:1.36",
                                     "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                     "volumes": [{"name": "data",
                                  "persistentVolumeClaim": {"claimName": n}}]}}),
        ("nodes", {"apiVersion": "v1", "kind": "Node",
                   "metadata": {"name": n, "labels": {"kubernetes.io/hostname": n}}}),
        ("secrets", {"apiVersion": "v1", "kind": "Secret",
                     "metadata": {"name": n, "namespace": NS},
                     "type": "Opaque", "data": {"password": "c2VjcmV0"}}),
        ("configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": n, "namespace": NS}, "data": {"k": "v"}}),
        ("events", {"apiVersion": "v1", "kind": "Event",
                    "metadata": {"name": n, "namespace": NS},
                    "involvedObject": {"kind": "PersistentVolumeClaim", "name": n,
                                       "namespace": NS, "apiVersion": "v1"},
                    "reason": "Testing", "message": "a test event", "type": "Normal",
                    "source": {"component": "pytest"}, "count": 1,
                    "firstTimestamp": "2026-01-01T00:00:00Z",
                    "lastTimestamp": "2026-01-01T00:00:00Z"}),
        ("events.events.k8s.io", {
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": n, "namespace": NS},
            "eventTime": "2026-01-01T00:00:00.000000Z", "reportingController": "pytest",
            "reportingInstance": "pytest-1", "action": "Test", "reason": "Testing",
            "regarding": {"kind": "PersistentVolumeClaim", "name": n, "namespace": NS},
            "note": "a test event", "type": "Normal"}),
        ("storageclasses", {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                            "metadata": {"name": n}, "provisioner": "csi.dynvol.io",
                            "parameters": {"pool": "default"}, "reclaimPolicy": "Delete",
                            "volumeBindingMode": "WaitForFirstConsumer",
                            "allowVolumeExpansion": True}),
        ("csidrivers", {"apiVersion": "storage.k8s.io/v1", "kind": "CSIDriver",
                        "metadata": {"name": f"{suffix}.csi.dynvol.io"},
                        "spec": {"attachRequired": False, "podInfoOnMount": True}}),
        ("csinodes", {"apiVersion": "storage.k8s.io/v1", "kind": "CSINode",
                      "metadata": {"name": n},
                      "spec": {"drivers": [{"name": "csi.dynvol.io", "nodeID": n,
                                            "topologyKeys": ["topology.dynvol.io/node"]}]}}),
        ("volumeattachments", {
            "apiVersion": "storage.k8s.io/v1", "kind": "VolumeAttachment",
            "metadata": {"name": n},
            "spec": {"attacher": "csi.dynvol.io", "nodeName": n,
                     "source": {"persistentVolumeName": n}}}),
        ("csistoragecapacities", {
            "apiVersion": "storage.k8s.io/v1", "kind": "CSIStorageCapacity",
            "metadata": {"name": n, "namespace": NS}, "storageClassName": "manual",
            "capacity": "10Gi",
            "nodeTopology": {"matchLabels": {"topology.dynvol.io/node": n}}}),
        ("volumeattributesclasses", {
            "apiVersion": "storage.k8s.io/v1beta1", "kind": "VolumeAttributesClass",
            "metadata": {"name": n}, "driverName": "csi.dynvol.io",
            "parameters": {"iops": "1000"}}),
        ("volumesnapshots", {
            "apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
            "metadata": {"name": n, "namespace": NS},
            "spec": {"volumeSnapshotClassName": n,
                     "source": {"persistentVolumeClaimName": n}}}),
        ("volumesnapshotcontents", {
            "apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotContent",
            "metadata": {"name": n},
            "spec": {"deletionPolicy": "Delete", "driver": "csi.dynvol.io",
                     "source": {"snapshotHandle": f"snap-{suffix}"},
                     "volumeSnapshotRef": {"name": n, "namespace": NS}}}),
        ("volumesnapshotclasses", {
            "apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotClass",
            "metadata": {"name": n}, "driver": "csi.dynvol.io", "deletionPolicy": "Delete"}),
        ("leases", {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": n, "namespace": NS},
                    "spec": {"holderIdentity": "pytest", "leaseDurationSeconds": 15}}),
        ("customresourcedefinitions", {
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"widgets{suffix}.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                     "names": {"plural": f"widgets{suffix}", "singular": f"widget{suffix}",
                               "kind": f"Widget{suffix.capitalize()}",
                               "listKind": f"Widget{suffix.capitalize()}List"},
                     "versions": [{"name": "v1", "served": True, "storage": True,
                                   "schema": {"openAPIV3Schema": {
                                       "type": "object",
                                       "x-kubernetes-preserve-unknown-fields": True}}}]}}),
    ]


def name_of(obj):
    return obj["metadata"]["name"]


def ns_args(obj):
    ns = obj["metadata"].get("namespace")
    return ["-n", ns] if ns else []

"""Selectors and paging over 10,000 objects, and CustomResourceDefinitions:
a CRD created with kubectl is served at once, its objects validated
against its schema and printed with its columns."""

import json
import threading

import pytest

from .kube import manifest

N = 10000


def _bulk_create(srv, n):
    """Creates n ConfigMaps over 8 keep-alive connections (kubectl makes one
    process per object: too slow to load 10,000)."""
    errors = []

    def worker(lo, hi):
        conn = srv.connection()
        for i in range(lo, hi):
            body = {"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": f"cm-{i:05d}", "namespace": "bulk",
                                 "labels": {"parity": "even" if i % 2 == 0 else "odd",
                                            "decade": str(i // 10 % 10)}},
                    "data": {"i": str(i)}}
            code, resp, _ = srv.request("POST", "/api/v1/namespaces/bulk/configmaps", body,
                                        conn=conn)
            if code != 201:
                errors.append((i, code, resp))
        conn.close()

    step = n // 8
    ts = [threading.Thread(target=worker, args=(k * step, (k + 1) * step if k < 7 else n))
          for k in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors[:3]


def test_selectors_and_paging_over_10000_objects(apiserver):
    k = apiserver
    k.kubectl("create", "-f", "-", input=manifest(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bulk"}}))
    _bulk_create(k, N)
    # kubectl pages with --chunk-size: every object exactly once
    names = k.kubectl("get", "cm", "-n", "bulk", "--chunk-size=500", "-o", "name").stdout.split()
    assert len(names) == N and len(set(names)) == N
    # label selectors, server-side
    even = k.kubectl("get", "cm", "-n", "bulk", "-l", "parity=even", "--chunk-size=500",
                     "-o", "name").stdout.split()
    assert len(even) == N // 2 and all(int(x[-5:]) % 2 == 0 for x in even)
    sel = k.kubectl("get", "cm", "-n", "bulk", "-l", "parity=odd,decade in (3,4)",
                    "-o", "name").stdout.split()
    assert len(sel) == N // 10 and all(int(x[-5:]) // 10 % 10 in (3, 4) for x in sel)
    # field selector
    one = k.kubectl("get", "cm", "-n", "bulk", "--field-selector", "metadata.name=cm-04242",
                    "-o", "name").stdout.split()
    assert one == ["configmap/cm-04242"]
    # the raw pages: limit + continue, one resourceVersion, no duplicates
    seen, cont, pages = [], "", 0
    while True:
        q = "limit=500" + (f"&continue={cont}" if cont else "")
        code, body, _ = k.request("GET", f"/api/v1/namespaces/bulk/configmaps?{q}")
        assert code == 200
        seen += [i["metadata"]["name"] for i in body["items"]]
        pages += 1
        cont = body["metadata"].get("continue")
        if not cont:
            break
        assert len(body["items"]) == 500
    assert pages == N // 500 + (1 if N % 500 else 0) or pages == N // 500 + 1
    assert len(seen) == N and seen == sorted(seen)
    # deletecollection with a selector removes exactly those
    # --wait=false: kubectl waits by GETting each object at its client-side
    # limit of 5 per second, which says nothing about the server
    k.kubectl("delete", "cm", "-n", "bulk", "-l", "decade=7", "--wait=false")
    left = k.kubectl("get", "cm", "-n", "bulk", "--chunk-size=1000", "-o", "name").stdout.split()
    assert len(left) == N - N // 10


CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "dynamicvolumeclaims.dynamicvolume.csi.cloudnative101.net"},
    "spec": {
        "group": "dynamicvolume.csi.cloudnative101.net", "scope": "Namespaced",
        "names": {"plural": "dynamicvolumeclaims", "singular": "dynamicvolumeclaim",
                  "kind": "DynamicVolumeClaim", "listKind": "DynamicVolumeClaimList",
                  "shortNames": ["dvc"]},
        "versions": [{
            "name": "v1alpha1", "served": True, "storage": True,
            "subresources": {"status": {}},
            "additionalPrinterColumns": [
                {"name": "Provider", "type": "string", "jsonPath": ".spec.storageProvider"},
                {"name": "Mountpoint", "type": "string", "jsonPath": ".spec.mountpoint"},
                {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}],
            "schema": {"openAPIV3Schema": {
                "type": "object",
                "properties": {
                    "spec": {"type": "object", "required": ["storageProvider", "mountpoint"],
                             "properties": {
                                 "storageProvider": {"type": "string"},
                                 "mountpoint": {"type": "string"},
                                 "readOnly": {"type": "boolean", "default": False},
                                 "replicas": {"type": "integer", "minimum": 1}}},
                    "status": {"type": "object",
                               "x-kubernetes-preserve-unknown-fields": True}}}}}]}}


def dvc(name, **spec):
    return {"apiVersion": "dynamicvolume.csi.cloudnative101.net/v1alpha1",
            "kind": "DynamicVolumeClaim", "metadata": {"name": name, "namespace": "default"},
            "spec": spec}


def test_crd_then_custom_resources(apiserver):
    k = apiserver
    k.kubectl("apply", "-f", "-", input=manifest(CRD))
    crd = k.kubectl_json("get", "crd", CRD["metadata"]["name"])
    conds = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conds["Established"] == "True"
    assert "dynamicvolumeclaims" in k.kubectl("api-resources").stdout
    k.kubectl("apply", "-f", "-", input=manifest(dvc("logs", storageProvider="s3",
                                                     mountpoint="/logs", extra="pruned")))
    got = k.kubectl_json("get", "dvc", "logs")
    assert got["spec"]["storageProvider"] == "s3"
    assert got["spec"]["readOnly"] is False          # defaulted from the schema
    assert "extra" not in got["spec"]                # pruned
    assert got["metadata"]["generation"] == 1
    table = k.kubectl("get", "dvc").stdout.splitlines()
    assert table[0].split() == ["NAME", "PROVIDER", "MOUNTPOINT", "AGE"]
    assert table[1].split()[:3] == ["logs", "s3", "/logs"]
    # schema violations are 422 with the field
    p = k.kubectl("apply", "-f", "-", input=manifest(dvc("bad", mountpoint="/x", replicas=0)),
                  check=False)
    assert p.returncode != 0
    assert "spec.storageProvider" in p.stderr and "Required value" in p.stderr
    assert "spec.replicas" in p.stderr
    # merge patch works on CRs, strategic merge is refused as upstream does
    k.kubectl("patch", "dvc", "logs", "--type=merge", "-p", '{"spec":{"mountpoint":"/l2"}}')
    assert k.kubectl_json("get", "dvc", "logs")["metadata"]["generation"] == 2
    p = k.kubectl("patch", "dvc", "logs", "--type=strategic", "-p", '{"spec":{}}', check=False)
    assert p.returncode != 0 and "not supported" in p.stderr
    # status subresource: spec updates leave status alone and do not count
    k.kubectl("patch", "dvc", "logs", "--subresource=status", "--type=merge",
              "-p", '{"status":{"mounted":1}}')
    got = k.kubectl_json("get", "dvc", "logs")
    assert got["status"]["mounted"] == 1 and got["metadata"]["generation"] == 2
    # the CRD goes, its resources stop being served
    k.kubectl("delete", "crd", CRD["metadata"]["name"])
    p = k.kubectl("get", "dvc", check=False)
    assert p.returncode != 0


def test_crds_survive_a_restart(apiserver):
    k = apiserver
    k.kubectl("apply", "-f", "-", input=manifest(CRD))
    k.kubectl("apply", "-f", "-", input=manifest(dvc("kept", storageProvider="s3",
                                                     mountpoint="/k")))
    k.restart()
    assert k.kubectl_json("get", "dvc", "kept")["spec"]["mountpoint"] == "/k"

"""Every kubectl verb the issue lists, on every kind served, with the stock
kubectl against a fresh `dynvol apiserver`."""

import json
import os
import stat
import subprocess
import textwrap

import pytest

from .kube import manifest
from .objects import name_of, ns_args, objects

KINDS = [r for r, _ in objects()]


def _obj(resource, suffix):
    for r, o in objects(suffix):
        if r == resource:
            return o
    raise KeyError(resource)


@pytest.mark.parametrize("resource", KINDS)
def test_create_get_label_annotate_patch_delete(shared_apiserver, resource):
    k = shared_apiserver
    suffix = "v" + str(KINDS.index(resource))
    o = _obj(resource, suffix)
    name, ns = name_of(o), ns_args(o)

    out = k.kubectl("create", "-f", "-", input=manifest(o)).stdout
    assert "created" in out
    got = k.kubectl_json("get", resource, name, *ns)
    assert got["kind"] == o["kind"] and got["apiVersion"] == o["apiVersion"]
    assert got["metadata"]["name"] == name
    assert got["metadata"]["uid"] and got["metadata"]["creationTimestamp"]
    rv1 = int(got["metadata"]["resourceVersion"])

    # yaml and wide output, and the table header comes from the server
    assert f"name: {name}" in k.kubectl("get", resource, name, *ns, "-o", "yaml").stdout
    wide = k.kubectl("get", resource, name, *ns, "-o", "wide").stdout
    assert wide.splitlines()[0].split()[0] in ("NAME", "LAST")
    assert name in wide or resource == "events"

    # second create: AlreadyExists
    again = k.kubectl("create", "-f", "-", input=manifest(o), check=False)
    assert again.returncode != 0 and "AlreadyExists" in again.stderr

    k.kubectl("label", resource, name, *ns, "tier=gold")
    k.kubectl("annotate", resource, name, *ns, "note=hello")
    got = k.kubectl_json("get", resource, name, *ns)
    assert got["metadata"]["labels"]["tier"] == "gold"
    assert got["metadata"]["annotations"]["note"] == "hello"
    assert int(got["metadata"]["resourceVersion"]) > rv1

    # the three patch types
    k.kubectl("patch", resource, name, *ns, "--type=merge",
              "-p", json.dumps({"metadata": {"labels": {"merge": "yes"}}}))
    k.kubectl("patch", resource, name, *ns, "--type=json",
              "-p", json.dumps([{"op": "add", "path": "/metadata/labels/json", "value": "yes"}]))
    if resource != "customresourcedefinitions":
        k.kubectl("patch", resource, name, *ns, "--type=strategic",
                  "-p", json.dumps({"metadata": {"labels": {"smp": "yes"}}}))
    labels = k.kubectl_json("get", resource, name, *ns)["metadata"]["labels"]
    assert labels["merge"] == "yes" and labels["json"] == "yes" and labels["tier"] == "gold"

    # selected by label, and not by another
    listed = k.kubectl_json("get", resource, *ns, "-l", "tier=gold")
    assert name in [i["metadata"]["name"] for i in listed["items"]]
    listed = k.kubectl_json("get", resource, *ns, "-l", "tier=silver")
    assert name not in [i["metadata"]["name"] for i in listed["items"]]

    out = k.kubectl("delete", resource, name, *ns, "--wait=false").stdout
    assert "deleted" in out
    got = k.kubectl("get", resource, name, *ns, "-o", "json", check=False)
    if got.returncode == 0:
        # finalizers hold it (pvc/pv protection, namespace): terminating
        obj = json.loads(got.stdout)
        assert obj["metadata"].get("deletionTimestamp")
        # a namespace may go on its own meanwhile (nothing in it)
        p = k.kubectl("patch", resource, name, *ns, "--type=merge",
                      "-p", '{"metadata":{"finalizers":null}}', check=False)
        assert p.returncode == 0 or "NotFound" in p.stderr
        k.kubectl("wait", "--for=delete", f"{resource}/{name}", *ns, "--timeout=20s")
    got = k.kubectl("get", resource, name, *ns, check=False)
    assert got.returncode != 0 and "NotFound" in got.stderr


@pytest.mark.parametrize("resource", KINDS)
def test_apply_is_idempotent_and_updates(shared_apiserver, resource):
    k = shared_apiserver
    o = _obj(resource, "ap" + str(KINDS.index(resource)))
    name, ns = name_of(o), ns_args(o)
    assert "created" in k.kubectl("apply", "-f", "-", input=manifest(o)).stdout
    rv = k.kubectl_json("get", resource, name, *ns)["metadata"]["resourceVersion"]
    assert "unchanged" in k.kubectl("apply", "-f", "-", input=manifest(o)).stdout
    assert k.kubectl_json("get", resource, name, *ns)["metadata"]["resourceVersion"] == rv
    o["metadata"].setdefault("labels", {})["applied"] = "twice"
    assert "configured" in k.kubectl("apply", "-f", "-", input=manifest(o)).stdout
    got = k.kubectl_json("get", resource, name, *ns)
    assert got["metadata"]["labels"]["applied"] == "twice"
    k.kubectl("delete", "-f", "-", "--wait=false", input=manifest(o))


def test_edit_uses_the_editor(apiserver, tmp_path):
    k = apiserver
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "edited", "namespace": "default"}, "data": {"k": "old"}}
    k.kubectl("create", "-f", "-", input=manifest(cm))
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/k: old/k: new/' \"$1\"\n")
    editor.chmod(editor.stat().st_mode | stat.S_IEXEC)
    env = dict(os.environ, KUBE_EDITOR=str(editor))
    p = subprocess.run(["/usr/bin/kubectl", "--kubeconfig", k.kubeconfig, "edit", "cm", "edited"],
                       env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "edited" in p.stdout
    assert k.kubectl_json("get", "cm", "edited")["data"]["k"] == "new"


def test_wait_for_jsonpath_and_status_subresource(apiserver):
    k = apiserver
    pvc = _obj("persistentvolumeclaims", "w")
    k.kubectl("create", "-f", "-", input=manifest(pvc))
    # a spec update never changes status
    k.kubectl("patch", "pvc", name_of(pvc), "--type=merge", "-p", '{"status":{"phase":"Bound"}}')
    assert k.kubectl_json("get", "pvc", name_of(pvc))["status"]["phase"] == "Pending"
    waiter = subprocess.Popen(["/usr/bin/kubectl", "--kubeconfig", k.kubeconfig, "wait",
                               "--for=jsonpath={.status.phase}=Bound", f"pvc/{name_of(pvc)}",
                               "--timeout=30s"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    k.kubectl("patch", "pvc", name_of(pvc), "--subresource=status", "--type=merge",
              "-p", '{"status":{"phase":"Bound","capacity":{"storage":"1Gi"}}}')
    out, err = waiter.communicate(timeout=40)
    assert waiter.returncode == 0, err
    assert "condition met" in out
    got = k.kubectl_json("get", "pvc", name_of(pvc))
    assert got["status"]["phase"] == "Bound"
    # and a status update never changes the spec
    k.kubectl("patch", "pvc", name_of(pvc), "--subresource=status", "--type=merge",
              "-p", '{"spec":{"volumeName":"sneaky"}}')
    assert "volumeName" not in k.kubectl_json("get", "pvc", name_of(pvc))["spec"]


def test_describe_pvc_shows_its_events(apiserver):
    k = apiserver
    pvc = _obj("persistentvolumeclaims", "d")
    created = json.loads(k.kubectl("create", "-f", "-", "-o", "json", input=manifest(pvc)).stdout)
    ev = _obj("events", "d")
    ev["involvedObject"]["uid"] = created["metadata"]["uid"]
    ev["reason"] = "ProvisioningSucceeded"
    ev["message"] = "Successfully provisioned volume pvc-123"
    k.kubectl("create", "-f", "-", input=manifest(ev))
    out = k.kubectl("describe", "pvc", name_of(pvc)).stdout
    assert "Events:" in out
    assert "ProvisioningSucceeded" in out and "Successfully provisioned volume pvc-123" in out
    assert "Status:" in out and "Pending" in out


def test_replace_with_a_stale_resource_version_conflicts(apiserver):
    k = apiserver
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "cas", "namespace": "default"}, "data": {"v": "1"}}
    first = json.loads(k.kubectl("create", "-f", "-", "-o", "json", input=manifest(cm)).stdout)
    k.kubectl("patch", "cm", "cas", "--type=merge", "-p", '{"data":{"v":"2"}}')
    first["data"]["v"] = "3"
    p = k.kubectl("replace", "-f", "-", input=json.dumps(first), check=False)
    assert p.returncode != 0
    assert "the object has been modified" in p.stderr
    assert k.kubectl_json("get", "cm", "cas")["data"]["v"] == "2"
    # without a resourceVersion the update is unconditional
    del first["metadata"]["resourceVersion"]
    k.kubectl("replace", "-f", "-", input=json.dumps(first))
    assert k.kubectl_json("get", "cm", "cas")["data"]["v"] == "3"


def test_generate_name(apiserver):
    k = apiserver
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"generateName": "gen-", "namespace": "default"}}
    names = set()
    for _ in range(3):
        out = json.loads(k.kubectl("create", "-f", "-", "-o", "json", input=manifest(cm)).stdout)
        assert out["metadata"]["name"].startswith("gen-") and len(out["metadata"]["name"]) == 9
        names.add(out["metadata"]["name"])
    assert len(names) == 3


def test_get_columns_match_a_real_cluster(apiserver):
    k = apiserver
    for r in ("storageclasses", "persistentvolumeclaims", "persistentvolumes"):
        k.kubectl("create", "-f", "-", input=manifest(_obj(r, "col")))
    sc = k.kubectl("get", "sc").stdout.splitlines()[0].split()
    assert sc == ["NAME", "PROVISIONER", "RECLAIMPOLICY", "VOLUMEBINDINGMODE",
                  "ALLOWVOLUMEEXPANSION", "AGE"]
    pvc = k.kubectl("get", "pvc").stdout.splitlines()
    assert pvc[0].split() == ["NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS", "MODES",
                              "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "AGE"]
    assert pvc[1].split()[:2] == ["obj-col", "Pending"]
    pv = k.kubectl("get", "pv").stdout.splitlines()
    assert pv[0].split()[:6] == ["NAME", "CAPACITY", "ACCESS", "MODES", "RECLAIM", "POLICY"]
    assert pv[1].split()[:4] == ["obj-col", "1Gi", "RWO", "Retain"]

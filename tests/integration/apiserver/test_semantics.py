"""API semantics the Kubernetes API conventions define: watches and their
resourceVersions, finalizers and graceful deletion, garbage collection by
ownerReferences, namespace termination, authentication, durability across
kill -9 and restart."""

import http.client
import json
import subprocess
import threading
import time

import pytest

from .kube import manifest


def cm(name, ns="default", **extra):
    o = {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": name, "namespace": ns}, "data": {"k": "v"}}
    o["metadata"].update(extra)
    return o


def wait_until(fn, timeout=15.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fn():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_unauthenticated_requests_get_401_status(apiserver):
    code, body, _ = apiserver.request("GET", "/api/v1/namespaces", token=False)
    assert code == 401
    assert body["kind"] == "Status" and body["reason"] == "Unauthorized" and body["code"] == 401
    code, body, _ = apiserver.request("GET", "/api/v1/namespaces",
                                      headers={"Authorization": "Bearer wrong"}, token=False)
    assert code == 401
    # kubectl with a wrong token says so
    bad = apiserver.state_dir / "bad-kubeconfig"
    bad.write_text((apiserver.state_dir / "kubeconfig").read_text().replace(
        apiserver.token, "x" * len(apiserver.token)))
    p = subprocess.run(["/usr/bin/kubectl", "--kubeconfig", str(bad), "get", "ns"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    assert "Unauthorized" in p.stderr or "You must be logged in" in p.stderr


def test_discovery_lists_exactly_what_is_served(apiserver):
    out = apiserver.kubectl("api-resources", "--no-headers").stdout
    rows = {}
    for line in out.splitlines():
        f = line.split()
        rows[(f[0], f[-3])] = f
    for short, name, gv in [("pvc", "persistentvolumeclaims", "v1"),
                            ("pv", "persistentvolumes", "v1"),
                            ("sc", "storageclasses", "storage.k8s.io/v1"),
                            ("vs", "volumesnapshots", "snapshot.storage.k8s.io/v1"),
                            ("vsclass,vsclasses", "volumesnapshotclasses",
                             "snapshot.storage.k8s.io/v1"),
                            ("crd,crds", "customresourcedefinitions", "apiextensions.k8s.io/v1")]:
        assert (name, gv) in rows, f"{name} missing from api-resources"
        assert rows[(name, gv)][1] == short
    assert len(rows) == 20
    # the raw documents
    v = json.loads(apiserver.kubectl("get", "--raw", "/version").stdout)
    assert v["major"] == "1" and v["gitVersion"].startswith("v1.32")
    apis = json.loads(apiserver.kubectl("get", "--raw", "/apis").stdout)
    groups = {g["name"] for g in apis["groups"]}
    assert {"storage.k8s.io", "snapshot.storage.k8s.io", "coordination.k8s.io",
            "apiextensions.k8s.io", "events.k8s.io"} <= groups
    core = json.loads(apiserver.kubectl("get", "--raw", "/api/v1").stdout)
    names = {r["name"] for r in core["resources"]}
    assert {"pods", "pods/status", "persistentvolumeclaims/status", "secrets"} <= names
    oa = json.loads(apiserver.kubectl("get", "--raw", "/openapi/v3").stdout)
    assert "api/v1" in oa["paths"] and "apis/storage.k8s.io/v1" in oa["paths"]
    # aggregated discovery, as kubectl 1.32 asks for it
    code, body, hdrs = apiserver.request(
        "GET", "/apis", headers={"Accept": "application/json;g=apidiscovery.k8s.io;v=v2;"
                                           "as=APIGroupDiscoveryList,application/json"})
    assert code == 200 and body["kind"] == "APIGroupDiscoveryList"
    assert "as=APIGroupDiscoveryList" in hdrs["Content-Type"]


def test_watch_sees_added_modified_deleted_in_order(apiserver):
    k = apiserver
    k.kubectl("create", "-f", "-", input=manifest(cm("w1")))
    rv = k.list_rv("/api/v1/namespaces/default/configmaps")
    w = k.watch(f"/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={rv}"
                "&allowWatchBookmarks=true")
    assert w.status == 200
    k.kubectl("label", "cm", "w1", "a=b")
    k.kubectl("create", "-f", "-", input=manifest(cm("w2")))
    k.kubectl("delete", "cm", "w1")
    evs = [w.next() for _ in range(3)]
    w.close()
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in evs] == [
        ("MODIFIED", "w1"), ("ADDED", "w2"), ("DELETED", "w1")]
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in evs]
    assert rvs == sorted(rvs) and rvs[0] > int(rv)


def test_kubectl_get_watch_prints_changes(apiserver):
    k = apiserver
    p = subprocess.Popen(["/usr/bin/kubectl", "--kubeconfig", k.kubeconfig, "get", "cm", "-w",
                          "--output-watch-events"], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)
        k.kubectl("create", "-f", "-", input=manifest(cm("seen")))
        k.kubectl("delete", "cm", "seen")
        lines = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not any("DELETED" in x for x in lines):
            lines.append(p.stdout.readline())
    finally:
        p.terminate()
        p.wait()
    text = "".join(lines)
    assert "ADDED" in text and "seen" in text and "DELETED" in text


def test_watch_with_label_selector_sees_objects_leave(apiserver):
    k = apiserver
    k.kubectl("create", "-f", "-", input=manifest(cm("sel", labels={"app": "x"})))
    rv = k.list_rv("/api/v1/namespaces/default/configmaps")
    w = k.watch(f"/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={rv}"
                "&labelSelector=app%3Dx")
    k.kubectl("create", "-f", "-", input=manifest(cm("other", labels={"app": "y"})))
    k.kubectl("label", "cm", "sel", "app=z", "--overwrite")
    e = w.next()
    w.close()
    # the object stopped matching: to this watch it is gone
    assert e["type"] == "DELETED" and e["object"]["metadata"]["name"] == "sel"


def test_watch_timeout_seconds_ends_the_stream(apiserver):
    t0 = time.monotonic()
    w = apiserver.watch("/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=1")
    while w.next() is not None:
        pass
    w.close()
    assert time.monotonic() - t0 < 5


def test_many_watchers_and_a_slow_one_never_block_writers(apiserver):
    k = apiserver
    watchers = [k.watch("/api/v1/namespaces/default/configmaps?watch=1") for _ in range(40)]
    # never read from them; writes must go on
    code = None
    t0 = time.monotonic()
    for i in range(200):
        code, _, _ = k.request("POST", "/api/v1/namespaces/default/configmaps", cm(f"f{i}"))
        assert code == 201
    assert time.monotonic() - t0 < 30
    for w in watchers:
        w.close()


def test_restart_keeps_objects_and_resource_versions_and_old_watches_get_410(apiserver):
    k = apiserver
    k.kubectl("create", "-f", "-", input=manifest(cm("keep")))
    before = k.kubectl_json("get", "cm", "keep")
    old_rv = int(before["metadata"]["resourceVersion"])
    k.kubectl("label", "cm", "keep", "x=1")
    k.port = k.port  # same port: the kubeconfig stays valid
    k.restart()
    after = k.kubectl_json("get", "cm", "keep")
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert after["metadata"]["labels"]["x"] == "1"
    cur = int(after["metadata"]["resourceVersion"])
    # a watch from before the restart: 410 Gone inside the stream
    w = k.watch(f"/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={old_rv}")
    e = w.next()
    w.close()
    assert e["type"] == "ERROR" and e["object"]["code"] == 410
    # one from now resumes
    lst_rv = k.list_rv("/api/v1/namespaces/default/configmaps")
    assert int(lst_rv) >= cur
    w = k.watch(f"/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={lst_rv}")
    k.kubectl("label", "cm", "keep", "y=2")
    e = w.next()
    w.close()
    assert e["type"] == "MODIFIED" and int(e["object"]["metadata"]["resourceVersion"]) > int(lst_rv)


def test_kill9_loses_no_acknowledged_write(apiserver):
    k = apiserver
    acked = []
    stop = threading.Event()

    def writer(idx):
        conn = k.connection()
        i = 0
        while not stop.is_set():
            name = f"k9-{idx}-{i}"
            try:
                code, _, _ = k.request("POST", "/api/v1/namespaces/default/configmaps",
                                       cm(name), conn=conn)
            except (OSError, http.client.HTTPException):
                return  # the server died under this request: not acknowledged
            if code == 201:
                acked.append(name)
            i += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    k.kill9()
    stop.set()
    for t in threads:
        t.join()
    assert len(acked) > 50
    k.start()
    names = {i["metadata"]["name"] for i in k.kubectl_json("get", "cm")["items"]}
    missing = [n for n in acked if n not in names]
    assert not missing, f"{len(missing)} acknowledged creates lost after kill -9"
    # the store still takes writes and resourceVersions still grow
    k.kubectl("create", "-f", "-", input=manifest(cm("after-crash")))


def test_finalizers_hold_deletion_until_removed(apiserver):
    k = apiserver
    k.kubectl("create", "-f", "-", input=manifest(cm("fin", finalizers=["example.com/hold"])))
    k.kubectl("delete", "cm", "fin", "--wait=false")
    got = k.kubectl_json("get", "cm", "fin")
    assert got["metadata"]["deletionTimestamp"]
    # no new finalizers while terminating
    p = k.kubectl("patch", "cm", "fin", "--type=json", "-p",
                  '[{"op":"add","path":"/metadata/finalizers/-","value":"example.com/more"}]',
                  check=False)
    assert p.returncode != 0 and "Forbidden" in p.stderr
    k.kubectl("patch", "cm", "fin", "--type=merge", "-p", '{"metadata":{"finalizers":[]}}')
    assert k.kubectl("get", "cm", "fin", check=False).returncode != 0


def test_owner_references_garbage_collection(apiserver):
    k = apiserver
    owner = json.loads(k.kubectl("create", "-f", "-", "-o", "json",
                                 input=manifest(cm("owner"))).stdout)
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner",
           "uid": owner["metadata"]["uid"]}
    k.kubectl("create", "-f", "-", input=manifest(cm("dep1", ownerReferences=[ref]),
                                                 cm("dep2", ownerReferences=[ref])))
    k.kubectl("delete", "cm", "owner")
    wait_until(lambda: k.kubectl("get", "cm", "dep1", check=False).returncode != 0 and
               k.kubectl("get", "cm", "dep2", check=False).returncode != 0,
               what="dependents to be collected")


def test_orphan_propagation_keeps_dependents(apiserver):
    k = apiserver
    owner = json.loads(k.kubectl("create", "-f", "-", "-o", "json",
                                 input=manifest(cm("o2"))).stdout)
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "o2", "uid": owner["metadata"]["uid"]}
    k.kubectl("create", "-f", "-", input=manifest(cm("kid", ownerReferences=[ref])))
    k.kubectl("delete", "cm", "o2", "--cascade=orphan")
    wait_until(lambda: k.kubectl("get", "cm", "o2", check=False).returncode != 0,
               what="the owner to go")
    kid = k.kubectl_json("get", "cm", "kid")
    assert not kid["metadata"].get("ownerReferences")


def test_namespace_deletion_empties_it_then_removes_it(apiserver):
    k = apiserver
    k.kubectl("create", "namespace", "scratch")
    # "held" keeps the namespace terminating until its finalizer goes
    k.kubectl("create", "-f", "-", input=manifest(
        cm("a", ns="scratch"), cm("b", ns="scratch"),
        cm("held", ns="scratch", finalizers=["example.com/hold"])))
    k.kubectl("delete", "namespace", "scratch", "--wait=false")
    ns = k.kubectl_json("get", "ns", "scratch")
    assert ns["status"]["phase"] == "Terminating"
    p = k.kubectl("create", "-f", "-", input=manifest(cm("late", ns="scratch")), check=False)
    assert p.returncode != 0 and "being terminated" in p.stderr
    wait_until(lambda: k.kubectl("get", "cm", "a", "-n", "scratch", check=False).returncode != 0,
               what="the namespace's objects to go")
    held = k.kubectl_json("get", "cm", "held", "-n", "scratch")
    assert held["metadata"]["deletionTimestamp"]
    assert k.kubectl_json("get", "ns", "scratch")["status"]["phase"] == "Terminating"
    k.kubectl("patch", "cm", "held", "-n", "scratch", "--type=merge",
              "-p", '{"metadata":{"finalizers":null}}')
    wait_until(lambda: k.kubectl("get", "ns", "scratch", check=False).returncode != 0,
               what="the namespace to go")
    code, _, _ = k.request("GET", "/api/v1/namespaces/scratch/configmaps/a")
    assert code == 404


def test_objects_in_a_missing_namespace_are_refused(apiserver):
    p = apiserver.kubectl("create", "-f", "-", input=manifest(cm("x", ns="nowhere")), check=False)
    assert p.returncode != 0 and 'namespaces "nowhere" not found' in p.stderr


def test_default_storage_class_and_protection_finalizers(apiserver):
    k = apiserver
    sc = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
          "metadata": {"name": "dflt", "annotations": {
              "storageclass.kubernetes.io/is-default-class": "true"}},
          "provisioner": "csi.dynvol.io"}
    k.kubectl("create", "-f", "-", input=manifest(sc))
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
           "metadata": {"name": "p", "namespace": "default"},
           "spec": {"accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "1Gi"}}}}
    got = json.loads(k.kubectl("create", "-f", "-", "-o", "json", input=manifest(pvc)).stdout)
    assert got["spec"]["storageClassName"] == "dflt"
    assert "kubernetes.io/pvc-protection" in got["metadata"]["finalizers"]
    assert got["spec"]["volumeMode"] == "Filesystem"
    assert got["status"]["phase"] == "Pending"
    # an explicit "" means no class, and stays so
    pvc["metadata"]["name"] = "q"
    pvc["spec"]["storageClassName"] = ""
    got = json.loads(k.kubectl("create", "-f", "-", "-o", "json", input=manifest(pvc)).stdout)
    assert got["spec"]["storageClassName"] == ""


def test_a_quiet_watch_outlives_the_idle_timeout(state_dir):
    """A watch with nothing to say for longer than the connection idle
    timeout keeps going: it lasts its own time (kube-apiserver's 30-60
    minutes, or timeoutSeconds)."""
    from .conftest import DYNVOL_BIN
    from .kube import ApiServer
    state_dir.mkdir()
    srv = ApiServer(DYNVOL_BIN, state_dir, extra=["--idle-timeout", "2"]).start()
    try:
        rv = srv.list_rv("/api/v1/namespaces/default/configmaps")
        w = srv.watch(f"/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={rv}")
        time.sleep(4.5)
        srv.kubectl("create", "-f", "-", input=manifest(cm("late")))
        e = w.next()
        w.close()
        assert e and e["type"] == "ADDED" and e["object"]["metadata"]["name"] == "late"
        # an idle keep-alive connection does go
        conn = srv.connection()
        assert srv.request("GET", "/healthz", conn=conn)[0] == 200
        time.sleep(4.5)
        with pytest.raises((OSError, http.client.HTTPException)):
            srv.request("GET", "/healthz", conn=conn)
    finally:
        srv.stop()

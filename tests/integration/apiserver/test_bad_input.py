"""Bad input never crashes the server and never changes state: each gets the
Kubernetes Status error a real API server gives."""

import json

import pytest

CMS = "/api/v1/namespaces/default/configmaps"


def cm(name):
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "default"}}


def assert_status(code, body, want_code, reason=None):
    assert code == want_code, body
    assert isinstance(body, dict) and body.get("kind") == "Status", body
    assert body["code"] == want_code and body["status"] == "Failure"
    if reason:
        assert body.get("reason") == reason, body


def count(srv):
    code, body, _ = srv.request("GET", CMS)
    return len(body["items"])


@pytest.mark.parametrize("body,reason", [
    ("{", "BadRequest"),
    ("[1,2]", "BadRequest"),
    ('{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}', "BadRequest"),
    ('{"apiVersion":"v2","kind":"ConfigMap","metadata":{"name":"x"}}', "BadRequest"),
    ('{"apiVersion":"v1","metadata":{"name":"x"}}', "BadRequest"),
    ('{"apiVersion":"v1","kind":"ConfigMap","metadata":"x"}', "BadRequest"),
    ('{"a":' * 5000 + '1' + '}' * 5000, "BadRequest"),
    ("\xff\xfe", "BadRequest"),
    ('{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"other"}}',
     "BadRequest"),
])
def test_malformed_create_bodies(shared_apiserver, body, reason):
    before = count(shared_apiserver)
    code, resp, _ = shared_apiserver.request(
        "POST", CMS, body=body.encode("utf-8", "surrogateescape")
        if isinstance(body, str) else body, headers={"Content-Type": "application/json"})
    assert_status(code, resp, 400, reason)
    assert count(shared_apiserver) == before
    assert shared_apiserver.request("GET", "/healthz")[0] == 200


def test_huge_body_gets_413(shared_apiserver):
    big = json.dumps(dict(cm("big"), data={"k": "x" * (4 * 1024 * 1024)}))
    code, resp, _ = shared_apiserver.request("POST", CMS, body=big)
    assert_status(code, resp, 413, "RequestEntityTooLarge")
    assert shared_apiserver.request("GET", CMS + "/big")[0] == 404


def test_unknown_paths_and_methods(shared_apiserver):
    s = shared_apiserver
    code, body, _ = s.request("GET", "/api/v1/widgets")
    assert_status(code, body, 404, "NotFound")
    code, body, _ = s.request("GET", "/apis/nope.example.com/v1")
    assert_status(code, body, 404, "NotFound")
    code, body, _ = s.request("GET", CMS + "/missing")
    assert_status(code, body, 404, "NotFound")
    assert body["message"] == 'configmaps "missing" not found'
    assert body["details"] == {"name": "missing", "kind": "configmaps"}
    code, body, _ = s.request("PUT", CMS, body=cm("x"))
    assert_status(code, body, 405, "MethodNotAllowed")


@pytest.mark.parametrize("q", ["labelSelector=a%20in%20(", "labelSelector=!!",
                               "fieldSelector=spec.bogus%3Dx", "limit=-1", "limit=abc",
                               "continue=%%%", "continue=bm90LWpzb24"])
def test_bad_list_parameters(shared_apiserver, q):
    code, body, _ = shared_apiserver.request("GET", f"{CMS}?{q}")
    assert_status(code, body, 400, "BadRequest")


@pytest.mark.parametrize("ctype,patch,want", [
    ("application/merge-patch+json", "{", 400),
    ("application/json-patch+json", '{"op":"add"}', 400),
    ("application/json-patch+json", '[{"op":"explode","path":"/a"}]', 400),
    ("application/json-patch+json", '[{"op":"test","path":"/data/k","value":"no"}]', 422),
    ("application/json-patch+json", '[{"op":"remove","path":"/nothing/here"}]', 422),
    ("text/plain", "{}", 415),
])
def test_bad_patches(shared_apiserver, ctype, patch, want):
    s = shared_apiserver
    s.request("POST", CMS, body=dict(cm("patched"), data={"k": "v"}))
    before = s.request("GET", CMS + "/patched")[1]
    code, body, _ = s.request("PATCH", CMS + "/patched", body=patch,
                              headers={"Content-Type": ctype})
    assert_status(code, body, want)
    after = s.request("GET", CMS + "/patched")[1]
    assert after == before


def test_patch_cannot_rename(shared_apiserver):
    s = shared_apiserver
    s.request("POST", CMS, body=cm("named"))
    code, body, _ = s.request("PATCH", CMS + "/named", body='{"metadata":{"name":"other"}}',
                              headers={"Content-Type": "application/merge-patch+json"})
    assert code == 400 and body["kind"] == "Status"
    assert s.request("GET", CMS + "/named")[0] == 200


def test_update_name_mismatch_and_missing(shared_apiserver):
    s = shared_apiserver
    s.request("POST", CMS, body=cm("upd"))
    code, body, _ = s.request("PUT", CMS + "/upd", body=cm("notupd"))
    assert_status(code, body, 400, "BadRequest")
    code, body, _ = s.request("PUT", CMS + "/ghost", body=cm("ghost"))
    assert_status(code, body, 404, "NotFound")


def test_delete_preconditions(shared_apiserver):
    s = shared_apiserver
    s.request("POST", CMS, body=cm("pre"))
    code, body, _ = s.request("DELETE", CMS + "/pre",
                              body={"kind": "DeleteOptions", "apiVersion": "v1",
                                    "preconditions": {"uid": "not-the-uid"}})
    assert_status(code, body, 409, "Conflict")
    assert s.request("GET", CMS + "/pre")[0] == 200
    code, body, _ = s.request("DELETE", CMS + "/pre",
                              body={"propagationPolicy": "Sideways"})
    assert code == 422
    assert s.request("GET", CMS + "/pre")[0] == 200


def test_yaml_bodies_are_read_as_kubernetes_reads_them(shared_apiserver):
    s = shared_apiserver
    body = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fromyaml\ndata:\n  on: \"yes\"\n"
    code, resp, _ = s.request("POST", CMS, body=body, headers={"Content-Type": "application/yaml"})
    assert code == 201, resp
    # an unquoted `on` key is YAML 1.1's boolean true, and keys become strings
    assert resp["data"] == {"true": "yes"}
    for bad in ("a: [1", "a: 1\n---\nb: 2\n", "- 1\n- 2\n"):
        code, resp, _ = s.request("POST", CMS, body=bad, headers={"Content-Type": "application/yaml"})
        assert_status(code, resp, 400, "BadRequest")

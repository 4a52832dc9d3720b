"""`dynvol controller --metrics-address`: what a Prometheus server scraping
the controller reads after real work (a claim provisioned and deleted
through kubectl), and the health and readiness probes."""

import re
import urllib.error
import urllib.request

from .cluster import pvc, storage_class
from .test_provisioner import wait_pv, wanted


def scrape(port, path="/metrics"):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()


def metrics_port(controller):
    m = re.search(r"metrics on \S+ \(port (\d+)\)", controller.read_log())
    assert m, controller.read_log()
    return int(m.group(1))


def sample(page, metric, **labels):
    """The value of the one sample of name with (at least) these labels."""
    found = []
    for line in page.splitlines():
        if line.startswith("#") or not line.startswith(metric):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$", line)
        assert m, f"not exposition format: {line!r}"
        if m.group(1) != metric:
            continue
        have = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"',
                               m.group(3) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            found.append(float(m.group(4)))
    assert len(found) == 1, f"{metric}{labels}: {found}"
    return found[0]


def test_metrics_count_real_operations(api, controller_factory):
    c = controller_factory(args=["--controllers", "provisioner",
                                 "--metrics-address", "127.0.0.1:0"])
    port = metrics_port(c)
    api.apply(storage_class("m"), pvc("m1", size="10Mi", sc="m", annotations=wanted()))
    pv = wait_pv(api, "m1")

    def provisioned():
        _, _, page = scrape(port)
        return "dynvol_operation_successes_total" in page and page
    page = api.wait(provisioned, what="the provision to be counted")
    status, ctype, _ = scrape(port)
    assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
    ops = dict(controller="provisioner", operation="provision")
    assert sample(page, "dynvol_operation_attempts_total", **ops) >= 1
    assert sample(page, "dynvol_operation_successes_total", **ops) >= 1
    assert sample(page, "dynvol_operation_duration_seconds_count", result="success", **ops) >= 1
    assert sample(page, "dynvol_operation_duration_seconds_bucket", result="success", le="+Inf",
                  **ops) >= 1
    assert sample(page, "csi_sidecar_operations_seconds_count", driver_name="csi.dynvol.io",
                  method_name="/csi.v1.Controller/CreateVolume", grpc_status_code="OK") >= 1
    # The API client's requests, by code: the PV create answered 201.
    assert sample(page, "rest_client_requests_total", code="201", method="POST") >= 1
    assert sample(page, "workqueue_adds_total", name="provisioner-claims") >= 1
    assert sample(page, "workqueue_depth", name="provisioner-claims") >= 0

    # A delete is counted as its own operation.
    api.kubectl("delete", "pvc", "m1", "--wait=false")
    api.kubectl("patch", "pv", pv["metadata"]["name"], "--subresource=status", "--type=merge",
                "-p", '{"status":{"phase":"Released"}}')
    # (the PV itself stays behind pv-protection: no binder runs here)

    def deleted():
        _, _, p = scrape(port)
        return "operation=\"delete\"" in p and p
    page = api.wait(deleted, what="the delete to be counted")
    assert sample(page, "dynvol_operation_successes_total", controller="provisioner",
                  operation="delete") >= 1


def test_failures_are_counted_with_their_reason(api, controller_factory):
    c = controller_factory(args=["--controllers", "provisioner",
                                 "--metrics-address", "127.0.0.1:0"])
    port = metrics_port(c)
    # An unknown parameter: the driver answers INVALID_ARGUMENT.
    api.apply(storage_class("bad", parameters={"no-such-parameter": "1"}),
              pvc("b1", sc="bad", annotations=wanted()))
    api.wait_event("b1", "ProvisioningFailed")

    def failed():
        _, _, p = scrape(port)
        return "dynvol_operation_failures_total{" in p and p
    page = api.wait(failed, what="the failure to be counted")
    assert sample(page, "dynvol_operation_failures_total", controller="provisioner",
                  operation="provision", reason="INVALID_ARGUMENT") >= 1
    assert sample(page, "csi_sidecar_operations_seconds_count",
                  method_name="/csi.v1.Controller/CreateVolume",
                  grpc_status_code="INVALID_ARGUMENT") >= 1


def test_health_and_readiness(api, controller_factory):
    c = controller_factory(args=["--controllers", "provisioner",
                                 "--metrics-address", "127.0.0.1:0"])
    port = metrics_port(c)
    assert scrape(port, "/healthz")[0] == 200
    assert scrape(port, "/readyz")[:1] == (200,)
    assert scrape(port, "/nope")[0] == 404


def test_metrics_address_in_use_fails_the_start(api, controller_factory):
    c = controller_factory(args=["--controllers", "provisioner",
                                 "--metrics-address", "127.0.0.1:0"])
    port = metrics_port(c)
    other = controller_factory(args=["--controllers", "provisioner",
                                     "--metrics-address", f"127.0.0.1:{port}"], wait=False)
    assert other.proc.wait(timeout=30) == 1
    assert "--metrics-address" in other.read_log()

"""`dynvol driver --metrics-address`: the CSI calls a scrape sees (by
method and code, with latency) and the health probes a kubelet's
livenessProbe hits instead of a livenessprobe sidecar."""

import re
import urllib.error
import urllib.request

import grpc
import pytest

from conftest import unary, wait_for


def port_of(drv):
    m = wait_for(lambda: re.search(r"metrics on \S+ \(port (\d+)\)", drv.stderr()), timeout=10)
    assert m, drv.stderr()
    return int(m.group(1))


def get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_calls_are_counted_by_method_and_code(driver_factory, csi):
    drv = driver_factory(extra_args=["--metrics-address", "127.0.0.1:0"])
    port = port_of(drv)
    ch = drv.channel()
    unary(ch, "/csi.v1.Identity/Probe", csi.ProbeRequest(), csi.ProbeResponse)
    unary(ch, "/csi.v1.Identity/Probe", csi.ProbeRequest(), csi.ProbeResponse)
    with pytest.raises(grpc.RpcError) as e:
        unary(ch, "/csi.v1.Controller/DeleteVolume", csi.DeleteVolumeRequest(),
              csi.DeleteVolumeResponse)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status, page = get(port, "/metrics")
    assert status == 200
    assert ('dynvol_csi_calls_total{method="/csi.v1.Identity/Probe",grpc_status_code="OK"} 2'
            in page), page
    assert ('dynvol_csi_calls_total{method="/csi.v1.Controller/DeleteVolume",'
            'grpc_status_code="INVALID_ARGUMENT"} 1') in page, page
    assert ('dynvol_csi_call_duration_seconds_count{method="/csi.v1.Identity/Probe"} 2'
            in page), page


def test_health_follows_the_probe_check(driver_factory):
    drv = driver_factory(extra_args=["--metrics-address", "127.0.0.1:0"])
    port = port_of(drv)
    assert get(port, "/healthz") == (200, "ok\n")
    assert get(port, "/readyz") == (200, "ok\n")
    # The pool root gone: what Probe reports, the probes report too, with
    # the reason; and they recover when it is back.
    pool = drv.state_dir / "pools" / "default"
    aside = drv.state_dir / "pools" / "aside"
    pool.rename(aside)
    try:
        status, body = get(port, "/healthz")
        assert status == 503 and body.startswith("not healthy: "), body
        assert "pool root" in body, body
        status, body = get(port, "/readyz")
        assert status == 503 and body.startswith("not ready: "), body
    finally:
        aside.rename(pool)
    assert get(port, "/healthz") == (200, "ok\n")


def test_bad_metrics_address_is_a_start_error(driver_factory):
    drv = driver_factory(extra_args=["--metrics-address", "nonsense"], wait=False)
    assert drv.wait_exit(30) == 1
    assert "--metrics-address" in drv.stderr()

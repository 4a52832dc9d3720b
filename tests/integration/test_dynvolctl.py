"""dynvolctl, the CSI client: against dynvol's driver and against an
independent gRPC server (grpcio), so both ends are checked against a
third-party implementation."""

import json
import os
import shutil
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from conftest import DEFAULT_DRIVER_NAME, short_tmpdir

EXIT_OK = 0
EXIT_FAILED_PRECONDITION = 9
EXIT_DEADLINE_EXCEEDED = 4
EXIT_UNIMPLEMENTED = 12
EXIT_UNAVAILABLE = 14
EXIT_USAGE = 64


def lines(text):
    return [ln.strip() for ln in text.splitlines() if ln.strip()]


def ctl_ok(res):
    assert res.returncode == EXIT_OK, \
        f"dynvolctl exited {res.returncode}\nstdout:\n{res.stdout}\nstderr:\n{res.stderr}"
    return res


# --------------------------------------------------------------------------
# against the driver


def test_identity_info_text(driver, run_ctl, dynvol_version):
    res = ctl_ok(run_ctl("--endpoint", driver.endpoint, "identity", "info"))
    out = lines(res.stdout)
    assert f"name: {DEFAULT_DRIVER_NAME}" in out, res.stdout
    assert f"vendor_version: {dynvol_version}" in out, res.stdout


def test_identity_info_json(driver, run_ctl, dynvol_version):
    res = ctl_ok(run_ctl("--endpoint", driver.endpoint, "-o", "json",
                         "identity", "info"))
    obj = json.loads(res.stdout)
    assert obj["name"] == DEFAULT_DRIVER_NAME
    assert obj["vendor_version"] == dynvol_version


@pytest.mark.parametrize("mode", ["all", "node"])
def test_identity_caps_text(driver_factory, run_ctl, mode):
    drv = driver_factory(mode=mode)
    res = ctl_ok(run_ctl("--endpoint", drv.endpoint, "identity", "caps"))
    out = lines(res.stdout)
    assert "VOLUME_ACCESSIBILITY_CONSTRAINTS" in out, res.stdout
    assert ("CONTROLLER_SERVICE" in out) == (mode == "all"), res.stdout


def test_identity_caps_json(driver, run_ctl):
    res = ctl_ok(run_ctl("--endpoint", driver.endpoint, "-o", "json",
                         "identity", "caps"))
    obj = json.loads(res.stdout)
    caps = obj["capabilities"]
    assert {"service": {"type": "CONTROLLER_SERVICE"}} in caps, obj
    assert {"service": {"type": "VOLUME_ACCESSIBILITY_CONSTRAINTS"}} in caps, obj


def test_identity_probe_text_and_json(driver, run_ctl):
    res = ctl_ok(run_ctl("--endpoint", driver.endpoint, "identity", "probe"))
    assert "ready: true" in lines(res.stdout), res.stdout
    res = ctl_ok(run_ctl("--endpoint", driver.endpoint, "-o", "json",
                         "identity", "probe"))
    assert json.loads(res.stdout) == {"ready": {"value": True}}, res.stdout


def test_explicit_text_output_and_timeout_flag(driver, run_ctl):
    res = ctl_ok(run_ctl("--endpoint", driver.endpoint, "--timeout", "10s",
                         "-o", "text", "identity", "probe"))
    assert "ready: true" in lines(res.stdout), res.stdout


def test_unavailable_when_nothing_listens(run_ctl):
    d = short_tmpdir()
    try:
        # No file at all, and a stale socket file nobody serves.
        missing = os.path.join(d, "missing.sock")
        stale = os.path.join(d, "stale.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(stale)
        s.close()
        for path in (missing, stale):
            t0 = time.monotonic()
            res = run_ctl("--endpoint", f"unix://{path}", "--timeout", "5s",
                          "identity", "info")
            assert res.returncode == EXIT_UNAVAILABLE, (res.returncode, res.stderr)
            assert time.monotonic() - t0 < 10
            assert res.stderr.strip(), "no error message"
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_deadline_exceeded_exit_code(driver_factory, run_ctl):
    drv = driver_factory(delay="Probe:3000")
    t0 = time.monotonic()
    res = run_ctl("--endpoint", drv.endpoint, "--timeout", "1s",
                  "identity", "probe")
    elapsed = time.monotonic() - t0
    assert res.returncode == EXIT_DEADLINE_EXCEEDED, (res.returncode, res.stderr)
    assert elapsed < 2.8, f"took {elapsed:.2f}s with --timeout 1s"
    assert "ready" not in res.stdout


def test_deadline_enforced_by_client_when_server_never_answers(run_ctl):
    """A peer that accepts the connection and then says nothing: dynvolctl
    gives up at its own --timeout with DEADLINE_EXCEEDED."""
    d = short_tmpdir()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        path = os.path.join(d, "mute.sock")
        listener.bind(path)
        listener.listen(8)
        t0 = time.monotonic()
        res = run_ctl("--endpoint", f"unix://{path}", "--timeout", "1s",
                      "identity", "info")
        elapsed = time.monotonic() - t0
        assert res.returncode == EXIT_DEADLINE_EXCEEDED, \
            (res.returncode, res.stderr)
        assert elapsed < 2.8, f"took {elapsed:.2f}s with --timeout 1s"
    finally:
        listener.close()
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("args", [
    [],                                                   # nothing at all
    ["--endpoint", "unix:///tmp/dvt-none.sock", "identity", "bogus"],
    ["--endpoint", "unix:///tmp/dvt-none.sock", "nosuchgroup", "info"],
    ["--endpoint", "unix:///tmp/dvt-none.sock", "-o", "yaml", "identity", "info"],
    ["--endpoint", "unix:///tmp/dvt-none.sock", "--no-such-flag", "identity",
     "info"],
])
def test_usage_errors_exit_64(run_ctl, args):
    res = run_ctl(*args)
    assert res.returncode == EXIT_USAGE, (args, res.returncode, res.stderr)
    assert res.stderr.strip(), "usage error without a message"


# --------------------------------------------------------------------------
# against an independent gRPC server (grpcio)


class FakePlugin(grpc.GenericRpcHandler):
    """A CSI Identity server written with grpcio; tests set `handlers`."""

    def __init__(self, csi):
        self.csi = csi
        self.calls = []          # (method, time_remaining)
        self.handlers = {}       # method -> fn(request, context) -> response
        self.types = {
            "/csi.v1.Identity/GetPluginInfo":
                (csi.GetPluginInfoRequest, csi.GetPluginInfoResponse),
            "/csi.v1.Identity/GetPluginCapabilities":
                (csi.GetPluginCapabilitiesRequest,
                 csi.GetPluginCapabilitiesResponse),
            "/csi.v1.Identity/Probe": (csi.ProbeRequest, csi.ProbeResponse),
        }

    def service(self, handler_call_details):
        method = handler_call_details.method
        fn = self.handlers.get(method)
        if fn is None or method not in self.types:
            self.calls.append((method, None))
            return None                       # grpcio answers UNIMPLEMENTED
        req_cls, resp_cls = self.types[method]

        def handle(request, context):
            self.calls.append((method, context.time_remaining()))
            return fn(request, context)
        return grpc.unary_unary_rpc_method_handler(
            handle, request_deserializer=req_cls.FromString,
            response_serializer=resp_cls.SerializeToString)


@pytest.fixture
def fake_plugin(csi):
    d = short_tmpdir()
    path = os.path.join(d, "py.sock")
    plugin = FakePlugin(csi)
    server = grpc.server(ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((plugin,))
    bound = server.add_insecure_port(f"unix://{path}")
    assert bound, f"grpcio could not bind unix://{path}"
    server.start()
    plugin.endpoint = f"unix://{path}"
    try:
        yield plugin
    finally:
        server.stop(grace=None)
        shutil.rmtree(d, ignore_errors=True)


def test_ctl_info_against_grpcio_server(csi, fake_plugin, run_ctl):
    fake_plugin.handlers["/csi.v1.Identity/GetPluginInfo"] = \
        lambda req, ctx: csi.GetPluginInfoResponse(
            name="py.csi.example.org", vendor_version="9.8.7-py",
            manifest={"built-by": "pytest"})
    res = ctl_ok(run_ctl("--endpoint", fake_plugin.endpoint, "--timeout", "10s",
                         "identity", "info"))
    out = lines(res.stdout)
    assert "name: py.csi.example.org" in out, res.stdout
    assert "vendor_version: 9.8.7-py" in out, res.stdout

    res = ctl_ok(run_ctl("--endpoint", fake_plugin.endpoint, "-o", "json",
                         "identity", "info"))
    obj = json.loads(res.stdout)
    assert obj["name"] == "py.csi.example.org"
    assert obj["vendor_version"] == "9.8.7-py"
    if "manifest" in obj:
        assert obj["manifest"] == {"built-by": "pytest"}

    methods = [m for m, _ in fake_plugin.calls]
    assert methods == ["/csi.v1.Identity/GetPluginInfo"] * 2, methods
    # --timeout is sent to the server as the call's deadline.
    remaining = fake_plugin.calls[0][1]
    assert remaining is not None, "dynvolctl sent no grpc-timeout"
    assert 0 < remaining <= 10.5, remaining


def test_ctl_caps_against_grpcio_server(csi, fake_plugin, run_ctl):
    Type = csi.PluginCapability.Service.Type

    def caps(req, ctx):
        resp = csi.GetPluginCapabilitiesResponse()
        for t in (Type.Value("VOLUME_ACCESSIBILITY_CONSTRAINTS"),
                  Type.Value("GROUP_CONTROLLER_SERVICE")):
            resp.capabilities.add().service.type = t
        return resp
    fake_plugin.handlers["/csi.v1.Identity/GetPluginCapabilities"] = caps

    res = ctl_ok(run_ctl("--endpoint", fake_plugin.endpoint, "identity", "caps"))
    out = lines(res.stdout)
    assert "VOLUME_ACCESSIBILITY_CONSTRAINTS" in out, res.stdout
    assert "GROUP_CONTROLLER_SERVICE" in out, res.stdout
    assert "CONTROLLER_SERVICE" not in out, res.stdout

    res = ctl_ok(run_ctl("--endpoint", fake_plugin.endpoint, "-o", "json",
                         "identity", "caps"))
    assert json.loads(res.stdout) == {"capabilities": [
        {"service": {"type": "VOLUME_ACCESSIBILITY_CONSTRAINTS"}},
        {"service": {"type": "GROUP_CONTROLLER_SERVICE"}},
    ]}, res.stdout


def test_ctl_probe_not_ready_against_grpcio_server(csi, fake_plugin, run_ctl):
    def not_ready(req, ctx):
        resp = csi.ProbeResponse()
        resp.ready.value = False
        return resp
    fake_plugin.handlers["/csi.v1.Identity/Probe"] = not_ready

    res = ctl_ok(run_ctl("--endpoint", fake_plugin.endpoint, "identity", "probe"))
    assert "ready: false" in lines(res.stdout), res.stdout
    res = ctl_ok(run_ctl("--endpoint", fake_plugin.endpoint, "-o", "json",
                         "identity", "probe"))
    obj = json.loads(res.stdout)
    # A BoolValue holding false may print its value or omit the default.
    assert obj in ({"ready": {"value": False}}, {"ready": {}}), res.stdout


# Non-ASCII and '%' travel percent-encoded in grpc-message; "%25" must come
# out as the three characters "%25" (decoded exactly once).
ERROR_MESSAGE = "pool «fast» is 100% full — ünïcödé ✓ (50%25 reserved)"


def test_ctl_error_message_is_percent_decoded(csi, fake_plugin, run_ctl):
    def fail(req, ctx):
        ctx.abort(grpc.StatusCode.FAILED_PRECONDITION, ERROR_MESSAGE)
    fake_plugin.handlers["/csi.v1.Identity/Probe"] = fail

    res = run_ctl("--endpoint", fake_plugin.endpoint, "identity", "probe")
    assert res.returncode == EXIT_FAILED_PRECONDITION, (res.returncode, res.stderr)
    output = res.stdout + res.stderr
    assert ERROR_MESSAGE in output, output
    assert "ready:" not in res.stdout


def test_ctl_unimplemented_exit_code(fake_plugin, run_ctl):
    # No handler registered: grpcio answers UNIMPLEMENTED.
    res = run_ctl("--endpoint", fake_plugin.endpoint, "identity", "probe")
    assert res.returncode == EXIT_UNIMPLEMENTED, (res.returncode, res.stderr)
    assert res.stderr.strip()
    assert [m for m, _ in fake_plugin.calls] == ["/csi.v1.Identity/Probe"]


def test_ctl_deadline_against_grpcio_server(csi, fake_plugin, run_ctl):
    def slow(req, ctx):
        end = time.monotonic() + 3
        while time.monotonic() < end and ctx.is_active():
            time.sleep(0.05)
        return csi.GetPluginInfoResponse(name="late", vendor_version="1")
    fake_plugin.handlers["/csi.v1.Identity/GetPluginInfo"] = slow
    t0 = time.monotonic()
    res = run_ctl("--endpoint", fake_plugin.endpoint, "--timeout", "1s",
                  "identity", "info")
    assert res.returncode == EXIT_DEADLINE_EXCEEDED, (res.returncode, res.stderr)
    assert time.monotonic() - t0 < 2.8

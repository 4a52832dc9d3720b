"""The gRPC transport of `dynvol driver`: status codes, limits, deadlines,
cancellation, concurrency, shutdown, socket handling, TCP and logging."""

import json
import os
import re
import signal
import socket
import stat
import struct
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

import h2raw
from conftest import (DEFAULT_DRIVER_NAME, GET_PLUGIN_CAPABILITIES,
                      GET_PLUGIN_INFO, PROBE, raw_unary, rpc_code, unary,
                      unix_connectable, wait_for)

SC = grpc.StatusCode


def info(csi, channel, timeout=5.0):
    return unary(channel, GET_PLUGIN_INFO, csi.GetPluginInfoRequest(),
                 csi.GetPluginInfoResponse, timeout=timeout)


def probe(csi, channel, timeout=5.0):
    return unary(channel, PROBE, csi.ProbeRequest(), csi.ProbeResponse,
                 timeout=timeout)


def assert_serving(csi, drv):
    """The driver answers on a brand-new connection."""
    ch = drv.channel(own_connection=True)
    assert info(csi, ch).name == DEFAULT_DRIVER_NAME
    assert drv.alive(), drv.describe()


def padded_request(size):
    """A *valid* protobuf message of about `size` bytes: one unknown
    length-delimited field (number 15), which decoders must skip. So a
    driver that ignored the size limit would answer OK, not INTERNAL."""
    body_len = size - 6
    tag = bytes([(15 << 3) | 2])
    n = body_len
    varint = b""
    while n >= 0x80:
        varint += bytes([(n & 0x7F) | 0x80])
        n >>= 7
    varint += bytes([n])
    return tag + varint + b"x" * body_len


# --------------------------------------------------------------------------
# status codes


@pytest.mark.parametrize("method", [
    "/csi.v1.Identity/NoSuchMethod",          # unknown method, known service
    "/csi.v1.NoSuchService/GetPluginInfo",    # unknown service
    "/no.such.pkg.Thing/Do",
])
def test_unknown_method_or_service_is_unimplemented(csi, driver, method):
    ch = driver.channel()
    code, details, _ = rpc_code(raw_unary, ch, method, b"")
    assert code == SC.UNIMPLEMENTED, (code, details)
    assert info(csi, ch).name == DEFAULT_DRIVER_NAME


def test_undecodable_request_is_internal(csi, driver):
    ch = driver.channel()
    code, details, _ = rpc_code(raw_unary, ch, GET_PLUGIN_INFO,
                                b"\xff\xff\xff\xff")
    assert code == SC.INTERNAL, (code, details)
    # Same connection and a new one still work.
    assert info(csi, ch).name == DEFAULT_DRIVER_NAME
    assert_serving(csi, driver)


def test_request_over_configured_limit_is_resource_exhausted(csi, driver_factory):
    drv = driver_factory(max_msg_size=65536)
    ch = drv.channel()
    # Just under the limit: accepted (the unknown field is skipped).
    ok = raw_unary(ch, GET_PLUGIN_INFO, padded_request(60 * 1024))
    assert csi.GetPluginInfoResponse.FromString(ok).name == DEFAULT_DRIVER_NAME
    # Over it: refused with RESOURCE_EXHAUSTED.
    code, details, _ = rpc_code(raw_unary, ch, GET_PLUGIN_INFO,
                                padded_request(100 * 1024))
    assert code == SC.RESOURCE_EXHAUSTED, (code, details)
    # The driver keeps serving, on the same channel and on a new one.
    assert info(csi, ch).name == DEFAULT_DRIVER_NAME
    assert probe(csi, ch).ready.value is True
    assert_serving(csi, drv)


def test_request_over_default_limit_is_resource_exhausted(csi, driver):
    ch = driver.channel()
    code, details, _ = rpc_code(raw_unary, ch, GET_PLUGIN_INFO,
                                padded_request(5 * 1024 * 1024), timeout=15)
    assert code == SC.RESOURCE_EXHAUSTED, (code, details)
    assert info(csi, ch).name == DEFAULT_DRIVER_NAME
    assert_serving(csi, driver)


# --------------------------------------------------------------------------
# deadlines and cancellation


def test_deadline_exceeded_returns_quickly(csi, driver_factory):
    drv = driver_factory(delay="Probe:2000", log_format="json")
    ch = drv.channel()
    assert info(csi, ch).name == DEFAULT_DRIVER_NAME   # connection is up
    t0 = time.monotonic()
    code, details, _ = rpc_code(probe, csi, ch, timeout=0.3)
    elapsed = time.monotonic() - t0
    assert code == SC.DEADLINE_EXCEEDED, (code, details)
    assert elapsed < 1.5, f"took {elapsed:.2f}s"
    # The server gave up on the call too (grpcio cancels at its own deadline,
    # so the server may see either its deadline or the RST_STREAM first) and
    # did not sit out the whole 2 s delay.
    line = wait_for(lambda: [o for o in drv.rpc_log_lines(PROBE)], 3.0)
    assert line, "no log line for the Probe call:\n" + drv.stderr()
    assert line[0]["code"] in ("DEADLINE_EXCEEDED", "CANCELLED"), line
    assert float(line[0]["duration_ms"]) < 1500, line
    assert_serving(csi, drv)


def test_server_enforces_grpc_timeout(csi, driver_factory):
    """A client that sends grpc-timeout but never cancels: the server itself
    ends the call at the deadline and logs DEADLINE_EXCEEDED."""
    drv = driver_factory(delay="Probe:2000", log_format="json")
    with h2raw.RawH2Client(sock_path=drv.sock_path) as c:
        t0 = time.monotonic()
        c.send_request(1, PROBE, b"", grpc_timeout="300m")
        end = c.wait_stream_end(1, timeout=5.0)
        assert end is not None, f"server never ended the call; frames {c.frames}"
        elapsed = end.at - t0
        assert elapsed < 1.5, f"server ended the call after {elapsed:.2f}s"
        # No response message was sent for a call that ran out of time.
        assert not h2raw.grpc_messages(c.stream_data(1))
    line = drv.wait_rpc_log(PROBE, "DEADLINE_EXCEEDED", timeout=3.0)
    assert line, "no DEADLINE_EXCEEDED log line for Probe:\n" + drv.stderr()
    assert float(line["duration_ms"]) < 1500, line
    assert_serving(csi, drv)


def test_slow_handler_does_not_stall_other_calls(csi, driver_factory):
    drv = driver_factory(delay="Probe:1500", workers=4)
    ch = drv.channel()
    assert info(csi, ch).name == DEFAULT_DRIVER_NAME
    slow = [ch.unary_unary(PROBE,
                           request_serializer=lambda m: m.SerializeToString(),
                           response_deserializer=csi.ProbeResponse.FromString)
            .future(csi.ProbeRequest(), timeout=10) for _ in range(2)]
    time.sleep(0.2)
    other = drv.channel(own_connection=True)
    for c in (ch, other, ch, other):
        t0 = time.monotonic()
        assert info(csi, c).name == DEFAULT_DRIVER_NAME
        took = time.monotonic() - t0
        assert took < 0.5, f"GetPluginInfo took {took:.2f}s while Probe slept"
    assert not any(f.done() for f in slow), "delayed Probe finished too early"
    for f in slow:
        assert f.result(timeout=10).ready.value is True


def test_cancelled_call_is_logged_and_driver_keeps_working(csi, driver_factory):
    drv = driver_factory(delay="Probe:3000", log_format="json")
    ch = drv.channel()
    assert info(csi, ch).name == DEFAULT_DRIVER_NAME
    fut = ch.unary_unary(PROBE,
                         request_serializer=lambda m: m.SerializeToString(),
                         response_deserializer=csi.ProbeResponse.FromString
                         ).future(csi.ProbeRequest(), timeout=10)
    time.sleep(0.3)
    assert fut.cancel()
    assert fut.cancelled()
    assert info(csi, ch).name == DEFAULT_DRIVER_NAME
    line = drv.wait_rpc_log(PROBE, "CANCELLED", timeout=3.0)
    assert line, "no CANCELLED log line for Probe:\n" + drv.stderr()
    assert float(line["duration_ms"]) < 2500, line
    assert_serving(csi, drv)


# --------------------------------------------------------------------------
# concurrency


@pytest.mark.parametrize("delay", [None, "GetPluginInfo:50,Probe:50"])
def test_64_concurrent_calls_over_8_connections(csi, driver_factory, delay):
    drv = driver_factory(delay=delay)
    channels = [drv.channel(own_connection=True) for _ in range(8)]

    def call(i):
        ch = channels[i % 8]
        kind = i % 3
        if kind == 0:
            return kind, info(csi, ch, timeout=15)
        if kind == 1:
            return kind, unary(ch, GET_PLUGIN_CAPABILITIES,
                               csi.GetPluginCapabilitiesRequest(),
                               csi.GetPluginCapabilitiesResponse, timeout=15)
        return kind, probe(csi, ch, timeout=15)

    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(lambda i: rpc_code(call, i), range(64)))

    failures = [(i, code, details) for i, (code, details, _) in enumerate(results)
                if code != SC.OK]
    assert not failures, failures
    for code, _, (kind, resp) in results:
        if kind == 0:
            assert resp.name == DEFAULT_DRIVER_NAME
        elif kind == 1:
            assert len(resp.capabilities) >= 2
        else:
            assert resp.ready.value is True
    assert drv.alive(), drv.describe()


# --------------------------------------------------------------------------
# shutdown


def test_sigterm_lets_inflight_calls_finish(csi, driver_factory):
    drv = driver_factory(delay="Probe:1000", workers=4)
    ch = drv.channel()
    assert info(csi, ch).name == DEFAULT_DRIVER_NAME
    futs = [ch.unary_unary(PROBE,
                           request_serializer=lambda m: m.SerializeToString(),
                           response_deserializer=csi.ProbeResponse.FromString)
            .future(csi.ProbeRequest(), timeout=10) for _ in range(3)]
    time.sleep(0.3)
    drv.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    # Draining: a new connection is not served any more.
    late = drv.channel(own_connection=True)
    code, details, _ = rpc_code(info, csi, late, timeout=1.0)
    assert code in (SC.UNAVAILABLE, SC.DEADLINE_EXCEEDED), (code, details)
    # The calls that were in flight complete normally.
    for f in futs:
        code, details, resp = rpc_code(f.result, timeout=10)
        assert code == SC.OK, (f"in-flight call failed during drain: {code} "
                               f"{details}\n" + drv.describe())
        assert resp.ready.value is True
    rc = drv.wait_exit(timeout=10)
    assert rc == 0, drv.describe()
    assert not os.path.exists(drv.sock_path), "socket file left behind"
    assert not unix_connectable(drv.sock_path)
    code, details, _ = rpc_code(info, csi, drv.channel(own_connection=True),
                                timeout=2.0)
    assert code == SC.UNAVAILABLE, (code, details)


def test_sigterm_sends_goaway_and_completes_stream(csi, driver_factory):
    drv = driver_factory(delay="Probe:1000")
    with h2raw.RawH2Client(sock_path=drv.sock_path) as c:
        c.send_request(1, PROBE, b"", grpc_timeout="10S")
        time.sleep(0.3)
        drv.send_signal(signal.SIGTERM)
        end = c.wait_stream_end(1, timeout=8.0)
        assert end is not None, f"in-flight stream never ended: {c.frames}"
        assert end.type != h2raw.RST_STREAM, "in-flight stream was reset"
        msgs = h2raw.grpc_messages(c.stream_data(1))
        assert len(msgs) == 1, msgs
        assert csi.ProbeResponse.FromString(msgs[0]).ready.value is True
        # Keep reading until the server closes the connection.
        while c.read_frame(timeout=5.0) is not None:
            pass
        goaways = c.goaways()
        assert goaways, f"no GOAWAY sent on shutdown: {c.frames}"
        assert all(g.goaway_last_stream() >= 1 for g in goaways), \
            "GOAWAY claims the in-flight stream was not processed"
    assert drv.wait_exit(timeout=10) == 0, drv.describe()
    assert not os.path.exists(drv.sock_path)


def test_sigint_exits_cleanly(csi, driver):
    assert info(csi, driver.channel()).name == DEFAULT_DRIVER_NAME
    driver.close_channels()
    assert driver.stop(signal.SIGINT) == 0, driver.describe()
    assert not os.path.exists(driver.sock_path)


def test_grace_period_bounds_shutdown(csi, driver_factory):
    drv = driver_factory(delay="Probe:20000", grace_period=1)
    ch = drv.channel()
    assert info(csi, ch).name == DEFAULT_DRIVER_NAME
    fut = ch.unary_unary(PROBE,
                         request_serializer=lambda m: m.SerializeToString(),
                         response_deserializer=csi.ProbeResponse.FromString
                         ).future(csi.ProbeRequest(), timeout=30)
    time.sleep(0.3)
    t0 = time.monotonic()
    drv.send_signal(signal.SIGTERM)
    rc = drv.wait_exit(timeout=6)
    took = time.monotonic() - t0
    assert rc is not None, "driver still running 6 s after SIGTERM " \
        "with --grace-period 1"
    assert took < 4.0, f"shutdown took {took:.2f}s with --grace-period 1"
    assert not os.path.exists(drv.sock_path)
    # The abandoned call ends (it does not hang until its own deadline).
    assert wait_for(fut.done, 5.0), "client call still pending after exit"


# --------------------------------------------------------------------------
# the socket path


def test_stale_socket_file_is_replaced(csi, driver_factory):
    from conftest import short_tmpdir
    import shutil
    d = short_tmpdir()
    try:
        path = os.path.join(d, "csi.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        s.close()                       # leaves a socket file nobody serves
        assert stat.S_ISSOCK(os.stat(path).st_mode)
        assert not unix_connectable(path)
        drv = driver_factory(sock_path=path)
        assert info(csi, drv.channel()).name == DEFAULT_DRIVER_NAME
        drv.close_channels()
        assert drv.stop() == 0
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_second_instance_on_same_socket_is_refused(csi, driver_factory):
    first = driver_factory()
    assert info(csi, first.channel()).name == DEFAULT_DRIVER_NAME
    second = driver_factory(sock_path=first.sock_path, wait=False)
    rc = second.wait_exit(timeout=10)
    assert rc is not None, "second driver did not exit: " + second.describe()
    assert rc != 0, second.describe()
    assert first.sock_path in second.stderr(), \
        "error does not name the socket path: " + second.stderr()
    # The first one is untouched: socket file still there, still serving.
    assert stat.S_ISSOCK(os.stat(first.sock_path).st_mode)
    assert_serving(csi, first)


def test_regular_file_at_socket_path_is_left_alone(driver_factory, tmp_path):
    from conftest import short_tmpdir
    import shutil
    d = short_tmpdir()
    try:
        path = os.path.join(d, "csi.sock")
        content = b"precious data, not a socket\n"
        with open(path, "wb") as f:
            f.write(content)
        drv = driver_factory(sock_path=path, wait=False)
        rc = drv.wait_exit(timeout=10)
        assert rc is not None, "driver started on top of a regular file: " \
            + drv.describe()
        assert rc != 0, drv.describe()
        assert drv.stderr().strip(), "refused without saying why"
        st = os.lstat(path)
        assert stat.S_ISREG(st.st_mode)
        with open(path, "rb") as f:
            assert f.read() == content
    finally:
        shutil.rmtree(d, ignore_errors=True)


# --------------------------------------------------------------------------
# TCP


def test_tcp_endpoint(csi, driver_factory, dynvol_version):
    drv = driver_factory(tcp=True)
    ch = drv.channel()
    resp = info(csi, ch)
    assert resp.name == DEFAULT_DRIVER_NAME
    assert resp.vendor_version == dynvol_version
    assert probe(csi, ch).ready.value is True
    # Raw HTTP/2 over TCP as well (prior knowledge, no TLS).
    with h2raw.RawH2Client(tcp_port=drv.tcp_port) as c:
        c.send_request(1, GET_PLUGIN_INFO, b"", grpc_timeout="5S")
        end = c.wait_stream_end(1, timeout=5.0)
        assert end is not None and end.type != h2raw.RST_STREAM, c.frames
        msgs = h2raw.grpc_messages(c.stream_data(1))
        assert csi.GetPluginInfoResponse.FromString(msgs[0]).name == \
            DEFAULT_DRIVER_NAME
    drv.close_channels()
    assert drv.stop() == 0, drv.describe()


# --------------------------------------------------------------------------
# logging


def test_json_log_one_line_per_rpc(csi, driver_factory):
    drv = driver_factory(log_format="json")
    ch = drv.channel()
    for _ in range(3):
        info(csi, ch)
    probe(csi, ch)
    rpc_code(raw_unary, ch, "/csi.v1.Identity/NoSuchMethod", b"")

    def enough():
        return len(drv.rpc_log_lines()) >= 5
    assert wait_for(enough, 3.0), drv.stderr()

    for obj in drv.json_lines():               # every line is a JSON object
        assert "level" in obj and "msg" in obj, obj
    infos = drv.rpc_log_lines(GET_PLUGIN_INFO)
    assert len(infos) == 3, infos
    for o in infos:
        assert o["code"] == "OK", o
        assert isinstance(o["duration_ms"], (int, float)), o
        assert o["duration_ms"] >= 0, o
    probes = drv.rpc_log_lines(PROBE)
    assert len(probes) == 1 and probes[0]["code"] == "OK", probes
    unknown = drv.rpc_log_lines("/csi.v1.Identity/NoSuchMethod")
    assert len(unknown) == 1 and unknown[0]["code"] == "UNIMPLEMENTED", \
        drv.stderr()


def test_text_log_names_method_code_and_duration(csi, driver_factory):
    drv = driver_factory(log_format="text")
    info(csi, drv.channel())

    def line():
        for ln in drv.stderr().splitlines():
            if "GetPluginInfo" in ln and re.search(r"\bOK\b", ln):
                return ln
        return None
    ln = wait_for(line, 3.0)
    assert ln, "no text log line with GetPluginInfo and OK:\n" + drv.stderr()
    assert re.search(r"\d", ln.split("GetPluginInfo", 1)[1]), \
        f"no duration in {ln!r}"
    with pytest.raises(ValueError):
        json.loads(ln)


SECRET_VALUES = ["s3cr3t-Pa55w0rd-do-not-log", "tok-7f1e2d3c4b5a6978"]


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_secrets_never_logged(csi, driver_factory, log_format):
    drv = driver_factory(log_level="debug", log_format=log_format)
    ch = drv.channel()
    create = csi.CreateVolumeRequest(
        name="pvc-secret-test",
        parameters={"pool": "default"},
        secrets={"password": SECRET_VALUES[0], "token": SECRET_VALUES[1]},
    )
    cap = create.volume_capabilities.add()
    cap.mount.fs_type = "ext4"
    cap.access_mode.mode = csi.VolumeCapability.AccessMode.SINGLE_NODE_WRITER
    code, details, _ = rpc_code(unary, ch, "/csi.v1.Controller/CreateVolume",
                                create, csi.CreateVolumeResponse)
    assert not any(s in (details or "") for s in SECRET_VALUES), details

    stage = csi.NodeStageVolumeRequest(
        volume_id="vol-1", staging_target_path="/var/lib/kubelet/x",
        secrets={"password": SECRET_VALUES[0]})
    stage.volume_capability.CopyFrom(cap)
    code, details, _ = rpc_code(unary, ch, "/csi.v1.Node/NodeStageVolume",
                                stage, csi.NodeStageVolumeResponse)
    assert not any(s in (details or "") for s in SECRET_VALUES), details

    assert info(csi, ch).name == DEFAULT_DRIVER_NAME
    drv.close_channels()
    assert drv.stop() == 0, drv.describe()     # flushes every log line

    log = drv.stderr_bytes()
    assert b"CreateVolume" in log, "the CreateVolume call was not logged"
    assert b"NodeStageVolume" in log, "the NodeStageVolume call was not logged"
    for s in SECRET_VALUES:
        assert s.encode() not in log, f"secret {s!r} leaked into the log"
    if log_format == "json":
        drv.json_lines()                       # still one JSON object a line

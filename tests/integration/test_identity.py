"""CSI Identity service of `dynvol driver`: what a CO sees over the socket."""

import os
import shutil
import signal
import time
import subprocess

import grpc
import pytest

from conftest import (DEFAULT_DRIVER_NAME, GET_PLUGIN_CAPABILITIES,
                      GET_PLUGIN_INFO, PROBE, rpc_code, short_tmpdir,
                      unary)


def plugin_info(csi, channel):
    return unary(channel, GET_PLUGIN_INFO, csi.GetPluginInfoRequest(),
                 csi.GetPluginInfoResponse)


def plugin_caps(csi, channel):
    """The set of PluginCapability.Service.Type names the driver reports."""
    resp = unary(channel, GET_PLUGIN_CAPABILITIES,
                 csi.GetPluginCapabilitiesRequest(),
                 csi.GetPluginCapabilitiesResponse)
    names = set()
    for cap in resp.capabilities:
        if cap.WhichOneof("type") == "service":
            names.add(csi.PluginCapability.Service.Type.Name(cap.service.type))
    return names


def probe(csi, channel, timeout=5.0):
    return unary(channel, PROBE, csi.ProbeRequest(), csi.ProbeResponse,
                 timeout=timeout)


def test_version_flag(dynvol_bin):
    res = subprocess.run([dynvol_bin, "--version"], capture_output=True,
                         text=True, timeout=10)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 1, res.stdout
    assert lines[0].startswith("dynvol "), res.stdout
    assert lines[0].split(" ", 1)[1].strip(), res.stdout


def test_get_plugin_info_defaults(csi, driver, dynvol_version):
    info = plugin_info(csi, driver.channel())
    assert info.name == DEFAULT_DRIVER_NAME
    assert info.vendor_version != ""
    assert info.vendor_version == dynvol_version


def test_driver_name_override(csi, driver_factory, dynvol_version):
    drv = driver_factory(driver_name="hostpath.test.example.com",
                         node_id="node-under-test")
    info = plugin_info(csi, drv.channel())
    assert info.name == "hostpath.test.example.com"
    assert info.vendor_version == dynvol_version


@pytest.mark.parametrize("mode,controller", [
    ("controller", True),
    ("node", False),
    ("all", True),
    (None, True),           # default mode is "all"
])
def test_plugin_capabilities_by_mode(csi, driver_factory, mode, controller):
    drv = driver_factory(mode=mode)
    caps = plugin_caps(csi, drv.channel())
    assert ("CONTROLLER_SERVICE" in caps) == controller, caps
    assert "VOLUME_ACCESSIBILITY_CONSTRAINTS" in caps, caps


def test_probe_ready(csi, driver):
    resp = probe(csi, driver.channel())
    assert resp.HasField("ready"), "Probe must say whether the driver is ready"
    assert resp.ready.value is True


def break_state_dir(state_dir, how):
    shutil.rmtree(state_dir)
    if how == "replaced_by_file":
        state_dir.write_text("not a directory\n")


def assert_not_ready(csi, ch):
    code, details, resp = rpc_code(probe, csi, ch)
    if code == grpc.StatusCode.OK:
        assert not (resp.HasField("ready") and resp.ready.value), \
            "Probe reports ready although the state dir is gone"
    else:
        assert code == grpc.StatusCode.FAILED_PRECONDITION, (code, details)


@pytest.mark.parametrize("how", ["removed", "replaced_by_file"])
def test_probe_not_ready_without_state_dir(csi, driver_factory, how):
    """With --probe-cache 0 every Probe checks: the first one after the
    state dir broke says not ready."""
    driver = driver_factory(extra_args=["--probe-cache", "0"])
    ch = driver.channel()
    assert probe(csi, ch).ready.value is True

    break_state_dir(driver.state_dir, how)

    assert_not_ready(csi, ch)
    # Still serving: the driver did not die because its state dir vanished.
    assert plugin_info(csi, ch).name == DEFAULT_DRIVER_NAME
    assert driver.alive()


def test_probe_not_ready_within_the_default_cache_time(csi, driver):
    """By default a ready verdict is reused for 1 s: a broken state dir
    shows within that (plus slack for a loaded machine), not later."""
    ch = driver.channel()
    assert probe(csi, ch).ready.value is True
    broke = time.monotonic()
    break_state_dir(driver.state_dir, "removed")

    while True:
        resp = probe(csi, ch)
        if not resp.ready.value:
            break
        assert time.monotonic() - broke < 3.0, \
            "Probe still says ready 3 s after the state dir was removed (cache is 1 s)"
        time.sleep(0.05)
    # Not ready is never reused: it stays not ready, call after call.
    for _ in range(3):
        assert_not_ready(csi, ch)


def test_probe_reuses_a_ready_verdict(csi, driver_factory):
    """Within --probe-cache a ready Probe is answered without looking at the
    file system again: after the state dir is removed it still says ready."""
    driver = driver_factory(extra_args=["--probe-cache", "1h"])
    ch = driver.channel()
    assert probe(csi, ch).ready.value is True
    break_state_dir(driver.state_dir, "removed")
    for _ in range(50):
        assert probe(csi, ch).ready.value is True


def test_probe_does_not_reuse_not_ready(csi, driver_factory):
    """A not-ready verdict is never cached, even with a long --probe-cache:
    the driver is ready again at the first Probe after the cause is gone."""
    driver = driver_factory(extra_args=["--probe-cache", "1h"])
    ch = driver.channel()
    pool = driver.state_dir / "pools" / "default"  # the default pool's root
    assert pool.is_dir()
    pool.rename(driver.state_dir / "away")
    assert_not_ready(csi, ch)
    assert_not_ready(csi, ch)
    (driver.state_dir / "away").rename(pool)
    assert probe(csi, ch).ready.value is True


@pytest.mark.parametrize("value", ["-1s", "forever", "2h"])
def test_bad_probe_cache_is_refused(dynvol_bin, tmp_path, value):
    res = subprocess.run([dynvol_bin, "driver", "--state-dir", str(tmp_path),
                          "--probe-cache", value],
                         capture_output=True, text=True, timeout=10)
    assert res.returncode != 0
    assert "--probe-cache" in res.stderr, res.stderr


def test_identity_served_in_every_mode(csi, driver_factory):
    """Identity is served whatever the mode (the kubelet needs it on nodes)."""
    for mode in ("controller", "node"):
        drv = driver_factory(mode=mode)
        ch = drv.channel()
        assert plugin_info(csi, ch).name == DEFAULT_DRIVER_NAME
        assert probe(csi, ch).ready.value is True


def test_default_endpoint_is_under_the_state_dir(dynvol_bin):
    """Without --endpoint the driver serves unix://<state-dir>/csi.sock, so
    `make run` and a fresh machine need no flags; SIGTERM removes it."""
    d = short_tmpdir()
    sock = os.path.join(d, "csi.sock")
    proc = subprocess.Popen([dynvol_bin, "driver", "--state-dir", d],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(sock):
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "no socket at " + sock
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert "unix://" + sock in err
        assert not os.path.exists(sock)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(d, ignore_errors=True)


def test_bad_mode_is_refused(dynvol_bin, tmp_path):
    d = short_tmpdir()
    try:
        res = subprocess.run([dynvol_bin, "driver", "--endpoint",
                              f"unix://{d}/csi.sock", "--state-dir",
                              str(tmp_path), "--mode", "sideways"],
                             capture_output=True, text=True, timeout=10)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    assert res.returncode != 0
    assert "sideways" in (res.stderr + res.stdout) or \
        "mode" in (res.stderr + res.stdout).lower()

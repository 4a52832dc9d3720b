"""Kubelet plugin registration (`dynvol driver --kubelet-registration-dir`):
the test plays the kubelet's plugin watcher exactly as it works on a node.
It finds <dir>/<driver>-reg.sock, calls
pluginregistration.Registration/GetInfo, dials the CSI endpoint the answer
names (NodeGetInfo, as the kubelet's CSI plugin handler does), and reports
its verdict with NotifyRegistrationStatus. A stopped driver's socket is
gone, so the kubelet deregisters it."""

import importlib
import os
import shutil
import subprocess
import sys

import grpc
import pytest

from conftest import PROTO_DIR, short_tmpdir, unary, unix_connectable, wait_for

REG = "/pluginregistration.Registration/"


@pytest.fixture(scope="module")
def regpb(tmp_path_factory):
    out = tmp_path_factory.mktemp("reg_pb2")
    subprocess.run(["protoc", f"--python_out={out}", f"-I{PROTO_DIR}",
                    str(PROTO_DIR / "pluginregistration.proto")], check=True)
    sys.path.insert(0, str(out))
    try:
        return importlib.import_module("pluginregistration_pb2")
    finally:
        sys.path.remove(str(out))


@pytest.fixture
def registry_dir():
    d = short_tmpdir()
    yield d
    shutil.rmtree(d, ignore_errors=True)


def reg_channel(path):
    return grpc.insecure_channel("unix://" + path)


def test_the_kubelet_registers_the_driver(driver_factory, registry_dir, regpb, csi):
    drv = driver_factory(driver_name="csi.dynvol.io", node_id="node-7",
                         extra_args=["--kubelet-registration-dir", registry_dir])
    sock = os.path.join(registry_dir, "csi.dynvol.io-reg.sock")
    assert wait_for(lambda: unix_connectable(sock), timeout=10), "the registration socket"
    with reg_channel(sock) as ch:
        info = unary(ch, REG + "GetInfo", regpb.InfoRequest(), regpb.PluginInfo)
        assert info.type == "CSIPlugin"
        assert info.name == "csi.dynvol.io"
        assert info.endpoint == drv.sock_path
        assert list(info.supported_versions) == ["1.0.0"]
        # The kubelet then dials the endpoint it was given.
        with grpc.insecure_channel("unix://" + info.endpoint) as csich:
            ni = unary(csich, "/csi.v1.Node/NodeGetInfo", csi.NodeGetInfoRequest(),
                       csi.NodeGetInfoResponse)
            assert ni.node_id == "node-7"
        unary(ch, REG + "NotifyRegistrationStatus",
              regpb.RegistrationStatus(plugin_registered=True),
              regpb.RegistrationStatusResponse)
    assert wait_for(lambda: "kubelet registered driver csi.dynvol.io" in drv.stderr(),
                    timeout=10), "the registration in the log"
    # Stopped: the socket goes, so the kubelet's watcher deregisters us.
    assert drv.stop() == 0
    assert not os.path.exists(sock)


def test_a_refusal_is_logged_with_the_kubelets_reason(driver_factory, registry_dir, regpb):
    drv = driver_factory(extra_args=["--kubelet-registration-dir", registry_dir])
    sock = os.path.join(registry_dir, "csi.dynvol.io-reg.sock")
    assert wait_for(lambda: unix_connectable(sock), timeout=10), "the registration socket"
    with reg_channel(sock) as ch:
        unary(ch, REG + "NotifyRegistrationStatus",
              regpb.RegistrationStatus(plugin_registered=False,
                                       error="plugin name clash"),
              regpb.RegistrationStatusResponse)
    assert wait_for(lambda: "refused to register driver csi.dynvol.io: plugin name clash"
                    in drv.stderr(), timeout=10), "the refusal in the log"
    assert drv.alive()  # node operations on other paths keep working


def test_kubelet_csi_path_overrides_the_endpoint(driver_factory, registry_dir, regpb):
    driver_factory(tcp=True, extra_args=["--kubelet-registration-dir", registry_dir,
                                         "--kubelet-csi-path",
                                         "/var/lib/kubelet/plugins/csi.dynvol.io/csi.sock"])
    sock = os.path.join(registry_dir, "csi.dynvol.io-reg.sock")
    assert wait_for(lambda: unix_connectable(sock), timeout=10), "the registration socket"
    with reg_channel(sock) as ch:
        info = unary(ch, REG + "GetInfo", regpb.InfoRequest(), regpb.PluginInfo)
    assert info.endpoint == "/var/lib/kubelet/plugins/csi.dynvol.io/csi.sock"


def test_registration_flags_are_checked(dynvol_bin, registry_dir, tmp_path):
    def run(*args):
        return subprocess.run([dynvol_bin, "driver", "--state-dir", str(tmp_path), *args],
                              capture_output=True, text=True, timeout=30)
    p = run("--mode", "controller", "--kubelet-registration-dir", registry_dir)
    assert p.returncode == 64 and "node mode" in p.stderr
    p = run("--kubelet-registration-dir", "relative/dir")
    assert p.returncode == 64 and "absolute" in p.stderr
    # A TCP endpoint gives the kubelet nothing to dial without --kubelet-csi-path.
    p = run("--endpoint", "tcp://127.0.0.1:0", "--kubelet-registration-dir", registry_dir)
    assert p.returncode == 1 and "--kubelet-csi-path" in p.stderr

"""`dynvol controller` as a command: its help, its usage errors (exit 64,
nothing started) and a clean SIGTERM stop."""

import subprocess

from .conftest import DYNVOL_BIN


def run(*args, timeout=30):
    return subprocess.run([str(DYNVOL_BIN), "controller", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_help_lists_the_flags():
    p = run("--help")
    assert p.returncode == 0
    for flag in ("--kubeconfig", "--csi-address", "--controllers", "--leader-elect",
                 "--timeout-provision", "--kube-api-qps", "--metrics-address"):
        assert flag in p.stdout, flag


def test_usage_errors_exit_64():
    assert run().returncode == 64  # --csi-address is required
    assert run("--csi-address", "/x.sock", "--no-such-flag").returncode == 64
    p = run("--csi-address", "/x.sock", "--controllers", "provisioner,nonsense")
    assert p.returncode == 64 and "nonsense" in p.stderr
    assert run("--csi-address", "/x.sock", "--workers", "0").returncode == 64
    assert run("--csi-address", "/x.sock", "--timeout-provision", "soon").returncode == 64


def test_unreadable_kubeconfig_exits_1(tmp_path):
    p = run("--csi-address", "/x.sock", "--controllers", "provisioner", "--kubeconfig",
            str(tmp_path / "missing"))
    assert p.returncode == 1
    assert "missing" in p.stderr


def test_starts_and_stops_cleanly(controller_factory):
    # The default: every controller but the binder.
    controller = controller_factory()
    assert controller.alive()
    log = controller.read_log()
    running = log.split("running for driver csi.dynvol.io (")[1].split(")")[0].split(",")
    assert "provisioner" in running and "attacher" in running and "binder" not in running
    assert controller.stop() == 0

"""`dynvol server`: the API server, driver and controllers in one process
on one state directory, driven only with the stock kubectl through the
kubeconfig it writes. A user's first steps: the node, the CSI objects and
the default class are there; a claim gets a volume; a stop and a kill -9
lose nothing."""

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from apiserver.kube import KUBECTL
from conftest import DYNVOL_BIN

START_TIMEOUT = 30


class Server:
    def __init__(self, state_dir, node="node-a"):
        self.state_dir = Path(state_dir)
        self.node = node
        self.proc = None
        self.log_path = self.state_dir.parent / (self.state_dir.name + ".log")

    @property
    def kubeconfig(self):
        return str(self.state_dir / "kubeconfig")

    def start(self, extra=()):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [str(DYNVOL_BIN), "server", "--state-dir", str(self.state_dir), "--port", "0",
             "--node-name", self.node, *extra],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while "server: ready" not in self.read_log():
            assert self.proc.poll() is None, f"server exited: {self.read_log()}"
            assert time.monotonic() < deadline, f"server did not start: {self.read_log()}"
            time.sleep(0.05)
        return self

    def read_log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("server did not stop: " + self.read_log()[-5000:])
        self.log.close()
        return self.proc.returncode

    def kubectl(self, *args, input=None, check=True):
        p = subprocess.run([KUBECTL, "--kubeconfig", self.kubeconfig, *args], input=input,
                           capture_output=True, text=True, timeout=60)
        if check:
            assert p.returncode == 0, f"kubectl {' '.join(args)}: {p.stderr}"
        return p

    def get(self, *args):
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def wait(self, predicate, what, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            v = predicate()
            if v:
                return v
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.1)


@pytest.fixture
def server(tmp_path):
    s = Server(tmp_path / "state")
    yield s
    if s.proc and s.proc.poll() is None:
        s.stop()
    log = s.read_log()
    assert "Sanitizer" not in log and "runtime error:" not in log, log[-5000:]


PVC = """
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 64Mi}}
"""


def bound(server, name="data"):
    o = server.get("pvc", name)
    return o if o.get("status", {}).get("phase") == "Bound" else None


def test_a_new_server_registers_its_node_and_a_default_class(server):
    server.start()
    sc = server.get("sc", "dynvol-default")
    assert sc["provisioner"] == "csi.dynvol.io"
    assert sc["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    assert sc["allowVolumeExpansion"] is True
    node = server.get("node", "node-a")
    assert node["metadata"]["labels"]["topology.dynvol.io/node"] == "node-a"
    ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
    assert ready and ready[0]["status"] == "True"
    csinode = server.get("csinode", "node-a")
    [d] = csinode["spec"]["drivers"]
    assert d["name"] == "csi.dynvol.io" and d["nodeID"] == "node-a"
    assert d["topologyKeys"] == ["topology.dynvol.io/node"]
    drv = server.get("csidriver", "csi.dynvol.io")
    assert drv["spec"]["attachRequired"] is True
    assert "kubectl --kubeconfig" in server.read_log()


def test_usage_errors(tmp_path):
    def run(*args):
        return subprocess.run([str(DYNVOL_BIN), "server", *args], capture_output=True,
                              text=True, timeout=30)
    assert run("--port", "x").returncode == 64
    assert run("--no-such-flag").returncode == 64
    assert run("extra").returncode == 64
    p = run("--help")
    assert p.returncode == 0 and "--state-dir" in p.stdout

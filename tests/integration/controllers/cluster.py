"""A one-machine cluster for the controller tests: `dynvol apiserver`,
`dynvol driver` and `dynvol controller` as three separate processes, the
controller's only link to the API being the kubeconfig. Everything is
driven with the stock kubectl; the driver's node service is reached over
gRPC (the tests play the kubelet) to check data."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import yaml

from apiserver.kube import KUBECTL, ApiServer, manifest

START_TIMEOUT = 30.0


class Controller:
    """One `dynvol controller` process; restartable, killable."""

    def __init__(self, binary, kubeconfig, csi_address, log_path, args=()):
        self.binary = str(binary)
        self.kubeconfig = kubeconfig
        self.csi_address = csi_address
        self.log_path = Path(log_path)
        self.args = list(args)
        self.proc = None

    def start(self, extra=(), env=None):
        self.log = open(self.log_path, "ab")
        e = dict(os.environ)
        e.update(env or {})
        self.proc = subprocess.Popen(
            [self.binary, "controller", "--kubeconfig", self.kubeconfig,
             "--csi-address", self.csi_address, "--retry-interval-start", "200ms",
             "--retry-interval-max", "5s"] + self.args + list(extra),
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=e)
        return self

    def wait_running(self, timeout=START_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dynvol controller exited {self.proc.returncode}: "
                                   + self.read_log())
            if "controller: running" in self.read_log():
                return self
            time.sleep(0.05)
        raise RuntimeError("dynvol controller did not start: " + self.read_log())

    def read_log(self):
        return self.log_path.read_text(errors="replace")[-20000:] \
            if self.log_path.exists() else ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """A SIGTERM stop must be clean: exit 0, no sanitizer report."""
        if not self.proc:
            return None
        timed_out = False
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        self.proc = None
        self.log.close()
        if sig == signal.SIGTERM:
            log = self.read_log()
            assert not timed_out, "dynvol controller did not stop on SIGTERM: " + log
            assert "Sanitizer" not in log and "runtime error:" not in log, log
            assert rc == 0, f"dynvol controller exited {rc} on SIGTERM: {log}"
        return rc

    def kill9(self):
        return self.stop(signal.SIGKILL)


class Cluster:
    """kubectl helpers over one API server (ours, or any conformant one
    given by DYNVOL_TEST_KUBECONFIG)."""

    def __init__(self, kubeconfig, apiserver=None):
        self.kubeconfig = kubeconfig
        self.apiserver = apiserver

    def kubectl(self, *args, input=None, check=True, timeout=60):
        p = subprocess.run([KUBECTL, "--kubeconfig", self.kubeconfig, *args],
                           input=input, capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({p.returncode}):\n"
                                 f"{p.stdout}\n{p.stderr}")
        return p

    def apply(self, *docs):
        """kubectl apply of objects given as dicts (JSON documents)."""
        return self.kubectl("apply", "-f", "-", input=manifest(*docs))

    def create(self, *docs):
        return self.kubectl("create", "-f", "-", input=manifest(*docs))

    def get(self, kind, name=None, namespace=None, check=True):
        """The object as a dict (None when absent and check is False)."""
        args = ["get", kind] + ([name] if name else []) + ["-o", "json"]
        if namespace:
            args += ["-n", namespace]
        p = self.kubectl(*args, check=check)
        if p.returncode != 0:
            if "NotFound" in p.stderr or "not found" in p.stderr:
                return None
            raise AssertionError(p.stderr)
        return json.loads(p.stdout)

    def exists(self, kind, name, namespace=None):
        return self.get(kind, name, namespace, check=False) is not None

    def wait(self, predicate, timeout=60, interval=0.1, what="condition"):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = predicate()
            except AssertionError as e:
                last = e
                last_ok = False
            else:
                last_ok = bool(last)
            if last_ok:
                return last
            time.sleep(interval)
        raise AssertionError(f"timed out waiting for {what}; last: {last!r}")

    def wait_phase(self, kind, name, phase, namespace=None, timeout=60):
        def check():
            o = self.get(kind, name, namespace, check=False)
            return o if o and o.get("status", {}).get("phase") == phase else None
        return self.wait(check, timeout, what=f"{kind} {name} phase {phase}")

    def wait_gone(self, kind, name, namespace=None, timeout=60):
        return self.wait(lambda: not self.exists(kind, name, namespace), timeout,
                         what=f"{kind} {name} to be gone")

    def events(self, name, namespace="default", reason=None):
        """Events about an object (by involvedObject.name)."""
        ev = self.get("events", namespace=namespace)["items"]
        return [e for e in ev if e["involvedObject"]["name"] == name and
                (reason is None or e.get("reason") == reason)]

    def wait_event(self, name, reason, namespace="default", timeout=60):
        return self.wait(lambda: self.events(name, namespace, reason), timeout,
                         what=f"event {reason} on {name}")


def storage_class(name, provisioner="csi.dynvol.io", parameters=None, reclaim="Delete",
                  binding="Immediate", expansion=True, mount_options=None,
                  allowed_topologies=None, default=False):
    sc = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
          "metadata": {"name": name}, "provisioner": provisioner,
          "parameters": parameters or {}, "reclaimPolicy": reclaim,
          "volumeBindingMode": binding, "allowVolumeExpansion": expansion}
    if mount_options:
        sc["mountOptions"] = mount_options
    if allowed_topologies:
        sc["allowedTopologies"] = allowed_topologies
    if default:
        sc["metadata"]["annotations"] = {
            "storageclass.kubernetes.io/is-default-class": "true"}
    return sc


def pvc(name, size="1Gi", sc=None, namespace="default", modes=("ReadWriteOnce",),
        volume_mode=None, data_source=None, data_source_ref=None, annotations=None,
        selector=None, volume_name=None):
    o = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
         "metadata": {"name": name, "namespace": namespace},
         "spec": {"accessModes": list(modes),
                  "resources": {"requests": {"storage": size}}}}
    if sc is not None:
        o["spec"]["storageClassName"] = sc
    if volume_mode:
        o["spec"]["volumeMode"] = volume_mode
    if data_source:
        o["spec"]["dataSource"] = data_source
    if data_source_ref:
        o["spec"]["dataSourceRef"] = data_source_ref
    if annotations:
        o["metadata"]["annotations"] = annotations
    if selector:
        o["spec"]["selector"] = selector
    if volume_name:
        o["spec"]["volumeName"] = volume_name
    return o

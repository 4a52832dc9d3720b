"""Helpers for driving `dynvol apiserver` from outside: the real kubectl
(/usr/bin/kubectl, the client of every test here) and, for what kubectl
cannot show (raw status codes, watch streams, bulk loads), plain HTTPS
requests with the CA and token from the server's kubeconfig."""

import base64
import http.client
import json
import os
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path

import yaml

KUBECTL = os.environ.get("KUBECTL", "/usr/bin/kubectl")
START_TIMEOUT = 15.0


class ApiServer:
    """One `dynvol apiserver` process on a state directory; restartable."""

    def __init__(self, binary, state_dir, port=0, extra=()):
        self.binary = str(binary)
        self.state_dir = Path(state_dir)
        self.port = port
        self.extra = list(extra)
        self.proc = None
        self.log = None

    # -- process -----------------------------------------------------------
    def start(self):
        kubeconfig = self.state_dir / "kubeconfig"
        old = kubeconfig.stat().st_mtime_ns if kubeconfig.exists() else None
        self.log = open(self.state_dir.parent / f"{self.state_dir.name}.log", "ab")
        self.proc = subprocess.Popen(
            [self.binary, "apiserver", "--state-dir", str(self.state_dir),
             "--port", str(self.port)] + self.extra,
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dynvol apiserver exited with {self.proc.returncode}; "
                                   f"log: {self.read_log()}")
            if kubeconfig.exists() and kubeconfig.stat().st_mtime_ns != old:
                try:
                    self._load_kubeconfig()
                    if self.request("GET", "/healthz")[0] == 200:
                        return self
                except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError):
                    pass
            time.sleep(0.05)
        raise RuntimeError("dynvol apiserver did not become ready: " + self.read_log())

    def read_log(self):
        p = self.state_dir.parent / f"{self.state_dir.name}.log"
        return p.read_text(errors="replace")[-8000:] if p.exists() else ""

    def stop(self, sig=signal.SIGTERM):
        """Stops the server. A SIGTERM stop must be clean: exit code 0 and,
        in sanitizer builds, no report in the log."""
        timed_out = False
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                timed_out = True
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode if self.proc else None
        self.proc = None
        if self.log:
            self.log.close()
            self.log = None
        if sig == signal.SIGTERM and rc is not None:
            log = self.read_log()
            assert not timed_out, "dynvol apiserver did not stop on SIGTERM: " + log
            assert "Sanitizer" not in log and "runtime error:" not in log, log
            assert rc == 0, f"dynvol apiserver exited {rc} on SIGTERM: {log}"
        return rc

    def kill9(self):
        return self.stop(signal.SIGKILL)

    def restart(self):
        self.stop()
        return self.start()

    # -- clients -----------------------------------------------------------
    def _load_kubeconfig(self):
        cfg = yaml.safe_load((self.state_dir / "kubeconfig").read_text())
        cluster = cfg["clusters"][0]["cluster"]
        self.url = cluster["server"]
        u = urllib.parse.urlparse(self.url)
        self.host, self.port = u.hostname, u.port
        self.tls = u.scheme == "https"
        self.token = cfg["users"][0]["user"]["token"]
        self.ctx = None
        if self.tls:
            ca = base64.b64decode(cluster["certificate-authority-data"]).decode()
            self.ctx = ssl.create_default_context(cadata=ca)

    @property
    def kubeconfig(self):
        return str(self.state_dir / "kubeconfig")

    def kubectl(self, *args, input=None, check=True, timeout=60):
        """Runs kubectl against this server; returns the CompletedProcess."""
        p = subprocess.run([KUBECTL, "--kubeconfig", self.kubeconfig, *args],
                           input=input, capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({p.returncode}):\n"
                                 f"{p.stdout}\n{p.stderr}")
        return p

    def kubectl_json(self, *args):
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def list_rv(self, path):
        """The resourceVersion of a list, read directly (kubectl prints
        lists as a kind: List without one)."""
        code, body, _ = self.request("GET", path)
        assert code == 200, body
        return body["metadata"]["resourceVersion"]

    def connection(self, timeout=30):
        if self.tls:
            return http.client.HTTPSConnection(self.host, self.port, context=self.ctx,
                                               timeout=timeout)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, token=True, conn=None):
        """One request; returns (status, parsed JSON or text, headers)."""
        own = conn is None
        c = conn or self.connection()
        h = {"Accept": "application/json"}
        if token:
            h["Authorization"] = "Bearer " + self.token
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        h.update(headers or {})
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            try:
                parsed = json.loads(data)
            except ValueError:
                parsed = data.decode(errors="replace")
            return r.status, parsed, dict(r.getheaders())
        finally:
            if own:
                c.close()

    def watch(self, path, timeout=30):
        """Opens a watch; returns a WatchStream over its events."""
        c = self.connection(timeout=timeout)
        c.request("GET", path, headers={"Authorization": "Bearer " + self.token,
                                        "Accept": "application/json"})
        return WatchStream(c, c.getresponse())


class WatchStream:
    def __init__(self, conn, resp):
        self.conn, self.resp = conn, resp
        self.status = resp.status

    def next(self):
        line = self.resp.readline()
        if not line:
            return None
        return json.loads(line)

    def close(self):
        self.conn.close()


def manifest(*docs):
    """A manifest for kubectl -f -: a stream of JSON documents, so no value
    is re-typed by YAML 1.1 rules (an unquoted y is a boolean to kubectl)."""
    return "\n".join(json.dumps(d) for d in docs)

"""The src/kube client library against a live `dynvol apiserver`: CRUD and
conflict retry, an informer through creates/updates/deletes and a server
restart (410 -> relist, reconnect), two lease contenders, and event
aggregation as kubectl shows it. The C side is build/.../kube_itest; this
file starts the server, changes it with kubectl and reads what the
library reports."""

import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from apiserver.kube import ApiServer

REPO = Path(__file__).resolve().parents[3]
BUILD = Path(os.environ.get("DYNVOL_BUILD", REPO / "build"))
DYNVOL_BIN = Path(os.environ.get("DYNVOL_BIN", BUILD / "dynvol"))
ITEST = BUILD / "tests" / "integration" / "kube" / "kube_itest"


@pytest.fixture
def server():
    if not ITEST.exists():
        pytest.fail(f"{ITEST} not built (ninja -C build)")
    d = Path(tempfile.mkdtemp(prefix="dynvol-kube-"))
    state = d / "state"
    state.mkdir()
    srv = ApiServer(DYNVOL_BIN, state).start()
    yield srv
    srv.stop()
    shutil.rmtree(d, ignore_errors=True)


class Proc:
    """A kube_itest scenario with line-wise stdout and a stdin for commands."""

    def __init__(self, *args):
        self.p = subprocess.Popen([str(ITEST), *args], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, bufsize=1)
        self.lines = []
        self.partial = b""

    def send(self, cmd):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()

    def expect(self, prefix, timeout=20.0):
        """The first unconsumed line starting with prefix; other lines stay
        for later expects (a relist reports adds before deletes)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i, line in enumerate(self.lines):
                if line.startswith(prefix):
                    del self.lines[i]
                    return line
            # Raw reads: a buffered readline could hold lines select
            # does not see.
            r, _, _ = select.select([self.p.stdout], [], [], 0.2)
            if r:
                chunk = os.read(self.p.stdout.fileno(), 65536)
                if not chunk:
                    break
                self.partial += chunk
                *done, self.partial = self.partial.split(b"\n")
                self.lines.extend(d.decode() for d in done)
        raise AssertionError(f"no line {prefix!r} within {timeout}s; saw {self.lines}")

    def ask(self, cmd, prefix):
        self.send(cmd)
        return self.expect(prefix)

    def stop(self):
        if self.p.poll() is None:
            try:
                self.send("quit")
                self.p.wait(timeout=15)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.p.kill()
                self.p.wait()
        return self.p.returncode


def cm(name, ns, cls=None, extra=None):
    data = {"class": cls} if cls else {}
    data.update(extra or {})
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": name, "namespace": ns}, "data": data})


def test_crud_conflict_retry_keepalive(server):
    p = subprocess.run([str(ITEST), "crud", server.kubeconfig, "crud"], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    out = p.stdout
    assert "ok create 201 then 409 AlreadyExists" in out
    assert "ok stale update 409 Conflict" in out
    assert "ok conflict retry counter=80" in out
    assert "ok keepalive 100 requests 0 new connections" in out
    # What the library wrote is what kubectl reads.
    got = server.kubectl_json("-n", "crud", "get", "configmap", "counter")
    assert got["data"]["n"] == "80"
    pvc = server.kubectl_json("-n", "crud", "get", "pvc", "claim")
    assert pvc["status"]["phase"] == "Lost"


def test_informer_list_watch_restart(server):
    ns = "inf"
    server.kubectl("create", "namespace", ns)
    # More objects than one page (the scenario lists 7 at a time).
    server.kubectl("apply", "-f", "-", input="\n".join(
        cm(f"pre{i}", ns, "gold" if i % 2 else "silver") for i in range(10)))
    inf = Proc("informer", server.kubeconfig, ns)
    try:
        assert inf.expect("SYNCED") == "SYNCED 10"
        assert inf.ask("index gold", "INDEX") == "INDEX 5"
        # Trimmed: only the fields the trim function keeps.
        got = json.loads(inf.ask("get pre1", "GOT ")[4:])
        assert got["data"] == {"class": "gold"} and "uid" not in got["metadata"]

        server.kubectl("apply", "-f", "-", input=cm("new", ns, "gold"))
        inf.expect(f"ADD {ns}/new")
        server.kubectl("apply", "-f", "-", input=cm("new", ns, "silver"))
        inf.expect(f"UPDATE {ns}/new")
        assert inf.ask("index gold", "INDEX") == "INDEX 5"
        assert inf.ask("index silver", "INDEX") == "INDEX 6"
        server.kubectl("-n", ns, "delete", "configmap", "pre0")
        inf.expect(f"DELETE {ns}/pre0")
        assert inf.ask("count", "COUNT") == "COUNT 10"

        # Restart while the informer is frozen: its watch breaks
        # (reconnect with backoff), and with a 16-event history the twenty
        # changes made meanwhile push its resourceVersion out of it (410),
        # so it lists again and reports the difference as events.
        import signal
        inf.p.send_signal(signal.SIGSTOP)
        server.stop()
        server.extra = ["--watch-history", "16"]
        server.start()
        server.kubectl("-n", ns, "delete", "configmap", "pre1")
        for i in range(19):
            server.kubectl("apply", "-f", "-", input=cm("after", ns, "gold", {"i": str(i)}))
        inf.p.send_signal(signal.SIGCONT)
        inf.expect(f"DELETE {ns}/pre1", timeout=30)
        inf.expect(f"ADD {ns}/after", timeout=30)
        # The relist's events come before it counts itself finished.
        deadline = time.monotonic() + 10
        while True:
            stats = inf.ask("stats", "STATS")
            fields = dict(kv.split("=") for kv in stats.split()[1:])
            if int(fields["lists"]) >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert int(fields["lists"]) >= 2, stats
        assert int(fields["expired"]) >= 1, stats
        assert int(fields["reconnects"]) >= 1, stats
        assert inf.ask("count", "COUNT") == "COUNT 10"
        # gold: pre3, pre5, pre7, pre9 and after (pre1 went, new moved to silver)
        assert inf.ask("index gold", "INDEX") == "INDEX 5"
    finally:
        assert inf.stop() == 0


def lease_holder(server, ns, name):
    return server.kubectl_json("-n", ns, "get", "lease", name)["spec"].get("holderIdentity")


def test_two_lease_contenders(server):
    ns, name = "le", "dynvol-controller"
    a = Proc("lease", server.kubeconfig, ns, name, "alpha")
    a.expect("READY alpha")
    a.expect("LEADING alpha", timeout=10)
    b = Proc("lease", server.kubeconfig, ns, name, "beta")
    try:
        b.expect("READY beta")
        b.expect("LEADER alpha", timeout=10)
        time.sleep(4.0)  # longer than the 3 s lease: alpha keeps renewing
        assert b.ask("status", "IS beta") == "IS beta 0"
        assert a.ask("status", "IS alpha") == "IS alpha 1"
        lease = server.kubectl_json("-n", ns, "get", "lease", name)
        assert lease["spec"]["holderIdentity"] == "alpha"
        assert lease["spec"]["leaseDurationSeconds"] == 3
        # alpha dies without releasing: beta waits out the lease, then leads.
        t0 = time.monotonic()
        a.p.kill()
        a.p.wait()
        b.expect("LEADING beta", timeout=15)
        took = time.monotonic() - t0
        assert 2.0 <= took <= 8.0, took
        lease = server.kubectl_json("-n", ns, "get", "lease", name)
        assert lease["spec"]["holderIdentity"] == "beta"
        assert lease["spec"]["leaseTransitions"] >= 1
    finally:
        assert b.stop() == 0
    # A clean stop releases the Lease.
    assert lease_holder(server, ns, name) in ("", None)


def test_event_aggregation(server):
    p = subprocess.run([str(ITEST), "events", server.kubeconfig, "ev"], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "ok events created=2 aggregated=4 dropped=0 failed=0" in p.stdout
    evs = server.kubectl_json("-n", "ev", "get", "events")["items"]
    by_reason = {e["reason"]: e for e in evs}
    assert set(by_reason) == {"Repeated", "Other"}
    assert by_reason["Repeated"]["count"] == 5
    assert by_reason["Repeated"]["type"] == "Normal"
    assert by_reason["Repeated"]["involvedObject"]["kind"] == "ConfigMap"
    assert by_reason["Repeated"]["involvedObject"]["name"] == "target"
    assert by_reason["Repeated"]["source"]["component"] == "dynvol-itest"
    assert by_reason["Other"]["count"] == 1 and by_reason["Other"]["type"] == "Warning"
    table = server.kubectl("-n", "ev", "get", "events").stdout
    assert "Repeated" in table and "configmap/target" in table


def test_leader_stops_leading_when_it_cannot_renew(server):
    """A leader whose API server stops answering gives up leadership once
    its renew deadline (2 s here) has passed, without waiting for the
    client's 10 s request timeout; it leads again when the server is back."""
    import signal
    ns, name = "le2", "dynvol-controller"
    a = Proc("lease", server.kubeconfig, ns, name, "alpha")
    try:
        a.expect("LEADING alpha", timeout=10)
        server.proc.send_signal(signal.SIGSTOP)
        t0 = time.monotonic()
        try:
            a.expect("STOPPED alpha", timeout=15)
            took = time.monotonic() - t0
        finally:
            server.proc.send_signal(signal.SIGCONT)
        assert 1.5 <= took <= 5.0, took
        a.expect("LEADING alpha", timeout=15)
    finally:
        assert a.stop() == 0

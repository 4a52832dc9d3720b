"""grpc-go interop: dynvol's C gRPC server spoken to by grpc-go.

The Kubernetes CSI sidecars and the kubelet are grpc-go clients, so the
driver is checked with one: tests/interop/go/main.go, built once per module
by tests/interop/go/build.sh (offline, GOPATH mode, Debian's grpc-go 1.33
and code generated from proto/csi.proto). The Go program runs its checks and
prints "PASS name" / "FAIL name: why" per check; see main.go for the list.

This module starts its own drivers (it does not use conftest's fixtures):
`$DYNVOL_BIN` or <repo>/build/dynvol, on a unix socket under a short /tmp
directory, with DYNVOL_TEST_DELAY=Probe:2000 for the deadline and
cancellation checks.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DYNVOL_BIN = Path(os.environ.get("DYNVOL_BIN", REPO / "build" / "dynvol"))
BUILD_SH = REPO / "tests" / "interop" / "go" / "build.sh"

PROBE_DELAY_MS = 2000
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
GO_BUILD_TIMEOUT = 300
GO_RUN_TIMEOUT = 120

# Checked on its own (test_kubelet_style_dial) so that the other checks'
# verdicts do not hinge on it.
KUBELET_CHECK = "kubelet-style-dial"


# --------------------------------------------------------------------------
# the Go client


def _build_go_client(out):
    """Build the client into `out`; return None, or why it could not be built."""
    if shutil.which("go") is None:
        return ("`go` is not installed: run scripts/install-deps.sh (installs "
                "golang-go, golang-google-grpc-dev, golang-goprotobuf-dev, "
                "protobuf-compiler)")
    start = time.monotonic()
    try:
        res = subprocess.run(["bash", str(BUILD_SH), str(out)],
                             capture_output=True, text=True,
                             timeout=GO_BUILD_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        return (f"{BUILD_SH} did not finish in {GO_BUILD_TIMEOUT} s:\n"
                f"{e.stdout or ''}{e.stderr or ''}")
    if res.returncode != 0 or not out.exists():
        return (f"{BUILD_SH} {out} exited {res.returncode} (run "
                f"scripts/install-deps.sh if a tool or Go package is "
                f"missing):\n{res.stdout}{res.stderr}")
    print(f"go interop client built in {time.monotonic() - start:.1f} s")
    return None


@pytest.fixture(scope="module")
def go_build(tmp_path_factory):
    """(path, error): the interop client, built once for this module."""
    out = tmp_path_factory.mktemp("go-interop") / "interop"
    return str(out), _build_go_client(out)


def go_client(go_build):
    """The client's path. Called in each test's body, not as a fixture, so
    that a missing Go toolchain or a failed build is a FAILED test (never a
    skip, nor a setup ERROR)."""
    path, error = go_build
    if error:
        pytest.fail(error, pytrace=False)
    return path


# --------------------------------------------------------------------------
# the driver


def _connectable(path):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        try:
            s.connect(path)
            return True
        except OSError:
            return False


class Driver:
    """`dynvol driver` on a unix socket in a fresh short /tmp directory."""

    def __init__(self, env_extra=None, args=()):
        if not DYNVOL_BIN.exists() or not os.access(DYNVOL_BIN, os.X_OK):
            pytest.fail(f"dynvol binary not found/executable at {DYNVOL_BIN}: "
                        f"build it (ninja -C build) or set DYNVOL_BIN",
                        pytrace=False)
        # Socket paths must stay under 108 bytes: keep the directory short.
        self.dir = tempfile.mkdtemp(prefix="dvgo-", dir="/tmp")
        self.sock = os.path.join(self.dir, "csi.sock")
        self.endpoint = "unix://" + self.sock
        self.state_dir = os.path.join(self.dir, "state")
        self.stderr_path = os.path.join(self.dir, "stderr")
        env = dict(os.environ)
        env.pop("DYNVOL_TEST_DELAY", None)
        env.update(env_extra or {})
        self.args = [str(DYNVOL_BIN), "driver", "--endpoint", self.endpoint,
                     "--state-dir", self.state_dir, *args]
        self.stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(self.args, env=env,
                                     stdin=subprocess.DEVNULL,
                                     stdout=self.stderr, stderr=self.stderr)
        self.exit_code = None
        self.final_log = None  # the output's lines, once stopped

    def wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"driver exited {self.proc.returncode} before "
                            f"listening:\n{self.log()}", pytrace=False)
            if os.path.exists(self.sock) and _connectable(self.sock):
                return
            time.sleep(0.05)
        pytest.fail(f"driver did not accept connections on {self.sock} within "
                    f"{START_TIMEOUT} s:\n{self.log()}", pytrace=False)

    def log(self, max_lines=80):
        """The driver's output, minus its per-call "code=OK" lines."""
        if self.final_log is not None:
            lines = self.final_log
        else:
            self.stderr.flush()
            try:
                lines = Path(self.stderr_path).read_text(errors="replace").splitlines()
            except OSError as e:
                return f"(cannot read {self.stderr_path}: {e})"
        ok = [line for line in lines if " code=OK " in line]
        rest = [line for line in lines if " code=OK " not in line]
        head = f"[{len(ok)} code=OK call lines left out]\n" if ok else ""
        if len(rest) > max_lines:
            head += f"[first {len(rest) - max_lines} other lines left out]\n"
            rest = rest[-max_lines:]
        return head + "\n".join(rest)

    def stop(self):
        """SIGTERM, wait, SIGKILL if needed; remove the directory. Returns the
        exit code (negative: killed by that signal). Idempotent."""
        if self.final_log is not None:
            return self.exit_code
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.exit_code = self.proc.returncode
        self.stderr.close()
        try:
            self.final_log = Path(self.stderr_path).read_text(
                errors="replace").splitlines()
        except OSError as e:
            self.final_log = [f"(cannot read {self.stderr_path}: {e})"]
        shutil.rmtree(self.dir, ignore_errors=True)
        return self.exit_code


@pytest.fixture
def start_driver():
    drivers = []

    def start(env_extra=None, args=()):
        d = Driver(env_extra, args)
        drivers.append(d)
        d.wait_ready()
        return d

    yield start
    for d in drivers:
        d.stop()


# --------------------------------------------------------------------------
# running the client


def run_client(client, driver, *flags):
    cmd = [client, "-endpoint", driver.endpoint, *flags]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True,
                             timeout=GO_RUN_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{' '.join(cmd)} did not finish in {GO_RUN_TIMEOUT} s\n"
                    f"--- go client output ---\n{e.stdout or ''}{e.stderr or ''}\n"
                    f"--- driver stderr ---\n{driver.log()}", pytrace=False)
    return cmd, res


def assert_all_passed(cmd, res, driver, want_checks):
    """The client exited 0 with no FAIL line and a PASS for each of
    want_checks, the driver is alive; then it stops it: exit code 0."""
    out = res.stdout + res.stderr
    fails = [line for line in out.splitlines() if line.startswith("FAIL")]
    passed = {line.split()[1] for line in out.splitlines()
              if line.startswith("PASS ")}
    missing = [c for c in want_checks if c not in passed]
    alive = driver.proc.poll() is None
    if res.returncode != 0 or fails or missing or not alive:
        why = []
        if res.returncode != 0:
            why.append(f"go client exited {res.returncode}")
        if fails:
            why.append("failed checks:\n  " + "\n  ".join(fails))
        if missing:
            why.append(f"checks that did not report PASS: {missing}")
        if not alive:
            why.append(f"the driver died (exit {driver.proc.returncode})")
        pytest.fail("\n".join(why) +
                    f"\n--- command ---\n{' '.join(cmd)}"
                    f"\n--- go client output ---\n{out}"
                    f"\n--- driver stderr ---\n{driver.log()}", pytrace=False)
    # After grpc-go's traffic the driver must still shut down cleanly (this
    # also surfaces sanitizer reports when DYNVOL_BIN is an ASan build).
    code = driver.stop()
    if code != 0:
        pytest.fail(f"all checks passed, but the driver exited {code} on "
                    f"SIGTERM\n--- driver stderr ---\n{driver.log()}",
                    pytrace=False)


BASIC_CHECKS = ["dial", "GetPluginInfo", "GetPluginCapabilities", "Probe",
                "unknown-method", "unknown-service", "conn-alive-after-unknown",
                "concurrency-one-conn", "concurrency-many-conns"]
DELAYED_CHECKS = ["deadline", "cancel", "cancel-frees-handlers"]


def test_go_client(go_build, start_driver):
    """Identity RPCs, unknown method/service, 2000 calls x 64 goroutines on one
    ClientConn and over 8 ClientConns."""
    client = go_client(go_build)
    driver = start_driver()
    cmd, res = run_client(client, driver, "-skip", f"^{KUBELET_CHECK}$")
    assert_all_passed(cmd, res, driver, BASIC_CHECKS)


def test_go_client_delayed_probe(go_build, start_driver):
    """With Probe delayed 2 s: deadline (DeadlineExceeded within 1 s) and
    cancellation (Canceled) reach grpc-go, the connection stays usable, and the
    server frees the handlers of abandoned calls."""
    client = go_client(go_build)
    driver = start_driver({"DYNVOL_TEST_DELAY": f"Probe:{PROBE_DELAY_MS}"})
    cmd, res = run_client(client, driver, "-delayed-probe",
                          "-probe-delay", f"{PROBE_DELAY_MS}ms",
                          "-skip", f"^{KUBELET_CHECK}$")
    assert_all_passed(cmd, res, driver, BASIC_CHECKS + DELAYED_CHECKS)


def test_kubelet_style_dial(go_build, start_driver):
    """The kubelet dials the bare socket path with a custom unix dialer;
    grpc-go (1.33 here, and releases before it percent-encoded the authority)
    then sends the path itself as :authority, e.g. "/var/lib/kubelet/plugins/
    csi.dynvol.io/csi.sock". The server must accept that."""
    client = go_client(go_build)
    driver = start_driver()
    cmd, res = run_client(client, driver, "-run", f"^{KUBELET_CHECK}$")
    assert_all_passed(cmd, res, driver, ["dial", KUBELET_CHECK])

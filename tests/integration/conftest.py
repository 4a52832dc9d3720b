"""Fixtures for dynvol's integration tests.

The tests drive the real binaries from outside, the way a user (or the
Kubernetes sidecars) would: `dynvol driver` is started on a unix socket (or a
TCP port) and spoken to with grpcio; `dynvolctl` is run as a subprocess.

Environment:
  DYNVOL_BIN        path of the dynvol binary     (default <repo>/build/dynvol)
  DYNVOLCTL_BIN     path of the dynvolctl binary  (default <repo>/build/dynvolctl)
  DYNVOL_PROTO_DIR  directory holding csi.proto   (default <repo>/proto)

  DYNVOL_TEST_LOAD  when set (to a number of seconds, or 1 for the default
                    900), a CPU and disk hog (loadgen.py) runs for the whole
                    session, bounded by that time: the suite under load

Message classes are generated from the project's own proto/csi.proto at test
time with protoc; calls use channel.unary_unary with the classes'
SerializeToString/FromString, so no generated gRPC stubs are needed.
"""

import importlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# grpcio's fork handlers are not needed (we only fork to exec the binaries)
# and print warnings when other threads are inside gRPC; keep them off.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")

import grpc  # noqa: E402
import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
DYNVOL_BIN = Path(os.environ.get("DYNVOL_BIN", REPO / "build" / "dynvol"))
DYNVOLCTL_BIN = Path(os.environ.get("DYNVOLCTL_BIN", REPO / "build" / "dynvolctl"))
PROTO_DIR = Path(os.environ.get("DYNVOL_PROTO_DIR", REPO / "proto"))

DEFAULT_DRIVER_NAME = "csi.dynvol.io"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0

IDENTITY = "/csi.v1.Identity/"
GET_PLUGIN_INFO = IDENTITY + "GetPluginInfo"
GET_PLUGIN_CAPABILITIES = IDENTITY + "GetPluginCapabilities"
PROBE = IDENTITY + "Probe"


# --------------------------------------------------------------------------
# binaries and generated messages


def _require_binary(path, what):
    if not path.exists():
        pytest.fail(
            f"{what} binary not found at {path}: build it first (meson/ninja or "
            f"make, output in <repo>/build/) or point "
            f"{'DYNVOL_BIN' if what == 'dynvol' else 'DYNVOLCTL_BIN'} at it",
            pytrace=False,
        )
    if not os.access(path, os.X_OK):
        pytest.fail(f"{what} binary at {path} is not executable", pytrace=False)
    return str(path)


@pytest.fixture(scope="session")
def dynvol_bin():
    return _require_binary(DYNVOL_BIN, "dynvol")


@pytest.fixture(scope="session")
def dynvolctl_bin():
    return _require_binary(DYNVOLCTL_BIN, "dynvolctl")


@pytest.fixture(scope="session")
def csi(tmp_path_factory):
    """The csi_pb2 module generated from <repo>/proto/csi.proto."""
    proto = PROTO_DIR / "csi.proto"
    if not proto.exists():
        pytest.fail(f"{proto} not found (set DYNVOL_PROTO_DIR to override)",
                    pytrace=False)
    out = tmp_path_factory.mktemp("csi_pb2")
    cmd = ["protoc", f"--python_out={out}", f"-I{PROTO_DIR}", "-I/usr/include",
           str(proto)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} failed:\n{res.stderr}", pytrace=False)
    sys.path.insert(0, str(out))
    try:
        module = importlib.import_module("csi_pb2")
    finally:
        sys.path.remove(str(out))
    # A quick sanity check that this is CSI v1 as the tests expect.
    assert module.DESCRIPTOR.package == "csi.v1", module.DESCRIPTOR.package
    return module


@pytest.fixture(scope="session")
def dynvol_version(dynvol_bin):
    """The version printed by `dynvol --version`, without the "dynvol " prefix."""
    res = subprocess.run([dynvol_bin, "--version"], capture_output=True,
                         text=True, timeout=10)
    assert res.returncode == 0, f"dynvol --version exited {res.returncode}: {res.stderr}"
    out = res.stdout.strip()
    assert out.startswith("dynvol "), f"unexpected --version output: {out!r}"
    version = out[len("dynvol "):].strip()
    assert version, f"empty version in {out!r}"
    return version


@pytest.fixture(scope="session", autouse=True)
def background_load():
    """With DYNVOL_TEST_LOAD set: loadgen.py hogs the CPUs and the disk
    while the whole session runs (stopped at its end, or after the given
    seconds, whichever comes first)."""
    value = os.environ.get("DYNVOL_TEST_LOAD", "")
    if not value or value == "0":
        yield None
        return
    seconds = float(value) if float(value) > 1 else 900.0
    proc = subprocess.Popen([sys.executable, str(Path(__file__).parent / "loadgen.py"),
                             "--seconds", str(seconds)], stdin=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --------------------------------------------------------------------------
# small helpers shared by the test modules


def short_tmpdir():
    """A fresh directory with a short path, so socket paths stay < 108 bytes."""
    return tempfile.mkdtemp(prefix="dvt-", dir="/tmp")


def free_tcp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unix_connectable(path):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        try:
            s.connect(path)
            return True
        except OSError:
            return False


def tcp_connectable(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        try:
            s.connect(("127.0.0.1", port))
            return True
        except OSError:
            return False


def unary(channel, method, request, response_class, timeout=5.0, metadata=None):
    """Call `method` with a message; return the decoded response (raises RpcError)."""
    fn = channel.unary_unary(
        method,
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=response_class.FromString,
    )
    return fn(request, timeout=timeout, metadata=metadata)


def raw_unary(channel, method, payload, timeout=5.0):
    """Call `method` with raw request bytes; return the raw response bytes."""
    fn = channel.unary_unary(method, request_serializer=lambda b: b,
                             response_deserializer=lambda b: b)
    return fn(payload, timeout=timeout)


def rpc_code(fn, *args, **kwargs):
    """Run an RPC helper; return (status code, details, result or None)."""
    try:
        result = fn(*args, **kwargs)
        return grpc.StatusCode.OK, "", result
    except grpc.RpcError as e:
        return e.code(), e.details(), None


def wait_for(predicate, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            return value
        time.sleep(interval)


# --------------------------------------------------------------------------
# the driver process


class Driver:
    """A running `dynvol driver` process and what a test needs to talk to it."""

    def __init__(self, proc, args, endpoint, target, sock_path, tcp_port,
                 state_dir, stderr_path, stdout_path):
        self.proc = proc
        self.args = args
        self.endpoint = endpoint      # as given to --endpoint
        self.target = target          # as given to grpc.insecure_channel
        self.sock_path = sock_path    # unix socket path, or None for TCP
        self.tcp_port = tcp_port
        self.state_dir = state_dir
        self.stderr_path = stderr_path
        self.stdout_path = stdout_path
        self._channels = []

    # process -------------------------------------------------------------

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def stderr(self):
        return Path(self.stderr_path).read_text(encoding="utf-8", errors="replace")

    def stderr_bytes(self):
        return Path(self.stderr_path).read_bytes()

    def describe(self):
        rc = self.proc.poll()
        state = "running" if rc is None else f"exited with {rc}"
        return (f"dynvol driver ({' '.join(self.args)}) {state}; stderr:\n"
                f"{self.stderr()[-6000:]}")

    def connectable(self):
        if self.sock_path is not None:
            return unix_connectable(self.sock_path)
        return tcp_connectable(self.tcp_port)

    def wait_ready(self, timeout=START_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail("driver exited before accepting connections: "
                            + self.describe(), pytrace=False)
            if self.connectable():
                return
            time.sleep(0.02)
        pytest.fail(f"driver did not accept connections on {self.endpoint} "
                    f"within {timeout}s: " + self.describe(), pytrace=False)

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Send `sig`, wait for exit; kill after `timeout`. Returns the exit code."""
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        return self.proc.returncode

    def wait_exit(self, timeout):
        """Wait for the process to exit on its own; return its code or None."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    # gRPC ----------------------------------------------------------------

    def channel(self, own_connection=False, options=None):
        opts = list(options or [])
        if own_connection:
            opts.append(("grpc.use_local_subchannel_pool", 1))
        ch = grpc.insecure_channel(self.target, options=opts)
        self._channels.append(ch)
        return ch

    def close_channels(self):
        for ch in self._channels:
            try:
                ch.close()
            except Exception:
                pass
        self._channels.clear()

    # logs ----------------------------------------------------------------

    def json_lines(self):
        """Every stderr line parsed as JSON (lines that are not JSON raise)."""
        out = []
        for line in self.stderr().splitlines():
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as e:
                raise AssertionError(f"log line is not JSON ({e}): {line!r}")
            assert isinstance(obj, dict), f"log line is not a JSON object: {line!r}"
            out.append(obj)
        return out

    def rpc_log_lines(self, method=None):
        """The JSON log lines that describe an RPC (have "method" and "code")."""
        lines = [o for o in self.json_lines() if "method" in o and "code" in o]
        if method is not None:
            lines = [o for o in lines if o.get("method") == method]
        return lines

    def wait_rpc_log(self, method, code=None, timeout=3.0):
        """Wait until a JSON RPC log line for `method` (and `code`) shows up."""
        def find():
            for o in self.rpc_log_lines(method):
                if code is None or o.get("code") == code:
                    return o
            return None
        return wait_for(find, timeout)


@pytest.fixture
def driver_factory(dynvol_bin, tmp_path):
    """Start `dynvol driver` processes; everything is torn down after the test.

    driver_factory(mode=None, driver_name=None, node_id=None,
                   log_level=None, log_format=None, max_msg_size=None,
                   workers=None, grace_period=None, delay=None, extra_args=(),
                   env=None, tcp=False, sock_path=None, state_dir=None,
                   wait=True) -> Driver
    `delay` is the DYNVOL_TEST_DELAY value, e.g. "Probe:500".
    """
    drivers = []
    dirs = []
    counter = [0]

    def start(mode=None, driver_name=None, node_id=None, log_level=None,
              log_format=None, max_msg_size=None, workers=None,
              grace_period=None, delay=None, extra_args=(), env=None,
              tcp=False, sock_path=None, state_dir=None, wait=True):
        counter[0] += 1
        n = counter[0]
        tcp_port = None
        if tcp:
            tcp_port = free_tcp_port()
            endpoint = f"tcp://127.0.0.1:{tcp_port}"
            target = f"127.0.0.1:{tcp_port}"
            sock_path = None
        else:
            if sock_path is None:
                d = short_tmpdir()
                dirs.append(d)
                sock_path = os.path.join(d, "csi.sock")
            endpoint = f"unix://{sock_path}"
            target = f"unix://{sock_path}"
        if state_dir is None:
            state_dir = tmp_path / f"state{n}"
            state_dir.mkdir()
        args = [dynvol_bin, "driver", "--endpoint", endpoint,
                "--state-dir", str(state_dir)]
        if mode is not None:
            args += ["--mode", mode]
        if driver_name is not None:
            args += ["--driver-name", driver_name]
        if node_id is not None:
            args += ["--node-id", node_id]
        if log_level is not None:
            args += ["--log-level", log_level]
        if log_format is not None:
            args += ["--log-format", log_format]
        if max_msg_size is not None:
            args += ["--max-msg-size", str(max_msg_size)]
        if workers is not None:
            args += ["--workers", str(workers)]
        if grace_period is not None:
            args += ["--grace-period", str(grace_period)]
        args += list(extra_args)

        proc_env = dict(os.environ)
        proc_env.pop("DYNVOL_TEST_DELAY", None)
        if delay is not None:
            proc_env["DYNVOL_TEST_DELAY"] = delay
        if env:
            proc_env.update(env)

        stderr_path = tmp_path / f"driver{n}.stderr"
        stdout_path = tmp_path / f"driver{n}.stdout"
        with open(stderr_path, "wb") as err, open(stdout_path, "wb") as out:
            proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=err, env=proc_env)
        drv = Driver(proc, args, endpoint, target, sock_path, tcp_port,
                     Path(state_dir), stderr_path, stdout_path)
        drivers.append(drv)
        if wait:
            drv.wait_ready()
        return drv

    yield start

    for drv in drivers:
        drv.close_channels()
    for drv in drivers:
        if drv.alive():
            drv.stop(signal.SIGTERM, timeout=STOP_TIMEOUT)
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def driver(driver_factory):
    """One driver in the default mode (all) with default options."""
    return driver_factory()


# --------------------------------------------------------------------------
# dynvolctl


@pytest.fixture
def run_ctl(dynvolctl_bin):
    """run_ctl(*args, timeout=30) -> CompletedProcess (text, utf-8)."""
    def run(*args, timeout=30, env=None):
        proc_env = dict(os.environ)
        if env:
            proc_env.update(env)
        return subprocess.run([dynvolctl_bin, *args], capture_output=True,
                              timeout=timeout, env=proc_env,
                              stdin=subprocess.DEVNULL,
                              encoding="utf-8", errors="replace")
    return run

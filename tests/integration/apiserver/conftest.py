"""Fixtures for the embedded API server tests: a fresh `dynvol apiserver`
per test (module-shared where a test says so) on a free port, driven with
the stock kubectl."""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from .kube import KUBECTL, ApiServer

REPO = Path(__file__).resolve().parents[3]
DYNVOL_BIN = Path(os.environ.get("DYNVOL_BIN", REPO / "build" / "dynvol"))


def _need_kubectl():
    if not Path(KUBECTL).exists():
        pytest.fail(f"kubectl not found at {KUBECTL}: the machine image ships "
                    "/usr/bin/kubectl v1.32; point KUBECTL at one")


@pytest.fixture
def state_dir():
    d = tempfile.mkdtemp(prefix="dynvol-apiserver-")
    yield Path(d) / "state"
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def apiserver(state_dir):
    _need_kubectl()
    state_dir.mkdir()
    srv = ApiServer(DYNVOL_BIN, state_dir).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def shared_apiserver():
    """One server for a module's read-mostly tests (each uses its own
    namespace or names)."""
    _need_kubectl()
    d = tempfile.mkdtemp(prefix="dynvol-apiserver-")
    state = Path(d) / "state"
    state.mkdir()
    srv = ApiServer(DYNVOL_BIN, state).start()
    yield srv
    srv.stop()
    shutil.rmtree(d, ignore_errors=True)

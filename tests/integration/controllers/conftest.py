"""Fixtures for the controller suites: `dynvol apiserver`, `dynvol driver`
and `dynvol controller` as separate processes.

With DYNVOL_TEST_KUBECONFIG set, no API server is started: the suites run
against that one (any conformant Kubernetes API server), since the
kubeconfig is their only link to it."""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from apiserver.kube import KUBECTL, ApiServer
from .cluster import Cluster, Controller

REPO = Path(__file__).resolve().parents[3]
DYNVOL_BIN = Path(os.environ.get("DYNVOL_BIN", REPO / "build" / "dynvol"))
NODE_ID = "node-1"


@pytest.fixture
def api(tmp_path):
    """The API server: a fresh `dynvol apiserver`, or the given one."""
    if not Path(KUBECTL).exists():
        pytest.fail(f"kubectl not found at {KUBECTL}")
    ext = os.environ.get("DYNVOL_TEST_KUBECONFIG")
    if ext:
        yield Cluster(ext)
        return
    state = tmp_path / "api"
    state.mkdir()
    srv = ApiServer(DYNVOL_BIN, state).start()
    yield Cluster(srv.kubeconfig, srv)
    srv.stop()


@pytest.fixture
def csi_driver(driver_factory):
    """The CSI driver (all services) with node id node-1."""
    return driver_factory(node_id=NODE_ID)


@pytest.fixture
def controller_factory(api, csi_driver, tmp_path):
    """controller_factory(args=(), start=True) -> Controller, stopped (with a
    clean-exit check) after the test."""
    made = []

    def make(args=(), start=True, wait=True, driver=None):
        d = driver or csi_driver
        c = Controller(DYNVOL_BIN, api.kubeconfig, d.endpoint,
                       tmp_path / f"controller{len(made)}.log", args)
        made.append(c)
        if start:
            c.start()
            if wait:
                c.wait_running()
        return c

    yield make
    for c in made:
        if c.alive():
            c.stop()


@pytest.fixture
def controller(controller_factory):
    return controller_factory()

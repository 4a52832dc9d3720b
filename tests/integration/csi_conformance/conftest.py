"""CSI Controller conformance suite: fixtures and options.

Written from the CSI spec (container-storage-interface/spec, spec.md: the
Controller RPC sections, their error tables, and the general Error Scheme).

By default every test gets a fresh `dynvol driver` (fresh state dir, no
--config: one `dir` pool at <state-dir>/pools/default, node ID
"node-under-test"). With

    pytest tests/integration/csi_conformance --csi-endpoint=unix:///path/csi.sock \
        [--csi-node-id=NODE]

the tests run against that endpoint instead (any CSI driver); tests marked
`dynvol` (they look inside dynvol's state dir, its logs, use its fault
injection or its StorageClass parameters) are skipped, tests that need a
capability the endpoint does not report are skipped, and every test deletes
what it created. --csi-node-id is the node ControllerPublishVolume targets
(default: NodeGetInfo's node_id when the endpoint serves the Node service).

Markers:
  dynvol                 needs dynvol internals; skipped with --csi-endpoint
  driver_options(**kw)   how to start our driver for this test (log_level,
                         delay (DYNVOL_TEST_DELAY), config (a dict written as
                         the --config file), node_id); implies `dynvol`

Tests that fail because dynvol breaks the spec are marked
pytest.mark.xfail(strict=True, reason="dynvol bug: ..."); against another
endpoint those marks are relaxed to non-strict.
"""

import json

import grpc
import pytest

from .helpers import Endpoint

NODE_ID = "node-under-test"


def pytest_addoption(parser):
    group = parser.getgroup("csi-conformance")
    group.addoption("--csi-endpoint", action="store", default=None,
                    help="run the CSI conformance suite against this endpoint "
                         "(unix:///path or host:port) instead of a fresh dynvol driver")
    group.addoption("--csi-node-id", action="store", default=None,
                    help="node ID for ControllerPublishVolume with --csi-endpoint")


def pytest_configure(config):
    config.addinivalue_line("markers", "dynvol: needs dynvol internals (skipped "
                            "with --csi-endpoint)")
    config.addinivalue_line("markers", "driver_options(**kw): options for our driver")


def _external(config):
    try:
        return config.getoption("--csi-endpoint")
    except ValueError:  # option not registered (conftest not initial)
        return None


def pytest_collection_modifyitems(config, items):
    if not _external(config):
        return
    for item in items:
        for mark in item.iter_markers("xfail"):
            reason = mark.kwargs.get("reason", "")
            if reason.startswith("dynvol bug:"):
                item.add_marker(pytest.mark.xfail(strict=False, reason=reason),
                                append=False)
                break


@pytest.fixture(autouse=True)
def _conformance_mode(request):
    if _external(request.config):
        if request.node.get_closest_marker("dynvol") or \
                request.node.get_closest_marker("driver_options"):
            pytest.skip("dynvol-specific (inspects dynvol's state or starts it "
                        "with special options)")


def _target(endpoint):
    # grpc accepts unix:///abs/path and host:port; tolerate tcp://host:port
    if endpoint.startswith("tcp://"):
        return endpoint[len("tcp://"):]
    return endpoint


def _external_node_id(csi, target, given):
    if given:
        return given
    from .helpers import method_path
    from conftest import unary
    ch = grpc.insecure_channel(target)
    try:
        resp = unary(ch, method_path("NodeGetInfo"), csi.NodeGetInfoRequest(),
                     csi.NodeGetInfoResponse, timeout=5)
        return resp.node_id or None
    except grpc.RpcError:
        return None
    finally:
        ch.close()


@pytest.fixture
def endpoint(request, csi, tmp_path):
    """The Endpoint under test (see the module docstring)."""
    ext = _external(request.config)
    if ext:
        target = _target(ext)
        node_id = _external_node_id(csi, target, request.config.getoption("--csi-node-id"))
        ep = Endpoint(csi, target, node_id, external=True)
        yield ep
        ep.cleanup()
        return

    factory = request.getfixturevalue("driver_factory")
    mark = request.node.get_closest_marker("driver_options")
    opts = dict(mark.kwargs) if mark else {}
    node_id = opts.pop("node_id", NODE_ID)
    extra = []
    config = opts.pop("config", None)
    if config is not None:
        path = tmp_path / "dynvol-config.yaml"
        path.write_text(json.dumps(config))  # JSON is YAML
        extra += ["--config", str(path)]
    opts.setdefault("log_format", "json")
    drv = factory(node_id=node_id, extra_args=extra, **opts)

    def restart(old, before_start):
        old.close_channels()
        rc = old.stop()
        assert rc == 0, f"driver exited {rc} on SIGTERM: {old.describe()}"
        if before_start:
            before_start()
        return factory(node_id=node_id, extra_args=extra, sock_path=old.sock_path,
                       state_dir=old.state_dir, **opts)

    ep = Endpoint(csi, drv.target, node_id, driver=drv, restart=restart)
    yield ep
    ep.cleanup()
    # a driver that died during the test is a failure of its own
    assert ep.driver.alive(), "driver died during the test: " + ep.driver.describe()

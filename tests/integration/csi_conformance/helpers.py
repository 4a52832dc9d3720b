"""Client-side helpers for the CSI Controller conformance suite.

`Endpoint` wraps one CSI endpoint (our driver, or any driver given with
--csi-endpoint): calls by RPC name, expected-error assertions, paging
walkers, capability checks, and, for external endpoints, clean-up of
everything a test created. Nothing here knows dynvol's internals except
the `dynvol_*` helpers, which the dynvol-only tests use.
"""

import hashlib
import os
import signal
import uuid
from pathlib import Path

import grpc
import pytest

from conftest import unary  # tests/integration/conftest.py

OK = grpc.StatusCode.OK
INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
ALREADY_EXISTS = grpc.StatusCode.ALREADY_EXISTS
RESOURCE_EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
FAILED_PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
ABORTED = grpc.StatusCode.ABORTED
OUT_OF_RANGE = grpc.StatusCode.OUT_OF_RANGE

MIB = 1024 * 1024

IDENTITY_METHODS = {"GetPluginInfo", "GetPluginCapabilities", "Probe"}

# dynvol's own topology key (src/csi/csi.h CSI_TOPOLOGY_NODE_KEY)
DYNVOL_NODE_KEY = "topology.dynvol.io/node"


def unique(prefix="conf"):
    """A name no other test (or earlier run against the same endpoint) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def method_path(method):
    if method in IDENTITY_METHODS:
        service = "Identity"
    elif method.startswith("Node"):
        service = "Node"
    else:
        service = "Controller"
    return f"/csi.v1.{service}/{method}"


class Endpoint:
    """One CSI endpoint as the tests see it."""

    def __init__(self, csi, target, node_id, driver=None, external=False,
                 restart=None):
        self.csi = csi
        self.target = target
        self.node_id = node_id
        self.driver = driver          # conftest.Driver, or None when external
        self.external = external
        self._restart = restart
        self.channel = grpc.insecure_channel(target)
        self._volumes = []            # created here, for external clean-up
        self._snapshots = []
        self._publications = []
        self._ccaps = None
        self._pcaps = None

    # messages -------------------------------------------------------------

    def mount_cap(self, mode="SINGLE_NODE_WRITER", fs_type="", flags=()):
        c = self.csi
        return c.VolumeCapability(
            mount=c.VolumeCapability.MountVolume(fs_type=fs_type,
                                                 mount_flags=list(flags)),
            access_mode=c.VolumeCapability.AccessMode(
                mode=c.VolumeCapability.AccessMode.Mode.Value(mode)))

    def block_cap(self, mode="SINGLE_NODE_WRITER"):
        c = self.csi
        return c.VolumeCapability(
            block=c.VolumeCapability.BlockVolume(),
            access_mode=c.VolumeCapability.AccessMode(
                mode=c.VolumeCapability.AccessMode.Mode.Value(mode)))

    def snapshot_source(self, snapshot_id):
        c = self.csi
        return c.VolumeContentSource(
            snapshot=c.VolumeContentSource.SnapshotSource(snapshot_id=snapshot_id))

    def volume_source(self, volume_id):
        c = self.csi
        return c.VolumeContentSource(
            volume=c.VolumeContentSource.VolumeSource(volume_id=volume_id))

    def topology(self, segments):
        return self.csi.Topology(segments=dict(segments))

    def request(self, method, **fields):
        return getattr(self.csi, method + "Request")(**fields)

    # calls ----------------------------------------------------------------

    def call(self, method, request=None, timeout=15.0, channel=None, **fields):
        """The response of `method` (raises grpc.RpcError)."""
        if request is None:
            request = self.request(method, **fields)
        resp_cls = getattr(self.csi, method + "Response")
        resp = unary(channel or self.channel, method_path(method), request,
                     resp_cls, timeout=timeout)
        self._track(method, request, resp)
        return resp

    def try_call(self, method, request=None, timeout=15.0, channel=None, **fields):
        """(code, details, response or None); never raises for RPC errors."""
        try:
            return OK, "", self.call(method, request, timeout=timeout,
                                     channel=channel, **fields)
        except grpc.RpcError as e:
            return e.code(), e.details() or "", None

    def expect(self, code, method, request=None, **fields):
        """Asserts that the call ends with `code`; returns the details."""
        if request is None:
            request = self.request(method, **fields)
        got, details, resp = self.try_call(method, request)
        assert got == code, (
            f"{method} answered {got.name} ({details!r}), expected {code.name}\n"
            f"request: {_short(request)}\nresponse: {_short(resp)}")
        if code != OK:
            # Error Scheme: "The status `message` MUST contain a human
            # readable description of error, if the status `code` is not OK."
            assert details.strip(), f"{method} {code.name} has an empty status message"
        return details

    def expect_one_of(self, codes, method, request=None, **fields):
        if request is None:
            request = self.request(method, **fields)
        got, details, resp = self.try_call(method, request)
        assert got in codes, (
            f"{method} answered {got.name} ({details!r}), expected one of "
            f"{[c.name for c in codes]}\nrequest: {_short(request)}")
        return got, details, resp

    def _track(self, method, request, resp):
        if not self.external:
            return
        if method == "CreateVolume":
            vid = resp.volume.volume_id
            if vid and vid not in self._volumes:
                self._volumes.append(vid)
        elif method == "CreateSnapshot":
            sid = resp.snapshot.snapshot_id
            if sid and sid not in self._snapshots:
                self._snapshots.append(sid)
        elif method == "ControllerPublishVolume":
            self._publications.append((request.volume_id, request.node_id))

    # conveniences ---------------------------------------------------------

    def create_volume(self, name=None, caps=None, required=0, limit=0, **kw):
        """CreateVolume with a single-node mount capability unless told; the Volume."""
        if caps is None:
            caps = [self.mount_cap()]
        if required or limit:
            kw["capacity_range"] = self.csi.CapacityRange(required_bytes=required,
                                                          limit_bytes=limit)
        resp = self.call("CreateVolume", name=name or unique("vol"),
                         volume_capabilities=caps, **kw)
        assert resp.volume.volume_id, f"CreateVolume answered no volume_id: {resp}"
        return resp.volume

    def delete_volume(self, volume_id):
        return self.call("DeleteVolume", volume_id=volume_id)

    def create_snapshot(self, source_volume_id, name=None, **kw):
        resp = self.call("CreateSnapshot", name=name or unique("snap"),
                         source_volume_id=source_volume_id, **kw)
        assert resp.snapshot.snapshot_id, f"CreateSnapshot answered no snapshot_id: {resp}"
        return resp.snapshot

    def publish(self, volume_id, node_id=None, cap=None, readonly=False, **kw):
        return self.call("ControllerPublishVolume", volume_id=volume_id,
                         node_id=node_id or self.require_node_id(),
                         volume_capability=cap or self.mount_cap(),
                         readonly=readonly, **kw)

    def unpublish(self, volume_id, node_id=None):
        return self.call("ControllerUnpublishVolume", volume_id=volume_id,
                         node_id=node_id if node_id is not None else self.require_node_id())

    def deleted_volume_id(self):
        """The ID of a volume that existed and was deleted: a well-formed ID
        that names nothing (works for any driver's ID scheme)."""
        vid = self.create_volume().volume_id
        self.delete_volume(vid)
        return vid

    def deleted_snapshot_id(self):
        vid = self.create_volume().volume_id
        sid = self.create_snapshot(vid).snapshot_id
        self.call("DeleteSnapshot", snapshot_id=sid)
        return sid

    def walk(self, method, max_entries=0, limit_pages=100000, **filters):
        """Follows next_token to the end: (entries, pages)."""
        entries, pages, token = [], [], ""
        for _ in range(limit_pages):
            resp = self.call(method, max_entries=max_entries, starting_token=token,
                             **filters)
            pages.append(resp)
            entries.extend(resp.entries)
            token = resp.next_token
            if not token:
                return entries, pages
        raise AssertionError(f"{method}: more than {limit_pages} pages")

    def volume_ids(self):
        entries, _ = self.walk("ListVolumes")
        return [e.volume.volume_id for e in entries]

    def snapshot_ids(self, **filters):
        entries, _ = self.walk("ListSnapshots", **filters)
        return [e.snapshot.snapshot_id for e in entries]

    # capabilities ---------------------------------------------------------

    def controller_caps(self):
        if self._ccaps is None:
            resp = self.call("ControllerGetCapabilities")
            T = self.csi.ControllerServiceCapability.RPC.Type
            self._ccaps = {T.Name(c.rpc.type) for c in resp.capabilities
                           if c.WhichOneof("type") == "rpc"}
        return self._ccaps

    def plugin_caps(self):
        if self._pcaps is None:
            resp = self.call("GetPluginCapabilities")
            out = set()
            for c in resp.capabilities:
                kind = c.WhichOneof("type")
                if kind == "service":
                    out.add(self.csi.PluginCapability.Service.Type.Name(c.service.type))
                elif kind == "volume_expansion":
                    out.add("VolumeExpansion." + self.csi.PluginCapability.VolumeExpansion
                            .Type.Name(c.volume_expansion.type))
            self._pcaps = out
        return self._pcaps

    def require(self, *caps):
        missing = [c for c in caps if c not in self.controller_caps()]
        if missing:
            pytest.skip(f"the endpoint does not report {', '.join(missing)}")

    def require_node_id(self):
        if not self.node_id:
            pytest.skip("no node ID known for this endpoint (give --csi-node-id)")
        return self.node_id

    def node_topology(self):
        """The segments of the topology volumes made here are accessible from."""
        if "VOLUME_ACCESSIBILITY_CONSTRAINTS" not in self.plugin_caps():
            pytest.skip("the endpoint does not report VOLUME_ACCESSIBILITY_CONSTRAINTS")
        if not self.external:
            return {DYNVOL_NODE_KEY: self.node_id}
        vol = self.create_volume()
        if not vol.accessible_topology:
            pytest.skip("volumes report no accessible_topology")
        return dict(vol.accessible_topology[0].segments)

    def other_topology(self):
        """The same keys with values no node of this endpoint has."""
        return {k: "other" if v != "other" else "other-2"
                for k, v in self.node_topology().items()}

    # dynvol-only inspection -----------------------------------------------

    @property
    def state_dir(self):
        assert self.driver is not None, "dynvol-only helper used on an external endpoint"
        return Path(self.driver.state_dir)

    @property
    def pool_root(self):
        return self.state_dir / "pools" / "default"

    def volume_dir(self, volume_id):
        return self.pool_root / "volumes" / volume_id

    def snapshot_dir(self, snapshot_id):
        return self.pool_root / "snapshots" / snapshot_id

    def restart(self, before_start=None):
        """Stops our driver (SIGTERM), runs before_start(), starts it again
        on the same state dir and socket."""
        assert self._restart is not None, "restart needs our own driver"
        self.channel.close()
        self.driver = self._restart(self.driver, before_start)
        self.channel = grpc.insecure_channel(self.target)
        self._ccaps = self._pcaps = None

    # clean-up -------------------------------------------------------------

    def cleanup(self):
        """Removes what this test made on an external endpoint (best effort)."""
        if self.external:
            for vid, node in reversed(self._publications):
                self.try_call("ControllerUnpublishVolume", volume_id=vid, node_id=node)
            for sid in reversed(self._snapshots):
                self.try_call("DeleteSnapshot", snapshot_id=sid)
            for vid in reversed(self._volumes):
                self.try_call("DeleteVolume", volume_id=vid)
        self.channel.close()


def _short(msg, limit=600):
    if msg is None:
        return "None"
    text = str(msg).replace("\n", " ")
    return text if len(text) <= limit else text[:limit] + "..."


# --------------------------------------------------------------------------
# file trees (dir pool content checks)


def write_tree(root, files):
    """files: {relative path: bytes}."""
    root = Path(root)
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


def tree_digest(root):
    """sha256 over every regular file's relative path, mode bits and content."""
    root = Path(root)
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            h.update(rel.encode() + b"\0")
            h.update(oct(p.stat().st_mode & 0o7777).encode() + b"\0")
            h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def tree_files(root):
    root = Path(root)
    out = {}
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            p = Path(dirpath) / name
            out[p.relative_to(root).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def stop_driver(driver):
    driver.close_channels()
    return driver.stop(signal.SIGTERM)


def all_files_under(root):
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            p = Path(dirpath) / name
            if p.is_file() and not p.is_symlink():
                yield p

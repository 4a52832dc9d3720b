"""Security cases as data: every file under tests/cases/security/ is one
case (request, expected codes, what must not happen), replayed by this one
runner against a real driver (debug logging, a temporary kubelet prefix).

Case keys:
  rpc              full method path
  request          the message as protobuf JSON; strings may use
                   "@prefix" (the allowed path prefix) and "@repeat:C:N"
  raw_hex / raw_size   send these bytes (hex, spaces ignored) or N zero
                   bytes instead of a message
  expect           status code names; the answer must be one of them
  max_message      the status message is at most this long
  secret           this string appears nowhere: log, status, state dir
  must_not_exist   paths that must not exist afterwards
  setup_symlink    {"link": path, "to": target} planted before the call
  setup_volume     true: a volume is created first (default dir pool) and
                   "@volume" in the request is its ID; path checks come
                   after the volume lookup, so a case about a path names a
                   volume that exists (an unknown one is NOT_FOUND first)
"""

import glob
import json
import os
import shutil

import grpc
import pytest
from google.protobuf import json_format

from conftest import rpc_code, short_tmpdir

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CASES = sorted(glob.glob(os.path.join(REPO_ROOT, "tests", "cases", "security", "*.json")))


def _subst(v, prefix, volume=""):
    if isinstance(v, str):
        if v.startswith("@repeat:"):
            _, ch, n = v.split(":")
            return ch * int(n)
        return v.replace("@prefix", prefix).replace("@volume", volume)
    if isinstance(v, list):
        return [_subst(x, prefix, volume) for x in v]
    if isinstance(v, dict):
        return {k: _subst(x, prefix, volume) for k, x in v.items()}
    return v


def _create_volume(ch, csi):
    """A 1 MiB mount volume on the default pool; its ID."""
    req = csi.CreateVolumeRequest(
        name="case-volume",
        volume_capabilities=[csi.VolumeCapability(
            mount=csi.VolumeCapability.MountVolume(),
            access_mode=csi.VolumeCapability.AccessMode(mode="SINGLE_NODE_WRITER"))])
    fn = ch.unary_unary("/csi.v1.Controller/CreateVolume",
                        request_serializer=lambda m: m.SerializeToString(),
                        response_deserializer=csi.CreateVolumeResponse.FromString)
    return fn(req, timeout=20).volume.volume_id


@pytest.fixture(scope="module")
def prefix():
    d = short_tmpdir()
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_cases_exist():
    assert len(CASES) >= 15, CASES


@pytest.mark.parametrize("path", CASES, ids=[os.path.basename(p)[:-5] for p in CASES])
def test_security_case(path, driver_factory, csi, prefix):
    with open(path) as f:
        case = json.load(f)
    drv = driver_factory(log_level="debug", extra_args=["--path-prefix", prefix])
    method = case["rpc"]
    created = []
    link = case.get("setup_symlink")
    if link:
        lp = _subst(link["link"], prefix)
        os.symlink(link["to"], lp)
        created.append(lp)
    try:
        ch = drv.channel()
        volume = _create_volume(ch, csi) if case.get("setup_volume") else ""
        if "raw_hex" in case or "raw_size" in case:
            payload = bytes.fromhex(case["raw_hex"].replace(" ", "")) if "raw_hex" in case \
                else bytes(case["raw_size"])
            fn = ch.unary_unary(method, request_serializer=lambda b: b,
                                response_deserializer=lambda b: b)
            code, details, _ = rpc_code(fn, payload, timeout=20)
        else:
            name = method.rsplit("/", 1)[1]
            req_cls = getattr(csi, name + "Request")
            resp_cls = getattr(csi, name + "Response")
            req = json_format.ParseDict(_subst(case["request"], prefix, volume), req_cls())
            fn = ch.unary_unary(method, request_serializer=lambda m: m.SerializeToString(),
                                response_deserializer=resp_cls.FromString)
            code, details, _ = rpc_code(fn, req, timeout=20)
        assert code.name in case["expect"], (case["about"], code, details)
        if "max_message" in case:
            assert len(details) <= case["max_message"], (len(details), details[:200])
        for p in case.get("must_not_exist", []):
            assert not os.path.lexists(p), f"{p} was created ({case['about']})"
        secret = case.get("secret")
        if secret:
            drv.stop()
            assert secret not in details
            assert secret not in drv.stderr(), "secret in the driver's log"
            for root, _, files in os.walk(drv.state_dir):
                for fn_ in files:
                    with open(os.path.join(root, fn_), "rb") as f:
                        assert secret.encode() not in f.read(), f"secret stored in {fn_}"
    finally:
        for p in created:
            if os.path.islink(p):
                os.unlink(p)
        for p in case.get("must_not_exist", []):
            if os.path.lexists(p) and not os.path.ismount(p):
                if os.path.isdir(p) and not os.path.islink(p):
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    os.unlink(p)

#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets (committed; re-run when the
protocol surface changes). fuzz_http2 seeds are whole client byte streams
(after the preface, which the target sends itself); fuzz_csi seeds are a
method byte followed by a serialized request."""
import os
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import h2raw  # noqa: E402


def frame(ftype, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream) + payload


def request(stream, path, msg, extra=()):
    hdrs = [(":method", "POST"), (":scheme", "http"), (":path", path),
            (":authority", "localhost"), ("content-type", "application/grpc"),
            ("te", "trailers"), *extra]
    return frame(h2raw.HEADERS, h2raw.FLAG_END_HEADERS, stream, h2raw.hpack_encode(hdrs)) + \
        frame(h2raw.DATA, h2raw.FLAG_END_STREAM, stream, h2raw.grpc_frame(msg))


# fuzz_csi's method table, in its order (the first input byte picks one)
CSI_METHODS = [
    "CreateVolume", "DeleteVolume", "ListVolumes", "GetCapacity", "CreateSnapshot",
    "ControllerExpandVolume", "ValidateVolumeCapabilities", "ControllerPublishVolume",
    "ListSnapshots", "ControllerGetVolume", "ControllerModifyVolume", "DeleteSnapshot",
    "ControllerUnpublishVolume", "Probe",
    "NodeStageVolume", "NodeUnstageVolume", "NodePublishVolume", "NodeUnpublishVolume",
    "NodeGetVolumeStats", "NodeExpandVolume", "NodeGetInfo",
]


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    tmp = tempfile.mkdtemp()
    subprocess.run(["protoc", f"--python_out={tmp}", f"-I{HERE}/../../proto", "-I/usr/include",
                    "csi.proto"], check=True)
    sys.path.insert(0, tmp)
    import csi_pb2 as pb
    settings = frame(h2raw.SETTINGS, 0, 0, b"")
    write("fuzz_http2", "probe", settings + request(1, "/csi.v1.Identity/Probe", b""))
    write("fuzz_http2", "info_timeout", settings + request(
        1, "/csi.v1.Identity/GetPluginInfo", b"", [("grpc-timeout", "100m")]))
    write("fuzz_http2", "two_streams", settings + request(1, "/csi.v1.Identity/Probe", b"") +
          request(3, "/csi.v1.Identity/GetPluginCapabilities", b""))
    write("fuzz_http2", "unknown", settings + request(1, "/x.Y/Z", b"abc"))
    write("fuzz_http2", "rst", settings + request(1, "/csi.v1.Identity/Probe", b"") +
          frame(h2raw.RST_STREAM, 0, 1, struct.pack(">I", 8)))
    write("fuzz_http2", "ping_goaway", settings + frame(h2raw.PING, 0, 0, b"12345678") +
          frame(h2raw.GOAWAY, 0, 0, struct.pack(">II", 0, 0)))
    cap = pb.VolumeCapability(mount=pb.VolumeCapability.MountVolume(fs_type=""),
                              access_mode=pb.VolumeCapability.AccessMode(mode=1))
    create = pb.CreateVolumeRequest(name="pvc-1", capacity_range=pb.CapacityRange(required_bytes=1 << 20),
                                    volume_capabilities=[cap], parameters={"pool": "default"},
                                    secrets={"k": "v"})
    write("fuzz_http2", "create", settings + request(1, "/csi.v1.Controller/CreateVolume",
                                                      create.SerializeToString()))
    vol0 = "vol-00000000000000000000000000000000"
    kubelet = "/tmp/dvfuzz-kubelet"  # HARNESS_KUBELET in harness.h
    ephemeral = {"csi.storage.k8s.io/ephemeral": "true", "size": "1Mi"}
    seeds = {
        "CreateVolume": create,
        "DeleteVolume": pb.DeleteVolumeRequest(volume_id=vol0),
        "ListVolumes": pb.ListVolumesRequest(max_entries=2, starting_token="1"),
        "GetCapacity": pb.GetCapacityRequest(parameters={"pool": "default"},
                                             volume_capabilities=[cap]),
        "CreateSnapshot": pb.CreateSnapshotRequest(name="s", source_volume_id=vol0),
        "ControllerExpandVolume": pb.ControllerExpandVolumeRequest(
            volume_id=vol0, capacity_range=pb.CapacityRange(required_bytes=2 << 20)),
        "ValidateVolumeCapabilities": pb.ValidateVolumeCapabilitiesRequest(
            volume_id=vol0, volume_capabilities=[cap]),
        "NodeStageVolume": pb.NodeStageVolumeRequest(
            volume_id=vol0, staging_target_path=kubelet + "/staging/x", volume_capability=cap),
        "NodeUnstageVolume": pb.NodeUnstageVolumeRequest(
            volume_id=vol0, staging_target_path=kubelet + "/staging/x"),
        # ephemeral: creates, stages and publishes in one call, so the fuzzer
        # reaches the mount code without guessing a volume ID
        "NodePublishVolume": pb.NodePublishVolumeRequest(
            volume_id="csi-fuzz", target_path=kubelet + "/pod",
            volume_capability=cap, volume_context=ephemeral),
        "NodeUnpublishVolume": pb.NodeUnpublishVolumeRequest(
            volume_id="csi-fuzz", target_path=kubelet + "/pod"),
        "NodeGetVolumeStats": pb.NodeGetVolumeStatsRequest(volume_id="csi-fuzz",
                                                           volume_path=kubelet + "/pod"),
        "NodeExpandVolume": pb.NodeExpandVolumeRequest(
            volume_id=vol0, volume_path=kubelet + "/pod",
            capacity_range=pb.CapacityRange(required_bytes=2 << 20)),
    }
    for name, m in seeds.items():
        k = CSI_METHODS.index(name)
        write("fuzz_csi", f"m-{name}", bytes([k]) + m.SerializeToString())
    write("fuzz_config", "full", open(os.path.join(HERE, "..", "..", "docs", "config.md"), "rb").read().split(b"```yaml\n")[1].split(b"```")[0])
    for i, s in enumerate([b"250m", b"10Gi", b"caf%C3%A9 50%25", b"\x00\x00\x00\x00\x03abc"]):
        write("fuzz_parsers", f"s{i}", s)


if __name__ == "__main__":
    main()

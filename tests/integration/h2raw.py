"""A tiny raw HTTP/2 client for the few wire checks grpcio cannot make.

grpcio always enforces its own deadline and cancels the stream (RST_STREAM)
when it passes, so it cannot show that the *server* honours `grpc-timeout`
on its own; and it hides GOAWAY frames. This client sends a gRPC request with
hand-built HPACK (literal fields, no Huffman, no indexing) and records the
frames the server sends back. It never decodes the server's header blocks
(that would need HPACK's Huffman table); DATA frames are plain bytes.
"""

import socket
import struct
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, \
    WINDOW_UPDATE, CONTINUATION = range(10)
FLAG_END_STREAM = 0x1
FLAG_ACK = 0x1
FLAG_END_HEADERS = 0x4
FLAG_PADDED = 0x8


def _hpack_int(value, prefix_bits, first_byte_flags=0):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first_byte_flags | value])
    out = [first_byte_flags | limit]
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _hpack_str(s):
    b = s.encode("utf-8") if isinstance(s, str) else s
    return _hpack_int(len(b), 7) + b


def hpack_encode(headers):
    """Literal Header Field without Indexing, new name, no Huffman."""
    out = b""
    for name, value in headers:
        out += b"\x00" + _hpack_str(name) + _hpack_str(value)
    return out


def grpc_frame(message_bytes):
    return b"\x00" + struct.pack(">I", len(message_bytes)) + message_bytes


class Frame:
    def __init__(self, ftype, flags, stream, payload, at):
        self.type = ftype
        self.flags = flags
        self.stream = stream
        self.payload = payload
        self.at = at              # time.monotonic() when it was read

    @property
    def ends_stream(self):
        if self.type == RST_STREAM:
            return True
        return self.type in (DATA, HEADERS) and bool(self.flags & FLAG_END_STREAM)

    def data(self):
        """DATA payload without padding."""
        p = self.payload
        if self.flags & FLAG_PADDED:
            pad = p[0]
            p = p[1:len(p) - pad]
        return p

    def goaway_last_stream(self):
        return struct.unpack(">I", self.payload[:4])[0] & 0x7FFFFFFF

    def rst_error_code(self):
        return struct.unpack(">I", self.payload[:4])[0]

    def __repr__(self):
        return (f"Frame(type={self.type}, flags={self.flags:#x}, "
                f"stream={self.stream}, len={len(self.payload)})")


class RawH2Client:
    def __init__(self, sock_path=None, tcp_port=None, timeout=5.0):
        if sock_path is not None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(sock_path)
        else:
            self.sock = socket.create_connection(("127.0.0.1", tcp_port),
                                                 timeout=timeout)
        self.buf = b""
        self.frames = []
        self.closed = False
        self.sock.sendall(PREFACE)
        self.send_frame(SETTINGS, 0, 0, b"")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_frame(self, ftype, flags, stream, payload):
        header = struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
            struct.pack(">I", stream & 0x7FFFFFFF)
        self.sock.sendall(header + payload)

    def send_request(self, stream, path, message_bytes, grpc_timeout=None,
                     authority="localhost"):
        headers = [(":method", "POST"), (":scheme", "http"), (":path", path),
                   (":authority", authority),
                   ("content-type", "application/grpc"), ("te", "trailers")]
        if grpc_timeout is not None:
            headers.append(("grpc-timeout", grpc_timeout))
        self.send_frame(HEADERS, FLAG_END_HEADERS, stream, hpack_encode(headers))
        self.send_frame(DATA, FLAG_END_STREAM, stream, grpc_frame(message_bytes))

    def _recv_exact(self, n, deadline):
        while len(self.buf) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise TimeoutError
            except (ConnectionResetError, BrokenPipeError):
                chunk = b""
            if not chunk:
                self.closed = True
                raise EOFError
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_frame(self, timeout):
        """Next frame, or None on timeout or when the server closed."""
        deadline = time.monotonic() + timeout
        try:
            header = self._recv_exact(9, deadline)
            length = struct.unpack(">I", b"\x00" + header[:3])[0]
            payload = self._recv_exact(length, deadline)
        except (TimeoutError, EOFError):
            return None
        frame = Frame(header[3], header[4],
                      struct.unpack(">I", header[5:9])[0] & 0x7FFFFFFF,
                      payload, time.monotonic())
        self.frames.append(frame)
        if frame.type == SETTINGS and not frame.flags & FLAG_ACK:
            self.send_frame(SETTINGS, FLAG_ACK, 0, b"")
        elif frame.type == PING and not frame.flags & FLAG_ACK:
            self.send_frame(PING, FLAG_ACK, 0, frame.payload)
        return frame

    def wait_stream_end(self, stream, timeout):
        """Read until `stream` ends; return the ending Frame or None."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.closed:
                return None
            frame = self.read_frame(remaining)
            if frame is None:
                return None
            if frame.stream == stream and frame.ends_stream:
                return frame

    def stream_data(self, stream):
        return b"".join(f.data() for f in self.frames
                        if f.type == DATA and f.stream == stream)

    def goaways(self):
        return [f for f in self.frames if f.type == GOAWAY]


def grpc_messages(data):
    """Split a gRPC response body into its messages."""
    out = []
    while data:
        assert len(data) >= 5, f"truncated gRPC frame: {data!r}"
        compressed = data[0]
        n = struct.unpack(">I", data[1:5])[0]
        assert not compressed, "unexpected compressed message"
        out.append(data[5:5 + n])
        data = data[5 + n:]
    return out

# Test harness: the worker's side of the master<->worker framing
# (src/common/ipc.h, proto.h) for the test workers fake-worker and
# workerfuzz: message types, a tiny msgpack encoder, frames; stdlib only.
import os
import struct

HELLO, JOB_HASH, JOB_COPY, PROGRESS, RESULT, SHUTDOWN = 1, 2, 3, 4, 5, 6
# u16 version, u16 type, u32 body length, u64 job id; host byte order
HDR = struct.Struct("=HHIQ")
MAX_FRAME = 65536


def mp(obj):
    """Minimal msgpack encoder: dict, str, bytes, bool, non-negative int."""
    if isinstance(obj, bool):
        return b"\xc3" if obj else b"\xc2"
    if isinstance(obj, int):
        return b"\xcf" + struct.pack(">Q", obj)
    if isinstance(obj, str):
        b = obj.encode()
        return bytes([0xa0 | len(b)]) + b if len(b) < 32 else b"\xd9" + bytes([len(b)]) + b
    if isinstance(obj, bytes):
        return b"\xc4" + bytes([len(obj)]) + obj
    if isinstance(obj, dict):
        out = bytes([0x80 | len(obj)])
        for k, v in obj.items():
            out += mp(k) + mp(v)
        return out
    raise TypeError(obj)


def frame(mtype, body, job=0, version=1, length=None):
    """A frame; length overrides the header's body length (a lie)."""
    return HDR.pack(version, mtype, len(body) if length is None else length,
                    job) + body


def hello_body():
    return mp({"pid": os.getpid(), "level": "none", "steps": "",
               "skipped": "all"})

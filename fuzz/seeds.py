#!/usr/bin/env python3
"""Writes the seed inputs in fuzz/corpus/<target>/seed-* (small valid inputs, by the formats'
specs: vigil-wire's codec and recording format, MS-RDPBCGR fast-path output). Re-run it after
a format change; libFuzzer finds the rest."""
import json
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def j(v):
    return json.dumps(v, separators=(",", ":"))


# --- wire_codec: text frames are JSON, binary frames [tag][payload]. --------------------------
session = {
    "id": "s1", "user": "bob", "asset_id": 3, "asset_name": "web-1", "protocol": "ssh",
    "kind": "request", "request_id": 9, "started_at": 1700000000000, "ended_at": None,
    "locked": False, "end_reason": None,
    "controls": {"watch": True, "lock": True, "terminate": True, "terminate_and_cancel": True},
}
for name, v in {
    "hello": {"type": "hello", "version": 1},
    "resize": {"type": "resize", "cols": 120, "rows": 40},
    "frame-decoded": {"type": "frame_decoded", "frame_id": 7},
    "input": {"type": "input", "events": [{"type": "key", "scancode": 30, "extended": False, "down": True, "key_text": "a"}, {"type": "mouse_move", "x": 5, "y": 6}]},
    "welcome": {"type": "welcome", "version": 1, "participant": "observer", "session": session, "cols": 80, "rows": 24},
    "activated": {"type": "desktop_activated", "params": {"io_channel_id": 1003, "user_channel_id": 1002, "share_id": 66538, "width": 1024, "height": 768}},
    "locked": {"type": "locked", "message": "locked"},
    "error": {"type": "error", "code": "target_unreachable", "message": "x"},
    "feed-sessions": {"type": "sessions", "sessions": [session]},
    "feed-thumb": {"type": "thumbnail", "id": "s1", "thumbnail": {"kind": "text", "rows": ["$ ls"]}},
}.items():
    write("wire_codec", name, j(v))
for name, data in {
    "output": b"\x01\x1b[Hhello",
    "input": b"\x02ls -l\r",
    "snapshot": b"\x03screen",
    "graphics": b"\x04\x00\x05\xff",
    "frame-end": b"\x05\xde\xad\xbe\xef\x00\x01",
    "desktop-snapshot": b"\x06\x78\x9c",
}.items():
    write("wire_codec", "bin-" + name, data)

# --- recording: [index text]VGDESK01 then [kind u8][t_ms u32 BE][len u32 BE][payload]. --------
def record(kind, t, payload):
    return struct.pack(">BII", kind, t, len(payload)) + payload


params = j({"io_channel_id": 1003, "user_channel_id": 1002, "share_id": 66538, "width": 64, "height": 48}).encode()
recs = [(1, 0, params), (3, 0, b"\x78\x9c\x03\x00\x00\x00\x00\x01"), (2, 40, b"\x00\x05\x85\x00\x00"),
        (4, 700, b"lock"), (1, 10000, params), (3, 10000, b"kf"), (2, 12000, b"\x00\x03\x01")]
body = b"VGDESK01"
offsets = []
for kind, t, p in recs:
    if kind == 1:
        offsets.append((t, len(body)))
    body += record(kind, t, p)
write("recording", "file", body)
sidecar = "".join(j({"t_ms": t, "offset": o}) + "\n" for t, o in offsets)
write("recording", "file-with-sidecar", sidecar.encode() + body)
write("recording", "torn-tail", body + record(2, 13000, b"torn")[:6])
write("recording", "index-json", j({"duration_ms": 30000, "size": 9000, "keyframes": [
    {"t_ms": 0, "offset": 8}, {"t_ms": 10000, "offset": 3000}, {"t_ms": 20000, "offset": 6000}]}))

# --- rdp_fastpath / pointer: MS-RDPBCGR fast-path output. --------------------------------------
def per_len(n):
    return bytes([n]) if n < 0x80 else struct.pack(">H", n | 0x8000)


def fp_pdu(updates):
    body = b"".join(updates)
    n = len(body) + 2
    if n >= 0x80:
        n += 1
    return b"\x00" + per_len(n) + body


def fp_update(code, data, frag=0):
    return bytes([code | (frag << 4)]) + struct.pack("<H", len(data)) + data


def frame_marker(action, frame_id):
    return struct.pack("<HHI", 0x0004, action, frame_id)


def surface_bits(codec_id, data, w=4, h=4):
    # cmdType SetSurfaceBits, destRect, TS_BITMAP_DATA_EX (bpp, flags, reserved, codecID, w, h, len).
    return struct.pack("<HHHHH", 0x0001, 0, 0, w, h) + struct.pack("<BBBBHHI", 32, 0, 0, codec_id, w, h, len(data)) + data


SURFACE, POSITION, COLOR, CACHED, NEW, LARGE, HIDDEN, DEFAULT = 4, 8, 9, 10, 11, 12, 5, 6


def color_pointer(index, w=2, h=2):
    xor = bytes(w * 3 * h + (w * 3 % 2) * h)
    and_ = bytes(((w + 15) // 16 * 2) * h)
    return struct.pack("<HHHHHHH", index, 0, 0, w, h, len(and_), len(xor)) + xor + and_ + b"\x00"


def new_pointer(index, w=2, h=2):
    xor = bytes(w * 4 * h)
    and_ = bytes(((w + 15) // 16 * 2) * h)
    return struct.pack("<HHHHHHHH", 32, index, 0, 0, w, h, len(and_), len(xor)) + xor + and_ + b"\x00"


frames = fp_pdu([fp_update(SURFACE, frame_marker(0, 1))]) + fp_pdu([fp_update(SURFACE, surface_bits(0, bytes(64)))]) \
    + fp_pdu([fp_update(SURFACE, frame_marker(1, 1))])
write("rdp_fastpath", "frame", frames)
big = bytes(range(256)) * 2
write("rdp_fastpath", "fragments", fp_pdu([fp_update(1, big[:200], 2)]) + fp_pdu([fp_update(1, big[200:400], 3)])
      + fp_pdu([fp_update(1, big[400:], 1)]))
# RFX: TS_RFX_SYNC, CODEC_VERSIONS, CHANNELS, then a CONTEXT (blockType, blockLen, ...).
rfx = struct.pack("<HIIH", 0xCCC0, 12, 0xCACCACCA, 0x0100) + struct.pack("<HIBBH", 0xCCC1, 10, 1, 1, 0x0100) \
    + struct.pack("<HIBBHH", 0xCCC2, 13, 1, 0, 64, 48) + struct.pack("<HIBBBHH", 0xCCC3, 13, 1, 0xFF, 0, 64, 0x28A9)
write("rdp_fastpath", "rfx-headers", fp_pdu([fp_update(SURFACE, surface_bits(3, rfx))]))
write("rdp_fastpath", "pointers", fp_pdu([fp_update(COLOR, color_pointer(0))]) + fp_pdu([fp_update(NEW, new_pointer(1))])
      + fp_pdu([fp_update(CACHED, struct.pack("<H", 0))]) + fp_pdu([fp_update(POSITION, struct.pack("<HH", 10, 20))])
      + fp_pdu([fp_update(HIDDEN, b"")]))
write("rdp_fastpath", "x224-then-fastpath", b"\x03\x00\x00\x07\x02\xf0\x80" + fp_pdu([fp_update(DEFAULT, b"")]))

# pointer: [selector][payload], selector indexes [Orders, Bitmap, Palette, Synchronize,
# SurfaceCommands, Hidden, Default, Position, Color, Cached, New, Large]; the same bytes are
# also read as a slow-path TS_POINTER_PDU.
write("pointer", "position", b"\x07" + struct.pack("<HH", 100, 200))
write("pointer", "color", b"\x08" + color_pointer(2))
write("pointer", "new", b"\x0a" + new_pointer(31))
write("pointer", "new-unslotted", b"\x0a" + new_pointer(40))
write("pointer", "large", b"\x0b" + struct.pack("<HHHHHII", 32, 3, 0, 0, 2, 8, 16) + bytes(16) + bytes(8))
write("pointer", "hidden", b"\x05")
write("pointer", "slow-system-default", struct.pack("<HHI", 1, 0, 0x7F00))
write("pointer", "slow-color", struct.pack("<HH", 6, 0) + color_pointer(4))

# keys: terminal input.
for name, data in {
    "typing": b"ls -l\r",
    "controls": b"\x03\x7f\t\x1b",
    "escapes": b"\x1b[A\x1b[D\x1bOP\x1b[15~\x1b[1;5C",
    "alt-utf8": "\x1bb a é€\x1b€".encode(),
    "torn": b"x\x1b[\xff\xfe",
}.items():
    write("keys", name, data)

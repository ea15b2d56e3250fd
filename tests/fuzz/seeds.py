#!/usr/bin/env python3
"""Writes the committed seed inputs (corpus/<target>/seed-*) of the fuzz targets: the cases
issue 17 names (chunk size 0 and >= 2^31, extended timestamps, csid 65599, a 16 MiB message,
deep AMF nesting, a strict-array count of 2^32, a truncated AVC sequence header, stream names
over 256 bytes or with `..`, `%2e%2e`, NUL) and a normal publish. Run it after changing it:
/usr/bin/python3 tests/fuzz/seeds.py"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


# AMF0
def s(v):
    b = v.encode()
    return b"\x02" + struct.pack(">H", len(b)) + b


def n(v):
    return b"\x00" + struct.pack(">d", v)


NULL = b"\x05"


def obj(props):
    out = b"\x03"
    for k, v in props:
        out += struct.pack(">H", len(k)) + k.encode() + v
    return out + b"\x00\x00\x09"


def ecma(props):
    return b"\x08" + struct.pack(">I", len(props)) + obj(props)[1:]


# Chunks: fmt 0 header, then fmt 3 continuations.
def basic(fmt, csid):
    if csid < 64:
        return bytes([fmt << 6 | csid])
    if csid < 320:
        return bytes([fmt << 6, csid - 64])
    v = csid - 64
    return bytes([fmt << 6 | 1, v & 0xFF, v >> 8])


def message(csid, mtype, stream, payload, ts=0, chunk=128, length=None):
    length = len(payload) if length is None else length
    ext = ts >= 0xFFFFFF
    out = basic(0, csid) + (b"\xff\xff\xff" if ext else ts.to_bytes(3, "big"))
    out += length.to_bytes(3, "big") + bytes([mtype]) + struct.pack("<I", stream)
    if ext:
        out += struct.pack(">I", ts)
    first = True
    while first or payload:
        if not first:
            out += basic(3, csid) + (struct.pack(">I", ts) if ext else b"")
        out += payload[:chunk]
        payload = payload[chunk:]
        first = False
    return out


def set_chunk_size(size):
    return message(2, 1, 0, struct.pack(">I", size))


def command(stream, *values):
    return message(3 if stream == 0 else 5, 20, stream, b"".join(values), chunk=4096)


AVC_HEADER = bytes.fromhex("1700000000014d401fffe1001967" "4d401fe8802802dd80b501010140000003004000000c83c60c448001000468ebec88")
AAC_HEADER = bytes.fromhex("af001210")


def publish(key, chunk=4096):
    return (
        set_chunk_size(chunk)
        + command(0, s("connect"), n(1), obj([("app", s("live")), ("flashVer", s("FMLE/3.0"))]))
        + command(0, s("createStream"), n(2), NULL)
        + command(1, s("publish"), n(3), NULL, s(key), s("live"))
    )


normal = (
    publish("sk_live_key")
    + message(4, 18, 1, s("@setDataFrame") + s("onMetaData") + ecma([("width", n(1280)), ("encoder", s("obs"))]), chunk=4096)
    + message(6, 9, 1, AVC_HEADER, chunk=4096)
    + message(4, 8, 1, AAC_HEADER, chunk=4096)
    + message(6, 9, 1, b"\x17\x01\x00\x00\x00" + b"\x00\x00\x00\x05\x65\x88\x84\x00\x10", ts=40, chunk=4096)
    + message(6, 9, 1, b"\x27\x01\x00\x00\x00" + b"\x00" * 30, ts=0x01000000, chunk=4096)
)
write("rtmp_session", "publish", normal)
write("rtmp_session", "chunk-size-0", publish("k") + set_chunk_size(0))
write("rtmp_session", "chunk-size-2pow31", publish("k") + set_chunk_size(1 << 31))
write("rtmp_session", "extended-timestamp", publish("k") + message(6, 9, 1, b"\x17\x01" + b"\x00" * 300, ts=0xFFFFFF0, chunk=4096))
write("rtmp_session", "csid-65599", publish("k") + message(65599, 8, 1, b"\xaf\x01abc"))
write("rtmp_session", "length-16mib", publish("k") + message(6, 9, 1, b"\x17\x01" * 64, length=0xFFFFFF, chunk=4096))
write("rtmp_session", "bad-key", publish("bad"))
for name, key in [("name-long", "k" * 300), ("name-dotdot", "../../etc/passwd"), ("name-pct", "%2e%2e/%2e%2e"), ("name-nul", "key\0x")]:
    write("rtmp_session", name, publish(key))
write("rtmp_session", "aggregate", publish("k") + message(6, 22, 1, b"\x09\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00" + b"\x17\x01\x00\x00\x00" + b"\x00\x00\x00\x10"))

# Chunk stream target: 3 config bytes (chunk size - 1 as u16, then read step << 4 | log2 max len).
for name, wire in [
    ("publish", normal),
    ("extended-timestamp", message(4, 8, 1, b"a" * 300, ts=0x12345678)),
    ("csid-65599", message(65599, 8, 1, b"abc" * 100)),
    ("length-16mib", message(6, 9, 1, b"x" * 200, length=0xFFFFFF)),
]:
    write("rtmp_chunk", name, bytes([0, 127, 0x3C]) + wire)
    write("rtmp_chunk", name + "-bytewise", bytes([0xFF, 0xFF, 0x0F]) + wire)

write("rtmp_handshake", "plain", b"\x03" + bytes(1536) + bytes(1536))
write("rtmp_handshake", "version-6", b"\x06" + bytes(1536))
write("rtmp_handshake", "short", b"\x03" + bytes(100))

write("amf0", "connect", s("connect") + n(1) + obj([("app", s("live")), ("tcUrl", s("rtmp://h/live"))]))
write("amf0", "metadata", s("onMetaData") + ecma([("width", n(1920)), ("stereo", b"\x01\x01"), ("d", b"\x0b" + bytes(10))]))
write("amf0", "deep-nesting", b"\x03\x00\x01k" * 40 + NULL)
write("amf0", "deep-strict-arrays", b"\x0a\x00\x00\x00\x01" * 40 + NULL)
write("amf0", "strict-array-2pow32", b"\x0a\xff\xff\xff\xff" + NULL * 16)
write("amf0", "long-string", b"\x0c\x00\x01\x00\x00" + b"a" * 65536)

write("flv", "avc-sequence-header", b"\x01" + AVC_HEADER)
write("flv", "avc-truncated", b"\x01" + AVC_HEADER[:20])
write("flv", "aac-sequence-header", b"\x00" + AAC_HEADER)
write("flv", "annexb", b"\x01\x00\x00\x00\x01\x09\xf0\x00\x00\x01" + AVC_HEADER[13:38] + b"\x00\x00\x01\x68\xeb\xec\x88\x00\x00\x01\x65\x88\x84")

write("m3u8", "ffmpeg", b"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:7\n#EXTINF:2.000000,\nseg-7.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:1.5,\nseg-8.ts\n#EXT-X-ENDLIST\n")
write("m3u8", "bom-crlf", "\ufeff#EXTM3U\r\n#EXTINF:NaN,\r\nx.ts\r\n".encode())

for name, value in [
    ("live", "seg-42.ts"), ("vod", "0000000000000042_2000.ts"), ("vod-disc", "0000000000000042_2000_d.ts"),
    ("dotdot", "../seg-1.ts"), ("pct", "%2e%2e%2fseg-1.ts"), ("nul", "seg-1.ts\0"), ("long", "seg-" + "9" * 300 + ".ts"),
]:
    write("hls_names", name, value.encode())


def box(kind, body):
    return struct.pack(">I", 8 + len(body)) + kind + body


def full(kind, version, body):
    return box(kind, bytes([version, 0, 0, 0]) + body)


moov = box(b"moov", box(b"trak", full(b"tkhd", 0, bytes(8) + struct.pack(">I", 1) + bytes(72))
                     + box(b"mdia", full(b"mdhd", 0, bytes(8) + struct.pack(">I", 90000) + bytes(8))
                           + full(b"hdlr", 0, bytes(4) + b"vide" + bytes(13))))
           + box(b"mvex", full(b"trex", 0, struct.pack(">IIIII", 1, 1, 3000, 0, 0x10000))))
moof = box(b"moof", box(b"traf", full(b"tfhd", 0, struct.pack(">I", 1)) + full(b"tfdt", 1, struct.pack(">Q", 9000))
                     + full(b"trun", 0, struct.pack(">II", 1, 3000))))
write("fmp4", "init-fragment", b"\xff" + box(b"ftyp", b"isom" + bytes(4)) + moov + moof + box(b"mdat", b"x" * 16))
write("fmp4", "largesize", b"\x00" + struct.pack(">I", 1) + b"mdat" + struct.pack(">Q", 1 << 40))


def ts_packet(pid, payload, start=True, cc=0):
    head = bytes([0x47, (0x40 if start else 0) | pid >> 8, pid & 0xFF, 0x10 | cc])
    return head + payload + b"\xff" * (184 - len(payload))


pat = b"\x00" + bytes.fromhex("00b00d0001c100000001f0002ab104b2")
pmt = b"\x00" + bytes.fromhex("02b0170001c10000e100f0001be100f0000fe101f0002f44b99b")
pes = bytes.fromhex("000001e0000080800521000100018000000001") + b"\x09\xf0\x00\x00\x00\x01\x65\x88"
write("ts_demux", "pat-pmt-pes", b"\x03" + ts_packet(0, pat) + ts_packet(0x1000, pmt) + ts_packet(0x100, pes) + ts_packet(0x100, pes, cc=1))

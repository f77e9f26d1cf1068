#!/usr/bin/python3
"""Seed corpora for the fuzz targets, made from what the tests already use:
frames and protocol payloads from the committed captures, the configs, a
few control requests, and the EVE lines `harrier read` writes for the
sample capture.

    make_seeds.py OUT_DIR HARRIER
"""
import glob
import os
import struct
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def frames(path):
    data = open(path, "rb").read()
    if len(data) < 24:
        return
    magic = struct.unpack("<I", data[:4])[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        e = "<"
    elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
        e = ">"
    else:
        return
    off = 24
    while off + 16 <= len(data):
        _, _, caplen, _ = struct.unpack(e + "IIII", data[off:off + 16])
        off += 16
        if caplen > 262144 or off + caplen > len(data):
            return
        yield data[off:off + caplen]
        off += caplen


def l4(frame):
    """(proto, sport, dport, payload) of an untagged IPv4 frame, or None."""
    if len(frame) < 34 or frame[12:14] != b"\x08\x00":
        return None
    ihl = (frame[14] & 15) * 4
    proto = frame[23]
    p = 14 + ihl
    if proto == 17 and len(frame) >= p + 8:
        sp, dp = struct.unpack("!HH", frame[p:p + 4])
        return proto, sp, dp, frame[p + 8:]
    if proto == 6 and len(frame) >= p + 20:
        sp, dp = struct.unpack("!HH", frame[p:p + 4])
        return proto, sp, dp, frame[p + (frame[p + 12] >> 4) * 4:]
    return None


def main():
    out, harrier = sys.argv[1], sys.argv[2]
    counts = {}

    def put(target, data):
        d = os.path.join(out, target)
        os.makedirs(d, exist_ok=True)
        n = counts.get(target, 0)
        if n >= 400:
            return
        counts[target] = n + 1
        with open(os.path.join(d, f"seed{n:04d}"), "wb") as f:
            f.write(data)

    caps = [os.path.join(ROOT, "tests", "pcaps", "sample.pcap")] + sorted(
        glob.glob(os.path.join(ROOT, "tests", "pcaps", "tools", "*.pcap")))
    for cap in caps:
        burst = b""
        for i, fr in enumerate(frames(cap)):
            if i % 7 == 0:
                put("fuzz_decode", fr)
            # fuzz_pipeline: bursts of 32 frames, each as u16 length, u16 us gap, frame.
            burst += struct.pack("!HH", len(fr) & 0xFFFF, 100) + fr
            if i % 32 == 31:
                put("fuzz_pipeline", burst)
                burst = b""
            x = l4(fr)
            if not x or not x[3]:
                continue
            proto, sp, dp, payload = x
            if proto == 17 and 137 in (sp, dp):
                put("fuzz_nbns", payload)
            if proto == 17 and 161 in (sp, dp):
                put("fuzz_snmp", payload)
            if proto == 6 and 25 in (sp, dp):
                put("fuzz_smtp", bytes([len(payload) & 0xFF]) + payload)
            if 111 in (sp, dp):
                put("fuzz_rpc", payload)
        if burst:
            put("fuzz_pipeline", burst)
        if os.path.getsize(cap) < 65536:
            put("fuzz_pcap", open(cap, "rb").read())
    put("fuzz_pcap", open(caps[0], "rb").read()[:4096])

    # Portmapper calls (RFC 1833): GETPORT and DUMP over UDP, a truncated one.
    for proc in (3, 4):
        call = struct.pack("!IIIIII", 0x1234, 0, 2, 100000, 2, proc) + bytes(16)
        put("fuzz_rpc", call)
        put("fuzz_rpc", struct.pack("!I", 0x80000000 | len(call)) + call)
    put("fuzz_rpc", struct.pack("!IIII", 1, 0, 2, 100000))

    configs = [os.path.join(ROOT, "deploy", "harrier.yaml")]
    for c in configs:
        put("fuzz_config", open(c, "rb").read())
    put("fuzz_config", b"dataplane:\n  workers: 2\ndetectors:\n  horizontal-scan: {fast_hosts: 5}\n"
        b"inventory:\n  hosts:\n    - {address: 10.0.0.1, services: [tcp/80, udp/53]}\n")
    put("fuzz_config", b"capture:\n  write: /tmp/x.pcapng\n  rotate: {size: 1G, seconds: 60}\n  keep: {files: 3}\n")

    for line in (b'{"command":"status"}', b'{"command":"detectors","action":"enable","id":"vertical-scan"}',
                 b'{"command":"status","n":1e999999}', b"\xff", b"[1,2]", b'{"command":5}'):
        put("fuzz_control", line)

    # Host event blobs (detectors/host_event_wire.h): a version byte, then
    # packed little-endian records. Detector 0 is in every build's registry.
    def event(src, dst, kind, detector=0, code=0, detail=b""):
        def addr(a):  # family (0 unset, 4, 6), then 0, 4 or 16 bytes
            return bytes([{0: 0, 4: 4, 16: 6}[len(a)]]) + a
        ts, order = 1700000000123456789, 77
        sport, dport, tcp_flags, ip_id, key_slot = 40000, 445, 0x02, 0x1234, 0xBEEF
        proto, flags, ttl = 6 if kind < 3 else 17, 0x01, 64
        return (struct.pack("<QQ", ts, order) + addr(src) + addr(dst)
                + struct.pack("<HHHHHH", sport, dport, tcp_flags, ip_id, detector, key_slot)
                + struct.pack("<BBBBB", proto, kind, flags, code, ttl)
                + bytes([len(detail)]) + detail)
    v6a = bytes.fromhex("20010db8000000000000000000000001")
    v6b = bytes.fromhex("fe800000000000000000000000000002")
    outcome = event(bytes([10, 0, 0, 1]), bytes([192, 168, 100, 1]), 0)  # kUnanswered
    detector = event(v6a, v6b, 3, detector=0, code=2, detail=bytes(range(1, 33)))  # kDetector
    refused = event(bytes([10, 0, 0, 2]), bytes([172, 16, 9, 9]), 1)  # kRefused
    for blob in (outcome, detector, outcome + detector, refused + detector + outcome):
        put("fuzz_event_wire", bytes([1]) + blob)  # format version 1
        put("fuzz_correlate", bytes([1]) + blob)
    # Every detector's own event, with a detail of each shape: a correlator
    # hands them to the detector named, which reads the detail as its own.
    for d in range(16):
        for detail in (bytes(32), bytes(range(32)), bytes([0xFF] * 32)):
            burst = b"".join(event(bytes([10, 0, 0, 3]), bytes([172, 16, 0, 1 + k]), 3, detector=d, code=k,
                                   detail=detail) for k in range(4))
            put("fuzz_correlate", bytes([1]) + burst + outcome * 3)

    eve = os.path.join(out, "sample.eve")
    subprocess.run([harrier, "read", caps[0], "--eve", eve, "--quiet"], check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if os.path.exists(eve):
        for line in open(eve, "rb"):
            put("fuzz_explain", line.strip())
        os.remove(eve)
    print(", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


if __name__ == "__main__":
    main()

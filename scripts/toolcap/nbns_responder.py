#!/usr/bin/python3
"""A small NetBIOS name server for scripts/make_tool_captures (RFC 1002).

Binds ADDR udp/137 and plays a Windows file server (HRFILE01) that is also
the home network's WINS server:
  * NODE STATUS request (type NBSTAT 0x21) for "*" or for one of its own
    names -> node status response with its name table and a MAC address.
  * NAME QUERY (type NB 0x20) for a name it knows (its own, or one of the
    other home hosts registered with it) -> positive response with the IP.
  * NAME QUERY for an unknown name with the recursion-desired bit set (a
    WINS query) -> negative response, RCODE 3 (NAM_ERR), as a WINS server
    answers; without RD (a broadcast-style query) -> no answer.
Anything else is ignored. Runs until SIGTERM/SIGINT.

usage: nbns_responder.py ADDR
"""
import signal
import socket
import struct
import sys

WORKGROUP = "HOME"
HOST = "HRFILE01"
MAC = bytes.fromhex("020000c61304")
# (name, suffix, group?) as a Windows server registers them
NAME_TABLE = [
    (HOST, 0x00, False),
    (HOST, 0x20, False),
    (WORKGROUP, 0x00, True),
    (WORKGROUP, 0x1E, True),
    (WORKGROUP, 0x1D, False),
    (HOST, 0x03, False),
]
# names the WINS server answers for: (name, suffix) -> address
WINS = {
    (HOST, 0x00): None,  # None = this responder's own address
    (HOST, 0x20): None,
    ("HRWEB01", 0x00): "198.19.0.1",
    ("HRWEB01", 0x20): "198.19.0.1",
    ("HRMAIL01", 0x00): "198.19.0.2",
    ("HRMON01", 0x00): "198.19.0.3",
}
TYPE_NB, TYPE_NBSTAT, TYPE_NULL, CLASS_IN = 0x20, 0x21, 0x0A, 0x01


def decode_name(pkt, off):
    """First-level-decodes the question name at off; returns (name, suffix, end)."""
    ln = pkt[off]
    if ln != 32:
        raise ValueError("not a 32-byte NetBIOS name")
    enc = pkt[off + 1:off + 33]
    raw = bytes(((enc[i] - 0x41) << 4) | (enc[i + 1] - 0x41) for i in range(0, 32, 2))
    # skip scope labels
    end = off + 33
    while pkt[end] != 0:
        end += 1 + pkt[end]
    end += 1
    if raw[0] == 0x2A and raw[1:] == b"\0" * 15:
        return "*", 0x00, end
    return raw[:15].decode("ascii", "replace").rstrip(" "), raw[15], end


def nb_flags(group):
    return 0x8000 if group else 0x0000  # B-node, group bit


def handle(pkt, my_ip):
    if len(pkt) < 12 + 34 + 4:
        return None
    tid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", pkt[:12])
    if flags & 0x8000 or (flags >> 11) & 0xF != 0 or qd != 1:
        return None  # a response, or not a query
    rd = flags & 0x0100
    try:
        name, suffix, end = decode_name(pkt, 12)
    except (ValueError, IndexError):
        return None
    qtype, qclass = struct.unpack("!HH", pkt[end:end + 4])
    qname = pkt[12:end]  # echoed back in the answer record
    if qtype == TYPE_NBSTAT:
        if name != "*" and name.upper() != HOST:
            return None
        names = b""
        for n, sfx, grp in NAME_TABLE:
            names += n.ljust(15).encode() + bytes([sfx])
            names += struct.pack("!H", nb_flags(grp) | 0x0400)  # ACT (active)
        stats = MAC + b"\0" * 40
        rdata = bytes([len(NAME_TABLE)]) + names + stats
        hdr = struct.pack("!HHHHHH", tid, 0x8400, 0, 1, 0, 0)
        return hdr + qname + struct.pack("!HHIH", TYPE_NBSTAT, CLASS_IN, 0, len(rdata)) + rdata
    if qtype == TYPE_NB:
        key = (name.upper(), suffix)
        if key in WINS:
            ip = WINS[key] or my_ip
            group = False
            rdata = struct.pack("!H", nb_flags(group)) + socket.inet_aton(ip)
            hdr = struct.pack("!HHHHHH", tid, 0x8580 if rd else 0x8400, 0, 1, 0, 0)
            return hdr + qname + struct.pack("!HHIH", TYPE_NB, CLASS_IN, 300000, len(rdata)) + rdata
        if (name.upper(), suffix) in {(WORKGROUP, s) for _, s, g in NAME_TABLE if g}:
            rdata = struct.pack("!H", nb_flags(True)) + socket.inet_aton(my_ip)
            hdr = struct.pack("!HHHHHH", tid, 0x8580 if rd else 0x8400, 0, 1, 0, 0)
            return hdr + qname + struct.pack("!HHIH", TYPE_NB, CLASS_IN, 300000, len(rdata)) + rdata
        if rd:
            hdr = struct.pack("!HHHHHH", tid, 0x8583, 0, 1, 0, 0)  # RCODE 3 NAM_ERR
            return hdr + qname + struct.pack("!HHIH", TYPE_NULL, CLASS_IN, 0, 0)
    return None


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    my_ip = sys.argv[1]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((my_ip, 137))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"nbns_responder: {HOST} on {my_ip}:137", flush=True)
    try:
        while True:
            pkt, peer = sock.recvfrom(2048)
            reply = handle(pkt, my_ip)
            if reply:
                sock.sendto(reply, peer)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

"""Catalog scenario builders: each behaviour of harrier's detector catalog, and
the ordinary traffic each detector must stay quiet on.

Same conventions as scenarios.py: every function returns a list of scapy
packets with .time set (float seconds of packet time), in time order. Every
address, port and timing is a parameter: the seed's values (the GCIA
practical's traces) are one setting of them. Deterministic: randomness only
through random.Random(seed). `inbound` says a packet travels toward the home
network, which picks its Ethernet addresses (_eth); harrier itself classifies
home addresses by IP prefix.
"""
import ipaddress
import random
import struct
import zlib

from scapy.layers.inet import IP, TCP, UDP, ICMP
from scapy.packet import Raw

from scenarios import _eth, _at, http_session, interleave, syn_probe

FIN, SYN, RST, ACK, ECE, CWR = 0x01, 0x02, 0x04, 0x10, 0x40, 0x80


def _isn(addr, port):
    """A fixed, random-looking initial sequence number for one endpoint."""
    return zlib.crc32(f"{addr}:{port}".encode())


def _port(p):
    """Keep a computed port number inside 1024..65535."""
    return 1024 + (p - 1024) % 64512


def _line(text):
    return (text + "\r\n").encode()


def _udp(src, dst, sport, dport, payload, t, inbound=True, **ip):
    return _at(_eth(inbound) / IP(src=src, dst=dst, **ip) / UDP(sport=sport, dport=dport) / Raw(payload), t)


def _echo(src, dst, t, ident, seq, payload=b"", inbound=True, reply=True, rtt=0.0005, code=0, **ip):
    """An ICMP echo request (IP fields in **ip) and, if `reply`, the echo reply
    the way Linux sends it: same code, id, sequence, data and TOS, no DF."""
    pkts = [_at(_eth(inbound) / IP(src=src, dst=dst, **ip) / ICMP(type=8, code=code, id=ident, seq=seq) / Raw(payload), t)]
    if reply:
        pkts.append(_at(_eth(not inbound) / IP(src=dst, dst=src, ttl=64, tos=ip.get("tos", 0)) /
                        ICMP(type=0, code=code, id=ident, seq=seq) / Raw(payload), t + rtt))
    return pkts


def _icmp_error(router, victim, t, type_, code, quote, ttl=250, ip_id=0, inbound=True):
    """An ICMP error (unreachable, time exceeded) carrying `quote`, the start of the offending datagram."""
    return _at(_eth(inbound) / IP(src=router, dst=victim, ttl=ttl, id=ip_id) / ICMP(type=type_, code=code) / Raw(quote), t)


def _as_received(pkt, hops):
    """The IP datagram of `pkt` as seen `hops` routers further on: TTL lower, header checksum redone."""
    ip = pkt[IP].copy()
    ip.ttl -= hops
    ip.chksum = None
    return bytes(ip)


def _port_unreachable(probe, t, inbound):
    """ICMP port unreachable from the probed host, quoting the whole probe
    (as Linux does, up to 576 bytes in all); `inbound` is the probe's direction."""
    ip = probe[IP]
    return _icmp_error(ip.dst, ip.src, t, 3, 3, bytes(ip)[:548], ttl=64, inbound=not inbound)


class _Tcp:
    """Both ends of one TCP connection. Sequence and acknowledgement numbers
    follow what has been sent, so a conversation is written step by step.
    Side "c" is the client, "s" the server; ACKs carry the peer's next seq."""

    def __init__(self, client, server, sport, dport, client_outside=True, isn_c=None, isn_s=None,
                 window=64240, ttl_c=64, ttl_s=64):
        self.end = {"c": (client, sport), "s": (server, dport)}
        self.inbound = {"c": client_outside, "s": not client_outside}
        self.nxt = {"c": _isn(client, sport) if isn_c is None else isn_c,
                    "s": _isn(server, dport) if isn_s is None else isn_s}
        self.ttl = {"c": ttl_c, "s": ttl_s}
        self.window = window
        self.pkts = []

    def send(self, side, t, flags, data=b"", tos=0, **tcp):
        other = "s" if side == "c" else "c"
        (src, sp), (dst, dp) = self.end[side], self.end[other]
        tcp.setdefault("window", self.window)
        ack = self.nxt[other] if "A" in flags else 0
        p = _eth(self.inbound[side]) / IP(src=src, dst=dst, ttl=self.ttl[side], tos=tos, flags="DF") / TCP(
            sport=sp, dport=dp, flags=flags, seq=self.nxt[side], ack=ack, **tcp)
        if data:
            p = p / Raw(data)
        self.nxt[side] = (self.nxt[side] + len(data) + ("S" in flags) + ("F" in flags)) % 2**32
        self.pkts.append(_at(p, t))
        return p

    def resend(self, pkt, t):
        """The same segment again: a retransmission."""
        self.pkts.append(_at(pkt.copy(), t))

    def open(self, t, rtt, syn_opts=(("MSS", 1460),)):
        self.send("c", t, "S", options=list(syn_opts))
        self.send("s", t + rtt / 2, "SA", options=list(syn_opts))
        self.send("c", t + rtt, "A")
        return t + rtt

    def exchange(self, t, request, reply, rtt, split_at=None):
        """Client sends `request` (in two segments cut at `split_at` if given),
        the server answers `reply`; returns the time of the next step."""
        if split_at:
            self.send("c", t, "PA", request[:split_at])
            request, t = request[split_at:], t + rtt / 10
        self.send("c", t, "PA", request)
        self.send("s", t + rtt / 2, "PA", reply)
        return t + rtt

    def push(self, side, t, data, rtt, mss=1448):
        """`data` in MSS-sized segments back to back, then the peer's ACK."""
        segs = [data[i:i + mss] for i in range(0, len(data), mss)]
        for k, seg in enumerate(segs):
            self.send(side, t + k * 0.0002, "PA" if k == len(segs) - 1 else "A", seg)
        self.send("s" if side == "c" else "c", t + rtt / 2, "A")
        return t + rtt

    def close(self, t, rtt, first="c"):
        other = "s" if first == "c" else "c"
        self.send(first, t, "FA")
        self.send(other, t + rtt / 4, "A")
        self.send(other, t + rtt / 2, "FA")
        self.send(first, t + rtt, "A")
        return t + rtt


# --- 1. NetBIOS name service (UDP 137, RFC 1001/1002) -----------------------

NB, NBSTAT = 0x0020, 0x0021


def nb_encode(name, suffix=0x00):
    """RFC 1001/1002 first-level encoding of a NetBIOS name: 15 characters
    (upper case, space padded; the wildcard '*' is NUL padded) and the suffix
    byte, each half-byte as a letter 'A'..'P'; length 32 in front, the empty
    root label (no scope) behind. '*' encodes as CKAAAA...A."""
    pad = b"\x00" if name == "*" else b" "
    raw = name.upper().encode("ascii")[:15].ljust(15, pad) + bytes([suffix])
    letters = "".join(chr(0x41 + (b >> 4)) + chr(0x41 + (b & 0x0F)) for b in raw)
    return b"\x20" + letters.encode("ascii") + b"\x00"


def _nbns_header(txid, flags, qd=0, an=0):
    return struct.pack("!HHHHHH", txid, flags, qd, an, 0, 0)


def nbns_name_query(src, dst, t, name="WORKGROUP", suffix=0x00, sport=137, txid=0x8001, broadcast=True,
                    ttl=112, ip_id=22685, inbound=True):
    """One NBNS name query (opcode QUERY, RD, B if `broadcast`; QTYPE NB,
    QCLASS IN), 50 bytes of NBNS as in seed detect 1 ('Len: 58' with UDP)."""
    payload = _nbns_header(txid, 0x0110 if broadcast else 0x0100, qd=1) + nb_encode(name, suffix) + struct.pack("!HH", NB, 1)
    return [_udp(src, dst, sport, 137, payload, t, inbound, ttl=ttl, id=ip_id)]


def nbns_sweep(src, targets, start, host_gap, retries=3, retry_gap=1.5, sport=137, name="WORKGROUP", suffix=0x00,
               txid=0x8001, ttl=112, ip_id=22685, inbound=True):
    """Seed detect 1: NBNS broadcast name queries to each target in the given
    order, `retries` identical queries `retry_gap` apart per host, the next host
    `host_gap` later (a number, or one gap per host). IP IDs step by 512 like
    the seed's Windows sender; each host gets the next transaction id."""
    gaps = list(host_gap) if isinstance(host_gap, (list, tuple)) else [host_gap] * len(targets)
    pkts, t, k = [], start, 0
    for i, dst in enumerate(targets):
        for r in range(retries):
            pkts += nbns_name_query(src, dst, t + r * retry_gap, name, suffix, sport, (txid + i) & 0xFFFF, True,
                                    ttl, (ip_id + 512 * k) & 0xFFFF, inbound)
            k += 1
        t += gaps[i]
    return interleave(pkts)


NODE_NAMES = (("FILESRV", 0x00, False), ("WORKGROUP", 0x00, True), ("FILESRV", 0x20, False))


def nbns_node_status(src, dst, t, sport=137, answer=True, txid=0x0001, names=NODE_NAMES,
                     mac="00:0c:29:3a:5b:7c", delay=0.001, inbound=True):
    """'Analyze This' SMB Name Wildcard: a node-status query for '*' (QTYPE
    NBSTAT) and, if `answer`, the target's reply `delay` later from port 137:
    response, AA, one NBSTAT answer with the names table ((name, suffix,
    group) each) and the 46-byte statistics starting with the MAC."""
    query = _nbns_header(txid, 0x0000, qd=1) + nb_encode("*") + struct.pack("!HH", NBSTAT, 1)
    pkts = [_udp(src, dst, sport, 137, query, t, inbound, ttl=128)]
    if answer:
        table = bytes([len(names)]) + b"".join(
            n.upper().encode("ascii")[:15].ljust(15) + bytes([sfx]) + struct.pack("!H", 0x8400 if group else 0x0400)
            for n, sfx, group in names)
        rdata = table + bytes.fromhex(mac.replace(":", "")) + bytes(40)
        resp = _nbns_header(txid, 0x8400, an=1) + nb_encode("*") + struct.pack("!HHIH", NBSTAT, 1, 0, len(rdata)) + rdata
        pkts.append(_udp(dst, src, 137, sport, resp, t + delay, not inbound, ttl=128))
    return pkts


def nbns_name_response(src, dst, t, name, addr, suffix=0x00, txid=0x8001, sport=137, dport=137, nb_flags=0x6000,
                       rr_ttl=300000, inbound=False):
    """A positive name query response from `src` (e.g. a WINS server) telling
    `dst` that `name` is at `addr` (response, AA, RD, RA; H-node unique), for
    the 'resolving against its own WINS server' negative case."""
    payload = (_nbns_header(txid, 0x8580, an=1) + nb_encode(name, suffix) + struct.pack("!HHIH", NB, 1, rr_ttl, 6)
               + struct.pack("!H", nb_flags) + ipaddress.IPv4Address(addr).packed)
    return [_udp(src, dst, sport, dport, payload, t, inbound, ttl=128)]


# --- 2. Trojan ports ---------------------------------------------------------

DETECT3_PAYLOAD = bytes.fromhex("ce63d1d216e713cf38a5a586b2754b99aa3258")  # the seed's 19 bytes to UDP 12345


def trojan_probe(src, dst, sport, dport, t, proto="udp", payload=b"", ttl=110, ip_id=0x10ed, seq=0x1c2f3a4b,
                 inbound=True):
    """One probe of a backdoor port. Seed detect 3 (the 'false Netbus') is
    UDP 3272 -> 12345 with DETECT3_PAYLOAD, TTL 110, IP ID 0x10ed, no DF.
    proto="tcp" sends the SYN a Netbus-style scanner would (Windows options)."""
    p = _eth(inbound) / IP(src=src, dst=dst, ttl=ttl, id=ip_id)
    if proto == "udp":
        p = p / UDP(sport=sport, dport=dport)
    else:
        p = p / TCP(sport=sport, dport=dport, flags="S", seq=seq, window=8192,
                    options=[("MSS", 1460), ("NOP", None), ("NOP", None), ("SAckOK", b"")])
    if payload:
        p = p / Raw(payload)
    return [_at(p, t)]


def home_client_on_port(client_home, server, sport, dport, t, rtt=0.02,
                        request=b"GET / HTTP/1.1\r\nHost: www.example\r\n\r\n",
                        response=b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"):
    """Negative for trojan-port-probe: a complete HTTP-like conversation in
    which the home client's ephemeral port is `sport` (e.g. 12345), so the
    server's packets arrive inbound at that home port."""
    c = _Tcp(client_home, server, sport, dport, client_outside=False)
    now = c.open(t, rtt)
    now = c.exchange(now, request, response, rtt)
    c.close(now, rtt)
    return c.pkts


# --- 3. SMTP -----------------------------------------------------------------

_SMTP_TEXT = {("MAIL", 250): "Sender ok", ("RCPT", 250): "Recipient ok", ("MAIL", 553): "Domain name required",
              ("RCPT", 553): "Invalid route address", 251: "User not local; will forward",
              450: "Mailbox unavailable", 501: "Syntax error in parameters", 503: "Need MAIL before RCPT",
              550: "Relaying denied"}


def _smtp_addr_reply(verb, code, addr):
    """A sendmail-style reply naming the address, e.g. '550 <x@y>... Relaying denied'."""
    return _line(f"{code} {addr}... {_SMTP_TEXT.get((verb, code)) or _SMTP_TEXT.get(code, 'Rejected')}")


def _split_point(line):
    """The middle of the <address> in a command line, else the middle of the line."""
    i, j = line.find(b"<"), line.find(b">")
    return (i + j + 1) // 2 if 0 <= i < j else len(line) // 2


def _message_bytes(data):
    """The DATA body: CRLF line ends, dot-stuffed, ending in CRLF."""
    text = data.decode() if isinstance(data, bytes) else data
    lines = text.replace("\r\n", "\n").rstrip("\n").split("\n")
    return "".join(("." + ln if ln.startswith(".") else ln) + "\r\n" for ln in lines).encode()


def smtp_session(client, server, sport, t, helo="relay.example", mail_from="<a@b.example>",
                 rcpts=(("<x@y.example>", 250),), mail_reply=250, data=None, rtt=0.002, split_cmds=False,
                 client_outside=True, server_name="mail.home.example", banner_delay=0.0, quit=True,
                 isn_c=None, isn_s=None):
    """A complete SMTP conversation on TCP 25 with consistent seq/ack: handshake,
    '220 ... ESMTP' banner (`banner_delay` after it, the seed's ident wait was
    30 s), HELO/250, MAIL FROM/`mail_reply`, one RCPT TO per (address, code);
    if `data` is given and a recipient got 250: DATA/354, the message, '.',
    250; QUIT/221 unless quit=False (the seed's relay tester just hung up);
    FIN exchange from the client. Replies are whole 'ddd text' lines, sendmail
    style. split_cmds sends every command in two segments cut in the middle
    of its <address> (else mid-line) so content straddles segments."""
    c = _Tcp(client, server, sport, 25, client_outside, isn_c, isn_s, window=32120)
    now = c.open(t, rtt) + banner_delay
    c.send("s", now, "PA", _line(f"220 {server_name} ESMTP Sendmail ready"))
    now += rtt / 2

    def step(cmd, reply):
        line = _line(cmd)
        return c.exchange(now, line, reply, rtt, _split_point(line) if split_cmds else None)

    now = step(f"HELO {helo}", _line(f"250 {server_name} Hello {helo} [{client}], pleased to meet you"))
    now = step(f"MAIL FROM:{mail_from}", _smtp_addr_reply("MAIL", mail_reply, mail_from))
    for rcpt, code in rcpts:
        now = step(f"RCPT TO:{rcpt}", _smtp_addr_reply("RCPT", code, rcpt))
    if data is not None and any(code == 250 for _, code in rcpts):
        now = step("DATA", _line('354 Enter mail, end with "." on a line by itself'))
        now = c.push("c", now, _message_bytes(data), rtt)
        now = c.exchange(now, b".\r\n", _line("250 Message accepted for delivery"), rtt)
    if quit:
        now = step("QUIT", _line(f"221 {server_name} closing connection"))
    c.close(now, rtt)
    return interleave(c.pkts)


def relay_tricks(server, victim="victim.example", home_domain="home.example", server_name="mail.home.example",
                 relay="relay.example", user="user", sender="<sender>"):
    """The relay tests of seed detect 5 (an ORBS relay tester), each as
    (MAIL FROM or None for the tester's usual sender, its reply code,
    RCPT TO or None, its reply code). `server` is the mail server's address."""
    lit = f"[{server}]"
    return [
        (None, 250, f"<{user}%{victim}@{home_domain}>", 550),        # percent hack
        (None, 250, f"<{victim}!{user}>", 550),                      # bang path
        (None, 250, f"<{user}@{victim}@{lit}>", 553),                # address literal after a full address
        (None, 250, f"<{user}@{victim}@{server_name}>", 553),        # double @
        (None, 250, f"<@{relay}:{user}@{victim}>", 550),             # source route
        (None, 250, f"<{lit}:{user}@{victim}>", 553),                # bracket-literal route
        (None, 250, f'<"{user}@{victim}"@{home_domain}>', 550),      # quoted local part
        (None, 250, f"<orbs-relaytest@{victim}>", 550),              # relay-test marker
        (sender, 553, None, None),                                   # unqualified MAIL FROM
    ]


def orbs_relay_test(src, server, start, gap=30.0, sport_base=2488, sport_step=142, tricks=None, count=None,
                    sender="<sender@relaytest.example>", helo="relaytest.example", banner_delay=30.4, rtt=0.097,
                    quit=False, client_outside=True, server_name="mail.home.example"):
    """Seed detect 5: one source opens a short SMTP session every `gap`
    seconds, each trying one relay trick (relay_tricks(server) unless
    `tricks` is given; `count` sessions, cycling through the tricks), and
    the server answers 550/553. Sessions overlap as in the seed, whose
    banners came 30 s late; the tester hangs up without QUIT."""
    tricks = relay_tricks(server, server_name=server_name) if tricks is None else list(tricks)
    count = len(tricks) if count is None else count
    streams = []
    for i in range(count):
        mail_from, mail_code, rcpt, rcpt_code = tricks[i % len(tricks)]
        streams.append(smtp_session(src, server, _port(sport_base + i * sport_step), start + i * gap, helo=helo,
                                    mail_from=mail_from or sender, rcpts=[(rcpt, rcpt_code)] if rcpt else [],
                                    mail_reply=mail_code, rtt=rtt, client_outside=client_outside,
                                    server_name=server_name, banner_delay=banner_delay, quit=quit))
    return interleave(*streams)


def legit_relay(src, server, start, n_mails, gap, sport_base=3000, helo="mx.partner.example",
                mail_from="<someone@partner.example>", rcpts=("<user@home.example>",), rtt=0.02,
                client_outside=True, server_name="mail.home.example"):
    """Negative for smtp-relay-probe: `n_mails` ordinary deliveries from one
    legitimate relay, one session each, every recipient accepted, a short
    message in DATA."""
    streams = []
    for i in range(n_mails):
        msg = (f"From: {mail_from.strip('<>')}\r\nTo: {rcpts[0].strip('<>')}\r\nSubject: weekly figures {i + 1}\r\n\r\n"
               f"Hello,\r\nthe figures for week {i + 1} are attached as agreed.\r\nRegards\r\n")
        streams.append(smtp_session(src, server, _port(sport_base + i), start + i * gap, helo=helo, mail_from=mail_from,
                                    rcpts=[(r, 250) for r in rcpts], data=msg, rtt=rtt,
                                    client_outside=client_outside, server_name=server_name))
    return interleave(*streams)


# --- 4. TCP resets -----------------------------------------------------------

def rst_backscatter(srcs, dst, sport, dports, times, ttls=None, ip_ids=None, acks=None, flags="RA", seed=20766,
                    inbound=True):
    """Seed detect 6: one unsolicited reset per (src, dport, time), all from
    source port `sport` (the seed: 20766 from 3 hosts over two days, TTLs
    238/116/48, IP IDs 2881/23828/23828). "RA" carries seq 0 and a
    random-looking ack, "R" a random-looking seq; window 0."""
    rng = random.Random(seed)
    n = len(times)
    acks = list(acks) if acks else [rng.getrandbits(32) for _ in range(n)]
    ip_ids = list(ip_ids) if ip_ids else [rng.getrandbits(16) for _ in range(n)]
    ttls = list(ttls) if ttls else [64] * n
    pkts = []
    for i, (src, dport, t) in enumerate(zip(srcs, dports, times, strict=True)):
        seq, ack = (0, acks[i]) if "A" in flags else (acks[i], 0)
        pkts.append(_at(_eth(inbound) / IP(src=src, dst=dst, ttl=ttls[i], id=ip_ids[i]) /
                        TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack, window=0), t))
    return interleave(pkts)


def rst_flood(dst, n, start, rate, seed, sport_choices=(80, 443, 25), src_net="198.18.0.0/15", inbound=True):
    """DoS backscatter: `n` RST|ACK to `dst` from random hosts of `src_net`
    (service source ports, random destination ports, acks, TTLs, IP IDs),
    `rate` per second: the home host's address was spoofed in a SYN flood."""
    rng = random.Random(seed)
    net = ipaddress.IPv4Network(src_net)
    pkts = []
    for i in range(n):
        src = str(net[rng.randrange(1, net.num_addresses - 1)])
        p = _eth(inbound) / IP(src=src, dst=dst, ttl=rng.randint(40, 250), id=rng.getrandbits(16)) / TCP(
            sport=rng.choice(sport_choices), dport=rng.randint(1024, 65535), flags="RA", seq=0,
            ack=rng.getrandbits(32), window=0)
        pkts.append(_at(p, start + i / rate))
    return pkts


def closed_by_rst(client_home, server, sport, dport, t, rtt=0.03, abort_after=2.0,
                  request=b"GET /feed HTTP/1.1\r\nHost: api.example\r\n\r\n",
                  response=b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndata"):
    """Negative for rst-backscatter: resets for connections the home host did
    open. The home host's SYN from `sport` is refused with RST|ACK; then a
    session from `sport`+1, established and used, is aborted by the server
    with RST|ACK `abort_after` seconds later."""
    refused = _Tcp(client_home, server, sport, dport, client_outside=False, isn_s=0)
    refused.send("c", t, "S", options=[("MSS", 1460)])
    refused.send("s", t + rtt, "RA", window=0)
    aborted = _Tcp(client_home, server, _port(sport + 1), dport, client_outside=False)
    now = aborted.open(t + 1.0, rtt)
    now = aborted.exchange(now, request, response, rtt)
    aborted.send("s", now + abort_after, "RA", window=0)
    return interleave(refused.pkts, aborted.pkts)


# --- 5. Ping, then connect ---------------------------------------------------

WINDOWS_PING = b"abcdefghijklmnopqrstuvwabcdefghi"


def ping_then_connect(src, targets, answering, ports=(80, 1080), start=0.0, ping_gap=0.05, connect_delay=1.7,
                      syn_retries=2, retry_gap=0.75, refuse=True, port_gap=0.032, sport_base=1190,
                      isn_base=434904503, ttl=113, inbound=True):
    """Seed detect 8: Windows-style echo requests to every target in order
    (id 0x0200, sequence stepping by 256, 32-byte alphabet), echo replies from
    the `answering` ones, then from `connect_delay` after a target's reply,
    SYNs (win 16384, mss 1460,nop,nop,sackOK, DF) to each port of it, each
    resent `syn_retries` times with the same ISN `retry_gap` apart, and each
    answered with RST|ACK if `refuse`. One source port per (target, port)."""
    pkts, sport = [], sport_base
    for i, dst in enumerate(targets):
        t = start + i * ping_gap
        pkts += _echo(src, dst, t, 0x0200, (256 * (i + 1)) & 0xFFFF, WINDOWS_PING, inbound, dst in answering,
                      ttl=ttl)
        if dst not in answering:
            continue
        for j, port in enumerate(ports):
            isn = (isn_base + 41514 * (sport - sport_base)) % 2**32
            for r in range(syn_retries + 1):
                ts = t + connect_delay + j * port_gap + r * retry_gap
                pkts += tcp_packet(src, dst, sport, port, ts, "S", isn, window=16384, df=True, ttl=ttl,
                                   options=[("MSS", 1460), ("NOP", None), ("NOP", None), ("SAckOK", b"")],
                                   inbound=inbound)
                if refuse:
                    pkts += tcp_packet(dst, src, port, sport, ts + 0.0003, "RA", 0, (isn + 1) % 2**32, window=0,
                                       df=True, inbound=not inbound)
            sport = _port(sport + 1)
    return interleave(pkts)


def monitoring_check(monitor, host, port, t, interval=60, rounds=3, monitor_outside=True, sport_base=45000,
                     rtt=0.01):
    """Negative for ping-then-connect: every `interval` seconds a monitor
    pings ONE host it knows, gets the reply, then opens a complete TCP
    connection to a port the host serves (HEAD /, 200, FIN)."""
    pkts = []
    for r in range(rounds):
        t0 = t + r * interval
        pkts += _echo(monitor, host, t0, 0x4d4f, r + 1, bytes(56), monitor_outside)
        c = _Tcp(monitor, host, _port(sport_base + r), port, monitor_outside)
        now = c.open(t0 + 0.2, rtt)
        now = c.exchange(now, b"HEAD / HTTP/1.0\r\n\r\n", b"HTTP/1.0 200 OK\r\nServer: home\r\n\r\n", rtt)
        c.close(now, rtt)
        pkts += c.pkts
    return interleave(pkts)


# --- 6. ICMP errors ----------------------------------------------------------

def _datagram(src, dst, proto, sport, dport, ttl, ip_id, seq):
    """A minimal datagram: TCP SYN, UDP with 12 bytes, or for "icmp" an echo
    request whose identifier and sequence number are `sport` and `dport`."""
    ip = IP(src=src, dst=dst, ttl=ttl, id=ip_id)
    if proto == "tcp":
        return ip / TCP(sport=sport, dport=dport, flags="S", seq=seq, window=1024)
    if proto == "udp":
        return ip / UDP(sport=sport, dport=dport) / Raw(bytes(12))
    return ip / ICMP(type=8, id=sport, seq=dport) / Raw(bytes(56))


def icmp_unreach_backscatter(router, victim, quoted_dst, t, code=1, quoted_proto="tcp", sport=33172, dport=80,
                             inner_ttl=47, inner_id=31337, seq=0x5e3a1f07, quote_len=8, ttl=243, ip_id=0,
                             inbound=True):
    """Seed detect 9: ICMP destination unreachable (type 3, `code`, 1 = host)
    from `router` to `victim`, quoting the IP header and `quote_len` bytes of
    a datagram victim -> quoted_dst that the victim never sent. quoted_proto
    "icmp" quotes an echo request (id `sport`, seq `dport`), which is what the
    seed's analyst believed triggered it."""
    inner = _datagram(victim, quoted_dst, quoted_proto, sport, dport, inner_ttl, inner_id, seq)
    return [_icmp_error(router, victim, t, 3, code, bytes(inner)[:20 + quote_len], ttl, ip_id, inbound)]


def unreach_for_own_traffic(home, remote, router, t, proto="udp", code=1, sport=40001, dport=53, hops=4, rtt=0.04,
                            ip_id=4242, seq=0x0badcafe):
    """Negative for icmp-unreach-backscatter: the home host sends a datagram
    to `remote`, and `router`, `hops` hops out, answers destination
    unreachable quoting that datagram as it received it (IP header + 8)."""
    probe = _at(_eth(False) / _datagram(home, remote, proto, sport, dport, 64, ip_id, seq), t)
    return [probe, _icmp_error(router, home, t + rtt, 3, code, _as_received(probe, hops)[:28], 255 - hops)]


def icmp_ttl_backscatter(router, victim, quoted_dst, t, inner_ttl=1, quoted_proto="tcp", sport=55690, dport=32443,
                         ip_id=43796, seq=0x4f1c22d5, quote_len=8, ttl=246, outer_id=0, inbound=True):
    """Seed detect 10: ICMP time exceeded in transit (type 11 code 0) from
    `router` to `victim`, quoting a datagram victim -> quoted_dst the victim
    never sent (seed: TCP 55690 -> 32443, inner TTL 1, IP ID 43796; outer
    TTL 246, IP ID 0)."""
    inner = _datagram(victim, quoted_dst, quoted_proto, sport, dport, inner_ttl, ip_id, seq)
    return [_icmp_error(router, victim, t, 11, 0, bytes(inner)[:20 + quote_len], ttl, outer_id, inbound)]


def traceroute(home, dst, routers, t, base_port=33434, sport=47000, probes=3, hop_rtt=0.008, gap=0.002,
               dst_answers=True, quote_len=8, ip_id=21000):
    """Negative for the ICMP backscatter detectors: a Linux-style UDP
    traceroute from the home host, `probes` probes per TTL 1..len(routers)
    (destination port base_port + probe number), each answered by that hop's
    router with time exceeded quoting the probe as it arrived there (TTL 1,
    IP header + `quote_len` bytes). With `dst_answers` one more round at the
    next TTL reaches `dst`, which answers port unreachable."""
    hops = list(routers) + ([dst] if dst_answers else [])
    pkts, now, k = [], t, 0
    for h, responder in enumerate(hops):
        for _ in range(probes):
            probe = _at(_eth(False) / IP(src=home, dst=dst, ttl=h + 1, id=ip_id + k) /
                        UDP(sport=sport, dport=base_port + k) / Raw(bytes(range(0x40, 0x60))), now)
            rtt = (h + 1) * hop_rtt
            if h < len(routers):
                reply = _icmp_error(responder, home, now + rtt, 11, 0, _as_received(probe, h)[:20 + quote_len], 255 - h)
            else:
                reply = _icmp_error(dst, home, now + rtt, 3, 3, _as_received(probe, h), 64 - h)
            pkts += [probe, reply]
            now += rtt + gap
            k += 1
    return pkts


# --- 7. OS fingerprinting ----------------------------------------------------

def _linux_synack_opts(offered, tsval):
    """The SYN-ACK options Linux sends for the options a SYN offered:
    MSS 1460, SACK/timestamp (packed, or NOP-padded when only one), NOP WS 7."""
    kinds = dict(offered)
    opts = [("MSS", 1460)]
    if "Timestamp" in kinds:
        ts = ("Timestamp", (tsval, kinds["Timestamp"][0]))
        opts += [("SAckOK", b""), ts] if "SAckOK" in kinds else [("NOP", None), ("NOP", None), ts]
    elif "SAckOK" in kinds:
        opts += [("NOP", None), ("NOP", None), ("SAckOK", b"")]
    if "WScale" in kinds:
        opts += [("NOP", None), ("WScale", 7)]
    return opts


def _linux_answer(probe, is_open, t, inbound, isn, tsval=0x1b2c3d4e, rtt=0.0004):
    """What a Linux host answers to one TCP probe (`inbound`: the probe's
    direction): an ACK gets RST with seq = its ack; anything else to a closed
    port RST|ACK; to an open port a SYN (without FIN) gets SYN-ACK (with ECE
    for an ECN setup SYN) and then the prober's kernel RST; other flag sets
    to an open port, and resets, get nothing."""
    ip, tcp = probe[IP], probe[TCP]
    f = int(tcp.flags)

    def reply(flags, seq, ack, window=0, options=()):
        return tcp_packet(ip.dst, ip.src, tcp.dport, tcp.sport, t, flags, seq, ack, window=window, options=options,
                          inbound=not inbound, df=True, ip_id=0)

    if f & RST:
        return []
    if f & ACK:
        return reply("R", tcp.ack, 0)
    if not is_open:
        return reply("RA", 0, (tcp.seq + len(tcp.payload) + bool(f & SYN) + bool(f & FIN)) % 2**32)
    if f & SYN and not f & FIN:
        ecn = f & ECE and f & CWR
        return (reply("SAE" if ecn else "SA", isn, (tcp.seq + 1) % 2**32, 64240, _linux_synack_opts(tcp.options, tsval))
                + tcp_packet(ip.src, ip.dst, tcp.sport, tcp.dport, t + rtt, "R", (tcp.seq + 1) % 2**32, 0, window=0,
                             inbound=inbound))
    return []


NMAP1_OPTS = [("WScale", 10), ("NOP", None), ("MSS", 265), ("Timestamp", (1061109567, 0)), ("EOL", None)]
NMAP1_REPLY_OPTS = [("MSS", 265), ("NOP", None), ("NOP", None), ("Timestamp", (277897817, 1061109567)),
                    ("NOP", None), ("WScale", 0)]
NMAP1_SERIES_ISNS = (2564245393, 2556278846, 2563185125, 2561867378, 2562391321, 2551723519)


def nmap_gen1_os(src, dst, open_port=53, closed_port=80, start=0.0, closed_retry=2.997616, probe_delay=30.692914,
                 series_gap=0.02, closed_sport=17983, connect_sport=18013, probe_sport=61833, isn=486802280,
                 ttl=52, inbound=True):
    """The seed's 'Evaluate an Attack' (nmap -O, first generation), with its
    flags, windows, options, ISNs and time offsets: two SYNs to the closed
    port (win 512, then 32120; unanswered), a full connect to the open port
    closed with FIN, then on `probe_sport`.. the probes carrying wscale 10,
    nop, mss 265, timestamp 1061109567 0, eol: SYN|ECE (SYN-ACK, RST),
    flagless (twice, unanswered), SYN|FIN|PSH|URG (SYN-ACK, RST), lone ACK
    (twice, unanswered); then 6 SYN / SYN-ACK / RST exchanges `series_gap`
    apart from source ports probe_sport-6.. that sample the target's ISNs."""
    pkts = []

    def nm(dt, sport, dport, flags, seq, ack=0, window=4096, options=NMAP1_OPTS, df=False):
        pkts.extend(tcp_packet(src, dst, sport, dport, start + dt, flags, seq, ack, window=window, options=options,
                               inbound=inbound, ttl=ttl, df=df))

    def tg(dt, dport, flags, seq, ack, window, options=(), df=True):
        pkts.extend(tcp_packet(dst, src, open_port, dport, start + dt, flags, seq, ack, window=window,
                               options=options, inbound=not inbound, df=df))

    mss = [("MSS", 1460)]
    nm(0.0, closed_sport, closed_port, "S", 3545234541, window=512, options=mss)
    nm(closed_retry, closed_sport, closed_port, "S", 3545234541, window=32120, options=mss)
    c, ci, ti = probe_delay, 1020791811, 2555548784
    nm(c, connect_sport, open_port, "S", ci, window=512, options=mss)
    tg(c + 0.001260, connect_sport, "SA", ti, ci + 1, 32120, mss)
    nm(c + 0.001523, connect_sport, open_port, "A", ci + 1, ti + 1, 32120, (), df=True)
    nm(c + 0.001785, connect_sport, open_port, "FA", ci + 1, ti + 1, 32120, ())
    tg(c + 0.002148, connect_sport, "A", ti + 1, ci + 2, 32120)
    tg(c + 0.002262, connect_sport, "FA", ti + 1, ci + 2, 32120)
    nm(c + 0.002520, connect_sport, open_port, "A", ci + 2, ti + 2, 32120, (), df=True)
    ecn, null, sfpu, lone = probe_sport, probe_sport + 1, probe_sport + 2, probe_sport + 3
    nm(c + 0.007072, ecn, open_port, "SE", isn)
    tg(c + 0.008522, ecn, "SA", 2560529854, isn + 1, 32595, NMAP1_REPLY_OPTS, df=False)
    nm(c + 0.008755, ecn, open_port, "R", isn + 1, window=0, options=())
    nm(c + 0.007223, null, open_port, 0, isn)
    nm(c + 0.636406, null, open_port, 0, isn)
    nm(c + 0.007369, sfpu, open_port, "SFPU", isn)
    tg(c + 0.009265, sfpu, "SA", 2556435319, isn + 1, 32595, NMAP1_REPLY_OPTS, df=False)
    nm(c + 0.009497, sfpu, open_port, "R", isn + 1, window=0, options=())
    nm(c + 0.007518, lone, open_port, "A", isn, 0)
    nm(c + 0.636554, lone, open_port, "A", isn, 1)
    for k, tisn in enumerate(NMAP1_SERIES_ISNS):
        dt, sport, seq = c + 1.266421 + k * series_gap, probe_sport - 6 + k, isn + 1 + k
        nm(dt, sport, open_port, "S", seq, options=())
        tg(dt + 0.000814, sport, "SA", tisn, seq + 1, 32696, [("MSS", 536)])
        nm(dt + 0.001053, sport, open_port, "R", seq + 1, window=0, options=())
    return interleave(pkts)


# nmap's second-generation probes, from osscan2.cc (prbOpts[], prbWindowSz[]):
# the six SEQ probes (window, options), the ECN probe's options, and T2-T7's.
TS = ("Timestamp", (0xFFFFFFFF, 0))
NMAP2_SEQ = [
    (1, [("WScale", 10), ("NOP", None), ("MSS", 1460), TS, ("SAckOK", b"")]),
    (63, [("MSS", 1400), ("WScale", 0), ("SAckOK", b""), TS, ("EOL", None)]),
    (4, [TS, ("NOP", None), ("NOP", None), ("WScale", 5), ("NOP", None), ("MSS", 640)]),
    (4, [("SAckOK", b""), TS, ("WScale", 10), ("EOL", None)]),
    (16, [("MSS", 536), ("SAckOK", b""), TS, ("WScale", 10), ("EOL", None)]),
    (512, [("MSS", 265), ("SAckOK", b""), TS]),
]
NMAP2_ECN_OPTS = [("WScale", 10), ("NOP", None), ("MSS", 1460), ("SAckOK", b""), ("NOP", None), ("NOP", None)]
NMAP2_T_OPTS = [("WScale", 10), ("NOP", None), ("MSS", 265), TS, ("SAckOK", b"")]
NMAP2_T7_OPTS = [("WScale", 15)] + NMAP2_T_OPTS[1:]
# T2..T7: (flags, DF, window, to the open port?)
NMAP2_T = [(0, True, 128, True), ("SFPU", False, 256, True), ("A", True, 1024, True),
           ("S", False, 31337, False), ("A", True, 32768, False), ("FPU", False, 65535, False)]


def nmap_gen2_os(src, dst, open_port, closed_port, start=0.0, closed_udp_port=None, seed=2, ttl=None, inbound=True):
    """Today's nmap -O against a Linux host (nmap.org/book/osdetect-methods,
    checked against osscan2.cc): six SEQ SYNs 100 ms apart to the open port
    (windows 1, 63, 4, 4, 16, 512 and their option sets; SYN-ACK, then the
    prober's RST); IE1 (code 9, TOS 0, DF, seq 295, 120 zero bytes) and IE2
    (code 0, TOS 4, 150 bytes, id and seq + 1) with echo replies; ECN
    (SYN|ECE|CWR with reserved bit 0x08 of header byte 12 set, urgent pointer
    0xF7F5 without URG, ack 0, window 3) answered SYN-ACK|ECE; T2 (no flags,
    DF, win 128), T3 (SYN|FIN|PSH|URG, 256), T4 (ACK, DF, 1024) to the open
    port; T5 (SYN, 31337), T6 (ACK, DF, 32768), T7 (FIN|PSH|URG, 65535) to
    the closed port; T2-T7 with wscale 10 (T7: 15), nop, mss 265, timestamp
    0xFFFFFFFF 0, sackOK; Linux answers: none to T2/T3 (resent once), RST
    to T4/T6, RST|ACK to T5/T7; U1 (UDP, IP ID 0x1042, 300 x 'C') to the
    closed port, answered port unreachable quoting all of it. Source ports,
    ISN, ack and IDs come from `seed` laid out as nmap does (port base + n)."""
    rng = random.Random(seed)
    ttl = rng.randint(37, 59) if ttl is None else ttl
    port_base, udp_sport = rng.randint(33000, 60000), rng.randint(33000, 60000)
    seq_base, ack = rng.getrandbits(32), rng.getrandbits(32)
    icmp_id, tsval = rng.getrandbits(15), rng.getrandbits(31)
    udp_port = closed_port if closed_udp_port is None else closed_udp_port
    pkts = []

    def probe(dt, sport, dport, flags, seq, ack_, window, options, df=False, reserved=0, urgptr=0, is_open=True):
        t = start + dt
        p = tcp_packet(src, dst, sport, dport, t, flags, seq, ack_, reserved, window, options, urgptr,
                       inbound=inbound, ttl=ttl, df=df, ip_id=rng.getrandbits(16))
        reply = _linux_answer(p[0], is_open, t + 0.0004, inbound, rng.getrandbits(32), tsval + int(dt * 1000))
        pkts.extend(p + reply)
        if not reply:  # nmap resends an unanswered probe once
            pkts.extend(tcp_packet(src, dst, sport, dport, t + 1.0, flags, seq, ack_, reserved, window, options,
                                   urgptr, inbound=inbound, ttl=ttl, df=df, ip_id=rng.getrandbits(16)))

    for i, (window, options) in enumerate(NMAP2_SEQ):
        probe(0.1 * i, port_base + i, open_port, "S", (seq_base + i) % 2**32, ack, window, options)
    pkts += _echo(src, dst, start + 0.60, icmp_id, 295, bytes(120), inbound, code=9, tos=0, flags="DF", ttl=ttl,
                  id=rng.getrandbits(16))
    pkts += _echo(src, dst, start + 0.61, icmp_id + 1, 296, bytes(150), inbound, code=0, tos=4, ttl=ttl,
                  id=rng.getrandbits(16))
    probe(0.62, port_base + 12, open_port, "SEC", seq_base, 0, 3, NMAP2_ECN_OPTS, reserved=4, urgptr=0xF7F5)
    for k, (flags, df, window, to_open) in enumerate(NMAP2_T):
        probe(0.63 + 0.01 * k, port_base + 14 + k, open_port if to_open else closed_port, flags, seq_base, ack,
              window, NMAP2_T7_OPTS if k == 5 else NMAP2_T_OPTS, df=df, is_open=to_open)
    u1 = _at(_eth(inbound) / IP(src=src, dst=dst, ttl=ttl, id=0x1042) / UDP(sport=udp_sport, dport=udp_port) /
             Raw(b"C" * 300), start + 0.69)
    pkts += [u1, _port_unreachable(u1, start + 0.6904, inbound)]
    return interleave(pkts)


def ecn_client(client, server, sport, dport, t, rtt=0.03, client_outside=True,
               request=b"GET /big HTTP/1.1\r\nHost: www.home.example\r\n\r\n"):
    """Negative for os-fingerprint and flag-anomaly: an ordinary Linux ECN
    connection. SYN|ECE|CWR with mss 1460, sackOK, timestamp, nop, wscale 7;
    SYN-ACK|ECE; ACK; data in ECT(0) packets; a data packet arrives CE-marked,
    the receiver ACKs with ECE, the sender's next segment carries CWR; FIN
    close."""
    c = _Tcp(client, server, sport, dport, client_outside)
    ts = 2894712233
    c.send("c", t, "SEC", options=[("MSS", 1460), ("SAckOK", b""), ("Timestamp", (ts, 0)), ("NOP", None),
                                   ("WScale", 7)])
    c.send("s", t + rtt / 2, "SAE", options=[("MSS", 1460), ("SAckOK", b""), ("Timestamp", (ts + 7, ts)),
                                             ("NOP", None), ("WScale", 7)])
    c.send("c", t + rtt, "A")
    now = t + rtt
    c.send("c", now, "PA", request, tos=0x02)
    c.send("s", now + rtt / 2, "PA", b"HTTP/1.1 100 Continue\r\n\r\n", tos=0x02)
    now += rtt
    c.send("c", now, "PA", b"part=1&" * 40, tos=0x03)        # marked Congestion Experienced on the way
    c.send("s", now + rtt / 2, "AE", tos=0x00)               # receiver echoes the congestion
    now += rtt
    c.send("c", now, "PAC", b"part=2&" * 40, tos=0x02)       # sender: congestion window reduced
    c.send("s", now + rtt / 2, "PA", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", tos=0x02)
    c.close(now + rtt, rtt)
    return c.pkts


# --- 8. Vertical scans -------------------------------------------------------

def vertical_scan(src, dst, ports, start, duration, flags="S", proto="tcp", open_ports=(), sport=43746, seed=None,
                  sport_per_probe=False, ttl=48, rtt=0.0004, inbound=True):
    """'Analyze This' (1,141 ports in about 5 s): one probe per port, in the
    order given, evenly spread over `duration`. TCP `flags` is any scapy flag
    string ("S" SYN, "" NULL, "F" FIN, "FPU" XMAS, "A" ACK); replies as Linux
    gives them (see _linux_answer: closed ports RST|ACK, open ports SYN-ACK
    then the prober's RST for SYN, silence for NULL/FIN/XMAS, RST for ACK).
    proto="udp": closed ports answer ICMP port unreachable quoting the probe,
    open ones nothing. `seed` picks sequence numbers and IP IDs (None: a fixed
    default); sport_per_probe counts the source port up per probe."""
    rng = random.Random(0 if seed is None else seed)
    step = duration / len(ports) if ports else 0.0
    syn = bool(_flags(flags) & SYN)
    pkts = []
    for i, port in enumerate(ports):
        t = start + i * step
        sp = _port(sport + i) if sport_per_probe else sport
        if proto == "udp":
            p = _at(_eth(inbound) / IP(src=src, dst=dst, ttl=ttl, id=rng.getrandbits(16)) / UDP(sport=sp, dport=port), t)
            pkts += [p] if port in open_ports else [p, _port_unreachable(p, t + rtt, inbound)]
            continue
        seq = rng.getrandbits(32)
        ack = rng.getrandbits(32) if _flags(flags) & ACK else 0
        p = tcp_packet(src, dst, sp, port, t, flags, seq, ack, window=1024, options=[("MSS", 1460)] if syn else (),
                       inbound=inbound, ttl=ttl, ip_id=rng.getrandbits(16))
        pkts += p + _linux_answer(p[0], port in open_ports, t + rtt, inbound, rng.getrandbits(32))
    return interleave(pkts)


def many_connections_one_port(client, server, port, n, start, gap, sport_base=40000, rtt=0.002):
    """Negative for vertical-scan: `n` complete HTTP-like sessions from one
    (outside) client to the same server port, one source port each."""
    return interleave(*[http_session(client, server, _port(sport_base + i), start + i * gap, dport=port, rtt=rtt)
                        for i in range(n)])


def passive_ftp(client, server, n_files, start, gap=0.5, sport=41500, pasv_base=50000, pasv_step=37,
                file_size=2000, rtt=0.02, client_outside=True):
    """Negative for vertical-scan: an FTP control session on 21 (login, TYPE I,
    then PASV / RETR per file, QUIT) and `n_files` data connections from the
    client to the distinct high server ports the 227 replies name, each
    complete: handshake, the file, FIN from the server."""
    ctl = _Tcp(client, server, sport, 21, client_outside)
    now = ctl.open(start, rtt)
    ctl.send("s", now, "PA", _line("220 FTP server ready."))
    now += rtt / 2
    for cmd, reply in (("USER anonymous", "331 Please specify the password."), ("PASS guest@", "230 Login successful."),
                       ("TYPE I", "200 Switching to Binary mode.")):
        now = ctl.exchange(now, _line(cmd), _line(reply), rtt)
    a, b, c, d = ipaddress.IPv4Address(server).packed
    streams = [ctl.pkts]
    for i in range(n_files):
        port = pasv_base + i * pasv_step
        now = ctl.exchange(now, _line("PASV"),
                           _line(f"227 Entering Passive Mode ({a},{b},{c},{d},{port >> 8},{port & 0xFF})."), rtt)
        data = _Tcp(client, server, _port(sport + 1 + i), port, client_outside)
        now = data.open(now, rtt)
        now = ctl.exchange(now, _line(f"RETR file{i}.dat"), _line("150 Opening BINARY mode data connection."), rtt)
        now = data.push("s", now, bytes((i + k) % 256 for k in range(file_size)), rtt)
        now = data.close(now, rtt, first="s")
        ctl.send("s", now, "PA", _line("226 Transfer complete."))
        streams.append(data.pkts)
        now += gap
    now = ctl.exchange(now, _line("QUIT"), _line("221 Goodbye."), rtt)
    ctl.close(now, rtt)
    return interleave(*streams)


# --- 9. Slow scans -----------------------------------------------------------

def slow_scan_udp(src, dst, ports, start, bunch=8, bunch_gap=300.0, sport=53, spacing=0.0005, payload=b"", ttl=64,
                  inbound=True):
    """'Analyze This' MY.NET.1.3: UDP from source port 53 (looks like DNS
    replies) to the given ports, in bunches of `bunch` back to back
    (`spacing` apart), one bunch every `bunch_gap` seconds; no replies."""
    return [_udp(src, dst, sport, port, payload, start + (i // bunch) * bunch_gap + (i % bunch) * spacing, inbound,
                 ttl=ttl, id=(7000 + i) & 0xFFFF)
            for i, port in enumerate(ports)]


def slow_sweep(src, targets, port, start, gap, proto="tcp", sport=43746, isn_base=1876543210):
    """A slow horizontal scan: one probe of `port` per target, `gap` seconds
    apart (a SYN shaped like seed detect 7's, or a small UDP datagram)."""
    pkts = []
    for i, dst in enumerate(targets):
        t = start + i * gap
        if proto == "tcp":
            pkts.append(syn_probe(src, dst, sport, port, t, (isn_base + 7919 * i) % 2**32))
        else:
            pkts.append(_udp(src, dst, sport, port, bytes(8), t, ttl=50))
    return pkts


def _dns_exchange(client, server, sport, t, qid, name="www.example.com", addr="192.0.2.80", rtt=0.01):
    """A home client's DNS A query to an outside resolver and its answer.
    (scenarios.dns_query gives an 8-byte DNS header, which dissects as malformed.)"""
    question = b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\x00\x00\x01\x00\x01"
    query = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + question
    answer = (struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0) + question
              + struct.pack("!HHHIH", 0xC00C, 1, 1, 3600, 4) + ipaddress.IPv4Address(addr).packed)
    return [_udp(client, server, sport, 53, query, t, False), _udp(server, client, 53, sport, answer, t + rtt, True)]


def dns_replies_to_home(home_client, resolver, n, start, gap, seed,
                        names=("www.example.com", "mail.example.net", "cdn.example.org", "api.example.com")):
    """Negative for slow-scan: the home client sends `n` DNS queries from
    random source ports to an outside resolver and gets each answered, so
    packets from port 53 reach many different home ports, all solicited."""
    rng = random.Random(seed)
    return interleave(*[_dns_exchange(home_client, resolver, rng.randint(1024, 65535), start + i * gap,
                                      rng.getrandbits(16), rng.choice(names)) for i in range(n)])


# --- 10. Any TCP header ------------------------------------------------------

def _flags(flags):
    """TCP flags as an int, from an int or a scapy flag string."""
    return int(TCP(flags=flags).flags)


def tcp_packet(src, dst, sport, dport, t, flags, seq=1000, ack=0, reserved=0, window=1024, options=(), urgptr=0,
               payload=b"", inbound=True, ttl=64, df=False, ip_id=1):
    """One TCP segment with any header bits. `flags` is an int or a scapy flag
    string "FSRPAUECN" (F=0x01 S R P A U, E=ECE 0x40, C=CWR 0x80, N=NS 0x100).
    In scapy 2.5 the NS bit (RFC 3540; header byte 12, bit 0x01, just before
    CWR) is flag bit 0x100, so flags may go up to 0x1FF; `reserved` is only
    the three truly reserved bits (0-7) at byte 12 bits 0x0E: reserved=4 sets
    0x08, the bit nmap's ECN probe sets."""
    p = _eth(inbound) / IP(src=src, dst=dst, ttl=ttl, id=ip_id, flags="DF" if df else 0) / TCP(
        sport=sport, dport=dport, flags=flags, seq=seq, ack=ack, reserved=reserved, window=window,
        options=list(options), urgptr=urgptr)
    if payload:
        p = p / Raw(payload)
    return [_at(p, t)]


# --- 11. SNMP (BER by hand) --------------------------------------------------

def _ber(tag, body):
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body


def _ber_int(v, tag=0x02):
    return _ber(tag, v.to_bytes(v.bit_length() // 8 + 1, "big", signed=True))


def _ber_str(s, tag=0x04):
    return _ber(tag, s.encode() if isinstance(s, str) else s)


def _ber_oid(oid):
    parts = [int(x) for x in oid.split(".")]
    out = bytearray()
    for v in [40 * parts[0] + parts[1]] + parts[2:]:
        chunk = [v & 0x7F]
        while v > 0x7F:
            v >>= 7
            chunk.append(0x80 | (v & 0x7F))
        out += bytes(reversed(chunk))
    return _ber(0x06, bytes(out))


def _ber_seq(*items):
    return _ber(0x30, b"".join(items))


NULL = b"\x05\x00"
PDU_TAG = {"get": 0xA0, "getnext": 0xA1, "response": 0xA2, "set": 0xA3, "getbulk": 0xA5}
SYS_UPTIME, SNMP_TRAP_OID, COLD_START = "1.3.6.1.2.1.1.3.0", "1.3.6.1.6.3.1.1.4.1.0", "1.3.6.1.6.3.1.1.5.1"


def _varbinds(pairs):
    return _ber_seq(*(_ber_seq(_ber_oid(oid), value) for oid, value in pairs))


def _pdu(tag, request_id, pairs, a=0, b=0):
    """A PDU: request id, error status/index (non-repeaters/max-repetitions for getbulk), varbinds."""
    return _ber(tag, _ber_int(request_id) + _ber_int(a) + _ber_int(b) + _varbinds(pairs))


def snmp_request(src, dst, sport, t, community="public", version=0, pdu="get", oid="1.3.6.1.2.1.1.1.0",
                 answer=False, dport=None, request_id=0x1a2b, value="Linux gw 5.10.0-28-amd64", rtt=0.002,
                 inbound=True):
    """'Analyze This' SNMP public access: one SNMP v1 (version=0) or v2c (1)
    message with `community`. pdu: get, getnext, getbulk (v2c only; 0
    non-repeaters, 10 repetitions), set (`value` as OCTET STRING), response,
    or trap (v1 Trap-PDU or v2c SNMPv2-Trap, to 162 by default). With
    `answer`, the agent's GetResponse with the same community and request id
    `rtt` later."""
    if pdu == "trap":
        dport = 162 if dport is None else dport
        if version == 0:
            body = _ber(0xA4, _ber_oid("1.3.6.1.4.1.8072.3.2.10") + _ber_str(ipaddress.IPv4Address(src).packed, 0x40)
                        + _ber_int(0) + _ber_int(0) + _ber_int(4200, 0x43) + _varbinds([(oid, _ber_str(value))]))
        else:
            body = _pdu(0xA7, request_id, [(SYS_UPTIME, _ber_int(4200, 0x43)), (SNMP_TRAP_OID, _ber_oid(COLD_START)),
                                           (oid, _ber_str(value))])
    elif pdu == "getbulk" and version == 0:
        raise ValueError("getbulk needs SNMPv2c (version=1)")
    else:
        vb = _ber_str(value) if pdu in ("set", "response") else NULL
        body = _pdu(PDU_TAG[pdu], request_id, [(oid, vb)], 0, 10 if pdu == "getbulk" else 0)
    dport = 161 if dport is None else dport
    pkts = [_udp(src, dst, sport, dport, _ber_seq(_ber_int(version), _ber_str(community), body), t, inbound)]
    if answer and pdu not in ("trap", "response"):
        resp = _ber_seq(_ber_int(version), _ber_str(community), _pdu(0xA2, request_id, [(oid, _ber_str(value))]))
        pkts.append(_udp(dst, src, dport, sport, resp, t + rtt, not inbound))
    return pkts


def _snmpv3(msg_id, flags, engine_id, user, pdu):
    """An SNMPv3 message with USM security parameters and no authentication or privacy."""
    usm = _ber_seq(_ber_str(engine_id), _ber_int(1), _ber_int(1200), _ber_str(user), _ber_str(b""), _ber_str(b""))
    header = _ber_seq(_ber_int(msg_id), _ber_int(65507), _ber_str(bytes([flags])), _ber_int(3))
    return _ber_seq(_ber_int(3), header, _ber_str(usm), _ber_seq(_ber_str(engine_id), _ber_str(b""), pdu))


def snmpv3_request(src, dst, sport, t, user="monitor", oid="1.3.6.1.2.1.1.1.0", answer=False, dport=161,
                   engine_id=bytes.fromhex("80001f8880a1b2c3d4e5f60718"), msg_id=0x2c3d, request_id=0x4e5f,
                   value="Linux gw 5.10.0-28-amd64", rtt=0.002, inbound=True):
    """Negative for snmp-public: an SNMPv3 (msgVersion 3) GetRequest, USM user
    `user`, noAuthNoPriv (msgFlags: reportable), and if `answer` the agent's
    Response."""
    req = _snmpv3(msg_id, 0x04, engine_id, user, _pdu(0xA0, request_id, [(oid, NULL)]))
    pkts = [_udp(src, dst, sport, dport, req, t, inbound)]
    if answer:
        resp = _snmpv3(msg_id, 0x00, engine_id, user, _pdu(0xA2, request_id, [(oid, _ber_str(value))]))
        pkts.append(_udp(dst, src, dport, sport, resp, t + rtt, not inbound))
    return pkts


# --- 12. Ordinary traffic ----------------------------------------------------

def _ntp(client, server, sport, t, rtt=0.03):
    """An NTPv4 client query out (mode 3) and the server's answer (mode 4, stratum 2)."""
    def stamp(x):
        return int((x + 2208988800) * 2**32) % 2**64
    fmt = "!BBbbII4sQQQQ"
    query = struct.pack(fmt, 0x23, 0, 6, -20, 0, 0, bytes(4), 0, 0, 0, stamp(t))
    reply = struct.pack(fmt, 0x24, 2, 6, -23, 0x0100, 0x0200, bytes([192, 0, 2, 1]), stamp(t - 60), stamp(t),
                        stamp(t + rtt / 2), stamp(t + rtt / 2))
    return [_udp(client, server, sport, 123, query, t, False), _udp(server, client, 123, sport, reply, t + rtt, True)]


def benign_mix(home_net_prefix="10.20.30.", outside_prefix="203.0.113.", start=0.0, seed=1):
    """Ordinary traffic that must raise no alert, all solicited and answered,
    within ~10 minutes (about 700 packets): a busy home HTTPS server (40
    outside clients), a home client using 30 outside web servers with DNS
    lookups, inbound mail deliveries, NTP, pings both ways, a retransmitted
    request, a Linux SYN retried at 1 s and 2 s more then answered, a
    traceroute out, and connections the remote end refuses or aborts."""
    rng = random.Random(seed)

    def home(n):
        return f"{home_net_prefix}{n}"

    def out(n):
        return f"{outside_prefix}{n}"

    web, mail, client, tracer, aborter = home(10), home(25), home(100), home(101), home(102)
    streams = []
    for i in range(40):
        streams.append(http_session(out(10 + i), web, rng.randint(32768, 60999), start + rng.uniform(0, 560),
                                    dport=443))
    for i in range(30):
        t = start + 5 + 18 * i
        if i % 3 == 0:
            streams.append(_dns_exchange(client, out(53), 50000 + i, t - 0.05, 0x2000 + i, f"www{i}.example.com",
                                         out(100 + i)))
        streams.append(home_client_on_port(client, out(100 + i), 40000 + i, 80, t))
    for i in range(3):
        streams.append(smtp_session(out(200 + i), mail, 30000 + i, start + 60 + 150 * i, helo=f"mx{i}.partner.example",
                                    mail_from=f"<news{i}@partner.example>", rcpts=[("<user@home.example>", 250)],
                                    data=f"Subject: newsletter {i}\r\n\r\nThis month's news.\r\n", rtt=0.03))
    for i in range(4):
        streams.append(_ntp(client, out(123), 123, start + 30 + 128 * i))
    for i in range(2):
        streams.append(_echo(client, out(1), start + 20 + i, 0x1d01, i + 1, bytes(56), inbound=False))
        streams.append(_echo(out(7), web, start + 250 + i, 0x0b0b, i + 1, bytes(56)))

    retrans = _Tcp(out(60), web, 41000, 80)
    now = retrans.open(start + 200, 0.04)
    req = retrans.send("c", now, "PA", b"GET /index.html HTTP/1.1\r\nHost: www.home.example\r\n\r\n")
    retrans.resend(req, now + 0.2)
    retrans.send("s", now + 0.22, "PA", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    retrans.close(now + 0.26, 0.04)
    streams.append(retrans.pkts)

    retried = _Tcp(out(61), web, 41001, 80)
    t = start + 220
    syn = retried.send("c", t, "S", options=[("MSS", 1460)])
    retried.resend(syn, t + 1)
    retried.resend(syn, t + 3)
    retried.send("s", t + 3.02, "SA", options=[("MSS", 1460)])
    retried.send("c", t + 3.04, "A")
    now = retried.exchange(t + 3.04, b"GET / HTTP/1.1\r\nHost: www.home.example\r\n\r\n",
                           b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0.04)
    retried.close(now, 0.04)
    streams.append(retried.pkts)

    streams.append(traceroute(tracer, out(250), [out(241), out(242), out(243)], start + 300))
    streams.append(closed_by_rst(aborter, out(70), 42000, 8080, start + 400))
    return interleave(*streams)


def lab_mix(home_prefix="10.1.0.", start=0.0, seed=7):
    """A few seconds of the seed's quick detects among ordinary traffic, for
    live runs where the link, not the file, sets packet time (`harrier
    replay` at recorded speed into `harrier run`). Every detection here is
    decided by counts within windows far wider than scheduling jitter, so a
    live run must raise exactly what `harrier read` raises on the file."""
    import scenarios as sc
    rng = random.Random(seed)

    def home(n):
        return f"{home_prefix}{n}"

    streams = [
        sc.horizontal_scan("198.18.7.1", [home(i) for i in range(10, 16)], 5900, start + 0.2, 0.03),
        vertical_scan("198.18.7.2", home(20), rng.sample(range(1, 65536), 30), start + 0.5, 1.0),
        nbns_sweep("198.18.7.3", [home(i) for i in range(40, 46)], start + 0.3, 0.25, retry_gap=0.08),
        trojan_probe("198.18.7.4", home(6), 3272, 31337, start + 1.1),
        sc.portmap_probe("198.18.7.5", home(1), 1023, start + 0.8, [0.25, 0.5, 1.0]),
        icmp_unreach_backscatter("198.18.7.6", home(7), "192.0.2.14", start + 1.5),
        icmp_ttl_backscatter("198.18.7.7", home(8), "192.0.2.15", start + 1.7),
        snmp_request("198.18.7.8", home(254), 1035, start + 2.0, answer=True),
        nbns_node_status("198.18.7.9", home(5), start + 2.2),
        nmap_gen1_os("198.18.7.10", home(2), start=start + 2.5, closed_retry=0.5, probe_delay=0.8),
        rst_backscatter(["198.18.8.1", "198.18.8.2", "198.18.8.3"], home(3), 20766, [1107, 2308, 3418],
                        [start + 0.4, start + 1.4, start + 2.4]),
        orbs_relay_test("198.18.7.11", home(25), start + 0.6, gap=0.4, count=6, banner_delay=0.05, rtt=0.01),
        ping_then_connect("198.18.7.12", [home(i) for i in range(60, 70)], [home(63)], ports=(80,),
                          start=start + 1.0, retry_gap=0.3),
        [p for i in range(6) for p in sc.http_session(f"203.0.113.{i + 1}", home(80), 40000 + i,
                                                      start + 0.1 + 0.5 * i)],
        [p for i in range(4) for p in sc.dns_query(home(100), "192.0.2.53", 53000 + i, start + 0.7 * i,
                                                   qid=0x4000 + i)],
    ]
    return sc.interleave(*streams)

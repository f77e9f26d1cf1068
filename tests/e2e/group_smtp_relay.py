"""End-to-end group for smtp-relay-probe (seed detect 5, an ORBS relay test).

run(h, check, by, cat): h.pcap(pkts) writes a capture, h.alerts(files, *args)
runs harrier and returns its EVE alerts, check(name, cond, detail) records a
result, by(alerts, id) filters, cat is scripts/pcapgen/catalog.py.
"""
import subprocess
from scapy.packet import Raw

T0 = 1700000000.0
ID = "smtp-relay-probe"


def _ev(a):
    return a["harrier"]["evidence"]


def _split_sessions(cat, src, server, start, tricks, gap, sport_base, rtt=0.03, split=True, banner_delay=0.0):
    """One session per trick, each command cut in two segments inside its address."""
    streams = []
    for i, (mail_from, mail_code, rcpt, rcpt_code) in enumerate(tricks):
        streams.append(cat.smtp_session(src, server, sport_base + 7 * i, start + i * gap, helo="scanner.example.net",
                                        mail_from=mail_from or "<probe@example.net>",
                                        rcpts=[(rcpt, rcpt_code)] if rcpt else [], mail_reply=mail_code, rtt=rtt,
                                        split_cmds=split, banner_delay=banner_delay))
    return cat.interleave(*streams)


def _with_retransmits(pkts):
    """Every client segment carrying a RCPT TO is sent twice (a retransmission)."""
    out = []
    for p in pkts:
        out.append(p)
        if p.haslayer(Raw) and b"RCPT TO" in bytes(p[Raw].load):
            q = p.copy()
            q.time = float(p.time) + 0.0005
            out.append(q)
    out.sort(key=lambda p: float(p.time))
    return out


def run(h, check, by, cat):
    # 1. The seed: ORBS relay tester, 9 sessions 30 s apart, banners 30 s late,
    # sessions overlapping, the tester hanging up without QUIT.
    seed = cat.orbs_relay_test("194.178.232.55", "172.16.14.25", T0)
    a = by(h.alerts(h.pcap(seed), "--home-net", "172.16.14.0/24"), ID)
    check("smtp: seed ORBS relay test, one alert", len(a) == 1, str([x.get("alert", {}).get("signature") for x in a]))
    if a:
        ev = _ev(a[0])
        check("smtp: seed evidence", a[0]["src_ip"] == "194.178.232.55" and a[0]["dest_ip"] == "172.16.14.25" and
              a[0]["dest_port"] == 25 and ev["sessions"] >= 5 and ev["trick_sessions"] >= 5 and
              ev["accepted"] == 0 and set(ev["trick_replies"]) <= {"550", "553"} and ev["trick_replies"] and
              "percent_hack" in ev["tricks"] and ev.get("sample"), str(ev))

    # 2. Variant: other networks, commands cut mid-address (patterns straddle
    # segments), tricks in another order, 5 s apart, MAIL FROM tricks too.
    tricks = list(reversed(cat.relay_tricks("10.77.3.9", victim="target.example.org", home_domain="corp.example",
                                            server_name="smtp.corp.example")))
    v1 = _split_sessions(cat, "203.0.113.40", "10.77.3.9", T0, tricks, 5.0, 40100)
    a = by(h.alerts(h.pcap(v1), "--home-net", "10.77.0.0/16"), ID)
    check("smtp: variant, split segments, alerts", len(a) >= 1 and a[0]["harrier"]["update"] == 0, str(a))
    if a:
        ev = _ev(a[0])
        check("smtp: variant names the tricks", {"unqualified_sender", "relay_test_marker", "quoted_local_part",
                                                  "source_route"} <= set(ev["tricks"]), str(ev["tricks"]))

    # 3. Variant: mostly ordinary sessions, one trick among them, retransmitted
    # RCPT segments (must not count twice), a fast pace.
    plain = [(None, 250, f"<user{i}@corp.example>", 250) for i in range(5)]
    one_trick = plain[:3] + [(None, 250, "<user%elsewhere.example@corp.example>", 550)] + plain[3:]
    v2 = _with_retransmits(_split_sessions(cat, "198.51.100.9", "192.168.50.2", T0, one_trick, 0.7, 50000,
                                           split=False))
    a = by(h.alerts(h.pcap(v2), "--home-net", "192.168.50.0/24"), ID)
    check("smtp: one trick among ordinary sessions alerts", len(a) == 1, str(a))
    if a:
        ev = _ev(a[0])
        check("smtp: retransmitted RCPTs counted once", ev["recipients"] == ev["sessions"] and ev["trick_commands"] == 1
              and ev["trick_replies"] == {"550": 1}, str(ev))

    # 4. A relay that accepts: worse, and said so.
    acc = [(None, 250, "<user%victim.example@home.example>", 250), (None, 250, "<victim.example!user>", 550)] * 3
    v3 = _split_sessions(cat, "198.51.100.77", "10.9.9.9", T0, acc, 3.0, 33000, split=False)
    a = by(h.alerts(h.pcap(v3), "--home-net", "10.9.9.0/24"), ID)
    check("smtp: accepted trick reported", len(a) >= 1 and _ev(a[0])["accepted"] >= 1 and
          "ACCEPTED" in a[0]["alert"]["signature"], str(a[:1]))

    # 5. Lost segments: each session's first command segment never reaches the
    # sensor (a gap), then the rest follows; sessions still count, no crash.
    seen, gappy = set(), []
    for p in v1:
        key = (p.sport, p.dport)
        if p.haslayer(Raw) and p.dport == 25 and key not in seen:
            seen.add(key)
            continue
        gappy.append(p)
    gappy_pcap = h.pcap(gappy)
    a = by(h.alerts(gappy_pcap, "--home-net", "10.77.0.0/16"), ID)
    check("smtp: sessions with a lost segment still alert", len(a) >= 1, str(a[:1]))
    # The detector's own counters reach the end-of-run report (stderr): the
    # lost segments are named there, not only inferred from the alert.
    r = subprocess.run([h.binary, "read", gappy_pcap, "--home-net", "10.77.0.0/16"],
                       capture_output=True, text=True, timeout=300)
    line = next((l for l in r.stderr.splitlines() if l.startswith("harrier: counters: smtp-relay-probe:")), "")
    counts = dict(kv.rsplit(" ", 1) for kv in line.split(": ", 3)[-1].split(", ")) if line else {}
    check("smtp: the end-of-run report names its counters (sessions followed, stream gaps)",
          r.returncode == 0 and int(counts.get("sessions", 0)) >= 1 and int(counts.get("stream_gaps", 0)) >= 1,
          line or r.stderr[-600:])

    # Negatives.
    # N1. One legitimate relay delivering 30 mails in 10 minutes.
    n1 = cat.legit_relay("198.51.100.25", "172.16.14.25", T0, 30, 20.0)
    check("smtp: legit relay, 30 mails, silent", not by(h.alerts(h.pcap(n1), "--home-net", "172.16.14.0/24"), ID))
    # N2. Only 4 sessions, all with tricks.
    n2 = cat.orbs_relay_test("194.178.232.55", "172.16.14.25", T0, count=4)
    check("smtp: 4 trick sessions, silent", not by(h.alerts(h.pcap(n2), "--home-net", "172.16.14.0/24"), ID))
    # N3. 8 ordinary sessions, several recipients each, whose message bodies
    # quote relay tricks on command-like lines (a bounce, a tutorial).
    body = ("Subject: how relay tests look\r\n\r\nRCPT TO:<user%victim.example@home.example>\r\n"
            "MAIL FROM:<orbs-relaytest@victim.example>\r\nRCPT TO:<@relay.example:user@victim.example>\r\n"
            ".leading dot line\r\n")
    streams = [cat.smtp_session("198.51.100.30", "172.16.14.25", 45000 + i, T0 + 15 * i,
                                mail_from=f"<sender{i}@partner.example>",
                                rcpts=[("<alice@home.example>", 250), ("<bob@home.example>", 250)], data=body,
                                split_cmds=bool(i % 2))
               for i in range(8)]
    n3 = cat.interleave(*streams)
    check("smtp: ordinary sessions with tricks in bodies, silent",
          not by(h.alerts(h.pcap(n3), "--home-net", "172.16.14.0/24"), ID))
    # N4. Five trick sessions spread over 20 minutes (outside the 10 min window).
    n4 = cat.orbs_relay_test("194.178.232.55", "172.16.14.25", T0, gap=300.0, count=5)
    check("smtp: slow trick sessions (300 s apart), silent",
          not by(h.alerts(h.pcap(n4), "--home-net", "172.16.14.0/24"), ID))
    # N5. The same probe toward a host outside the home network.
    check("smtp: probe of a non-home server, silent",
          not by(h.alerts(h.pcap(seed), "--home-net", "10.0.0.0/8"), ID))

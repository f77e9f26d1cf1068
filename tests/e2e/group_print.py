"""`--print` (issue 4): harrier's classic tcpdump lines agree with the
tcpdump on this machine for every field both show (time, endpoints, TCP
flags, sequence and ack numbers, window, urgent pointer, options, UDP
length, ICMP description, the bytes of -x, DF), on the seed-style and the
real-tool captures; and the seed's own layouts come out as the seed shows
them."""
import glob
import os
import re
import subprocess

TIME = r"(\d\d:\d\d:\d\d\.\d{6})"
MODERN = re.compile(TIME + r" (IP6?|ARP,) (.*)$")
OURS = re.compile(TIME + r" (.*)$")
HEX = re.compile(r"^\s*0x([0-9a-f]{4}):?\s+((?:[0-9a-f]{2,4} ?)+)")


def split_endpoint(s):
    s = s.rstrip(":")
    if ":" in s:  # IPv6: a port follows the last '.'
        addr, _, port = s.rpartition(".")
        return (addr, port) if addr else (s, None)
    parts = s.split(".")
    return (".".join(parts[:4]), parts[4]) if len(parts) == 5 else (s, None)


def records(lines, modern):
    out = []
    for line in lines:
        m = (MODERN if modern else OURS).match(line)
        if m:
            out.append({"time": m.group(1), "kind": m.group(2) if modern else None,
                        "text": m.group(3) if modern else m.group(2), "hex": ""})
            continue
        h = HEX.match(line)
        if h and out:
            out[-1]["hex"] += h.group(2).replace(" ", "")
        elif out and line.startswith(">>> "):
            out[-1]["text"] += " " + line
    return out


def fields(rec, modern):
    """The fields a record shows, as comparable values."""
    f = {"time": rec["time"]}
    text = rec["text"]
    if modern and rec["kind"] == "ARP,":
        f["arp"] = True
        return f
    head, sep, body = text.partition(": ")
    if not sep:
        head, body = text.rstrip(":"), ""
    if " > " not in head:
        return f
    src, dst = head.split(" > ", 1)
    f["src"], f["sport"] = split_endpoint(src)
    f["dst"], f["dport"] = split_endpoint(dst)
    if modern:
        m = re.match(r"Flags \[([^\]]*)\](.*)", body)
        if m:
            f["flags"] = "".join(sorted(c for c in m.group(1) if c in "SFRPEW")) if m.group(1) != "none" else ""
            rest = m.group(2)
            for key, pat in [("seq", r"seq (\d+)"), ("ack", r"ack (\d+)"), ("win", r"win (\d+)"),
                             ("urg", r"urg (\d+)"), ("len", r"length (\d+)")]:
                mm = re.search(r", " + pat, rest)
                if mm:
                    f[key] = int(mm.group(1))
            mm = re.search(r"options \[([^\]]*)\]", rest)
            if mm:
                opts = re.sub(r"TS val (\d+) ecr (\d+)", r"timestamp \1 \2", mm.group(1))
                if "unknown" not in opts:
                    f["opts"] = opts
        m = re.match(r"UDP, length (\d+)", body)
        if m:
            f["udp"] = int(m.group(1))
        m = re.match(r"ICMP6?,? (.*?)(?:, id \d+.*|, length \d+.*)?$", body)
        if m and body.startswith("ICMP"):
            f["icmp"] = m.group(1)
    else:
        m = re.match(r"([SFRPWE]+|\.)( (\d+):(\d+)\((\d+)\))?( ack (\d+))? win (\d+)( urg (\d+))?( <([^>]*)>)?", body)
        if m:
            f["flags"] = "".join(sorted(m.group(1).replace(".", "")))
            if m.group(2):
                f["seq"], f["len"] = int(m.group(3)), int(m.group(5))
            if m.group(6):
                f["ack"] = int(m.group(7))
            f["win"] = int(m.group(8))
            if m.group(9):
                f["urg"] = int(m.group(10))
            if m.group(11):
                f["opts"] = m.group(12)
        if ">>> NBT UDP PACKET" in body:
            f["nbt"] = body.split(">>> ", 1)[1]
        m = re.match(r"udp (\d+)", body)
        if m:
            f["udp"] = int(m.group(1))
        m = re.match(r"icmp6?: (.*?)( \(DF\)| \[tos| \[ttl|$)", body)
        if m:
            f["icmp"] = m.group(1)
        f["df"] = "(DF)" in body
    return f


def compare(ours, theirs):
    """Differences in the fields both show."""
    diffs = []
    for k, v in theirs.items():
        if k == "len" and "seq" not in ours:
            continue  # tcpdump prints a length on every segment; classic only with data or SYN/FIN/RST
        if k == "arp" or (k == "udp" and "nbt" in ours):
            continue  # tcpdump without -v leaves NBNS undecoded: the two show different things
        if k in ours and ours[k] != v:
            diffs.append(f"{k}: ours {ours[k]!r} tcpdump {v!r}")
        elif k not in ours and k in ("src", "dst", "sport", "dport", "flags", "seq", "ack", "win", "udp", "icmp", "opts"):
            diffs.append(f"{k}: missing (tcpdump {v!r})")
    return diffs


def run(h, check, by, cat):
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    files = [os.path.join(root, "tests", "pcaps", "sample.pcap")] + sorted(
        glob.glob(os.path.join(root, "tests", "pcaps", "tools", "*.pcap")))
    env = dict(os.environ, TZ="UTC")
    for path in files:
        name = os.path.basename(path)
        t = subprocess.run(["tcpdump", "-n", "-X", "-r", path], capture_output=True, text=True, env=env)
        o = subprocess.run([h.binary, "read", path, "--print", "-n", "-x", "--quiet"],
                           capture_output=True, text=True, env=env)
        theirs = records(t.stdout.splitlines(), True)
        ours = records(o.stdout.splitlines(), False)
        problems = []
        if o.returncode != 0 or len(ours) != len(theirs):
            problems.append(f"rc={o.returncode} {len(ours)} lines vs tcpdump's {len(theirs)} {o.stderr[-200:]}")
        compared = 0
        for i, (a, b) in enumerate(zip(ours, theirs)):
            fa, fb = fields(a, False), fields(b, True)
            d = compare(fa, fb)
            # On a decoder's truncation mark tcpdump dumps the link header too.
            if a["hex"] != b["hex"] and not ("[|" in b["text"] and b["hex"].endswith(a["hex"])):
                d.append("hex dump differs")
            elif b["hex"] and len(b["hex"]) >= 16 and b["hex"][0] == "4":
                df = bool(int(b["hex"][12:14], 16) & 0x40)
                if df != fa.get("df"):
                    d.append(f"DF ours {fa.get('df')} in the header {df}")
            if d:
                problems.append(f"packet {i + 1}: {'; '.join(d)}\n  ours:    {a['text']}\n  tcpdump: {b['text']}")
            compared += len(fb)
        check(f"print: {name}: {len(ours)} packets agree with tcpdump on every shared field ({compared} fields)",
              not problems and len(ours) > 0, "\n".join(problems[:5]))

    # The seed's layouts, from packets built like its detects (other addresses).
    from scapy.all import Ether, IP, UDP, TCP, ICMP, Raw, wrpcap
    E = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    pk = [E / IP(src="208.61.141.146", dst="10.9.8.7") / UDP(sport=137, dport=137) /
          Raw(bytes.fromhex("0001 0110 0001 0000 0000 0000") + b"\x20CKAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\x00"
              + bytes.fromhex("0021 0001")),
          E / IP(src="207.8.127.169", dst="10.9.8.7") / UDP(sport=1023, dport=111) / Raw(b"\0" * 84),
          E / IP(src="131.215.103.94", dst="10.9.8.7", flags="DF") /
          TCP(sport=1189, dport=79, flags="S", seq=784278959, window=32120,
              options=[("MSS", 1460), ("SAckOK", b""), ("Timestamp", (418650, 0)), ("NOP", None), ("WScale", 0)]),
          E / IP(src="63.253.248.251", dst="10.9.8.7") / ICMP(type=8),
          E / IP(src="24.0.0.1", dst="10.9.8.7") / ICMP(type=3, code=1) / IP(src="10.9.8.7", dst="24.5.6.7") / UDP(sport=1, dport=2),
          E / IP(src="24.0.0.1", dst="10.9.8.7") / ICMP(type=11, code=0) / IP(src="10.9.8.7", dst="24.5.6.7") / UDP(sport=1, dport=2),
          E / IP(src="216.223.94.152", dst="10.9.8.7", id=0x10ed, ttl=110) / UDP(sport=3272, dport=12345) / Raw(b"x" * 11)]
    for i, p in enumerate(pk):
        p.time = 964109260.894521 + i
    seed = os.path.join(h.tmp, "seed_layouts.pcap")
    wrpcap(seed, pk)
    o = subprocess.run([h.binary, "read", seed, "--print", "--quiet"], capture_output=True, text=True, env=env)
    want = [
        "16:07:40.894521 208.61.141.146.netbios-ns > 10.9.8.7.netbios-ns:",
        ">>> NBT UDP PACKET(137): QUERY; REQUEST; BROADCAST",
        "16:07:41.894521 207.8.127.169.1023 > 10.9.8.7.sunrpc: udp 84",
        "16:07:42.894521 131.215.103.94.1189 > 10.9.8.7.finger: S 784278959:784278959(0) win 32120 "
        "<mss 1460,sackOK,timestamp 418650 0,nop,wscale 0> (DF)",
        "16:07:43.894521 63.253.248.251 > 10.9.8.7: icmp: echo request",
        "16:07:44.894521 24.0.0.1 > 10.9.8.7: icmp: host 24.5.6.7 unreachable",
        "16:07:45.894521 24.0.0.1 > 10.9.8.7: icmp: time exceeded in-transit",
        "16:07:46.894521 216.223.94.152.3272 > 10.9.8.7.12345: udp 11",
    ]
    got = o.stdout.splitlines()
    check("print: the seed's layouts (NBT query, udp length, SYN with options and DF, ICMP texts)",
          got == want, "\n".join(f"got  {g}\nwant {w}" for g, w in zip(got, want) if g != w) or str(got))
    o = subprocess.run([h.binary, "read", seed, "--print", "-x", "--filter", "udp port 12345", "--quiet"],
                       capture_output=True, text=True, env=env)
    got = o.stdout.splitlines()
    check("print: -x dumps the bytes from the IP header in the seed's detect 3 layout",
          len(got) == 4 and got[1].startswith("0x0000  4500 0027 10ed 0000 6e11 ")
          and got[3].startswith("0x0020  7878 7878 7878 78") and got[3].endswith("xxxxxxx"), o.stdout)
    o = subprocess.run([h.binary, "read", seed, "-x"], capture_output=True, text=True)
    check("print: -x without --print is refused", o.returncode == 2 and "give --print too" in o.stderr, o.stderr)
    o = subprocess.run([h.binary, "read", seed, "--print", "--eve", "-"], capture_output=True, text=True)
    check("print: --print with --eve - (both on stdout) is refused", o.returncode == 2 and
          "send the alerts to a file" in o.stderr and o.stdout == "", o.stderr)

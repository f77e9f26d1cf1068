"""The lab: `harrier run` on a net_memif server port, driven by `harrier
replay` on the client side, as scripts/lab does (issue 5).

- A capture replayed at its recorded timing raises the alerts `harrier read`
  raises on the file, while `harrierctl reload` runs ten times under the
  traffic (one of them with a broken file, which must change nothing).
- A detector switched off raises nothing; `alerts tail` shows the latest.
- After an overload (replay as fast as the link takes it) the counters add
  up: everything offered was either refused by the full link or received,
  and everything received was analysed.
- SIGTERM flushes: every alert counted is in the EVE file.
"""
import json
import os
import re
import select
import shutil
import signal
import subprocess
import threading
import time


def _config(h, name, socks, extra="", telemetry=False, outputs=""):
    path = os.path.join(h.tmp, name + ".yaml")
    ports = "".join(f'    - device: "net_memif{i},role=server,socket={s},socket-abstract=no"\n'
                    for i, s in enumerate(socks))
    with open(path, "w") as f:
        f.write(f"""dataplane:
  eal_args: ["--no-huge", "--no-shconf", "--no-pci", "-m", "1024", {'' if telemetry else '"--no-telemetry",'}
             "--file-prefix", "harrier-{name}-{os.getpid()}"]
  ports:
{ports}  workers: 2
  pdump: false
home_networks: [10.1.0.0/24]
outputs:
  summary: false
  eve: {os.path.join(h.tmp, name + ".eve")}
{outputs}control:
  socket: {os.path.join(h.tmp, name + ".ctl")}
{extra}""")
    return path


class Live:
    """harrier run with `ports` memif server ports. Each replay gets a port
    of its own and holds its link until harrier stops: DPDK 22.11's memif
    unmaps the shared memory on a disconnect without waiting for the
    receiver's polling thread, so the receiver ends every session."""

    def __init__(self, h, name, extra="", telemetry=False, ports=1, start=True, outputs=""):
        self.h, self.name = h, name
        self.prefix = f"harrier-{name}-{os.getpid()}"
        self.memifs = [os.path.join(h.tmp, f"{name}{i}.memif") for i in range(ports)]
        self.cfg = _config(h, name, self.memifs, extra, telemetry, outputs)
        self.ctl = os.path.join(h.tmp, name + ".ctl")
        self.eve = os.path.join(h.tmp, name + ".eve")
        self.replays = []
        if start:
            self.start()

    def start(self):
        """harrier run; returns once its control socket answers."""
        self.proc = subprocess.Popen([self.h.binary, "run", "--config", self.cfg], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 30
        while time.time() < deadline and self.proc.poll() is None:
            if self.ask("status").get("ok"):
                break
            time.sleep(0.2)

    def ask(self, *args):
        ctl = os.path.join(os.path.dirname(self.h.binary), "harrierctl")
        r = subprocess.run([ctl, "--socket", self.ctl, "--json", *args], capture_output=True, text=True,
                           timeout=30)
        try:
            return json.loads(r.stdout)
        except ValueError:
            return {"ok": False, "error": f"rc={r.returncode} {r.stderr} {r.stdout[:300]}"}

    def tail(self, n):
        """harrierctl --json alerts tail: one EVE record per line."""
        ctl = os.path.join(os.path.dirname(self.h.binary), "harrierctl")
        r = subprocess.run([ctl, "--socket", self.ctl, "--json", "alerts", "tail", "-n", str(n)],
                           capture_output=True, text=True, timeout=30)
        return r.returncode, [json.loads(l) for l in r.stdout.splitlines() if l.strip()]

    def replay(self, pcap, *args, port=0):
        """Starts `harrier replay --hold` on memif port `port`; its report
        comes once harrier has stopped (reports())."""
        p = subprocess.Popen([self.h.binary, "replay", pcap, "--port",
                              f"net_memif{port},role=client,socket={self.memifs[port]},socket-abstract=no",
                              "--json", "--hold", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        self.replays.append(p)
        return p

    def settle(self, want=None, timeout=60):
        """Waits until `want` packets were analysed (or, without `want`,
        until the count stops moving) and none is in flight."""
        deadline, s, last = time.time() + timeout, {}, -1
        while time.time() < deadline:
            s = self.ask("stats")
            # Settled also means no incident's first alert still waits for
            # its lookahead (heartbeats move packet time on a quiet link).
            if s.get("ok") and s["analysed"]["in_flight"] == 0 and s["alerts"]["incidents"]["held"] == 0:
                n = s["analysed"]["packets"]
                if (want is not None and n >= want) or (want is None and n == last):
                    return s
                last = n
            time.sleep(0.2 if want is not None else 1.0)
        return s

    def stop(self):
        """SIGTERM; the exit status and the alert count harrier reports last.
        The replays then see their links go down and report."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            out, err = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            # A hang on the way out: every thread's stack, for the report,
            # then the process goes.
            stacks = subprocess.run(["gdb", "-p", str(self.proc.pid), "-batch", "-ex",
                                     "thread apply all bt 25"], capture_output=True, text=True,
                                    timeout=120).stdout if shutil.which("gdb") else "(no gdb)"
            self.proc.kill()
            out, err = self.proc.communicate(timeout=60)
            err += "\nHUNG on SIGTERM for 60 s; threads:\n" + stacks[-6000:]
            return -999, -1, err
        m = re.findall(r"connection outcomes, (\d+) alerts", err)
        return self.proc.returncode, int(m[-1]) if m else -1, err

    def reports(self):
        """Each replay's report; a replay that failed or died by a signal
        says which, never an empty error."""
        out = []
        for p in self.replays:
            o, e = p.communicate(timeout=30)
            o = getattr(p, "first_line", "") + o
            try:
                r = json.loads(o.splitlines()[0])
            except (ValueError, IndexError):
                r = {"error": e[-300:]}
            if p.returncode != 0:
                r["rc"] = p.returncode
                r["error"] = (f"died of {signal.Signals(-p.returncode).name} " if p.returncode < 0
                              else f"exit status {p.returncode} ") + e[-300:]
            out.append(r)
        return out

    def sent(self, p, timeout=60):
        """Waits until replay `p` has sent everything (its report comes then,
        before it holds the link) and returns the report."""
        ready, _, _ = select.select([p.stdout], [], [], timeout)
        line = p.stdout.readline() if ready else ""
        p.first_line = line
        return json.loads(line) if line.strip() else None

    def alerts(self):
        with open(self.eve) as f:
            return [a for a in (json.loads(l) for l in f if l.strip()) if a["event_type"] == "alert"]


def _comparable(alerts):
    """Who raised what against whom, with the durations masked: live, the
    link's timing differs from the file's by scheduling jitter."""
    return sorted((a["detector"], a["src_ip"], a["dest_ip"],
                   re.sub(r"\d+(\.\d+)? (s|ms|min)\b", "T", a["alert"]["signature"])) for a in alerts)


def run(h, check, by, cat):
    pkts = cat.lab_mix(start=1700000000.0)
    pcap = h.pcap(pkts, "lab.pcap")
    expected = h.alerts([pcap], "--home-net", "10.1.0.0/24")
    check("lab: the capture raises alerts of most detectors when read",
          len({a["detector"] for a in expected}) >= 12, str(sorted({a["detector"] for a in expected})))

    # 1. Recorded timing, with ten reloads under traffic.
    live = Live(h, "lab1")
    replies, stop_reloads = [], threading.Event()

    with open(live.cfg) as f:
        base = f.read()

    def reloads():
        # Each good reload changes a threshold the capture does not reach
        # (slow-scan's min_ports, 50 <-> 51), so each must report it.
        goods = 0
        for i in range(10):
            if stop_reloads.is_set():
                break
            if i == 4:
                # A broken file: refused, and nothing changes.
                with open(live.cfg, "w") as f:
                    f.write(base + "detectors: {horizontal-scan: {fast_hosts: 0}}\n")
                replies.append(("broken", live.ask("reload")))
            else:
                with open(live.cfg, "w") as f:
                    f.write(base + ("detectors: {slow-scan: {min_ports: 51}}\n" if goods % 2 == 0 else ""))
                replies.append(("good", live.ask("reload")))
                goods += 1
            time.sleep(0.3)

    t = threading.Thread(target=reloads)
    t.start()
    live.replay(pcap, "--lossless")
    stats = live.settle(len(pkts))
    stop_reloads.set()
    t.join()
    rc, final, err = live.stop()
    sent = live.reports()[0]
    good = [r for k, r in replies if k == "good"]
    broken = [r for k, r in replies if k == "broken"]
    check("lab: replay sent every packet of the capture",
          sent.get("sent") == len(pkts) and sent.get("refused") == 0, str(sent))
    check("lab: ten reloads under traffic: nine took effect, in order",
          len(good) == 9 and all(r.get("ok") and r.get("in_effect") for r in good)
          and [r["generation"] for r in good] == sorted(r["generation"] for r in good)
          and all(r["changes"] == [f"detectors.slow-scan.min_ports: {a} -> {b}"]
                  for r, (a, b) in zip(good, [(50, 51), (51, 50)] * 5)),
          str(replies)[:600])
    check("lab: the broken reload was refused with the file, line and key, and changed nothing",
          len(broken) == 1 and not broken[0].get("ok") and "fast_hosts" in broken[0].get("error", "")
          and "nothing was changed" in broken[0].get("error", ""), str(broken))
    check("lab: every packet received was analysed (none lost to a reload)",
          stats.get("ok") and stats["received"]["packets"] == len(pkts)
          and stats["analysed"]["packets"] == len(pkts), json.dumps(stats)[:400])
    got = live.alerts()
    check(f"lab: live alerts equal harrier read's ({len(expected)})",
          _comparable(got) == _comparable(expected),
          f"live-only {sorted(set(_comparable(got)) - set(_comparable(expected)))[:4]} "
          f"read-only {sorted(set(_comparable(expected)) - set(_comparable(got)))[:4]}")
    check("lab: SIGTERM flushed every alert harrier counted and exited 0",
          rc == 0 and len(got) == final, f"rc={rc} eve={len(got)} counted={final} {err[-300:]}")

    # 2. Switches, the alert tail, and an overload: one memif port per replay.
    live = Live(h, "lab2", ports=3)
    off = live.ask("detectors", "disable", "horizontal-scan")
    live.replay(pcap, "--lossless", "--pps", "5000", port=0)
    s1 = live.settle(len(pkts))
    tail_rc, tail = live.tail(5)
    on = live.ask("detectors", "enable", "horizontal-scan")
    listing = live.ask("detectors")
    # A scan from a source not seen before (the lab capture's flows exist now).
    import scenarios as sc
    scan_pkts = sc.horizontal_scan("198.18.9.1", [f"10.1.0.{i}" for i in range(100, 108)], 3389,
                                   1700000100.0, 0.01)
    scan = h.pcap(scan_pkts, "scan.pcap")
    ctl = os.path.join(os.path.dirname(h.binary), "harrierctl")
    follower = subprocess.Popen([ctl, "--socket", live.ctl, "--json", "alerts", "tail", "-n", "1", "--follow"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    live.replay(scan, "--lossless", port=1)
    s_on = live.settle(len(pkts) + len(scan_pkts))
    # Unanswered attempts count once the flow table's answer_grace (3 s) has passed: the
    # heartbeat moves packet time on the quiet link.
    deadline = time.time() + 20
    while time.time() < deadline and s_on.get("ok") and s_on["alerts"]["by_detector"]["horizontal-scan"] == 0:
        time.sleep(0.5)
        s_on = live.ask("stats")
    time.sleep(0.6)
    follower.send_signal(signal.SIGINT)
    followed_out, followed_err = follower.communicate(timeout=10)
    followed = [json.loads(l) for l in followed_out.splitlines() if l.strip()]
    live.replay(pcap, "--topspeed", "--loop", "2000", port=2)
    # The replay's own start (EAL, the memif session) can take seconds on a
    # loaded machine: settle once its packets arrive, not before.
    deadline = time.time() + 60
    while time.time() < deadline:
        s = live.ask("stats")
        if s.get("ok") and len(s["ports"]) > 2 and s["ports"][2]["queues"][0]["packets"] > 0:
            break
        time.sleep(0.2)
    time.sleep(1)
    s2 = live.settle()
    rc, final, err = live.stop()
    sent1, sent_scan, sent2 = live.reports()
    got = live.alerts()
    check("lab: a detector switched off raises nothing while off",
          off.get("ok") and off.get("in_effect") and
          not [a for a in got[:s1["alerts"]["emitted"]] if a["detector"] == "horizontal-scan"]
          and s1["alerts"]["by_detector"]["horizontal-scan"] == 0 and s1["alerts"]["emitted"] > 10,
          f"{off} {s1.get('alerts')}")
    check("lab: and raises again once switched on",
          on.get("ok") and s_on["alerts"]["by_detector"]["horizontal-scan"] > 0
          and any(d["id"] == "horizontal-scan" and d["enabled"] for d in listing.get("detectors", [])),
          f"{on} {s_on.get('alerts')}")
    first = got[:s1["alerts"]["emitted"]]
    # Alerts decided by a deadline may come between two readings, so the
    # tails are checked as runs of the EVE file from where stats stood.
    def run_at(run, not_before):
        return next((i for i in range(max(0, not_before), len(got) - len(run) + 1)
                     if got[i:i + len(run)] == run), None) if run else None

    at = run_at(tail, len(first) - 5)
    check("lab: alerts tail -n 5 gives the latest five alerts, oldest first",
          tail_rc == 0 and len(tail) == 5 and at is not None, json.dumps(tail)[:300])
    at = run_at(followed, s1["alerts"]["emitted"] - 1)
    check("lab: alerts tail --follow prints the latest, then each new alert once, until interrupted",
          follower.returncode == 0 and at is not None and len(followed) >= 2
          and any(a["detector"] == "horizontal-scan" for a in followed),
          f"rc={follower.returncode} {len(followed)} {followed_err[-200:]}")
    offered = len(pkts) * 2000
    received, analysed = s2["received"]["packets"], s2["analysed"]["packets"]
    drops = s2["drops"]
    nic = drops["nic_imissed"] + drops["nic_rx_nombuf"] + drops["nic_ierrors"]
    check("lab: after an overload, offered = refused by the full link + sent",
          sent2.get("sent", 0) + sent2.get("refused", 0) == offered and sent2.get("sent", 0) > 0,
          str(sent2))
    check("lab: received = sent (+ NIC drops) = analysed + in flight (0), by port and queue",
          received == sent1["sent"] + sent_scan["sent"] + sent2["sent"] - nic and analysed == received
          and s2["analysed"]["in_flight"] == 0
          and [p["queues"][0]["packets"] for p in s2["ports"]] == [sent1["sent"], sent_scan["sent"], sent2["sent"]],
          f"sent {sent1.get('sent')}+{sent_scan.get('sent')}+{sent2.get('sent')} received {received} analysed {analysed} drops {drops}")
    check("lab: rates and back-pressure are reported",
          all(k in s2["received"] for k in ("pps", "bps")) and "rx_waits" in s2["back_pressure"]
          and all("pps" in w for w in s2["workers"]), json.dumps(s2)[:300])
    check("lab: SIGTERM after the overload flushes every alert",
          rc == 0 and len(got) == final >= s2["alerts"]["emitted"],
          f"rc={rc} eve={len(got)} counted={final} {s2['alerts']} {err[-200:]}")


def start_order(h, check, by, cat):
    """A replay started before its server waits for it (the memif client's
    connect is retried until --link-timeout); one whose server never comes
    says at the timeout what is missing."""
    pkts = cat.lab_mix(start=1700000000.0)
    pcap = h.pcap(pkts, "order.pcap")
    sock = os.path.join(h.tmp, "nobody.memif")
    t0 = time.time()
    r = subprocess.run([h.binary, "replay", pcap, "--port",
                        f"net_memif0,role=client,socket={sock},socket-abstract=no", "--link-timeout", "2"],
                       capture_output=True, text=True, timeout=60)
    check("lab: a replay whose memif server never comes fails at --link-timeout, naming the missing socket",
          r.returncode == 1 and f"the socket {sock} does not exist" in r.stderr and "2 s" in r.stderr
          and time.time() - t0 >= 2, f"rc={r.returncode} {r.stderr[-300:]!r}")

    live = Live(h, "order", start=False)
    p = live.replay(pcap, "--lossless", "--link-timeout", "60")
    time.sleep(1.5)
    early = p.poll()
    live.start()
    report = live.sent(p)
    live.settle(want=len(pkts), timeout=30)
    rc, _, err = live.stop()
    rep = live.reports()[0]
    check("lab: a replay started before harrier run connects once harrier listens, and sends everything",
          early is None and rc == 0 and report and report.get("sent") == len(pkts) and "error" not in rep,
          f"early={early} rc={rc} report={report} {rep} {err[-200:]!r}")


def sessions(h, check, by, cat, n=20):
    """The memif session end, both sides, n times in a row: each session a
    fresh harrier run (server) and harrier replay (client) that sends a
    capture, waits for its packets to be analysed, and ends from the
    receiver's side. DPDK 22.11 crashed one side or the other in about half
    of such endings before close_port and eal_stop were serialised with its
    interrupt thread."""
    pkts = cat.lab_mix(start=1700000000.0)
    pcap = h.pcap(pkts, "sessions.pcap")
    failures = []
    for i in range(n):
        live = Live(h, f"sess{i}")
        p = live.replay(pcap, "--topspeed")
        report = live.sent(p)
        live.settle(want=report["sent"] if report else None, timeout=30)
        rc, _, err = live.stop()
        rep = live.reports()[0]
        if rc != 0 or "error" in rep or not report or rep.get("sent") != len(pkts):
            failures.append(f"session {i}: run rc={rc} "
                            f"{(err[err.find('HUNG'):] if 'HUNG' in err else err[-200:])!r} "
                            f"replay {str(rep)[:300]}")
    check(f"lab: {n} memif sessions in a row end cleanly on both sides",
          not failures, "; ".join(failures[:3])[:8000] + f" ({len(failures)} of {n} failed)")

"""Cross-sensor correlation on Redis Streams (issue 14), against a real
redis-server this group starts on a UNIX socket and stops afterwards.

Three sensors (`harrier read` with correlation.sensor set) each see a third
of two activities, split by destination: a slow vertical scan (60 ports of
one host, one every 40 s: 20 per sensor, below slow-scan's 50) and a slow
sweep of tcp/1433 (24 hosts, one every 10 minutes: 8 per sensor, below
horizontal-scan's 20). Ordinary web sessions run beside them.

- no sensor alerts on its own; `harrier correlate --drain` raises each
  incident once, naming all three sensors and what each saw;
- the same, with the sensors' three captures published concurrently and
  events of other partitions interleaved;
- a correlator killed (SIGKILL) between two halves of the input leaves its
  entries pending; the next one claims them (XAUTOCLAIM), rebuilds the
  incidents in progress (hold), does not write again what was written, and
  raises the rest: across both, each incident once, nothing pending;
- entries that are not harrier's are refused and counted, not fatal; a
  sensor whose Redis is absent writes its own alerts and exits 1 naming the
  host events it could not publish; a running correlator's counters are on
  its Prometheus endpoint; with requirepass, everyone authenticates and a
  wrong password is named;
- two correlators alive share the partitions (two each) and raise each
  incident once between them;
- the same sensors and correlator on a Redis Cluster of three nodes (three
  redis-server --cluster-enabled yes on loopback ports, joined with
  redis-cli --cluster create): the partitions' streams spread over the
  nodes, and the incidents are the same.
"""
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import time
import urllib.request

import scenarios as sc
from scapy.utils import wrpcap

from group_redis import Redis

T0 = 1700000000.0
SCANNER = "198.51.100.77"
SCANNED = "172.16.20.5"
SWEEPER = "203.0.113.45"
SENSORS = ["edge-a", "edge-b", "edge-c"]


def _activities(cat, t0, ports, hosts, scan_start=0.0, sweep_gap=600.0):
    """Per sensor i: its third of the scan's ports and of the sweep's hosts
    (the scan one port every 40 s from t0 + scan_start, the sweep one host
    every sweep_gap seconds from t0)."""
    parts = [[] for _ in SENSORS]
    for i, port in enumerate(ports):
        parts[i % 3] += cat.vertical_scan(SCANNER, SCANNED, [port], t0 + scan_start + 40.0 * i,
                                          0.001, sport=41000 + i)
    for i, host in enumerate(hosts):
        parts[i % 3] += cat.slow_sweep(SWEEPER, [host], 1433, t0 + sweep_gap * i + 7, 1.0,
                                       sport=52000 + i)
    for s in range(3):
        parts[s] += [p for k in range(6) for p in
                     sc.http_session(f"198.51.100.{30 + s}", f"172.16.30.{10 + s}", 40000 + k,
                                     t0 + 900.0 * k + 3 * s)]
    return parts


def _write(h, name, pkts):
    path = os.path.join(h.tmp, name + ".pcap")
    wrpcap(path, sorted(pkts, key=lambda p: float(p.time)))
    return path


def _config(h, name, body):
    path = os.path.join(h.tmp, name + ".yaml")
    with open(path, "w") as f:
        f.write(body)
    return path


def _where(redis):
    return f"socket: {redis.sock}" if isinstance(redis, Redis) else f"port: {redis.port}"


def _sensor(h, redis, name, sensor, pcap, key="harrier:events"):
    cfg = _config(h, name, f"""correlation:
  {_where(redis)}
  key: {key}
  partitions: 4
  sensor: {sensor}
""")
    eve = os.path.join(h.tmp, name + ".eve")
    return subprocess.Popen([h.binary, "read", pcap, "--config", cfg, "--eve", eve],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True), eve


def _correlator_config(h, name, redis, key="harrier:events", extra=""):
    return _config(h, name, f"""correlation:
  {_where(redis)}
  key: {key}
  partitions: 4
  sensors: [{", ".join(SENSORS)}]
  lateness: 86400
  hold: 86400
  lease: 2
{extra}""")


def _alerts(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def _first(alerts, detector, src):
    return [a for a in alerts if a["event_type"] == "alert" and a["detector"] == detector
            and a["src_ip"] == src and a["harrier"]["update"] == 0]


def _sensors_of(alert):
    return {p["sensor"]: p for p in alert["harrier"].get("sensors", [])}


def _pending(redis, key):
    n = 0
    for p in range(4):
        out = redis.cli("XPENDING", f"{key}:{{{p}}}", "harrier-correlate").split("\n")
        n += int(out[0]) if out and out[0].strip().isdigit() else 0
    return n


def _counter(stderr, name):
    for line in stderr.splitlines():
        if line.startswith("harrier: counters: correlate:"):
            for item in line.split(":", 2)[2].split(","):
                k, _, v = item.strip().rpartition(" ")
                if k == name:
                    return int(v)
    return 0


class Cluster:
    """Three redis-server --cluster-enabled yes on loopback ports, joined by
    redis-cli --cluster create (no replicas), in the test's folder."""

    def __init__(self, h):
        self.dir = os.path.join(h.tmp, "cluster")
        self.procs = []
        self.ports = []

    @staticmethod
    def _free(port):
        for p in (port, port + 10000):  # the cluster bus is port + 10000
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    return False
        return True

    def start(self):
        rng = random.Random(os.getpid())
        while len(self.ports) < 3:
            p = rng.randrange(20000, 29000)
            if p not in self.ports and self._free(p):
                self.ports.append(p)
        for p in self.ports:
            d = os.path.join(self.dir, str(p))
            os.makedirs(d)
            self.procs.append(subprocess.Popen(
                ["redis-server", "--port", str(p), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                 "--cluster-config-file", os.path.join(d, "nodes.conf"), "--dir", d, "--save", "",
                 "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.time() + 10
        while time.time() < deadline and not all(self.cli(p, "PING").strip() == "PONG" for p in self.ports):
            time.sleep(0.1)
        r = subprocess.run(["redis-cli", "--cluster", "create"] + [f"127.0.0.1:{p}" for p in self.ports] +
                           ["--cluster-replicas", "0", "--cluster-yes"], capture_output=True, text=True,
                           timeout=60)
        deadline = time.time() + 30
        while time.time() < deadline and "cluster_state:ok" not in self.cli(self.ports[0], "CLUSTER", "INFO"):
            time.sleep(0.2)
        return r.returncode == 0 and "cluster_state:ok" in self.cli(self.ports[0], "CLUSTER", "INFO"), r.stdout[-400:] + r.stderr[-400:]

    @property
    def port(self):
        return self.ports[0]

    def cli(self, port, *args):
        return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True,
                              timeout=30).stdout

    def pending(self, key):
        n = 0
        for p in range(4):
            out = subprocess.run(["redis-cli", "-c", "-p", str(self.port), "XPENDING", f"{key}:{{{p}}}",
                                  "harrier-correlate"], capture_output=True, text=True, timeout=30).stdout
            first = out.split("\n")[0].strip()
            n += int(first) if first.isdigit() else 1000
        return n

    def keys_per_node(self, pattern):
        return {p: len([k for k in self.cli(p, "KEYS", pattern).splitlines() if k]) for p in self.ports}

    def stop(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


def run(h, check, by, cat):
    redis = Redis(h, "correlate").start()
    try:
        _split_activities(h, check, cat, redis)
        _takeover(h, check, cat, redis)
        _two_correlators(h, check, cat, redis)
        _hostile_entries(h, check, redis)
        _redis_absent(h, check)
        _with_password(h, check, cat)
    finally:
        redis.stop()
    cluster = Cluster(h)
    try:
        ok, why = cluster.start()
        check("correlate: a Redis Cluster of three nodes (redis-cli --cluster create)", ok, why)
        if ok:
            _on_cluster(h, check, cat, cluster)
    finally:
        cluster.stop()


def _on_cluster(h, check, cat, cluster):
    ports = list(range(6000, 6060))
    hosts = [f"172.16.23.{i + 1}" for i in range(24)]
    parts = _activities(cat, T0 + 86400 * 20, ports, hosts)
    procs = [_sensor(h, cluster, f"cluster-{s}", s, _write(h, f"cluster-{s}", p))
             for s, p in zip(SENSORS, parts)]
    errs = []
    for p, eve in procs:
        _, err = p.communicate(timeout=300)
        errs.append((p.returncode, len(_alerts(eve)), err[-300:]))
    spread = cluster.keys_per_node("harrier:events:{*}")
    check("correlate: on the Cluster, the sensors publish and the 4 partitions' streams spread "
          "over the nodes",
          all(rc == 0 and n == 0 for rc, n, _ in errs) and sum(spread.values()) == 4 and
          sum(1 for v in spread.values() if v) >= 2, f"{errs} {spread}")
    eve = os.path.join(h.tmp, "cluster.eve")
    r = subprocess.run([h.binary, "correlate", "--drain", "--config",
                        _correlator_config(h, "cluster-correlate", cluster), "--eve", eve],
                       capture_output=True, text=True, timeout=300)
    alerts = _alerts(eve)
    scan, sweep = _first(alerts, "slow-scan", SCANNER), _first(alerts, "horizontal-scan", SWEEPER)
    check("correlate: on the Cluster, each incident once, naming all three sensors; nothing pending",
          r.returncode == 0 and len(scan) == 1 and len(sweep) == 1 and
          set(_sensors_of(scan[0])) == set(SENSORS) and set(_sensors_of(sweep[0])) == set(SENSORS)
          and cluster.pending("harrier:events") == 0,
          f"rc={r.returncode} pending={cluster.pending('harrier:events')} {r.stderr[-600:]} " +
          str([(a["detector"], a["src_ip"], a["harrier"]["update"]) for a in alerts]))


def _split_activities(h, check, cat, redis):
    ports = list(range(2000, 2060))
    hosts = [f"172.16.21.{i + 1}" for i in range(24)]
    parts = _activities(cat, T0, ports, hosts)
    pcaps = [_write(h, f"part-{s}", p) for s, p in zip(SENSORS, parts)]
    procs = [_sensor(h, redis, f"sensor-{s}", s, pcap) for s, pcap in zip(SENSORS, pcaps)]
    own = []
    for (p, eve), s in zip(procs, SENSORS):
        _, err = p.communicate(timeout=300)
        own.append((s, p.returncode, _alerts(eve), err))
    check("correlate: three sensors publish their host events; none alerts on its own",
          all(rc == 0 and not alerts for _, rc, alerts, _ in own),
          "; ".join(f"{s}: rc {rc}, {[a['detector'] for a in al]} {err[-300:]}"
                    for s, rc, al, err in own))

    eve = os.path.join(h.tmp, "correlated.eve")
    r = subprocess.run([h.binary, "correlate", "--drain", "--config",
                        _correlator_config(h, "correlate", redis), "--eve", eve],
                       capture_output=True, text=True, timeout=300)
    alerts = _alerts(eve)
    scan = _first(alerts, "slow-scan", SCANNER)
    sweep = _first(alerts, "horizontal-scan", SWEEPER)
    check("correlate: the correlator raises the slow scan once and the sweep once",
          r.returncode == 0 and len(scan) == 1 and len(sweep) == 1,
          f"rc={r.returncode} {r.stderr[-600:]} " +
          str([(a["detector"], a["src_ip"], a["harrier"]["update"]) for a in alerts]))
    if scan and sweep:
        sp, sw = _sensors_of(scan[0]), _sensors_of(sweep[0])
        check("correlate: each incident names all three sensors and what each saw "
              "(20 ports of the scanned host; 8 hosts of the sweep)",
              set(sp) == set(SENSORS) and set(sw) == set(SENSORS) and
              all(sp[s]["ports"] == 20 and sp[s]["hosts"] == 1 for s in SENSORS) and
              all(sw[s]["hosts"] == 8 and sw[s]["ports"] == 1 for s in SENSORS),
              json.dumps([sp, sw])[:1500])
    others = [a for a in alerts if a["event_type"] == "alert" and a["src_ip"] not in (SCANNER, SWEEPER)]
    check("correlate: the web sessions beside them stay quiet", not others,
          str([(a["detector"], a["src_ip"]) for a in others]))
    check("correlate: every entry is acknowledged at the end of a drain (none pending)",
          _pending(redis, "harrier:events") == 0 and _counter(r.stderr, "acked") > 0,
          r.stderr[-400:])

    # The same again, the alerts equal: another network, other ports, and a
    # correlator that reads while the sensors still publish.
    ports2 = list(range(30000, 30180, 3))
    hosts2 = [f"10.9.{i}.7" for i in range(24)]
    parts2 = _activities(cat, T0 + 86400 * 3, ports2, hosts2)
    key = "live:events"
    eve2 = os.path.join(h.tmp, "correlated-live.eve")
    c = subprocess.Popen([h.binary, "correlate", "--drain", "--config",
                          _correlator_config(h, "correlate-live", redis, key), "--eve", eve2],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    procs = [_sensor(h, redis, f"live-{s}", s, _write(h, f"live-{s}", p), key)
             for s, p in zip(SENSORS, parts2)]
    for p, _ in procs:
        p.communicate(timeout=300)
    _, err = c.communicate(timeout=300)
    alerts = _alerts(eve2)
    check("correlate: read while the sensors publish, the same two incidents, once each",
          c.returncode == 0 and len(_first(alerts, "slow-scan", SCANNER)) == 1 and
          len(_first(alerts, "horizontal-scan", SWEEPER)) == 1 and
          _counter(err, "late_events") == 0,
          f"rc={c.returncode} {err[-600:]} " +
          str([(a["detector"], a["src_ip"], a["harrier"]["update"]) for a in alerts]))


def _takeover(h, check, cat, redis):
    """The sweep happens in the first half of the input (correlator A
    writes its alert), the slow scan across both halves: correlator B must
    not write the sweep again, and must rebuild the scan's first half from
    the entries it claims."""
    key = "takeover:events"
    ports = list(range(4000, 4060))
    hosts = [f"172.16.22.{i + 1}" for i in range(24)]
    t0 = T0 + 86400 * 10
    # The sweep runs t0 .. t0+2300 s, the scan t0+3000 .. t0+5360 s: the
    # cut is after the sweep, in the middle of the scan.
    parts = _activities(cat, t0, ports, hosts, scan_start=3000.0, sweep_gap=100.0)
    cut = t0 + 4200
    first = [[p for p in ps if float(p.time) < cut] for ps in parts]
    second = [[p for p in ps if float(p.time) >= cut] for ps in parts]
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        metrics_port = sk.getsockname()[1]
    cfg_a = _correlator_config(h, "takeover-a", redis, key, "  consumer: correlator-a\n"
                               f"control:\n  metrics: 127.0.0.1:{metrics_port}\n")
    eve_a = os.path.join(h.tmp, "takeover-a.eve")
    for s, ps in zip(SENSORS, first):
        p, _ = _sensor(h, redis, f"first-{s}", s, _write(h, f"first-{s}", ps), key)
        p.communicate(timeout=300)
    a = subprocess.Popen([h.binary, "correlate", "--config", cfg_a, "--eve", eve_a],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # Correlator A has read the first half when its entries are pending,
    # and used it when the sweep's alert is written.
    deadline = time.time() + 60
    while time.time() < deadline and (_pending(redis, key) < 12 or
                                      not _first(_alerts(eve_a), "horizontal-scan", SWEEPER)):
        time.sleep(0.1)
    pending_at_kill = _pending(redis, key)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as resp:
            metrics = resp.read().decode()
    except OSError as ex:
        metrics = str(ex)
    m = re.search(r'^harrier_correlator_entries_total\{component="correlate"\} (\d+)', metrics, re.M)
    check("correlate: a running correlator's counters are on its Prometheus endpoint (control.metrics)",
          m is not None and int(m.group(1)) >= 12 and "harrier_correlator_partitions" in metrics,
          metrics[:600])
    a.send_signal(signal.SIGKILL)
    a.wait(timeout=30)
    for s, ps in zip(SENSORS, second):
        p, _ = _sensor(h, redis, f"second-{s}", s, _write(h, f"second-{s}", ps), key)
        p.communicate(timeout=300)
    cfg_b = _correlator_config(h, "takeover-b", redis, key, "  consumer: correlator-b\n")
    eve_b = os.path.join(h.tmp, "takeover-b.eve")
    r = subprocess.run([h.binary, "correlate", "--drain", "--config", cfg_b, "--eve", eve_b],
                       capture_output=True, text=True, timeout=300)
    both = _alerts(eve_a) + _alerts(eve_b)
    scan = _first(both, "slow-scan", SCANNER)
    sweep = _first(both, "horizontal-scan", SWEEPER)
    check("correlate: a correlator killed mid-stream (the sweep written, the scan half "
          "counted) leaves its entries pending",
          pending_at_kill >= 12 and len(_first(_alerts(eve_a), "horizontal-scan", SWEEPER)) == 1
          and not _first(_alerts(eve_a), "slow-scan", SCANNER),
          f"pending={pending_at_kill} " + str([(x["detector"], x["src_ip"]) for x in _alerts(eve_a)]))
    check("correlate: the next one claims them and, across both, raises each incident once "
          "(the scan from both halves, naming all three sensors)",
          r.returncode == 0 and _counter(r.stderr, "claimed") >= 12 and
          _counter(r.stderr, "suppressed") >= 1 and len(scan) == 1 and
          len(sweep) == 1 and set(_sensors_of(scan[0])) == set(SENSORS),
          f"rc={r.returncode} {r.stderr[-800:]} " +
          str([(x["detector"], x["src_ip"], x["harrier"]["update"]) for x in both]))
    check("correlate: after the takeover nothing is pending and nothing was lost",
          _pending(redis, key) == 0 and _counter(r.stderr, "claimed_gone") == 0, r.stderr[-400:])


def _redis_absent(h, check):
    pcap = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pcaps", "sample.pcap")
    cfg = _config(h, "absent", f"""correlation:
  socket: {os.path.join(h.tmp, "nobody-here.sock")}
  sensor: lonely
  drain_timeout: 1
""")
    eve = os.path.join(h.tmp, "absent.eve")
    r = subprocess.run([h.binary, "read", pcap, "--config", cfg, "--eve", eve], capture_output=True,
                       text=True, timeout=120)
    m = re.search(r"correlation .*: ([0-9,]+) host events not published", r.stderr)
    check("correlate: a sensor whose Redis is not there still writes its own alerts, then exits 1 "
          "naming the host events it could not publish",
          r.returncode == 1 and m is not None and int(m.group(1).replace(",", "")) > 0 and
          len(_alerts(eve)) > 10, f"rc={r.returncode} {r.stderr[-600:]}")


def _two_correlators(h, check, cat, redis):
    """Scale-out: two correlators alive share the partitions (two each, by
    lease); the sensors' activities are split between them by source, and
    each incident is raised once, by the one that holds its partition."""
    key = "shared:events"
    procs, eves = [], []
    for name in ("one", "two"):
        eve = os.path.join(h.tmp, f"shared-{name}.eve")
        cfg = _correlator_config(h, f"shared-{name}", redis, key, f"  consumer: correlator-{name}\n")
        procs.append(subprocess.Popen([h.binary, "correlate", "--config", cfg, "--eve", eve],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
        eves.append(eve)
    owners = []
    deadline = time.time() + 30
    while time.time() < deadline:
        owners = [redis.cli("GET", f"{key}:{{{p}}}:owner").strip() for p in range(4)]
        if sorted(owners) == ["correlator-one"] * 2 + ["correlator-two"] * 2:
            break
        time.sleep(0.2)
    # logrotate's way: the files moved away, SIGHUP, and the next alerts go
    # to files of the same names again.
    for eve, p in zip(eves, procs):
        os.rename(eve, eve + ".1")
        p.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    parts = _activities(cat, T0 + 86400 * 30, list(range(7000, 7060)),
                        [f"172.16.24.{i + 1}" for i in range(24)])
    for s, ps in zip(SENSORS, parts):
        p, _ = _sensor(h, redis, f"shared-{s}", s, _write(h, f"shared-{s}", ps), key)
        p.communicate(timeout=300)
    deadline = time.time() + 60
    both = []
    while time.time() < deadline:
        both = _alerts(eves[0]) + _alerts(eves[1])
        if _first(both, "slow-scan", SCANNER) and _first(both, "horizontal-scan", SWEEPER):
            break
        time.sleep(0.2)
    time.sleep(1.0)
    errs = []
    for p in procs:
        p.send_signal(signal.SIGTERM)
        errs.append(p.communicate(timeout=60)[1])
    both = _alerts(eves[0]) + _alerts(eves[1])
    check("correlate: two correlators alive hold two partitions each, and between them raise "
          "each incident once (into EVE files reopened on SIGHUP)",
          sorted(owners) == ["correlator-one"] * 2 + ["correlator-two"] * 2 and
          len(_first(both, "slow-scan", SCANNER)) == 1 and
          len(_first(both, "horizontal-scan", SWEEPER)) == 1 and
          all(p.returncode == 0 for p in procs) and
          not _alerts(eves[0] + ".1") and not _alerts(eves[1] + ".1"),
          f"owners={owners} " + str([(a["detector"], a["src_ip"]) for a in both]) +
          " ".join(e[-300:] for e in errs))


def _with_password(h, check, cat):
    """A Redis that wants a password (requirepass): sensors and correlators
    authenticate; a wrong password is named, not retried into silence."""
    sock = os.path.join(h.tmp, "auth.redis.sock")
    proc = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", sock, "--unixsocketperm", "700",
                             "--save", "", "--appendonly", "no", "--requirepass", "s3cret-pass"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while time.time() < deadline and not os.path.exists(sock):
            time.sleep(0.05)
        parts = _activities(cat, T0 + 86400 * 40, list(range(8000, 8060)),
                            [f"172.16.25.{i + 1}" for i in range(24)])
        rcs = []
        for s, ps in zip(SENSORS, parts):
            cfg = _config(h, f"auth-{s}", f"""correlation:
  socket: {sock}
  password: s3cret-pass
  partitions: 4
  sensor: {s}
""")
            r = subprocess.run([h.binary, "read", _write(h, f"auth-{s}", ps), "--config", cfg, "--quiet"],
                               capture_output=True, text=True, timeout=300)
            rcs.append(r.returncode)
        eve = os.path.join(h.tmp, "auth.eve")
        cfg = _config(h, "auth-correlate", f"""correlation:
  socket: {sock}
  password: s3cret-pass
  partitions: 4
  sensors: [{", ".join(SENSORS)}]
  lateness: 86400
""")
        r = subprocess.run([h.binary, "correlate", "--drain", "--config", cfg, "--eve", eve],
                           capture_output=True, text=True, timeout=300)
        alerts = _alerts(eve)
        check("correlate: with requirepass, sensors and the correlator authenticate (correlation.password)",
              rcs == [0, 0, 0] and r.returncode == 0 and len(_first(alerts, "slow-scan", SCANNER)) == 1,
              f"{rcs} rc={r.returncode} {r.stderr[-400:]}")
        cfg = _config(h, "auth-wrong", f"""correlation:
  socket: {sock}
  password: not-it
  sensor: wrong
  drain_timeout: 1
""")
        r = subprocess.run([h.binary, "read", os.path.join(h.tmp, "auth-edge-a.pcap"), "--config", cfg],
                           capture_output=True, text=True, timeout=120)
        check("correlate: a wrong password is named (AUTH refused), and read exits 1",
              r.returncode == 1 and "AUTH refused" in r.stderr and "not-it" not in r.stderr,
              f"rc={r.returncode} {r.stderr[-500:]}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _hostile_entries(h, check, redis):
    key = "hostile:events"
    stream = key + ":{0}"
    redis.cli("XADD", stream, "*", "s", "x", "r", "1", "n", "1", "w", "5", "e", "\x07garbage")
    redis.cli("XADD", stream, "*", "s", "x", "r", "1", "n", "2", "w", "zz")
    redis.cli("XADD", stream, "*", "hello", "world")
    # An event a day ahead of the watermark it came with: it would wait for
    # the line forever (and hold the stream's trimming back).
    ahead = (struct.pack("<QQ", 86400 * 10**9 + 5, 1) + bytes([4, 10, 0, 0, 1, 4, 172, 16, 0, 1])
             + struct.pack("<HHHHHH", 4000, 80, 2, 0, 0, 0) + bytes([6, 0, 0, 0, 64, 0]))
    subprocess.run(["redis-cli", "-s", redis.sock, "-x", "XADD", stream, "*", "s", "x", "r", "1", "n", "3",
                    "w", "5", "e"], input=b"\x01" + ahead, capture_output=True, timeout=30)
    for p in range(4):
        redis.cli("XADD", f"{key}:{{{p}}}", "*", "s", "x", "r", "1", "n", "9", "w", "10", "end", "1")
    eve = os.path.join(h.tmp, "hostile.eve")
    cfg = _config(h, "hostile", f"""correlation:
  socket: {redis.sock}
  key: {key}
  partitions: 4
""")
    r = subprocess.run([h.binary, "correlate", "--drain", "--config", cfg, "--eve", eve],
                       capture_output=True, text=True, timeout=120)
    check("correlate: entries that are not harrier's are refused, counted and named, not fatal",
          r.returncode == 0 and _counter(r.stderr, "bad_entries") == 4 and
          "format version 7" in r.stderr and "ahead of its sensor's watermark" in r.stderr and
          not _alerts(eve),
          f"rc={r.returncode} {r.stderr[-800:]}")

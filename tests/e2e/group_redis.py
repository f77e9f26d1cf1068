"""EVE to Redis (outputs.redis), against real redis-server processes this
group starts and stops itself, each on a UNIX socket in the test's folder:

- list, channel and stream modes carry exactly the EVE file's records, in
  its order;
- `harrier read` with Redis not there yet retries with back-off and
  delivers everything once it comes; with Redis never there it ends after
  drain_timeout, exits 1 and names what was not delivered;
- `harrier run`: a Redis restarted between two replays loses nothing sent
  after it came back, and the counters say two connections; with Redis
  down, a full buffer drops the newest records and counts them (the
  analysis goes on).
"""
import json
import os
import re
import subprocess
import time

from group_lab import Live

SAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pcaps", "sample.pcap")


class Redis:
    """redis-server on a UNIX socket, no persistence."""

    def __init__(self, h, name):
        self.sock = os.path.join(h.tmp, name + ".redis.sock")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", self.sock,
                                      "--unixsocketperm", "700", "--save", "", "--appendonly", "no"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.cli("PING").strip() == "PONG":
                return self
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start on " + self.sock)

    def cli(self, *args):
        r = subprocess.run(["redis-cli", "-s", self.sock, *args], capture_output=True, text=True,
                           timeout=30)
        return r.stdout

    def lrange(self, key):
        return [l for l in self.cli("LRANGE", key, "0", "-1").splitlines() if l]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        if os.path.exists(self.sock):
            os.unlink(self.sock)


def _config(h, name, redis_yaml):
    path = os.path.join(h.tmp, name + ".yaml")
    with open(path, "w") as f:
        f.write("outputs:\n  redis: " + redis_yaml + "\n")
    return path


def _read(h, name, redis_yaml, background=False):
    eve = os.path.join(h.tmp, name + ".eve")
    cmd = [h.binary, "read", SAMPLE, "--config", _config(h, name, redis_yaml), "--eve", eve]
    if background:
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True), eve
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    return r, eve


def _lines(path):
    with open(path) as f:
        return [l.rstrip("\n") for l in f if l.strip()]


def _steady(value, seconds=2.0):
    """True when value() stays the same for `seconds`."""
    v = value()
    time.sleep(seconds)
    return value() == v


def _wait(cond, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.2)
    return cond()


def run(h, check, by, cat):
    redis = Redis(h, "r1").start()
    try:
        # List mode: the EVE file's records, in order.
        r, eve = _read(h, "list", f"{{socket: {redis.sock}, key: eve}}")
        want = _lines(eve)
        got = redis.lrange("eve")
        check("redis list: every EVE record (alerts and folded ones), in order",
              r.returncode == 0 and len(want) > 5 and got == want, f"{r.returncode} {len(got)}/{len(want)} {r.stderr[-300:]}")

        # Stream mode: one entry per record, the record in field "eve".
        r, eve = _read(h, "stream", f"{{socket: {redis.sock}, mode: stream, key: evs}}")
        out = redis.cli("XRANGE", "evs", "-", "+").splitlines()
        fields, values = out[1::3], out[2::3]
        check("redis stream: XADD of every EVE record as field eve",
              r.returncode == 0 and set(fields) == {"eve"} and values == _lines(eve),
              f"{r.returncode} {len(values)} {r.stderr[-300:]}")

        # Channel mode: a subscriber that listens before the run hears it all.
        sub = subprocess.Popen(["redis-cli", "-s", redis.sock, "SUBSCRIBE", "evc"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        _wait(lambda: "1" in redis.cli("PUBSUB", "NUMSUB", "evc").split()[1:], 10)
        r, eve = _read(h, "channel", f"{{socket: {redis.sock}, mode: channel, key: evc}}")
        time.sleep(0.5)
        sub.terminate()
        heard = sub.communicate(timeout=10)[0].splitlines()
        # redis-cli prints "subscribe evc 1", then "message evc <payload>" per message.
        messages = [heard[i + 2] for i in range(3, len(heard) - 2, 3) if heard[i] == "message"]
        check("redis channel: PUBLISH of every EVE record to the subscribers",
              r.returncode == 0 and messages == _lines(eve), f"{len(messages)}/{len(_lines(eve))} {heard[:6]}")

        # A mistake in the section is named with file, line and key.
        r, _ = _read(h, "badmode", f"{{socket: {redis.sock}, mode: queue}}")
        check("redis: a bad outputs.redis.mode is refused before anything runs (exit 2)",
              r.returncode == 2 and "outputs.redis.mode" in r.stderr and "list, channel or stream" in r.stderr,
              r.stderr[-300:])
    finally:
        redis.stop()

    # Redis not up yet: harrier read retries with back-off and waits for it.
    late = Redis(h, "late")
    proc, eve = _read(h, "late", f"{{socket: {late.sock}, key: eve, drain_timeout: 60}}", background=True)
    time.sleep(2.0)
    late.start()
    try:
        _, err = proc.communicate(timeout=120)
        counters = re.search(r"harrier: counters: redis: (.*)", err)
        check("redis: read waits for a Redis that comes late, retrying, and delivers every record",
              proc.returncode == 0 and late.lrange("eve") == _lines(eve)
              and counters is not None and "connect_failures" in counters.group(1),
              f"{proc.returncode} {err[-400:]}")
    finally:
        late.stop()

    # Redis never up: the run ends after drain_timeout, exit 1, the loss named.
    gone = os.path.join(h.tmp, "never.sock")
    t0 = time.time()
    r, eve = _read(h, "never", f"{{socket: {gone}, drain_timeout: 1}}")
    n = len(_lines(eve))
    check("redis: with Redis never there, read exits 1 within drain_timeout and names the records lost",
          r.returncode == 1 and time.time() - t0 < 30 and f"{n} records not delivered" in r.stderr
          and gone in r.stderr, f"{r.returncode} {r.stderr[-400:]}")

    # harrier run: Redis restarted between two replays.
    redis = Redis(h, "r2").start()
    live = Live(h, "redis", ports=2, outputs=f"  redis: {{socket: {redis.sock}, key: eve}}\n")
    try:
        pa = cat.lab_mix(start=1700000000.0)
        live.replay(h.pcap(pa, "redis_a.pcap"), "--lossless", port=0)
        live.settle(len(pa))
        # Before the restart: Redis holds every record written so far, and
        # no closing update is still on its way (the counts stay put).
        delivered_a = _wait(lambda: _steady(lambda: (len(redis.lrange("eve")), len(_lines(live.eve))))
                            and len(redis.lrange("eve")) == len(_lines(live.eve)) > 0)
        first = len(_lines(live.eve))
        redis.stop()
        redis.start()
        pb = cat.lab_mix(start=1700500000.0, seed=11)
        live.replay(h.pcap(pb, "redis_b.pcap"), "--lossless", port=1)
        live.settle(len(pa) + len(pb))
        # Everything since the restart is on the new server.
        _wait(lambda: len(redis.lrange("eve")) == len(_lines(live.eve)) - first)
        stats = live.ask("stats")
        rs = stats.get("outputs", {}).get("redis", {})
        after = redis.lrange("eve")
        check("redis: a Redis restarted mid-run loses nothing sent after it came back; two connections counted",
              delivered_a and after == _lines(live.eve)[first:] and len(after) > 0
              and rs.get("connects") == 2 and rs.get("delivered") == len(_lines(live.eve))
              and rs.get("dropped") == 0 and rs.get("buffered") == 0,
              f"{delivered_a} {len(after)}/{len(_lines(live.eve)) - first} {rs}")
    finally:
        rc, _, err = live.stop()
        redis.stop()
    check("redis: harrier run stops cleanly with the Redis output", rc == 0, err[-300:])

    # harrier run with Redis down and a small buffer: the newest records are
    # dropped and counted; analysis and the EVE file lose nothing.
    live = Live(h, "redisfull", outputs=f"  redis: {{socket: {gone}, buffer: 2, drain_timeout: 1}}\n")
    try:
        pc = cat.lab_mix(start=1700000000.0)
        live.replay(h.pcap(pc, "redis_c.pcap"), "--lossless")
        live.settle(len(pc))
        # The output thread may still be writing: read both once they hold still.
        counts = lambda: (len(_lines(live.eve)), live.ask("stats").get("outputs", {}).get("redis", {}))
        _wait(lambda: _steady(counts, 1.0))
        records, rs = counts()
        check("redis: a full buffer (Redis down) drops the newest records, counted, and nothing else",
              records > 2 and rs.get("buffered") == 2 and rs.get("dropped") == records - 2
              and rs.get("delivered") == 0 and rs.get("connect_failures", 0) >= 1,
              f"{records} {rs}")
    finally:
        rc, _, err = live.stop()
    check("redis: at exit, run names the records Redis never got",
          "dropped while the buffer (2) was full" in err and "not delivered" in err, err[-400:])

#!/usr/bin/python3
"""A non-relaying SMTP server for scripts/make_tool_captures (aiosmtpd).

Behaves like the MX of home.example that does not relay:
  * MAIL FROM: any plain address (or the null sender) is accepted, as real
    MXes do; a syntactically odd sender gets 553.
  * RCPT TO: only a plain local@home.example recipient (letters, digits and
    . _ + - in the local part) gets 250. Everything else -- foreign domains,
    percent hack, bang paths, source routes, quoted local parts, trailing
    address literals -- gets "553 5.7.1 ... relaying denied".
  * DATA for accepted recipients gets 250 and the message is discarded.

The address is taken raw from between the angle brackets (aiosmtpd's own
RFC 5322 parser would turn some tricks into a 553 "malformed address" or a
501 before the handler sees them); the handler then decides.

usage: smtp_norelay.py ADDR PORT
"""
import re
import signal
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

LOCAL_DOMAIN = "home.example"
PLAIN_LOCAL = re.compile(r"^[A-Za-z0-9._+-]+@home\.example$", re.I)
PLAIN_ANY = re.compile(r"^[A-Za-z0-9._+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


class RawAddrSMTP(SMTP):
    def _getaddr(self, arg):
        if not arg:
            return "", ""
        arg = arg.strip()
        if arg.startswith("<"):
            end = arg.rfind(">")
            if end < 0:
                return None, None
            return arg[1:end] or "<>", arg[end + 1:]
        addr, _, rest = arg.partition(" ")
        return addr, rest


class NoRelayHandler:
    async def handle_MAIL(self, server, session, envelope, address, options):
        if address != "<>" and address and not PLAIN_ANY.match(address):
            return "553 5.1.7 Sender address rejected: bad address syntax"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):
        if PLAIN_LOCAL.match(address):
            envelope.rcpt_tos.append(address)
            return "250 2.1.5 OK"
        return (f"553 5.7.1 <{address}>: Relay access denied; "
                f"this server only accepts mail for {LOCAL_DOMAIN}")

    async def handle_DATA(self, server, session, envelope):
        return "250 2.0.0 OK: queued"


class NoRelayController(Controller):
    def factory(self):
        return RawAddrSMTP(self.handler, hostname="mx.home.example",
                           ident="ESMTP harrier-toolcap")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    ctl = NoRelayController(NoRelayHandler(), hostname=sys.argv[1],
                            port=int(sys.argv[2]), ready_timeout=10)
    ctl.start()
    print(f"smtp_norelay: listening on {sys.argv[1]}:{sys.argv[2]}", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    ctl.stop()


if __name__ == "__main__":
    main()

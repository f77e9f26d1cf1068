#!/usr/bin/python3
"""Open TCP services for scripts/make_tool_captures (run inside netns hr-tgt).

Listens on ADDR:22 (sends an SSH version banner, then closes) and ADDR:80
(answers any request with a tiny HTTP/1.0 page, then closes). Every other port
of ADDR stays closed. Runs until SIGTERM/SIGINT.

usage: tcp_services.py ADDR
"""
import asyncio
import signal
import sys

SSH_BANNER = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"
HTTP_BODY = b"<html><body>harrier test host</body></html>\n"
HTTP_REPLY = (b"HTTP/1.0 200 OK\r\nServer: harrier-toolcap\r\n"
              b"Content-Type: text/html\r\nContent-Length: %d\r\n\r\n"
              % len(HTTP_BODY)) + HTTP_BODY


async def ssh(reader, writer):
    try:
        writer.write(SSH_BANNER)
        await writer.drain()
        await asyncio.wait_for(reader.read(256), 3)
    except Exception:
        pass
    writer.close()


async def http(reader, writer):
    try:
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3)
        writer.write(HTTP_REPLY)
        await writer.drain()
    except Exception:
        pass
    writer.close()


async def main(addr):
    s22 = await asyncio.start_server(ssh, addr, 22, reuse_address=True)
    s80 = await asyncio.start_server(http, addr, 80, reuse_address=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"tcp_services: listening on {addr}:22 and {addr}:80", flush=True)
    await stop.wait()
    s22.close()
    s80.close()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    asyncio.run(main(sys.argv[1]))

"""A small asyncio service: snapshots a domain on request, streams its lifecycle events.

    python examples/aio_service.py --uri test:///default --domain test --port 8750

Line protocol over TCP (127.0.0.1): send ``snapshot NAME`` or ``revert NAME``;
the service answers ``ok ...`` or ``error ...``, and sends every lifecycle
event of the domain as ``event TYPE DETAIL`` to every connected client.
"""

import argparse
import asyncio

import virtsnap
import virtsnap.aio


async def serve(uri: str, domain_name: str, port: int) -> None:
    async with await virtsnap.aio.open(uri) as conn:
        dom = await conn.get_domain_by_name(domain_name)
        clients: "set[asyncio.StreamWriter]" = set()

        async def broadcast_events() -> None:
            async with conn.domain_events(dom) as stream:   # released when cancelled
                async for event in stream:
                    line = f"event {event.event.name} {event.detail_name}\n".encode()
                    for writer in list(clients):
                        writer.write(line)

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            clients.add(writer)
            try:
                while line := (await reader.readline()).decode().split():
                    command, name = (line + [""])[:2]
                    try:
                        if command == "snapshot":
                            snap = await dom.create_snapshot(name=name or None)
                            reply = f"ok created {snap.name}"
                        elif command == "revert":
                            await (await dom.get_snapshot_by_name(name)).revert_to()
                            reply = f"ok reverted to {name}"
                        else:
                            reply = f"error unknown command {command!r}"
                    except virtsnap.LibvirtError as exc:
                        reply = f"error {exc}"
                    writer.write(reply.encode() + b"\n")
                    await writer.drain()
            finally:
                clients.discard(writer)
                writer.close()

        events = asyncio.create_task(broadcast_events())
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        print(f"listening on {server.sockets[0].getsockname()[1]}", flush=True)
        try:
            await asyncio.Event().wait()            # until Ctrl-C cancels us
        finally:
            # Close the clients too: from Python 3.12 wait_closed() (and serve_forever()
            # when cancelled) waits for every connection to end.
            events.cancel()
            server.close()
            for writer in list(clients):
                writer.close()
            await server.wait_closed()
            await asyncio.gather(events, return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uri", default=None, help="libvirt URI (default: libvirt's)")
    parser.add_argument("--domain", default="test")
    parser.add_argument("--port", type=int, default=8750, help="0 picks a free port")
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.uri, args.domain, args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

"""uvicorn's httptools protocol, each whole-body response written to the socket once.

uvicorn writes a response's status line and headers when the app sends
`http.response.start`, and its body when the app sends `http.response.body`: two writes, two
TCP segments for every answer. On the loopback (and on most networks) a write's cost is mostly
fixed (the system call, the segment's way through the stack, the receiver's wake-up: on the
loopback that work is charged to the sender), so a small answer cost twice what it needed.
Here the head of a response that says its length (`content-length`: every `Response` with a
body, the capture's 202 included) is held until the body's first part and written with it.
A response without a length (a stream) is written as before, head first.

Nothing else changes: the bytes on the wire are the same, in the same order; a response that
ends without a body message (an error after the start) has its head written before uvicorn
closes the connection, as before.
"""

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

_LENGTH = b"content-length"


class _HeldHead:
    """Stands for the transport while a response's head is held: what uvicorn writes is
    gathered (the head), then written in front of the next write (the body)."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.parts.append(data)

    def flush(self) -> None:
        if self.parts and not self.transport.is_closing():  # gone: nobody to read it
            data = b"".join(self.parts)
            self.parts = []
            self.transport.write(data)

    def close(self) -> None:  # uvicorn closes after the last body part without keep-alive
        self.flush()
        self.transport.close()

    def is_closing(self) -> bool:
        return self.transport.is_closing()


class OneWriteCycle(RequestResponseCycle):
    """A request's cycle whose whole-body response goes out in one write (module docstring)."""

    _held: _HeldHead | None = None

    async def send(self, message: Any) -> None:
        if message["type"] == "http.response.start" and not self.response_started:
            if not any(name.lower() == _LENGTH for name, _ in message.get("headers", ())):
                await super().send(message)
                return
            transport = self.transport
            head = _HeldHead(transport)
            self.transport = head  # type: ignore[assignment]
            try:
                await super().send(message)
            finally:
                self.transport = transport
            self._held = head
            return
        held, self._held = self._held, None
        if held is None:
            await super().send(message)
            return
        transport = self.transport
        self.transport = held  # type: ignore[assignment]
        try:
            await super().send(message)  # the body joins the head
        finally:
            self.transport = transport
            held.flush()  # the head alone, if the body wrote nothing (HEAD, an error)

    async def run_asgi(self, app: Any) -> None:
        async def flushing(scope: Any, receive: Any, send: Any) -> None:
            try:
                await app(scope, receive, send)
            finally:  # a head still held (no body sent) goes out before uvicorn closes
                held, self._held = self._held, None
                if held is not None:
                    held.flush()

        await super().run_asgi(flushing)


class OneWriteProtocol(HttpToolsProtocol):
    """`uvicorn.run(http=OneWriteProtocol)`: httptools, with `OneWriteCycle` for each request."""

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        # Each request's cycle (made by uvicorn, pipelined ones too) starts here: its class
        # is swapped before its task is made, so `run_asgi` and `send` are `OneWriteCycle`'s.
        # (A uvicorn that no longer calls this is caught by tests/unit/test_http_protocol.py.)
        if type(cycle) is RequestResponseCycle:
            cycle.__class__ = OneWriteCycle
        super()._start_asgi_task(cycle, app)

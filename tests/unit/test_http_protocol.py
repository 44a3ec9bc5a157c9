"""`OneWriteProtocol`: the same bytes as uvicorn's httptools protocol, in one write for a
response that says its length (head and body together), as before for the others."""

import asyncio
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from hub.api.http_protocol import OneWriteProtocol

GET = b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n"
HEAD = b"HEAD /x HTTP/1.1\r\nHost: t\r\n\r\n"
CLOSE = b"GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"


class Transport(asyncio.Transport):
    """Records each write; closes when asked."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 9000)}.get(name)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.closed, "written after close"
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def whole(scope: Any, receive: Any, send: Any) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 202,
            "headers": [(b"content-length", b"5"), (b"location", b"/v1/orders/1")],
        }
    )
    await send({"type": "http.response.body", "body": b"hello"})


async def in_parts(scope: Any, receive: Any, send: Any) -> None:
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"Content-Length", b"4")]}
    )
    await send({"type": "http.response.body", "body": b"ab", "more_body": True})
    await send({"type": "http.response.body", "body": b"cd"})


async def streamed(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ab", "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def fails_after_start(scope: Any, receive: Any, send: Any) -> None:
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    raise RuntimeError("after the start")


async def fails_before_start(scope: Any, receive: Any, send: Any) -> None:
    raise RuntimeError("before the start")


async def serve(protocol_class: type, app: Any, requests: list[bytes]) -> Transport:
    config = Config(app=app, http=protocol_class, log_level="critical", server_header=False)
    config.load()
    state = ServerState()
    state.default_headers = [(b"date", b"Sat, 05 Dec 2026 06:00:00 GMT")]
    protocol = protocol_class(config=config, server_state=state, app_state={})
    transport = Transport()
    protocol.connection_made(transport)
    for request in requests:
        protocol.data_received(request)
        while state.tasks:
            await asyncio.gather(*state.tasks)
    if protocol.timeout_keep_alive_task is not None:
        protocol.timeout_keep_alive_task.cancel()
    return transport


@pytest.mark.parametrize(
    ("app", "requests", "one_write_writes"),
    [
        (whole, [GET], 1),
        (whole, [GET, GET], 2),  # keep-alive: one write per answer
        (whole, [CLOSE], 1),
        (whole, [HEAD], 1),  # the head alone: a HEAD answer has no body
        (in_parts, [GET], 2),  # head with the first part, then the second
        (streamed, [GET], 3),  # no length: as uvicorn writes it
        (fails_before_start, [GET], 1),  # uvicorn's own 500
    ],
)
@pytest.mark.asyncio
async def test_same_bytes_fewer_writes(
    app: Any, requests: list[bytes], one_write_writes: int
) -> None:
    before = await serve(HttpToolsProtocol, app, requests)
    after = await serve(OneWriteProtocol, app, requests)

    assert b"".join(after.writes) == b"".join(before.writes)
    assert len(after.writes) == one_write_writes
    assert after.closed == before.closed


@pytest.mark.asyncio
async def test_an_error_after_the_start_writes_the_head_then_closes() -> None:
    before = await serve(HttpToolsProtocol, fails_after_start, [GET])
    after = await serve(OneWriteProtocol, fails_after_start, [GET])

    assert after.writes == before.writes
    assert after.writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert before.closed and after.closed

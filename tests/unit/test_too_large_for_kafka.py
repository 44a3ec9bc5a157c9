"""A submission the broker refuses as over its topic's record limit is answered 413 with a
problem saying what the operator can do, not a 500 (tests/integration/
test_submission_gateway_kafka.py: the gateway raises it for that request alone)."""

import httpx
import pytest
from aiokafka.errors import MessageSizeTooLargeError
from fastapi import FastAPI

from hub.api.problems import install_problem_handlers


@pytest.mark.asyncio
async def test_a_record_the_topic_refuses_is_a_413_problem() -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/v1/orders")
    async def capture() -> None:
        raise MessageSizeTooLargeError("[Error 10] MessageSizeTooLargeError")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        answer = await client.post("/v1/orders", content=b"{}")
    assert answer.status_code == 413
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"] == "/problems/body-too-large"
    assert "max.message.bytes" in answer.json()["detail"]

"""`POST /v1/stock/bulk` on the embedded hub: one request, many rows, refused rows listed."""

from pathlib import Path

import pytest

from tests.e2e.test_embedded_orchestration import put_source, stock
from tests.support.running_hub import running
from tests.unit.hot_items import HotItem


@pytest.mark.asyncio
async def test_bulk_applies_the_good_rows_and_lists_the_refused(tmp_path: Path) -> None:
    async with running(tmp_path) as (client, _hub):
        await put_source(client, "wh-lyon")
        rows = [
            {"kind": "snapshot", "source_id": "wh-lyon", "sku": "RED-CHAIR", "on_hand": 7},
            {"kind": "delta", "source_id": "wh-lyon", "sku": "RED-CHAIR", "delta": 2,
             "reason": "receipt"},
            {"kind": "snapshot", "source_id": "wh-nowhere", "sku": "RED-CHAIR", "on_hand": 1},
            {"kind": "snapshot", "source_id": "wh-lyon", "sku": "BLUE-LAMP", "on_hand": 3},
        ]  # fmt: skip

        response = await client.post("/v1/stock/bulk", json={"rows": rows})

        assert response.status_code == 200, response.text
        body = response.json()
        assert body["applied"] == 3
        assert [(r["row"], r["source_id"]) for r in body["refused"]] == [(2, "wh-nowhere")]
        assert "wh-nowhere" in body["refused"][0]["reason"]
        assert (await stock(client, "wh-lyon"))["on_hand"] == 9
        assert (await stock(client, "wh-lyon", "BLUE-LAMP"))["on_hand"] == 3


@pytest.mark.asyncio
async def test_a_malformed_row_refuses_the_request_naming_the_row(tmp_path: Path) -> None:
    async with running(tmp_path) as (client, _hub):
        await put_source(client, "wh-lyon")
        rows = [
            {"kind": "snapshot", "source_id": "wh-lyon", "sku": "RED-CHAIR", "on_hand": 7},
            {"kind": "snapshot", "source_id": "wh-lyon", "sku": "BLUE-LAMP", "on_hand": -1},
        ]

        response = await client.post("/v1/stock/bulk", json={"rows": rows})

        assert response.status_code == 422
        fields = [error["field"] for error in response.json()["errors"]]
        assert any("rows.1." in field and "on_hand" in field for field in fields), fields
        assert (await client.get("/v1/stock/wh-lyon/RED-CHAIR")).status_code == 404


@pytest.mark.asyncio
async def test_more_rows_than_the_limit_are_refused(tmp_path: Path) -> None:
    async with running(tmp_path) as (client, _hub):
        row = {"kind": "snapshot", "source_id": "wh-lyon", "sku": "RED-CHAIR", "on_hand": 1}
        response = await client.post("/v1/stock/bulk", json={"rows": [row] * 10_001})
        assert response.status_code == 422


@pytest.mark.asyncio
async def test_a_row_that_loses_every_race_to_reservations_is_refused_try_again(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as (client, hub):
        await put_source(client, "wh-lyon")
        HotItem(hub.store, "HOT", alone=0)  # another writer changes HOT before each of its saves
        rows = [
            {"kind": "delta", "source_id": "wh-lyon", "sku": sku, "delta": 2, "reason": "receipt"}
            for sku in ("RED-CHAIR", "HOT", "BLUE-LAMP")
        ]
        rows.append({"kind": "snapshot", "source_id": "wh-lyon", "sku": "HOT", "on_hand": 40})

        response = await client.post("/v1/stock/bulk", json={"rows": rows})

        assert response.status_code == 200, response.text
        body = response.json()
        assert body["applied"] == 2
        assert [r["row"] for r in body["refused"]] == [1, 3]  # HOT's count waits for its receipt
        assert all("try again" in r["reason"] for r in body["refused"])
        assert (await stock(client, "wh-lyon"))["on_hand"] == 2
        assert (await stock(client, "wh-lyon", "BLUE-LAMP"))["on_hand"] == 2

"""Registering different sources (or policies) at the same time: none of them is refused, the
server retries the conflicts on the shared directory (embedded, HTTP)."""

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError

from hub.services.catalog import CatalogService
from hub.services.conflicts import MAX_ATTEMPTS, ConcurrentChangeError
from hub.store import OrderStore
from tests.contracts.factories import source_body, source_definition
from tests.support.running_hub import running


@pytest.mark.asyncio
async def test_eight_sources_registered_at_once_are_all_created_and_listed(tmp_path: Path) -> None:
    async with running(tmp_path) as (client, _):
        ids = [f"wh-{n}" for n in range(8)]

        answers = await asyncio.gather(
            *(client.put(f"/v1/sources/{sid}", json=source_body(sid)) for sid in ids)
        )

        assert [a.status_code for a in answers] == [201] * 8, [a.text for a in answers]
        listed = (await client.get("/v1/sources")).json()
        assert sorted(s["definition"]["source_id"] for s in listed) == ids


@pytest.mark.asyncio
async def test_the_same_source_registered_twice_at_once_is_created_once(tmp_path: Path) -> None:
    async with running(tmp_path) as (client, _):
        answers = await asyncio.gather(
            *(
                client.put("/v1/sources/wh-x", json=source_body("wh-x", daily_capacity=n))
                for n in (10, 20, 30, 40)
            )
        )

        assert sorted(a.status_code for a in answers) == [200, 200, 200, 201]
        listed = (await client.get("/v1/sources")).json()
        assert [s["definition"]["source_id"] for s in listed] == ["wh-x"]


@pytest.mark.asyncio
async def test_different_policies_published_at_once_are_all_published(tmp_path: Path) -> None:
    async with running(tmp_path) as (client, _):
        ids = [f"policy-{n}" for n in range(6)]

        answers = await asyncio.gather(
            *(
                client.post(
                    "/v1/policies",
                    content=f"id: {pid}\nversion: 1\nname: {pid}\n".encode(),
                    headers={"content-type": "application/yaml"},
                )
                for pid in ids
            )
        )

        assert [a.status_code for a in answers] == [201] * 6, [a.text for a in answers]
        listed = (await client.get("/v1/policies")).json()
        assert set(ids) <= {p["policy_id"] for p in listed}


class AlwaysConflictingStore(OrderStore):
    """A store where another writer always wins: every save conflicts."""

    saves = 0

    def save(self, *_: Any, **__: Any) -> Any:
        self.saves += 1
        raise IntegrityError("another writer was faster")


def test_a_conflict_that_outlasts_the_retries_names_the_source() -> None:
    store = AlwaysConflictingStore(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    catalog = CatalogService(store, clock=lambda: datetime.now(UTC))

    with pytest.raises(ConcurrentChangeError, match="source 'wh-1' could not be recorded"):
        catalog.register_source(source_definition("wh-1"), "user:a")
    assert store.saves == MAX_ATTEMPTS  # it retried before giving up

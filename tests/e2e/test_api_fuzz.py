"""Every operation of the API fuzzed from its own OpenAPI document (schemathesis), as the admin
and as a channel: no answer is a 5xx, and every answer is one the document describes (status,
content type, body schema).

A few examples per operation in the suite; for a long run:
`python -m benchmarks.fuzz --examples 500` (or ORDERHUB_FUZZ_EXAMPLES=500 with pytest).
"""

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.python import asgi

from hub.api.app import create_app
from hub.bootstrap import Hub
from schemas.channels import ChannelDefinition, IssueKey, Role
from schemas.sources import SourceDefinition, StockSnapshot
from tests.e2e.test_channel_access import SOURCE_LYON
from tests.support.running_hub import embedded_settings

EXAMPLES = int(os.environ.get("ORDERHUB_FUZZ_EXAMPLES", "6"))
ADMIN_KEY = "fuzz-admin-0123456789abcdef-0123456789"
CREDENTIAL_HEADERS = {"authorization", "x-api-key", "x-actor"}
# The app is built here, for schemathesis to read its document at collection time; its hub is
# built (in this folder) only when the first test starts it.
DATA_DIR = Path(tempfile.gettempdir()) / f"orderhub-fuzz-{os.getpid()}"
APP = create_app(settings=embedded_settings(DATA_DIR, auth_required=True, admin_api_key=ADMIN_KEY))
schema = schemathesis.openapi.from_dict(APP.openapi())
schema.app = APP


@pytest.fixture(scope="module")
def keys() -> Iterator[dict[str, str]]:
    """A channel, a source with stock, and a key for each role the fuzzer acts as."""
    with asgi.get_client(APP):  # starts the app's lifespan (once), which builds its hub
        pass
    hub: Hub = APP.state.hub
    hub.access.register_channel(
        ChannelDefinition(channel_id="web-shop", name="Web shop", kind="web", format="canonical"),
        "system:test",
    )
    hub.catalog.register_source(SourceDefinition.model_validate(SOURCE_LYON), "system:test")
    hub.catalog.apply_stock(
        StockSnapshot(source_id="wh-lyon", sku="RED-CHAIR", on_hand=50), "system:test"
    )
    channel = hub.access.issue_key(
        IssueKey(role=Role.CHANNEL, channel_id="web-shop", label="fuzz"), "system:test"
    )
    hub.deliver()
    try:
        yield {"admin": ADMIN_KEY, "channel": channel.api_key}
    finally:
        shutil.rmtree(DATA_DIR, ignore_errors=True)


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=EXAMPLES <= 10,  # the suite's short run is the same every time
)


@schema.parametrize()
@FUZZ
def test_as_the_admin_no_operation_answers_a_5xx_or_outside_its_document(
    case: Any, keys: dict[str, str]
) -> None:
    call_as(case, keys["admin"])


@schema.parametrize()
@FUZZ
def test_as_a_channel_no_operation_answers_a_5xx_or_outside_its_document(
    case: Any, keys: dict[str, str]
) -> None:
    call_as(case, keys["channel"])


def call_as(case: Any, key: str) -> None:
    """The case as generated, with this key as the only credential."""
    headers = {k: v for k, v in (case.headers or {}).items() if k.lower() not in CREDENTIAL_HEADERS}
    case.headers = {**headers, "Authorization": f"Bearer {key}"}
    # Every check but "schema-valid data is accepted": the document cannot say everything the
    # contracts check (a country code exists, money is not a float, a policy id was published).
    case.call_and_validate(excluded_checks=[schemathesis.checks.positive_data_acceptance])

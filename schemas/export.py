"""Write the JSON Schema of every message and body: `python -m schemas.export [folder]`.

The files in schemas/json/ are published with the project for the systems at the edges
(channels, warehouses, ERPs); a test keeps them in step with the models.
"""

import json
import sys
from pathlib import Path

from pydantic import BaseModel

from schemas.channels import ChannelDefinition
from schemas.envelope import EventEnvelope
from schemas.fulfillment import FulfillmentUpdate
from schemas.problems import Problem
from schemas.sources import SourceDefinition, StockDelta, StockSnapshot
from schemas.submission import OrderSubmission

MODELS: dict[str, type[BaseModel]] = {
    "order-submission": OrderSubmission,
    "event-envelope": EventEnvelope,
    "fulfillment-update": FulfillmentUpdate,
    "source-definition": SourceDefinition,
    "stock-snapshot": StockSnapshot,
    "stock-delta": StockDelta,
    "channel-definition": ChannelDefinition,
    "problem": Problem,
}
DEFAULT_FOLDER = Path(__file__).parent / "json"


def schemas() -> dict[str, str]:
    return {
        f"{name}.schema.json": json.dumps(model.model_json_schema(), indent=2, sort_keys=True)
        + "\n"
        for name, model in MODELS.items()
    }


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in schemas().items():
        (folder / name).write_text(text)
        print(folder / name)


if __name__ == "__main__":
    main()

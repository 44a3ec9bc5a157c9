"""The 202 of an order handed to the intake workers is written without its receipt model
(`hub.api.routes.orders.submitted_answer`): it must be the answer the model gave, byte for byte."""

import hashlib
import random
from uuid import UUID, uuid5

from hub.api.routes.orders import _json, submitted_answer
from hub.services.capture import SUBMITTED
from schemas.api import SubmissionReceipt


def test_the_same_status_headers_and_bytes_as_the_receipt_model() -> None:
    rng = random.Random(10)
    ids = [UUID(int=rng.getrandbits(128), version=4) for _ in range(200)]
    ids += [uuid5(ids[0], f"shop-{i}/E-{i}") for i in range(100)] + [UUID(int=0)]
    for i, order_id in enumerate(ids):
        digest = hashlib.sha256(str(i).encode()).hexdigest()
        receipt = SubmissionReceipt(
            order_id=str(order_id), outcome=SUBMITTED, status=SUBMITTED, digest=digest
        )
        expected = _json(receipt, 202, order_id)
        answer = submitted_answer(order_id, digest)
        assert answer.status_code == expected.status_code == 202
        assert answer.body == expected.body
        assert answer.raw_headers == expected.raw_headers
        assert answer.media_type == expected.media_type

"""What recording a routing decision costs, part by part, on the decisions a run really made.

`route_profile` watches the inputs the orchestrator records; afterwards each part of taking and
recording a decision is run again on every one of them, part after part, and timed in CPU:
`decide()` (with its explanation, as routing runs it), the decision record
(`decision_record`: `Decision.to_dict`, the candidates that hold nothing only counted), its
digest (`record_digest`), and the inputs record (`InputsRecorder.record`: the canonical body,
its digest, the compressed record; the source definitions already known, as in a running
hub). Parts are timed apart (each over all decisions, best of three rounds), so the figures
are CPU per decision of that part alone, without the event store's save.
"""

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from aggregates.decision_inputs import RecordedSource
from hub.bootstrap import Hub
from hub.services.decision_records import decision_record
from hub.services.recorded_inputs import InputsRecorder
from hub.services.rerun import recorded_policy
from orchestration_policies import Policy
from orchestration_policies.decision_inputs import DecisionInputs
from orchestration_policies.explain_record import record_digest

__all__ = ["recorded_inputs", "show_record_costs"]


@contextmanager
def recorded_inputs(hub: Hub) -> Iterator[list[DecisionInputs]]:
    """The inputs of every decision the orchestrator records meanwhile."""
    recorder = hub.orchestration.recorder
    original = recorder.record
    seen: list[DecisionInputs] = []

    def record(inputs: DecisionInputs, pending: dict[UUID, Aggregate]) -> str:
        seen.append(inputs)
        return original(inputs, pending)

    recorder.record = record  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        vars(recorder).pop("record", None)


def show_record_costs(hub: Hub, seen: list[DecisionInputs]) -> None:
    if not seen:
        return
    policies: dict[Any, Policy | None] = {}
    for inputs in seen:
        if inputs.policy not in policies:
            policies[inputs.policy] = recorded_policy(hub.policies, inputs.policy)
    work = [(i, policies[i.policy]) for i in seen if policies[i.policy] is not None]
    decisions = [inputs.decide(policy) for inputs, policy in work if policy is not None]
    records = [
        decision_record(d, i.holders, i.sources_not_given)
        for d, (i, _) in zip(decisions, work, strict=True)
    ]
    recorder = InputsRecorder(hub.store)
    for inputs, _ in work:  # the definitions become known, as in a hub that has been running
        pending: dict[UUID, Aggregate] = {}
        recorder.record(inputs, pending)
        recorder.saved({k: v for k, v in pending.items() if isinstance(v, RecordedSource)})
    parts: dict[str, Callable[[int], object]] = {
        "decide()": lambda n: work[n][0].decide(work[n][1]),  # type: ignore[arg-type]
        "decision record": lambda n: decision_record(
            decisions[n], work[n][0].holders, work[n][0].sources_not_given
        ),
        "record digest": lambda n: record_digest(records[n]),
        "inputs record": lambda n: recorder.record(work[n][0], {}),
    }
    cost = {name: _best_cpu(part, len(work)) for name, part in parts.items()}
    candidates = sum(len(i.candidates) for i, _ in work) / len(work)
    shown = ", ".join(f"{name} {1e6 * s:.0f}" for name, s in cost.items())
    recording = sum(s for name, s in cost.items() if name != "decide()")
    print(
        f"per decision ({len(work)} decisions, {candidates:.1f} candidates each), CPU us: "
        f"{shown}; recording (record + digest + inputs) {1e6 * recording:.0f}"
    )


def _best_cpu(part: Callable[[int], object], count: int, rounds: int = 3) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for n in range(count):
            part(n)
        best = min(best, time.process_time() - started)
    return best / count

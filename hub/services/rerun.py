"""Re-run a recorded routing decision: decide() again on its recorded inputs, with the policy
version that made it, and compare. Reads only; writes nothing.

A decision recorded before inputs were kept (or whose record cannot be read back faithfully)
answers why it cannot be re-run; it is never re-run on anything but what it saw.
"""

import functools
import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from uuid import UUID

from aggregates.ids import policy_aggregate_id
from hub.collector import collector_paused, freeze_what_is_loaded
from hub.services.decision_records import decision_record
from hub.services.decisions import latest_decided_order, order_decisions
from hub.services.policies import PolicyService
from hub.services.recorded_inputs import InputsReader, latest_inputs_digest
from hub.store import OrderStore
from orchestration_policies import Policy, PolicyError, default_policy, load_policy
from orchestration_policies.decision_diff import Difference, differences
from orchestration_policies.decision_inputs import DecisionInputs, InputsFormatError, PolicyRef
from orchestration_policies.explain_record import record_digest
from projections.decision_history import DecisionRecord

__all__ = [
    "NotRerunnable",
    "Rerun",
    "RerunError",
    "RerunService",
    "recorded_policy",
    "warm_in_background",
]


log = logging.getLogger(__name__)


class NotRerunnable(StrEnum):
    INPUTS_NOT_RECORDED = "inputs_not_recorded"
    INPUTS_UNREADABLE = "inputs_unreadable"
    POLICY_VERSION_UNKNOWN = "policy_version_unknown"


class RerunError(Exception):
    """The decision exists but cannot be re-run; `reason` says why."""

    def __init__(self, reason: NotRerunnable, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Rerun:
    order_id: UUID
    n: int
    sequence: int
    decided_at: str
    trigger: str
    outcome: str
    policy: PolicyRef
    inputs_digest: str
    recorded_digest: str
    rerun_digest: str
    differences: list[Difference]
    seconds: float  # loading the inputs and policy, deciding, comparing

    @property
    def identical(self) -> bool:
        return self.recorded_digest == self.rerun_digest and not self.differences

    def to_dict(self) -> dict[str, Any]:
        return {
            "order_id": str(self.order_id),
            "n": self.n,
            "sequence": self.sequence,
            "decided_at": self.decided_at,
            "trigger": self.trigger,
            "outcome": self.outcome,
            "identical": self.identical,
            "policy": {"id": self.policy.policy_id, "version": self.policy.version},
            "inputs_digest": self.inputs_digest,
            "recorded_digest": self.recorded_digest,
            "rerun_digest": self.rerun_digest,
            "differences": [d.to_dict() for d in self.differences],
            "milliseconds": round(self.seconds * 1000, 3),
        }


class RerunService:
    def __init__(self, store: OrderStore, policies: PolicyService) -> None:
        self._store = store
        self._policies = policies
        self._reader = InputsReader(store)
        # A published version never changes: compile each once (shared by the store's services).
        self._versions = _published_of(store)

    def decisions(
        self, order_id: UUID, inputs_recorded: bool = True
    ) -> tuple[str, list[DecisionRecord]] | None:
        """The order's channel and decisions as a re-run reads them: without their text
        explanation (`order_decisions(..., for_rerun=True)`; the decision history lists them
        with it), and whether each one's inputs are recorded not looked up when
        `inputs_recorded` is False; None for an unknown order."""
        found = order_decisions(self._store, order_id, inputs_recorded, for_rerun=True)
        return None if found is None else (found.channel, found.decisions)

    def rerun(
        self, decision: DecisionRecord, order_id: UUID, policy: Policy | None = None
    ) -> Rerun:
        """decide() again on what `decision` saw, with the recorded policy version (or the
        `policy` given, to see what another one would have done); RerunError when the
        recorded inputs or policy version cannot be had."""
        with collector_paused():  # its objects die with it: see hub.collector
            return self._rerun(decision, order_id, policy)

    def _rerun(self, decision: DecisionRecord, order_id: UUID, policy: Policy | None) -> Rerun:
        started = time.perf_counter()
        inputs = self.inputs_of(decision)
        if policy is None:
            policy = self._recorded_policy(inputs.policy)
        if policy is None:
            raise RerunError(
                NotRerunnable.POLICY_VERSION_UNKNOWN,
                f"policy {inputs.policy.policy_id!r} version {inputs.policy.version} is not "
                "published in this store",
            )
        again = decision_record(inputs.decide(policy), inputs.holders, inputs.sources_not_given)
        digest = record_digest(again)
        # Equal digests are equal records: the field-by-field walk is only for a difference.
        found = (
            []
            if digest == decision.decision_digest
            else differences(decision.decision.plain(), again.plain())
        )
        return Rerun(
            order_id=order_id,
            n=decision.n,
            sequence=decision.sequence,
            decided_at=decision.decided_at,
            trigger=str(decision.trigger),
            outcome=str(decision.outcome),
            policy=inputs.policy,
            inputs_digest=str(decision.inputs_digest),
            recorded_digest=decision.decision_digest,
            rerun_digest=digest,
            differences=found,
            seconds=time.perf_counter() - started,
        )

    def _recorded_policy(self, ref: PolicyRef) -> Policy | None:
        """`recorded_policy(ref)`, a published version kept once found. The bundled default's
        answer is not kept (its id and number may be published later, which then decides): it
        is given while its id has no published version, which one row tells (the versions'
        aggregate rebuilt was three queries, 0.2-0.3 ms of each re-run over HTTP)."""
        found = self._versions.get(ref)
        if found is not None:
            return found
        bundled = _bundled()
        recorder = self._store.events.recorder
        if not recorder.select_events(policy_aggregate_id(ref.policy_id), limit=1):
            return (
                bundled if (bundled.id, bundled.version) == (ref.policy_id, ref.version) else None
            )
        found = recorded_policy(self._policies, ref)
        if found is not None and found is not bundled:
            self._versions[ref] = found  # a published document: never changes
        return found

    def warm(self) -> bool:
        """Re-run the newest recorded decision as the re-run route does (its order's
        decisions read, its inputs read and decided again with the recorded policy version,
        the digests compared), answer unused; else decide the newest recorded inputs again.
        What the first re-run after a start paid is then paid here: the source definitions
        the next decisions share, their candidates' templates and the recorded policy
        version read; the order's events decoded a first time (pycountry's tables, the
        events' value codecs, pydantic's adapters: ~5 ms of that first re-run's CPU). That
        decision's order and inputs are then kept, as any re-run's are. False when there
        is nothing to warm. Writes nothing."""
        order_id = latest_decided_order(self._store)
        found = None if order_id is None else self.decisions(order_id, inputs_recorded=False)
        if order_id is not None and found is not None and found[1]:
            try:
                self.rerun(found[1][-1], order_id)
                return True
            except RerunError:  # its inputs not recorded (older data): the newest that are
                pass
        digest = latest_inputs_digest(self._store)
        inputs = None if digest is None else self._reader.load(digest)
        if inputs is None:
            return False
        policy = self._recorded_policy(inputs.policy)
        if policy is not None:
            decision_record(inputs.decide(policy), inputs.holders, inputs.sources_not_given)
        return True

    def inputs_of(self, decision: DecisionRecord) -> DecisionInputs:
        digest = decision.inputs_digest
        try:
            inputs = self._reader.load(digest) if digest else None
        except InputsFormatError as error:  # including a body that does not match its digest
            raise RerunError(NotRerunnable.INPUTS_UNREADABLE, str(error)) from error
        if inputs is None:
            raise RerunError(
                NotRerunnable.INPUTS_NOT_RECORDED,
                f"decision {decision.n} was recorded before decision inputs were kept: "
                "inputs not recorded, so it cannot be re-run",
            )
        return inputs


def recorded_policy(policies: PolicyService, ref: PolicyRef) -> Policy | None:
    """The policy as it was at `ref`'s version (published versions never change); the bundled
    default for its own id and version when it was never published; None if unknown."""
    found = policies.document(ref.policy_id, ref.version)
    if found is not None:
        try:
            return _compiled(found[1], ref.version)
        except PolicyError:
            return None  # a stored document this release cannot read any more
    bundled = _bundled()
    if (bundled.id, bundled.version) == (ref.policy_id, ref.version):
        return bundled
    return None


# The published policy versions found by re-runs, per store (the API makes a service per
# request): a version's document never changes. Few: a store publishes a handful of versions.
_PUBLISHED: "weakref.WeakKeyDictionary[OrderStore, dict[PolicyRef, Policy]]" = (
    weakref.WeakKeyDictionary()
)
_PUBLISHED_LOCK = threading.Lock()


def _published_of(store: OrderStore) -> dict[PolicyRef, Policy]:
    with _PUBLISHED_LOCK:
        return _PUBLISHED.setdefault(store, {})


@functools.lru_cache(maxsize=64)
def _compiled(document: str, version: int) -> Policy:
    """Parsing and type-checking a document's CEL takes milliseconds: once per text. The same
    (frozen) policy for each re-run of a version, as the API makes a service per request:
    decide() works out a policy's constants once per policy object."""
    return load_policy(document).model_copy(update={"version": version})


@functools.lru_cache(maxsize=1)
def _bundled() -> Policy:
    return default_policy()


def warm_in_background(
    freeze: bool = False,
    store: OrderStore | None = None,
    policies: PolicyService | None = None,
    first: Callable[[], object] | None = None,
) -> threading.Thread:
    """Compile the bundled policy now, in a thread of its own, rather than in the first re-run
    after a start: with it cel-python builds its grammar (a parser table: 0.15-0.3 s of CPU,
    most of that first re-run's 180-260 ms), which every policy's conditions share. Once per
    process (both are kept); the thread ends when done. At the process's own priority: at a
    lower one, on a busy machine, the first re-run came before it and compiled it again.

    Given the store and its policies, the newest recorded decision is then warmed too
    (`RerunService.warm`). `first` runs before all that (the API's route table: see
    `hub.api.route_table`). With `freeze` (a server's start), what the process has loaded by
    then, the grammar included, is then left out of the collector's passes (`hub.collector`)."""
    thread = threading.Thread(
        target=_warm,
        args=(freeze, store, policies, first),
        name="orderhub-warm-rerun",
        daemon=True,
    )
    thread.start()
    return thread


def _warm(
    freeze: bool,
    store: OrderStore | None,
    policies: PolicyService | None,
    first: Callable[[], object] | None,
) -> None:
    if first is not None:
        try:
            first()
        except Exception:  # a head start only, as below
            log.warning("warming before the policy failed", exc_info=True)
    _bundled()
    if store is not None and policies is not None:
        try:
            RerunService(store, policies).warm()
        except Exception:  # a head start only: whatever fails here, a re-run meets and says
            log.warning("warming the newest recorded decision failed", exc_info=True)
    if freeze:
        freeze_what_is_loaded()

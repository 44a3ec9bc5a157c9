"""What the aggregates can record, found by looking at their classes (not by a list to keep)."""

import importlib
import inspect
import pkgutil

from eventsourcing.domain import Aggregate, DomainEvent

import aggregates
from aggregates.contract import event_type_of


def recordable_event_classes() -> dict[str, type[DomainEvent]]:
    """The public type of every @event of every aggregate in aggregates/, with its class."""
    found: dict[str, type[DomainEvent]] = {}
    for module_info in pkgutil.iter_modules(aggregates.__path__):
        module = importlib.import_module(f"aggregates.{module_info.name}")
        for aggregate in vars(module).values():
            if not (inspect.isclass(aggregate) and issubclass(aggregate, Aggregate)):
                continue
            if aggregate.__module__ != module.__name__:
                continue
            for name, event_class in vars(aggregate).items():
                if not (inspect.isclass(event_class) and issubclass(event_class, DomainEvent)):
                    continue
                # "Event" is the base class; "Created" is a default nobody records unless an
                # @event("Created") gave it fields.
                if name == "Event" or (name == "Created" and not event_class.__annotations__):
                    continue
                found[event_type_of(event_class)] = event_class
    return found


def recordable_event_types() -> set[str]:
    return set(recordable_event_classes())

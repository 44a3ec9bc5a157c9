"""`orderhub decision …`: re-run recorded routing decisions against the configured store."""

import json
from collections.abc import Callable
from typing import Annotated
from uuid import UUID

import typer
from rich.console import Console

from hub.settings import Settings

out = Console()
err = Console(stderr=True)


def decision_commands(settings: Callable[[], Settings]) -> typer.Typer:
    """The `decision` command group; `settings` reads and checks the configuration."""
    group = typer.Typer(help="Routing decisions: re-run them on their recorded inputs.")
    group.command("rerun")(_rerun_with(settings))
    return group


def _rerun_with(settings: Callable[[], Settings]) -> Callable[..., None]:
    def rerun(
        order_id: Annotated[UUID, typer.Argument(help="The order's id")],
        n: Annotated[
            int | None, typer.Argument(min=1, help="Which decision, 1-based (default: the latest)")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON")] = False,
    ) -> None:
        """decide() again on a decision's recorded inputs with the policy version that made it.

        Exit 0: identical; 1: the re-run differs (listed field by field); 2: unknown order or
        decision, or it cannot be re-run (inputs not recorded, unreadable, policy version
        unknown). Writes nothing.
        """
        _rerun(settings(), order_id, n, as_json)

    return rerun


def _rerun(settings: Settings, order_id: UUID, n: int | None, as_json: bool) -> None:
    from hub.bootstrap import bootstrap
    from hub.services.rerun import RerunError, RerunService

    hub = bootstrap(settings)
    try:
        service = RerunService(hub.store, hub.policies)
        found = service.decisions(order_id, inputs_recorded=False)  # the re-run tells
        if found is None:
            err.print(f"[red]no order {order_id}[/red]")
            raise typer.Exit(2)
        decisions = found[1]
        if not decisions or (n is not None and n > len(decisions)):
            err.print(f"[red]order {order_id} has {len(decisions)} decision(s)[/red]")
            raise typer.Exit(2)
        decision = decisions[(n or len(decisions)) - 1]
        try:
            result = service.rerun(decision, order_id)
        except RerunError as error:
            if as_json:
                print(json.dumps({"n": decision.n, "reason": error.reason.value}))
            err.print(f"[yellow]decision {decision.n}: {error.detail}[/yellow]")
            raise typer.Exit(2) from None
    finally:
        hub.close()
    if as_json:
        print(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        _show(result.to_dict())
    raise typer.Exit(0 if result.identical else 1)


def _show(answer: dict[str, object]) -> None:
    policy = answer["policy"]
    out.print(
        f"order {answer['order_id']} decision {answer['n']}: {answer['trigger']} -> "
        f"{answer['outcome']} at {answer['decided_at']} (policy {policy}; re-run in "
        f"{answer['milliseconds']} ms)"
    )
    out.print(f"identical: {str(answer['identical']).lower()}")
    out.print(f"recorded digest: {answer['recorded_digest']}")
    out.print(f"re-run digest:   {answer['rerun_digest']}")
    for difference in answer["differences"]:  # type: ignore[attr-defined]
        out.print(
            f"  {difference['field']}: recorded {difference['recorded']!r}, "
            f"re-run {difference['rerun']!r}",
            soft_wrap=True,
            markup=False,
        )

"""`orderhub groups`: the hub's consumer groups on the broker, and those an upgrade left behind."""

import asyncio
from collections.abc import Callable
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from hub.settings import Settings

out = Console()
err = Console(stderr=True)


def groups_command(settings: Callable[[], Settings]) -> Callable[..., None]:
    """The `groups` command; `settings` reads and checks the configuration."""

    def groups(
        delete: Annotated[
            bool,
            typer.Option("--delete", help="Delete the groups left behind (none is in use)"),
        ] = False,
    ) -> None:
        """List the hub's consumer groups. "left behind": a role's group from before its topics
        moved to consumers of their own; its offsets matter only to a rollback. With --delete,
        those are removed (the broker refuses any that still has members). Exit 1 when a
        deletion was refused."""
        from hub.streaming.left_groups import delete_groups, hub_groups

        s = settings()
        if s.kafka_bootstrap is None:
            err.print("[red]Set ORDERHUB_KAFKA_BOOTSTRAP first: groups live on the broker.[/red]")
            raise typer.Exit(2)
        found = asyncio.run(hub_groups(s))
        table = Table("group", "partitions committed", "left behind")
        for g in found:
            table.add_row(g.group, str(g.partitions), "yes" if g.left_behind else "")
        out.print(table)
        old = [g.group for g in found if g.left_behind]
        if not delete:
            if old:
                out.print(f"{len(old)} left behind; `orderhub groups --delete` removes them.")
            return
        refused = {g: why for g, why in asyncio.run(delete_groups(s, old)).items() if why}
        for group in old:
            reason = refused.get(group)
            said = "deleted" if reason is None else f"[red]kept: {reason}[/red]"
            out.print(f"{group}: {said}")
        if refused:
            raise typer.Exit(1)

    return groups

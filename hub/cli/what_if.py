"""`orderhub what-if`: try a draft policy over recorded history, against the configured store."""

import json
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from hub.settings import Settings
from orchestration_policies.what_if_report import MEASURES

out = Console()
err = Console(stderr=True)
ROWS = (("Decisions re-decided", "decisions"), *MEASURES)


def what_if_command(settings: Callable[[], Settings]) -> Callable[..., None]:
    """The `what-if` command; `settings` reads and checks the configuration."""

    def what_if(
        policy: Annotated[
            Path, typer.Option("--policy", exists=True, dir_okay=False, help="Draft policy YAML")
        ],
        first: Annotated[
            datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="First day (UTC)")
        ],
        last: Annotated[
            datetime, typer.Option("--to", formats=["%Y-%m-%d"], help="Last day (UTC), included")
        ],
        channel: Annotated[
            str | None, typer.Option("--channel", help="Only this channel's decisions")
        ] = None,
        changes: Annotated[
            int, typer.Option("--changes", min=0, help="Changed decisions to list")
        ] = 10,
        as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
    ) -> None:
        """Re-decide the recorded decisions of a window with a draft policy, in their order,
        carrying the draft's own reservations forward; print the draft beside the live policy.

        Exit 0: done; 2: the draft or the window is not valid. Writes nothing.
        """
        _run(settings(), policy, first.date(), last.date(), channel, changes, as_json)

    return what_if


def _run(
    settings: Settings,
    path: Path,
    first: date,
    last: date,
    channel: str | None,
    changes: int,
    as_json: bool,
) -> None:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from hub.bootstrap import bootstrap
    from hub.services.what_if import WhatIfService, Window, draft_policy, window_problems
    from orchestration_policies import PolicyError

    wrong = window_problems(first, last)
    try:
        draft = draft_policy(path.read_text("utf-8"))
    except PolicyError as error:
        wrong += list(error.problems)
    if wrong:
        for problem in wrong:
            err.print(f"[red]{problem}[/red]", soft_wrap=True)
        raise typer.Exit(2)
    hub = bootstrap(settings)
    try:
        columns = (
            TextColumn("re-deciding"),
            BarColumn(),
            TextColumn("{task.completed:,} decisions"),
        )
        with Progress(*columns, TimeElapsedColumn(), console=err, transient=True) as progress:
            task = progress.add_task("what-if", total=None)
            report = WhatIfService(hub.store).run(
                draft,
                Window(first, last, channel),
                lambda done: progress.update(task, completed=done),
                changes_kept=changes,
            )
    except PolicyError as error:
        for problem in error.problems:
            err.print(f"[red]{problem}[/red]", soft_wrap=True)
        raise typer.Exit(2) from None
    finally:
        hub.close()
    data = report.to_dict()
    if as_json:
        out.print_json(json.dumps(data))
        return
    out.print(_table(f"Draft {draft.id} v{draft.version} beside live, all channels", data["total"]))
    for name, comparison in data["by_channel"].items():
        out.print(_table(f"Channel {name}", comparison))
    out.print(
        f"{data['redecided']:,} decisions re-decided, {data['skipped']:,} skipped (inputs not "
        f"recorded), {data['out_of_scope']:,} out of scope; {data['changed']:,} changed."
    )
    for change in data["changes"]:
        out.print(
            f"  {change['order_id']} #{change['n']} ({change['channel']}): "
            f"{change['live']['outcome']} from {', '.join(change['live']['sources']) or '-'} → "
            f"{change['draft']['outcome']} from {', '.join(change['draft']['sources']) or '-'}"
        )


def _table(title: str, comparison: dict[str, Any]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("")
    table.add_column("live", justify="right")
    table.add_column("draft", justify="right")
    for label, key in ROWS:
        live, draft = comparison["live"][key], comparison["draft"][key]
        table.add_row(label, _cell(live), _cell(draft))
    return table


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        return ", ".join(f"{amount} {currency}" for currency, amount in value.items()) or "0"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return f"{value:,}"

"""``panen registry import`` and ``panen token create|list|revoke``."""

from __future__ import annotations

from typing import Annotated

import typer

from panen.cli._common import app, console
from panen.settings import get_settings

registry_app = typer.Typer(help="The registry: cooperatives, fields, nodes, tokens.", no_args_is_help=True)
app.add_typer(registry_app, name="registry")
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")


@registry_app.command("import")
def registry_import(
    fleet_file: Annotated[
        str | None, typer.Argument(help="Fleet YAML (default: the Kota Batu fleet).")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Also replace rows people changed through the API since.")
    ] = False,
    shift_to_today: Annotated[
        bool,
        typer.Option(
            "--shift-to-today",
            help="Move the planting dates so the file's anchor is today (as the simulator does); "
            "otherwise the dates are the file's, as POST /v1/registry/import takes them.",
        ),
    ] = False,
) -> None:
    """Import (or update) cooperatives, fields, stations and nodes from a fleet file."""
    import datetime as dt
    from pathlib import Path

    from firmware_sim.fleet import DEFAULT_FLEET_PATH
    from services import Conflict, InvalidInput
    from services.registry_import import import_file
    from storage.db.engine import open_registry

    cfg = get_settings()
    path = Path(fleet_file) if fleet_file else (cfg.fleet_file or DEFAULT_FLEET_PATH)
    sessions = open_registry(cfg.registry_url)
    with sessions() as session:
        try:
            today = dt.datetime.now(dt.UTC).date()
            counts = import_file(session, path, anchor=today if shift_to_today else None, overwrite=overwrite)
        except (InvalidInput, Conflict) as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from exc
    console.print(f"imported {counts} from {path}")
    if counts.get("kept_edited"):
        console.print(
            f"[yellow]kept {counts['kept_edited']} rows people changed through the API[/yellow] "
            "(--overwrite replaces them)"
        )


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option(help="farmer, coop_manager, offtaker or admin")],
    name: Annotated[str, typer.Option(help="Who or what the token is for.")] = "",
    coop: Annotated[str | None, typer.Option(help="Cooperative (coop_manager).")] = None,
    farmer: Annotated[str | None, typer.Option(help="Farmer id (farmer).")] = None,
) -> None:
    """Create an API token and print it (it is stored hashed and cannot be shown again)."""
    from services import InvalidInput
    from services.access import Role, create_token
    from storage.db.engine import open_registry

    try:
        chosen = Role(role)
    except ValueError as exc:
        console.print(f"[red]unknown role {role!r}[/red]: choose farmer, coop_manager, offtaker or admin")
        raise typer.Exit(2) from exc
    sessions = open_registry(get_settings().registry_url)
    with sessions() as session:
        try:
            token = create_token(
                session, name=name or f"{role} token", role=chosen, coop_id=coop, farmer_id=farmer
            )
        except InvalidInput as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from exc
    print(token)


@token_app.command("list")
def token_list() -> None:
    """List API tokens (never the tokens themselves: only their ids, names, roles and scope)."""
    from rich.table import Table

    from services.access import list_tokens
    from storage.db.engine import open_registry

    table = Table("id", "name", "role", "cooperative", "farmer", "created (UTC)", "revoked")
    with open_registry(get_settings().registry_url)() as session:
        for t in list_tokens(session):
            table.add_row(
                str(t.id),
                t.name,
                t.role,
                t.coop_id or "",
                t.farmer_id or "",
                t.created_at.strftime("%Y-%m-%d %H:%M"),
                "yes" if t.revoked else "",
            )
    console.print(table)


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument(help="The id shown by `panen token list`.")],
) -> None:
    """Revoke a token; a running API stops accepting it within 10 s."""
    from services.access import revoke
    from storage.db.engine import open_registry

    with open_registry(get_settings().registry_url)() as session:
        if not revoke(session, token_id):
            console.print(f"[red]no token with id {token_id}[/red] (see `panen token list`)")
            raise typer.Exit(2)
    console.print(f"token {token_id} revoked")

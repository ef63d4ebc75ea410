"""``panen notify run|test|retry|link|list`` and ``panen contact add|list``: the outbox's sender, a test
message, a sign-in link, and who hears about alerts."""

from __future__ import annotations

from typing import Annotated

import typer

from panen.cli._common import app, console
from panen.settings import get_settings

notify_app = typer.Typer(
    help="Notifications: the outbox's sender, test messages, sign-in links.", no_args_is_help=True
)
app.add_typer(notify_app, name="notify")
contact_app = typer.Typer(help="Contacts: who hears about alerts, over which channels.", no_args_is_help=True)
app.add_typer(contact_app, name="contact")
_CLI = "panen CLI"


@notify_app.command("run")
def notify_run(
    every: Annotated[float, typer.Option(help="Seconds between passes over the outbox.")] = 2.0,
) -> None:
    """Deliver the outbox (what `panen api` does unless started with --no-notify); Ctrl-C stops."""
    import signal

    from panen.logs import configure_logging
    from panen.wiring import notify_config
    from services.notify.outbox import Sender
    from storage.db.engine import open_registry

    cfg = get_settings()
    configure_logging(cfg.log_level, cfg.log_format)
    sender = Sender(open_registry(cfg.registry_url), notify_config(cfg))
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: sender.stop())
    console.print("delivering notifications; Ctrl-C stops", style="dim")
    sender.run_forever(every_s=every)


@notify_app.command("retry")
def notify_retry(
    ids: Annotated[
        list[int] | None, typer.Argument(help="Only these notifications (default: every failed one).")
    ] = None,
) -> None:
    """Send failed notifications again (after fixing a channel's settings): back in the outbox, due now,
    delivered by `panen api` or `panen notify run`."""
    from services.notify.outbox import retry_failed, utc_now
    from storage.db.engine import open_registry

    with open_registry(get_settings().registry_url)() as session:
        again = retry_failed(session, utc_now(), ids or None)
    if not again:
        console.print("no failed notification to send again")
        return
    console.print(f"{len(again)} notifications back in the outbox: {', '.join(map(str, again))}")


@notify_app.command("test")
def notify_test(
    to: Annotated[
        str,
        typer.Option(
            help="KIND:ADDRESS, e.g. whatsapp:+6281234567890, email:tani@example.org, telegram:12345, "
            "ntfy:panen-test, webhook:http://127.0.0.1:9000/hook"
        ),
    ],
    language: Annotated[str, typer.Option(help="id (Bahasa Indonesia) or en.")] = "id",
) -> None:
    """Send a test message now, straight through Apprise (not the outbox); exit 1 if it fails."""
    import uuid

    from panen.wiring import notify_config
    from services import InvalidInput
    from services.notify.channels import ChannelUnavailable, apprise_url, check_address, deliver
    from services.notify.messages import probe_message

    kind, _, address = to.partition(":")
    try:
        value = check_address(kind, address)
        url = apprise_url(kind, value, f"test:{uuid.uuid4().hex}", notify_config(get_settings()).channels)
    except (InvalidInput, ChannelUnavailable) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    message = probe_message(language=language)
    error = deliver(url, message.title, message.body)
    if error is not None:
        console.print(f"[red]not delivered[/red] to {kind} {value}: {error}")
        raise typer.Exit(1)
    console.print(f"[green]delivered[/green] to {kind} {value}")


@notify_app.command("link")
def notify_link(
    farmer: Annotated[str | None, typer.Option(help="The farmer's registry id.")] = None,
    contact: Annotated[int | None, typer.Option(help="Or the contact's id.")] = None,
) -> None:
    """Print a personal, single-use sign-in link to the field page (valid 24 h)."""
    from sqlalchemy import select

    from panen.wiring import notify_config
    from services import InvalidInput
    from services.notify.outbox import utc_now
    from services.notify.signin import issue_link
    from storage.db import Contact
    from storage.db.engine import open_registry

    sessions = open_registry(get_settings().registry_url)
    with sessions() as session:
        row = (
            session.get(Contact, contact)
            if contact is not None
            else session.scalars(select(Contact).where(Contact.farmer_id == farmer)).first()
        )
        if row is None:
            console.print("[red]no such contact[/red]: add one with `panen contact add`")
            raise typer.Exit(2)
        cfg = get_settings()
        if "public_url" not in cfg.model_fields_set:
            # Issue 40: the link pointed at port 8000 while the demo ran on another; say where it points.
            console.print(
                f"[yellow]PANEN_PUBLIC_URL is not set: the link points at {cfg.public_url}[/yellow]; set it "
                "to where people reach the API (the demo prints its own link, with its port)"
            )
        try:
            print(issue_link(session, row, notify_config(cfg), utc_now()))
        except InvalidInput as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from exc


@notify_app.command("list")
def notify_list(
    status: Annotated[str | None, typer.Option(help="pending, sending, sent, failed or capped.")] = None,
    limit: Annotated[int, typer.Option(help="Newest N.")] = 30,
) -> None:
    """The newest messages of the outbox and what became of them."""
    from rich.table import Table
    from sqlalchemy import select

    from storage.db import Notification
    from storage.db.engine import open_registry

    sessions = open_registry(get_settings().registry_url)
    table = Table("id", "to", "event", "status", "tries", "created (UTC)", "error")
    with sessions() as session:
        query = select(Notification).order_by(Notification.id.desc()).limit(limit)
        if status:
            query = query.where(Notification.status == status)
        for n in session.scalars(query):
            table.add_row(
                str(n.id),
                f"{n.channel_kind}:{n.address}",
                n.event,
                n.status,
                str(n.attempts),
                n.created_at.strftime("%Y-%m-%d %H:%M"),
                (n.last_error or "")[:60],
            )
    console.print(table)


@contact_app.command("add")
def contact_add(
    name: Annotated[str, typer.Option(help="The person's name.")],
    farmer: Annotated[str | None, typer.Option(help="A farmer's registry id (role farmer).")] = None,
    coop: Annotated[str | None, typer.Option(help="A cooperative (role coop_manager).")] = None,
    role: Annotated[str, typer.Option(help="farmer, coop_manager, offtaker or admin.")] = "farmer",
    whatsapp: Annotated[str | None, typer.Option(help="Phone number, +62… or 08….")] = None,
    telegram: Annotated[str | None, typer.Option(help="Telegram chat id.")] = None,
    email: Annotated[str | None, typer.Option(help="E-mail address.")] = None,
    ntfy: Annotated[str | None, typer.Option(help="ntfy topic.")] = None,
    webhook: Annotated[str | None, typer.Option(help="http(s) URL receiving JSON.")] = None,
    language: Annotated[str, typer.Option(help="id or en.")] = "id",
) -> None:
    """Add a contact with its channels and default subscriptions; prints its id."""
    from services import InvalidInput, OutOfScope
    from services.access import Principal, Role
    from services.notify.contacts import ContactSpec, create_contact
    from storage.db.engine import open_registry

    channels = tuple(
        (kind, address)
        for kind, address in (
            ("whatsapp", whatsapp),
            ("telegram", telegram),
            ("email", email),
            ("ntfy", ntfy),
            ("webhook", webhook),
        )
        if address
    )
    try:
        spec = ContactSpec(
            name=name, role=Role(role), coop_id=coop, farmer_id=farmer, language=language, channels=channels
        )
    except ValueError as exc:
        console.print(f"[red]unknown role {role!r}[/red]")
        raise typer.Exit(2) from exc
    sessions = open_registry(get_settings().registry_url)
    with sessions() as session:
        try:
            row = create_contact(session, Principal(0, _CLI, Role.ADMIN, None, None), spec)
        except (InvalidInput, OutOfScope) as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from exc
        print(row.id)


@contact_app.command("list")
def contact_list() -> None:
    """Every contact with its channels (an unconfirmed one, which carries nothing until its owner
    confirms it, is marked so)."""
    from rich.table import Table
    from sqlalchemy import select

    from storage.db import Contact, ContactChannel
    from storage.db.engine import open_registry

    sessions = open_registry(get_settings().registry_url)
    table = Table("id", "name", "role", "cooperative", "farmer", "lang", "quiet (WIB)", "channels")
    with sessions() as session:
        for c in session.scalars(select(Contact).order_by(Contact.id)):
            chans = session.scalars(select(ContactChannel).where(ContactChannel.contact_id == c.id))
            table.add_row(
                str(c.id),
                c.name,
                c.role,
                c.coop_id or "",
                c.farmer_id or "",
                c.language,
                f"{c.quiet_start_h:02d}-{c.quiet_end_h:02d}",
                ", ".join(
                    f"{ch.kind}:{ch.address}" + ("" if ch.confirmed_at else " (unconfirmed)") for ch in chans
                ),
            )
    console.print(table)

"""``flask --app wsgi`` commands for operators: accounts, tokens, the demo hamlet, the ledger.

Each command is a thin wrapper over the services the web pages use; a DomainError becomes a
one-line error and a non-zero exit status.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click
from flask import Flask, current_app, url_for
from flask.cli import with_appcontext
from sqlalchemy import select

from ledger import LedgerError, LogVerifier, VerificationError
from ledger.schema import metadata as ledger_metadata

from .backup import BackupError, backup_to, open_source, read_backup, write_backup
from .context import goc
from .demo import DEMO_PASSWORD, seed_demo
from .errors import DomainError, NotFound
from .extensions import db
from .models import Batch, Role, User
from .models.households import PUBLIC_FIELDS
from .services.accounts import create_admin, issue_token
from .services.checkpoints import publish_checkpoints, published_size
from .services.households import enroll_household, national_phone, normalise_phone
from .services.orders import expire_orders
from .storage import StorageError

F = TypeVar("F", bound=Callable[..., Any])


def domain_errors(command: F) -> F:
    """Report a service's DomainError as a click error (exit status 1), rolling back."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except DomainError as exc:
            db.session.rollback()
            lines = [exc.message]
            for name, messages in exc.errors.items():
                text = " ".join(map(str, messages)) if isinstance(messages, list) else messages
                lines.append(f"  {name}: {text}")
            raise click.ClickException("\n".join(lines)) from exc

    return wrapper  # type: ignore[return-value]


def _password_option(help_text: str) -> Callable[[F], F]:
    return click.option(
        "--password",
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        help=f"{help_text} (asked for when not given).",
    )


def _user_by_phone(phone: str) -> User:
    user = db.session.scalar(select(User).where(User.phone == normalise_phone(phone)))
    if user is None:
        raise NotFound(f"No account with the phone number {phone}.")
    return user


def _acting_admin(phone: str | None) -> User:
    if phone:
        user = _user_by_phone(phone)
        if user.role is not Role.ADMIN:
            raise click.ClickException(f"{phone} is not a co-op admin.")
        return user
    admin = db.session.scalar(select(User).where(User.role == Role.ADMIN).order_by(User.id))
    if admin is None:
        raise click.ClickException("No co-op admin yet: run `flask create-admin` first.")
    return admin


@click.command("create-admin")
@click.option("--phone", required=True, help="Login phone number, e.g. 0912345678.")
@click.option("--name", required=True, help="Name shown in the app.")
@_password_option("Login password, at least 8 characters")
@with_appcontext
@domain_errors
def create_admin_command(phone: str, name: str, password: str) -> None:
    """Create a co-op admin (the hamlet's community digital team)."""
    user = create_admin(db.session, phone=phone, password=password, name=name)
    click.echo(f"Created co-op admin {user.name} ({user.phone}).")


def _profile_options(command: F) -> F:
    for name in reversed(PUBLIC_FIELDS):
        if name != "head_name":
            option = "--" + name.replace("_", "-")
            command = click.option(option, name, default="", help=f"Public profile: {name}.")(
                command
            )
    return command


@click.command("enroll-household")
@click.option("--phone", required=True, help="The household's login phone number.")
@click.option("--head-name", required=True, help="Head of household (public).")
@_profile_options
@click.option("--member-name", default="", help="Name of the member who logs in.")
@click.option("--share-location/--no-share-location", default=False, help="Show photo places.")
@click.option("--admin", "admin_phone", help="Acting co-op admin's phone (default: the first).")
@_password_option("Initial login password, at least 8 characters")
@with_appcontext
@domain_errors
def enroll_household_command(
    phone: str,
    head_name: str,
    member_name: str,
    share_location: bool,
    admin_phone: str | None,
    password: str,
    **profile: str,
) -> None:
    """Enroll a farm household: its login and its signing key, registered in the ledger."""
    household = enroll_household(
        db.session,
        goc(),
        actor=_acting_admin(admin_phone),
        profile={"head_name": head_name, **profile},
        phone=phone,
        password=password,
        member_name=member_name,
        share_location=share_location,
    )
    click.echo(f"Enrolled household {household.code} ({household.head_name}), login {phone}.")


@click.command("issue-token")
@click.argument("phone")
@click.option("--label", default="", help="What the token is for, e.g. the phone app.")
@with_appcontext
@domain_errors
def issue_token_command(phone: str, label: str) -> None:
    """Create an API bearer token for an account; it is printed once and never stored."""
    token = issue_token(db.session, user=_user_by_phone(phone), label=label)
    click.echo(token)
    click.echo("Keep this token now: it cannot be shown again.", err=True)


def batch_url(batch: Batch) -> str:
    """The batch's public page on PUBLIC_BASE_URL (/b/<code>, the storefront's)."""
    with current_app.test_request_context(base_url=goc().settings.public_base_url + "/"):
        return url_for("storefront.batch", code=batch.code, _external=True)


@click.command("seed-demo")
@click.option(
    "--allow-production", is_flag=True, help="Seed even when GOC_ENV=production (not advised)."
)
@with_appcontext
@domain_errors
def seed_demo_command(allow_production: bool) -> None:
    """Create the demo hamlet (idempotent) and print its logins and a batch URL."""
    if goc().settings.env == "production" and not allow_production:
        raise click.ClickException(
            "Refusing to create demo accounts with a known password in production "
            "(GOC_ENV=production); pass --allow-production if you really mean it."
        )
    result = seed_demo(db.session, goc())
    created = result.created
    if any(created.values()):
        click.echo(
            f"Demo hamlet ready: created {created['accounts']} accounts, "
            f"{created['batches']} batches, {created['steps']} steps."
        )
    else:
        click.echo("Demo hamlet already in place: nothing to add.")
    click.echo(f"\nDemo logins (password for all: {DEMO_PASSWORD})")
    click.echo(f"  {national_phone(result.admin.phone)}  co-op admin: {result.admin.name}")
    for user in result.households:
        household = user.household
        where = f"{household.head_name} ({household.province})"
        click.echo(f"  {national_phone(user.phone)}  household: {where}")
    click.echo(f"\nBatch page: {batch_url(result.showcase)}")
    if result.on_sale:
        click.echo(f"On sale (order and pay by VietQR): {batch_url(result.on_sale)}")
    webhook_key = goc().settings.payment_webhook_key
    if webhook_key:
        with current_app.test_request_context(base_url=goc().settings.public_base_url + "/"):
            webhook = url_for("payments.sepay", _external=True)
        click.echo(f"Payment webhook: POST {webhook}")
        click.echo(f"  with the header  Authorization: Apikey {webhook_key}")


@click.command("expire-orders")
@with_appcontext
def expire_orders_command() -> None:
    """Release the stock of unpaid orders whose time is up (run it every few minutes)."""
    click.echo(f"Expired {expire_orders(db.session)} unpaid orders.")


def verified_summary(workers: int | None = None) -> str:
    """Verify the whole ledger; raises VerificationError, else returns the summary line."""
    app_goc = goc()
    verifier = LogVerifier(
        log_key=app_goc.ledger.log_signer.verifier,
        authority_keys=[app_goc.authority.verifier],
        workers=workers,
    )
    return verifier.verify_log(app_goc.ledger.iter_log()).line()


@click.command("verify-ledger")
@click.option(
    "--workers", type=int, default=None, help="Processes checking signatures (default: CPUs)."
)
@with_appcontext
def verify_ledger_command(workers: int | None) -> None:
    """Verify the whole ledger against the log key and the co-op authority key."""
    try:
        click.echo(verified_summary(workers))
    except VerificationError as exc:
        click.echo(f"FAIL: {exc}", err=True)
        raise SystemExit(1) from exc


def _backup_tables() -> list[Any]:
    """Every table, parents before children; the ledger's have no foreign keys."""
    return [*ledger_metadata.sorted_tables, *db.metadata.sorted_tables]


@click.command("backup")
@click.argument("destination")
@with_appcontext
def backup_command(destination: str) -> None:
    """Back up the database (app and ledger) to a file or s3://bucket/key (photos: see
    docs/operations.md)."""
    counts: dict[str, int] = {}

    def write(out: Any) -> None:
        counts.update(write_backup(db.engine, _backup_tables(), out))

    try:
        backup_to(destination, write, endpoint_url=goc().settings.s3_endpoint_url)
    except (BackupError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    size = counts.get("ledger_entries", 0)
    click.echo(f"Backed up {sum(counts.values())} rows ({size} ledger entries) to {destination}.")


@click.command("restore")
@click.argument("source")
@with_appcontext
def restore_command(source: str) -> None:
    """Restore a backup into this EMPTY, migrated database, then verify the ledger."""
    try:
        with open_source(source, endpoint_url=goc().settings.s3_endpoint_url) as stream:
            counts = read_backup(db.engine, _backup_tables(), stream)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Restored {sum(counts.values())} rows from {source}.")
    try:
        click.echo(verified_summary())
    except VerificationError as exc:
        click.echo(f"FAIL: the restored ledger does not verify: {exc}", err=True)
        raise SystemExit(1) from exc
    checkpoint = goc().ledger.latest_checkpoint()
    if checkpoint is not None:
        click.echo(f"Latest checkpoint: size {checkpoint.size}, root {checkpoint.root.hex()}")


@click.command("publish-checkpoints")
@with_appcontext
def publish_checkpoints_command() -> None:
    """Write to object storage every checkpoint not yet published there (safe to repeat)."""
    try:
        count = publish_checkpoints(db.engine, goc().storage)
    except (StorageError, LedgerError) as exc:
        raise click.ClickException(f"publication failed: {exc}") from exc
    latest = published_size(goc().storage)
    click.echo(f"Published {count} checkpoints; the latest published is size {latest}.")


COMMANDS = (
    backup_command,
    restore_command,
    create_admin_command,
    enroll_household_command,
    issue_token_command,
    publish_checkpoints_command,
    seed_demo_command,
    expire_orders_command,
    verify_ledger_command,
)


def register(app: Flask) -> None:
    for command in COMMANDS:
        app.cli.add_command(command)

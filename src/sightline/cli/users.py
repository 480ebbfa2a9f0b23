"""``sightline user`` and ``sightline token``: accounts, certification and API tokens.

Passwords are read from a hidden prompt (typed twice), or for automation from the
environment variable named by :data:`PASSWORD_ENV`; never from a command-line option, which
would land in shell history and in the process list. Secrets (the TOTP provisioning URI, a
token) are printed once and never stored in clear.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, time, timedelta

import typer
from rich.table import Table

from sightline.cli.common import (
    app_context,
    cli_requester,
    console,
    handle_errors,
    print_json,
    visible,
)
from sightline.domain.access import Role
from sightline.domain.users import User
from sightline.errors import InvalidInputError
from sightline.services.access import accounts
from sightline.services.access import tokens as token_service
from sightline.services.access import users as user_service
from sightline.services.access.audit import cli_actor

PASSWORD_ENV = "SIGHTLINE_ADMIN_PASSWORD"  # noqa: S105 - the name of a variable, not a value
"""Where ``create-admin`` and ``add`` read the password when it is set (automation)."""

user_app = typer.Typer(help="Manage users and their certification.", no_args_is_help=True)
token_app = typer.Typer(help="Issue and revoke API tokens for tools.", no_args_is_help=True)


def _password() -> str:
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env:
        return from_env
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


def _show_enrolment(user: User, uri: str) -> None:
    console.print(f"user {visible(user.username)} created (id {user.id}, role {user.role.value})")
    console.print("add this to the user's authenticator app now; it is not shown again:")
    typer.echo(uri)  # never wrapped: it is copied or turned into a QR code verbatim


@user_app.command("create-admin")
@handle_errors
def user_create_admin(
    agency: str = typer.Option(..., "--agency", help="Agency code of the administrator."),
    username: str = typer.Option(..., "--username", help="Sign-in name (a-z, 0-9, . _ -)."),
    display_name: str = typer.Option("", "--display-name", help="Name to show."),
) -> None:
    """Create the first system administrator (once); prints the TOTP enrolment URI."""
    with app_context() as ctx:
        user, uri = user_service.create_admin(
            ctx,
            actor=cli_actor(),
            agency_code=agency,
            username=username,
            password=_password(),
            display_name=display_name,
        )
    _show_enrolment(user, uri)


@user_app.command("add")
@handle_errors
def user_add(
    username: str = typer.Argument(..., help="Sign-in name (a-z, 0-9, . _ -)."),
    agency: str = typer.Option(..., "--agency", help="Agency code."),
    role: Role = typer.Option(..., "--role", help="What the user is for."),
    display_name: str = typer.Option("", "--display-name", help="Name to show."),
) -> None:
    """Create a user; prints the TOTP enrolment URI once."""
    with app_context() as ctx:
        user, uri = user_service.create_user(
            ctx,
            actor=cli_actor(),
            agency_code=agency,
            username=username,
            password=_password(),
            role=role,
            display_name=display_name,
        )
    _show_enrolment(user, uri)


@user_app.command("certify")
@handle_errors
def user_certify(
    username: str = typer.Argument(..., help="The user to certify."),
    until: str = typer.Option(..., "--until", help="Last valid day, YYYY-MM-DD (UTC)."),
) -> None:
    """Certify a user to handle case material through the given day (UTC)."""
    try:
        end = datetime.combine(date.fromisoformat(until) + timedelta(days=1), time(), tzinfo=UTC)
    except (ValueError, OverflowError):  # 9999-12-31 has no next day
        raise InvalidInputError("--until: a date, YYYY-MM-DD, before 9999-12-31") from None
    with app_context() as ctx:
        user = user_service.certify(ctx, actor=cli_actor(), username=username, until=end)
    console.print(
        f"user {visible(user.username)} certified until {end.isoformat()}", highlight=False
    )


@user_app.command("revoke-certification")
@handle_errors
def user_revoke_certification(
    username: str = typer.Argument(..., help="The user whose certification ends now."),
) -> None:
    """Withdraw a user's certification at once."""
    with app_context() as ctx:
        user = user_service.revoke_certification(ctx, actor=cli_actor(), username=username)
    console.print(f"user {visible(user.username)} is no longer certified")


@user_app.command("disable")
@handle_errors
def user_disable(
    username: str = typer.Argument(..., help="The user to switch off."),
) -> None:
    """Disable an account: its sessions end and its tokens are refused at once."""
    with app_context() as ctx:
        user, ended = accounts.set_disabled(ctx, cli_requester(), username, disabled=True)
    console.print(f"user {visible(user.username)} disabled; {ended} live session(s) ended")


@user_app.command("enable")
@handle_errors
def user_enable(
    username: str = typer.Argument(..., help="The user to switch on again."),
) -> None:
    """Enable a disabled account (sign-in needs password and one-time code as before)."""
    with app_context() as ctx:
        user, _ = accounts.set_disabled(ctx, cli_requester(), username, disabled=False)
    console.print(f"user {visible(user.username)} enabled")


@user_app.command("reset-password")
@handle_errors
def user_reset_password(
    username: str = typer.Argument(..., help="The user whose password is replaced."),
) -> None:
    """Set a new password for a user (prompted twice); their sessions end."""
    with app_context() as ctx:
        ended = accounts.reset_password(ctx, cli_requester(), username, _password())
    console.print(f"password of {visible(username)} replaced; {ended} live session(s) ended")


@user_app.command("list")
@handle_errors
def user_list(
    agency: str | None = typer.Option(None, "--agency", help="Only this agency's users."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List users with role, certification and lock state."""
    with app_context() as ctx:
        users = user_service.list_users(ctx, agency)
    rows = [
        {
            "id": u.id,
            "username": u.username,
            "display_name": u.display_name,
            "agency_id": u.agency_id,
            "role": u.role.value,
            "certified_until": u.certified_until.isoformat() if u.certified_until else None,
            "locked_until": u.locked_until.isoformat() if u.locked_until else None,
            "disabled": u.disabled,
        }
        for u in users
    ]
    if as_json:
        print_json(rows)
        return
    table = Table("id", "username", "agency", "role", "certified until", "locked until")
    for u in users:
        certified = u.certified_until.isoformat() if u.certified_until else "-"
        locked = u.locked_until.isoformat() if u.locked_until else "-"
        table.add_row(
            str(u.id), visible(u.username), str(u.agency_id), u.role.value, certified, locked
        )
    console.print(table)


@token_app.command("create")
@handle_errors
def token_create(
    username: str = typer.Argument(..., help="Whose rights the token carries."),
    name: str = typer.Option(..., "--name", help="What the token is for."),
    scope: list[str] = typer.Option(..., "--scope", help="A scope; repeat for several."),
    days: int = typer.Option(90, "--days", help="Lifetime in days (at most 366)."),
) -> None:
    """Issue an API token; prints its secret once (only a hash of it is stored)."""
    with app_context() as ctx:
        token_id, secret = token_service.create_token(
            ctx,
            actor=cli_actor(),
            username=username,
            name=name,
            scopes=scope,
            ttl=timedelta(days=days),
        )
    console.print(f"token {token_id} created; copy the secret now, it is not shown again:")
    typer.echo(secret)


@token_app.command("revoke")
@handle_errors
def token_revoke(token_id: int = typer.Argument(..., help="The token's id.")) -> None:
    """Revoke an API token at once."""
    with app_context() as ctx:
        token_service.revoke_token(ctx, actor=cli_actor(), token_id=token_id)
    console.print(f"token {token_id} revoked")

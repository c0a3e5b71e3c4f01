"""The exceptions snowbridge raises: one base class, :class:`Error`, and a class per kind of
failure, named after the meanings of the CLI's exit codes.

Every exception carries what the CLI would print: the message (``str(e)``), what to do next
(:attr:`Error.hint`), the kind as the CLI's ``--json`` errors name it (:attr:`Error.kind`) and
the CLI's exit code for it (:attr:`Error.exit_code`), so a script can hand the failure on as
the CLI would.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Type

__all__ = [
    "Error",
    "LoginRequired",
    "Forbidden",
    "NotFound",
    "Unreachable",
    "InstanceError",
    "Conflict",
    "BrowserError",
    "Cancelled",
    "CredentialsRefused",
    "BadInput",
    "UsageError",
    "InternalError",
]


class Error(Exception):
    """Any failure snowbridge reports.

    Attributes:
        message: What went wrong, in words a person can act on.
        kind: The kind as the CLI's JSON errors name it (``"login_required"``, ``"forbidden"``,
            ``"not_found"``, ``"unreachable"``, ``"instance"``, ``"conflict"``, ``"browser"``,
            ``"cancelled"``, ``"credentials"``, ``"bad_input"``, ``"usage"``, ``"internal"``).
        hint: What to do next, or ``None``.
        exit_code: The exit code the CLI gives this failure (4 login required, 5 forbidden,
            2 usage, 1 anything else).
        instance: The instance's name, where the call was for one.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str = "internal",
        hint: Optional[str] = None,
        exit_code: int = 1,
        instance: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.hint = hint
        self.exit_code = exit_code
        self.instance = instance

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class LoginRequired(Error):
    """No valid session, and none can be had without a person (the CLI's exit 4).

    Attributes:
        command: The command a person runs to log in again, e.g.
            ``"snowbridge connect dev --login"`` (from Python: ``snowbridge.login("dev")``).
            The message names it too.
    """

    def __init__(self, message: str, *, command: str, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.command = command

    def __str__(self) -> str:
        text = super().__str__()
        if self.command not in text:
            text += f"\n  run `{self.command}` to log in again"
        return text


class Forbidden(Error):
    """The instance refused: an ACL, a data policy or a missing OAuth scope (the CLI's exit 5).

    Attributes:
        refusal: The instance's own message (``"Operation Failed (ACL Exception Update Failed
            due to security constraints)"``), from its error envelope.
        reason: Why, as snowbridge reads the refusal: ``"acl"``, ``"data_policy"``,
            ``"scope"`` or ``"other"``.
        fields: For a data policy, the mandatory fields it named (labels, as the instance gives
            them); else empty.
    """

    def __init__(
        self,
        message: str,
        *,
        refusal: str,
        reason: str = "other",
        fields: Optional[List[str]] = None,
        **kwargs: object,
    ) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.refusal = refusal
        self.reason = reason
        self.fields = list(fields or [])


class NotFound(Error):
    """What was named does not exist: a record (by number or sys_id), an API path, a table."""


class Unreachable(Error):
    """The instance could not be reached, is hibernating, or answered something that is not
    ServiceNow's API (a proxy's page, the wrong URL)."""


class InstanceError(Error):
    """The instance answered with an error that is none of the others (a 5xx after retries, a
    rate limit that did not end, a URL too long)."""


class Conflict(Error):
    """The record is not where the call could take it without undoing or rewriting what is
    there (an incident resolved with another code, closed, canceled)."""


class BrowserError(Error):
    """Chrome or chromedriver failed (not found, crashed, a page that did not load). The
    message names the diagnostics folder where a screenshot and the page were kept."""


class Cancelled(Error):
    """A person cancelled: closed the login window, or pressed Deny."""


class CredentialsRefused(Error):
    """The instance refused credentials that no login can fix: a client secret, an API key, a
    JWT signing key or a client certificate the configuration must change."""


class BadInput(Error, ValueError):
    """Input from outside was unusable: an instance file (with its line and key), a file to
    attach, a session file that cannot be decrypted."""


class UsageError(Error, ValueError):
    """The call itself was wrong: an unknown instance name (with "did you mean"), a value of
    the wrong form, a resolution code the instance does not offer."""


class InternalError(Error):
    """Anything else: I/O on snowbridge's own files, or a bug."""


_BY_KIND: Dict[str, Type[Error]] = {
    "login_required": LoginRequired,
    "forbidden": Forbidden,
    "not_found": NotFound,
    "unreachable": Unreachable,
    "instance": InstanceError,
    "conflict": Conflict,
    "browser": BrowserError,
    "cancelled": Cancelled,
    "credentials": CredentialsRefused,
    "bad_input": BadInput,
    "usage": UsageError,
    "internal": InternalError,
}


def from_native(
    message: str,
    *,
    kind: str,
    hint: Optional[str],
    exit_code: int,
    instance: Optional[str],
    command: Optional[str],
    refusal: Optional[str],
    reason: Optional[str],
    fields: List[str],
) -> Error:
    """The exception for an error of the Rust library (called by ``snowbridge._native``)."""
    common = dict(kind=kind, hint=hint, exit_code=exit_code, instance=instance)
    cls = _BY_KIND.get(kind, Error)
    if cls is LoginRequired:
        name = instance or "NAME"
        return LoginRequired(
            message, command=command or f"snowbridge connect {name} --login", **common
        )
    if cls is Forbidden:
        return Forbidden(
            message,
            refusal=refusal or message,
            reason=reason or "other",
            fields=fields,
            **common,
        )
    return cls(message, **common)

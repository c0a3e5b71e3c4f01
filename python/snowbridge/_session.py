"""The session a script works with: :class:`Session`, and what its actions return."""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field
from typing import (
    TYPE_CHECKING,
    Any,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Union,
)
from urllib.parse import urlencode

from . import _native
from ._errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    import pysnc
    import requests

__all__ = ["Session", "Records", "Attached", "Attachment", "Resolved"]

PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class Attachment:
    """One file attached to a record.

    Attributes:
        file: The local path, as given.
        sys_id: The attachment's sys_id on the instance (``sys_attachment``).
        file_name: Its name as the instance lists it.
    """

    file: str
    sys_id: str
    file_name: str


@dataclass(frozen=True)
class Attached:
    """What :meth:`Session.attach` did.

    Attributes:
        sys_id: The record's sys_id.
        path: Which path did the work: ``"rest"`` (the Attachment API) or ``"browser"`` (the
            record form's attachment dialog, after the API refused).
        reason: Why the browser was used (the API's refusal), or ``None``.
        attachments: Each file with its attachment, in the order given.
    """

    sys_id: str
    path: str
    reason: Optional[str]
    attachments: List[Attachment] = field(default_factory=list)


@dataclass(frozen=True)
class Resolved:
    """What :meth:`Session.resolve` did.

    Attributes:
        number: The incident's number (``INC0010001``).
        sys_id: Its sys_id.
        state: Its state now, as the Table API reads it (``"6"`` Resolved, ``"7"`` Closed).
        path: Which path did the work: ``"rest"`` (the Table API), ``"browser"`` (the form's
            UI action, after the API refused), or ``None`` when the incident already was where
            asked and nothing was sent.
        changed: Whether anything was changed (``path is not None``).
        reason: Why the browser was used (the API's refusal), or ``None``.
        remarks: What was left as it stood or not checked (notes that differ from the stored
            ones, a code that could not be checked before sending).
    """

    number: Optional[str]
    sys_id: str
    state: Optional[str]
    path: Optional[str]
    reason: Optional[str]
    remarks: List[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.path is not None


class Records(Iterator[Dict[str, Any]]):
    """A table's records, streamed from Rust: each record once, as a ``dict`` of field name to
    value (strings by default; ``{"value", "display_value"}`` dicts with
    ``display_value="all"``), ``sys_id`` always among them.

    A task in Rust reads the pages (by key, ``sys_id>LAST``, unless the query orders the rows)
    and hands records over a bounded channel: memory holds about one page whatever the count,
    and the next page is read while the script works on this one. Waiting for a page releases
    the GIL. An error ends the stream by raising from ``next()``. :meth:`close` (or leaving a
    ``with`` block) stops the reading early.
    """

    def __init__(self, native: "_native.Records") -> None:
        self._native = native

    def __iter__(self) -> "Records":
        return self

    def __next__(self) -> Dict[str, Any]:
        record = self._native.__next__()
        if record is None:
            raise StopIteration
        return record

    def close(self) -> None:
        """Stops the stream; the session saves what it learned."""
        self._native.close()

    def __enter__(self) -> "Records":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class Session:
    """An authenticated session with one instance, as ``snowbridge connect`` makes sure of.

    Get one from :func:`snowbridge.connect` (never prompts, never opens a browser) or
    :func:`snowbridge.login` (a person at Chrome). Every call runs in the Rust library with the
    GIL released while it waits on the network or the browser. What the session learns
    (cookies the instance rotates, a new CSRF token, renewed tokens) goes back to the vault, so
    the CLI and the next script see it. Safe to share between threads.
    """

    def __init__(self, native: "_native.Session", how: Optional[str] = None) -> None:
        self._native = native
        facts = native.facts()
        self._instance: str = facts["instance"]
        self._url: str = facts["url"]
        self._method: str = facts["method"]
        self._user: Optional[str] = facts["user"]
        self._obtained: str = facts["obtained"]
        expires = facts["expires_at"]
        self._expires_at = (
            datetime.datetime.fromtimestamp(expires, datetime.timezone.utc)
            if expires is not None
            else None
        )
        self._how = how

    def __repr__(self) -> str:
        return f"<snowbridge.Session {self._instance} user={self._user!r} method={self._method!r}>"

    @property
    def instance(self) -> str:
        """The instance's name (its file is ``instances/NAME.toml``)."""
        return self._instance

    @property
    def url(self) -> str:
        """The instance's address, without a trailing slash (``https://acme.service-now.com``)."""
        return self._url

    @property
    def method(self) -> str:
        """How the session authenticates: the instance file's ``auth`` (``"browser"``,
        ``"basic"``, ``"api-key"``, ``"oauth-password"``, ``"oauth-pkce"``,
        ``"oauth-client-credentials"``, ``"jwt"``, ``"mtls"``)."""
        return self._method

    @property
    def user(self) -> Optional[str]:
        """The user the session runs as (``sys_user.user_name``), where known: the login's
        user, or the instance file's ``username``; ``None`` for client credentials, API keys
        and certificates, whose user the instance decides."""
        return self._user

    @property
    def obtained(self) -> str:
        """How the session was obtained, in words (``"browser login (interactive)"``...)."""
        return self._obtained

    @property
    def how(self) -> Optional[str]:
        """How :func:`snowbridge.connect` got the session, in words (``"stored session,
        checked with the instance"``); ``None`` for a session from :func:`snowbridge.login`."""
        return self._how

    @property
    def expires_at(self) -> Optional[datetime.datetime]:
        """When the session stops working without a person, as an aware UTC ``datetime``: the
        access token's expiry for the token methods (snowbridge renews it shortly before, so
        calls go on working while a refresh token or the secrets last), the remember-me
        cookies' for a browser session that has them; ``None`` where only the instance knows
        (a browser session ends after it has been idle for its timeout, 30 minutes by
        default). Read when the session was opened."""
        return self._expires_at

    def api(
        self,
        method: str,
        path: str,
        json: Any = None,
        params: Optional[Mapping[str, Any]] = None,
    ) -> Any:
        """One authenticated call, like ``snowbridge api``; returns the parsed JSON reply
        (``None`` for an empty one: ``204``, ``HEAD``).

        Args:
            method: The HTTP method (``"GET"``, ``"POST"``, ``"PATCH"``, ...).
            path: The path on the instance, with or without a query
                (``"/api/now/table/incident"``), or an absolute URL on the instance.
            json: A body to send as JSON (anything ``json.dumps`` takes), or ``None``.
            params: Query parameters to add (``{"sysparm_limit": 1}``); lists repeat the name.

        Raises:
            LoginRequired: The session is gone; ``.command`` says how to log in again.
            Forbidden: The instance refused (``.refusal`` is its message).
            NotFound: A ``404``. Other kinds as :class:`snowbridge.Error` says.
        """
        target = path
        if params:
            target += ("&" if "?" in target else "?") + urlencode(params, doseq=True)
        return self._native.api(method, target, json)

    def records(
        self,
        table: str,
        query: Optional[str] = None,
        fields: Optional[Sequence[str]] = None,
        limit: Optional[int] = None,
        *,
        display_value: Union[bool, str] = False,
        page_size: int = 1000,
    ) -> Records:
        """Streams a table's records, like ``snowbridge records``: each once, in constant
        memory (see :class:`Records`).

        Args:
            table: The table (``"incident"``, ``"sys_user"``...).
            query: An encoded query (``"active=true^priority=1"``); with an ``ORDERBY`` the
                rows come in that order (paged by offset), else in sys_id order (paged by key).
            fields: The fields to return (all when ``None``); ``sys_id`` is always included.
            limit: At most this many records.
            display_value: ``False`` stored values, ``True`` display values, ``"all"`` both.
            page_size: Records per request, 1 to 10,000.
        """
        if limit is not None and limit < 0:
            raise UsageError(f"limit={limit} is below 0", kind="usage", exit_code=2)
        shown = {False: "false", True: "true"}.get(display_value, str(display_value))  # type: ignore[call-overload]
        native = self._native.records(
            table, query or "", list(fields or []), limit, shown, page_size
        )
        return Records(native)

    def attach(
        self,
        table: str,
        record: str,
        files: Union[PathLike, Iterable[PathLike]],
    ) -> Attached:
        """Attaches files to a record, like ``snowbridge attach``: the Attachment API first;
        where the instance refuses it with an ACL and the instance file says
        ``fallback = "auto"``, the record form's attachment dialog in Chrome, on this session's
        cookies (no new login). Each upload is judged by what the record then holds, so a
        rerun after a lost reply does not attach twice.

        Args:
            table: The record's table.
            record: A sys_id, or a number (``"INC0010001"``).
            files: A path or several; every file is read before anything is sent.

        The browser of the fallback is the one :func:`snowbridge.connect` was given.

        Returns:
            :class:`Attached`, whose ``path`` says which path did the work.
        """
        if isinstance(files, (str, os.PathLike)):
            files = [files]
        done = self._native.attach(table, record, [os.fspath(f) for f in files])
        return Attached(
            sys_id=done["sys_id"],
            path=done["path"],
            reason=done["reason"],
            attachments=[Attachment(**a) for a in done["attachments"]],
        )

    def resolve(
        self,
        record: str,
        code: str,
        notes: str,
        close: bool = False,
    ) -> Resolved:
        """Resolves (with ``close=True``, closes) an incident, like ``snowbridge resolve``:
        the code checked against the instance's own choices first (a wrong one raises
        :class:`UsageError` listing them), never moving an incident backwards nor rewriting a
        resolution; the Table API first, and where an ACL refuses the state change and the
        instance file allows it, the form's "Resolve Incident" (and "Close Incident") in
        Chrome. Safe to rerun: an incident already resolved with ``code`` is left as it is.

        Args:
            record: The incident: a sys_id or a number (``"INC0010001"``).
            code: The resolution code (``close_code``), e.g. ``"Solution provided"``.
            notes: The resolution notes (``close_notes``).
            close: Close it too (closing needs ``itil_admin`` or ``admin``).

        The browser of the fallback is the one :func:`snowbridge.connect` was given.

        Returns:
            :class:`Resolved`, whose ``path`` says which path did the work.

        Raises:
            Conflict: Resolved, closed or canceled otherwise; left alone.
        """
        done = self._native.resolve(record, code, notes, close)
        return Resolved(**done)

    def requests_session(self) -> "requests.Session":
        """A ``requests.Session`` that carries this session to the instance's address.

        Requests to the instance go through the Rust session (see
        :mod:`snowbridge._requests`): cookies and ``X-UserToken`` for a browser session (a
        fresh token taken once on the instance's ``401``), the Bearer token (renewed before it
        expires), API key or client certificate for the others; cookies the instance rotates
        go back to the vault after each reply. Requests to other hosts carry nothing of the
        session. A dead session raises :class:`LoginRequired`.
        """
        from ._requests import make_session

        return make_session(self._native, self._url)

    def pysnc(self) -> "pysnc.ServiceNowClient":
        """A ``pysnc.ServiceNowClient`` (pysnc unchanged) on :meth:`requests_session`: pysnc
        takes any ``requests.Session`` as its authentication, so its ``GlideRecord`` and
        attachments run on this session, single-sign-on accounts included. pysnc's own retry
        adapter is left out (``auto_retry=False``): the Rust session retries what is safe.

        Raises:
            ImportError: pysnc is not installed (``pip install pysnc``, or the ``pysnc``
                extra of this package).
        """
        try:
            from pysnc import ServiceNowClient
        except ImportError as e:
            raise ImportError(
                "Session.pysnc() needs pysnc: pip install pysnc "
                "(or install snowbridge with the extra: pip install './python[pysnc]')"
            ) from e
        return ServiceNowClient(self._url, self.requests_session(), auto_retry=False)

    def save(self) -> None:
        """Writes what the session learned to the vault now (it also does so after every
        call, and when the session is garbage-collected)."""
        self._native.save()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *_: object) -> None:
        self.save()

"""snowbridge for Python: the same ServiceNow sessions as the ``snowbridge`` CLI, in the
scripts people already write.

::

    import snowbridge

    session = snowbridge.connect("dev")          # never prompts, never opens a browser
    for incident in session.records("incident", "active=true", fields=["number"]):
        print(incident["number"])
    client = session.pysnc()                     # pysnc, on the person's own session
    gr = client.GlideRecord("incident")

The Rust library underneath (no subprocess) keeps the session in the encrypted vault that the
CLI uses, so ``snowbridge connect dev --login`` at a terminal and a script share it.
"""

from __future__ import annotations

import os
from typing import Callable, Optional, Union

from . import _native
from ._errors import (
    BadInput,
    BrowserError,
    Cancelled,
    Conflict,
    CredentialsRefused,
    Error,
    Forbidden,
    InstanceError,
    InternalError,
    LoginRequired,
    NotFound,
    Unreachable,
    UsageError,
)
from ._session import Attached, Attachment, Records, Resolved, Session

__version__ = "0.1.0"

__all__ = [
    "connect",
    "login",
    "Session",
    "Records",
    "Attached",
    "Attachment",
    "Resolved",
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


def connect(
    name: str,
    *,
    headless: Optional[bool] = None,
    chrome: Optional[Union[str, "os.PathLike[str]"]] = None,
    chromedriver: Optional[Union[str, "os.PathLike[str]"]] = None,
) -> Session:
    """A valid session of instance ``name``, as ``snowbridge connect NAME`` makes sure of: the
    stored session (trusted within the instance's validation window, else checked with one
    cheap call); else, where the instance file names a Chrome profile, the cookies imported
    from it; for the token, key and certificate methods, their grant with the secrets at hand
    (environment, OS keyring). Never prompts, never opens a browser: safe in cron jobs.

    The instance files and the vault are found as the CLI finds them (``SNOWBRIDGE_CONFIG_DIR``,
    ``SNOWBRIDGE_DATA_DIR``, else the platform's folders).

    Args:
        name: The instance (its file is ``instances/NAME.toml``).
        headless, chrome, chromedriver: The browser for the fallback of
            :meth:`Session.attach` and :meth:`Session.resolve`: ``True`` no window, ``False`` a
            window, ``None`` a window where a display exists; the programs to run (else
            ``SNOWBRIDGE_CHROME``, ``SNOWBRIDGE_CHROMEDRIVER``, the usual places).

    Raises:
        LoginRequired: No valid session and none can be had without a person; ``.command``
            (``"snowbridge connect NAME --login"``) is what to run, and the message names it.
        UsageError: No instance of that name (the message says which ones exist).
        BadInput: A broken instance file (its line and key) or an unreadable session file.
        Unreachable: The instance cannot be reached or is hibernating.
    """
    native, how = _native.connect(
        name,
        headless,
        os.fspath(chrome) if chrome is not None else None,
        os.fspath(chromedriver) if chromedriver is not None else None,
    )
    return Session(native, how)


def login(
    name: str,
    headless: bool = False,
    *,
    user: Optional[str] = None,
    mfa_code: Optional[str] = None,
    timeout: float = 300,
    remember_me: bool = True,
    chrome: Optional[Union[str, "os.PathLike[str]"]] = None,
    chromedriver: Optional[Union[str, "os.PathLike[str]"]] = None,
    on_message: Optional[Callable[[str], None]] = None,
    one_time_code: Optional[Callable[[str, str], Optional[str]]] = None,
) -> Session:
    """Logs in to instance ``name`` as ``snowbridge connect NAME --login`` does, stores the
    session in the vault and returns it.

    For ``auth = "browser"``: Chrome opens on the instance's login page through chromedriver.
    With the user's password at hand (``SNOWBRIDGE_PASSWORD``, or the OS keyring through
    ``snowbridge password NAME``) snowbridge fills in the form; otherwise the person at the
    window logs in (single sign-on, multi-factor) within ``timeout`` seconds. For
    ``oauth-pkce``: the authorization in the same browser (log in, press Allow). For the other
    methods: their grant with the secrets at hand (nobody is asked).

    Args:
        name: The instance.
        headless: Chrome without a window; then snowbridge must fill the form itself and needs
            the password at hand.
        user: Who logs in (else the instance file's ``username``).
        mfa_code: The one-time code of a multi-factor login, when known up front.
        timeout: Seconds to wait for the login to finish (at most a week).
        remember_me: Tick "Remember me" when snowbridge fills the form.
        chrome, chromedriver: The programs to run (else ``SNOWBRIDGE_CHROME``,
            ``SNOWBRIDGE_CHROMEDRIVER``, the usual places).
        on_message: Called with each line meant for the person ("log in in the browser
            window..."); by default the lines go to ``sys.stderr``.
        one_time_code: Called as ``one_time_code(user, instance)`` when the form asks for a
            multi-factor code (again after a refused one, three tries in all); returns the code,
            or ``None`` to give up.

    The GIL is released while the browser runs; Ctrl-C (``KeyboardInterrupt``) stops the
    login and its browser.

    Raises:
        Cancelled: The person closed the window.
        LoginRequired: A headless login with no password at hand (nothing was started).
        BrowserError: Chrome or chromedriver failed.
    """
    native = _native.login(
        name,
        headless,
        user,
        mfa_code,
        float(timeout),
        remember_me,
        os.fspath(chrome) if chrome is not None else None,
        os.fspath(chromedriver) if chromedriver is not None else None,
        on_message,
        one_time_code,
    )
    return Session(native)

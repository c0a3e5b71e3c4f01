"""Type stubs of ``snowbridge._native``, the Rust half of the package (PyO3). Scripts use the
``snowbridge`` package; these are the calls its Python half makes. Every call that waits on the
network or the browser releases the GIL, and raises a ``snowbridge.Error`` subclass (built by
``snowbridge._errors.from_native``) for the library's errors; Ctrl-C stops the wait.
"""

from typing import Any, Callable, Dict, List, Optional, Tuple

def connect(
    name: str, headless: Optional[bool], chrome: Optional[str], chromedriver: Optional[str]
) -> Tuple[Session, str]:
    """``snowbridge connect NAME``: the session, and how it was had, in words. The browser
    arguments are for the fallback of ``attach`` and ``resolve``."""

def login(
    name: str,
    headless: Optional[bool],
    user: Optional[str],
    mfa_code: Optional[str],
    timeout: float,
    remember_me: bool,
    chrome: Optional[str],
    chromedriver: Optional[str],
    on_message: Optional[Callable[[str], None]],
    one_time_code: Optional[Callable[[str, str], Optional[str]]],
) -> Session:
    """``snowbridge connect NAME --login``; ``timeout`` in seconds, above 0."""

class Session:
    """A session of one instance, shared by every thread that holds it."""

    def facts(self) -> Dict[str, Any]:
        """``instance`` (str), ``url`` (str, no trailing slash), ``method`` (str: the instance
        file's ``auth``), ``user`` (str or None), ``obtained`` (str, in words), ``expires_at``
        (seconds since the Unix epoch, float, or None)."""
    def api(self, method: str, target: str, json: Any) -> Any:
        """One call answering JSON; the parsed reply, or None for an empty body. ``target``:
        a path and query on the instance, or an absolute URL on it."""
    def send(
        self,
        method: str,
        url: str,
        headers: List[Tuple[str, str]],
        body: Optional[bytes],
    ) -> Tuple[int, str, str, List[Tuple[str, bytes]], bytes]:
        """One request through the session; the reply whatever its status, as (status code,
        reason phrase, URL answered, headers in order with repeats, body). The session's own
        headers among ``headers`` are ignored. Cookies the instance rotated are saved to the
        vault before it returns. Raises LoginRequired for a session that is gone."""
    def records(
        self,
        table: str,
        query: str,
        fields: List[str],
        limit: Optional[int],
        display_value: str,
        page_size: int,
    ) -> Records:
        """A stream of ``table``'s records; ``display_value`` is "false", "true" or "all";
        ``page_size`` 1 to 10000."""
    def attach(
        self,
        table: str,
        record: str,
        files: List[str],
    ) -> Dict[str, Any]:
        """``sys_id``, ``path`` ("rest" or "browser"), ``reason`` (str or None), ``attachments``
        (a list of dicts: ``file``, ``sys_id``, ``file_name``)."""
    def resolve(
        self,
        record: str,
        code: str,
        notes: str,
        close: bool,
    ) -> Dict[str, Any]:
        """``number``, ``sys_id``, ``state``, ``path`` ("rest", "browser" or None when nothing
        changed), ``reason``, ``remarks`` (a list of str)."""
    def save(self) -> None:
        """Writes what the session learned to the vault."""

class Records:
    """Records streamed from a Rust task through a bounded channel."""

    def __iter__(self) -> Records: ...
    def __next__(self) -> Optional[Dict[str, Any]]:
        """The next record as a dict, or None at the end (the Python wrapper turns that into
        StopIteration); raises the error that ended the stream."""
    def close(self) -> None:
        """Stops the stream."""

"""A ``requests`` transport adapter that sends through a snowbridge session.

Mounted on the instance's address, it hands every request to the Rust session underneath, the
same code the CLI runs: the session's cookies and ``X-UserToken`` (one fresh token taken on the
instance's ``401``), or its Bearer token (renewed before it expires, and once more on a
``401``), API key or client certificate; rate limits waited out and safe retries. Cookies the
instance rotates are written back to the vault after each reply, so the CLI and the next script
start from them. Replies come back whatever their status, as from any adapter; a session that
is gone raises :class:`snowbridge.LoginRequired` instead.

The ``requests.Session`` itself holds no credential: its cookie jar stays empty (the session's
cookies live in the Rust session and the vault), and the headers snowbridge sets (``Cookie``,
``X-UserToken``, ``Authorization``, ``x-sn-apikey``, ``User-Agent``, ``Accept-Encoding``...)
are ignored if a script sets them. ``timeout``, ``verify``, ``cert`` and ``proxies`` passed to
``requests`` are ignored as well: the instance file's ``timeout_secs`` and ``ca_file`` apply.
"""

from __future__ import annotations

import io
from typing import Any, Iterable, List, Mapping, Optional, Tuple, Union

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers
from urllib3 import HTTPResponse
from urllib3._collections import HTTPHeaderDict

from . import _native

__all__ = ["SnowbridgeAdapter", "make_session"]


def _body_bytes(body: Any) -> Optional[bytes]:
    """A prepared request's body as bytes (``requests`` may give str, bytes, a file or an
    iterable of chunks)."""
    if body is None:
        return None
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    if hasattr(body, "read"):
        data = body.read()
        return data.encode("utf-8") if isinstance(data, str) else bytes(data)
    chunks: Iterable[Union[bytes, str]] = body
    return b"".join(c.encode("utf-8") if isinstance(c, str) else bytes(c) for c in chunks)


class SnowbridgeAdapter(BaseAdapter):
    """Sends ``requests``' requests through a snowbridge session (see the module's doc)."""

    def __init__(self, native: "_native.Session") -> None:
        super().__init__()
        self._native = native

    def send(  # type: ignore[override]
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Optional[Mapping[str, str]] = None,
    ) -> requests.Response:
        headers: List[Tuple[str, str]] = [
            (str(name), str(value)) for name, value in request.headers.items()
        ]
        status, reason, url, reply_headers, body = self._native.send(
            request.method or "GET",
            request.url or "",
            headers,
            _body_bytes(request.body),
        )
        raw_headers = HTTPHeaderDict()
        for name, value in reply_headers:
            raw_headers.add(name, value.decode("latin-1"))
        raw = HTTPResponse(
            body=io.BytesIO(body),
            headers=raw_headers,
            status=status,
            reason=reason,
            preload_content=False,
            decode_content=False,
            request_url=url,
        )
        response = requests.Response()
        response.status_code = status
        response.headers = CaseInsensitiveDict(raw_headers)
        response.encoding = get_encoding_from_headers(response.headers)
        response.raw = raw
        response.reason = reason
        response.url = url
        response.request = request
        response.connection = self
        return response

    def close(self) -> None:
        """Nothing to close: the Rust session's connections close with it."""


def make_session(native: "_native.Session", base_url: str) -> requests.Session:
    """A ``requests.Session`` whose requests to ``base_url`` go through ``native``.

    The adapter is mounted on ``base_url + "/"``: longer than the bare address that clients
    such as pysnc mount their own adapters on, so it stays in charge of the instance.
    """
    session = requests.Session()
    session.headers["Accept"] = "application/json"
    session.mount(base_url.rstrip("/") + "/", SnowbridgeAdapter(native))
    return session

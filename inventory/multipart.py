"""``multipart/related`` bodies (RFC 2387, RFC 2046 5.1), written and read as streams.

DICOMweb sends instances as the parts of a ``multipart/related`` body (PS3.18 8.7.3.1,
8.6.1.2): each part has its own headers (``Content-Type`` at least) and holds one
representation, e.g. a Part 10 file. An inventory part can be gigabytes long, so neither side
holds a part in memory: :func:`iter_multipart` frames parts given as chunk iterators, and
:class:`MultipartReader` finds the boundaries in a stream of chunks and hands each part's body
out in chunks too.

The standard library's :mod:`email` parser reads whole messages into memory, and httpx has no
multipart reader; so this small one is ours (RFC 2046 5.1.1 grammar: CRLF before every
delimiter, a closing delimiter with ``--``, preamble and epilogue ignored).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Iterator

__all__ = ["MultipartError", "MultipartReader", "boundary_of", "iter_multipart", "new_boundary"]

_CRLF = b"\r\n"
#: RFC 2046 5.1.1: 1 to 70 characters from this set, not ending with a space.
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")


class MultipartError(ValueError):
    """A ``multipart/related`` body that does not follow RFC 2046 5.1.1."""


def new_boundary() -> str:
    """A fresh random boundary (32 hex digits: never found in a part by chance)."""
    return "DICOM-INVENTORY-" + secrets.token_hex(16)


def boundary_of(content_type: str) -> str:
    """The ``boundary`` parameter of a multipart Content-Type value.

    Raises
    ------
    MultipartError
        If there is none, or it is not a valid RFC 2046 boundary.
    """
    for param in content_type.split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key.strip().lower() == "boundary":
            value = value.strip().strip('"')
            if not _BOUNDARY.fullmatch(value):
                raise MultipartError(f"boundary {value!r} is not valid (RFC 2046 5.1.1)")
            return value
    raise MultipartError(f"Content-Type {content_type!r} has no boundary parameter (RFC 2046)")


def iter_multipart(
    parts: Iterable[tuple[dict[str, str], Iterable[bytes]]], boundary: str
) -> Iterator[bytes]:
    """Yield a ``multipart/related`` body: each part's headers, then its body chunks."""
    delimiter = b"--" + boundary.encode("ascii")
    for headers, body in parts:
        head = b"".join(f"{k}: {v}".encode("latin-1") + _CRLF for k, v in headers.items())
        yield delimiter + _CRLF + head + _CRLF
        for chunk in body:
            if chunk:
                yield chunk
        yield _CRLF
    yield delimiter + b"--" + _CRLF


class MultipartReader:
    """Reads the parts of a ``multipart/related`` body from a stream of chunks.

    Parameters
    ----------
    chunks : iterable of bytes
        The body, in chunks of any size (e.g. ``httpx.Response.iter_bytes()``).
    boundary : str
        From the Content-Type (:func:`boundary_of`).
    max_header : int
        Longest header block of one part accepted.

    Examples
    --------
    >>> for headers, body in MultipartReader(chunks, boundary).parts():  # doctest: +SKIP
    ...     with open(path, "wb") as f:
    ...         for chunk in body:
    ...             f.write(chunk)
    """

    def __init__(self, chunks: Iterable[bytes], boundary: str, *, max_header: int = 16384) -> None:
        self._chunks = iter(chunks)
        self._buf = b""
        self._eof = False
        self._delim = b"\r\n--" + boundary.encode("ascii")
        self._max_header = max_header

    def _more(self) -> bool:
        if self._eof:
            return False
        for chunk in self._chunks:
            if chunk:
                self._buf += chunk
                return True
        self._eof = True
        return False

    def _skip_preamble(self) -> None:
        # the first delimiter may start the body (no CRLF before it)
        self._buf = b"\r\n" + self._buf
        while (at := self._buf.find(self._delim)) < 0:
            keep = self._buf[-(len(self._delim) - 1) :]
            self._buf = keep
            if not self._more():
                raise MultipartError("no boundary delimiter found in the body (RFC 2046 5.1.1)")
        self._buf = self._buf[at + len(self._delim) :]

    def _after_delimiter(self) -> bool:
        """Consume what follows a delimiter; ``False`` at the closing one."""
        while len(self._buf) < 2 and self._more():
            pass
        if self._buf.startswith(b"--"):
            return False
        # transport padding, then CRLF (RFC 2046 5.1.1)
        while (eol := self._buf.find(_CRLF)) < 0:
            if len(self._buf) > 1024 or not self._more():
                raise MultipartError("a boundary delimiter is not followed by CRLF")
        if self._buf[:eol].strip(b" \t"):
            raise MultipartError(
                f"unexpected bytes {self._buf[:eol][:20]!r} after a boundary delimiter"
            )
        self._buf = self._buf[eol + 2 :]
        return True

    def _headers(self) -> dict[str, str]:
        while (end := self._buf.find(b"\r\n\r\n")) < 0 and not self._buf.startswith(_CRLF):
            if len(self._buf) > self._max_header:
                raise MultipartError(f"part headers longer than {self._max_header} bytes")
            if not self._more():
                raise MultipartError("the body ends inside a part's headers")
        if self._buf.startswith(_CRLF):  # no headers at all
            self._buf = self._buf[2:]
            return {}
        block, self._buf = self._buf[:end], self._buf[end + 4 :]
        headers: dict[str, str] = {}
        for line in block.decode("latin-1").split("\r\n"):
            name, colon, value = line.partition(":")
            if not colon:
                raise MultipartError(f"part header line {line[:60]!r} has no colon")
            headers[name.strip().lower()] = value.strip()
        return headers

    def _body(self) -> Iterator[bytes]:
        keep = len(self._delim) - 1
        while True:
            at = self._buf.find(self._delim)
            if at >= 0:
                data, self._buf = self._buf[:at], self._buf[at + len(self._delim) :]
                if data:
                    yield data
                return
            if len(self._buf) > keep:
                data, self._buf = self._buf[:-keep], self._buf[-keep:]
                yield data
            if not self._more():
                raise MultipartError(
                    "the body ends inside a part: no closing boundary delimiter (RFC 2046 5.1.1)"
                )

    def parts(self) -> Iterator[tuple[dict[str, str], Iterator[bytes]]]:
        """Yield ``(headers, body chunks)`` per part; read each body before the next part.

        Header names are lower case. Raises :class:`MultipartError` on a broken body.
        """
        self._skip_preamble()
        while self._after_delimiter():
            headers = self._headers()
            body = self._body()
            yield headers, body
            for _ in body:  # the caller skipped (part of) the body
                pass

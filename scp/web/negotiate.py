"""Content negotiation of the origin server: which representation answers a request.

A user agent names what it accepts in the ``Accept`` header (RFC 9110 12.5.1) or in the
``accept`` query parameter, which takes precedence over the header (PS3.18 8.3.3.1). Each
media range may carry a quality (``q``) and, for DICOM types, parameters: ``type`` of a
``multipart/related`` range (RFC 2387; absent: ``application/dicom``, PS3.18 8.7.3.5) and
``transfer-syntax`` of ``application/dicom`` (PS3.18 8.7.3.5.2; absent: Explicit VR Little
Endian, ``*``: as stored).

The server offers a fixed list of :class:`Representation` per transaction, default first; the
choice is the acceptable one with the highest quality, ties going to the server's order. No
acceptable representation: the caller answers 406 Not Acceptable (PS3.18 8.7.5).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["MediaRange", "Representation", "choose", "parse_accept"]


@dataclass(frozen=True)
class MediaRange:
    """One element of an Accept list: ``type/subtype; param=value; q=0.5``."""

    type: str
    subtype: str
    params: dict[str, str] = field(default_factory=dict)
    q: float = 1.0

    def covers(self, media_type: str) -> bool:
        """Whether this range names `media_type` (``type/subtype``), wildcards included."""
        t, _, s = media_type.partition("/")
        return self.type in ("*", t) and self.subtype in ("*", s)


@dataclass(frozen=True)
class Representation:
    """A representation the server can send.

    Attributes
    ----------
    media_type : str
        The media type, e.g. ``application/dicom+json`` or ``multipart/related``.
    part_type : str or None
        For ``multipart/related``: the media type of each part.
    transfer_syntaxes : tuple of str
        For ``application/dicom`` parts: the transfer syntaxes it can be sent in; ``*`` in a
        request names the first (as stored).
    """

    media_type: str
    part_type: str | None = None
    transfer_syntaxes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The media type as capabilities and statements name it (no boundary, no charset)."""
        if self.part_type is None:
            return self.media_type
        return f'{self.media_type}; type="{self.part_type}"'

    def content_type(self, boundary: str | None = None, transfer_syntax: str | None = None) -> str:
        """The Content-Type header value of a response in this representation."""
        if self.part_type is None:
            return self.media_type + ("; charset=utf-8" if self.media_type.endswith("json") else "")
        value = f'{self.media_type}; type="{self.part_type}"'
        if transfer_syntax:
            value += f"; transfer-syntax={transfer_syntax}"
        return value + (f"; boundary={boundary}" if boundary else "")

    def accepts(self, r: MediaRange) -> bool:
        """Whether the media range `r` accepts this representation."""
        if not r.covers(self.media_type):
            return False
        if self.part_type is not None and r.type != "*" and r.subtype != "*":
            wanted = r.params.get("type", "application/dicom").strip('"').lower()
            if wanted != self.part_type:
                return False
        if self.transfer_syntaxes:
            ts = r.params.get("transfer-syntax")
            if ts is not None and ts.strip('"') not in ("*", *self.transfer_syntaxes):
                return False
        elif "transfer-syntax" in r.params:
            return False
        charset = r.params.get("charset")
        return charset is None or charset.strip('"').lower() in ("utf-8", "utf8")


def _split(text: str, sep: str) -> list[str]:
    """Split on `sep` outside double quotes."""
    parts: list[str] = []
    cur: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == sep and not quoted:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def parse_accept(values: list[str]) -> list[MediaRange]:
    """Parse Accept header values (or ``accept`` query values) into media ranges.

    Raises
    ------
    ValueError
        On a range that is not ``type/subtype`` or a quality that is not a number in 0..1.
    """
    ranges: list[MediaRange] = []
    for value in values:
        for item in _split(value, ","):
            item = item.strip()
            if not item:
                continue
            head, *rest = _split(item, ";")
            t, slash, s = head.strip().lower().partition("/")
            if not slash or not t or not s:
                raise ValueError(f"media range {item!r}: expected type/subtype")
            params: dict[str, str] = {}
            q = 1.0
            for p in rest:
                k, _, v = p.strip().partition("=")
                k = k.strip().lower()
                if k == "q":
                    try:
                        q = float(v)
                    except ValueError:
                        raise ValueError(f"media range {item!r}: q={v!r} is not a number") from None
                    if not 0.0 <= q <= 1.0:
                        raise ValueError(f"media range {item!r}: q={v!r} is not in 0..1")
                elif k:
                    params[k] = v.strip().strip('"')
            ranges.append(MediaRange(t, s, params, q))
    return ranges


def choose(
    offered: list[Representation], accept: list[MediaRange]
) -> tuple[Representation, MediaRange | None] | None:
    """The representation to send, and the media range that chose it; ``None``: 406.

    No range at all means ``*/*``: the server's default, the first of `offered`.
    """
    if not accept:
        return offered[0], None
    best: tuple[float, int, Representation, MediaRange] | None = None
    for order, rep in enumerate(offered):
        for r in accept:
            if r.q > 0 and rep.accepts(r):
                key = (r.q, -order)  # quality, then the server's order of preference
                if best is None or key > (best[0], best[1]):
                    best = (key[0], key[1], rep, r)
    if best is None:
        return None
    return best[2], best[3]

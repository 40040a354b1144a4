"""multipart/related framing and streaming reading (RFC 2046 5.1.1, RFC 2387; PS3.18 8.6.1.2).

Property: any parts, cut into chunks at any places, read back as the same parts; the
standard library's email parser agrees with our writer. Broken bodies are named errors.
"""

from __future__ import annotations

import email.parser
import email.policy

import pytest
from dicom_inventory.multipart import (
    MultipartError,
    MultipartReader,
    boundary_of,
    iter_multipart,
    new_boundary,
)
from hypothesis import given, settings
from hypothesis import strategies as st

BOUNDARY = "b-0123456789"


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:], strict=False)]


def _read(chunks: list[bytes], boundary: str) -> list[tuple[dict[str, str], bytes]]:
    return [(h, b"".join(body)) for h, body in MultipartReader(chunks, boundary).parts()]


# a body never holds the delimiter (RFC 2046 5.1.1: the writer's random boundary sees to it);
# near-misses of it are fair game
bodies = (
    st.binary(max_size=3000)
    | st.just(b"\r\n--" + BOUNDARY.encode()[:-1])
    | st.just(b"\r\n-")
    | st.just(b"--" + BOUNDARY.encode())
)


@settings(max_examples=200, deadline=None)
@given(st.lists(bodies, min_size=1, max_size=5), st.lists(st.integers(0, 20000), max_size=30))
def test_parts_round_trip_through_any_chunking(parts: list[bytes], cuts: list[int]) -> None:
    framed = b"".join(
        iter_multipart([({"Content-Type": "application/dicom"}, [p]) for p in parts], BOUNDARY)
    )
    got = _read(_chunks(framed, cuts), BOUNDARY)
    assert [b for _, b in got] == parts
    assert all(h == {"content-type": "application/dicom"} for h, _ in got)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.binary(max_size=500), min_size=1, max_size=4))
def test_the_standard_library_reads_what_we_write(parts: list[bytes]) -> None:
    boundary = new_boundary()
    framed = b"".join(
        iter_multipart(
            [({"Content-Type": "application/octet-stream"}, [p]) for p in parts], boundary
        )
    )
    raw = f'Content-Type: multipart/related; boundary="{boundary}"\r\n\r\n'.encode() + framed
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    assert [p.get_payload(decode=True) for p in message.iter_parts()] == parts


def test_preamble_epilogue_and_padding_are_ignored() -> None:
    body = (
        b"preamble text\r\n--" + BOUNDARY.encode() + b"  \r\nContent-Type: a/b\r\n\r\nONE"
        b"\r\n--" + BOUNDARY.encode() + b"\r\n\r\nTWO\r\n--" + BOUNDARY.encode() + b"--\r\nepilogue"
    )
    got = _read([body], BOUNDARY)
    assert got == [({"content-type": "a/b"}, b"ONE"), ({}, b"TWO")]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"no delimiter here", "no boundary delimiter"),
        (b"--" + BOUNDARY.encode() + b"\r\nContent-Type: a/b\r\n\r\nunterminated", "closing"),
        (
            b"--"
            + BOUNDARY.encode()
            + b"\r\nContent-Type a/b\r\n\r\nx\r\n--"
            + BOUNDARY.encode()
            + b"--",
            "no colon",
        ),
        (b"--" + BOUNDARY.encode() + b"junk\r\n\r\nx", "unexpected bytes"),
    ],
)
def test_broken_bodies_are_named(body: bytes, words: str) -> None:
    with pytest.raises(MultipartError, match=words):
        _read([body], BOUNDARY)


def test_boundary_parameter() -> None:
    assert boundary_of('multipart/related; type="application/dicom"; boundary="a b"') == "a b"
    assert boundary_of("multipart/related; boundary=xyz") == "xyz"
    with pytest.raises(MultipartError, match="no boundary"):
        boundary_of('multipart/related; type="application/dicom"')
    with pytest.raises(MultipartError, match="not valid"):
        boundary_of("multipart/related; boundary=" + "x" * 71)

"""Reads a large model without its weight bytes: a walk of the protobuf wire format over a memory
map copies every field except the data of big tensors, so the weights' pages are never touched
and the parsed model is as small as its graph. Where the bytes were is remembered (for --verify).
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass

__all__ = ["StrippedData", "strip_weights", "STRIP_BYTES", "encode_varint", "encode_field", "fields"]

STRIP_BYTES = 1 << 16  # tensor data fields longer than this stay in the file, whatever their type
KEEP_INTEGER_BYTES = 1 << 15  # integer data up to this size is kept: shapes, axes, indices to fold
KEEP_OTHER_BYTES = 128  # other data this small is kept: scalars, Resize scales, Clip bounds
_INTEGER_TYPES = frozenset({2, 3, 4, 5, 6, 7, 9, 12, 13})  # uint8 … uint64 and bool
_MAX_DEPTH = 100

# message kind -> {field number: the kind of the submessage to descend into}
_DESCEND = {
    "model": {7: "graph", 20: "training"},
    "training": {1: "graph", 2: "graph"},
    "graph": {1: "node", 5: "tensor"},
    "node": {5: "attribute"},
    "attribute": {5: "tensor", 6: "graph", 10: "tensor", 11: "graph"},
}
_TENSOR_DATA = frozenset({4, 5, 6, 7, 9, 10, 11})  # float, int32, string, int64, raw, double, uint64 data


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


@dataclass
class StrippedData:
    """Data left in the file: tensor name -> [(field number, offset, length)]."""

    spans: dict[str, list[tuple[int, int, int]]]

    @property
    def count(self) -> int:
        return len(self.spans)


def _varint(buf, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise WireError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def encode_varint(value: int) -> bytes:
    """A non-negative integer as protobuf writes it: 7 bits a byte, least significant first."""
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_field(number: int, body: bytes) -> bytes:
    """A length-delimited field (a message, string or bytes) as protobuf writes it."""
    return encode_varint(number << 3 | 2) + encode_varint(len(body)) + body


def _skip(buf, pos: int, end: int, wire: int) -> int:
    if wire == 0:
        return _varint(buf, pos, end)[1]
    if wire == 1:
        return pos + 8
    if wire == 5:
        return pos + 4
    raise WireError(f"unsupported wire type {wire}")


def fields(buf, start: int, end: int):
    """(field, wire type, field start, body start, body end) of each field of a message."""
    pos = start
    while pos < end:
        field_start = pos
        key = buf[pos]
        if key < 0x80:  # one-byte keys are nearly all of them
            pos += 1
        else:
            key, pos = _varint(buf, pos, end)
        wire = key & 7
        if wire == 2:
            length = buf[pos] if pos < end else 0x80
            if length < 0x80:
                pos += 1
            elif pos + 1 < end and buf[pos + 1] < 0x80:  # two-byte lengths: every node, most tensors
                length = (length & 0x7F) | (buf[pos + 1] << 7)
                pos += 2
            else:
                length, pos = _varint(buf, pos, end)
            body, pos = pos, pos + length
        elif wire == 0:
            body = pos
            if pos < end and buf[pos] < 0x80:
                pos += 1
            else:
                pos = _varint(buf, pos, end)[1]
        else:
            body, pos = pos, _skip(buf, pos, end, wire)
        if pos > end:
            raise WireError("a field runs past the end of its message")
        yield key >> 3, wire, field_start, body, pos


def _strip(buf, start: int, end: int, kind: str, depth: int, spans: dict) -> bytes | None:
    """The message's bytes with big tensor data removed, or None when nothing changed."""
    if depth > _MAX_DEPTH:
        raise WireError(f"protobuf messages nested more than {_MAX_DEPTH} deep")
    descend = _DESCEND.get(kind, {})
    entries = list(fields(buf, start, end)) if kind == "tensor" else fields(buf, start, end)
    keep = STRIP_BYTES
    if kind == "tensor":
        name, dtype = "", 0
        for field, wire, _, body, stop in entries:
            if field == 8 and wire == 2:
                name = bytes(buf[body:stop]).decode("utf-8", "replace")
            elif field == 2 and wire == 0:
                dtype = _varint(buf, body, stop)[0]
        keep = min(STRIP_BYTES, KEEP_INTEGER_BYTES if dtype in _INTEGER_TYPES else KEEP_OTHER_BYTES)
    pieces: list = []
    run_start = start
    changed = False
    for field, wire, field_start, body, pos in entries:
        if wire != 2:
            continue
        length = pos - body
        replacement = None
        if kind == "tensor" and field in _TENSOR_DATA and length > keep:
            spans.setdefault(name, []).append((field, body, length))
            replacement = b""
        elif field in descend and (
            length > STRIP_BYTES
            or kind in ("model", "training")
            or (kind == "graph" and field == 5 and length > KEEP_OTHER_BYTES)
        ):
            inner = _strip(buf, body, pos, descend[field], depth + 1, spans)
            if inner is not None:
                replacement = encode_field(field, inner)
        if replacement is not None:
            changed = True
            pieces.append(buf[run_start:field_start])
            pieces.append(replacement)
            run_start = pos
    if not changed:
        return None
    pieces.append(buf[run_start:end])
    return b"".join(bytes(p) if not isinstance(p, bytes) else p for p in pieces)


def strip_weights(path) -> tuple[bytes, StrippedData]:
    """The serialized model without the bytes of its big tensors, read through a memory map."""
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        spans: dict = {}
        stripped = _strip(buf, 0, len(buf), "model", 0, spans)
        data = stripped if stripped is not None else bytes(buf)
    return data, StrippedData(spans)

"""Records as bytes, for the spill file and the Redis stream.

A record is one JSON array in column order behind a format version, so a line
written by this build is read back field for field by the next one. Format 1
(before ``cache_write_tokens``) is still read: a spill file or a stream entry
written by the build before survives an upgrade.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from gateway.ledger.record import COLUMNS, SpendRecord

FORMAT = 2
_WIDTH = len(COLUMNS) + 1
# Format 1 had every column but the last one, ``cache_write_tokens`` (its default then).
_WIDTH_V1 = _WIDTH - 1
_FALLBACKS = COLUMNS.index("fallbacks")


class CorruptRecord(ValueError):
    """Bytes that are not a record this build can read (a torn write, a foreign line)."""


def encode(record: SpendRecord) -> bytes:
    return orjson.dumps([FORMAT, *_values(record)])


def encode_many(records: Iterable[SpendRecord]) -> bytes:
    """Several records as one JSON array of arrays (one stream entry)."""
    return orjson.dumps([[FORMAT, *_values(r)] for r in records])


def decode(raw: bytes) -> SpendRecord:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise CorruptRecord(f"not JSON: {exc}") from None
    return _record(value)


def decode_many(raw: bytes) -> list[SpendRecord]:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise CorruptRecord(f"not JSON: {exc}") from None
    if not isinstance(value, list):
        raise CorruptRecord("expected an array of records")
    return [_record(item) for item in value]


def _values(record: SpendRecord) -> list[Any]:
    return [getattr(record, name) for name in COLUMNS]


def _record(value: Any) -> SpendRecord:
    if not isinstance(value, list) or not value:
        raise CorruptRecord("not a spend record")
    if not (
        (value[0] == FORMAT and len(value) == _WIDTH) or (value[0] == 1 and len(value) == _WIDTH_V1)
    ):
        raise CorruptRecord(f"not a spend record of format 1 or {FORMAT}")
    fields = value[1:]
    try:
        fields[_FALLBACKS] = tuple(fields[_FALLBACKS])
        return SpendRecord(*fields)
    except TypeError as exc:
        raise CorruptRecord(str(exc)) from None

"""Card and suggestion uuids that name the audit record they came from.

A card uuid is an RFC 9562 version-8 (custom) UUID that carries the 96 bits of the evaluation's
audit record id (``rec-`` + 24 hex digits), the card's index and the suggestion's index
(0 = the card itself), and a fixed 14-bit marker. Feedback names the card by its uuid, so the
service finds the evaluation record without any state of its own (a restart loses nothing),
and the uuid carries no patient data: the record id is a hash prefix.

Without an audit log, the 96 bits are taken from the report id instead (nothing to link to).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

_MARKER = 0x2CD5  # 14 bits: "this uuid came from trd-cds"
_HEX24 = 24


@dataclass(frozen=True)
class CardRef:
    """What a card uuid says: the record (``rec-…``), the card and the suggestion index."""

    record_id: str
    card: int
    suggestion: int


def record_bits(record_id: str | None, report_id: str) -> str:
    """The 24 hex digits a response's uuids carry."""
    if record_id is not None:
        return record_id.removeprefix("rec-")[:_HEX24]
    return hashlib.sha256(report_id.encode()).hexdigest()[:_HEX24]


def card_uuid(bits: str, card: int, suggestion: int = 0) -> str:
    """The uuid of card ``card`` (suggestion ``suggestion``; 0 = the card itself)."""
    if not (0 <= card < 16 and 0 <= suggestion < 256):
        raise ValueError("card index < 16 and suggestion index < 256")
    if len(bits) != _HEX24:
        raise ValueError("24 hex digits expected")
    value = int(bits, 16)
    time_low = value >> 64
    time_mid = (value >> 48) & 0xFFFF
    node = value & 0xFFFF_FFFF_FFFF
    index = (card << 8) | suggestion  # 12 bits
    version_hi = 0x8000 | index
    return str(
        uuid.UUID(
            fields=(
                time_low,
                time_mid,
                version_hi,
                0x80 | (_MARKER >> 8),
                _MARKER & 0xFF,
                node,
            )
        )
    )


def parse_card_uuid(text: str) -> CardRef | None:
    """The record, card and suggestion a uuid names; None when it is not one of ours."""
    try:
        u = uuid.UUID(text.removeprefix("urn:uuid:"))
    except ValueError:
        return None
    time_low, time_mid, hi, seq_hi, seq_low, node = u.fields
    if hi >> 12 != 8 or ((seq_hi & 0x3F) << 8 | seq_low) != _MARKER or seq_hi >> 6 != 0b10:
        return None
    bits = (time_low << 64) | (time_mid << 48) | node
    index = hi & 0x0FFF
    return CardRef(f"rec-{bits:024x}", index >> 8, index & 0xFF)

"""The audit key: where it comes from, what is derived from it, and when it is refused.

One secret, the audit key (``key=`` or the environment variable ``TRD_CDS_AUDIT_KEY``), gives
three values. Each is an HMAC-SHA256 output under its own label, so none reveals the key or
another of them:

* the **chain MAC subkey**: HKDF-SHA256 (RFC 5869) of the key, info ``trd-cds/audit/chain-mac/v2``.
  Each record of format 2 carries ``mac`` = HMAC-SHA256(subkey, the record's hash), which
  proves that whoever wrote the record held the key;
* **pseudonyms**: ``psn-`` + HMAC-SHA256(key, ``trd-cds/patient.id/v1`` NUL patient id): the
  formula of format 1, kept so that one patient's records link across both formats;
* the **key id** (fingerprint): ``key-`` + the first 16 hex digits of HMAC-SHA256(key,
  ``trd-cds/audit-key-id/v1``). Records carry it (``key_id``, ``subject.key_id``), never the key,
  so a wrong key is reported as such instead of silently matching nothing.

**Reading the key.** The environment variable is read as bytes (``os.environb``), so any byte
string works and a key that is not UTF-8 is no error. A key is refused when it is shorter than
16 bytes, or (from the environment only) when it starts or ends with whitespace such as the
newline ``echo`` adds: it is refused, not stripped, so that every tool derives the same
pseudonyms from the same variable. A refused key stops only what needs it (appending, finding
a patient); reading, listing and showing records need no key, and ``verify`` then checks the
unkeyed chain and says that authenticity was not checked.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass

ENV_KEY = "TRD_CDS_AUDIT_KEY"
MIN_KEY_BYTES = 16
PSEUDONYM_PREFIX = "psn-"
MAC_PREFIX = "hmac-sha256:"
_HKDF_SALT = b"trd-cds/audit-key/v2"
_CHAIN_MAC_INFO = b"trd-cds/audit/chain-mac/v2"
_MAKE_ONE = 'make one with: python -c "import secrets; print(secrets.token_hex(32))"'


def hkdf_sha256(key: bytes, info: bytes, *, salt: bytes = _HKDF_SALT, length: int = 32) -> bytes:
    """HKDF-SHA256 (RFC 5869): extract with ``salt``, expand to ``length`` bytes for ``info``."""
    prk = hmac.new(salt, key, hashlib.sha256).digest()
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def pseudonym(key: bytes, patient_id: str) -> str:
    """The keyed pseudonym of a patient id: stable for one key, unlinkable without it."""
    mac = hmac.new(key, b"trd-cds/patient.id/v1\x00" + patient_id.encode("utf-8"), "sha256")
    return PSEUDONYM_PREFIX + mac.hexdigest()


def key_id(key: bytes) -> str:
    """A fingerprint that tells which key wrote a record, not the key."""
    return "key-" + hmac.new(key, b"trd-cds/audit-key-id/v1", "sha256").hexdigest()[:16]


@dataclass(frozen=True, repr=False)
class AuditKey:
    """A usable audit key with its derived chain subkey. ``repr`` never shows either."""

    secret: bytes
    key_id: str
    _chain: bytes

    @classmethod
    def of(cls, secret: bytes) -> AuditKey:
        return cls(secret, key_id(secret), hkdf_sha256(secret, _CHAIN_MAC_INFO))

    def chain_mac(self, record_hash: str) -> str:
        """The MAC of a record: HMAC-SHA256 under the chain subkey of its ``hash`` field."""
        return MAC_PREFIX + hmac.new(self._chain, record_hash.encode(), "sha256").hexdigest()

    def mac_matches(self, record_hash: str, mac: str) -> bool:
        return hmac.compare_digest(self.chain_mac(record_hash), mac)

    def pseudonym(self, patient_id: str) -> str:
        return pseudonym(self.secret, patient_id)

    def __repr__(self) -> str:
        return f"AuditKey({self.key_id})"


@dataclass(frozen=True)
class KeyState:
    """The outcome of looking for a key: a usable ``key``, or why the given one is refused
    (``problem``), or neither (no key given)."""

    key: AuditKey | None = None
    problem: str | None = None

    @property
    def given(self) -> bool:
        return self.key is not None or self.problem is not None


def _env_key() -> bytes | None:
    if os.supports_bytes_environ:
        return os.environb.get(ENV_KEY.encode())
    value = os.environ.get(ENV_KEY)  # pragma: no cover - Windows
    return None if value is None else value.encode("utf-8", "surrogateescape")


def resolve_key(key: bytes | None) -> KeyState:
    """The audit key: ``key``, else ``$TRD_CDS_AUDIT_KEY`` (an empty variable is no key)."""
    source = "the audit key"
    if key is None:
        key = _env_key() or None
        source = f"${ENV_KEY}"
        if key is not None and key != key.strip():
            return KeyState(
                problem=f"{source} starts or ends with whitespace or a newline (e.g. from "
                "`echo` into a file): remove it; it is refused rather than stripped so every "
                "tool derives the same pseudonyms from the same variable"
            )
    if key is None:
        return KeyState()
    if not isinstance(key, bytes):
        raise TypeError(f"the audit key must be bytes, not {type(key).__name__}")
    if len(key) < MIN_KEY_BYTES:
        return KeyState(
            problem=f"{source} must be at least {MIN_KEY_BYTES} bytes (got {len(key)}); "
            + _MAKE_ONE
        )
    return KeyState(key=AuditKey.of(key))

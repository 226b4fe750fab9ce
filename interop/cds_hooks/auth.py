"""Trusting CDS clients: the JWT on every call (CDS Hooks 2.0 §Trusting CDS Clients).

The client signs a JWT per request and sends it as ``Authorization: Bearer <jwt>``. Checked:

* the algorithm is asymmetric and allowed: ES384 or RS384 (``none`` and HMAC are refused, so
  a public key can never be used as an HMAC secret);
* ``iss`` is in the configured trust list; the key (by ``kid``) comes from that issuer's JWKS,
  configured as a file or a URL (fetched with a timeout, cached, refetched once for an unknown
  ``kid``); a ``jku`` header is never followed;
* ``aud`` equals the URL of the endpoint called; ``exp`` and ``iat`` are present and valid
  (``iat`` not in the future beyond the leeway, the token not older than ``max_age``);
* ``jti`` is present and not seen before from that issuer while the token could still be used.

Failures raise :class:`AuthError` with a reason that names no token content.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt

ALGORITHMS = ("ES384", "RS384")


class AuthError(Exception):
    """The call is not authenticated: ``str(exc)`` is the reason (safe to return)."""


@dataclass(frozen=True)
class Issuer:
    """A trusted client: its ``iss`` and its JWKS, as a file path or an https URL."""

    iss: str
    jwks: str

    @property
    def is_url(self) -> bool:
        return self.jwks.startswith(("https://", "http://"))


@dataclass
class _Keys:
    keys: dict[str, jwt.PyJWK]
    fetched: float


@dataclass
class Verifier:
    """Verifies client JWTs; thread-safe; owns its JWKS cache and its seen-``jti`` table."""

    issuers: Mapping[str, Issuer]
    leeway: float = 30.0
    max_age: float = 300.0
    jwks_ttl: float = 300.0
    timeout: float = 5.0
    clock: Callable[[], float] = time.time
    #: an httpx transport for JWKS URLs (tests); None: the network
    transport: httpx.BaseTransport | None = None
    _keys: dict[str, _Keys] = field(default_factory=dict)
    _seen: dict[tuple[str, str], float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ------------------------------------------------------------------ keys

    def _load(self, issuer: Issuer) -> dict[str, jwt.PyJWK]:
        try:
            if issuer.is_url:
                with httpx.Client(transport=self.transport, timeout=self.timeout) as client:
                    resp = client.get(issuer.jwks)
                resp.raise_for_status()
                data = resp.json()
            else:
                data = json.loads(Path(issuer.jwks).read_text(encoding="utf-8"))
            keyset = jwt.PyJWKSet.from_dict(data)
        except (OSError, ValueError, httpx.HTTPError, jwt.PyJWTError) as exc:
            raise AuthError(f"the JWKS of issuer {issuer.iss!r} cannot be read") from exc
        return {k.key_id: k for k in keyset.keys if k.key_id}

    def _key(self, issuer: Issuer, kid: str) -> jwt.PyJWK:
        now = self.clock()
        with self._lock:
            cached = self._keys.get(issuer.iss)
        fresh = cached is not None and now - cached.fetched < self.jwks_ttl
        if cached is not None and fresh and kid in cached.keys:
            return cached.keys[kid]
        if cached is not None and fresh and not issuer.is_url:
            raise AuthError(f"no key {kid!r} in the JWKS of issuer {issuer.iss!r}")
        keys = self._load(issuer)
        with self._lock:
            self._keys[issuer.iss] = _Keys(keys, now)
        if kid not in keys:
            raise AuthError(f"no key {kid!r} in the JWKS of issuer {issuer.iss!r}")
        return keys[kid]

    # ------------------------------------------------------------------ tokens

    def verify(self, authorization: str | None, audience: str) -> dict[str, Any]:
        """The verified claims of the bearer token in ``authorization``."""
        if not authorization:
            raise AuthError("no Authorization header: a signed JWT is required")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("the Authorization header is not 'Bearer <jwt>'")
        token = token.strip()
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise AuthError("the bearer token is not a JWT") from exc
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise AuthError(f"JWT algorithm {alg!r} is not allowed (use ES384 or RS384)")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthError("the JWT header has no kid")
        iss = unverified.get("iss")
        issuer = self.issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise AuthError("the JWT issuer is not trusted")
        key = self._key(issuer, kid)
        now = self.clock()
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=list(ALGORITHMS),
                audience=audience,
                issuer=issuer.iss,
                leeway=self.leeway,
                options={"require": ["iss", "aud", "exp", "iat", "jti"]},
            )
        except jwt.InvalidAudienceError as exc:
            raise AuthError("the JWT audience is not this endpoint") from exc
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("the JWT has expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise AuthError("the JWT is not valid yet (iat or nbf in the future)") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(f"the JWT has no {exc.claim} claim") from exc
        except jwt.PyJWTError as exc:
            raise AuthError(f"the JWT does not verify ({type(exc).__name__})") from exc
        for name in ("iat", "exp"):  # RFC 7519 NumericDate: a JSON number, not "1700000000"
            value = claims[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise AuthError(f"the JWT {name} claim is not a number of seconds (NumericDate)")
        jti = claims["jti"]
        if not isinstance(jti, str) or not jti.strip():  # RFC 7519 4.1.7: a unique string
            raise AuthError("the JWT id (jti) is empty or not a string")
        iat, exp = float(claims["iat"]), float(claims["exp"])
        if now - iat > self.max_age + self.leeway:
            raise AuthError("the JWT is too old (iat)")
        # remembered while it could be used: until exp, but never past iat + max_age (it is
        # refused as too old then), so tokens with a far exp cannot fill the table for years
        self._not_replayed(issuer.iss, jti, min(exp, iat + self.max_age), now)
        return claims

    def _not_replayed(self, iss: str, jti: str, exp: float, now: float) -> None:
        with self._lock:
            if len(self._seen) > 10_000:
                for k in [k for k, until in self._seen.items() if until < now]:
                    del self._seen[k]
            if (iss, jti) in self._seen:
                raise AuthError("the JWT id (jti) was already used")
            self._seen[(iss, jti)] = max(exp, now) + self.leeway
            if len(self._seen) > 100_000:
                raise AuthError("too many JWTs in flight; try again later")

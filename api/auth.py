"""API tokens: random, shown once, stored as SHA-256 hashes (a token has 256 bits, so no slow hash is needed)."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "pcs_"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()

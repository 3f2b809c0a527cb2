#!/usr/bin/env python3
"""A Python backend and Herald, with the standard library only: mint a token, publish, read presence.

    JWT_SECRET=... HERALD_URL=http://localhost:3000 python3 herald_example.py [room] [user]

With PyJWT and requests installed, `jwt.encode(claims, secret, algorithm="HS256")` and
`requests.post(...)` do the same in fewer lines.
"""
import base64
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

# Publish and presence are on the internal port when Herald has one (INTERNAL_PORT), else on PORT.
HERALD_URL = os.environ.get("HERALD_URL") or "http://localhost:" + (
    os.environ.get("INTERNAL_PORT") or os.environ.get("PORT") or "3000"
)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint_token(secret: str, sub: str, scope: str, ttl_s: int = 300) -> str:
    """An HS256 JWT as Herald verifies it: sub, scope (space-separated), iat and exp."""
    now = int(time.time())
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = b64url(json.dumps({"sub": sub, "scope": scope, "iat": now, "exp": now + ttl_s}).encode())
    signature = hmac.new(secret.encode(), f"{header}.{claims}".encode(), hashlib.sha256).digest()
    return f"{header}.{claims}.{b64url(signature)}"


def call(method: str, path: str, token: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        HERALD_URL + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        # Herald's 4xx bodies name what is wrong: {"statusCode":400,"message":[...]}.
        raise SystemExit(f"{method} {path} answered {error.code}: {error.read().decode()}")
    except OSError as error:  # no answer: URLError (refused, unknown host) or a timeout
        raise SystemExit(
            f"{method} {HERALD_URL}{path} failed: {getattr(error, 'reason', error)} "
            "(is Herald running there? Set HERALD_URL, or PORT and INTERNAL_PORT as Herald has them)"
        )


def main() -> None:
    room = sys.argv[1] if len(sys.argv) > 1 else "chat:42"
    user = sys.argv[2] if len(sys.argv) > 2 else "alice"
    secret = os.environ.get("JWT_SECRET")
    if not secret:
        raise SystemExit("set JWT_SECRET to the HS256 secret Herald verifies with")
    token = mint_token(secret, "billing", "notifications:publish presence:read")
    # The id makes a retry safe: on a 503 or no answer, send the same body with the same id
    # again, and it is delivered once. Keep it with the event it announces (here a random one).
    published = call("POST", "/v1/notifications", token, {
        "id": f"invoice-paid-{uuid.uuid4()}",
        "rooms": [room],
        "users": [user],
        "type": "invoice.paid",
        "payload": {"title": "Invoice paid", "body": "From Python"},
    })
    # Compact, as Herald sends it (and as the curl and Go examples print it).
    print(json.dumps(published, separators=(",", ":")))
    presence = call("GET", f"/v1/rooms/{urllib.parse.quote(room, safe='')}/presence", token)
    print(json.dumps(presence, separators=(",", ":")))


if __name__ == "__main__":
    main()

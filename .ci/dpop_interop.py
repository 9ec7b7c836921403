"""DPoP against an independent implementation: proofs built by PyJWT and keys made by
`cryptography` (not by Haven's code or its Rust test client) log in, call, get replays refused
and refresh, for ES256 and EdDSA. The RFC 7638 thumbprint is computed here from the JWK and
compared with the token's `cnf.jkt`.

    python dpop_interop.py http://127.0.0.1:8080 user@example.org 'password'

Exits non-zero, saying what differed, on the first deviation from RFC 9449 as SPEC §5 states it.
"""

import base64
import hashlib
import json
import sys
import time
import urllib.error
import urllib.request
import uuid

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from jwt.algorithms import ECAlgorithm, OKPAlgorithm


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def thumbprint(jwk: dict) -> str:
    """RFC 7638: the required members, sorted, no whitespace, SHA-256."""
    members = ("crv", "kty", "x", "y") if jwk["kty"] == "EC" else ("crv", "kty", "x")
    canonical = json.dumps({k: jwk[k] for k in members}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode()).digest())


class Client:
    def __init__(self, base: str, alg: str):
        self.base = base
        self.alg = alg
        if alg == "ES256":
            self.key = ec.generate_private_key(ec.SECP256R1())
            self.jwk = json.loads(ECAlgorithm.to_jwk(self.key.public_key()))
        else:
            self.key = ed25519.Ed25519PrivateKey.generate()
            self.jwk = json.loads(OKPAlgorithm.to_jwk(self.key.public_key()))
        self.jwk = {k: v for k, v in self.jwk.items() if k in ("kty", "crv", "x", "y")}

    def proof(self, method: str, path: str, nonce=None, token=None) -> str:
        claims = {"jti": str(uuid.uuid4()), "htm": method, "htu": self.base + path,
                  "iat": int(time.time())}
        if nonce:
            claims["nonce"] = nonce
        if token:
            claims["ath"] = b64url(hashlib.sha256(token.encode()).digest())
        return jwt.encode(claims, self.key, algorithm=self.alg,
                          headers={"typ": "dpop+jwt", "jwk": self.jwk})

    def call(self, method, path, body=None, headers=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, dict(response.headers), json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), json.loads(error.read() or b"null")


def expect(condition: bool, what: str, detail=None):
    if not condition:
        sys.exit(f"DPoP interop: {what}: {detail!r}")


def run(base: str, email: str, password: str, alg: str):
    client = Client(base, alg)
    credentials = {"email": email, "password": password}
    status, headers, body = client.call("POST", "/api/auth/login", credentials,
                                        {"DPoP": client.proof("POST", "/api/auth/login")})
    expect(status == 400 and body["error"] == "USE_DPOP_NONCE", f"{alg} login without nonce", body)
    nonce = headers.get("DPoP-Nonce") or headers.get("dpop-nonce")
    expect(bool(nonce), f"{alg} DPoP-Nonce header", headers)

    status, headers, body = client.call("POST", "/api/auth/login", credentials,
                                        {"DPoP": client.proof("POST", "/api/auth/login", nonce)})
    expect(status == 200 and body["tokenType"] == "DPoP", f"{alg} login with nonce", body)
    token, refresh = body["token"], body["refreshToken"]
    payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    expect(payload["cnf"]["jkt"] == thumbprint(client.jwk), f"{alg} cnf.jkt", payload.get("cnf"))

    proof = client.proof("GET", "/api/auth/me", token=token)
    status, _, body = client.call("GET", "/api/auth/me", None,
                                  {"Authorization": "DPoP " + token, "DPoP": proof})
    expect(status == 200 and body["user"]["email"] == email, f"{alg} call with proof", body)
    status, headers, body = client.call("GET", "/api/auth/me", None,
                                        {"Authorization": "DPoP " + token, "DPoP": proof})
    expect(status == 401 and body["error"] == "INVALID_DPOP_PROOF", f"{alg} replay", body)
    expect(headers.get("WWW-Authenticate", headers.get("www-authenticate", "")).startswith("DPoP"),
           f"{alg} WWW-Authenticate", headers)
    status, _, body = client.call("GET", "/api/auth/me", None, {"Authorization": "Bearer " + token})
    expect(status == 401, f"{alg} bound token as bearer", body)

    status, _, body = client.call("POST", "/api/auth/refresh", {"refreshToken": refresh},
                                  {"DPoP": client.proof("POST", "/api/auth/refresh", nonce)})
    expect(status == 200 and body["tokenType"] == "DPoP", f"{alg} refresh", body)
    print(f"DPoP interop ({alg}, PyJWT {jwt.__version__}): login, call, replay refused, refresh: ok")


def main():
    base, email, password = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]
    for alg in ("ES256", "EdDSA"):
        run(base, email, password, alg)


if __name__ == "__main__":
    main()

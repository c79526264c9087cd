"""A software WebAuthn authenticator for the GraphQL tests (a mobile app's side): ES256, "none" attestation.

It builds exactly what a platform authenticator returns (CBOR authenticator data, client data JSON, an
ECDSA signature over both) so the server's real verification (py_webauthn) runs unchanged.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class SoftAuthenticator:
    def __init__(self, origin: str, *, user_verified: bool = True, synced: bool = False) -> None:
        self.origin = origin
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(16)
        self.sign_count = 0
        self.user_handle = ""
        self.flags = UP | (UV if user_verified else 0) | ((BE | BS) if synced else 0)

    def _cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})

    def _auth_data(self, rp_id: str, attested: bool) -> bytes:
        data = hashlib.sha256(rp_id.encode()).digest() + bytes([self.flags | (AT if attested else 0)])
        data += struct.pack(">I", self.sign_count)
        if attested:
            data += b"\0" * 16 + struct.pack(">H", len(self.credential_id)) + self.credential_id + self._cose_key()
        return data

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": origin or self.origin,
                           "crossOrigin": False}).encode()

    def create(self, options_json: str, origin: str | None = None) -> str:
        options = json.loads(options_json)
        self.user_handle = options["user"]["id"]
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": self._auth_data(options["rp"]["id"], True)})
        return json.dumps({
            "id": b64(self.credential_id), "rawId": b64(self.credential_id), "type": "public-key",
            "response": {"clientDataJSON": b64(client_data), "attestationObject": b64(attestation),
                         "transports": ["internal"]},
            "clientExtensionResults": {}, "authenticatorAttachment": "platform",
        })

    def get(self, options_json: str, origin: str | None = None, *, count_step: int = 1) -> str:
        options = json.loads(options_json)
        self.sign_count += count_step
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        auth_data = self._auth_data(options["rpId"], False)
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        response: dict[str, Any] = {
            "clientDataJSON": b64(client_data), "authenticatorData": b64(auth_data), "signature": b64(signature),
            "userHandle": self.user_handle,
        }
        return json.dumps({"id": b64(self.credential_id), "rawId": b64(self.credential_id), "type": "public-key",
                           "response": response, "clientExtensionResults": {}})

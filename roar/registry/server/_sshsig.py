"""Checking the SSH signatures clients sign requests with (pure; the crypto is `cryptography`'s).

A client signs ``"<unix ts>\\n<METHOD>\\n<path and query>"`` (plus ``"\\n<sha256 hex of body>"``
when there is a body) with ``ssh-keygen -Y sign -n glaas`` and sends the raw SSHSIG blob,
base64-encoded, in ``Authorization: Signature keyid="SHA256:..." ts="..." sig="..."``. The blob
names the public key, the namespace and the hash; the signature covers
``"SSHSIG" || namespace || reserved || hash-alg || H(message)`` (OpenSSH's PROTOCOL.sshsig).
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
from dataclasses import dataclass

NAMESPACE = "glaas"
_HEADER = re.compile(r'(\w+)="([^"]*)"')


class BadSignature(Exception):
    """The signature does not verify, or is not an SSHSIG at all."""


@dataclass(frozen=True)
class SignatureHeader:
    keyid: str
    ts: str
    sig: bytes


def parse_header(value: str) -> SignatureHeader:
    """The fields of ``Signature keyid="..." ts="..." sig="..."``."""
    if not value.startswith("Signature "):
        raise BadSignature("not a Signature authorization")
    fields = dict(_HEADER.findall(value[len("Signature ") :]))
    try:
        return SignatureHeader(fields["keyid"], fields["ts"], base64.b64decode(fields["sig"]))
    except KeyError as exc:
        raise BadSignature(f"the Signature authorization lacks {exc.args[0]}") from None
    except ValueError:
        raise BadSignature("the signature is not base64") from None


def signed_message(ts: str, method: str, path_qs: str, body: bytes) -> bytes:
    message = f"{ts}\n{method.upper()}\n{path_qs}"
    if body:
        message += "\n" + hashlib.sha256(body).hexdigest()
    return message.encode()


def fingerprint(public_key_line: str) -> str:
    """``SHA256:<unpadded base64>`` of an OpenSSH public key line (``ssh-ed25519 AAAA... c``)."""
    from cryptography.hazmat.primitives import serialization

    try:
        fields = public_key_line.split()
        blob = base64.b64decode(fields[1], validate=True)
        serialization.load_ssh_public_key(f"{fields[0]} {fields[1]}".encode())
    except (IndexError, ValueError, TypeError):
        raise BadSignature("not an OpenSSH public key line (ssh-ed25519 AAAA...)") from None
    return _fingerprint(blob)


def _fingerprint(blob: bytes) -> str:
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, n: int) -> bytes:
        if self.at + n > len(self.data):
            raise BadSignature("the signature is truncated")
        chunk = self.data[self.at : self.at + n]
        self.at += n
        return chunk

    def string(self) -> bytes:
        (length,) = struct.unpack(">I", self.take(4))
        return self.take(length)


def verify(public_key_line: str, signature: bytes, message: bytes) -> None:
    """Raise :class:`BadSignature` unless ``signature`` (a raw SSHSIG) is ``public_key_line``'s
    signature of ``message`` in the glaas namespace."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

    reader = _Reader(signature)
    if reader.take(6) != b"SSHSIG":
        raise BadSignature("not an SSHSIG signature")
    (version,) = struct.unpack(">I", reader.take(4))
    if version != 1:
        raise BadSignature(f"SSHSIG version {version} is not supported")
    key_blob, namespace, reserved, hash_alg = (reader.string() for _ in range(4))
    inner = _Reader(reader.string())
    sig_format, sig_bytes = inner.string(), inner.string()
    registered = base64.b64decode(public_key_line.split()[1])
    if key_blob != registered:
        raise BadSignature("signed with a different key than the keyid names")
    if namespace.decode(errors="replace") != NAMESPACE:
        raise BadSignature(f"signed for namespace {namespace!r}, not {NAMESPACE!r}")
    digests = {b"sha256": hashlib.sha256, b"sha512": hashlib.sha512}
    if hash_alg not in digests:
        raise BadSignature(f"unsupported hash {hash_alg!r}")
    signed = (
        b"SSHSIG"
        + _pack(namespace)
        + _pack(reserved)
        + _pack(hash_alg)
        + _pack(digests[hash_alg](message).digest())
    )
    key = serialization.load_ssh_public_key(
        public_key_line.split()[0].encode() + b" " + (base64.b64encode(registered))
    )
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(sig_bytes, signed)
        elif isinstance(key, rsa.RSAPublicKey):
            algorithm = {b"rsa-sha2-256": hashes.SHA256(), b"rsa-sha2-512": hashes.SHA512()}
            if sig_format not in algorithm:
                raise BadSignature(f"unsupported RSA signature {sig_format!r}")
            key.verify(sig_bytes, signed, padding.PKCS1v15(), algorithm[sig_format])
        elif isinstance(key, ec.EllipticCurvePublicKey):
            parts = _Reader(sig_bytes)
            r = int.from_bytes(parts.string(), "big")
            s = int.from_bytes(parts.string(), "big")
            curve_hash = {256: hashes.SHA256(), 384: hashes.SHA384(), 521: hashes.SHA512()}
            key.verify(
                utils.encode_dss_signature(r, s),
                signed,
                ec.ECDSA(curve_hash[key.curve.key_size]),
            )
        else:
            raise BadSignature(f"unsupported key type {type(key).__name__}")
    except InvalidSignature:
        raise BadSignature("the signature does not match") from None


def _pack(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data

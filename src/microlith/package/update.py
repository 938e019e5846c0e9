"""Signed, optionally encrypted, model-only update blobs.

A model compiled with ``--weights-slot`` reads every constant (weights,
biases, multipliers, shifts, tables) from one constant image; an update
replaces that image in a separate flash slot without reflashing the firmware.
The blob (all integers little-endian, fixed offsets; docs/update-format.md):

    offset  size  field
         0     4  magic b"MLUP"
         4     2  format version (1)
         6     2  header bytes (80)
         8     1  cipher: 0 none, 1 ChaCha20-Poly1305 (RFC 8439)
         9     1  signature scheme: 1 Ed25519 (RFC 8032, pure)
        10     2  reserved, 0
        12     4  model version (the device accepts only versions above the installed one)
        16     4  target id (first 4 bytes, little-endian, of SHA-256 of the target name)
        20     4  runtime ABI version (the constant-image format)
        24     4  arena bytes of the compiled model
        28     4  payload bytes P (= the constant image's length)
        32    32  schema hash: SHA-256 over the I/O schema, the image layout and every
                  call of the compiled model (model.json weights_slot.schema_sha256)
        64    12  nonce (random for cipher 1; zero for cipher 0)
        76     4  reserved, 0
        80     P  payload: the image, or its ChaCha20-Poly1305 ciphertext with the
                  80 header bytes as associated data
      80+P    16  Poly1305 tag (cipher 1 only)
         .    64  Ed25519 signature over every byte before it

The C verifier (package/runtime/mlu_update.c) checks these in the order of
``UpdateStatus`` and writes the payload to the slot only after the signature
(and the tag) hold. ``check_update`` here is the same check in Python.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

from ..codegen import update_target_id
from ..errors import MicrolithError
from . import keys

MAGIC = b"MLUP"
FORMAT_VERSION = 1
HEADER_BYTES = 80
TAG_BYTES = 16
SIGNATURE_BYTES = 64
NONCE_BYTES = 12
CIPHER_NONE = 0
CIPHER_CHACHA20_POLY1305 = 1
SIGNATURE_ED25519 = 1
_HEADER = struct.Struct("<4sHHBBHIIIII32s12sI")
assert _HEADER.size == HEADER_BYTES
MAX_VERSION = 0xFFFFFFFF


class UpdateStatus(IntEnum):
    """The verifier's result codes (mlu_update.h), in the order it checks."""
    OK = 0
    ARGUMENT = 1
    TRUNCATED = 2
    MAGIC = 3
    FORMAT_VERSION = 4
    HEADER = 5
    TARGET = 6
    ABI = 7
    SCHEMA = 8
    ARENA = 9
    LENGTH = 10
    CIPHER = 11
    ROLLBACK = 12
    SIGNATURE = 13
    DECRYPT = 14
    WRITE = 15


@dataclass(frozen=True)
class UpdateHeader:
    model_version: int
    target_id: int
    abi_version: int
    arena_bytes: int
    payload_bytes: int
    schema_hash: bytes
    cipher: int = CIPHER_NONE
    nonce: bytes = bytes(NONCE_BYTES)
    format_version: int = FORMAT_VERSION
    header_bytes: int = HEADER_BYTES
    signature_scheme: int = SIGNATURE_ED25519

    def pack(self) -> bytes:
        return _HEADER.pack(MAGIC, self.format_version, self.header_bytes, self.cipher,
                            self.signature_scheme, 0, self.model_version, self.target_id,
                            self.abi_version, self.arena_bytes, self.payload_bytes,
                            self.schema_hash, self.nonce, 0)

    @property
    def total_bytes(self) -> int:
        return (HEADER_BYTES + self.payload_bytes + (TAG_BYTES if self.cipher else 0)
                + SIGNATURE_BYTES)

    def to_dict(self) -> dict:
        return {"format_version": self.format_version, "model_version": self.model_version,
                "target_id": self.target_id, "abi_version": self.abi_version,
                "arena_bytes": self.arena_bytes, "payload_bytes": self.payload_bytes,
                "schema_sha256": self.schema_hash.hex(),
                "cipher": "chacha20-poly1305" if self.cipher else "none",
                "signature": "ed25519", "total_bytes": self.total_bytes}


def read_header(blob: bytes) -> tuple[UpdateStatus, UpdateHeader | None]:
    """Parse the header (no trust: the signature is not checked)."""
    if len(blob) < HEADER_BYTES:
        return UpdateStatus.TRUNCATED, None
    (magic, fmt, hbytes, cipher, scheme, res0, version, target, abi, arena, payload, schema,
     nonce, res1) = _HEADER.unpack_from(blob)
    if magic != MAGIC:
        return UpdateStatus.MAGIC, None
    if fmt != FORMAT_VERSION:
        return UpdateStatus.FORMAT_VERSION, None
    if (hbytes != HEADER_BYTES or res0 or res1 or scheme != SIGNATURE_ED25519
            or cipher > CIPHER_CHACHA20_POLY1305 or (cipher == CIPHER_NONE and any(nonce))):
        return UpdateStatus.HEADER, None
    return UpdateStatus.OK, UpdateHeader(version, target, abi, arena, payload, schema, cipher,
                                         nonce, fmt, hbytes, scheme)


def _check_version(version) -> int:
    if isinstance(version, bool) or not isinstance(version, int) \
            or not 1 <= version <= MAX_VERSION:
        raise MicrolithError(f"the model version must be a whole number from 1 to "
                             f"{MAX_VERSION}, not {version!r}")
    return version


def make_update(image: bytes, *, version: int, target_id: int, abi_version: int,
                arena_bytes: int, schema_hash: bytes, sign_key,
                encrypt_key: bytes | None = None, nonce: bytes | None = None) -> bytes:
    """The blob for ``image``: header, payload (encrypted with ``encrypt_key``
    when given; header as associated data), Ed25519 signature by ``sign_key``
    (an Ed25519PrivateKey) over everything before it."""
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
    _check_version(version)
    if len(schema_hash) != 32:
        raise MicrolithError("the schema hash must be 32 bytes", internal=True)
    cipher = CIPHER_NONE if encrypt_key is None else CIPHER_CHACHA20_POLY1305
    if encrypt_key is not None:
        if len(encrypt_key) != keys.KEY_BYTES:
            raise MicrolithError(f"the encryption key must be {keys.KEY_BYTES} bytes")
        nonce = os.urandom(NONCE_BYTES) if nonce is None else nonce
        if len(nonce) != NONCE_BYTES:
            raise MicrolithError(f"the nonce must be {NONCE_BYTES} bytes", internal=True)
    else:
        nonce = bytes(NONCE_BYTES)
    header = UpdateHeader(version, target_id, abi_version, arena_bytes, len(image),
                          schema_hash, cipher, nonce).pack()
    payload = bytes(image) if encrypt_key is None else \
        ChaCha20Poly1305(encrypt_key).encrypt(nonce, bytes(image), header)
    signed = header + payload
    return signed + sign_key.sign(signed)


def _slot_meta(project_dir: Path) -> dict:
    meta_path = project_dir / "model.json"
    if not meta_path.is_file():
        raise MicrolithError(f"{project_dir} is not a compiled project (no model.json); "
                             "run `microlith compile MODEL -o DIR --weights-slot` first")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise MicrolithError(f"{meta_path} is not valid JSON: {e}") from None
    slot = meta.get("weights_slot")
    if not slot:
        raise MicrolithError(f"{project_dir} was compiled without --weights-slot: a "
                             "model-only update needs the weights in their own slot "
                             "(`microlith compile MODEL -o DIR --weights-slot`)")
    return meta


def project_image(project_dir: str | os.PathLike) -> tuple[dict, bytes]:
    """model.json and the constant image (weights.bin) of a --weights-slot project."""
    project = Path(project_dir)
    meta = _slot_meta(project)
    slot = meta["weights_slot"]
    path = project / slot.get("file", "weights.bin")
    if not path.is_file():
        raise MicrolithError(f"{path} is missing: compile the project again")
    image = path.read_bytes()
    if len(image) != slot["bytes"] or hashlib.sha256(image).hexdigest() != slot["image_sha256"]:
        raise MicrolithError(f"{path} does not match model.json (edited after compiling?): "
                             "compile the project again")
    return meta, image


def build_update(project_dir: str | os.PathLike, out_path: str | os.PathLike, *, sign_key,
                 encrypt_key=None, version: int, target: str | None = None) -> Path:
    """Write the update blob of a compiled ``--weights-slot`` project (the new
    model) to ``out_path``. ``sign_key``: a key path/directory or an
    Ed25519PrivateKey; ``encrypt_key``: a key path/directory, 32 bytes, or None;
    ``target``: the target name (default: the one the project was compiled
    for)."""
    meta, image = project_image(project_dir)
    slot = meta["weights_slot"]
    if not hasattr(sign_key, "sign"):
        sign_key = keys.load_signing_key(sign_key)
    if encrypt_key is not None and not isinstance(encrypt_key, bytes):
        encrypt_key = keys.load_encryption_key(encrypt_key)
    tid = update_target_id(target) if target is not None else slot["target_id"]
    blob = make_update(image, version=_check_version(version), target_id=tid,
                       abi_version=slot["abi_version"], arena_bytes=meta["arena_bytes"],
                       schema_hash=bytes.fromhex(slot["schema_sha256"]), sign_key=sign_key,
                       encrypt_key=encrypt_key)
    out = Path(out_path)
    if out.parent and not out.parent.exists():
        out.parent.mkdir(parents=True)
    out.write_bytes(blob)
    return out


def check_update(blob: bytes, meta: dict, public_key: bytes, *, installed_version: int = 0,
                 decrypt_key: bytes | None = None) -> tuple[UpdateStatus, bytes | None]:
    """What the C verifier of the project with model.json ``meta`` answers for
    ``blob``, and the image it would install (None when rejected)."""
    from cryptography.exceptions import InvalidSignature, InvalidTag
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
    status, h = read_header(blob)
    if status is not UpdateStatus.OK:
        return status, None
    slot = meta["weights_slot"]
    if h.target_id != slot["target_id"]:
        return UpdateStatus.TARGET, None
    if h.abi_version != slot["abi_version"]:
        return UpdateStatus.ABI, None
    if h.schema_hash.hex() != slot["schema_sha256"]:
        return UpdateStatus.SCHEMA, None
    if h.arena_bytes != meta["arena_bytes"]:
        return UpdateStatus.ARENA, None
    if h.payload_bytes != slot["bytes"]:
        return UpdateStatus.LENGTH, None
    if len(blob) != h.total_bytes:
        return (UpdateStatus.TRUNCATED if len(blob) < h.total_bytes else
                UpdateStatus.LENGTH), None
    if (h.cipher == CIPHER_CHACHA20_POLY1305) != (decrypt_key is not None):
        return UpdateStatus.CIPHER, None
    if h.model_version <= installed_version:
        return UpdateStatus.ROLLBACK, None
    signed = blob[:-SIGNATURE_BYTES]
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(blob[-SIGNATURE_BYTES:], signed)
    except InvalidSignature:
        return UpdateStatus.SIGNATURE, None
    payload = signed[HEADER_BYTES:]
    if h.cipher == CIPHER_NONE:
        return UpdateStatus.OK, payload
    try:
        image = ChaCha20Poly1305(decrypt_key).decrypt(h.nonce, payload, blob[:HEADER_BYTES])
    except InvalidTag:
        return UpdateStatus.DECRYPT, None
    return UpdateStatus.OK, image

"""The portable C crypto of signed model updates (src/microlith/package/runtime/mlu_*):
SHA-256/512, Ed25519 verification and ChaCha20-Poly1305, checked against the
standard test vectors, against hashlib and the `cryptography` package, under
AddressSanitizer/UndefinedBehaviorSanitizer with a fuzz harness, and built for
Cortex-M0+/M4F (sizes measured, one verify run in Unicorn)."""

from __future__ import annotations

import ctypes
import hashlib
import os
import random
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from microlith.toolchain.host import WARNINGS, find_cc

RUNTIME = Path(str(resources.files("microlith"))) / "package" / "runtime"
TESTS_C = Path(__file__).parent / "c"
MODULES = ("sha256", "sha512", "ed25519", "chacha20poly1305")
SOURCES = [RUNTIME / f"mlu_{m}.c" for m in MODULES]
CTX_BYTES = 1024  # more than any mlu_*_ctx

# ---------------------------------------------------------------------------
# Test vectors
# ---------------------------------------------------------------------------

# FIPS 180-4 examples (NIST CSRC "Examples with intermediate values").
MSG_448 = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
MSG_896 = (b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
           b"ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu")
SHA256_VECTORS = [
    (b"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
    (MSG_448, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    (b"a" * 1_000_000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
]
SHA512_VECTORS = [
    (b"abc", "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
             "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"),
    (MSG_896, "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018"
              "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909"),
    (b"a" * 1_000_000, "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973eb"
                       "de0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b"),
]

# RFC 8032 section 7.1: (name, secret key, public key, message, signature).
_MSG_1024 = (
    "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98fa6e264bf09efe12ee50f8f54e9f77b1"
    "e355f6c50544e23fb1433ddf73be84d879de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d"
    "658675fc6ea534e0810a4432826bf58c941efb65d57a338bbd2e26640f89ffbc1a858efcb8550ee3a5e1998bd177e93a"
    "7363c344fe6b199ee5d02e82d522c4feba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e"
    "06203b33890cc9b832f79ef80560ccb9a39ce767967ed628c6ad573cb116dbefefd75499da96bd68a8a97b928a8bbc10"
    "3b6621fcde2beca1231d206be6cd9ec7aff6f6c94fcd7204ed3455c68c83f4a41da4af2b74ef5c53f1d8ac70bdcb7ed1"
    "85ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2d17ba70eb6248e594e1a2297acbbb39d"
    "502f1a8c6eb6f1ce22b3de1a1f40cc24554119a831a9aad6079cad88425de6bde1a9187ebb6092cf67bf2b13fd65f270"
    "88d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc2732e69485bbc9c90bfbd62481d9089b"
    "eccf80cfe2df16a2cf65bd92dd597b0707e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128ba"
    "b27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51addd3b75a2b1ae0784504df543af8969b"
    "e3ea7082ff7fc9888c144da2af58429ec96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb7"
    "51fb73e666c6c655ade8297297d07ad1ba5e43f1bca32301651339e22904cc8c42f58c30c04aafdb038dda0847dd988d"
    "cda6f3bfd15c4b4c4525004aa06eeff8ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34df"
    "f7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b68401adebf5a7e08d78ff4ef5d63653a65040cf9bfd4aca7"
    "984a74d37145986780fc0b16ac451649de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd419c17a3ca8e1b939ae49e4"
    "88acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a32ef5b52a1ecc820e308aa342721aac09"
    "43bf6686b64b2579376504ccc493d97e6aed3fb0f9cd71a43dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5f"
    "b93246f6b1116398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b50d334ba77c225bc307ba537152f3f161"
    "0e4eafe595f6d9d90d11faa933a15ef1369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380d"
    "b2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c0618983f8741c5ef68d3a101e8a3b8ca"
    "c60c905c15fc910840b94c00a0b9d0")
RFC8032 = [
    ("TEST 1", "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b"
     "46bd25bf5f0595bbe24655141438e7a100b"),
    ("TEST 2", "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f"
     "11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ("TEST 3", "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f7609"
     "84dc6594a7c15e9716ed28dc027beceea1ec40a"),
    ("TEST 1024", "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
     "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e", _MSG_1024,
     "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350aa5371b1508f9f4528ecea23c43"
     "6d94b5e8fcd4f681e30a6ac00a9704a188a03"),
    ("TEST SHA(abc)", "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
     "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
     "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3"
     "feebbd454d4423643ce80e2a9ac94fa54ca49f",
     "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c664"
     "31e0303dca179c138ac17ad9bef1177331a704"),
]

# RFC 8439 section 2.8.2 (AEAD) and Appendix A.5 (decryption).
AEAD_282 = dict(
    key=bytes(range(0x80, 0xA0)), nonce=bytes.fromhex("070000004041424344454647"),
    aad=bytes.fromhex("50515253c0c1c2c3c4c5c6c7"),
    pt=b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for "
       b"the future, sunscreen would be it.",
    ct=bytes.fromhex(
        "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb6"
        "9da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675"
        "945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116"),
    tag=bytes.fromhex("1ae10b594f09e26a7e902ecbd0600691"))
AEAD_A5 = dict(
    key=bytes.fromhex("1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0"),
    nonce=bytes.fromhex("000000000102030405060708"),
    aad=bytes.fromhex("f33388860000000000004e91"),
    pt="Internet-Drafts are draft documents valid for a maximum of six months and may be "
       "updated, replaced, or obsoleted by other documents at any time. It is inappropriate to "
       "use Internet-Drafts as reference material or to cite them other than as /\u201cwork in "
       "progress./\u201d".encode(),
    ct=bytes.fromhex(
        "64a0861575861af460f062c79be643bd5e805cfd345cf389f108670ac76c8cb24c6cfc18755d43eea09ee94e"
        "382d26b0bdb7b73c321b0100d4f03b7f355894cf332f830e710b97ce98c8a84abd0b948114ad176e008d33bd"
        "60f982b1ff37c8559797a06ef4f0ef61c186324e2b3506383606907b6a7c02b0f9f6157b53c867e4b9166c76"
        "7b804d46a59b5216cde7a4e99040c5a40433225ee282a1b0a06c523eaf4534d7f83fa1155b0047718cbc546a"
        "0d072b04b3564eea1b422273f548271a0bb2316053fa76991955ebd63159434ecebb4e466dae5a1073a67276"
        "27097a1049e617d91d361094fa68f0ff77987130305beaba2eda04df997b714d6c6f2c29a6ad5cb4022b0270"
        "9b"),
    tag=bytes.fromhex("eead9d67890cbb22392336fea1851f38"))

# ---------------------------------------------------------------------------
# A small independent model of the curve (RFC 8032 5.1), to build edge cases
# ---------------------------------------------------------------------------

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def _recover_x(y: int, sign: int) -> int | None:
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P:
        return None
    if x == 0 and sign:
        return None
    return P - x if x & 1 != sign else x


def _pt_add(a, b):
    x1, y1 = a
    x2, y2 = b
    t = D * x1 * x2 * y1 * y2 % P
    return ((x1 * y2 + x2 * y1) * pow(1 + t, P - 2, P) % P,
            (y1 * y2 + x1 * x2) * pow(1 - t, P - 2, P) % P)


def _pt_mul(s: int, pt):
    acc = (0, 1)
    while s:
        if s & 1:
            acc = _pt_add(acc, pt)
        pt = _pt_add(pt, pt)
        s >>= 1
    return acc


def _encode(pt) -> bytes:
    x, y = pt
    return (y | (x & 1) << 255).to_bytes(32, "little")


BASE = (_recover_x(4 * pow(5, P - 2, P) % P, 0), 4 * pow(5, P - 2, P) % P)


def _non_square_y() -> int:
    """A y for which (y^2 - 1)/(d y^2 + 1) has no square root: no point has it."""
    y = 2
    while _recover_x(y, 0) is not None:
        y += 1
    return y


# ---------------------------------------------------------------------------
# Builds
# ---------------------------------------------------------------------------

class Lib:
    def __init__(self, path: Path):
        self.c = ctypes.CDLL(str(path))
        for name in ("mlu_ed25519_verify", "mlu_ed25519_verify2", "mlu_aead_decrypt_final"):
            getattr(self.c, name).restype = ctypes.c_int
        self.c.mlu_ed25519_verify.argtypes = [ctypes.c_char_p, ctypes.c_char_p,
                                              ctypes.c_size_t, ctypes.c_char_p]
        self.c.mlu_ed25519_verify2.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t,
                                               ctypes.c_char_p, ctypes.c_size_t,
                                               ctypes.c_char_p]
        for name in ("mlu_sha256", "mlu_sha512"):
            getattr(self.c, name).argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p]
        for name in ("mlu_sha256_update", "mlu_sha512_update"):
            getattr(self.c, name).argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        self.c.mlu_aead_init.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p,
                                         ctypes.c_char_p, ctypes.c_size_t]
        for name in ("mlu_aead_decrypt_update", "mlu_aead_encrypt_update"):
            getattr(self.c, name).argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                              ctypes.c_size_t]

    def hash(self, bits: int, msg: bytes, chunks: list[int] | None = None) -> bytes:
        out = ctypes.create_string_buffer(bits // 4)
        if chunks is None:
            getattr(self.c, f"mlu_sha{bits}")(msg, len(msg), out)
            return out.raw[: bits // 8]
        ctx = ctypes.create_string_buffer(CTX_BYTES)
        getattr(self.c, f"mlu_sha{bits}_init")(ctx)
        pos = 0
        for k in [*chunks, len(msg)]:
            part = msg[pos:pos + k]
            getattr(self.c, f"mlu_sha{bits}_update")(ctx, part, len(part))
            pos += len(part)
        getattr(self.c, f"mlu_sha{bits}_final")(ctx, out)
        return out.raw[: bits // 8]

    def verify(self, sig: bytes, msg: bytes, pub: bytes, split: int | None = None) -> int:
        assert len(sig) == 64 and len(pub) == 32
        if split is None:
            return self.c.mlu_ed25519_verify(sig, msg, len(msg), pub)
        a, b = msg[:split], msg[split:]
        return self.c.mlu_ed25519_verify2(sig, a or None, len(a), b or None, len(b), pub)

    def aead(self, encrypt: bool, key: bytes, nonce: bytes, aad: bytes, data: bytes,
             tag: bytes | None = None, chunks: list[int] | None = None,
             in_place: bool = False) -> tuple[bytes, bytes | int]:
        """(output, tag) when encrypting, (output, 1/0 tag result) when decrypting."""
        ctx = ctypes.create_string_buffer(CTX_BYTES)
        self.c.mlu_aead_init(ctx, key, nonce, aad, len(aad))
        src = ctypes.create_string_buffer(data, len(data) + 1)
        dst = src if in_place else ctypes.create_string_buffer(len(data) + 1)
        update = self.c.mlu_aead_encrypt_update if encrypt else self.c.mlu_aead_decrypt_update
        pos = 0
        for k in [*(chunks or []), len(data)]:
            k = min(k, len(data) - pos)
            update(ctx, ctypes.addressof(src) + pos, ctypes.addressof(dst) + pos, k)
            pos += k
        if encrypt:
            out = ctypes.create_string_buffer(16)
            self.c.mlu_aead_encrypt_final(ctx, out)
            return dst.raw[:len(data)], out.raw
        return dst.raw[:len(data)], self.c.mlu_aead_decrypt_final(ctx, tag)


def _compile(cmd: list[str]) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, f"{' '.join(cmd)}\n{r.stderr or r.stdout}"


@pytest.fixture(scope="module")
def lib(tmp_path_factory) -> Lib:
    out = tmp_path_factory.mktemp("mlu") / "libmlu.so"
    _compile([find_cc(), "-O2", *WARNINGS, "-shared", "-fPIC", *map(str, SOURCES),
              "-o", str(out)])
    return Lib(out)


def _pub(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw,
                                         serialization.PublicFormat.Raw)


def _random_chunks(rng: random.Random, n: int) -> list[int]:
    out, pos = [], 0
    while pos < n:
        k = rng.choice((1, 3, 7, 13, 31, 63, 64, 65, 129))
        out.append(k)
        pos += k
    return out


# ---------------------------------------------------------------------------
# Portability of the sources
# ---------------------------------------------------------------------------

def test_sources_compile_warning_free_with_gcc_and_clang(tmp_path):
    compilers = [c for c in ("gcc", "clang") if shutil.which(c)]
    assert compilers, "neither gcc nor clang is installed"
    strict = ["-pedantic", "-Wshadow", "-Wconversion", "-Wsign-conversion", "-Wcast-align",
              "-Wstrict-prototypes", "-Wmissing-prototypes"]
    for cc in compilers:
        for opt in ("-O0", "-O2", "-Os"):
            for src in SOURCES:
                _compile([cc, opt, *WARNINGS, *strict, "-c", str(src),
                          "-o", str(tmp_path / f"{cc}{opt}{src.stem}.o")])


def test_sources_use_no_libc_memory_or_io():
    headers = [RUNTIME / f"mlu_{m}.h" for m in (*MODULES, "crypto_common")]
    for path in [*SOURCES, *headers]:
        text = path.read_text()
        for banned in ("malloc", "free(", "printf", "stdio.h", "stdlib.h", "memcpy(*(uint32"):
            assert banned not in text, f"{path.name} uses {banned}"


# ---------------------------------------------------------------------------
# SHA-256 / SHA-512
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("bits,vectors", [(256, SHA256_VECTORS), (512, SHA512_VECTORS)])
def test_sha_fips_examples(lib, bits, vectors):
    for msg, digest in vectors:
        assert lib.hash(bits, msg).hex() == digest
        # streamed in odd pieces straddling the block boundary
        assert lib.hash(bits, msg, [1, 62, 3, 127, 129, 1000, 77777]).hex() == digest
        assert hashlib.new(f"sha{bits}", msg).hexdigest() == digest  # the vector itself


@pytest.mark.parametrize("bits", [256, 512])
def test_sha_every_length_against_hashlib(lib, bits):
    rng = random.Random(bits)
    for n in range(301):
        msg = rng.randbytes(n)
        want = hashlib.new(f"sha{bits}", msg).digest()
        assert lib.hash(bits, msg) == want, n
        cuts = sorted(rng.randrange(n + 1) for _ in range(2))
        assert lib.hash(bits, msg, [cuts[0], cuts[1] - cuts[0]]) == want, n


# ---------------------------------------------------------------------------
# Ed25519
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name,sk,pk,msg,sig", RFC8032, ids=[v[0] for v in RFC8032])
def test_ed25519_rfc8032_vectors(lib, name, sk, pk, msg, sig):
    sk, pk, msg, sig = (bytes.fromhex(v) for v in (sk, pk, msg, sig))
    # the transcription is right: cryptography derives the same key and signature
    key = Ed25519PrivateKey.from_private_bytes(sk)
    assert _pub(key) == pk and key.sign(msg) == sig
    assert lib.verify(sig, msg, pk) == 1
    for split in sorted({0, min(1, len(msg)), len(msg) // 2, len(msg)}):
        assert lib.verify(sig, msg, pk, split) == 1
    if msg:
        assert lib.verify(sig, msg[:-1], pk) == 0
    assert lib.verify(sig, msg + b"\0", pk) == 0


def test_ed25519_cryptography_signatures(lib):
    rng = random.Random(25519)
    for i in range(40):
        key = Ed25519PrivateKey.generate()
        msg = rng.randbytes(rng.choice((0, 1, 31, 64, 127, 128, 129, 300, 1000)) + i % 3)
        sig, pub = key.sign(msg), _pub(key)
        assert lib.verify(sig, msg, pub) == 1
        assert lib.verify(sig, msg, pub, rng.randrange(len(msg) + 1)) == 1
        other = _pub(Ed25519PrivateKey.generate())
        assert lib.verify(sig, msg, other) == 0


def test_ed25519_every_single_bit_flip_is_rejected(lib):
    key = Ed25519PrivateKey.generate()
    msg = os.urandom(24)
    sig, pub = key.sign(msg), _pub(key)
    assert lib.verify(sig, msg, pub) == 1
    rejected = 0
    for what, data in (("sig", sig), ("msg", msg), ("pub", pub)):
        for bit in range(8 * len(data)):
            bad = bytearray(data)
            bad[bit // 8] ^= 1 << (bit % 8)
            args = {"sig": sig, "msg": msg, "pub": pub, what: bytes(bad)}
            assert lib.verify(args["sig"], args["msg"], args["pub"]) == 0, (what, bit)
            rejected += 1
    assert rejected == 8 * (64 + 24 + 32)


def test_ed25519_rejects_non_canonical_s(lib):
    key = Ed25519PrivateKey.generate()
    msg = b"model v2"
    sig, pub = key.sign(msg), _pub(key)
    s = int.from_bytes(sig[32:], "little")
    # S + L is the same scalar mod L: a verifier without the S < L check accepts it
    for bad_s in (s + L, s + 2 * L, L, 2**256 - 1):
        if bad_s < 2**256:
            assert lib.verify(sig[:32] + bad_s.to_bytes(32, "little"), msg, pub) == 0, bad_s


def test_ed25519_rejects_points_that_do_not_decode(lib):
    # With A = the neutral element, [S]B = R + [k]A holds for R = [r]B, S = r, whatever k:
    # so these signatures verify under the canonical encoding of A (y = 1) and must
    # fail only because of how A or R is encoded.
    r = 123456789
    rb = _encode(_pt_mul(r, BASE))
    sig = rb + r.to_bytes(32, "little")
    ident = (1).to_bytes(32, "little")
    assert lib.verify(sig, b"m", ident) == 1  # the construction works
    non_canonical = (P + 1).to_bytes(32, "little")  # y = p + 1 = 1 (mod p)
    assert lib.verify(sig, b"m", non_canonical) == 0
    x0_sign1 = bytearray(ident)
    x0_sign1[31] |= 0x80  # x = 0 with the sign bit set
    assert lib.verify(sig, b"m", bytes(x0_sign1)) == 0
    off_curve = _non_square_y().to_bytes(32, "little")
    assert lib.verify(sig, b"m", off_curve) == 0
    # R = the neutral element, S = 0 is valid for A = the neutral element ...
    assert lib.verify(ident + bytes(32), b"m", ident) == 1
    # ... but not with R encoded non-canonically, with x = 0 and sign 1, or off the curve
    for bad_r in (non_canonical, bytes(x0_sign1), off_curve):
        assert lib.verify(bad_r + bytes(32), b"m", ident) == 0
    # an off-curve R or A in a real signature
    key = Ed25519PrivateKey.generate()
    good = key.sign(b"m")
    assert lib.verify(off_curve + good[32:], b"m", _pub(key)) == 0
    assert lib.verify(good, b"m", off_curve) == 0


# ---------------------------------------------------------------------------
# ChaCha20-Poly1305
# ---------------------------------------------------------------------------

def _poly1305_reference(key: bytes, msg: bytes) -> bytes:
    """RFC 8439 2.5.1 in integers."""
    r = int.from_bytes(key[:16], "little") & 0x0ffffffc0ffffffc0ffffffc0fffffff
    s = int.from_bytes(key[16:], "little")
    acc = 0
    for i in range(0, len(msg), 16):
        block = msg[i:i + 16] + b"\x01"
        acc = (acc + int.from_bytes(block, "little")) * r % (2**130 - 5)
    return ((acc + s) % 2**128).to_bytes(16, "little")


def test_poly1305_rfc_vector_and_edge_values(lib):
    def tag(key: bytes, msg: bytes) -> bytes:
        ctx = ctypes.create_string_buffer(CTX_BYTES)
        out = ctypes.create_string_buffer(16)
        lib.c.mlu_poly1305_init(ctx, key)
        lib.c.mlu_poly1305_update(ctx, msg, ctypes.c_size_t(len(msg)))
        lib.c.mlu_poly1305_final(ctx, out)
        return out.raw

    key = bytes.fromhex("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b")
    msg = b"Cryptographic Forum Research Group"
    assert tag(key, msg).hex() == "a8061dc1305136c6c22b8baf0c0127a9"  # RFC 8439 2.5.2
    assert _poly1305_reference(key, msg).hex() == "a8061dc1305136c6c22b8baf0c0127a9"
    rng = random.Random(1305)
    # accumulators near 2^130 - 5 exercise the final reduction and the carries
    keys = [bytes([2]) + bytes(15) + bytes(16), bytes([2]) + bytes(15) + b"\xff" * 16,
            b"\xff" * 32, bytes([1]) + bytes(31)]
    for k in keys + [rng.randbytes(32) for _ in range(20)]:
        for m in (b"\xff" * 16, b"\xff" * 48, b"\x02", b"\xfb" + b"\xff" * 15, b"",
                  rng.randbytes(rng.randrange(1, 100)), b"\xff" * rng.randrange(1, 80)):
            assert tag(k, m) == _poly1305_reference(k, m), (k.hex(), m.hex())


def test_chacha20_block_rfc8439_2_3_2(lib):
    key = (ctypes.c_uint32 * 8)(*[int.from_bytes(bytes(range(4 * i, 4 * i + 4)), "little")
                                  for i in range(8)])
    nonce = (ctypes.c_uint32 * 3)(0x09000000, 0x4a000000, 0x00000000)
    out = ctypes.create_string_buffer(64)
    lib.c.mlu_chacha20_block(key, ctypes.c_uint32(1), nonce, out)
    assert out.raw.hex() == (
        "10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e"
        "d2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e")


def test_aead_rfc8439_vectors(lib):
    v = AEAD_282
    ct, tag = lib.aead(True, v["key"], v["nonce"], v["aad"], v["pt"])
    assert (ct, tag) == (v["ct"], v["tag"])
    for vec in (AEAD_282, AEAD_A5):
        for chunks in (None, [1, 2, 61, 64, 5], [64, 64, 64]):
            pt, ok = lib.aead(False, vec["key"], vec["nonce"], vec["aad"], vec["ct"], vec["tag"],
                              chunks, in_place=chunks is not None)
            assert ok == 1 and pt == vec["pt"]
        ref = ChaCha20Poly1305(vec["key"]).decrypt(vec["nonce"], vec["ct"] + vec["tag"],
                                                   vec["aad"])
        assert ref == vec["pt"]


def test_aead_against_cryptography_with_odd_chunks(lib):
    rng = random.Random(8439)
    for i in range(80):
        key, nonce = rng.randbytes(32), rng.randbytes(12)
        aad = rng.randbytes(rng.choice((0, 1, 15, 16, 17, 40)))
        pt = rng.randbytes(rng.choice((0, 1, 63, 64, 65, 127, 128, 200, 1000)) + i % 5)
        ref = ChaCha20Poly1305(key).encrypt(nonce, pt, aad)
        ct, tag = lib.aead(True, key, nonce, aad, pt, chunks=_random_chunks(rng, len(pt)),
                           in_place=bool(i & 1))
        assert ct + tag == ref
        out, ok = lib.aead(False, key, nonce, aad, ref[:-16], ref[-16:],
                           chunks=_random_chunks(rng, len(pt)), in_place=bool(i & 2))
        assert ok == 1 and out == pt


def test_aead_tampering_is_rejected(lib):
    key, nonce, aad = os.urandom(32), os.urandom(12), b"header v2"
    pt = os.urandom(150)
    sealed = ChaCha20Poly1305(key).encrypt(nonce, pt, aad)
    ct, tag = sealed[:-16], sealed[-16:]
    assert lib.aead(False, key, nonce, aad, ct, tag)[1] == 1
    for i in range(len(ct)):
        bad = bytearray(ct)
        bad[i] ^= 0x01 << (i % 8)
        assert lib.aead(False, key, nonce, aad, bytes(bad), tag)[1] == 0, i
    for bit in range(128):
        bad = bytearray(tag)
        bad[bit // 8] ^= 1 << (bit % 8)
        assert lib.aead(False, key, nonce, aad, ct, bytes(bad))[1] == 0, bit
    for i in range(len(aad)):
        bad = bytearray(aad)
        bad[i] ^= 0x80
        assert lib.aead(False, key, nonce, bytes(bad), ct, tag)[1] == 0, i
    assert lib.aead(False, key, nonce, aad + b"\0", ct, tag)[1] == 0
    assert lib.aead(False, key, nonce, aad, ct[:-1], tag)[1] == 0
    assert lib.aead(False, key, nonce, aad, ct + b"\0", tag)[1] == 0
    assert lib.aead(False, key, bytes(12), aad, ct, tag)[1] == 0
    assert lib.aead(False, bytes(32), nonce, aad, ct, tag)[1] == 0


# ---------------------------------------------------------------------------
# Sanitizers: the fuzz harness
# ---------------------------------------------------------------------------

def _seed_lines(n: int, rng: random.Random) -> list[str]:
    def h(b: bytes) -> str:
        return b.hex() or "-"

    lines = []
    for _name, _sk, pk, msg, sig in RFC8032[:3] + RFC8032[4:]:
        lines.append(f"E {pk} {sig} {msg or '-'}")
    for _ in range(n):
        key = Ed25519PrivateKey.generate()
        msg = rng.randbytes(rng.randrange(0, 300))
        lines.append(f"E {h(_pub(key))} {h(key.sign(msg))} {h(msg)}")
    for v in (AEAD_282, AEAD_A5):
        lines.append(f"A {h(v['key'])} {h(v['nonce'])} {h(v['aad'])} {h(v['pt'])} "
                     f"{h(v['ct'])} {h(v['tag'])}")
    for _ in range(n):
        key, nonce = rng.randbytes(32), rng.randbytes(12)
        aad, pt = rng.randbytes(rng.randrange(0, 40)), rng.randbytes(rng.randrange(0, 300))
        sealed = ChaCha20Poly1305(key).encrypt(nonce, pt, aad)
        lines.append(f"A {h(key)} {h(nonce)} {h(aad)} {h(pt)} {h(sealed[:-16])} "
                     f"{h(sealed[-16:])}")
    return lines


@pytest.fixture(scope="module")
def fuzzer(tmp_path_factory) -> Path:
    cc = shutil.which("clang") or shutil.which("gcc")
    assert cc, "the sanitizer build needs clang or gcc"
    exe = tmp_path_factory.mktemp("fuzz") / "fuzz_crypto"
    _compile([cc, "-O1", "-g", *WARNINGS, "-fsanitize=address,undefined",
              "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", f"-I{RUNTIME}",
              *map(str, SOURCES), str(TESTS_C / "fuzz_crypto.c"), "-o", str(exe)])
    return exe


def _fuzz(exe: Path, iterations: int, seed: int, lines: list[str]):
    env = dict(os.environ, ASAN_OPTIONS="abort_on_error=0:detect_leaks=1",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    return subprocess.run([str(exe), str(iterations), str(seed)], input="\n".join(lines) + "\n",
                          capture_output=True, text=True, env=env, timeout=300)


def test_fuzz_under_address_and_undefined_sanitizers(fuzzer):
    iterations = 10_000
    r = _fuzz(fuzzer, iterations, 20240601, _seed_lines(6, random.Random(6)))
    assert r.returncode == 0, r.stderr[-3000:]
    assert "runtime error" not in r.stderr and "Sanitizer" not in r.stderr, r.stderr[-3000:]
    fields = r.stdout.split()
    assert fields[:3] == ["mlu-fuzz", "ok", str(iterations)], r.stdout
    assert int(fields[3]) >= 2 * iterations  # entry-point calls made


def test_fuzz_harness_detects_a_broken_property(fuzzer):
    # a "valid" seed whose signature is wrong must make the harness fail
    lines = _seed_lines(0, random.Random(0))
    e_lines = [ln for ln in lines if ln.startswith("E ")]
    a_lines = [ln for ln in lines if ln.startswith("A ")]
    tag, pk, sig, msg = e_lines[0].split()
    broken = f"{tag} {pk} {sig[:-2]}{int(sig[-2:], 16) ^ 1:02x} {msg}"
    r = _fuzz(fuzzer, 300, 7, [broken, *a_lines])
    assert r.returncode == 1 and "a valid signature was rejected" in r.stderr, r.stderr


# ---------------------------------------------------------------------------
# Cortex-M: sizes and one verification in Unicorn
# ---------------------------------------------------------------------------

ARM_CORES = {"cortex-m0plus": "microbit", "cortex-m4f": "mps2-an386"}


def _arm_size(obj: Path) -> tuple[int, int, int]:
    size = shutil.which("arm-none-eabi-size")
    assert size, "arm-none-eabi-size not found (binutils-arm-none-eabi)"
    r = subprocess.run([size, str(obj)], capture_output=True, text=True, check=True)
    text, data, bss = (int(v) for v in r.stdout.splitlines()[1].split()[:3])
    return text, data, bss


@pytest.fixture(scope="module")
def arm_builds(tmp_path_factory) -> dict[str, tuple[Path, dict]]:
    """Per core: an ELF of the crypto with tests/c/crypto_firmware.c, and the
    (text, data, bss) of each module's -Os object."""
    from microlith.toolchain.arm import CORES, SECTIONS, find_arm_gcc, firmware_dir

    gcc = find_arm_gcc()
    fw = firmware_dir()
    out = tmp_path_factory.mktemp("arm")
    elfs = {}
    for core, board in ARM_CORES.items():
        flags = [*CORES[core].flags, "-Os", *WARNINGS, *SECTIONS]
        sizes = {}
        for src in SOURCES:
            obj = out / f"{core}-{src.stem}.o"
            _compile([gcc, *flags, "-c", str(src), "-o", str(obj)])
            sizes[src.stem] = _arm_size(obj)
        elf = out / f"{core}.elf"
        keep = ["mlu_fw_buf", "mlu_fw_aead_decrypt", "mlu_ed25519_verify"]
        _compile([gcc, *flags, "-g", f"-I{RUNTIME}", f"-I{fw}", "-nostartfiles",
                  "--specs=nano.specs", "-Wl,--gc-sections", f"-L{fw}", f"-T{board}.ld",
                  "-Wl,--defsym=__stack_size=4096", *[f"-Wl,--undefined={s}" for s in keep],
                  str(TESTS_C / "crypto_firmware.c"), str(fw / "ml_startup.c"),
                  str(fw / "ml_semihost.c"), *map(str, SOURCES), "-o", str(elf)])
        elfs[core] = (elf, sizes)
    return elfs


def test_arm_code_size_and_no_mutable_globals(arm_builds):
    assert set(arm_builds) == set(ARM_CORES)
    for core, (_elf, sizes) in arm_builds.items():
        assert set(sizes) == {src.stem for src in SOURCES}
        for name, (_text, data, bss) in sizes.items():
            assert data == 0 and bss == 0, f"{name} has mutable global state on {core}"
        verify = sizes["mlu_sha512"][0] + sizes["mlu_ed25519"][0]
        aead = sizes["mlu_chacha20poly1305"][0]
        print(f"\n{core} -Os (measured: arm-none-eabi-size, text incl. rodata): "
              f"verify path sha512+ed25519 {verify} B, sha256 {sizes['mlu_sha256'][0]} B, "
              f"chacha20poly1305 {aead} B")
        assert verify < 8192 and aead < 4096  # a regression guard: today ~4.6 KB and ~2.6 KB


@pytest.mark.parametrize("core", list(ARM_CORES))
def test_ed25519_and_aead_run_on_cortex_m(arm_builds, core):
    from microlith.emulate.unicorn import CortexM

    m = CortexM(arm_builds[core][0], core=core)
    buf = m.image.address("mlu_fw_buf")
    _name, _sk, pk, msg, sig = (bytes.fromhex(v) if i else v for i, v in enumerate(RFC8032[1]))
    m.write(buf, sig + pk + msg)
    ok, instructions, stack = m.call("mlu_ed25519_verify", buf, buf + 96, len(msg), buf + 64)
    assert ok == 1
    print(f"\n{core}: Ed25519 verify of RFC 8032 TEST 2 (measured, Unicorn): "
          f"{instructions} instructions, peak stack {stack} B")
    assert stack < 2048
    m.write(buf + 96, bytes([msg[0] ^ 1]))
    assert m.call("mlu_ed25519_verify", buf, buf + 96, len(msg), buf + 64)[0] == 0
    # AEAD: decrypt the RFC 8439 A.5 vector in place (crypto_firmware.c lays it out)
    v = AEAD_A5
    n = len(v["ct"])
    block = (v["key"] + v["nonce"] + v["tag"] + len(v["aad"]).to_bytes(4, "little") +
             n.to_bytes(4, "little") + v["aad"] + v["ct"])
    m.write(buf, block)
    ok, instructions, stack = m.call("mlu_fw_aead_decrypt", buf)
    assert ok == 1
    start = 32 + 12 + 16 + 8 + len(v["aad"])
    assert m.read(buf + start, n) == v["pt"]
    print(f"{core}: AEAD init+decrypt+tag of {n} B (measured, Unicorn): {instructions} "
          f"instructions, peak stack {stack} B")
    assert stack < 1024
    m.write(buf + start, v["ct"][:5] + bytes([v["ct"][5] ^ 1]) + v["ct"][6:])
    assert m.call("mlu_fw_aead_decrypt", buf)[0] == 0

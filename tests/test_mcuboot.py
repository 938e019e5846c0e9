"""Whole-firmware MCUboot images (microlith.package.mcuboot): imgtool accepts
them, the model metadata sits in the protected TLV area, any flipped byte
breaks verification, and the application inside runs from the slot in QEMU
and computes the model's outputs."""

import hashlib
import json
import struct
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from imgtool import image as imgtool_image
from imgtool import keys as imgtool_keys
from shared_models import model

import microlith
from microlith.errors import MicrolithError
from microlith.package import mcuboot
from microlith.package.project import read_project, seeded_sample
from microlith.toolchain.arm import BOARDS, _slot_script
from microlith.verify.reference import run as reference_run

HELLO = "tflite_micro/hello_world_int8.tflite"
VERSION = "1.2.3+4"
SLOT = 0x20000  # default slot_offset on mps2-an386 (flash at 0)
HDR = 0x200


def _pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mcuboot")
    keys = {"ed25519": tmp / "ed25519.pem", "ecdsa": tmp / "ecdsa.pem",
            "other": tmp / "other.pem"}
    keys["ed25519"].write_bytes(_pem(ed25519.Ed25519PrivateKey.generate()))
    keys["ecdsa"].write_bytes(_pem(ec.generate_private_key(ec.SECP256R1())))
    keys["other"].write_bytes(_pem(ed25519.Ed25519PrivateKey.generate()))
    microlith.compile(model(HELLO), tmp / "project")
    img = mcuboot.build_image(tmp / "project", tmp / "hello.img", sign_key=keys["ed25519"],
                              version=VERSION, model_version=7, out_dir=tmp / "build")
    return tmp, keys, img


def _imgtool(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "imgtool.main", *args], capture_output=True,
                          text=True, timeout=60)


def _verify(path, key_path) -> bool:
    """imgtool's own verification, in process (the CLI calls the same)."""
    key = imgtool_keys.load(str(key_path))
    result, *_ = imgtool_image.Image.verify(str(path), key)
    return result == imgtool_image.VerifyResult.OK


def test_imgtool_verify_accepts_the_image(built):
    tmp, keys, img = built
    r = _imgtool("verify", "-k", str(keys["ed25519"]), str(img))
    assert r.returncode == 0 and "correctly validated" in r.stdout, r.stdout + r.stderr
    assert "Image version: 1.2.3+4" in r.stdout
    r = _imgtool("verify", "-k", str(keys["other"]), str(img))
    assert r.returncode != 0, "an image must not verify with another key"


def test_header_and_protected_metadata(built):
    tmp, keys, img = built
    data = img.read_bytes()
    magic, load, hdr, prot, size, flags, ma, mi, rev, build = struct.unpack_from(
        "<IIHHIIBBHI", data, 0)
    assert (magic, load, hdr, flags) == (0x96F3B83D, 0, HDR, 0)
    assert (ma, mi, rev, build) == (1, 2, 3, 4)
    binary = (tmp / "build" / "mcuboot-cortex-m4f-harness.bin").read_bytes()
    assert size == len(binary) and data[hdr:hdr + size] == binary
    assert data[32:hdr] == b"\xff" * (hdr - 32)  # the header padded as erased flash
    # Protected TLV area right after the image, then the unprotected one.
    start = hdr + size
    info, total = struct.unpack_from("<HH", data, start)
    assert (info, total) == (0x6908, prot)
    found, pos = {}, start + 4
    while pos < start + prot:
        tag, n = struct.unpack_from("<HH", data, pos)
        found[tag] = (pos, data[pos + 4:pos + 4 + n])
        pos += 4 + n
    assert pos == start + prot
    for tag, (at, value) in found.items():
        assert start <= at and at + 4 + len(value) <= start + prot, hex(tag)
    meta = json.loads((tmp / "project" / "model.json").read_text())
    want = {0xA0: bytes.fromhex(meta["model"]["sha256"]),
            0xA1: struct.pack("<I", meta["arena_bytes"]), 0xA2: b"cortex-m4f",
            0xA3: bytes.fromhex(mcuboot.schema_sha256(meta)), 0xA4: struct.pack("<I", 7)}
    assert {t: v for t, (_, v) in found.items()} == want
    assert meta["model"]["sha256"] == hashlib.sha256(model(HELLO).read_bytes()).hexdigest()
    # The image hash (unprotected SHA-256 TLV) covers header, image and the
    # protected area: that is what makes the metadata tamper-evident.
    info, total = struct.unpack_from("<HH", data, start + prot)
    assert info == 0x6907 and start + prot + total == len(data)
    tlvs, pos = {}, start + prot + 4
    while pos < len(data):
        tag, n = struct.unpack_from("<HH", data, pos)
        tlvs[tag] = data[pos + 4:pos + 4 + n]
        pos += 4 + n
    assert tlvs[0x10] == hashlib.sha256(data[:start + prot]).digest()
    assert len(tlvs[0x24]) == 64  # Ed25519 signature
    # Our reader agrees.
    parsed = mcuboot.read_image(img)
    assert parsed.protected_range == (start, start + prot)
    assert parsed.model == {"model_sha256": meta["model"]["sha256"],
                            "arena_bytes": meta["arena_bytes"], "target_id": "cortex-m4f",
                            "schema_sha256": mcuboot.schema_sha256(meta), "model_version": 7}
    overhead = len(data) - size
    print(f"\nflash cost (measured): image {len(data)} B = firmware {size} B + header, "
          f"TLVs and signature {overhead} B")


def test_any_flipped_byte_fails_verification(built, tmp_path):
    _tmp, keys, img = built
    data = img.read_bytes()
    parsed = mcuboot.read_image(img)
    p0, p1 = parsed.protected_range
    offsets = set(range(0, 32))  # the header fields
    offsets |= set(range(p0, p1))  # every byte of the protected TLVs
    offsets |= set(range(HDR, HDR + parsed.image_size, 97))  # the firmware, sampled
    offsets |= set(range(len(data) - 64, len(data)))  # the signature
    assert _verify(img, keys["ed25519"])
    bad = tmp_path / "bad.img"
    accepted, crashed = [], []
    for off in sorted(offsets):
        flipped = bytearray(data)
        flipped[off] ^= 0x01
        bad.write_bytes(bytes(flipped))
        try:
            if _verify(bad, keys["ed25519"]):
                accepted.append(off)
        except Exception:  # noqa: BLE001 - imgtool cannot even parse it: rejected
            crashed.append(off)
    assert accepted == [], f"bytes at {accepted} can change without imgtool noticing"
    # Only a changed size field can make imgtool's parser fail instead of its checks.
    assert set(crashed) <= set(range(8, 16)) | {p0 + 2, p0 + 3}, crashed
    for off in (26, HDR + 5, p0 + 8, len(data) - 1):
        flipped = bytearray(data)
        flipped[off] ^= 0x80
        bad.write_bytes(bytes(flipped))
        r = _imgtool("verify", "-k", str(keys["ed25519"]), str(bad))
        assert r.returncode != 0, off


def test_ecdsa_p256_key(built, tmp_path):
    tmp, keys, _img = built
    img = mcuboot.build_image(tmp / "project", tmp_path / "ec.img", sign_key=keys["ecdsa"],
                              version="2.0", out_dir=tmp / "build", pad=True)
    r = _imgtool("verify", "-k", str(keys["ecdsa"]), str(img))
    assert r.returncode == 0, r.stdout + r.stderr
    parsed = mcuboot.read_image(img)
    assert parsed.version == (2, 0, 0, 0) and 0x22 in parsed.unprotected  # ECDSA_SIG
    assert parsed.model["model_version"] == 2 << 24  # from the version: 8.8.16 bits
    assert parsed.file_bytes == 0x100000  # padded to the slot


def test_the_application_runs_from_the_slot_in_qemu(built):
    """Load the whole signed image at the slot; the CPU starts from the vector
    table inside it (as after MCUboot's jump). The harness runs the seeded
    sample and prints the outputs: they match the numpy reference."""
    tmp, _keys, img = built
    elf = tmp / "build" / "mcuboot-cortex-m4f-harness.elf"
    r = subprocess.run(["arm-none-eabi-readelf", "-h", "-S", str(elf)], capture_output=True,
                       text=True, check=True)
    entry = int(r.stdout.split("Entry point address:")[1].split()[0], 16)
    assert SLOT + HDR < entry < SLOT + 0x20000
    text_line = next(ln for ln in r.stdout.splitlines() if " .text " in ln).split()
    assert int(text_line[text_line.index("PROGBITS") + 1], 16) == SLOT + HDR
    cmd = mcuboot.qemu_command(img)
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    text = run.stdout + run.stderr
    assert run.returncode == 0, text
    project = read_project(tmp / "project")
    sample = seeded_sample(project).arrays
    graph = microlith.api.prepare(model(HELLO))
    want = reference_run(graph, dict(zip(graph.inputs, sample, strict=True)))
    out = [ln.split()[3] for ln in text.splitlines() if ln.startswith("@ml-out 0 0 ")]
    assert "".join(out) == want[graph.outputs[0]].tobytes().hex() and "@ml-done 1" in text


def test_linker_script_for_a_slot():
    an547 = _slot_script(BOARDS["mps3-an547"], 0x20200, 0x10000)
    assert "ORIGIN = 0x10020200, LENGTH = 0x10000" in an547
    assert 'REGION_ALIAS("RODATA", FLASH);' in an547 and "DDR);" not in an547
    with pytest.raises(MicrolithError, match="multiple of 4"):
        _slot_script(BOARDS["mps2-an386"], 0x201, None)


def test_errors(built, tmp_path):
    tmp, keys, _img = built
    pub = tmp_path / "pub.pem"
    pub.write_bytes(ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    rsa_key = tmp_path / "rsa.pem"
    rsa_key.write_bytes(_pem(rsa.generate_private_key(65537, 2048)))
    project, out = tmp / "project", tmp_path / "x.img"
    cases = [({"sign_key": pub}, "public key"),
             ({"sign_key": rsa_key}, "Ed25519 or ECDSA P-256"),
             ({"sign_key": tmp_path / "none.pem"}, "does not exist"),
             ({"version": "1.2.3.4"}, "not an MCUboot version"),
             ({"version": "256.0"}, "not an MCUboot version"),
             ({"slot_size": 0x800}, "does not fit"),
             ({"align": 3}, "bad MCUboot image options"),
             ({"colour": "red"}, "unknown MCUboot option")]
    for extra, message in cases:
        kwargs = {"sign_key": keys["ed25519"], "version": "1.0", "out_dir": tmp / "build",
                  **extra}
        with pytest.raises(MicrolithError, match=message):
            mcuboot.build_image(project, out, **kwargs)
    with pytest.raises(MicrolithError, match="not a project"):
        mcuboot.build_image(tmp_path, out, sign_key=keys["ed25519"], version="1.0")
    (tmp_path / "junk.img").write_bytes(b"\0" * 64)
    with pytest.raises(MicrolithError, match="not an MCUboot image"):
        mcuboot.read_image(tmp_path / "junk.img")
    assert not out.exists()


def test_cli_with_a_key_from_keys_generate(built, tmp_path):
    """`microlith keys generate` writes the Ed25519 PEM `microlith package
    --format mcuboot` signs with; an int version is also the model version."""
    tmp, _keys, _img = built

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "microlith", *args], capture_output=True,
                              text=True, timeout=120)

    r = cli("keys", "generate", "-o", str(tmp_path / "keys"))
    assert r.returncode == 0, r.stderr
    pems = sorted((tmp_path / "keys").glob("*.pem"))
    assert len(pems) == 1
    out = tmp_path / "cli.img"
    r = cli("package", str(tmp / "project"), "--format", "mcuboot", "--sign-key", str(pems[0]),
            "--version", "3", "-o", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    assert _imgtool("verify", "-k", str(pems[0]), str(out)).returncode == 0
    parsed = mcuboot.read_image(out)
    assert parsed.version == (3, 0, 0, 0) and parsed.model["model_version"] == 3

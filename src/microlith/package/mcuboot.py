"""Whole-firmware images in MCUboot's format, for users who update firmware and
model together (``microlith package DIR --format mcuboot``).

    build_image("build/c", "kws.img", sign_key="keys/sign.pem", version="1.2.0")

The compiled project is cross-built with microlith's Cortex-M firmware
(``toolchain.arm.build_elf``), linked to run from the primary slot right after
the image header, turned into a flat binary (``arm-none-eabi-objcopy``) and
signed with ``imgtool`` (MCUboot's own signing tool, from PyPI) with an Ed25519
or ECDSA-P256 private key (PEM).

The image (MCUboot's layout, little-endian):

    0x000  header (32 bytes: magic 0x96f3b83d, load address, header size,
           protected TLV size, image size, flags, version) padded to header_size
    hdr    the application: vector table first, linked at slot + header_size
    +img   protected TLV area (info 0x6908, total size), covered by the hash and
           signature, holding microlith's model metadata (below)
    ...    TLV area (info 0x6907): SHA-256 of header+image+protected TLVs, key
           hash, signature

microlith's protected TLVs, in MCUboot's vendor range (0x00a0-0xfffe):

    0x00a0  MODEL_SHA256   32 B  SHA-256 of the source model file (of the
                                 generated C when the model had no file)
    0x00a1  ARENA_BYTES     4 B  u32, the model's arena
    0x00a2  TARGET_ID       n B  UTF-8, the target the image was built for
    0x00a3  SCHEMA_SHA256  32 B  SHA-256 of the I/O schema (``schema_sha256``)
    0x00a4  MODEL_VERSION   4 B  u32, the model version

The firmware is the emulator harness (``firmware="harness"``: runs the stored
sample through the model and writes the outputs over semihosting) or a bare
``main`` that only resets the model (``firmware="none"``), for an application
that calls the model API itself.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import struct
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import MicrolithError

IMAGE_MAGIC = 0x96F3B83D
TLV_INFO_MAGIC = 0x6907
TLV_PROT_INFO_MAGIC = 0x6908
HEADER_BYTES = 32

TLV_MODEL_SHA256 = 0x00A0
TLV_ARENA_BYTES = 0x00A1
TLV_TARGET_ID = 0x00A2
TLV_SCHEMA_SHA256 = 0x00A3
TLV_MODEL_VERSION = 0x00A4
TLV_NAMES = {TLV_MODEL_SHA256: "model_sha256", TLV_ARENA_BYTES: "arena_bytes",
             TLV_TARGET_ID: "target_id", TLV_SCHEMA_SHA256: "schema_sha256",
             TLV_MODEL_VERSION: "model_version"}

DEFAULTS = {"header_size": 0x200, "align": 8, "slot_offset": 0x20000, "slot_size": 0x100000,
            "opt": "-Os", "firmware": "harness", "samples": None, "model_version": None,
            "pad": False, "confirm": False, "security_counter": None, "out_dir": None}
ALIGNS = (1, 2, 4, 8, 16, 32)
_VERSION = re.compile(r"^(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:\+(\d+))?$")


@dataclass
class Image:
    """An MCUboot image as read back by ``read_image``."""
    magic: int
    load_addr: int
    header_size: int
    protected_tlv_size: int
    image_size: int
    flags: int
    version: tuple[int, int, int, int]
    protected: dict[int, bytes] = field(default_factory=dict)  # tag -> value
    protected_range: tuple[int, int] = (0, 0)  # [start, end) in the file
    unprotected: dict[int, bytes] = field(default_factory=dict)
    file_bytes: int = 0

    @property
    def model(self) -> dict:
        """microlith's metadata TLVs, decoded."""
        p, out = self.protected, {}
        if TLV_MODEL_SHA256 in p:
            out["model_sha256"] = p[TLV_MODEL_SHA256].hex()
        if TLV_ARENA_BYTES in p:
            out["arena_bytes"] = struct.unpack("<I", p[TLV_ARENA_BYTES])[0]
        if TLV_TARGET_ID in p:
            out["target_id"] = p[TLV_TARGET_ID].decode("utf-8", "replace")
        if TLV_SCHEMA_SHA256 in p:
            out["schema_sha256"] = p[TLV_SCHEMA_SHA256].hex()
        if TLV_MODEL_VERSION in p:
            out["model_version"] = struct.unpack("<I", p[TLV_MODEL_VERSION])[0]
        return out


def read_image(path: str | Path) -> Image:
    """Parse an MCUboot image (header, protected and unprotected TLVs)."""
    data = Path(path).read_bytes()
    if len(data) < HEADER_BYTES:
        raise MicrolithError(f"{path}: {len(data)} bytes is too short for an MCUboot image")
    magic, load, hdr, prot, size, flags, major, minor, rev, build = struct.unpack_from(
        "<IIHHIIBBHI", data, 0)
    if magic != IMAGE_MAGIC:
        raise MicrolithError(f"{path}: not an MCUboot image (magic {magic:#010x}, expected "
                             f"{IMAGE_MAGIC:#010x})")
    img = Image(magic, load, hdr, prot, size, flags, (major, minor, rev, build),
                file_bytes=len(data))
    pos = hdr + size
    if prot:
        img.protected, end = _tlvs(data, pos, TLV_PROT_INFO_MAGIC, path)
        if end - pos != prot:
            raise MicrolithError(f"{path}: protected TLV area is {end - pos} bytes, the "
                                 f"header says {prot}")
        img.protected_range = (pos, end)
        pos = end
    img.unprotected, _ = _tlvs(data, pos, TLV_INFO_MAGIC, path)
    return img


def _tlvs(data: bytes, pos: int, magic: int, path) -> tuple[dict[int, bytes], int]:
    if pos + 4 > len(data):
        raise MicrolithError(f"{path}: the TLV area at {pos:#x} is past the end of the file")
    got, total = struct.unpack_from("<HH", data, pos)
    if got != magic or pos + total > len(data):
        raise MicrolithError(f"{path}: no TLV area (magic {magic:#06x}) at {pos:#x}")
    out, p, end = {}, pos + 4, pos + total
    while p + 4 <= end:
        tag, n = struct.unpack_from("<HH", data, p)
        out[tag] = data[p + 4:p + 4 + n]
        p += 4 + n
    if p != end:
        raise MicrolithError(f"{path}: TLV area at {pos:#x} is malformed")
    return out, end


def schema_sha256(meta: dict) -> str:
    """SHA-256 (hex) of the model's I/O schema: for each input then output its
    name, shape, dtype and quantization, as canonical JSON."""
    schema = {k: [{"name": d["name"], "shape": d["shape"], "dtype": d["dtype"],
                   "quant": d.get("quant")} for d in meta[k]] for k in ("inputs", "outputs")}
    text = json.dumps(schema, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _version(version) -> tuple[str, tuple[int, int, int, int]]:
    text = str(version).strip()
    m = _VERSION.match(text)
    parts = tuple(int(g or 0) for g in m.groups()) if m else None
    if parts is None or parts[0] > 255 or parts[1] > 255 or parts[2] > 0xFFFF \
            or parts[3] > 0xFFFFFFFF:
        raise MicrolithError(f"version {text!r} is not an MCUboot version: MAJOR[.MINOR"
                             "[.REVISION]][+BUILD] with major and minor up to 255, revision "
                             "up to 65535, build up to 4294967295")
    return "{}.{}.{}+{}".format(*parts), parts


def _check_key(path) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519
    p = Path(path)
    if not p.is_file():
        raise MicrolithError(f"signing key {p} does not exist")
    raw = p.read_bytes()
    try:
        key = serialization.load_pem_private_key(raw, password=None)
    except TypeError:
        raise MicrolithError(f"signing key {p} is password-protected; microlith signs with "
                             "an unencrypted PEM (keep it offline)") from None
    except ValueError:
        try:
            serialization.load_pem_public_key(raw)
        except ValueError:
            raise MicrolithError(f"{p} is not a PEM private key (make one with `microlith "
                                 "keys generate`)") from None
        raise MicrolithError(f"{p} is a public key; signing needs the private key") from None
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return "ecdsa-p256"
    raise MicrolithError(f"signing key {p} is a {type(key).__name__}; MCUboot images are "
                         "signed here with Ed25519 or ECDSA P-256")


def _core(target: str) -> str:
    from ..toolchain.arm import CORES
    if target in CORES:
        return target
    from ..emulate.bench import BUILD_CORE
    from ..targets import get_target
    core = get_target(target).core.id
    if core not in BUILD_CORE:
        raise MicrolithError(f"target {target!r} has a {core}; MCUboot images are built for "
                             f"{', '.join(CORES)}")
    return BUILD_CORE[core]


def _options(opts: dict) -> dict:
    unknown = sorted(set(opts) - set(DEFAULTS))
    if unknown:
        raise MicrolithError(f"unknown MCUboot option(s) {', '.join(unknown)}; known: "
                             f"{', '.join(DEFAULTS)}")
    o = {**DEFAULTS, **opts}
    problems = []
    if int(o["align"]) not in ALIGNS:
        problems.append(f"align must be one of {ALIGNS}, not {o['align']}")
    hs = int(o["header_size"])
    if hs < HEADER_BYTES or hs % 4 or hs > 0xFFFF:
        problems.append(f"header_size {hs:#x} must be a multiple of 4 from 32 to 0xffff "
                        "(and a multiple of the vector table alignment: 0x200 is usual)")
    if int(o["slot_offset"]) < 0 or int(o["slot_offset"]) % 4:
        problems.append(f"slot_offset {o['slot_offset']} must be a non-negative multiple of 4")
    if int(o["slot_size"]) <= hs:
        problems.append(f"slot_size {o['slot_size']} must be larger than the header")
    if o["firmware"] not in ("harness", "none"):
        problems.append(f"firmware must be 'harness' or 'none', not {o['firmware']!r}")
    if problems:
        raise MicrolithError("bad MCUboot image options", problems)
    return o


def _model_version(o: dict, meta: dict, version, parts: tuple[int, ...]) -> int:
    for v in (o["model_version"], meta.get("model_version"), meta.get("version"), version):
        if isinstance(v, int) and not isinstance(v, bool):
            if not 0 <= v <= 0xFFFFFFFF:
                raise MicrolithError(f"model version {v} does not fit 32 bits")
            return v
    # From the image version: major.minor.revision as 8.8.16 bits.
    return (parts[0] << 24) | (parts[1] << 16) | parts[2]


def metadata_tlvs(meta: dict, target: str, model_version: int) -> dict[int, bytes]:
    """microlith's protected TLVs for a project's model.json."""
    model_hash = (meta.get("model") or {}).get("sha256") or meta.get("sources_sha256", "")
    if not re.fullmatch(r"[0-9a-f]{64}", model_hash or ""):
        raise MicrolithError("model.json has no model hash (model.sha256 or sources_sha256)")
    return {TLV_MODEL_SHA256: bytes.fromhex(model_hash),
            TLV_ARENA_BYTES: struct.pack("<I", int(meta["arena_bytes"])),
            TLV_TARGET_ID: target.encode("utf-8"),
            TLV_SCHEMA_SHA256: bytes.fromhex(schema_sha256(meta)),
            TLV_MODEL_VERSION: struct.pack("<I", model_version)}


def _objcopy() -> str:
    from ..toolchain.arm import find_arm_gcc
    tool = Path(find_arm_gcc()).with_name("arm-none-eabi-objcopy")
    found = str(tool) if tool.exists() else shutil.which("arm-none-eabi-objcopy")
    if not found:
        raise MicrolithError("arm-none-eabi-objcopy not found (it comes with the GNU Arm "
                             "toolchain: `sudo apt-get install -y gcc-arm-none-eabi`)")
    return found


def slot_address(target: str = "cortex-m4f", board: str | None = None,
                 slot_offset: int = DEFAULTS["slot_offset"]) -> int:
    """The flash address of the primary slot (the image header)."""
    from ..toolchain.arm import check_core_board, firmware_dir
    _c, b = check_core_board(_core(target), board)
    text = (firmware_dir() / f"{b.name}.ld").read_text(encoding="utf-8")
    m = re.search(r"FLASH \(rx\)\s*:\s*ORIGIN\s*=\s*(0x[0-9A-Fa-f]+|\d+)", text)
    return int(m.group(1), 0) + int(slot_offset)


def build_image(project_dir, out_path, *, sign_key, version, target: str = "cortex-m4f",
                board: str | None = None, **opts) -> Path:
    """Cross-build ``project_dir`` for ``target``'s core, link it to run from
    the primary slot (``slot_offset`` bytes into the board's flash, after a
    ``header_size`` header; at most ``slot_size`` bytes), sign it with imgtool
    and write the MCUboot image to ``out_path``. Options: header_size (0x200),
    align (8), slot_offset (0x20000), slot_size (0x100000), opt ("-Os"),
    firmware ("harness" | "none"), samples (the harness's inputs; default the
    seeded sample), model_version (u32; default model.json's, else ``version``
    when it is an int, else major.minor.revision as 8.8.16 bits), pad /
    confirm (pad to the slot with a trailer), security_counter (int or
    "auto"), out_dir (where the ELF and binary go; default
    ``<project>/arm``)."""
    from ..toolchain.arm import build_elf
    from .project import read_project, seeded_sample

    o = _options(opts)
    key_kind = _check_key(sign_key)
    text_version, parts = _version(version)
    project = read_project(project_dir)
    meta = project.meta
    core = _core(target)
    hs, slot = int(o["header_size"]), int(o["slot_size"])
    tlvs = metadata_tlvs(meta, target, _model_version(o, meta, version, parts))

    from ..codegen import CProject
    cproject = CProject(project.path, project.prefix, None, int(meta["arena_bytes"]),
                        int(meta.get("scratch_bytes", 0)), int(meta.get("state_bytes", 0)),
                        list(project.sources), meta)
    samples = o["samples"]
    if o["firmware"] == "harness" and samples is None:
        samples = [seeded_sample(project).arrays]
    work = Path(o["out_dir"]) if o["out_dir"] else project.path / "arm"
    work.mkdir(parents=True, exist_ok=True)
    stem = f"mcuboot-{core}-{o['firmware']}"
    try:
        build = build_elf(cproject, core, o["opt"], board, o["firmware"],
                          [list(s) for s in samples] if samples is not None else None,
                          work / f"{stem}.elf", flash_offset=int(o["slot_offset"]) + hs,
                          flash_limit=slot - hs)
    except MicrolithError as e:
        if "does not fit" not in str(e):
            raise
        raise MicrolithError(f"the firmware does not fit the {slot - hs} bytes of the slot "
                             f"after its header (slot_size {slot:#x}, header_size {hs:#x}): "
                             "pass a larger slot_size") from None
    binary = work / f"{stem}.bin"
    r = subprocess.run([_objcopy(), "-O", "binary", str(build.elf), str(binary)],
                       capture_output=True, text=True)
    if r.returncode:
        raise MicrolithError(f"objcopy failed on {build.elf}:\n{r.stderr}", internal=True)
    _check_binary(binary.read_bytes(), slot_address(target, board, o["slot_offset"]) + hs)

    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "imgtool.main", "sign", "--key", str(sign_key),
           "--header-size", hex(hs), "--pad-header", "--align", str(int(o["align"])),
           "--slot-size", hex(slot), "--version", text_version]
    if o["pad"] or o["confirm"]:
        cmd.append("--pad")
    if o["confirm"]:
        cmd.append("--confirm")
    if o["security_counter"] is not None:
        cmd += ["--security-counter", str(o["security_counter"])]
    tlv_dir = work / f"{stem}.tlv"
    tlv_dir.mkdir(exist_ok=True)
    for tag, value in tlvs.items():
        f = tlv_dir / f"{tag:04x}.bin"
        f.write_bytes(value)
        cmd += ["--custom-tlv-file", hex(tag), str(f)]
    cmd += [str(binary), str(out)]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        raise MicrolithError("cannot run imgtool: pip install imgtool") from None
    if r.returncode:
        text = (r.stderr or r.stdout).strip()
        if "No module named" in text:
            raise MicrolithError("MCUboot images need imgtool: pip install imgtool")
        if "too large" in text or "exceeds" in text:
            raise MicrolithError(f"the firmware does not fit the {slot >> 10} KB slot "
                                 f"(slot_size {slot:#x}):\n{text[-1500:]}")
        raise MicrolithError(f"imgtool could not sign the image ({key_kind} key):\n"
                             f"{text[-2000:]}")
    return out


def _check_binary(data: bytes, base: int) -> None:
    """The binary starts with the vector table of an application linked at
    ``base``: its reset handler lies inside it."""
    if len(data) < 8:
        raise MicrolithError("the firmware binary is empty", internal=True)
    _sp, reset = struct.unpack_from("<II", data, 0)
    if not base <= (reset & ~1) < base + len(data) or not reset & 1:
        raise MicrolithError(f"the firmware's reset vector {reset:#x} is not Thumb code "
                             f"inside the image at {base:#x}", internal=True)


def qemu_command(image: str | Path, *, target: str = "cortex-m4f", board: str | None = None,
                 slot_offset: int = DEFAULTS["slot_offset"], workdir: str | Path | None = None
                 ) -> list[str]:
    """A QEMU command that boots ``image`` as MCUboot would after verifying it:
    the whole image is loaded at the primary slot, and the application's
    vector table (read from the image, right after its header) is placed at
    the board's reset vector address, which stands in for the bootloader's
    jump with vector relocation (MCUboot's BOOT_INTR_VEC_RELOC)."""
    from ..emulate.qemu import find_qemu
    from ..toolchain.arm import check_core_board
    img = read_image(image)
    _c, b = check_core_board(_core(target), board)
    base = slot_address(target, board, slot_offset)
    data = Path(image).read_bytes()
    vectors = data[img.header_size:img.header_size + 16 * 4]
    vt = Path(workdir or Path(image).parent) / (Path(image).name + ".vectors.bin")
    vt.write_bytes(vectors)
    return [find_qemu(), "-M", b.name, "-nographic", "-monitor", "none",
            "-semihosting-config", "enable=on,target=native",
            "-device", f"loader,file={image},addr={base:#x},force-raw=on",
            "-device", f"loader,file={vt},addr={base - slot_offset:#x},force-raw=on"]


__all__ = ["build_image", "read_image", "Image", "schema_sha256", "metadata_tlvs",
           "qemu_command", "slot_address"]

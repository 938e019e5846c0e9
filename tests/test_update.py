"""Signed, encrypted model-only updates: the weights slot, the blob format,
the generated C verifier on the host and in the Cortex-M emulator, tampering,
sanitizer fuzzing, keys, and the verifier's flash cost."""

from __future__ import annotations

import ctypes
import json
import re
import shutil
import stat
import struct
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from shared_models import model

import microlith
from microlith.api import prepare
from microlith.codegen import UpdateConfig, generate, update_target_id
from microlith.codegen.host import CModel
from microlith.errors import MicrolithError
from microlith.package import keys, update
from microlith.package.update import UpdateStatus as S
from microlith.quant.tflite_writer import write_tflite
from microlith.toolchain.host import WARNINGS, build_shared_library, find_cc
from microlith.verify.validate import random_samples

HELLO = "tflite_micro/hello_world_int8.tflite"
RUNTIME = Path(microlith.__file__).parent / "package" / "runtime"
FUZZ = Path(__file__).parent / "c" / "fuzz_update.c"
INSTALLED = 1


def _perturbed(graph, seed):
    """The same architecture with other int8 weights (quantization kept)."""
    rng = np.random.default_rng(seed)
    for t in graph.tensors.values():
        if t.is_constant and t.data is not None and t.dtype.value == "int8":
            t.data = np.clip(t.data.astype(np.int16) + rng.integers(-4, 5, t.data.shape),
                             -127, 127).astype(np.int8)
    return graph


class Device:
    """A host build of a --weights-slot project with its update verifier."""

    def __init__(self, graph, project, lib):
        self.model = CModel(graph, project, lib)
        self.lib = self.model.lib
        self.size = project.meta["weights_slot"]["bytes"]
        self._buf = ctypes.create_string_buffer(self.size + 16)
        self.slot = (ctypes.addressof(self._buf) + 15) & ~15
        self._install = self.lib.model_update_install_ram
        self._install.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint32,
                                  ctypes.c_void_p]
        self._check = self.lib.model_update_check
        self._check.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint32]
        self.use = self.lib.model_use_weights
        self.use.argtypes = [ctypes.c_void_p]

    def slot_bytes(self) -> bytes:
        return ctypes.string_at(self.slot, self.size)

    def install(self, blob: bytes, installed: int = INSTALLED) -> int:
        return self._install(blob, len(blob), installed, self.slot)

    def check(self, blob: bytes, installed: int = INSTALLED) -> int:
        return self._check(blob, len(blob), installed)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    w = tmp_path_factory.mktemp("update")
    keys.generate_keys(w / "keys")
    keys.generate_keys(w / "other")
    pub = keys.load_public_key(w / "keys")
    enc = keys.load_encryption_key(w / "keys")
    (w / "b.tflite").write_bytes(write_tflite(_perturbed(microlith.load(model(HELLO)), 7)))
    ga, gb = prepare(model(HELLO)), prepare(w / "b.tflite")

    def device(name, cfg, graph=ga):
        project = generate(graph, w / name, weights_slot=True, update=cfg)
        lib = build_shared_library(project.path, w / f"{name}.so").library
        return Device(graph, project, lib)

    ns = SimpleNamespace(w=w, ga=ga, gb=gb, pub=pub, enc=enc)
    ns.plain = device("dev_plain", UpdateConfig(pub))
    ns.encrypted = device("dev_enc", UpdateConfig(pub, enc))
    ns.wrong_key = device("dev_wrongkey", UpdateConfig(pub, bytes(range(32))))
    ns.pb = generate(gb, w / "b_slot", weights_slot=True)
    ns.image_b = (w / "b_slot" / "weights.bin").read_bytes()
    # the blobs the acceptance tests install come from the `microlith package` command
    from typer.testing import CliRunner

    from microlith.cli import app
    for out, extra in (("b.mlu", []), ("b_enc.mlu", ["--encrypt-key", str(w / "keys")])):
        r = CliRunner().invoke(app, ["package", str(w / "b_slot"), "--format", "update",
                                     "--sign-key", str(w / "keys"), "--version", "2",
                                     "-o", str(w / out), *extra])
        assert r.exit_code == 0, r.output
    ns.blob = (w / "b.mlu").read_bytes()
    ns.blob_enc = (w / "b_enc.mlu").read_bytes()
    # the Python API writes the same plain blob (Ed25519 is deterministic; no nonce)
    assert update.build_update(w / "b_slot", w / "b_api.mlu", sign_key=w / "keys",
                               version=2).read_bytes() == ns.blob
    ref = generate(gb, w / "b_ref")  # the second model, built the normal way
    ns.ref_b = CModel(gb, ref, build_shared_library(ref.path, w / "b_ref.so").library)
    ns.samples = [[np.array([[v]], np.int8)] for v in range(-128, 128, 5)]
    return ns


def _outputs(m, samples):
    return [m.invoke(s)[0].copy() for s in samples]


def test_status_codes_match_the_c_header():
    text = (RUNTIME / "mlu_update.h").read_text()
    codes = {m.group(1): int(m.group(2))
             for m in re.finditer(r"MLU_UPDATE_(?:ERR_)?([A-Z_]+) = (\d+)", text)}
    assert codes == {s.name: s.value for s in S}


def test_weights_slot_build_is_bit_exact(tmp_path):
    for name in (HELLO, "mlcommons_tiny/kws_ref_model.tflite"):
        g = prepare(model(name))
        normal = generate(g, tmp_path / "n")
        slot = generate(g, tmp_path / "s", weights_slot=True)
        assert "weights_slot" not in normal.meta and not (tmp_path / "n" / "weights.bin").exists()
        text = (tmp_path / "s" / "model_weights.c").read_text()
        assert text.count("const uint8_t model_weights_factory[") == 1
        entries = slot.meta["weights_slot"]["entries"]
        assert entries and all(e["offset"] % 16 == 0 for e in entries)
        assert len(entries) == normal_consts(tmp_path / "n")
        a = CModel(g, normal, build_shared_library(normal.path, tmp_path / "n.so").library)
        b = CModel(g, slot, build_shared_library(slot.path, tmp_path / "s.so").library)
        for sample in random_samples(g, 3, seed=1):
            for x, y in zip(a.invoke(sample), b.invoke(sample), strict=True):
                np.testing.assert_array_equal(x, y)
        use = b.lib.model_use_weights
        use.argtypes = [ctypes.c_void_p]
        assert use(None) == 0
        buf = ctypes.create_string_buffer(64)
        assert use((ctypes.addressof(buf) + 16) & ~15 | 4) == -8  # misaligned: refused
        shutil.rmtree(tmp_path / "n")
        shutil.rmtree(tmp_path / "s")


def normal_consts(project: Path) -> int:
    return len(re.findall(r"^const \w+ model_\w+\[", (project / "model_weights.c").read_text(),
                          re.M))


def test_update_accepted_on_host_and_bit_exact(env):
    dev = env.plain
    dev.use(None)
    before = _outputs(dev.model, env.samples)
    ref = _outputs(env.ref_b, env.samples)
    assert any((a != b).any() for a, b in zip(before, ref, strict=True))  # other weights
    assert dev.check(env.blob) == S.OK
    assert dev.install(env.blob) == S.OK
    assert dev.slot_bytes() == env.image_b
    after = _outputs(dev.model, env.samples)
    for a, b in zip(after, ref, strict=True):
        np.testing.assert_array_equal(a, b)
    meta = env.plain.model.project.meta
    assert update.check_update(env.blob, meta, env.pub, installed_version=INSTALLED) == \
        (S.OK, env.image_b)
    dev.use(None)


def test_update_accepted_in_cortex_m4f_emulator(env, tmp_path):
    from microlith.emulate.unicorn import CortexM
    from microlith.toolchain.arm import build_elf
    project = env.plain.model.project
    build = build_elf(project, "cortex-m4f", "-O2", firmware="none", out=tmp_path / "u.elf",
                      extra_cflags=("-Wl,--undefined=model_update_install_ram",))
    m = CortexM(build.elf, core="cortex-m4f")
    base = 0x60000000
    m.uc.mem_map(base, 0x10000)
    slot = base + 0x8000
    m.write(base, env.blob)
    m.write(slot, b"\xa5" * len(env.image_b))
    m.call("model_reset")
    rc, n_instructions, stack = m.call("model_update_install_ram", base, len(env.blob),
                                       INSTALLED, slot)
    assert rc == S.OK
    assert m.read(slot, len(env.image_b)) == env.image_b
    in_addr = m.call("model_input", 0)[0]
    out_addr = m.call("model_output", 0)[0]
    ref = _outputs(env.ref_b, env.samples)
    for sample, expected in zip(env.samples, ref, strict=True):
        m.write(in_addr, sample[0].tobytes())
        assert m.call("model_invoke")[0] == 0
        assert m.read(out_addr, 1) == expected.tobytes()
    # a tampered blob is refused on the target too, and nothing is written
    bad = bytearray(env.blob)
    bad[100] ^= 1
    m.write(base, bytes(bad))
    m.write(slot, b"\xa5" * len(env.image_b))
    assert m.call("model_update_install_ram", base, len(bad), INSTALLED, slot)[0] == S.SIGNATURE
    assert m.read(slot, len(env.image_b)) == b"\xa5" * len(env.image_b)
    print(f"cortex-m4f verify+install: {n_instructions} instructions, stack {stack} B "
          "(measured, Unicorn)")


def _expected_flip(blob: bytes, i: int, encrypted: bool) -> S:
    """The code for ``blob`` with byte ``i`` inverted, from the documented layout."""
    if i < 4:
        return S.MAGIC
    if i < 6:
        return S.FORMAT_VERSION
    if i < 12 or 76 <= i < 80 or (64 <= i < 76 and not encrypted):
        return S.HEADER  # header bytes, cipher, scheme, reserved; a nonce on a plain blob
    if i < 16:
        version = struct.unpack_from("<I", blob, 12)[0] ^ (0xFF << (8 * (i - 12)))
        return S.ROLLBACK if version <= INSTALLED else S.SIGNATURE
    if i < 20:
        return S.TARGET
    if i < 24:
        return S.ABI
    if i < 28:
        return S.ARENA
    if i < 32:
        return S.LENGTH
    if i < 64:
        return S.SCHEMA
    return S.SIGNATURE  # nonce of an encrypted blob, payload, tag, signature


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_every_single_byte_flip_is_rejected(env, encrypted):
    dev, blob = (env.encrypted, env.blob_enc) if encrypted else (env.plain, env.blob)
    meta = dev.model.project.meta
    dev.use(None)
    sentinel = b"\x5a" * dev.size
    ctypes.memmove(dev.slot, sentinel, dev.size)
    wrong = []
    for i in range(len(blob)):
        bad = bytearray(blob)
        bad[i] ^= 0xFF
        bad = bytes(bad)
        rc = dev.install(bad)
        expected = _expected_flip(blob, i, encrypted)
        py = update.check_update(bad, meta, env.pub, installed_version=INSTALLED,
                                 decrypt_key=env.enc if encrypted else None)[0]
        if rc != expected or py != expected:
            wrong.append((i, S(rc).name, py.name, expected.name))
    assert not wrong, wrong[:10]
    assert dev.slot_bytes() == sentinel  # nothing written for any rejected blob
    assert dev.install(blob) == S.OK  # the untouched blob still goes in
    dev.use(None)


def _resigned(env, blob: bytes, **fields) -> bytes:
    """``blob`` with header fields replaced and signed again with the right key."""
    status, h = update.read_header(blob)
    assert status == S.OK
    image = fields.pop("image", env.image_b)
    kw = dict(version=h.model_version, target_id=h.target_id, abi_version=h.abi_version,
              arena_bytes=h.arena_bytes, schema_hash=h.schema_hash,
              sign_key=keys.load_signing_key(env.w / "keys"))
    kw.update(fields)
    return update.make_update(image, **kw)


def test_rejections_with_their_codes(env, tmp_path):
    dev = env.plain
    w = env.w
    other_key = update.build_update(w / "b_slot", tmp_path / "k.mlu", sign_key=w / "other",
                                    version=2).read_bytes()
    other_target = update.build_update(w / "b_slot", tmp_path / "t.mlu", sign_key=w / "keys",
                                       version=2, target="nrf52840").read_bytes()
    equal = update.build_update(w / "b_slot", tmp_path / "e.mlu", sign_key=w / "keys",
                                version=INSTALLED).read_bytes()
    # another architecture: micro_speech compiled with the slot
    generate(prepare(model("tflite_micro/micro_speech_quantized.tflite")), tmp_path / "ms",
             weights_slot=True)
    other_arch = update.build_update(tmp_path / "ms", tmp_path / "a.mlu", sign_key=w / "keys",
                                     version=2).read_bytes()
    # same shapes and sizes, but another output quantization (compiled into model.c)
    g = microlith.load(model(HELLO))
    g.tensor(g.outputs[0]).quant.scale[0] *= 1.5
    (tmp_path / "q.tflite").write_bytes(write_tflite(g))
    generate(prepare(tmp_path / "q.tflite"), tmp_path / "q", weights_slot=True)
    other_quant = update.build_update(tmp_path / "q", tmp_path / "q.mlu", sign_key=w / "keys",
                                      version=2).read_bytes()
    assert len(other_quant) == len(env.blob)
    cases = {
        "other signer": (other_key, S.SIGNATURE),
        "other target": (other_target, S.TARGET),
        "equal version": (equal, S.ROLLBACK),
        "other architecture": (other_arch, S.SCHEMA),
        "other quantization": (other_quant, S.SCHEMA),
        "other ABI": (_resigned(env, env.blob, abi_version=2), S.ABI),
        "other arena": (_resigned(env, env.blob, arena_bytes=4096), S.ARENA),
        "short payload": (_resigned(env, env.blob, image=env.image_b[:-16]), S.LENGTH),
        "truncated by one": (env.blob[:-1], S.TRUNCATED),
        "header only": (env.blob[:80], S.TRUNCATED),
        "shorter than a header": (env.blob[:79], S.TRUNCATED),
        "empty": (b"", S.TRUNCATED),
        "one byte extra": (env.blob + b"\0", S.LENGTH),
        "encrypted on a plain device": (env.blob_enc, S.CIPHER),
        "not an update": (b"\x7fELF" + bytes(200), S.MAGIC),
    }
    got = {k: S(dev.install(b)).name for k, (b, _e) in cases.items()}
    assert got == {k: e.name for k, (_b, e) in cases.items()}
    assert dev.install(env.blob, installed=2) == S.ROLLBACK  # older than the installed one
    assert dev.install(env.blob, installed=0xFFFFFFFF) == S.ROLLBACK
    assert env.encrypted.install(env.blob) == S.CIPHER  # plain on an encrypting device
    assert update.read_header(env.blob)[1].model_version == 2
    dev.use(None)


def test_encrypted_update_decrypts_to_the_new_weights(env):
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
    blob = env.blob_enc
    status, h = update.read_header(blob)
    assert status == S.OK and h.cipher == update.CIPHER_CHACHA20_POLY1305
    payload = blob[80:-64]
    assert env.image_b not in blob  # the weights do not travel in the clear
    assert ChaCha20Poly1305(env.enc).decrypt(h.nonce, payload, blob[:80]) == env.image_b
    dev = env.encrypted
    assert dev.install(blob) == S.OK
    assert dev.slot_bytes() == env.image_b
    for a, b in zip(_outputs(dev.model, env.samples), _outputs(env.ref_b, env.samples),
                    strict=True):
        np.testing.assert_array_equal(a, b)
    dev.use(None)
    # a device with another AEAD key: the signature holds, the tag does not
    wrong = env.wrong_key
    ctypes.memmove(wrong.slot, b"\x5a" * wrong.size, wrong.size)
    assert wrong.install(blob) == S.DECRYPT
    assert wrong.slot_bytes() == b"\x5a" * wrong.size  # nothing decrypted into the slot


def test_verifier_fuzzed_under_asan_and_ubsan(env, tmp_path):
    cc = find_cc()
    exe = tmp_path / "fuzz_update"
    sources = [str(FUZZ)] + sorted(str(p) for p in RUNTIME.glob("mlu_*.c"))
    r = subprocess.run([cc, "-O1", "-g", *WARNINGS, "-fsanitize=address,undefined",
                        "-fno-omit-frame-pointer", "-fno-sanitize-recover=all",
                        f"-I{RUNTIME}", *sources, "-o", str(exe)], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    total = 0
    for name, dev, blob, key in (("plain", env.plain, env.blob, None),
                                 ("enc", env.encrypted, env.blob_enc, env.enc)):
        meta = dev.model.project.meta
        slot = meta["weights_slot"]
        model_file = struct.pack("<5I", slot["target_id"], slot["abi_version"],
                                 meta["arena_bytes"], slot["bytes"], INSTALLED)
        model_file += bytes.fromhex(slot["schema_sha256"]) + env.pub
        model_file += (b"\x01" + key) if key else bytes(33)
        (tmp_path / f"{name}.model").write_bytes(model_file)
        (tmp_path / f"{name}.blob").write_bytes(blob)
        (tmp_path / "image.bin").write_bytes(env.image_b)
        r = subprocess.run([str(exe), str(tmp_path / f"{name}.model"),
                            str(tmp_path / f"{name}.blob"), str(tmp_path / "image.bin"),
                            "6000", "12345"], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr[-3000:]
        m = re.match(r"iterations (\d+) failures 0 codes((?: \d+){16})", r.stdout)
        assert m, r.stdout
        counts = [int(c) for c in m.group(2).split()]
        total += int(m.group(1))
        print(f"fuzz ({name}): {m.group(1)} blobs, count per code {counts} (measured)")
        assert counts[S.OK] >= 600  # every tenth blob is the seed itself
        for code in (S.TRUNCATED, S.MAGIC, S.HEADER, S.SIGNATURE, S.LENGTH):
            assert counts[code] > 0, (name, code.name, counts)
    assert total >= 10_000


def test_verifier_flash_cost_cortex_m4f(tmp_path):
    """text+rodata of mlu_update and the crypto it pulls in, cortex-m4f -Os
    (measured: arm-none-eabi-size, linked with --gc-sections)."""
    gcc = shutil.which("arm-none-eabi-gcc")
    size = shutil.which("arm-none-eabi-size")
    assert gcc and size, "arm-none-eabi-gcc/size are required"
    main = tmp_path / "main.c"
    main.write_text('#include "mlu_update.h"\n'
                    "extern const mlu_update_model m;\n"
                    "int entry(const uint8_t *b, size_t n, mlu_update_write_fn w);\n"
                    "int entry(const uint8_t *b, size_t n, mlu_update_write_fn w) {\n"
                    "#ifdef WITH_VERIFIER\n"
                    "  return mlu_update_install(&m, b, n, 1u, w, (void *)0, (void *)0);\n"
                    "#else\n  (void)b; (void)n; (void)w; return 0;\n#endif\n}\n"
                    "const mlu_update_model m = {0};\n")
    flags = ["-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard", "-Os",
             *WARNINGS, "-ffunction-sections", "-fdata-sections", f"-I{RUNTIME}",
             "-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections", "-Wl,-e,entry"]
    sources = [str(main)] + sorted(str(p) for p in RUNTIME.glob("mlu_*.c"))
    text = {}
    for variant, extra in (("with", ["-DWITH_VERIFIER"]), ("without", [])):
        elf = tmp_path / f"{variant}.elf"
        r = subprocess.run([gcc, *flags, *extra, *sources, "-o", str(elf)],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        out = subprocess.run([size, str(elf)], capture_output=True, text=True).stdout
        text[variant] = int(out.splitlines()[1].split()[0])
    cost = text["with"] - text["without"]
    print(f"update verifier flash cost (cortex-m4f -Os, measured with arm-none-eabi-size): "
          f"{cost} B")
    assert 2_000 < cost < 24_000


def test_keys_files_and_errors(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519
    files = keys.generate_keys(tmp_path / "k")
    for p in (files.signing_key, files.encryption_key):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert len(files.public_key.read_bytes()) == 32
    assert "mlu_update_public_key[32]" in files.public_key_h.read_text()
    sk = keys.load_signing_key(tmp_path / "k")
    assert keys.raw_public_key(sk) == keys.load_public_key(tmp_path / "k")
    assert keys.load_public_key(files.signing_key) == files.public_key.read_bytes()
    with pytest.raises(MicrolithError, match="refusing to overwrite"):
        keys.generate_keys(tmp_path / "k")
    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    (tmp_path / "ec.pem").write_bytes(ec_pem)
    locked = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"))
    (tmp_path / "locked.pem").write_bytes(locked)
    (tmp_path / "short.bin").write_bytes(b"x" * 7)
    cases = [(keys.load_signing_key, tmp_path / "ec.pem", "ECDSA/EC key; microlith signs"),
             (keys.load_signing_key, tmp_path / "locked.pem", "passphrase"),
             (keys.load_signing_key, files.public_key, "the public or the encryption key"),
             (keys.load_signing_key, tmp_path / "missing.pem", "does not exist"),
             (keys.load_public_key, tmp_path / "ec.pem", "ECDSA/EC key"),
             (keys.load_public_key, tmp_path / "short.bin", "has 7 bytes"),
             (keys.load_public_key, files.encryption_key, "is the encryption key"),
             (keys.load_encryption_key, files.signing_key, "is a PEM key"),
             (keys.load_encryption_key, files.public_key, "is the public key"),
             (keys.load_encryption_key, tmp_path / "short.bin", "has 7 bytes")]
    for loader, path, message in cases:
        with pytest.raises(MicrolithError, match=re.escape(message)):
            loader(path)
    with pytest.raises(MicrolithError, match="compiled without --weights-slot"):
        generate(prepare(model(HELLO)), tmp_path / "plain")
        update.build_update(tmp_path / "plain", tmp_path / "x.mlu", sign_key=files.signing_key,
                            version=1)
    with pytest.raises(MicrolithError, match="model version"):
        generate(prepare(model(HELLO)), tmp_path / "s", weights_slot=True)
        update.build_update(tmp_path / "s", tmp_path / "x.mlu", sign_key=files.signing_key,
                            version=0)


def test_cli_keys_and_compile_weights_slot(tmp_path):
    from typer.testing import CliRunner

    from microlith.cli import app
    runner = CliRunner()
    r = runner.invoke(app, ["keys", "generate", "-o", str(tmp_path / "k"), "--json"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["keys", "generate", "-o", str(tmp_path / "k")])
    assert r.exit_code == 1 and "refusing to overwrite" in r.output
    r = runner.invoke(app, ["compile", str(model(HELLO)), "-o", str(tmp_path / "p"), "--json",
                            "--weights-slot", "--update-key", str(tmp_path / "k"),
                            "--target", "cortex-m4f"])
    assert r.exit_code == 0, r.output
    slot = json.loads((tmp_path / "p" / "model.json").read_text())["weights_slot"]
    assert slot["target_id"] == update_target_id("cortex-m4f")
    assert slot["verifier"]["public_key"] == keys.load_public_key(tmp_path / "k").hex()
    assert (tmp_path / "p" / "model_update.c").exists()
    r = runner.invoke(app, ["compile", str(model(HELLO)), "-o", str(tmp_path / "p2"),
                            "--update-key", str(tmp_path / "k")])
    assert r.exit_code == 2
    # the generated verifier compiles cleanly with both compilers
    for cc in ("gcc", "clang"):
        assert shutil.which(cc), f"{cc} is not installed"
        sources = [str(p) for p in (tmp_path / "p").rglob("*.c")]
        r2 = subprocess.run([cc, "-O2", *WARNINGS, "-pedantic", "-c", *sources,
                             f"-I{tmp_path / 'p'}", f"-I{tmp_path / 'p' / 'kernels'}"],
                            cwd=tmp_path, capture_output=True, text=True)
        assert r2.returncode == 0, r2.stderr

/* Fuzz harness for microlith's update crypto (src/microlith/package/runtime):
 * built with -fsanitize=address,undefined by tests/test_crypto_c.py.
 *
 *   fuzz_crypto ITERATIONS SEED < seeds.txt
 *
 * stdin holds valid seeds, one per line, hex fields ("-" for empty):
 *   E <public key> <signature> <message>
 *   A <key> <nonce> <aad> <plaintext> <ciphertext> <tag>
 * Every iteration takes a seed (or random bytes), mutates it (bit flips, byte
 * overwrites, truncation, extension, S >= L, random R/A, random lengths) and
 * runs it through every entry point with exactly sized heap copies, so any
 * out-of-bounds access is a sanitizer report. Besides "no report" it checks
 * properties: an unchanged seed verifies/decrypts, a changed one is
 * rejected, one-shot and chunked hashing agree, verify and verify2 agree,
 * encrypt-then-decrypt round-trips. Prints "mlu-fuzz ok <iterations> <calls>"
 * and exits 0, or prints the failed property and exits 1. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlu_chacha20poly1305.h"
#include "mlu_ed25519.h"
#include "mlu_sha256.h"
#include "mlu_sha512.h"

#define MAX_SEEDS 64
#define MAX_FIELD 4096

typedef struct {
  uint8_t *d;
  size_t n;
} buf_t;

typedef struct {
  int kind; /* 'E' or 'A' */
  buf_t f[6];
} seed_t;

static seed_t seeds[MAX_SEEDS];
static int n_seeds, n_ed, n_aead;
static uint64_t rng_state;
static unsigned long calls;

static uint64_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

static size_t rndn(size_t n) { return n ? (size_t)(rnd() % n) : 0u; }

static void fail(const char *what, unsigned long it) {
  fprintf(stderr, "mlu-fuzz FAILED at iteration %lu: %s\n", it, what);
  exit(1);
}

/* An exactly sized heap copy (malloc(0) may return NULL: use 1 byte then,
 * which is never read since n is 0). */
static uint8_t *dup_exact(const uint8_t *p, size_t n) {
  uint8_t *q = (uint8_t *)malloc(n ? n : 1u);
  if (!q) {
    fail("out of memory", 0);
  }
  if (n) {
    memcpy(q, p, n);
  }
  return q;
}

static void fill_random(uint8_t *p, size_t n) {
  size_t i;
  for (i = 0; i < n; ++i) {
    p[i] = (uint8_t)rnd();
  }
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int parse_hex(const char *s, buf_t *b) {
  size_t len = strlen(s), i;
  if (strcmp(s, "-") == 0) {
    b->d = dup_exact((const uint8_t *)"", 0);
    b->n = 0;
    return 1;
  }
  if (len % 2 || len / 2 > MAX_FIELD) return 0;
  b->n = len / 2;
  b->d = (uint8_t *)malloc(b->n ? b->n : 1u);
  for (i = 0; i < b->n; ++i) {
    int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return 0;
    b->d[i] = (uint8_t)(hi * 16 + lo);
  }
  return 1;
}

static void read_seeds(void) {
  static char line[6 * (2 * MAX_FIELD + 2) + 16];
  while (n_seeds < MAX_SEEDS && fgets(line, sizeof(line), stdin)) {
    char *tok = strtok(line, " \t\r\n");
    seed_t *s = &seeds[n_seeds];
    int want, i;
    if (!tok) continue;
    s->kind = tok[0];
    want = s->kind == 'E' ? 3 : 6;
    for (i = 0; i < want; ++i) {
      tok = strtok(NULL, " \t\r\n");
      if (!tok || !parse_hex(tok, &s->f[i])) fail("bad seed line", 0);
    }
    if (s->kind == 'E') {
      if (s->f[0].n != 32 || s->f[1].n != 64) fail("bad E seed", 0);
      n_ed++;
    } else if (s->kind == 'A') {
      if (s->f[0].n != 32 || s->f[1].n != 12 || s->f[5].n != 16 || s->f[3].n != s->f[4].n)
        fail("bad A seed", 0);
      n_aead++;
    } else {
      fail("unknown seed kind", 0);
    }
    n_seeds++;
  }
}

static const seed_t *pick(int kind) {
  for (;;) {
    const seed_t *s = &seeds[rndn((size_t)n_seeds)];
    if (s->kind == kind) return s;
  }
}

/* Mutate p[0..n) in place; returns nonzero when it changed a byte. */
static int mutate(uint8_t *p, size_t n) {
  size_t k, i;
  int changed = 0;
  if (n == 0) return 0;
  switch (rnd() % 4) {
    case 0: /* one bit */
      i = rndn(n);
      p[i] ^= (uint8_t)(1u << rndn(8));
      return 1;
    case 1: /* a few bits */
      for (k = 1 + rndn(8); k--;) {
        i = rndn(n);
        p[i] ^= (uint8_t)(1u << rndn(8));
      }
      return 1; /* two flips of one bit cancel: checked by the caller */
    case 2: /* overwrite bytes */
      for (k = 1 + rndn(4); k--;) {
        uint8_t v = (uint8_t)rnd();
        i = rndn(n);
        changed |= p[i] != v;
        p[i] = v;
      }
      return changed;
    default: /* interesting values */
      i = rndn(n);
      {
        static const uint8_t vals[] = {0x00, 0xff, 0x7f, 0x80, 0xed, 0x10, 0x01};
        uint8_t v = vals[rndn(sizeof(vals))];
        changed = p[i] != v;
        p[i] = v;
      }
      return changed;
  }
}

/* ---- hashing ------------------------------------------------------------ */

static void fuzz_hash(unsigned long it) {
  size_t n = rndn(700), pos, k;
  uint8_t *m = (uint8_t *)malloc(n ? n : 1u);
  uint8_t a[64], b[64];
  mlu_sha256_ctx c256;
  mlu_sha512_ctx c512;
  fill_random(m, n);
  mlu_sha256(m, n, a);
  mlu_sha256_init(&c256);
  for (pos = 0; pos < n; pos += k) {
    k = 1 + rndn(n - pos < 200 ? n - pos : 200);
    mlu_sha256_update(&c256, m + pos, k);
    calls++;
  }
  mlu_sha256_final(&c256, b);
  if (memcmp(a, b, 32)) fail("sha256 chunked != one-shot", it);
  mlu_sha512(m, n, a);
  mlu_sha512_init(&c512);
  for (pos = 0; pos < n; pos += k) {
    k = 1 + rndn(n - pos < 300 ? n - pos : 300);
    mlu_sha512_update(&c512, m + pos, k);
    calls++;
  }
  mlu_sha512_final(&c512, b);
  if (memcmp(a, b, 64)) fail("sha512 chunked != one-shot", it);
  calls += 6;
  free(m);
}

/* ---- Ed25519 ------------------------------------------------------------ */

static void fuzz_ed25519(unsigned long it) {
  const seed_t *s = pick('E');
  size_t n = s->f[2].n, split;
  uint8_t *pub = dup_exact(s->f[0].d, 32), *sig = dup_exact(s->f[1].d, 64), *msg;
  int changed, r1, r2;
  unsigned what = (unsigned)(rnd() % 8);
  if (what == 6) { /* a different message length: truncate or extend */
    size_t m = rndn(n + 40);
    msg = (uint8_t *)malloc(m ? m : 1u);
    fill_random(msg, m);
    if (m) memcpy(msg, s->f[2].d, m < n ? m : n);
    n = m;
  } else {
    msg = dup_exact(s->f[2].d, n);
  }
  switch (what) {
    case 0: (void)mutate(sig, 32); break;          /* R */
    case 1: (void)mutate(sig + 32, 32); break;     /* S */
    case 2: (void)mutate(pub, 32); break;          /* A */
    case 3: (void)mutate(msg, n); break;           /* message */
    case 4: {                                           /* S >= L: S + L, or all ones */
      static const uint8_t l[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58,
                                    0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
                                    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10};
      unsigned i, carry = 0;
      if (rnd() & 1) {
        for (i = 0; i < 32; ++i) {
          carry += (unsigned)sig[32 + i] + l[i];
          sig[32 + i] = (uint8_t)carry;
          carry >>= 8;
        }
      } else {
        memset(sig + 32, 0xff, 32);
      }
      break;
    }
    case 5: fill_random(rnd() & 1 ? sig : pub, 32); break; /* random R or A */
    case 7: break;                                      /* unchanged */
    default: break;
  }
  /* Whatever the mutation did, "changed" is decided by comparing with the seed. */
  changed = memcmp(pub, s->f[0].d, 32) || memcmp(sig, s->f[1].d, 64) || n != s->f[2].n ||
            (n && memcmp(msg, s->f[2].d, n));
  r1 = mlu_ed25519_verify(sig, msg, n, pub);
  split = rndn(n + 1);
  r2 = mlu_ed25519_verify2(sig, split ? msg : NULL, split, n - split ? msg + split : NULL,
                           n - split, pub);
  calls += 2;
  if (r1 != r2) fail("verify and verify2 disagree", it);
  if (!changed && r1 != 1) fail("a valid signature was rejected", it);
  if (changed && r1 != 0) fail("a changed signature/message/key was accepted", it);
  free(pub);
  free(sig);
  free(msg);
}

static void fuzz_random_verify(unsigned long it) {
  size_t n = rndn(300);
  uint8_t *pub = (uint8_t *)malloc(32), *sig = (uint8_t *)malloc(64);
  uint8_t *msg = (uint8_t *)malloc(n ? n : 1u);
  fill_random(pub, 32);
  fill_random(sig, 64);
  fill_random(msg, n);
  if (rnd() & 1) sig[63] &= 0x0f; /* S < 2^252: gets past the S check */
  if (mlu_ed25519_verify(sig, msg, n, pub) != 0) fail("a random signature verified", it);
  calls++;
  free(pub);
  free(sig);
  free(msg);
}

/* ---- ChaCha20-Poly1305 ------------------------------------------------- */

static void chunked(mlu_aead_ctx *c, int enc, const uint8_t *in, uint8_t *out, size_t n) {
  size_t pos, k;
  for (pos = 0; pos < n; pos += k) {
    k = 1 + rndn(n - pos < 150 ? n - pos : 150);
    if (enc) {
      mlu_aead_encrypt_update(c, in + pos, out + pos, k);
    } else {
      mlu_aead_decrypt_update(c, in + pos, out + pos, k);
    }
    calls++;
  }
}

static void fuzz_aead_seed(unsigned long it) {
  const seed_t *s = pick('A');
  uint8_t *key = dup_exact(s->f[0].d, 32), *nonce = dup_exact(s->f[1].d, 12);
  size_t na = s->f[2].n, n = s->f[4].n;
  uint8_t *aad = dup_exact(s->f[2].d, na), *ct = dup_exact(s->f[4].d, n);
  uint8_t *tag = dup_exact(s->f[5].d, 16);
  uint8_t *out = (uint8_t *)malloc(n ? n : 1u);
  mlu_aead_ctx c;
  int changed, ok, inplace = (int)(rnd() & 1);
  switch (rnd() % 6) {
    case 0: (void)mutate(ct, n); break;
    case 1: (void)mutate(tag, 16); break;
    case 2: (void)mutate(aad, na); break;
    case 3: (void)mutate(nonce, 12); break;
    case 4: (void)mutate(key, 32); break;
    default: break;
  }
  changed = memcmp(key, s->f[0].d, 32) || memcmp(nonce, s->f[1].d, 12) ||
            (na && memcmp(aad, s->f[2].d, na)) || (n && memcmp(ct, s->f[4].d, n)) ||
            memcmp(tag, s->f[5].d, 16);
  mlu_aead_init(&c, key, nonce, aad, na);
  if (inplace) {
    chunked(&c, 0, ct, ct, n);
  } else {
    chunked(&c, 0, ct, out, n);
  }
  ok = mlu_aead_decrypt_final(&c, tag);
  calls += 2;
  if (!changed && (ok != 1 || (n && memcmp(inplace ? ct : out, s->f[3].d, n))))
    fail("a valid ciphertext did not decrypt to its plaintext", it);
  if (changed && ok != 0) fail("a changed ciphertext/tag/aad/nonce/key was accepted", it);
  free(key);
  free(nonce);
  free(aad);
  free(ct);
  free(tag);
  free(out);
}

static void fuzz_aead_random(unsigned long it) {
  size_t na = rndn(100), n = rndn(600);
  uint8_t key[32], nonce[12], tag[16];
  uint8_t *aad = (uint8_t *)malloc(na ? na : 1u), *pt = (uint8_t *)malloc(n ? n : 1u);
  uint8_t *ct = (uint8_t *)malloc(n ? n : 1u);
  mlu_aead_ctx c;
  int ok;
  fill_random(key, 32);
  fill_random(nonce, 12);
  fill_random(aad, na);
  fill_random(pt, n);
  mlu_aead_init(&c, key, nonce, aad, na);
  chunked(&c, 1, pt, ct, n);
  mlu_aead_encrypt_final(&c, tag);
  mlu_aead_init(&c, key, nonce, aad, na);
  chunked(&c, 0, ct, ct, n); /* in place */
  ok = mlu_aead_decrypt_final(&c, tag);
  calls += 4;
  if (ok != 1 || (n && memcmp(ct, pt, n))) fail("encrypt-then-decrypt did not round-trip", it);
  /* a random tag over random data is rejected */
  fill_random(tag, 16);
  mlu_aead_init(&c, key, nonce, aad, na);
  chunked(&c, 0, pt, ct, n);
  if (mlu_aead_decrypt_final(&c, tag) != 0) fail("a random tag was accepted", it);
  calls += 2;
  free(aad);
  free(pt);
  free(ct);
}

int main(int argc, char **argv) {
  unsigned long iterations, it;
  if (argc != 3) {
    fprintf(stderr, "usage: fuzz_crypto ITERATIONS SEED < seeds.txt\n");
    return 2;
  }
  iterations = strtoul(argv[1], NULL, 10);
  rng_state = (uint64_t)strtoull(argv[2], NULL, 10) * 0x9e3779b97f4a7c15ull + 1u;
  read_seeds();
  if (n_ed == 0 || n_aead == 0) fail("stdin needs at least one E and one A seed", 0);
  for (it = 0; it < iterations; ++it) {
    switch (it % 10) {
      case 0: case 1: fuzz_hash(it); break;
      case 2: case 3: case 4: fuzz_ed25519(it); break;
      case 5: fuzz_random_verify(it); break;
      case 6: case 7: fuzz_aead_seed(it); break;
      default: fuzz_aead_random(it); break;
    }
  }
  printf("mlu-fuzz ok %lu %lu\n", iterations, calls);
  return 0;
}

/* microlith update runtime: ChaCha20 (RFC 8439 2.3), Poly1305 (2.5) and the
 * AEAD construction (2.8). No data-dependent branches or table lookups. */
#include "mlu_chacha20poly1305.h"

#include "mlu_crypto_common.h"

/* ---- ChaCha20 ----------------------------------------------------------- */

#define MLU_ROL32(x, n) (((x) << (n)) | ((x) >> (32 - (n))))
#define MLU_QROUND(a, b, c, d)                                   \
  do {                                                           \
    a += b; d ^= a; d = MLU_ROL32(d, 16);                        \
    c += d; b ^= c; b = MLU_ROL32(b, 12);                        \
    a += b; d ^= a; d = MLU_ROL32(d, 8);                         \
    c += d; b ^= c; b = MLU_ROL32(b, 7);                         \
  } while (0)

void mlu_chacha20_block(const uint32_t key[8], uint32_t counter, const uint32_t nonce[3],
                        uint8_t out[64]) {
  uint32_t in[16], x[16];
  unsigned i;
  in[0] = 0x61707865u; /* "expand 32-byte k" */
  in[1] = 0x3320646eu;
  in[2] = 0x79622d32u;
  in[3] = 0x6b206574u;
  for (i = 0; i < 8; ++i) {
    in[4 + i] = key[i];
  }
  in[12] = counter;
  in[13] = nonce[0];
  in[14] = nonce[1];
  in[15] = nonce[2];
  for (i = 0; i < 16; ++i) {
    x[i] = in[i];
  }
  for (i = 0; i < 10; ++i) {
    MLU_QROUND(x[0], x[4], x[8], x[12]); /* columns */
    MLU_QROUND(x[1], x[5], x[9], x[13]);
    MLU_QROUND(x[2], x[6], x[10], x[14]);
    MLU_QROUND(x[3], x[7], x[11], x[15]);
    MLU_QROUND(x[0], x[5], x[10], x[15]); /* diagonals */
    MLU_QROUND(x[1], x[6], x[11], x[12]);
    MLU_QROUND(x[2], x[7], x[8], x[13]);
    MLU_QROUND(x[3], x[4], x[9], x[14]);
  }
  for (i = 0; i < 16; ++i) {
    mlu_store32_le(out + 4 * i, x[i] + in[i]);
  }
  mlu_wipe(x, sizeof(x));
  mlu_wipe(in, sizeof(in));
}

/* ---- Poly1305 (mod 2^130 - 5, five 26-bit limbs) ------------------------ */

#define MLU_M26 0x3ffffffu

void mlu_poly1305_init(mlu_poly1305_ctx *p, const uint8_t key[32]) {
  /* r is clamped (RFC 8439 2.5): the top four bits of bytes 3, 7, 11, 15 and
   * the bottom two bits of bytes 4, 8, 12 cleared. */
  uint32_t t0 = mlu_load32_le(key) & 0x0fffffffu;
  uint32_t t1 = mlu_load32_le(key + 4) & 0x0ffffffcu;
  uint32_t t2 = mlu_load32_le(key + 8) & 0x0ffffffcu;
  uint32_t t3 = mlu_load32_le(key + 12) & 0x0ffffffcu;
  unsigned i;
  p->r[0] = t0 & MLU_M26;
  p->r[1] = ((t0 >> 26) | (t1 << 6)) & MLU_M26;
  p->r[2] = ((t1 >> 20) | (t2 << 12)) & MLU_M26;
  p->r[3] = ((t2 >> 14) | (t3 << 18)) & MLU_M26;
  p->r[4] = t3 >> 8;
  for (i = 0; i < 5; ++i) {
    p->h[i] = 0u;
  }
  for (i = 0; i < 4; ++i) {
    p->s[i] = mlu_load32_le(key + 16 + 4 * i);
  }
  p->fill = 0u;
}

/* h = (h + m + hibit * 2^128) * r mod 2^130 - 5 (partly reduced). */
static void mlu_poly1305_block(mlu_poly1305_ctx *p, const uint8_t m[16], uint32_t hibit) {
  uint32_t m0 = mlu_load32_le(m), m1 = mlu_load32_le(m + 4);
  uint32_t m2 = mlu_load32_le(m + 8), m3 = mlu_load32_le(m + 12);
  uint32_t h0 = p->h[0] + (m0 & MLU_M26);
  uint32_t h1 = p->h[1] + (((m0 >> 26) | (m1 << 6)) & MLU_M26);
  uint32_t h2 = p->h[2] + (((m1 >> 20) | (m2 << 12)) & MLU_M26);
  uint32_t h3 = p->h[3] + (((m2 >> 14) | (m3 << 18)) & MLU_M26);
  uint32_t h4 = p->h[4] + ((m3 >> 8) | (hibit << 24));
  uint32_t r0 = p->r[0], r1 = p->r[1], r2 = p->r[2], r3 = p->r[3], r4 = p->r[4];
  /* 2^130 = 5: a product landing at limb 5 + i wraps to limb i times 5. */
  uint32_t s1 = r1 * 5u, s2 = r2 * 5u, s3 = r3 * 5u, s4 = r4 * 5u;
  uint64_t d0, d1, d2, d3, d4;
  uint32_t c;
  d0 = (uint64_t)h0 * r0 + (uint64_t)h1 * s4 + (uint64_t)h2 * s3 + (uint64_t)h3 * s2 +
       (uint64_t)h4 * s1;
  d1 = (uint64_t)h0 * r1 + (uint64_t)h1 * r0 + (uint64_t)h2 * s4 + (uint64_t)h3 * s3 +
       (uint64_t)h4 * s2;
  d2 = (uint64_t)h0 * r2 + (uint64_t)h1 * r1 + (uint64_t)h2 * r0 + (uint64_t)h3 * s4 +
       (uint64_t)h4 * s3;
  d3 = (uint64_t)h0 * r3 + (uint64_t)h1 * r2 + (uint64_t)h2 * r1 + (uint64_t)h3 * r0 +
       (uint64_t)h4 * s4;
  d4 = (uint64_t)h0 * r4 + (uint64_t)h1 * r3 + (uint64_t)h2 * r2 + (uint64_t)h3 * r1 +
       (uint64_t)h4 * r0;
  c = (uint32_t)(d0 >> 26);
  h0 = (uint32_t)d0 & MLU_M26;
  d1 += c;
  c = (uint32_t)(d1 >> 26);
  h1 = (uint32_t)d1 & MLU_M26;
  d2 += c;
  c = (uint32_t)(d2 >> 26);
  h2 = (uint32_t)d2 & MLU_M26;
  d3 += c;
  c = (uint32_t)(d3 >> 26);
  h3 = (uint32_t)d3 & MLU_M26;
  d4 += c;
  c = (uint32_t)(d4 >> 26);
  h4 = (uint32_t)d4 & MLU_M26;
  h0 += c * 5u;
  c = h0 >> 26;
  h0 &= MLU_M26;
  h1 += c;
  p->h[0] = h0;
  p->h[1] = h1;
  p->h[2] = h2;
  p->h[3] = h3;
  p->h[4] = h4;
}

void mlu_poly1305_update(mlu_poly1305_ctx *p, const uint8_t *m, size_t n) {
  if (p->fill > 0u) {
    while (n > 0u && p->fill < 16u) {
      p->buf[p->fill++] = *m++;
      --n;
    }
    if (p->fill < 16u) {
      return;
    }
    mlu_poly1305_block(p, p->buf, 1u);
    p->fill = 0u;
  }
  while (n >= 16u) {
    mlu_poly1305_block(p, m, 1u);
    m += 16;
    n -= 16u;
  }
  while (n > 0u) {
    p->buf[p->fill++] = *m++;
    --n;
  }
}

void mlu_poly1305_final(mlu_poly1305_ctx *p, uint8_t tag[16]) {
  uint32_t h[5], g[5], c, mask, w[4];
  uint64_t t;
  unsigned i, pass;
  if (p->fill > 0u) {
    /* The last partial block: a 1 byte after the message, then zeros; no 2^128. */
    p->buf[p->fill++] = 1u;
    while (p->fill < 16u) {
      p->buf[p->fill++] = 0u;
    }
    mlu_poly1305_block(p, p->buf, 0u);
  }
  for (i = 0; i < 5; ++i) {
    h[i] = p->h[i];
  }
  /* Two full carry passes leave every limb below 2^26, so h < 2^130. */
  for (pass = 0; pass < 2; ++pass) {
    for (i = 0; i < 4; ++i) {
      c = h[i] >> 26;
      h[i] &= MLU_M26;
      h[i + 1] += c;
    }
    c = h[4] >> 26;
    h[4] &= MLU_M26;
    h[0] += c * 5u;
  }
  /* g = h + 5 - 2^130; when it is not negative, h >= p and h mod p = g. */
  c = 5u;
  for (i = 0; i < 4; ++i) {
    g[i] = h[i] + c;
    c = g[i] >> 26;
    g[i] &= MLU_M26;
  }
  g[4] = h[4] + c - (1u << 26);
  mask = (g[4] >> 31) - 1u; /* all ones when g >= 0 */
  for (i = 0; i < 5; ++i) {
    h[i] = (g[i] & mask) | (h[i] & ~mask);
  }
  /* tag = (h + s) mod 2^128 */
  w[0] = h[0] | (h[1] << 26);
  w[1] = (h[1] >> 6) | (h[2] << 20);
  w[2] = (h[2] >> 12) | (h[3] << 14);
  w[3] = (h[3] >> 18) | (h[4] << 8);
  t = 0u;
  for (i = 0; i < 4; ++i) {
    t += (uint64_t)w[i] + p->s[i];
    mlu_store32_le(tag + 4 * i, (uint32_t)t);
    t >>= 32;
  }
  mlu_wipe(h, sizeof(h));
  mlu_wipe(g, sizeof(g));
  mlu_wipe(w, sizeof(w));
  mlu_wipe(p, sizeof(*p));
}

/* ---- AEAD (RFC 8439 2.8) -------------------------------------------- */

static const uint8_t mlu_zeros16[16] = {0u};

/* Zero-pad what has been MACed so far to a multiple of 16 bytes. */
static void mlu_aead_pad(mlu_aead_ctx *c, uint64_t len) {
  size_t rem = (size_t)(len & 15u);
  if (rem != 0u) {
    mlu_poly1305_update(&c->mac, mlu_zeros16, 16u - rem);
  }
}

void mlu_aead_init(mlu_aead_ctx *c, const uint8_t key[32], const uint8_t nonce[12],
                   const uint8_t *aad, size_t aad_len) {
  unsigned i;
  for (i = 0; i < 8; ++i) {
    c->key[i] = mlu_load32_le(key + 4 * i);
  }
  for (i = 0; i < 3; ++i) {
    c->nonce[i] = mlu_load32_le(nonce + 4 * i);
  }
  /* The one-time Poly1305 key is the first half of block 0 (RFC 8439 2.6);
   * the text is en/decrypted from block 1 on. */
  mlu_chacha20_block(c->key, 0u, c->nonce, c->stream);
  mlu_poly1305_init(&c->mac, c->stream);
  c->counter = 1u;
  c->used = 64u;
  c->aad_len = (uint64_t)aad_len;
  c->text_len = 0u;
  if (aad_len > 0u) {
    mlu_poly1305_update(&c->mac, aad, aad_len);
  }
  mlu_aead_pad(c, c->aad_len);
}

/* XOR the next n (<= 64) keystream bytes into out; n never crosses a block
 * the caller has not asked for. */
static size_t mlu_aead_xor(mlu_aead_ctx *c, const uint8_t *in, uint8_t *out, size_t n) {
  size_t k, i;
  if (c->used == 64u) {
    mlu_chacha20_block(c->key, c->counter, c->nonce, c->stream);
    c->counter++;
    c->used = 0u;
  }
  k = 64u - c->used;
  if (k > n) {
    k = n;
  }
  for (i = 0; i < k; ++i) {
    out[i] = (uint8_t)(in[i] ^ c->stream[c->used + i]);
  }
  c->used += k;
  return k;
}

void mlu_aead_encrypt_update(mlu_aead_ctx *c, const uint8_t *in, uint8_t *out, size_t n) {
  c->text_len += (uint64_t)n;
  while (n > 0u) {
    size_t k = mlu_aead_xor(c, in, out, n);
    mlu_poly1305_update(&c->mac, out, k); /* MAC the ciphertext */
    in += k;
    out += k;
    n -= k;
  }
}

void mlu_aead_decrypt_update(mlu_aead_ctx *c, const uint8_t *in, uint8_t *out, size_t n) {
  c->text_len += (uint64_t)n;
  while (n > 0u) {
    /* MAC the ciphertext before the XOR, which may overwrite it (in == out). */
    size_t k = 64u - (c->used == 64u ? 0u : c->used);
    if (k > n) {
      k = n;
    }
    mlu_poly1305_update(&c->mac, in, k);
    k = mlu_aead_xor(c, in, out, k);
    in += k;
    out += k;
    n -= k;
  }
}

static void mlu_aead_tag(mlu_aead_ctx *c, uint8_t tag[16]) {
  uint8_t lens[16];
  mlu_aead_pad(c, c->text_len);
  mlu_store64_le(lens, c->aad_len);
  mlu_store64_le(lens + 8, c->text_len);
  mlu_poly1305_update(&c->mac, lens, 16u);
  mlu_poly1305_final(&c->mac, tag);
  mlu_wipe(c, sizeof(*c));
}

void mlu_aead_encrypt_final(mlu_aead_ctx *c, uint8_t tag[16]) {
  mlu_aead_tag(c, tag);
}

int mlu_aead_decrypt_final(mlu_aead_ctx *c, const uint8_t tag[16]) {
  uint8_t expect[16];
  int ok;
  mlu_aead_tag(c, expect);
  ok = mlu_ct_equal(expect, tag, 16u);
  mlu_wipe(expect, sizeof(expect));
  return ok;
}

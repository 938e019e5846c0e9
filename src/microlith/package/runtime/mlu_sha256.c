/* microlith update runtime: SHA-256 as specified in FIPS 180-4, section 6.2. */
#include "mlu_sha256.h"

#include "mlu_crypto_common.h"

/* FIPS 180-4 4.2.2: the first 32 bits of the fractional parts of the cube
 * roots of the first 64 primes. */
static const uint32_t mlu_sha256_k[64] = {
  0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u,
  0x923f82a4u, 0xab1c5ed5u, 0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u,
  0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u, 0xe49b69c1u, 0xefbe4786u,
  0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau,
  0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u,
  0x06ca6351u, 0x14292967u, 0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u,
  0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u, 0xa2bfe8a1u, 0xa81a664bu,
  0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u,
  0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au,
  0x5b9cca4fu, 0x682e6ff3u, 0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u,
  0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u
};

/* FIPS 180-4 5.3.3: the first 32 bits of the fractional parts of the square
 * roots of the first 8 primes. */
static const uint32_t mlu_sha256_iv[8] = {
  0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
  0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u
};

#define MLU_ROR32(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void mlu_sha256_block(uint32_t h[8], const uint8_t *p) {
  uint32_t w[16];
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
  uint32_t e = h[4], f = h[5], g = h[6], k = h[7];
  unsigned t;
  for (t = 0; t < 64; ++t) {
    uint32_t wt, t1, t2;
    if (t < 16) {
      wt = mlu_load32_be(p + 4 * t);
    } else {
      /* w[] is a 16-word ring: w[t-16], w[t-15], w[t-7], w[t-2]. */
      uint32_t w15 = w[(t - 15) & 15], w2 = w[(t - 2) & 15];
      uint32_t s0 = MLU_ROR32(w15, 7) ^ MLU_ROR32(w15, 18) ^ (w15 >> 3);
      uint32_t s1 = MLU_ROR32(w2, 17) ^ MLU_ROR32(w2, 19) ^ (w2 >> 10);
      wt = w[t & 15] + s0 + w[(t - 7) & 15] + s1;
    }
    w[t & 15] = wt;
    t1 = k + (MLU_ROR32(e, 6) ^ MLU_ROR32(e, 11) ^ MLU_ROR32(e, 25)) + ((e & f) ^ (~e & g)) +
         mlu_sha256_k[t] + wt;
    t2 = (MLU_ROR32(a, 2) ^ MLU_ROR32(a, 13) ^ MLU_ROR32(a, 22)) +
         ((a & b) ^ (a & c) ^ (b & c));
    k = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  h[0] += a;
  h[1] += b;
  h[2] += c;
  h[3] += d;
  h[4] += e;
  h[5] += f;
  h[6] += g;
  h[7] += k;
}

void mlu_sha256_init(mlu_sha256_ctx *c) {
  unsigned i;
  for (i = 0; i < 8; ++i) {
    c->h[i] = mlu_sha256_iv[i];
  }
  c->len = 0u;
  c->fill = 0u;
}

void mlu_sha256_update(mlu_sha256_ctx *c, const uint8_t *p, size_t n) {
  c->len += (uint64_t)n;
  if (c->fill > 0u) {
    while (n > 0u && c->fill < 64u) {
      c->buf[c->fill++] = *p++;
      --n;
    }
    if (c->fill < 64u) {
      return;
    }
    mlu_sha256_block(c->h, c->buf);
    c->fill = 0u;
  }
  while (n >= 64u) {
    mlu_sha256_block(c->h, p);
    p += 64;
    n -= 64u;
  }
  while (n > 0u) {
    c->buf[c->fill++] = *p++;
    --n;
  }
}

void mlu_sha256_final(mlu_sha256_ctx *c, uint8_t out[32]) {
  uint64_t bits = c->len << 3;
  unsigned i;
  c->buf[c->fill++] = 0x80u;
  if (c->fill > 56u) {
    while (c->fill < 64u) {
      c->buf[c->fill++] = 0u;
    }
    mlu_sha256_block(c->h, c->buf);
    c->fill = 0u;
  }
  while (c->fill < 56u) {
    c->buf[c->fill++] = 0u;
  }
  mlu_store64_be(c->buf + 56, bits);
  mlu_sha256_block(c->h, c->buf);
  for (i = 0; i < 8; ++i) {
    mlu_store32_be(out + 4 * i, c->h[i]);
  }
  mlu_wipe(c, sizeof(*c));
}

void mlu_sha256(const uint8_t *p, size_t n, uint8_t out[32]) {
  mlu_sha256_ctx c;
  mlu_sha256_init(&c);
  mlu_sha256_update(&c, p, n);
  mlu_sha256_final(&c, out);
}

/* microlith update runtime: Ed25519 verification (RFC 8032, section 5.1).
 *
 * Field elements mod p = 2^255 - 19 are eight 32-bit little-endian words
 * holding any value below 2^256 that is congruent to the element; since
 * 2^256 = 38 (mod p), a carry out of the top word is folded back as 38.
 * Only fe_tobytes() reduces fully. Points are in extended twisted Edwards
 * coordinates (X : Y : Z : T) with x = X/Z, y = Y/Z, x*y = T/Z, and the
 * addition and doubling formulas of RFC 8032 5.1.4 (complete for this curve).
 *
 * The verification handles public data only, so branches on it are allowed;
 * the field arithmetic itself has no data-dependent branches anyway. */
#include "mlu_ed25519.h"

#include "mlu_crypto_common.h"
#include "mlu_sha512.h"

typedef uint32_t mlu_fe[8];

typedef struct {
  mlu_fe x, y, z, t;
} mlu_ge;

/* d = -121665/121666, 2d, sqrt(-1) = 2^((p-1)/4), mod p. */
static const mlu_fe mlu_ed_d = {0x135978a3u, 0x75eb4dcau, 0x4141d8abu, 0x00700a4du,
                                0x7779e898u, 0x8cc74079u, 0x2b6ffe73u, 0x52036ceeu};
static const mlu_fe mlu_ed_d2 = {0x26b2f159u, 0xebd69b94u, 0x8283b156u, 0x00e0149au,
                                 0xeef3d130u, 0x198e80f2u, 0x56dffce7u, 0x2406d9dcu};
static const mlu_fe mlu_ed_sqrtm1 = {0x4a0ea0b0u, 0xc4ee1b27u, 0xad2fe478u, 0x2f431806u,
                                     0x3dfbd7a7u, 0x2b4d0099u, 0x4fc1df0bu, 0x2b832480u};
/* The base point B (RFC 8032 5.1): y = 4/5, x even; T = x*y. */
static const mlu_ge mlu_ed_base = {
  {0x8f25d51au, 0xc9562d60u, 0x9525a7b2u, 0x692cc760u,
   0xfdd6dc5cu, 0xc0a4e231u, 0xcd6e53feu, 0x216936d3u},
  {0x66666658u, 0x66666666u, 0x66666666u, 0x66666666u,
   0x66666666u, 0x66666666u, 0x66666666u, 0x66666666u},
  {1u, 0u, 0u, 0u, 0u, 0u, 0u, 0u},
  {0xa5b7dda3u, 0x6dde8ab3u, 0x775152f5u, 0x20f09f80u,
   0x64abe37du, 0x66ea4e8eu, 0xd78b7665u, 0x67875f0fu}};
/* The group order L = 2^252 + 27742317777372353535851937790883648493. */
static const uint32_t mlu_ed_l[8] = {0x5cf5d3edu, 0x5812631au, 0xa2f79cd6u, 0x14def9deu,
                                     0x00000000u, 0x00000000u, 0x00000000u, 0x10000000u};

/* ---- field arithmetic mod 2^255 - 19 ---------------------------------- */

static void fe_copy(mlu_fe r, const mlu_fe a) {
  unsigned i;
  for (i = 0; i < 8; ++i) {
    r[i] = a[i];
  }
}

static void fe_set(mlu_fe r, uint32_t v) {
  unsigned i;
  r[0] = v;
  for (i = 1; i < 8; ++i) {
    r[i] = 0u;
  }
}

/* r += v (v < 2^32 - 2^6); returns the carry out of the top word (0 or 1). */
static uint32_t fe_add_small(mlu_fe r, uint32_t v) {
  uint64_t t = v;
  unsigned i;
  for (i = 0; i < 8; ++i) {
    t += r[i];
    r[i] = (uint32_t)t;
    t >>= 32;
  }
  return (uint32_t)t;
}

/* r -= v (v < 2^32); returns the borrow out of the top word (0 or 1). */
static uint32_t fe_sub_small(mlu_fe r, uint32_t v) {
  uint64_t t;
  uint32_t borrow = v;
  unsigned i;
  for (i = 0; i < 8; ++i) {
    t = (uint64_t)r[i] - borrow;
    r[i] = (uint32_t)t;
    borrow = (uint32_t)(t >> 32) & 1u;
  }
  return borrow;
}

static void fe_add(mlu_fe r, const mlu_fe a, const mlu_fe b) {
  uint64_t t = 0u;
  uint32_t c;
  unsigned i;
  for (i = 0; i < 8; ++i) {
    t += (uint64_t)a[i] + b[i];
    r[i] = (uint32_t)t;
    t >>= 32;
  }
  /* 2^256 = 38: a carry out wraps to +38; a second carry leaves r < 38*2. */
  c = fe_add_small(r, 38u * (uint32_t)t);
  (void)fe_add_small(r, 38u * c);
}

static void fe_sub(mlu_fe r, const mlu_fe a, const mlu_fe b) {
  uint64_t t;
  uint32_t borrow = 0u;
  unsigned i;
  for (i = 0; i < 8; ++i) {
    t = (uint64_t)a[i] - b[i] - borrow;
    r[i] = (uint32_t)t;
    borrow = (uint32_t)(t >> 32) & 1u;
  }
  /* A borrow means r = a - b + 2^256 = a - b + 38: take 38 off (twice at most). */
  borrow = fe_sub_small(r, 38u * borrow);
  (void)fe_sub_small(r, 38u * borrow);
}

static void fe_mul(mlu_fe r, const mlu_fe a, const mlu_fe b) {
  uint32_t w[16];
  uint64_t t;
  uint32_t c;
  unsigned i, j;
  for (i = 0; i < 16; ++i) {
    w[i] = 0u;
  }
  for (i = 0; i < 8; ++i) {
    uint32_t carry = 0u;
    for (j = 0; j < 8; ++j) {
      /* (2^32-1)^2 + 2*(2^32-1) = 2^64 - 1: never overflows. */
      t = (uint64_t)a[i] * b[j] + w[i + j] + carry;
      w[i + j] = (uint32_t)t;
      carry = (uint32_t)(t >> 32);
    }
    w[i + 8] = carry;
  }
  /* w = lo + 2^256 hi = lo + 38 hi. */
  t = 0u;
  for (i = 0; i < 8; ++i) {
    t += (uint64_t)w[i] + (uint64_t)w[i + 8] * 38u;
    r[i] = (uint32_t)t;
    t >>= 32;
  }
  c = fe_add_small(r, 38u * (uint32_t)t);
  (void)fe_add_small(r, 38u * c);
}

static void fe_sq(mlu_fe r, const mlu_fe a) {
  fe_mul(r, a, a);
}

/* r = a^(2^k). */
static void fe_sqn(mlu_fe r, const mlu_fe a, unsigned k) {
  fe_sq(r, a);
  while (--k) {
    fe_sq(r, r);
  }
}

/* Bytes (little-endian, bit 255 ignored) to a field element. */
static void fe_frombytes(mlu_fe r, const uint8_t s[32]) {
  unsigned i;
  for (i = 0; i < 8; ++i) {
    r[i] = mlu_load32_le(s + 4 * i);
  }
  r[7] &= 0x7fffffffu;
}

/* The canonical encoding (value mod p, little-endian). */
static void fe_tobytes(uint8_t s[32], const mlu_fe a) {
  mlu_fe r, t;
  unsigned i, k;
  fe_copy(r, a);
  /* a < 2^256 = 2p + 38, so two conditional subtractions of p reduce it. */
  for (k = 0; k < 2; ++k) {
    uint64_t d;
    uint32_t borrow = 0u, mask;
    static const uint32_t p[8] = {0xffffffedu, 0xffffffffu, 0xffffffffu, 0xffffffffu,
                                  0xffffffffu, 0xffffffffu, 0xffffffffu, 0x7fffffffu};
    for (i = 0; i < 8; ++i) {
      d = (uint64_t)r[i] - p[i] - borrow;
      t[i] = (uint32_t)d;
      borrow = (uint32_t)(d >> 32) & 1u;
    }
    mask = borrow - 1u; /* all ones when r >= p: keep t */
    for (i = 0; i < 8; ++i) {
      r[i] = (t[i] & mask) | (r[i] & ~mask);
    }
  }
  for (i = 0; i < 8; ++i) {
    mlu_store32_le(s + 4 * i, r[i]);
  }
}

static int fe_equal(const mlu_fe a, const mlu_fe b) {
  uint8_t sa[32], sb[32];
  fe_tobytes(sa, a);
  fe_tobytes(sb, b);
  return mlu_ct_equal(sa, sb, 32);
}

static int fe_iszero(const mlu_fe a) {
  static const mlu_fe zero = {0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u};
  return fe_equal(a, zero);
}

static int fe_isodd(const mlu_fe a) {
  uint8_t s[32];
  fe_tobytes(s, a);
  return s[0] & 1;
}

/* z^(2^250 - 1) into r, and z^11 into z11 (the common part of both chains). */
static void fe_pow_2_250_1(mlu_fe r, mlu_fe z11, const mlu_fe z) {
  mlu_fe t0, t1, t2;
  fe_sq(t0, z);             /* z^2 */
  fe_sqn(t1, t0, 2);        /* z^8 */
  fe_mul(t1, t1, z);        /* z^9 */
  fe_mul(z11, t1, t0);      /* z^11 */
  fe_sq(t0, z11);           /* z^22 */
  fe_mul(t0, t0, t1);       /* z^31 = z^(2^5 - 1) */
  fe_sqn(t1, t0, 5);
  fe_mul(t0, t1, t0);       /* z^(2^10 - 1) */
  fe_sqn(t1, t0, 10);
  fe_mul(t1, t1, t0);       /* z^(2^20 - 1) */
  fe_sqn(t2, t1, 20);
  fe_mul(t1, t2, t1);       /* z^(2^40 - 1) */
  fe_sqn(t1, t1, 10);
  fe_mul(t0, t1, t0);       /* z^(2^50 - 1) */
  fe_sqn(t1, t0, 50);
  fe_mul(t1, t1, t0);       /* z^(2^100 - 1) */
  fe_sqn(t2, t1, 100);
  fe_mul(t1, t2, t1);       /* z^(2^200 - 1) */
  fe_sqn(t1, t1, 50);
  fe_mul(r, t1, t0);        /* z^(2^250 - 1) */
}

/* r = 1/z = z^(p - 2) = z^(2^255 - 21). */
static void fe_invert(mlu_fe r, const mlu_fe z) {
  mlu_fe t, z11;
  fe_pow_2_250_1(t, z11, z);
  fe_sqn(t, t, 5);          /* z^(2^255 - 32) */
  fe_mul(r, t, z11);
}

/* r = z^((p - 5) / 8) = z^(2^252 - 3). */
static void fe_pow_p58(mlu_fe r, const mlu_fe z) {
  mlu_fe t, z11;
  fe_pow_2_250_1(t, z11, z);
  fe_sqn(t, t, 2);          /* z^(2^252 - 4) */
  fe_mul(r, t, z);
}

/* ---- group operations ----------------------------------------------- */

/* r = p + q (RFC 8032 5.1.4, add-2008-hwcd-3); r may alias p or q. */
static void ge_add(mlu_ge *r, const mlu_ge *p, const mlu_ge *q) {
  mlu_fe a, b, c, d, t;
  fe_sub(a, p->y, p->x);
  fe_sub(t, q->y, q->x);
  fe_mul(a, a, t);
  fe_add(b, p->y, p->x);
  fe_add(t, q->y, q->x);
  fe_mul(b, b, t);
  fe_mul(c, p->t, q->t);
  fe_mul(c, c, mlu_ed_d2);
  fe_mul(d, p->z, q->z);
  fe_add(d, d, d);
  /* e = b - a, f = d - c, g = d + c, h = b + a */
  fe_sub(t, b, a);          /* e */
  fe_add(b, b, a);          /* h */
  fe_sub(a, d, c);          /* f */
  fe_add(d, d, c);          /* g */
  fe_mul(r->x, t, a);
  fe_mul(r->y, d, b);
  fe_mul(r->t, t, b);
  fe_mul(r->z, a, d);
}

/* r = 2p (RFC 8032 5.1.4, dbl-2008-hwcd); r may alias p. */
static void ge_double(mlu_ge *r, const mlu_ge *p) {
  mlu_fe a, b, c, h, t;
  fe_sq(a, p->x);
  fe_sq(b, p->y);
  fe_sq(c, p->z);
  fe_add(c, c, c);
  fe_add(h, a, b);
  fe_add(t, p->x, p->y);
  fe_sq(t, t);
  fe_sub(t, h, t);          /* e = h - (x + y)^2 */
  fe_sub(a, a, b);          /* g = a - b */
  fe_add(c, c, a);          /* f = c + g */
  fe_mul(r->x, t, c);
  fe_mul(r->y, a, h);
  fe_mul(r->t, t, h);
  fe_mul(r->z, c, a);
}

/* Decode a point (RFC 8032 5.1.3); 1 on success, 0 when s is no point. */
static int ge_frombytes(mlu_ge *r, const uint8_t s[32]) {
  mlu_fe u, v, v3, t;
  unsigned i;
  int sign = s[31] >> 7;
  /* y must be canonical: y < p. y >= p only if y = 2^255 - 19 .. 2^255 - 1,
   * i.e. all bytes 0xff (top one 0x7f after the sign bit) and s[0] >= 0xed. */
  uint32_t high = (uint32_t)(s[31] & 0x7fu) ^ 0x7fu;
  for (i = 1; i < 31; ++i) {
    high |= (uint32_t)s[i] ^ 0xffu;
  }
  if (high == 0u && s[0] >= 0xedu) {
    return 0;
  }
  fe_frombytes(r->y, s);
  fe_set(r->z, 1u);
  fe_sq(u, r->y);
  fe_mul(v, u, mlu_ed_d);
  fe_sub(u, u, r->z);       /* u = y^2 - 1 */
  fe_add(v, v, r->z);       /* v = d y^2 + 1 */
  fe_sq(v3, v);
  fe_mul(v3, v3, v);        /* v^3 */
  fe_sq(t, v3);
  fe_mul(t, t, v);          /* v^7 */
  fe_mul(t, t, u);          /* u v^7 */
  fe_pow_p58(t, t);
  fe_mul(t, t, v3);
  fe_mul(r->x, t, u);       /* x = u v^3 (u v^7)^((p-5)/8) */
  fe_sq(t, r->x);
  fe_mul(t, t, v);          /* v x^2 */
  if (!fe_equal(t, u)) {
    fe_add(t, t, u);
    if (!fe_iszero(t)) {
      return 0;             /* u/v is not a square: no such x */
    }
    fe_mul(r->x, r->x, mlu_ed_sqrtm1);
  }
  if (fe_isodd(r->x) != sign) {
    if (fe_iszero(r->x)) {
      return 0;             /* x = 0 with the sign bit set */
    }
    fe_set(t, 0u);
    fe_sub(r->x, t, r->x);
  }
  fe_mul(r->t, r->x, r->y);
  return 1;
}

static void ge_tobytes(uint8_t s[32], const mlu_ge *p) {
  mlu_fe zi, x, y;
  fe_invert(zi, p->z);
  fe_mul(x, p->x, zi);
  fe_mul(y, p->y, zi);
  fe_tobytes(s, y);
  s[31] = (uint8_t)(s[31] | (fe_isodd(x) << 7));
}

/* ---- scalars mod L ------------------------------------------------------ */

/* 1 when the 256-bit little-endian s is below L. */
static int sc_is_canonical(const uint8_t s[32]) {
  uint64_t t;
  uint32_t borrow = 0u;
  unsigned i;
  for (i = 0; i < 8; ++i) {
    t = (uint64_t)mlu_load32_le(s + 4 * i) - mlu_ed_l[i] - borrow;
    borrow = (uint32_t)(t >> 32) & 1u;
  }
  return (int)borrow;
}

/* r = the 512-bit little-endian h mod L, as 8 little-endian words: binary
 * long division, most significant bit first (r < L < 2^253 throughout, so
 * 2r + 1 fits 256 bits). */
static void sc_reduce512(uint32_t r[8], const uint8_t h[64]) {
  uint32_t t[8];
  unsigned i, bit;
  for (i = 0; i < 8; ++i) {
    r[i] = 0u;
  }
  for (bit = 512; bit-- > 0;) {
    uint64_t d;
    uint32_t in = (uint32_t)(h[bit >> 3] >> (bit & 7u)) & 1u, borrow = 0u, mask;
    for (i = 8; i-- > 1;) {
      r[i] = (r[i] << 1) | (r[i - 1] >> 31);
    }
    r[0] = (r[0] << 1) | in;
    for (i = 0; i < 8; ++i) {
      d = (uint64_t)r[i] - mlu_ed_l[i] - borrow;
      t[i] = (uint32_t)d;
      borrow = (uint32_t)(d >> 32) & 1u;
    }
    mask = borrow - 1u; /* all ones when r >= L: keep r - L */
    for (i = 0; i < 8; ++i) {
      r[i] = (t[i] & mask) | (r[i] & ~mask);
    }
  }
}

static unsigned sc_bit(const uint32_t *s, unsigned i) {
  return (unsigned)(s[i >> 5] >> (i & 31u)) & 1u;
}

/* ---- verification ------------------------------------------------------- */

/* r = [s]B + [k]q, s and k below 2^253 (Straus-Shamir: one doubling per bit,
 * one addition of B, q or B + q). */
static void ge_double_scalarmult(mlu_ge *r, const uint32_t s[8], const uint32_t k[8],
                                 const mlu_ge *q) {
  mlu_ge bq;
  unsigned i;
  ge_add(&bq, &mlu_ed_base, q);
  fe_set(r->x, 0u);
  fe_set(r->y, 1u);
  fe_set(r->z, 1u);
  fe_set(r->t, 0u);
  for (i = 253; i-- > 0;) {
    unsigned sel = sc_bit(s, i) | (sc_bit(k, i) << 1);
    ge_double(r, r);
    if (sel == 1u) {
      ge_add(r, r, &mlu_ed_base);
    } else if (sel == 2u) {
      ge_add(r, r, q);
    } else if (sel == 3u) {
      ge_add(r, r, &bq);
    }
  }
}

/* 1 when the 32 bytes decode to a point (RFC 8032 5.1.3). */
static int ed_decodes(const uint8_t s[32]) {
  mlu_ge p;
  return ge_frombytes(&p, s);
}

int mlu_ed25519_verify2(const uint8_t sig[64], const uint8_t *m1, size_t n1,
                        const uint8_t *m2, size_t n2, const uint8_t pub[32]) {
  mlu_sha512_ctx h;
  uint8_t digest[64], check[32];
  uint32_t s[8], k[8];
  mlu_ge a, r;
  mlu_fe zero;
  unsigned i;
  if (!sc_is_canonical(sig + 32)) {
    return 0;
  }
  if (!ge_frombytes(&a, pub) || !ed_decodes(sig)) {
    return 0;
  }
  /* k = SHA-512(R || A || M) mod L */
  mlu_sha512_init(&h);
  mlu_sha512_update(&h, sig, 32);
  mlu_sha512_update(&h, pub, 32);
  if (n1 > 0u) {
    mlu_sha512_update(&h, m1, n1);
  }
  if (n2 > 0u) {
    mlu_sha512_update(&h, m2, n2);
  }
  mlu_sha512_final(&h, digest);
  sc_reduce512(k, digest);
  for (i = 0; i < 8; ++i) {
    s[i] = mlu_load32_le(sig + 32 + 4 * i);
  }
  /* [S]B - [k]A must encode to R. */
  fe_set(zero, 0u);
  fe_sub(a.x, zero, a.x);
  fe_sub(a.t, zero, a.t);
  ge_double_scalarmult(&r, s, k, &a);
  ge_tobytes(check, &r);
  return mlu_ct_equal(check, sig, 32);
}

int mlu_ed25519_verify(const uint8_t sig[64], const uint8_t *msg, size_t len,
                       const uint8_t pub[32]) {
  return mlu_ed25519_verify2(sig, msg, len, (const uint8_t *)0, 0u, pub);
}

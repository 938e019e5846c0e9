/* Fuzz the update verifier (mlu_update.c) in one process, built with
 * -fsanitize=address,undefined by tests/test_update.py.
 *
 *   fuzz_update MODEL SEED_BLOB IMAGE ITERATIONS RNG_SEED
 *
 * MODEL (little-endian): target id, ABI, arena bytes, image bytes, installed
 * version (5 x u32), schema hash (32), public key (32), has AEAD key (1), AEAD
 * key (32). SEED_BLOB is a valid update for MODEL, IMAGE the image it installs.
 *
 * Every iteration builds one blob in a heap buffer of exactly its length (so
 * AddressSanitizer sees any read past it): random bytes, random bytes behind a
 * valid header, the seed with a few bytes mutated, truncated, extended, or a
 * header field set to an edge value; every tenth the seed itself. Invariants:
 * the result is a known code; it is OK exactly when the blob equals the seed;
 * writes stay inside the image, arrive in order, and never happen for a
 * rejected blob; an accepted blob installs IMAGE. Prints the count per code. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlu_update.h"

static uint64_t rng_state;

static uint32_t rnd(void) { /* xorshift64* */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (uint32_t)((rng_state * 2685821657736338717ull) >> 32);
}

static uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  uint8_t *data;
  long n;
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fseek(f, 0, SEEK_SET);
  data = (uint8_t *)malloc(n > 0 ? (size_t)n : 1u);
  if (data && n > 0 && fread(data, 1, (size_t)n, f) != (size_t)n) {
    free(data);
    data = NULL;
  }
  fclose(f);
  *len = (size_t)n;
  return data;
}

static uint32_t u32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
         ((uint32_t)p[3] << 24);
}

typedef struct {
  uint8_t *slot;
  uint32_t size, next;
  int writes, bad;
} sink;

static int sink_write(void *ctx, uint32_t offset, const uint8_t *p, size_t n) {
  sink *s = (sink *)ctx;
  s->writes++;
  if (offset != s->next || offset > s->size || n > s->size - offset || n == 0 ||
      n > MLU_UPDATE_CHUNK) {
    s->bad = 1;
    return -1;
  }
  memcpy(s->slot + offset, p, n);
  s->next = offset + (uint32_t)n;
  return 0;
}

int main(int argc, char **argv) {
  size_t model_len, seed_len, image_len, len, i;
  uint8_t *model_file, *seed, *image;
  mlu_update_model m;
  uint32_t installed, iterations, it, version;
  long counts[16] = {0};
  int failures = 0;
  if (argc != 6) {
    fprintf(stderr, "usage: fuzz_update MODEL SEED_BLOB IMAGE ITERATIONS RNG_SEED\n");
    return 2;
  }
  model_file = read_file(argv[1], &model_len);
  seed = read_file(argv[2], &seed_len);
  image = read_file(argv[3], &image_len);
  if (!model_file || model_len != 20 + 32 + 32 + 1 + 32 || !seed || !image) {
    fprintf(stderr, "bad input files\n");
    return 2;
  }
  iterations = (uint32_t)strtoul(argv[4], NULL, 10);
  rng_state = (uint64_t)strtoull(argv[5], NULL, 10) * 0x9E3779B97F4A7C15ull + 1u;
  m.target_id = u32(model_file);
  m.abi_version = u32(model_file + 4);
  m.arena_bytes = u32(model_file + 8);
  m.image_bytes = u32(model_file + 12);
  installed = u32(model_file + 16);
  m.schema_hash = model_file + 20;
  m.public_key = model_file + 52;
  m.aead_key = model_file[84] ? model_file + 85 : NULL;
  if (image_len != m.image_bytes) {
    fprintf(stderr, "image size does not match the model\n");
    return 2;
  }

  for (it = 0; it < iterations; ++it) {
    uint32_t kind = it % 10u == 9u ? 99u : rnd() % 6u;
    uint8_t *blob;
    sink s;
    int rc, same;
    switch (kind) {
      case 0: len = rnd() % (2u * seed_len + 1u); break;           /* random */
      case 1: len = 80u + rnd() % (2u * seed_len); break;          /* header + random */
      case 3: len = rnd() % seed_len; break;                       /* truncated */
      case 4: len = seed_len + 1u + rnd() % 64u; break;            /* extended */
      default: len = seed_len; break;                              /* mutated, fields, seed */
    }
    blob = (uint8_t *)malloc(len ? len : 1u);
    if (!blob) return 2;
    for (i = 0; i < len; ++i) blob[i] = (uint8_t)rnd();
    if (kind == 1) memcpy(blob, seed, 80u);
    if (kind >= 2) memcpy(blob, seed, len < seed_len ? len : seed_len);
    if (kind == 2) { /* 1-4 random bytes, biased towards the header */
      uint32_t k, nmut = 1u + rnd() % 4u;
      for (k = 0; k < nmut; ++k) {
        size_t at = (rnd() & 1u) ? rnd() % 80u : rnd() % len;
        blob[at] = (uint8_t)rnd();
      }
    } else if (kind == 5) { /* a 32-bit header field set to an edge value */
      static const uint32_t edges[] = {0u, 1u, 0x7FFFFFFFu, 0x80000000u, 0xFFFFFFFFu,
                                       0xFFFFFFB0u, 0xFFFFFFA0u};
      uint32_t v = (rnd() & 1u) ? edges[rnd() % 7u] : rnd();
      size_t at = 4u * (1u + rnd() % 19u);
      blob[at] = (uint8_t)v;
      blob[at + 1] = (uint8_t)(v >> 8);
      blob[at + 2] = (uint8_t)(v >> 16);
      blob[at + 3] = (uint8_t)(v >> 24);
    }
    same = len == seed_len && memcmp(blob, seed, len) == 0;
    s.slot = (uint8_t *)malloc(m.image_bytes ? m.image_bytes : 1u);
    if (!s.slot) return 2;
    memset(s.slot, 0xA5, m.image_bytes);
    s.size = m.image_bytes;
    s.next = 0u;
    s.writes = s.bad = 0;
    version = 0u;
    rc = mlu_update_install(&m, blob, len, installed, sink_write, &s, &version);
    if (rc < 0 || rc > 15) {
      fprintf(stderr, "iteration %u: unknown code %d\n", it, rc);
      failures++;
    } else {
      counts[rc]++;
    }
    if ((rc == MLU_UPDATE_OK) != same) {
      fprintf(stderr, "iteration %u (kind %u, %zu bytes): code %d (%s) for a blob that %s "
              "the seed\n", it, kind, len, rc, mlu_update_strerror(rc),
              same ? "is" : "is not");
      failures++;
    }
    if (s.bad || (rc != MLU_UPDATE_OK && s.writes != 0)) {
      fprintf(stderr, "iteration %u: bad write sequence (code %d, %d writes)\n", it, rc,
              s.writes);
      failures++;
    }
    if (rc == MLU_UPDATE_OK &&
        (s.next != m.image_bytes || memcmp(s.slot, image, m.image_bytes) != 0 ||
         version != u32(seed + 12))) {
      fprintf(stderr, "iteration %u: accepted but installed the wrong image\n", it);
      failures++;
    }
    free(s.slot);
    free(blob);
    if (failures > 20) break;
  }
  printf("iterations %u failures %d codes", it, failures);
  for (i = 0; i < 16u; ++i) printf(" %ld", counts[i]);
  printf("\n");
  free(model_file);
  free(seed);
  free(image);
  return failures ? 1 : 0;
}

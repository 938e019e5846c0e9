/* A minimal Cortex-M firmware around microlith's update crypto for
 * tests/test_crypto_c.py: the test loads the ELF in Unicorn, writes a
 * signature, message and key into mlu_fw_buf and calls mlu_ed25519_verify
 * (or the AEAD functions) directly. main() only returns. */
#include <stdint.h>

#include "mlu_chacha20poly1305.h"
#include "mlu_ed25519.h"
#include "mlu_sha256.h"
#include "mlu_sha512.h"

/* Scratch the emulator writes arguments into (test code, not runtime code). */
uint8_t mlu_fw_buf[4096] __attribute__((aligned(8)));

int main(void) {
  return 0;
}

static uint32_t fw_load32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
         ((uint32_t)p[3] << 24);
}

/* Decrypt in place, in chunks of 50 bytes, the block at p laid out as
 * key[32] nonce[12] tag[16] aad_len[4] n[4] aad[aad_len] ciphertext[n]
 * (lengths little-endian); returns the tag result. */
int mlu_fw_aead_decrypt(uint8_t *p);
int mlu_fw_aead_decrypt(uint8_t *p) {
  mlu_aead_ctx c;
  uint32_t aad_len = fw_load32(p + 60), n = fw_load32(p + 64), pos, k;
  uint8_t *text = p + 68 + aad_len;
  mlu_aead_init(&c, p, p + 32, p + 68, aad_len);
  for (pos = 0; pos < n; pos += k) {
    k = n - pos < 50u ? n - pos : 50u;
    mlu_aead_decrypt_update(&c, text + pos, text + pos, k);
  }
  return mlu_aead_decrypt_final(&c, p + 44);
}

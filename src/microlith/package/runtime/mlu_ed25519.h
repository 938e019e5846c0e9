/* microlith update runtime: Ed25519 signature verification (RFC 8032,
 * "pure" Ed25519 without context). Portable C99, no dynamic memory, no
 * tables in RAM; about 1.5 KB of stack. Verification handles only public
 * data (signature, message, public key). */
#ifndef MLU_ED25519_H
#define MLU_ED25519_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 1 when sig is a valid Ed25519 (RFC 8032, pure, no context) signature of
 * msg by pub, else 0. Rejects a non-canonical S (S >= L) and a public key or
 * R that does not decode (RFC 8032 5.1.3). The check is the cofactorless
 * equation: encode([S]B - [k]A) == R. */
int mlu_ed25519_verify(const uint8_t sig[64], const uint8_t *msg, size_t len,
                       const uint8_t pub[32]);

/* The same, with the message given as two parts (m1 then m2, e.g. a header
 * and a payload) so callers need no copy. A part of length 0 may be NULL. */
int mlu_ed25519_verify2(const uint8_t sig[64], const uint8_t *m1, size_t n1,
                        const uint8_t *m2, size_t n2, const uint8_t pub[32]);

#ifdef __cplusplus
}
#endif

#endif /* MLU_ED25519_H */

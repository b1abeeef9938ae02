/* worker: one-pass SHA-256 (OpenSSL) and XXH3-128 (libxxhash) over the same bytes. */
#ifndef INGESTD_HASHPASS_H
#define INGESTD_HASHPASS_H

#include <stddef.h>
#include <stdint.h>

#define HASHPASS_SHA256_LEN	32
#define HASHPASS_XXH128_LEN	16

struct hashpass {
	void	*sha;		/* EVP_MD_CTX */
	void	*xxh;		/* XXH3_state_t */
};

/*
 * Initialise OpenSSL without reading its config file, fetch SHA-256 once
 * and run one tiny digest of each kind, so that nothing is loaded or
 * allocated lazily later (the worker calls this before its sandbox).
 * Idempotent; hashpass_init calls it too.  Returns 0 or -1.
 */
int	hashpass_setup(void);

/* Start a new pass: allocate both states.  Returns 0 or -1. */
int	hashpass_init(struct hashpass *);
/* Feed the next n bytes to both hashes.  Returns 0 or -1. */
int	hashpass_update(struct hashpass *, const void *, size_t n);
/*
 * Finish the pass: the SHA-256 digest and the XXH3-128 hash in its
 * canonical (big-endian) form.  Returns 0 or -1.  Call hashpass_free after.
 */
int	hashpass_final(struct hashpass *, uint8_t sha256[HASHPASS_SHA256_LEN],
	    uint8_t xxh128[HASHPASS_XXH128_LEN]);
/* Release both states; safe on a zeroed or already freed struct. */
void	hashpass_free(struct hashpass *);

#endif

/* worker: one-pass SHA-256 + XXH3-128; owns the fetched OpenSSL SHA-256 method. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <xxhash.h>

#include "hashpass.h"

static EVP_MD	*sha256_md;	/* fetched once, kept for the process lifetime */

static int
hashpass_selftest(void)
{
	struct hashpass hp = { NULL, NULL };
	uint8_t sha[HASHPASS_SHA256_LEN], xxh[HASHPASS_XXH128_LEN];
	int rc;

	rc = hashpass_init(&hp) == 0 && hashpass_update(&hp, "x", 1) == 0 &&
	    hashpass_final(&hp, sha, xxh) == 0 ? 0 : -1;
	hashpass_free(&hp);
	return rc;
}

int
hashpass_setup(void)
{
	if (sha256_md != NULL)
		return 0;
	if (OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL) != 1)
		return -1;
	if ((sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL)
		return -1;
	if (hashpass_selftest() == -1) {
		EVP_MD_free(sha256_md);
		sha256_md = NULL;
		return -1;
	}
	return 0;
}

int
hashpass_init(struct hashpass *hp)
{
	hp->sha = NULL;
	hp->xxh = NULL;
	if (hashpass_setup() == -1)
		return -1;
	if ((hp->sha = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex2(hp->sha, sha256_md, NULL) != 1)
		goto fail;
	if ((hp->xxh = XXH3_createState()) == NULL ||
	    XXH3_128bits_reset(hp->xxh) != XXH_OK)
		goto fail;
	return 0;
fail:
	hashpass_free(hp);
	return -1;
}

int
hashpass_update(struct hashpass *hp, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	if (EVP_DigestUpdate(hp->sha, p, n) != 1)
		return -1;
	if (XXH3_128bits_update(hp->xxh, p, n) != XXH_OK)
		return -1;
	return 0;
}

int
hashpass_final(struct hashpass *hp, uint8_t sha256[HASHPASS_SHA256_LEN],
    uint8_t xxh128[HASHPASS_XXH128_LEN])
{
	XXH128_canonical_t canon;
	unsigned int len = 0;

	if (EVP_DigestFinal_ex(hp->sha, sha256, &len) != 1 ||
	    len != HASHPASS_SHA256_LEN)
		return -1;
	XXH128_canonicalFromHash(&canon, XXH3_128bits_digest(hp->xxh));
	memcpy(xxh128, canon.digest, HASHPASS_XXH128_LEN);
	return 0;
}

void
hashpass_free(struct hashpass *hp)
{
	EVP_MD_CTX_free(hp->sha);
	hp->sha = NULL;
	if (hp->xxh != NULL)
		XXH3_freeState(hp->xxh);
	hp->xxh = NULL;
}

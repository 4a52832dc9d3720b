/*
 * pki.h - the embedded API server's credentials: a self-signed CA, a
 * serving certificate for 127.0.0.1/localhost signed by it, a bearer token,
 * and the kubeconfig that hands them to kubectl.
 *
 * All are created on first start under <state-dir>/pki (mode 0700, files
 * 0600) and reused afterwards, so a kubeconfig written once keeps working
 * across restarts. Each file is written to a temporary name, fsynced and
 * renamed: a crash never leaves half a key.
 */
#ifndef DYNVOL_APISERVER_PKI_H
#define DYNVOL_APISERVER_PKI_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
	char *ca_pem;     /* CA certificate */
	char *cert_pem;   /* serving certificate */
	char *key_pem;    /* serving key (never logged) */
	char *token;      /* bearer token (never logged) */
} dv_pki;

/* Loads or creates the credentials under state_dir. 0 or -errno; err says
 * what failed. */
int dv_pki_ensure(const char *state_dir, dv_pki *pki, char *err, size_t errlen);
void dv_pki_free(dv_pki *pki);

/* Writes <state_dir>/kubeconfig pointing at server_url ("https://127.0.0.1:6443"
 * or "http://..."), with the CA and token. */
int dv_pki_write_kubeconfig(const char *state_dir, const dv_pki *pki, const char *server_url,
			    char *err, size_t errlen);

/* Constant-time comparison of a presented bearer token with the expected
 * one (NULLs never match). */
bool dv_token_equal(const char *expected, const char *presented);

/* Writes data to dir/name atomically (tmp + fsync + rename + dir fsync). */
int dv_write_file_atomic(const char *dir, const char *name, const void *data, size_t len,
			 int mode);

#endif

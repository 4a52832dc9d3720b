/*
 * pki.c - CA, serving certificate, token and kubeconfig (see pki.h).
 *
 * GnuTLS does the cryptography; this file only decides names, lifetimes and
 * where things live. Keys are ECDSA P-256: small, fast handshakes, and
 * accepted by Go's crypto/tls (kubectl).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "pki.h"
#include "strutil.h"

#define CA_DAYS 3650
#define CERT_DAYS 3650
#define MAX_PEM (64 * 1024)

int dv_write_file_atomic(const char *dir, const char *name, const void *data, size_t len,
			 int mode)
{
	char tmp[4096], dst[4096];
	if (snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name) >= (int)sizeof tmp ||
	    snprintf(dst, sizeof dst, "%s/%s", dir, name) >= (int)sizeof dst)
		return -ENAMETOOLONG;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return -errno;
	const char *p = data;
	size_t left = len;
	while (left > 0) {
		ssize_t n = write(fd, p, left);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = -errno;
			close(fd);
			unlink(tmp);
			return e;
		}
		p += n;
		left -= (size_t)n;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		int e = -errno;
		unlink(tmp);
		return e;
	}
	if (rename(tmp, dst) < 0) {
		int e = -errno;
		unlink(tmp);
		return e;
	}
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

/* Reads a whole small file; NULL with errno set when absent or too big. */
static char *read_small(const char *dir, const char *name)
{
	char path[4096];
	if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return NULL;
	dv_buf b;
	dv_buf_init(&b, MAX_PEM);
	char chunk[4096];
	int e = 0;
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			e = errno;
			break;
		}
		if (n == 0)
			break;
		if (dv_buf_append(&b, chunk, (size_t)n) < 0) {
			e = EFBIG;
			break;
		}
	}
	if (e) {
		close(fd);
		dv_buf_free(&b);
		errno = e;
		return NULL;
	}
	close(fd);
	return dv_buf_steal(&b);
}

static char *datum_to_str(gnutls_datum_t *d)
{
	char *s = malloc(d->size + 1);
	if (s) {
		memcpy(s, d->data, d->size);
		s[d->size] = '\0';
	}
	gnutls_free(d->data);
	d->data = NULL;
	return s;
}

static int set_serial(gnutls_x509_crt_t crt)
{
	unsigned char serial[16];
	if (getrandom(serial, sizeof serial, 0) != (ssize_t)sizeof serial)
		return -EIO;
	serial[0] &= 0x7f; /* positive */
	return gnutls_x509_crt_set_serial(crt, serial, sizeof serial);
}

/* Fills the fields the CA and the serving certificate share. */
static int crt_common(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key, const char *cn, int days)
{
	time_t now = time(NULL);
	int r;
	if ((r = gnutls_x509_crt_set_version(crt, 3)) < 0 ||
	    (r = set_serial(crt)) < 0 ||
	    (r = gnutls_x509_crt_set_activation_time(crt, now - 3600)) < 0 ||
	    (r = gnutls_x509_crt_set_expiration_time(crt, now + (time_t)days * 86400)) < 0 ||
	    (r = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
					       (unsigned)strlen(cn))) < 0 ||
	    (r = gnutls_x509_crt_set_key(crt, key)) < 0)
		return r;
	return 0;
}

static int gen_key(gnutls_x509_privkey_t *key)
{
	int r = gnutls_x509_privkey_init(key);
	if (r < 0)
		return r;
	r = gnutls_x509_privkey_generate(*key, GNUTLS_PK_ECDSA,
					 GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
	if (r < 0)
		gnutls_x509_privkey_deinit(*key);
	return r;
}

static int export_crt(gnutls_x509_crt_t crt, char **out)
{
	gnutls_datum_t d = { 0 };
	int r = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &d);
	if (r < 0)
		return r;
	*out = datum_to_str(&d);
	return *out ? 0 : GNUTLS_E_MEMORY_ERROR;
}

static int export_key(gnutls_x509_privkey_t key, char **out)
{
	gnutls_datum_t d = { 0 };
	int r = gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &d);
	if (r < 0)
		return r;
	*out = datum_to_str(&d);
	return *out ? 0 : GNUTLS_E_MEMORY_ERROR;
}

/* Creates a CA and a serving certificate for 127.0.0.1, ::1 and localhost. */
static int generate(dv_pki *pki, char **ca_key_pem)
{
	gnutls_x509_privkey_t ca_key = NULL, key = NULL;
	gnutls_x509_crt_t ca = NULL, crt = NULL;
	int r;
	if ((r = gen_key(&ca_key)) < 0)
		return r;
	if ((r = gen_key(&key)) < 0)
		goto out;
	if ((r = gnutls_x509_crt_init(&ca)) < 0 || (r = gnutls_x509_crt_init(&crt)) < 0)
		goto out;

	if ((r = crt_common(ca, ca_key, "dynvol-ca", CA_DAYS)) < 0 ||
	    (r = gnutls_x509_crt_set_basic_constraints(ca, 1, -1)) < 0 ||
	    (r = gnutls_x509_crt_set_key_usage(ca, GNUTLS_KEY_KEY_CERT_SIGN |
						       GNUTLS_KEY_CRL_SIGN |
						       GNUTLS_KEY_DIGITAL_SIGNATURE)) < 0)
		goto out;
	{
		unsigned char id[20];
		size_t idlen = sizeof id;
		if ((r = gnutls_x509_crt_get_key_id(ca, 0, id, &idlen)) < 0 ||
		    (r = gnutls_x509_crt_set_subject_key_id(ca, id, idlen)) < 0)
			goto out;
	}
	if ((r = gnutls_x509_crt_sign2(ca, ca, ca_key, GNUTLS_DIG_SHA256, 0)) < 0)
		goto out;

	static const unsigned char v4[] = { 127, 0, 0, 1 };
	static const unsigned char v6[16] = { [15] = 1 };
	if ((r = crt_common(crt, key, "dynvol-apiserver", CERT_DAYS)) < 0 ||
	    (r = gnutls_x509_crt_set_basic_constraints(crt, 0, -1)) < 0 ||
	    (r = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE |
							GNUTLS_KEY_KEY_ENCIPHERMENT)) < 0 ||
	    (r = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0)) < 0 ||
	    (r = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, "localhost",
						      9, GNUTLS_FSAN_APPEND)) < 0 ||
	    (r = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, v4, 4,
						      GNUTLS_FSAN_APPEND)) < 0 ||
	    (r = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, v6, 16,
						      GNUTLS_FSAN_APPEND)) < 0)
		goto out;
	{
		unsigned char id[20];
		size_t idlen = sizeof id;
		if ((r = gnutls_x509_crt_get_key_id(ca, 0, id, &idlen)) < 0 ||
		    (r = gnutls_x509_crt_set_authority_key_id(crt, id, idlen)) < 0)
			goto out;
	}
	if ((r = gnutls_x509_crt_sign2(crt, ca, ca_key, GNUTLS_DIG_SHA256, 0)) < 0)
		goto out;

	if ((r = export_crt(ca, &pki->ca_pem)) < 0 || (r = export_crt(crt, &pki->cert_pem)) < 0 ||
	    (r = export_key(key, &pki->key_pem)) < 0 || (r = export_key(ca_key, ca_key_pem)) < 0)
		goto out;
	r = 0;
out:
	if (ca)
		gnutls_x509_crt_deinit(ca);
	if (crt)
		gnutls_x509_crt_deinit(crt);
	if (ca_key)
		gnutls_x509_privkey_deinit(ca_key);
	if (key)
		gnutls_x509_privkey_deinit(key);
	return r;
}

static char *new_token(void)
{
	unsigned char raw[24];
	if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
		return NULL;
	char *t = malloc(sizeof raw * 2 + 1);
	if (!t)
		return NULL;
	for (size_t i = 0; i < sizeof raw; i++)
		snprintf(t + 2 * i, 3, "%02x", raw[i]);
	return t;
}

static void chomp(char *s)
{
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
		s[--n] = '\0';
}

int dv_pki_ensure(const char *state_dir, dv_pki *pki, char *err, size_t errlen)
{
	char dir[4096];
	memset(pki, 0, sizeof *pki);
	if (snprintf(dir, sizeof dir, "%s/pki", state_dir) >= (int)sizeof dir) {
		snprintf(err, errlen, "state dir path too long");
		return -ENAMETOOLONG;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		int e = errno;
		snprintf(err, errlen, "mkdir %s: %s", dir, strerror(e));
		return -e;
	}
	pki->ca_pem = read_small(dir, "ca.crt");
	pki->cert_pem = read_small(dir, "apiserver.crt");
	pki->key_pem = read_small(dir, "apiserver.key");
	pki->token = read_small(dir, "token");
	if (pki->ca_pem && pki->cert_pem && pki->key_pem && pki->token) {
		chomp(pki->token);
		if (strlen(pki->token) >= 16)
			return 0;
	}
	/* Some part is missing or damaged: start over as a whole, so the
	 * certificate always matches its key and CA. */
	dv_pki_free(pki);
	char *ca_key = NULL;
	int r = generate(pki, &ca_key);
	if (r < 0) {
		snprintf(err, errlen, "generating certificates: %s", gnutls_strerror(r));
		free(ca_key);
		dv_pki_free(pki);
		return -EIO;
	}
	pki->token = new_token();
	if (!pki->token) {
		free(ca_key);
		dv_pki_free(pki);
		snprintf(err, errlen, "generating token failed");
		return -EIO;
	}
	/* Token and key first, certificates last: the certificate files'
	 * presence marks a complete set. */
	struct {
		const char *name;
		const char *data;
		int mode;
	} files[] = {
		{ "ca.key", ca_key, 0600 },         { "token", pki->token, 0600 },
		{ "apiserver.key", pki->key_pem, 0600 }, { "ca.crt", pki->ca_pem, 0644 },
		{ "apiserver.crt", pki->cert_pem, 0644 },
	};
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		r = dv_write_file_atomic(dir, files[i].name, files[i].data, strlen(files[i].data),
					 files[i].mode);
		if (r < 0) {
			snprintf(err, errlen, "writing %s/%s: %s", dir, files[i].name, strerror(-r));
			free(ca_key);
			dv_pki_free(pki);
			return r;
		}
	}
	free(ca_key);
	return 0;
}

void dv_pki_free(dv_pki *pki)
{
	free(pki->ca_pem);
	free(pki->cert_pem);
	if (pki->key_pem)
		explicit_bzero(pki->key_pem, strlen(pki->key_pem));
	free(pki->key_pem);
	if (pki->token)
		explicit_bzero(pki->token, strlen(pki->token));
	free(pki->token);
	memset(pki, 0, sizeof *pki);
}

bool dv_token_equal(const char *expected, const char *presented)
{
	if (!expected || !presented)
		return false;
	size_t a = strlen(expected), b = strlen(presented);
	unsigned char diff = (unsigned char)(a != b);
	for (size_t i = 0; i < a; i++)
		diff |= (unsigned char)(expected[i] ^ (i < b ? presented[i] : 0));
	return diff == 0;
}

static int b64(const char *in, char **out)
{
	gnutls_datum_t d = { (unsigned char *)(uintptr_t)in, (unsigned)strlen(in) };
	gnutls_datum_t o = { 0 };
	int r = gnutls_base64_encode2(&d, &o);
	if (r < 0)
		return r;
	*out = datum_to_str(&o);
	return *out ? 0 : GNUTLS_E_MEMORY_ERROR;
}

int dv_pki_write_kubeconfig(const char *state_dir, const dv_pki *pki, const char *server_url,
			    char *err, size_t errlen)
{
	char *ca64 = NULL;
	bool tls = strncmp(server_url, "https://", 8) == 0;
	if (tls && b64(pki->ca_pem, &ca64) < 0) {
		snprintf(err, errlen, "encoding CA failed");
		return -ENOMEM;
	}
	dv_buf b;
	dv_buf_init(&b, 1 << 20);
	int r = dv_buf_appendf(&b,
			       "apiVersion: v1\n"
			       "kind: Config\n"
			       "clusters:\n"
			       "- name: dynvol\n"
			       "  cluster:\n"
			       "    server: %s\n",
			       server_url);
	if (r == 0 && tls)
		r = dv_buf_appendf(&b, "    certificate-authority-data: %s\n", ca64);
	if (r == 0)
		r = dv_buf_appendf(&b,
				   "users:\n"
				   "- name: dynvol-admin\n"
				   "  user:\n"
				   "    token: %s\n"
				   "contexts:\n"
				   "- name: dynvol\n"
				   "  context:\n"
				   "    cluster: dynvol\n"
				   "    user: dynvol-admin\n"
				   "    namespace: default\n"
				   "current-context: dynvol\n",
				   pki->token);
	free(ca64);
	if (r == 0)
		r = dv_write_file_atomic(state_dir, "kubeconfig", b.data, b.len, 0600);
	if (b.data)
		explicit_bzero(b.data, b.len);
	dv_buf_free(&b);
	if (r < 0)
		snprintf(err, errlen, "writing %s/kubeconfig: %s", state_dir, strerror(-r));
	return r;
}

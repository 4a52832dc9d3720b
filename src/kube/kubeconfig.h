/*
 * kubeconfig.h - where the API server is and how to authenticate to it:
 * a kubeconfig file (clusters, users, contexts, current-context) or the
 * in-cluster service account, as client-go's clientcmd and rest.InClusterConfig
 * find them.
 *
 * Order (kube_config_load): the path given (--kubeconfig), else the first
 * file of $KUBECONFIG, else in-cluster when KUBERNETES_SERVICE_HOST is set,
 * else ~/.kube/config.
 *
 * Certificate files are read at load time (paths relative to the kubeconfig
 * file's directory, as kubectl resolves them), so the client only ever
 * handles PEM bytes. A token file is kept as a path too, because service
 * account tokens rotate: the client re-reads it (client.h).
 *
 * Secrets (token, client key) are never logged nor put in error messages;
 * kube_config_free wipes them.
 */
#ifndef DYNVOL_KUBE_KUBECONFIG_H
#define DYNVOL_KUBE_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

typedef struct {
	char *server;	    /* "https://host:port", no trailing slash */
	char *context;	    /* the context used; NULL in-cluster */
	char *namespace;    /* the context's namespace, or the pod's; "default" */
	char *ca_pem;	    /* certificate-authority(-data); NULL: the default CA bundle */
	size_t ca_pem_len;
	bool insecure;	    /* insecure-skip-tls-verify */
	char *token;	    /* bearer token (from token or tokenFile); secret */
	char *token_file;   /* tokenFile / the service account token path */
	char *cert_pem;	    /* client-certificate(-data) */
	size_t cert_pem_len;
	char *key_pem;	    /* client-key(-data); secret */
	size_t key_pem_len;
	bool in_cluster;
} kube_config;

/* Finds and loads the configuration in the order above. context overrides
 * current-context (NULL: use it). Returns 0 or a negative errno with a
 * message (never a secret) in err. */
int kube_config_load(const char *path, const char *context, kube_config **ret,
		     char *err, size_t errlen);

/* Parses kubeconfig text (YAML or JSON). base_dir resolves relative file
 * paths (NULL: the working directory). */
int kube_config_parse(const char *text, size_t len, const char *base_dir, const char *context,
		      kube_config **ret, char *err, size_t errlen);

/* The in-cluster configuration: https://$KUBERNETES_SERVICE_HOST:$..._PORT,
 * with token, ca.crt and namespace from sa_dir (NULL: KUBE_SA_DIR). */
int kube_config_in_cluster(const char *sa_dir, kube_config **ret, char *err, size_t errlen);

/* Reads a whole file (at most max bytes) into a NUL-terminated buffer. */
int kube_read_file(const char *path, size_t max, char **ret, size_t *ret_len);

/* Decodes standard base64 (padding optional, whitespace skipped) into a
 * new NUL-terminated buffer. -EINVAL on other characters. */
int kube_base64_decode(const char *in, char **ret, size_t *ret_len);

/* Wipes the secrets and frees; NULL-safe. */
void kube_config_free(kube_config *cfg);

#endif

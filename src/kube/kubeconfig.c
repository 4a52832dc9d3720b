/*
 * kubeconfig.c - kubeconfig files and the in-cluster service account
 * (see kubeconfig.h).
 */
#include "kubeconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "yamljson.h"

/* Kubeconfigs with embedded certificates are a few KiB; 4 MiB is far past
 * any real one and still bounds what a hostile file can make us read. */
#define KUBECONFIG_MAX (4u << 20)

static int cfg_error(char *err, size_t errlen, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int cfg_error(char *err, size_t errlen, int code, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

int kube_read_file(const char *path, size_t max, char **ret, size_t *ret_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap + 1);
	int r = 0;
	if (!buf) {
		r = -ENOMEM;
		goto done;
	}
	for (;;) {
		if (len == cap) {
			if (cap >= max) {
				r = -EFBIG;
				goto done;
			}
			cap = cap * 2 > max ? max : cap * 2;
			char *nb = realloc(buf, cap + 1);
			if (!nb) {
				r = -ENOMEM;
				goto done;
			}
			buf = nb;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto done;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*ret = buf;
	if (ret_len)
		*ret_len = len;
	buf = NULL;
done:
	free(buf);
	close(fd);
	return r;
}

static int b64_value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int kube_base64_decode(const char *in, char **ret, size_t *ret_len)
{
	size_t n = strlen(in);
	char *out = malloc(n / 4 * 3 + 4);
	if (!out)
		return -ENOMEM;
	size_t len = 0;
	unsigned acc = 0, bits = 0;
	bool padding = false;
	for (const char *p = in; *p; p++) {
		if (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
			continue;
		if (*p == '=') {
			padding = true;
			continue;
		}
		int v = b64_value((unsigned char)*p);
		if (v < 0 || padding) {
			free(out);
			return -EINVAL;
		}
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[len++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[len] = '\0';
	*ret = out;
	*ret_len = len;
	return 0;
}

static void wipe_free(char *s, size_t len)
{
	if (!s)
		return;
	explicit_bzero(s, len);
	free(s);
}

void kube_config_free(kube_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->server);
	free(cfg->context);
	free(cfg->namespace);
	free(cfg->ca_pem);
	if (cfg->token)
		wipe_free(cfg->token, strlen(cfg->token));
	free(cfg->token_file);
	free(cfg->cert_pem);
	wipe_free(cfg->key_pem, cfg->key_pem_len);
	free(cfg);
}

/* The named entry of a kubeconfig list ("clusters", "users", "contexts":
 * [{name, <field>: {...}}]), or NULL. */
static json_t *named_entry(json_t *root, const char *list, const char *field, const char *name)
{
	json_t *arr = json_object_get(root, list);
	size_t i;
	json_t *item;
	json_array_foreach(arr, i, item) {
		const char *n = json_string_value(json_object_get(item, "name"));
		if (n && strcmp(n, name) == 0) {
			json_t *v = json_object_get(item, field);
			return json_is_object(v) ? v : NULL;
		}
	}
	return NULL;
}

static const char *str_field(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));
	return s && *s ? s : NULL;
}

/* A path from the kubeconfig, resolved against the file's directory. */
static int resolve_path(const char *base_dir, const char *p, char *out, size_t len)
{
	int n = (p[0] == '/' || !base_dir) ? snprintf(out, len, "%s", p)
					   : snprintf(out, len, "%s/%s", base_dir, p);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Fills *pem from "<key>-data" (base64) or "<key>" (a file path). what
 * names the field for errors (the file name is fine to show, the data not). */
static int load_pem(json_t *obj, const char *key, const char *base_dir, char **pem, size_t *pem_len,
		    char *err, size_t errlen)
{
	char data_key[64];
	snprintf(data_key, sizeof(data_key), "%s-data", key);
	const char *data = str_field(obj, data_key);
	if (data) {
		if (kube_base64_decode(data, pem, pem_len) < 0)
			return cfg_error(err, errlen, -EINVAL, "kubeconfig: %s is not valid base64",
					 data_key);
		return 0;
	}
	const char *file = str_field(obj, key);
	if (!file)
		return 0;
	char path[4096];
	if (resolve_path(base_dir, file, path, sizeof(path)) < 0)
		return cfg_error(err, errlen, -ENAMETOOLONG, "kubeconfig: %s path too long", key);
	int r = kube_read_file(path, KUBECONFIG_MAX, pem, pem_len);
	if (r < 0)
		return cfg_error(err, errlen, r, "kubeconfig: %s %s: %s", key, path, strerror(-r));
	return 0;
}

/* Reads a token file, trimmed of surrounding whitespace (kubectl does). */
static int read_token(const char *path, char **ret)
{
	char *buf;
	size_t len;
	int r = kube_read_file(path, 1u << 20, &buf, &len);
	if (r < 0)
		return r;
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
		buf[--len] = '\0';
	size_t skip = strspn(buf, " \t\r\n");
	memmove(buf, buf + skip, len - skip + 1);
	*ret = buf;
	return 0;
}

static int dup_into(char **dst, const char *s)
{
	if (!s)
		return 0;
	*dst = strdup(s);
	return *dst ? 0 : -ENOMEM;
}

static int parse_cluster(kube_config *cfg, json_t *cluster, const char *base_dir, char *err,
			 size_t errlen)
{
	const char *server = str_field(cluster, "server");
	if (!server)
		return cfg_error(err, errlen, -EINVAL, "kubeconfig: cluster has no server");
	if (dup_into(&cfg->server, server) < 0)
		return -ENOMEM;
	size_t sl = strlen(cfg->server);
	while (sl > 0 && cfg->server[sl - 1] == '/')
		cfg->server[--sl] = '\0';
	cfg->insecure = json_is_true(json_object_get(cluster, "insecure-skip-tls-verify"));
	return load_pem(cluster, "certificate-authority", base_dir, &cfg->ca_pem, &cfg->ca_pem_len,
			err, errlen);
}

static int parse_user(kube_config *cfg, json_t *user, const char *base_dir, char *err,
		      size_t errlen)
{
	if (!user)
		return 0;
	int r = dup_into(&cfg->token, str_field(user, "token"));
	if (r < 0)
		return r;
	const char *tf = str_field(user, "tokenFile");
	if (tf) {
		char path[4096];
		if (resolve_path(base_dir, tf, path, sizeof(path)) < 0 ||
		    dup_into(&cfg->token_file, path) < 0)
			return -ENOMEM;
		if (!cfg->token) {
			r = read_token(path, &cfg->token);
			if (r < 0)
				return cfg_error(err, errlen, r, "kubeconfig: tokenFile %s: %s", path,
						 strerror(-r));
		}
	}
	r = load_pem(user, "client-certificate", base_dir, &cfg->cert_pem, &cfg->cert_pem_len, err,
		     errlen);
	if (r < 0)
		return r;
	r = load_pem(user, "client-key", base_dir, &cfg->key_pem, &cfg->key_pem_len, err, errlen);
	if (r < 0)
		return r;
	if ((cfg->cert_pem == NULL) != (cfg->key_pem == NULL))
		return cfg_error(err, errlen, -EINVAL,
				 "kubeconfig: client-certificate and client-key must come together");
	return 0;
}

static int parse_root(kube_config *cfg, json_t *root, const char *base_dir, const char *context,
		      char *err, size_t errlen)
{
	if (!json_is_object(root))
		return cfg_error(err, errlen, -EINVAL, "kubeconfig: not a mapping");
	const char *ctx_name = context ? context : str_field(root, "current-context");
	if (!ctx_name)
		return cfg_error(err, errlen, -EINVAL, "kubeconfig: no current-context");
	json_t *ctx = named_entry(root, "contexts", "context", ctx_name);
	if (!ctx)
		return cfg_error(err, errlen, -ENOENT, "kubeconfig: context \"%s\" not found",
				 ctx_name);
	const char *cluster_name = str_field(ctx, "cluster");
	json_t *cluster = cluster_name ? named_entry(root, "clusters", "cluster", cluster_name) : NULL;
	if (!cluster)
		return cfg_error(err, errlen, -ENOENT,
				 "kubeconfig: cluster \"%s\" of context \"%s\" not found",
				 cluster_name ? cluster_name : "", ctx_name);
	const char *user_name = str_field(ctx, "user");
	json_t *user = user_name ? named_entry(root, "users", "user", user_name) : NULL;
	if (user_name && !user)
		return cfg_error(err, errlen, -ENOENT,
				 "kubeconfig: user \"%s\" of context \"%s\" not found", user_name,
				 ctx_name);
	const char *ns = str_field(ctx, "namespace");
	if (dup_into(&cfg->context, ctx_name) < 0 || dup_into(&cfg->namespace, ns ? ns : "default") < 0)
		return -ENOMEM;
	int r = parse_cluster(cfg, cluster, base_dir, err, errlen);
	if (r < 0)
		return r;
	return parse_user(cfg, user, base_dir, err, errlen);
}

int kube_config_parse(const char *text, size_t len, const char *base_dir, const char *context,
		      kube_config **ret, char *err, size_t errlen)
{
	char yerr[256] = "";
	json_t *root = yaml_to_json(text, len, yerr, sizeof(yerr));
	if (!root)
		return cfg_error(err, errlen, -EINVAL, "kubeconfig: %s", yerr);
	kube_config *cfg = calloc(1, sizeof(*cfg));
	int r = cfg ? parse_root(cfg, root, base_dir, context, err, errlen) : -ENOMEM;
	json_decref(root);
	if (r < 0) {
		kube_config_free(cfg);
		return r;
	}
	*ret = cfg;
	return 0;
}

static int load_file(const char *path, const char *context, kube_config **ret, char *err,
		     size_t errlen)
{
	char *text;
	size_t len;
	int r = kube_read_file(path, KUBECONFIG_MAX, &text, &len);
	if (r < 0)
		return cfg_error(err, errlen, r, "kubeconfig %s: %s", path, strerror(-r));
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	r = kube_config_parse(text, len, slash == dir ? "/" : dir, context, ret, err, errlen);
	explicit_bzero(text, len);
	free(text);
	return r;
}

int kube_config_in_cluster(const char *sa_dir, kube_config **ret, char *err, size_t errlen)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	if (!host || !*host || !port || !*port)
		return cfg_error(err, errlen, -ENOENT,
				 "in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT "
				 "must be set");
	if (!sa_dir)
		sa_dir = KUBE_SA_DIR;
	kube_config *cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return -ENOMEM;
	cfg->in_cluster = true;
	char path[4096];
	int r;
	/* An IPv6 service address needs brackets in a URL. */
	bool v6 = strchr(host, ':') != NULL;
	if (asprintf(&cfg->server, v6 ? "https://[%s]:%s" : "https://%s:%s", host, port) < 0) {
		cfg->server = NULL;
		r = -ENOMEM;
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/token", sa_dir);
	if ((r = dup_into(&cfg->token_file, path)) < 0)
		goto fail;
	if ((r = read_token(path, &cfg->token)) < 0) {
		cfg_error(err, errlen, r, "in-cluster: %s: %s", path, strerror(-r));
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/ca.crt", sa_dir);
	if ((r = kube_read_file(path, KUBECONFIG_MAX, &cfg->ca_pem, &cfg->ca_pem_len)) < 0) {
		cfg_error(err, errlen, r, "in-cluster: %s: %s", path, strerror(-r));
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/namespace", sa_dir);
	if (read_token(path, &cfg->namespace) < 0 || !cfg->namespace[0]) {
		free(cfg->namespace);
		if ((r = dup_into(&cfg->namespace, "default")) < 0)
			goto fail;
	}
	*ret = cfg;
	return 0;
fail:
	kube_config_free(cfg);
	return r;
}

int kube_config_load(const char *path, const char *context, kube_config **ret, char *err,
		     size_t errlen)
{
	if (path && *path)
		return load_file(path, context, ret, err, errlen);
	const char *env = getenv("KUBECONFIG");
	if (env && *env) {
		/* Only the first file of the list: merging is not supported. */
		char first[4096];
		size_t n = strcspn(env, ":");
		if (n >= sizeof(first))
			return cfg_error(err, errlen, -ENAMETOOLONG, "KUBECONFIG path too long");
		memcpy(first, env, n);
		first[n] = '\0';
		if (n > 0)
			return load_file(first, context, ret, err, errlen);
	}
	if (getenv("KUBERNETES_SERVICE_HOST"))
		return kube_config_in_cluster(NULL, ret, err, errlen);
	const char *home = getenv("HOME");
	if (home && *home) {
		char p[4096];
		snprintf(p, sizeof(p), "%s/.kube/config", home);
		if (access(p, R_OK) == 0)
			return load_file(p, context, ret, err, errlen);
	}
	return cfg_error(err, errlen, -ENOENT,
			 "no kubeconfig: pass --kubeconfig, set KUBECONFIG, or run in a cluster");
}

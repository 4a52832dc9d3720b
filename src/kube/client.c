/*
 * client.c - the Kubernetes REST client: a pool of curl easy handles
 * (keep-alive), a QPS bucket, JSON in and out (see client.h).
 */
#include "client.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "ratelimit.h"
#include "strutil.h"
#include "version.h"

#define POOL_MAX 16
#define TOKEN_REREAD_NS (60LL * 1000000000LL)

const kube_resource KUBE_NAMESPACES = { "", "v1", "namespaces", "Namespace", false };
const kube_resource KUBE_PVCS = { "", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", true };
const kube_resource KUBE_PVS = { "", "v1", "persistentvolumes", "PersistentVolume", false };
const kube_resource KUBE_PODS = { "", "v1", "pods", "Pod", true };
const kube_resource KUBE_NODES = { "", "v1", "nodes", "Node", false };
const kube_resource KUBE_SECRETS = { "", "v1", "secrets", "Secret", true };
const kube_resource KUBE_CONFIGMAPS = { "", "v1", "configmaps", "ConfigMap", true };
const kube_resource KUBE_EVENTS = { "", "v1", "events", "Event", true };
const kube_resource KUBE_STORAGECLASSES = { "storage.k8s.io", "v1", "storageclasses",
					    "StorageClass", false };
const kube_resource KUBE_CSIDRIVERS = { "storage.k8s.io", "v1", "csidrivers", "CSIDriver", false };
const kube_resource KUBE_CSINODES = { "storage.k8s.io", "v1", "csinodes", "CSINode", false };
const kube_resource KUBE_VOLUMEATTACHMENTS = { "storage.k8s.io", "v1", "volumeattachments",
					       "VolumeAttachment", false };
const kube_resource KUBE_CSISTORAGECAPACITIES = { "storage.k8s.io", "v1", "csistoragecapacities",
						  "CSIStorageCapacity", true };
const kube_resource KUBE_LEASES = { "coordination.k8s.io", "v1", "leases", "Lease", true };
const kube_resource KUBE_VOLUMESNAPSHOTS = { "snapshot.storage.k8s.io", "v1", "volumesnapshots",
					     "VolumeSnapshot", true };
const kube_resource KUBE_VOLUMESNAPSHOTCONTENTS = { "snapshot.storage.k8s.io", "v1",
						    "volumesnapshotcontents",
						    "VolumeSnapshotContent", false };
const kube_resource KUBE_VOLUMESNAPSHOTCLASSES = { "snapshot.storage.k8s.io", "v1",
						   "volumesnapshotclasses",
						   "VolumeSnapshotClass", false };

struct kube_client {
	char *server;
	char *namespace;
	char *ca_pem;
	size_t ca_pem_len;
	bool insecure;
	char *cert_pem;
	size_t cert_pem_len;
	char *key_pem;
	size_t key_pem_len;
	char *token_file;
	char *user_agent;
	int timeout_ms;
	size_t max_body;

	pthread_mutex_t token_lock;
	char *token;		/* secret */
	int64_t token_read_ns;	/* when token_file was last read */

	kube_token_bucket bucket;
	bool unlimited;
	kube_observe_fn observe;
	void *observe_payload;

	pthread_mutex_t pool_lock;
	CURL *pool[POOL_MAX];
	size_t pool_len;

	pthread_mutex_t stats_lock;
	kube_client_stats stats;
};

static _Thread_local int thread_timeout_ms;

void kube_client_set_thread_timeout(int timeout_ms)
{
	thread_timeout_ms = timeout_ms > 0 ? timeout_ms : 0;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static bool curl_ok;

static void curl_global(void)
{
	curl_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

void kube_response_clear(kube_response *resp)
{
	json_decref(resp->body);
	memset(resp, 0, sizeof(*resp));
}

static char *memdup(const char *p, size_t n)
{
	if (!p)
		return NULL;
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, p, n);
		d[n] = '\0';
	}
	return d;
}

static void wipe(char *s, size_t n)
{
	if (s) {
		explicit_bzero(s, n);
		free(s);
	}
}

void kube_client_free(kube_client *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->pool_len; i++)
		curl_easy_cleanup(c->pool[i]);
	free(c->server);
	free(c->namespace);
	free(c->ca_pem);
	free(c->cert_pem);
	wipe(c->key_pem, c->key_pem_len);
	free(c->token_file);
	free(c->user_agent);
	if (c->token)
		wipe(c->token, strlen(c->token));
	pthread_mutex_destroy(&c->token_lock);
	pthread_mutex_destroy(&c->pool_lock);
	pthread_mutex_destroy(&c->stats_lock);
	kube_token_bucket_destroy(&c->bucket);
	free(c);
}

int kube_client_new(const kube_config *cfg, const kube_client_opts *opts, kube_client **ret)
{
	pthread_once(&curl_once, curl_global);
	if (!curl_ok)
		return -EIO;
	kube_client_opts o = opts ? *opts : (kube_client_opts){ 0 };
	kube_client *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->token_lock, NULL);
	pthread_mutex_init(&c->pool_lock, NULL);
	pthread_mutex_init(&c->stats_lock, NULL);
	kube_token_bucket_init(&c->bucket, o.qps > 0 ? o.qps : 5.0, o.burst > 0 ? o.burst : 10,
			       dv_now_ns());
	c->unlimited = o.unlimited;
	c->observe = o.observe;
	c->observe_payload = o.observe_payload;
	c->timeout_ms = o.timeout_ms > 0 ? o.timeout_ms : 30000;
	c->max_body = o.max_body ? o.max_body : (64u << 20);
	c->insecure = cfg->insecure;
	c->server = strdup(cfg->server);
	c->namespace = strdup(cfg->namespace ? cfg->namespace : "default");
	c->ca_pem = memdup(cfg->ca_pem, cfg->ca_pem_len);
	c->ca_pem_len = cfg->ca_pem_len;
	c->cert_pem = memdup(cfg->cert_pem, cfg->cert_pem_len);
	c->cert_pem_len = cfg->cert_pem_len;
	c->key_pem = memdup(cfg->key_pem, cfg->key_pem_len);
	c->key_pem_len = cfg->key_pem_len;
	c->token = cfg->token ? strdup(cfg->token) : NULL;
	c->token_file = cfg->token_file ? strdup(cfg->token_file) : NULL;
	c->token_read_ns = dv_now_ns();
	if (o.user_agent)
		c->user_agent = strdup(o.user_agent);
	else if (asprintf(&c->user_agent, "dynvol/%s", DYNVOL_VERSION) < 0)
		c->user_agent = NULL;
	if (!c->server || !c->namespace || !c->user_agent || (cfg->ca_pem && !c->ca_pem) ||
	    (cfg->cert_pem && !c->cert_pem) || (cfg->key_pem && !c->key_pem) ||
	    (cfg->token && !c->token) || (cfg->token_file && !c->token_file)) {
		kube_client_free(c);
		return -ENOMEM;
	}
	*ret = c;
	return 0;
}

const char *kube_client_namespace(const kube_client *c)
{
	return c->namespace;
}

int kube_path(char *out, size_t len, const kube_resource *res, const char *ns, const char *name,
	      const char *sub)
{
	dv_buf b;
	dv_buf_init(&b, len ? len - 1 : 0);
	int r = res->group[0] ? dv_buf_appendf(&b, "/apis/%s/%s", res->group, res->version)
			      : dv_buf_appendf(&b, "/api/%s", res->version);
	if (r == 0 && res->namespaced && ns && *ns)
		r = dv_buf_appendf(&b, "/namespaces/%s", ns);
	if (r == 0)
		r = dv_buf_appendf(&b, "/%s", res->plural);
	if (r == 0 && name)
		r = dv_buf_appendf(&b, "/%s", name);
	if (r == 0 && name && sub)
		r = dv_buf_appendf(&b, "/%s", sub);
	if (r == 0 && len)
		memcpy(out, b.data, b.len + 1);
	dv_buf_free(&b);
	return r < 0 || len == 0 ? -ENAMETOOLONG : 0;
}

/* The bearer token, re-read from its file when a minute old; a copy for
 * the caller to wipe and free (NULL: none). */
static char *current_token(kube_client *c)
{
	pthread_mutex_lock(&c->token_lock);
	int64_t now = dv_now_ns();
	if (c->token_file && now - c->token_read_ns > TOKEN_REREAD_NS) {
		char *fresh;
		size_t len;
		if (kube_read_file(c->token_file, 1u << 20, &fresh, &len) == 0) {
			while (len && (fresh[len - 1] == '\n' || fresh[len - 1] == '\r'))
				fresh[--len] = '\0';
			if (c->token)
				wipe(c->token, strlen(c->token));
			c->token = fresh;
		} else {
			log_warn("kube: cannot re-read the token file %s; keeping the old token",
				 c->token_file);
		}
		c->token_read_ns = now;
	}
	char *t = c->token ? strdup(c->token) : NULL;
	pthread_mutex_unlock(&c->token_lock);
	return t;
}

static void stats_add(kube_client *c, long status, long connects, int64_t throttled)
{
	pthread_mutex_lock(&c->stats_lock);
	c->stats.requests++;
	long cls = status / 100;
	c->stats.by_class[cls >= 1 && cls <= 5 ? cls : 0]++;
	c->stats.connects += (uint64_t)(connects > 0 ? connects : 0);
	c->stats.throttled_ns += (uint64_t)(throttled > 0 ? throttled : 0);
	pthread_mutex_unlock(&c->stats_lock);
}

void kube_client_get_stats(kube_client *c, kube_client_stats *out)
{
	pthread_mutex_lock(&c->stats_lock);
	*out = c->stats;
	pthread_mutex_unlock(&c->stats_lock);
}

static int64_t throttle(kube_client *c)
{
	if (c->unlimited)
		return 0;
	int64_t wait = kube_token_bucket_reserve(&c->bucket, dv_now_ns());
	kube_sleep_ns(wait);
	return wait;
}

static CURL *pool_take(kube_client *c)
{
	CURL *h = NULL;
	pthread_mutex_lock(&c->pool_lock);
	if (c->pool_len > 0)
		h = c->pool[--c->pool_len];
	pthread_mutex_unlock(&c->pool_lock);
	if (h) {
		/* Reset keeps the handle's live connection (curl_easy_reset). */
		curl_easy_reset(h);
		return h;
	}
	return curl_easy_init();
}

static void pool_give(kube_client *c, CURL *h)
{
	pthread_mutex_lock(&c->pool_lock);
	if (c->pool_len < POOL_MAX) {
		c->pool[c->pool_len++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&c->pool_lock);
	if (h)
		curl_easy_cleanup(h);
}

/* TLS, authentication, user agent, HTTP version: what every request and
 * watch shares. Adds the Authorization header to *headers. */
static int setup_common(kube_client *c, CURL *h, const char *path, struct curl_slist **headers)
{
	char url[8192];
	int n = snprintf(url, sizeof(url), "%s%s", c->server, path);
	if (n < 0 || (size_t)n >= sizeof(url))
		return -ENAMETOOLONG;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	if (c->ca_pem) {
		struct curl_blob blob = { c->ca_pem, c->ca_pem_len, CURL_BLOB_COPY };
		curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
	}
	if (c->insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (c->cert_pem) {
		struct curl_blob cert = { c->cert_pem, c->cert_pem_len, CURL_BLOB_COPY };
		struct curl_blob key = { c->key_pem, c->key_pem_len, CURL_BLOB_COPY };
		curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cert);
		curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
		curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &key);
		curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
	}
	char *token = current_token(c);
	if (token) {
		char hdr[8192];
		n = snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", token);
		wipe(token, strlen(token));
		if (n < 0 || (size_t)n >= sizeof(hdr))
			return -E2BIG;
		struct curl_slist *l = curl_slist_append(*headers, hdr);
		explicit_bzero(hdr, sizeof(hdr));
		if (!l)
			return -ENOMEM;
		*headers = l;
	}
	struct curl_slist *l = curl_slist_append(*headers, "Accept: application/json");
	if (!l)
		return -ENOMEM;
	*headers = l;
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, *headers);
	return 0;
}

static size_t body_write(char *p, size_t size, size_t n, void *payload)
{
	dv_buf *b = payload;
	return dv_buf_append(b, p, size * n) == 0 ? size * n : 0;
}

void kube_response_set_error(kube_response *resp, const char *text, size_t len)
{
	json_t *st = resp->body;
	if (json_is_object(st) && json_is_string(json_object_get(st, "message"))) {
		snprintf(resp->message, sizeof(resp->message), "%s",
			 json_string_value(json_object_get(st, "message")));
		const char *reason = json_string_value(json_object_get(st, "reason"));
		snprintf(resp->reason, sizeof(resp->reason), "%s", reason ? reason : "");
		return;
	}
	/* Not a Status: the first line of the body says more than nothing. */
	size_t n = text ? strcspn(text, "\n") : 0;
	if (n > len)
		n = len;
	if (n >= sizeof(resp->message))
		n = sizeof(resp->message) - 1;
	snprintf(resp->message, sizeof(resp->message), "HTTP %ld: %.*s", resp->status, (int)n,
		 text ? text : "");
}

static const char *curl_error_text(CURLcode rc, const char *errbuf)
{
	return errbuf[0] ? errbuf : curl_easy_strerror(rc);
}

static int curl_to_errno(CURLcode rc)
{
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
		return -EHOSTUNREACH;
	case CURLE_WRITE_ERROR:
		return -EFBIG;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
		return -EPROTO;
	default:
		return -EIO;
	}
}

static int perform(kube_client *c, CURL *h, const char *method, const char *body,
		   dv_buf *out, kube_response *resp, struct curl_slist *headers)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	if (strcmp(method, "GET") != 0)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	int timeout = c->timeout_ms;
	if (thread_timeout_ms > 0 && thread_timeout_ms < timeout)
		timeout = thread_timeout_ms;
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	int64_t throttled = throttle(c);
	int64_t t0 = dv_now_ns();
	CURLcode rc = curl_easy_perform(h);
	long connects = 0;
	curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(headers);
	if (rc != CURLE_OK) {
		stats_add(c, 0, connects, throttled);
		if (c->observe)
			c->observe(method, 0, dv_now_ns() - t0, c->observe_payload);
		snprintf(resp->message, sizeof(resp->message), "%s %s", method,
			 curl_error_text(rc, errbuf));
		return curl_to_errno(rc);
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
	stats_add(c, resp->status, connects, throttled);
	if (c->observe)
		c->observe(method, resp->status, dv_now_ns() - t0, c->observe_payload);
	if (out->len > 0)
		resp->body = json_loadb((const char *)out->data, out->len, 0, NULL);
	if (resp->status >= 400)
		kube_response_set_error(resp, (const char *)out->data, out->len);
	return (int)resp->status;
}

int kube_request(kube_client *c, const char *method, const char *path, const char *content_type,
		 const json_t *body, kube_response *resp)
{
	kube_response_clear(resp);
	char *text = NULL;
	if (body) {
		text = json_dumps(body, JSON_COMPACT);
		if (!text)
			return -ENOMEM;
	}
	CURL *h = pool_take(c);
	struct curl_slist *headers = NULL;
	int r = h ? setup_common(c, h, path, &headers) : -ENOMEM;
	if (r == 0 && text) {
		char ct[128];
		snprintf(ct, sizeof(ct), "Content-Type: %s",
			 content_type ? content_type : "application/json");
		struct curl_slist *l = curl_slist_append(headers, ct);
		if (l) {
			headers = l;
			curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
		} else {
			r = -ENOMEM;
		}
	}
	if (r < 0) {
		curl_slist_free_all(headers);
		snprintf(resp->message, sizeof(resp->message), "%s %s: %s", method, path,
			 strerror(-r));
	} else {
		dv_buf out;
		dv_buf_init(&out, c->max_body);
		r = perform(c, h, method, text, &out, resp, headers);
		dv_buf_free(&out);
	}
	if (h)
		pool_give(c, h);
	free(text);
	return r;
}

int kube_get(kube_client *c, const kube_resource *res, const char *ns, const char *name,
	     kube_response *resp)
{
	char path[2048];
	if (kube_path(path, sizeof(path), res, ns, name, NULL) < 0)
		return -ENAMETOOLONG;
	return kube_request(c, "GET", path, NULL, NULL, resp);
}

int kube_list(kube_client *c, const kube_resource *res, const char *ns, const char *query,
	      kube_response *resp)
{
	char path[4096];
	if (kube_path(path, sizeof(path), res, ns, NULL, NULL) < 0)
		return -ENAMETOOLONG;
	if (query && *query) {
		size_t l = strlen(path);
		int n = snprintf(path + l, sizeof(path) - l, "?%s", query);
		if (n < 0 || (size_t)n >= sizeof(path) - l)
			return -ENAMETOOLONG;
	}
	return kube_request(c, "GET", path, NULL, NULL, resp);
}

int kube_create(kube_client *c, const kube_resource *res, const char *ns, const json_t *obj,
		kube_response *resp)
{
	char path[2048];
	if (!ns)
		ns = json_string_value(json_object_get(json_object_get(obj, "metadata"), "namespace"));
	if (kube_path(path, sizeof(path), res, ns, NULL, NULL) < 0)
		return -ENAMETOOLONG;
	return kube_request(c, "POST", path, NULL, obj, resp);
}

static int put_object(kube_client *c, const kube_resource *res, const char *ns, const json_t *obj,
		      const char *sub, kube_response *resp)
{
	json_t *meta = json_object_get(obj, "metadata");
	const char *name = json_string_value(json_object_get(meta, "name"));
	if (!name) {
		kube_response_clear(resp);
		snprintf(resp->message, sizeof(resp->message), "update: object has no metadata.name");
		return -EINVAL;
	}
	if (!ns)
		ns = json_string_value(json_object_get(meta, "namespace"));
	char path[2048];
	if (kube_path(path, sizeof(path), res, ns, name, sub) < 0)
		return -ENAMETOOLONG;
	return kube_request(c, "PUT", path, NULL, obj, resp);
}

int kube_update(kube_client *c, const kube_resource *res, const char *ns, const json_t *obj,
		kube_response *resp)
{
	return put_object(c, res, ns, obj, NULL, resp);
}

int kube_update_status(kube_client *c, const kube_resource *res, const char *ns,
		       const json_t *obj, kube_response *resp)
{
	return put_object(c, res, ns, obj, "status", resp);
}

static const char *patch_content_type(kube_patch_type type)
{
	switch (type) {
	case KUBE_PATCH_JSON:
		return "application/json-patch+json";
	case KUBE_PATCH_STRATEGIC:
		return "application/strategic-merge-patch+json";
	case KUBE_PATCH_MERGE:
	default:
		return "application/merge-patch+json";
	}
}

int kube_patch(kube_client *c, const kube_resource *res, const char *ns, const char *name,
	       const char *sub, kube_patch_type type, const json_t *patch, kube_response *resp)
{
	char path[2048];
	if (kube_path(path, sizeof(path), res, ns, name, sub) < 0)
		return -ENAMETOOLONG;
	return kube_request(c, "PATCH", path, patch_content_type(type), patch, resp);
}

int kube_delete(kube_client *c, const kube_resource *res, const char *ns, const char *name,
		const json_t *opts, kube_response *resp)
{
	char path[2048];
	if (kube_path(path, sizeof(path), res, ns, name, NULL) < 0)
		return -ENAMETOOLONG;
	return kube_request(c, "DELETE", path, NULL, opts, resp);
}

int kube_update_retry(kube_client *c, const kube_resource *res, const char *ns, const char *name,
		      bool status, int attempts, kube_mutate_fn mutate, void *payload,
		      kube_response *resp)
{
	if (attempts <= 0)
		attempts = 5;
	int r = -EIO;
	for (int i = 0; i < attempts; i++) {
		if (i > 0) {
			/* Contenders that all re-read at once collide again: a
			 * short, jittered, growing pause spreads them out
			 * (client-go's retry.DefaultBackoff: 10 ms and up). */
			kube_sleep_ns(kube_jitter(kube_backoff_delay(10000000LL, 1000000000LL,
								     (unsigned)(i - 1)), 0.5));
			pthread_mutex_lock(&c->stats_lock);
			c->stats.conflict_retries++;
			pthread_mutex_unlock(&c->stats_lock);
		}
		r = kube_get(c, res, ns, name, resp);
		if (r != 200)
			return r;
		json_t *obj = json_deep_copy(resp->body);
		if (!obj)
			return -ENOMEM;
		int m = mutate(obj, payload);
		if (m < 0 || m == 1) {
			json_decref(obj);
			return m < 0 ? m : 200;
		}
		r = status ? kube_update_status(c, res, ns, obj, resp)
			   : kube_update(c, res, ns, obj, resp);
		json_decref(obj);
		if (r != 409)
			return r;
	}
	return r;
}

CURL *kube_client_watch_handle(kube_client *c, const char *path, int low_speed_s,
			       struct curl_slist **headers)
{
	CURL *h = curl_easy_init();
	if (!h)
		return NULL;
	*headers = NULL;
	if (setup_common(c, h, path, headers) < 0) {
		curl_easy_cleanup(h);
		curl_slist_free_all(*headers);
		*headers = NULL;
		return NULL;
	}
	if (low_speed_s > 0) {
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)low_speed_s);
	}
	throttle(c);
	return h;
}

void kube_client_note_watch(kube_client *c, CURL *h, long status)
{
	long connects = 0;
	curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects);
	stats_add(c, status, connects, 0);
}

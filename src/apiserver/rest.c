/*
 * rest.c - the Kubernetes REST API over the object store (see rest.h).
 *
 * A request is routed from its path (/api/v1/..., /apis/<group>/<version>/
 * ..., discovery, /version, /openapi/v3), then served by one verb function.
 * Every write is a compare-and-swap on the stored resourceVersion: updates
 * and patches that carry no precondition of their own re-read and retry on
 * a conflict, as kube-apiserver's GuaranteedUpdate does; those that do
 * carry one get 409 Conflict.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "k8spb.h"
#include "log.h"
#include "objstore.h"
#include "patch.h"
#include "resources.h"
#include "rest.h"
#include "schema.h"
#include "selector.h"
#include "strutil.h"
#include "table.h"
#include "validate.h"
#include "yamljson.h"

#define MAX_RETRIES 16
#define DEFAULT_LIST_LIMIT 0 /* unlimited */
#define WATCH_POLL_MS 1000
#define BOOKMARK_EVERY_S 30
#define WATCH_MIN_TIMEOUT_S 1800
#define K8S_VERSION "v1.32.0"

struct dv_rest {
	dv_objstore *st;
	char *server_addr;
	pthread_t gc;
	bool gc_running;
	volatile int gc_stop;
};

/* The parsed path of a resource request. */
typedef struct {
	dv_resource *res;
	char ns[256];
	bool has_ns;
	char name[256];
	char sub[64];
} target;

/* Helpers ------------------------------------------------------------- */

static const char *jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static json_t *meta_of(json_t *obj)
{
	json_t *m = json_object_get(obj, "metadata");
	if (!json_is_object(m)) {
		m = json_object();
		json_object_set_new(obj, "metadata", m);
	}
	return m;
}

static void now_rfc3339(char *buf, size_t len)
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void new_uid(char out[37])
{
	unsigned char b[16];
	if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b)
		memset(b, 0, sizeof b);
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
		 b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
		 b[14], b[15]);
}

static uint64_t obj_rv(const json_t *obj)
{
	const char *s = jstr(json_object_get(obj, "metadata"), "resourceVersion");
	if (!s || !*s)
		return 0;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return UINT64_MAX; /* unparsable: never matches */
	return v;
}

static void reply_json(dv_rest_resp *resp, int code, json_t *obj)
{
	resp->status = code;
	resp->body = json_dumps(obj, JSON_COMPACT);
	resp->len = resp->body ? strlen(resp->body) : 0;
	snprintf(resp->content_type, sizeof resp->content_type, "application/json");
	if (!resp->body) {
		resp->status = 500;
		resp->body = strdup("{}");
		resp->len = 2;
	}
	json_decref(obj);
}

static json_t *status_json(int code, const char *reason, const char *message)
{
	json_t *s = json_pack("{s:s, s:s, s:{}, s:s, s:s, s:i}", "kind", "Status", "apiVersion",
			      "v1", "metadata", "status", code < 400 ? "Success" : "Failure",
			      "message", message ? message : "", "code", code);
	if (reason && *reason)
		json_object_set_new(s, "reason", json_string(reason));
	return s;
}

void dv_rest_status(dv_rest_resp *resp, int code, const char *reason, const char *message)
{
	reply_json(resp, code, status_json(code, reason, message));
}

static void reply_error(dv_rest_resp *resp, int code, const char *reason, const target *t,
			const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void reply_error(dv_rest_resp *resp, int code, const char *reason, const target *t,
			const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	json_t *s = status_json(code, reason, msg);
	if (t && t->res) {
		json_t *d = json_object();
		if (t->name[0])
			json_object_set_new(d, "name", json_string(t->name));
		if (*t->res->group)
			json_object_set_new(d, "group", json_string(t->res->group));
		json_object_set_new(d, "kind", json_string(t->res->resource));
		json_object_set_new(s, "details", d);
	}
	reply_json(resp, code, s);
}

static void reply_not_found(dv_rest_resp *resp, const target *t, const char *name)
{
	if (*t->res->group)
		reply_error(resp, 404, "NotFound", t, "%s.%s \"%s\" not found", t->res->resource,
			    t->res->group, name);
	else
		reply_error(resp, 404, "NotFound", t, "%s \"%s\" not found", t->res->resource, name);
}

static void qualified(const dv_resource *res, char *buf, size_t len)
{
	if (*res->group)
		snprintf(buf, len, "%s.%s", res->resource, res->group);
	else
		snprintf(buf, len, "%s", res->resource);
}

static void reply_conflict(dv_rest_resp *resp, const target *t, const char *name)
{
	char q[300];
	qualified(t->res, q, sizeof q);
	reply_error(resp, 409, "Conflict", t,
		    "Operation cannot be fulfilled on %s \"%s\": the object has been modified; "
		    "please apply your changes to the latest version and try again",
		    q, name);
}

static void reply_invalid(dv_rest_resp *resp, const target *t, const char *name,
			  json_t *causes)
{
	char qk[300];
	if (*t->res->group)
		snprintf(qk, sizeof qk, "%s.%s", t->res->kind, t->res->group);
	else
		snprintf(qk, sizeof qk, "%s", t->res->kind);
	char *msg = dv_invalid_message(qk, name, causes);
	json_t *s = status_json(422, "Invalid", msg ? msg : "invalid");
	free(msg);
	json_t *d = json_pack("{s:s, s:s, s:O}", "name", name, "kind", t->res->kind, "causes",
			      causes);
	if (*t->res->group)
		json_object_set_new(d, "group", json_string(t->res->group));
	json_object_set_new(s, "details", d);
	reply_json(resp, 422, s);
}

static bool accept_has(const dv_rest_req *req, const char *needle)
{
	return req->accept && strstr(req->accept, needle);
}

static bool wants_table(const dv_rest_req *req)
{
	return accept_has(req, "as=Table");
}

static const char *q(const dv_rest_req *req, const char *k)
{
	return req->query ? req->query(req->query_ctx, k) : NULL;
}

static bool q_true(const dv_rest_req *req, const char *k)
{
	const char *v = q(req, k);
	return v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0);
}

static bool dry_run(const dv_rest_req *req)
{
	const char *v = q(req, "dryRun");
	return v && strcmp(v, "All") == 0;
}

/* Object lookup for validation rules that span objects. */
static json_t *lookup(void *ctx, const char *group, const char *resource, const char *ns,
		      const char *name)
{
	dv_rest *r = ctx;
	char key[300];
	snprintf(key, sizeof key, "%s/%s", group, resource);
	char *body = NULL;
	if (dv_objstore_get(r->st, key, ns ? ns : "", name, &body, NULL) < 0)
		return NULL;
	json_t *o = json_loads(body, 0, NULL);
	free(body);
	return o;
}

static json_t *load_obj(dv_rest *r, const target *t, const char *name, uint64_t *rv)
{
	char *body = NULL;
	if (dv_objstore_get(r->st, t->res->store_key, t->has_ns ? t->ns : "", name, &body, rv) <
	    0)
		return NULL;
	json_t *o = json_loads(body, 0, NULL);
	free(body);
	return o;
}

/* The apiVersion objects of t's resource carry. */
static void api_version(const dv_resource *res, char *buf, size_t len)
{
	if (*res->group)
		snprintf(buf, len, "%s/%s", res->group, res->version);
	else
		snprintf(buf, len, "%s", res->version);
}

/* Stored objects of a custom resource may be of another version of it
 * (conversion strategy None): they are served as the version asked. */
static void set_type(json_t *obj, const dv_resource *res)
{
	char av[300];
	api_version(res, av, sizeof av);
	json_object_set_new(obj, "apiVersion", json_string(av));
	json_object_set_new(obj, "kind", json_string(res->kind));
}

/* Discovery -------------------------------------------------------------- */

static void reply_aggregated(const dv_rest_req *req, dv_rest_resp *resp, bool core)
{
	const char *ver = accept_has(req, "v=v2;") || accept_has(req, "v=v2,") ||
					  (req->accept && strstr(req->accept, "v=v2") &&
					   !strstr(req->accept, "v=v2beta1"))
				  ? "v2"
				  : "v2beta1";
	char av[64];
	snprintf(av, sizeof av, "apidiscovery.k8s.io/%s", ver);
	reply_json(resp, 200, dv_discovery_aggregated(core, av));
	snprintf(resp->content_type, sizeof resp->content_type,
		 "application/json;g=apidiscovery.k8s.io;v=%s;as=APIGroupDiscoveryList", ver);
}

static bool wants_aggregated(const dv_rest_req *req)
{
	return accept_has(req, "as=APIGroupDiscoveryList");
}

static void serve_version(dv_rest_resp *resp)
{
	reply_json(resp, 200,
		   json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "major", "1", "minor",
			     "32", "gitVersion", K8S_VERSION "+dynvol", "gitCommit", "", "gitTreeState",
			     "clean", "buildDate", "", "goVersion", "none (C)", "compiler", "gcc",
			     "platform", "linux/amd64"));
}

/* Routing ---------------------------------------------------------------- */

#define MAX_SEGS 10

static size_t split(char *path, char **segs)
{
	size_t n = 0;
	char *p = path;
	while (*p && n < MAX_SEGS) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		segs[n++] = p;
		while (*p && *p != '/')
			p++;
		if (*p)
			*p++ = '\0';
	}
	if (*p)
		return MAX_SEGS + 1;
	return n;
}

static bool copy_seg(char *dst, size_t len, const char *src)
{
	if (!src || strlen(src) >= len)
		return false;
	memcpy(dst, src, strlen(src) + 1);
	return true;
}

static void serve_resource(dv_rest *r, const dv_rest_req *req, target *t, dv_rest_resp *resp);

static void route(dv_rest *r, const dv_rest_req *req, dv_rest_resp *resp)
{
	char path[2048];
	if (!copy_seg(path, sizeof path, req->path)) {
		dv_rest_status(resp, 414, "RequestURITooLong", "the request URI is too long");
		return;
	}
	char *segs[MAX_SEGS + 1];
	size_t n = split(path, segs);
	bool get = strcmp(req->method, "GET") == 0;
	if (n > MAX_SEGS)
		goto not_found;
	if (n == 0) {
		if (get)
			reply_json(resp, 200,
				   json_pack("{s:[s,s,s,s,s,s]}", "paths", "/api", "/api/v1", "/apis",
					     "/version", "/healthz", "/openapi/v3"));
		else
			goto not_found;
		return;
	}
	if (n == 1 && (strcmp(segs[0], "healthz") == 0 || strcmp(segs[0], "livez") == 0 ||
		       strcmp(segs[0], "readyz") == 0)) {
		resp->status = 200;
		resp->body = strdup("ok");
		resp->len = 2;
		snprintf(resp->content_type, sizeof resp->content_type, "text/plain; charset=utf-8");
		return;
	}
	if (n == 1 && strcmp(segs[0], "version") == 0) {
		serve_version(resp);
		return;
	}
	if (strcmp(segs[0], "openapi") == 0) {
		if (n == 2 && strcmp(segs[1], "v3") == 0) {
			reply_json(resp, 200, dv_openapi_v3_index());
			return;
		}
		if (n >= 3 && strcmp(segs[1], "v3") == 0) {
			json_t *doc = NULL;
			if (n == 4 && strcmp(segs[2], "api") == 0)
				doc = dv_openapi_v3_gv("", segs[3]);
			else if (n == 5 && strcmp(segs[2], "apis") == 0)
				doc = dv_openapi_v3_gv(segs[3], segs[4]);
			if (doc) {
				reply_json(resp, 200, doc);
				return;
			}
		}
		goto not_found;
	}

	const char *group, *version;
	size_t rest;
	if (strcmp(segs[0], "api") == 0) {
		if (n == 1) {
			if (!get)
				goto not_allowed;
			if (wants_aggregated(req))
				reply_aggregated(req, resp, true);
			else
				reply_json(resp, 200, dv_discovery_core_versions(r->server_addr));
			return;
		}
		group = "";
		version = segs[1];
		rest = 2;
	} else if (strcmp(segs[0], "apis") == 0) {
		if (n == 1) {
			if (!get)
				goto not_allowed;
			if (wants_aggregated(req))
				reply_aggregated(req, resp, false);
			else
				reply_json(resp, 200, dv_discovery_groups());
			return;
		}
		if (n == 2) {
			json_t *g = get ? dv_discovery_group(segs[1]) : NULL;
			if (!g)
				goto not_found;
			reply_json(resp, 200, g);
			return;
		}
		group = segs[1];
		version = segs[2];
		rest = 3;
	} else {
		goto not_found;
	}
	if (n == rest) {
		json_t *l = get ? dv_discovery_resources(group, version) : NULL;
		if (!l)
			goto not_found;
		reply_json(resp, 200, l);
		return;
	}

	target t;
	memset(&t, 0, sizeof t);
	char **s = segs + rest;
	size_t m = n - rest;
	/* namespaces/<ns>/<resource>/... unless it is the Namespace itself
	 * (namespaces/<name>[/status|/finalize]). */
	if (!*group && m >= 3 && strcmp(s[0], "namespaces") == 0 && strcmp(s[2], "status") != 0 &&
	    strcmp(s[2], "finalize") != 0) {
		t.has_ns = true;
		if (!copy_seg(t.ns, sizeof t.ns, s[1]))
			goto not_found;
		s += 2;
		m -= 2;
	} else if (*group && m >= 3 && strcmp(s[0], "namespaces") == 0) {
		t.has_ns = true;
		if (!copy_seg(t.ns, sizeof t.ns, s[1]))
			goto not_found;
		s += 2;
		m -= 2;
	}
	if (m < 1 || m > 3)
		goto not_found;
	t.res = dv_resource_find(group, version, s[0]);
	if (!t.res)
		goto not_found;
	if ((m >= 2 && !copy_seg(t.name, sizeof t.name, s[1])) ||
	    (m == 3 && !copy_seg(t.sub, sizeof t.sub, s[2]))) {
		dv_resource_release(t.res);
		goto not_found;
	}
	if (t.has_ns && !t.res->namespaced) {
		dv_resource_release(t.res);
		goto not_found;
	}
	if (t.sub[0] && (strcmp(t.sub, "status") != 0 || !t.res->has_status) &&
	    !(strcmp(t.sub, "finalize") == 0 && strcmp(t.res->resource, "namespaces") == 0)) {
		dv_resource_release(t.res);
		goto not_found;
	}
	serve_resource(r, req, &t, resp);
	dv_resource_release(t.res);
	return;

not_found:
	reply_json(resp, 404, status_json(404, "NotFound", "the server could not find the requested resource"));
	return;
not_allowed:
	dv_rest_status(resp, 405, "MethodNotAllowed", "the server does not allow this method on the requested resource");
}

void dv_rest_handle(dv_rest *r, const dv_rest_req *req, dv_rest_resp *resp)
{
	memset(resp, 0, sizeof *resp);
	route(r, req, resp);
}

/* Lists ------------------------------------------------------------------ */

typedef struct {
	dv_selector *labels, *fields;
} selectors;

static void selectors_free(selectors *s)
{
	dv_selector_free(s->labels);
	dv_selector_free(s->fields);
}

/* Fields kube-apiserver lets each kind select on, beyond metadata.name and
 * metadata.namespace. */
static bool field_supported(const dv_resource *res, const char *f)
{
	if (strcmp(f, "metadata.name") == 0 || strcmp(f, "metadata.namespace") == 0)
		return true;
	static const char *const pod[] = { "spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
					   "spec.serviceAccountName", "spec.hostNetwork", "status.phase",
					   "status.podIP", "status.nominatedNodeName", NULL };
	static const char *const event[] = { "involvedObject.kind", "involvedObject.namespace",
					     "involvedObject.name", "involvedObject.uid",
					     "involvedObject.apiVersion", "involvedObject.resourceVersion",
					     "involvedObject.fieldPath", "reason", "reportingComponent",
					     "source", "type", "regarding.kind", "regarding.name",
					     "regarding.namespace", "regarding.uid", NULL };
	static const char *const ns[] = { "status.phase", NULL };
	static const char *const secret[] = { "type", NULL };
	static const char *const node[] = { "spec.unschedulable", NULL };
	static const char *const pvc[] = { "status.phase", "spec.volumeName", NULL };
	static const char *const pv[] = { "status.phase", "spec.claimRef.name", "spec.claimRef.namespace", NULL };
	const char *const *list = NULL;
	if (res->custom)
		return false;
	if (strcmp(res->kind, "Pod") == 0)
		list = pod;
	else if (strcmp(res->kind, "Event") == 0)
		list = event;
	else if (strcmp(res->kind, "Namespace") == 0)
		list = ns;
	else if (strcmp(res->kind, "Secret") == 0)
		list = secret;
	else if (strcmp(res->kind, "Node") == 0)
		list = node;
	else if (strcmp(res->kind, "PersistentVolumeClaim") == 0)
		list = pvc;
	else if (strcmp(res->kind, "PersistentVolume") == 0)
		list = pv;
	for (size_t i = 0; list && list[i]; i++)
		if (strcmp(list[i], f) == 0)
			return true;
	return false;
}

static int parse_selectors(const dv_rest_req *req, const target *t, selectors *s,
			   dv_rest_resp *resp)
{
	char err[512];
	memset(s, 0, sizeof *s);
	const char *ls = q(req, "labelSelector"), *fs = q(req, "fieldSelector");
	if (ls && *ls && dv_label_selector_parse(ls, &s->labels, err, sizeof err) < 0) {
		reply_error(resp, 400, "BadRequest", NULL, "unable to parse requirement: %s", err);
		return -1;
	}
	if (fs && *fs) {
		if (dv_field_selector_parse(fs, &s->fields, err, sizeof err) < 0) {
			reply_error(resp, 400, "BadRequest", NULL, "invalid field selector: %s", err);
			selectors_free(s);
			return -1;
		}
		for (size_t i = 0; i < dv_selector_count(s->fields); i++) {
			const char *f = dv_selector_key(s->fields, i);
			if (!field_supported(t->res, f)) {
				reply_error(resp, 400, "BadRequest", NULL,
					    "field label not supported: %s", f);
				selectors_free(s);
				return -1;
			}
		}
	}
	return 0;
}

static bool sel_match(const selectors *s, const json_t *obj)
{
	if (s->labels && !dv_label_selector_matches(
				 s->labels, json_object_get(json_object_get(obj, "metadata"), "labels")))
		return false;
	if (s->fields && !dv_field_selector_matches(s->fields, obj))
		return false;
	return true;
}

static bool sel_any(const selectors *s)
{
	return (s->labels && !dv_selector_empty(s->labels)) ||
	       (s->fields && !dv_selector_empty(s->fields));
}

/* Continue tokens: base64url of {"v":"meta.k8s.io/v1","rv":N,"start":"ns/name"},
 * the shape kube-apiserver uses, so clients treat them as opaque alike. */
static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static char *b64url(const char *in)
{
	size_t n = strlen(in), o = 0;
	char *out = malloc(n * 4 / 3 + 5);
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)(unsigned char)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)(unsigned char)in[i + 1] << 8;
		if (i + 2 < n)
			v |= (uint32_t)(unsigned char)in[i + 2];
		out[o++] = B64[(v >> 18) & 63];
		out[o++] = B64[(v >> 12) & 63];
		if (i + 1 < n)
			out[o++] = B64[(v >> 6) & 63];
		if (i + 2 < n)
			out[o++] = B64[v & 63];
	}
	out[o] = '\0';
	return out;
}

static char *unb64url(const char *in)
{
	size_t n = strlen(in), o = 0;
	char *out = malloc(n + 1);
	if (!out)
		return NULL;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		const char *p = in[i] == '+' ? B64 + 62 : in[i] == '/' ? B64 + 63 : strchr(B64, in[i]);
		if (in[i] == '=')
			break;
		if (!p || !*p) {
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (uint32_t)(p - B64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[o] = '\0';
	return out;
}

static char *continue_token(uint64_t rv, const char *ns, const char *name)
{
	json_t *tok = json_pack("{s:s, s:I, s:s+++}", "v", "meta.k8s.io/v1", "rv", (json_int_t)rv,
				"start", ns, "/", name, "\x01");
	char *s = json_dumps(tok, JSON_COMPACT);
	json_decref(tok);
	if (!s)
		return NULL;
	char *out = b64url(s);
	free(s);
	return out;
}

static int parse_continue(const char *tok, char *ns, size_t nslen, char *name, size_t namelen)
{
	char *raw = unb64url(tok);
	if (!raw)
		return -1;
	json_t *j = json_loads(raw, 0, NULL);
	free(raw);
	const char *start = jstr(j, "start");
	int rc = -1;
	if (start && json_is_integer(json_object_get(j, "rv"))) {
		const char *slash = strchr(start, '/');
		size_t len = strlen(start);
		if (slash && len > 0 && start[len - 1] == '\x01') {
			size_t nl = (size_t)(slash - start), ml = len - nl - 2;
			if (nl < nslen && ml < namelen) {
				memcpy(ns, start, nl);
				ns[nl] = '\0';
				memcpy(name, slash + 1, ml);
				name[ml] = '\0';
				rc = 0;
			}
		}
	}
	json_decref(j);
	return rc;
}

typedef struct {
	const target *t;
	const selectors *sel;
	bool parse;      /* objects must be parsed (selectors, Table) */
	long limit;      /* 0: all */
	long count;
	bool more;
	char last_ns[256], last_name[256];
	dv_buf text;     /* items as JSON text, comma-separated */
	json_t *items;   /* parsed items (when parse) */
	int err;
} list_ctx;

static int list_each(void *vctx, const char *ns, const char *name, const char *body, size_t len)
{
	list_ctx *c = vctx;
	if (c->limit && c->count >= c->limit) {
		c->more = true;
		return 1;
	}
	json_t *obj = NULL;
	if (c->parse) {
		obj = json_loadb(body, len, 0, NULL);
		if (!obj)
			return 0;
		if (!sel_match(c->sel, obj)) {
			json_decref(obj);
			return 0;
		}
	}
	if (c->t->res->custom && obj)
		set_type(obj, c->t->res);
	if (c->items) {
		json_array_append_new(c->items, obj);
	} else {
		if ((c->count && dv_buf_append(&c->text, ",", 1) < 0) ||
		    dv_buf_append(&c->text, body, len) < 0) {
			json_decref(obj);
			c->err = -ENOMEM;
			return 1;
		}
		json_decref(obj);
	}
	c->count++;
	snprintf(c->last_ns, sizeof c->last_ns, "%s", ns);
	snprintf(c->last_name, sizeof c->last_name, "%s", name);
	return 0;
}

static void serve_watch(dv_rest *r, const dv_rest_req *req, const target *t, selectors *sel,
			dv_rest_resp *resp);

static void serve_list(dv_rest *r, const dv_rest_req *req, const target *t, dv_rest_resp *resp)
{
	selectors sel;
	if (parse_selectors(req, t, &sel, resp) < 0)
		return;
	if (q_true(req, "watch")) {
		serve_watch(r, req, t, &sel, resp);
		return;
	}
	list_ctx c;
	memset(&c, 0, sizeof c);
	c.t = t;
	c.sel = &sel;
	bool table = wants_table(req);
	/* Custom resources of another stored version need their apiVersion
	 * rewritten, so they are parsed too. */
	c.parse = sel_any(&sel) || table || t->res->custom;
	if (c.parse)
		c.items = json_array();
	const char *lim = q(req, "limit");
	if (lim && *lim) {
		char *end;
		long v = strtol(lim, &end, 10);
		if (*end || v < 0) {
			selectors_free(&sel);
			json_decref(c.items);
			reply_error(resp, 400, "BadRequest", NULL, "invalid limit: %s", lim);
			return;
		}
		c.limit = v;
	}
	char after_ns[256] = "", after_name[256] = "";
	const char *cont = q(req, "continue");
	if (cont && *cont &&
	    parse_continue(cont, after_ns, sizeof after_ns, after_name, sizeof after_name) < 0) {
		selectors_free(&sel);
		json_decref(c.items);
		reply_error(resp, 400, "BadRequest", NULL,
			    "continue key is not valid: incorrect encoded start resourceVersion "
			    "(version meta.k8s.io/v1)");
		return;
	}
	dv_buf_init(&c.text, 0);
	uint64_t rv = 0;
	int rc = dv_objstore_list(r->st, t->res->store_key, t->has_ns ? t->ns : NULL, after_ns,
				  after_name, list_each, &c, &rv);
	selectors_free(&sel);
	if (rc < 0 || c.err) {
		dv_buf_free(&c.text);
		json_decref(c.items);
		dv_rest_status(resp, 500, "InternalError", "reading the store failed");
		return;
	}
	char rvs[32];
	snprintf(rvs, sizeof rvs, "%" PRIu64, rv);
	json_t *lmeta = json_pack("{s:s}", "resourceVersion", rvs);
	if (c.more) {
		char *tok = continue_token(rv, c.last_ns, c.last_name);
		if (tok)
			json_object_set_new(lmeta, "continue", json_string(tok));
		free(tok);
	}
	if (table) {
		const char *inc = q(req, "includeObject");
		int mode = inc ? dv_table_include_parse(inc) : -1;
		json_t *tb = dv_table_build(t->res->group, t->res->kind, t->res->columns, c.items,
					    lmeta,
					    mode >= 0 ? (dv_table_include)mode : DV_TABLE_INCLUDE_METADATA,
					    time(NULL));
		json_decref(lmeta);
		json_decref(c.items);
		dv_buf_free(&c.text);
		if (!tb) {
			dv_rest_status(resp, 500, "InternalError", "building the table failed");
			return;
		}
		reply_json(resp, 200, tb);
		return;
	}
	char av[300];
	api_version(t->res, av, sizeof av);
	if (c.items) {
		json_t *list = json_pack("{s:s, s:s, s:o, s:o}", "kind", t->res->list_kind,
					 "apiVersion", av, "metadata", lmeta, "items", c.items);
		dv_buf_free(&c.text);
		reply_json(resp, 200, list);
		return;
	}
	/* Unfiltered: the stored texts go out as they are, never parsed. */
	char *m = json_dumps(lmeta, JSON_COMPACT);
	json_decref(lmeta);
	dv_buf out;
	dv_buf_init(&out, 0);
	int e = dv_buf_appendf(&out, "{\"kind\":\"%s\",\"apiVersion\":\"%s\",\"metadata\":%s,\"items\":[",
			       t->res->list_kind, av, m ? m : "{}");
	free(m);
	if (e == 0)
		e = dv_buf_append(&out, c.text.data ? (const char *)c.text.data : "", c.text.len);
	if (e == 0)
		e = dv_buf_appends(&out, "]}");
	dv_buf_free(&c.text);
	if (e < 0) {
		dv_buf_free(&out);
		dv_rest_status(resp, 500, "InternalError", "out of memory");
		return;
	}
	resp->status = 200;
	resp->len = out.len;
	resp->body = dv_buf_steal(&out);
	snprintf(resp->content_type, sizeof resp->content_type, "application/json");
}

/* Watch ------------------------------------------------------------------ */

struct dv_rest_stream {
	dv_rest *r;
	dv_resource *res;
	dv_watch *w;
	selectors sel;
	bool selective;
	bool table;
	bool bookmarks;
	bool first_table;
	json_t *initial;      /* initial ADDED events still to send (array) */
	size_t initial_next;
	bool initial_end_bookmark;
	uint64_t initial_rv;
	int64_t deadline_ns;  /* 0: none */
	int64_t last_sent_ns;
	dv_buf out;           /* bytes produced, not yet read */
	bool ended;
	char error_event[512];
};

static void stream_emit(dv_rest_stream *s, const char *type, json_t *obj)
{
	if (s->table && obj && strcmp(type, "BOOKMARK") != 0 && strcmp(type, "ERROR") != 0) {
		json_t *items = json_array();
		json_array_append(items, obj);
		json_t *tb = dv_table_build(s->res->group, s->res->kind, s->res->columns, items, NULL,
					    DV_TABLE_INCLUDE_METADATA, time(NULL));
		json_decref(items);
		if (tb && !s->first_table)
			json_object_del(tb, "columnDefinitions");
		s->first_table = false;
		obj = tb;
	} else {
		json_incref(obj);
	}
	json_t *ev = json_pack("{s:s, s:o}", "type", type, "object", obj ? obj : json_object());
	char *txt = json_dumps(ev, JSON_COMPACT);
	json_decref(ev);
	if (txt) {
		dv_buf_appends(&s->out, txt);
		dv_buf_append(&s->out, "\n", 1);
		free(txt);
	}
	s->last_sent_ns = dv_now_ns();
}

static void emit_bookmark(dv_rest_stream *s, uint64_t rv, bool initial_end)
{
	char rvs[32], av[300];
	snprintf(rvs, sizeof rvs, "%" PRIu64, rv);
	api_version(s->res, av, sizeof av);
	json_t *o = json_pack("{s:s, s:s, s:{s:s}}", "kind", s->res->kind, "apiVersion", av,
			      "metadata", "resourceVersion", rvs);
	if (initial_end)
		json_object_set_new(json_object_get(o, "metadata"), "annotations",
				    json_pack("{s:s}", "k8s.io/initial-events-end", "true"));
	stream_emit(s, "BOOKMARK", o);
	json_decref(o);
}

static void emit_gone(dv_rest_stream *s, const char *msg)
{
	json_t *st = status_json(410, "Expired", msg);
	stream_emit(s, "ERROR", st);
	json_decref(st);
	s->ended = true;
}

/* Turns one store event into what this watch sends (or nothing). */
static void stream_event(dv_rest_stream *s, const dv_event *ev)
{
	const char *type = ev->type == DV_EV_ADDED ? "ADDED"
			   : ev->type == DV_EV_MODIFIED ? "MODIFIED"
							: "DELETED";
	if (!s->selective && !s->table && !s->res->custom) {
		/* The common case (controllers' informers): the stored text goes
		 * out as it is, never parsed per watcher. */
		dv_buf_appendf(&s->out, "{\"type\":\"%s\",\"object\":", type);
		dv_buf_appends(&s->out, ev->body);
		dv_buf_appends(&s->out, "}\n");
		s->last_sent_ns = dv_now_ns();
		return;
	}
	json_t *obj = json_loads(ev->body, 0, NULL);
	if (!obj)
		return;
	if (s->res->custom)
		set_type(obj, s->res);
	if (s->selective) {
		bool now = sel_match(&s->sel, obj);
		bool before = false;
		if (ev->old_body) {
			json_t *old = json_loads(ev->old_body, 0, NULL);
			before = old && sel_match(&s->sel, old);
			json_decref(old);
		}
		if (ev->type == DV_EV_MODIFIED) {
			if (now && !before)
				type = "ADDED";
			else if (!now && before)
				type = "DELETED";
			else if (!now)
				type = NULL;
		} else if (!now) {
			type = NULL;
		}
	}
	if (type)
		stream_emit(s, type, obj);
	json_decref(obj);
}

static int initial_each(void *vctx, const char *ns, const char *name, const char *body, size_t len)
{
	dv_rest_stream *s = vctx;
	json_t *obj = json_loadb(body, len, 0, NULL);
	if (obj && (!s->selective || sel_match(&s->sel, obj)))
		json_array_append(s->initial, obj);
	json_decref(obj);
	return 0;
}

ssize_t dv_rest_stream_read(dv_rest_stream *s, char *buf, size_t max,
			    bool (*peer_gone)(void *), void *peer_ctx)
{
	while (s->out.len == 0) {
		if (s->ended)
			return 0;
		if (s->initial) {
			if (s->initial_next < json_array_size(s->initial)) {
				json_t *o = json_array_get(s->initial, s->initial_next++);
				if (s->res->custom)
					set_type(o, s->res);
				stream_emit(s, "ADDED", o);
				continue;
			}
			json_decref(s->initial);
			s->initial = NULL;
			if (s->initial_end_bookmark)
				emit_bookmark(s, s->initial_rv, true);
			continue;
		}
		if (s->error_event[0]) {
			emit_gone(s, s->error_event);
			continue;
		}
		int64_t now = dv_now_ns();
		if (s->deadline_ns && now >= s->deadline_ns) {
			s->ended = true;
			return 0;
		}
		if (peer_gone && peer_gone(peer_ctx))
			return -1;
		dv_event *ev = NULL;
		uint64_t seen = 0;
		int rc = dv_watch_next(s->w, WATCH_POLL_MS, &ev, &seen);
		if (rc == 1) {
			stream_event(s, ev);
			dv_event_release(ev);
		} else if (rc == -EOVERFLOW) {
			emit_gone(s, "the watch fell behind the event history; list again");
		} else if (rc < 0) {
			s->ended = true;
		} else if (s->bookmarks &&
			   now - s->last_sent_ns > (int64_t)BOOKMARK_EVERY_S * 1000000000LL) {
			emit_bookmark(s, seen, false);
		}
	}
	size_t n = s->out.len < max ? s->out.len : max;
	memcpy(buf, s->out.data, n);
	dv_buf_consume(&s->out, n);
	return (ssize_t)n;
}

void dv_rest_stream_free(dv_rest_stream *s)
{
	if (!s)
		return;
	dv_watch_close(s->w);
	selectors_free(&s->sel);
	json_decref(s->initial);
	dv_resource_release(s->res);
	dv_buf_free(&s->out);
	free(s);
}

static void serve_watch(dv_rest *r, const dv_rest_req *req, const target *t, selectors *sel,
			dv_rest_resp *resp)
{
	dv_rest_stream *s = calloc(1, sizeof *s);
	if (!s) {
		selectors_free(sel);
		dv_rest_status(resp, 500, "InternalError", "out of memory");
		return;
	}
	s->r = r;
	s->res = t->res;
	__atomic_add_fetch(&t->res->refs, 1, __ATOMIC_ACQ_REL);
	s->sel = *sel;
	s->selective = sel_any(sel);
	s->table = wants_table(req);
	s->first_table = true;
	s->bookmarks = q_true(req, "allowWatchBookmarks");
	s->last_sent_ns = dv_now_ns();
	dv_buf_init(&s->out, 0);
	/* Without timeoutSeconds a watch lasts 30 to 60 minutes, as
	 * kube-apiserver's --min-request-timeout makes it: clients watch
	 * again, and no connection is held forever. */
	const char *ts = q(req, "timeoutSeconds");
	long secs = 0;
	if (ts && *ts) {
		char *end;
		secs = strtol(ts, &end, 10);
		if (*end || secs < 0) {
			dv_rest_stream_free(s);
			reply_error(resp, 400, "BadRequest", NULL, "invalid timeoutSeconds: %s", ts);
			return;
		}
	}
	if (secs <= 0) {
		unsigned char rnd = 0;
		if (getrandom(&rnd, 1, 0) != 1)
			rnd = 128;
		secs = WATCH_MIN_TIMEOUT_S + (long)rnd * WATCH_MIN_TIMEOUT_S / 255;
	}
	s->deadline_ns = dv_now_ns() + (int64_t)secs * 1000000000LL;
	resp->stream_seconds = (unsigned)secs;
	const char *rvq = q(req, "resourceVersion");
	bool send_initial = q_true(req, "sendInitialEvents");
	uint64_t from = 0;
	if (rvq && *rvq && strcmp(rvq, "0") != 0 && !send_initial) {
		char *end;
		errno = 0;
		from = strtoull(rvq, &end, 10);
		if (errno || *end) {
			dv_rest_stream_free(s);
			reply_error(resp, 400, "BadRequest", NULL, "invalid resource version: %s", rvq);
			return;
		}
	} else {
		/* Start from the current state: its objects as ADDED, then the
		 * changes after it. */
		s->initial = json_array();
		if (dv_objstore_list(r->st, t->res->store_key, t->has_ns ? t->ns : NULL, NULL, NULL,
				     initial_each, s, &from) < 0) {
			dv_rest_stream_free(s);
			dv_rest_status(resp, 500, "InternalError", "reading the store failed");
			return;
		}
		s->initial_rv = from;
		s->initial_end_bookmark = send_initial && s->bookmarks;
	}
	int rc = dv_objstore_watch(r->st, t->res->store_key, t->has_ns ? t->ns : NULL, from, &s->w);
	if (rc == -ERANGE) {
		snprintf(s->error_event, sizeof s->error_event, "too old resource version: %" PRIu64 " (%" PRIu64 ")",
			 from, dv_objstore_rv(r->st));
	} else if (rc < 0) {
		dv_rest_stream_free(s);
		dv_rest_status(resp, 500, "InternalError", "starting the watch failed");
		return;
	}
	resp->status = 200;
	resp->stream = s;
	snprintf(resp->content_type, sizeof resp->content_type, "application/json");
}

/* Single objects ---------------------------------------------------------- */

static void reply_object(const dv_rest_req *req, const target *t, dv_rest_resp *resp, int code,
			 json_t *obj)
{
	if (wants_table(req)) {
		json_t *items = json_array();
		json_array_append_new(items, obj);
		json_t *tb = dv_table_build(t->res->group, t->res->kind, t->res->columns, items, NULL,
					    DV_TABLE_INCLUDE_METADATA, time(NULL));
		json_decref(items);
		if (!tb) {
			dv_rest_status(resp, 500, "InternalError", "building the table failed");
			return;
		}
		reply_json(resp, code, tb);
		return;
	}
	reply_json(resp, code, obj);
}

static void serve_get(dv_rest *r, const dv_rest_req *req, const target *t, dv_rest_resp *resp)
{
	json_t *obj = load_obj(r, t, t->name, NULL);
	if (!obj) {
		reply_not_found(resp, t, t->name);
		return;
	}
	if (t->res->custom)
		set_type(obj, t->res);
	reply_object(req, t, resp, 200, obj);
}

/* Whether changes to this kind's spec bump metadata.generation: custom
 * resources and the kinds that are CRDs upstream. */
static bool tracks_generation(const dv_resource *res)
{
	return res->custom || strcmp(res->group, "apiextensions.k8s.io") == 0 ||
	       strcmp(res->group, "snapshot.storage.k8s.io") == 0;
}

/* Deepest nesting a request body may have. Objects nest a few levels;
 * the limit keeps the recursive parser's stack use small and bounded. */
#define MAX_JSON_DEPTH 256

/* Whether the JSON text nests deeper than MAX_JSON_DEPTH (strings are
 * skipped, so brackets inside them do not count). */
static bool too_deep(const char *p, size_t len)
{
	int depth = 0;
	bool in_str = false;
	for (size_t i = 0; i < len; i++) {
		char c = p[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
		} else if (c == '"') {
			in_str = true;
		} else if (c == '{' || c == '[') {
			if (++depth > MAX_JSON_DEPTH)
				return true;
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return false;
}

static json_t *check_type(json_t *obj, const target *t, dv_rest_resp *resp);

static json_t *body_json(const dv_rest_req *req, const target *t, dv_rest_resp *resp)
{
	const char *ct = req->content_type ? req->content_type : "application/json";
	bool pb = strncmp(ct, "application/vnd.kubernetes.protobuf", 35) == 0;
	bool yaml = strncmp(ct, "application/yaml", 16) == 0;
	if (!pb && !yaml && strncmp(ct, "application/json", 16) != 0 && strncmp(ct, "*/*", 3) != 0) {
		reply_error(resp, 415, "UnsupportedMediaType", NULL,
			    "the body of the request was in an unknown format - accepted media types "
			    "include: application/json, application/yaml, "
			    "application/vnd.kubernetes.protobuf");
		return NULL;
	}
	if (!req->body || req->body_len == 0) {
		reply_error(resp, 400, "BadRequest", NULL, "the request body is empty");
		return NULL;
	}
	json_t *obj;
	if (pb) {
		/* kubectl's create generators send protobuf; the kinds they make
		 * are decoded, anything else is 415 with a hint to send JSON. */
		char perr[256] = "";
		errno = 0;
		obj = dv_k8spb_decode(req->body, req->body_len, perr, sizeof perr);
		if (!obj) {
			int e = errno;
			reply_error(resp, e == ENOTSUP ? 415 : 400,
				    e == ENOTSUP ? "UnsupportedMediaType" : "BadRequest", NULL,
				    "the protobuf body could not be decoded: %s", perr);
			return NULL;
		}
		return check_type(obj, t, resp);
	}
	if (yaml) {
		char yerr[256] = "";
		obj = yaml_to_json(req->body, req->body_len, yerr, sizeof yerr);
		if (!json_is_object(obj)) {
			json_decref(obj);
			reply_error(resp, 400, "BadRequest", NULL,
				    "the body of the request could not be decoded as YAML: %s",
				    yerr[0] ? yerr : "not a mapping");
			return NULL;
		}
		return check_type(obj, t, resp);
	}
	if (too_deep(req->body, req->body_len)) {
		reply_error(resp, 400, "BadRequest", NULL,
			    "the body of the request nests deeper than %d levels", MAX_JSON_DEPTH);
		return NULL;
	}
	json_error_t je;
	obj = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
	if (!obj) {
		reply_error(resp, 400, "BadRequest", NULL,
			    "the body of the request could not be decoded as JSON: %s at line %d",
			    je.text, je.line);
		return NULL;
	}
	if (!json_is_object(obj)) {
		json_decref(obj);
		reply_error(resp, 400, "BadRequest", NULL, "the body of the request is not a JSON object");
		return NULL;
	}
	return check_type(obj, t, resp);
}

/* The body's apiVersion and kind must be the resource's. Consumes obj on
 * failure. */
static json_t *check_type(json_t *obj, const target *t, dv_rest_resp *resp)
{
	char av[300];
	api_version(t->res, av, sizeof av);
	const char *kind = jstr(obj, "kind"), *oav = jstr(obj, "apiVersion");
	if (!kind || !*kind) {
		json_decref(obj);
		reply_error(resp, 400, "BadRequest", NULL, "Object 'Kind' is missing in the request body");
		return NULL;
	}
	if (!oav || !*oav) {
		json_decref(obj);
		reply_error(resp, 400, "BadRequest", NULL, "Object 'apiVersion' is missing in the request body");
		return NULL;
	}
	if (strcmp(kind, t->res->kind) != 0 || strcmp(oav, av) != 0) {
		reply_error(resp, 400, "BadRequest", NULL,
			    "the API version in the data (%s) does not match the expected API version (%s), "
			    "or the kind (%s) is not %s",
			    oav, av, kind, t->res->kind);
		json_decref(obj);
		return NULL;
	}
	if (json_object_get(obj, "metadata") && !json_is_object(json_object_get(obj, "metadata"))) {
		json_decref(obj);
		reply_error(resp, 400, "BadRequest", NULL, "metadata must be an object");
		return NULL;
	}
	return obj;
}

/* The namespace must exist and not be terminating (NamespaceLifecycle). */
static int check_namespace(dv_rest *r, const target *t, dv_rest_resp *resp)
{
	if (!t->res->namespaced)
		return 0;
	char *body = NULL;
	if (dv_objstore_get(r->st, "/namespaces", "", t->ns, &body, NULL) < 0) {
		reply_error(resp, 404, "NotFound", NULL, "namespaces \"%s\" not found", t->ns);
		return -1;
	}
	/* Only terminating namespaces carry a deletionTimestamp: no need to
	 * parse the object on every create. */
	bool terminating = strstr(body, "\"deletionTimestamp\"") != NULL;
	free(body);
	if (terminating && strcmp(t->res->kind, "Event") != 0) {
		reply_error(resp, 403, "Forbidden", NULL,
			    "%s \"%s\" is forbidden: unable to create new content in namespace %s "
			    "because it is being terminated",
			    t->res->resource, t->name, t->ns);
		return -1;
	}
	return 0;
}

static int default_sc_each(void *vctx, const char *ns, const char *name, const char *body,
			   size_t len)
{
	json_t **best = vctx;
	json_t *sc = json_loadb(body, len, 0, NULL);
	json_t *ann = json_object_get(json_object_get(sc, "metadata"), "annotations");
	const char *a = jstr(ann, "storageclass.kubernetes.io/is-default-class");
	const char *b = jstr(ann, "storageclass.beta.kubernetes.io/is-default-class");
	if ((a && strcmp(a, "true") == 0) || (b && strcmp(b, "true") == 0)) {
		/* Several defaults: the newest wins, as since Kubernetes 1.28. */
		const char *ts = jstr(json_object_get(sc, "metadata"), "creationTimestamp");
		const char *bts = *best ? jstr(json_object_get(*best, "metadata"), "creationTimestamp") : NULL;
		if (!*best || (ts && bts && strcmp(ts, bts) >= 0)) {
			json_decref(*best);
			*best = sc;
			return 0;
		}
	}
	json_decref(sc);
	return 0;
}

static void add_finalizer(json_t *obj, const char *f)
{
	json_t *m = meta_of(obj);
	json_t *fin = json_object_get(m, "finalizers");
	if (!json_is_array(fin)) {
		fin = json_array();
		json_object_set_new(m, "finalizers", fin);
	}
	size_t i;
	json_t *v;
	json_array_foreach(fin, i, v)
	{
		if (json_is_string(v) && strcmp(json_string_value(v), f) == 0)
			return;
	}
	json_array_append_new(fin, json_string(f));
}

/* Admission on create, in kube-apiserver's order: DefaultStorageClass,
 * then the storage-object-in-use protection finalizers. */
static void admit_create(dv_rest *r, const target *t, json_t *obj)
{
	if (*t->res->group)
		return;
	if (strcmp(t->res->kind, "PersistentVolumeClaim") == 0) {
		json_t *spec = json_object_get(obj, "spec");
		if (json_is_object(spec) && !json_object_get(spec, "storageClassName")) {
			json_t *best = NULL;
			uint64_t rv;
			dv_objstore_list(r->st, "storage.k8s.io/storageclasses", NULL, NULL, NULL,
					 default_sc_each, &best, &rv);
			const char *name = jstr(json_object_get(best, "metadata"), "name");
			if (name)
				json_object_set_new(spec, "storageClassName", json_string(name));
			json_decref(best);
		}
		add_finalizer(obj, "kubernetes.io/pvc-protection");
	} else if (strcmp(t->res->kind, "PersistentVolume") == 0) {
		add_finalizer(obj, "kubernetes.io/pv-protection");
	}
}

/* Status a new object starts with. */
static void initial_status(const target *t, json_t *obj)
{
	const char *k = t->res->kind;
	if (t->res->has_status && t->res->custom) {
		json_object_del(obj, "status");
		return;
	}
	if (*t->res->group)
		return;
	if (strcmp(k, "PersistentVolumeClaim") == 0 || strcmp(k, "Pod") == 0 ||
	    strcmp(k, "PersistentVolume") == 0) {
		json_t *st = json_object_get(obj, "status");
		if (!json_is_object(st) || strcmp(k, "PersistentVolumeClaim") == 0) {
			st = json_object();
			json_object_set_new(obj, "status", st);
		}
		if (!json_object_get(st, "phase"))
			json_object_set_new(st, "phase", json_string("Pending"));
	} else if (strcmp(k, "Namespace") == 0) {
		/* The namespace controller's finalizer, as the registry sets it:
		 * a namespace goes only after what it holds. */
		json_object_set_new(obj, "spec", json_pack("{s:[s]}", "finalizers", "kubernetes"));
		json_object_set_new(obj, "status", json_pack("{s:s}", "phase", "Active"));
	}
}

static void validate_custom(const target *t, json_t *obj, json_t *causes)
{
	if (!t->res->custom || !t->res->schema)
		return;
	dv_schema_default_and_prune(t->res->schema, obj);
	dv_schema_validate(t->res->schema, obj, causes);
}

/* CRDs: the schema must be structural; on success the CRD reports itself
 * Established with its names accepted. */
static void crd_prepare(const target *t, json_t *obj, json_t *causes)
{
	if (strcmp(t->res->kind, "CustomResourceDefinition") != 0)
		return;
	json_t *spec = json_object_get(obj, "spec");
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(spec, "versions"), i, v)
	{
		json_t *sch = json_object_get(json_object_get(v, "schema"), "openAPIV3Schema");
		if (sch) {
			char pfx[128];
			snprintf(pfx, sizeof pfx, "spec.versions[%zu].schema.openAPIV3Schema", i);
			dv_schema_check(sch, pfx, causes);
		}
	}
	char now[32];
	now_rfc3339(now, sizeof now);
	json_t *names = json_object_get(spec, "names");
	json_t *st = json_pack("{s:o, s:[{s:s, s:s, s:s, s:s, s:s}, {s:s, s:s, s:s, s:s, s:s}], s:[]}",
			       "acceptedNames", names ? json_incref(names) : json_object(), "conditions", "type",
			       "NamesAccepted", "status", "True", "reason", "NoConflicts",
			       "message", "no conflicts found", "lastTransitionTime", now, "type",
			       "Established", "status", "True", "reason", "InitialNamesAccepted",
			       "message", "the initial names have been accepted",
			       "lastTransitionTime", now, "storedVersions");
	json_array_foreach(json_object_get(spec, "versions"), i, v)
	{
		if (json_is_true(json_object_get(v, "storage")) && jstr(v, "name"))
			json_array_append_new(json_object_get(st, "storedVersions"),
					      json_string(jstr(v, "name")));
	}
	json_object_set_new(obj, "status", st);
}

static void after_write(const target *t, const json_t *obj, bool deleted)
{
	if (strcmp(t->res->kind, "CustomResourceDefinition") == 0 &&
	    strcmp(t->res->group, "apiextensions.k8s.io") == 0)
		dv_resources_apply_crd(obj, deleted);
}

static void gen_suffix(char *out, size_t len)
{
	static const char alnum[] = "bcdfghjklmnpqrstvwxz2456789";
	unsigned char b[5];
	if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b)
		memset(b, 7, sizeof b);
	size_t i = 0;
	for (; i < 5 && i + 1 < len; i++)
		out[i] = alnum[b[i] % (sizeof alnum - 1)];
	out[i] = '\0';
}

static void serve_create(dv_rest *r, const dv_rest_req *req, target *t, dv_rest_resp *resp)
{
	if (t->name[0]) {
		dv_rest_status(resp, 405, "MethodNotAllowed",
			       "the server does not allow this method on the requested resource");
		return;
	}
	json_t *obj = body_json(req, t, resp);
	if (!obj)
		return;
	json_t *m = meta_of(obj);
	const char *ns = jstr(m, "namespace");
	if (t->res->namespaced) {
		if (ns && *ns && strcmp(ns, t->ns) != 0) {
			json_decref(obj);
			reply_error(resp, 400, "BadRequest", NULL,
				    "the namespace of the provided object does not match the namespace "
				    "sent on the request");
			return;
		}
		json_object_set_new(m, "namespace", json_string(t->ns));
	} else {
		json_object_del(m, "namespace");
	}
	const char *name = jstr(m, "name"), *gen = jstr(m, "generateName");
	bool generated = (!name || !*name) && gen && *gen;
	if (generated) {
		char suf[8], nm[256];
		gen_suffix(suf, sizeof suf);
		snprintf(nm, sizeof nm, "%.*s%s", (int)(strlen(gen) > 58 ? 58 : strlen(gen)), gen, suf);
		json_object_set_new(m, "name", json_string(nm));
		name = jstr(m, "name");
	}
	snprintf(t->name, sizeof t->name, "%s", name ? name : "");
	if (check_namespace(r, t, resp) < 0) {
		json_decref(obj);
		return;
	}
	/* System fields are the server's. */
	char uid[37], now[32];
	new_uid(uid);
	now_rfc3339(now, sizeof now);
	json_object_set_new(m, "uid", json_string(uid));
	json_object_set_new(m, "creationTimestamp", json_string(now));
	json_object_del(m, "resourceVersion");
	json_object_del(m, "deletionTimestamp");
	json_object_del(m, "deletionGracePeriodSeconds");
	json_object_del(m, "selfLink");
	json_object_del(m, "managedFields");
	if (tracks_generation(t->res))
		json_object_set_new(m, "generation", json_integer(1));
	else
		json_object_del(m, "generation");
	initial_status(t, obj);
	dv_default(t->res->group, t->res->kind, obj);
	admit_create(r, t, obj);

	json_t *causes = json_array();
	dv_validate_env env = { lookup, r };
	dv_validate_create(&env, t->res->group, t->res->kind, t->res->namespaced, obj, causes);
	validate_custom(t, obj, causes);
	crd_prepare(t, obj, causes);
	if (json_array_size(causes) > 0) {
		reply_invalid(resp, t, t->name, causes);
		json_decref(causes);
		json_decref(obj);
		return;
	}
	json_decref(causes);
	if (dry_run(req)) {
		reply_object(req, t, resp, 201, obj);
		return;
	}
	for (int attempt = 0;; attempt++) {
		dv_os_write w = { .op = DV_OS_CREATE, .res = t->res->store_key,
				  .ns = t->res->namespaced ? t->ns : "", .name = t->name, .obj = obj };
		int rc = dv_objstore_write(r->st, &w);
		if (rc == -EEXIST && generated && attempt < 8) {
			char suf[8], nm[256];
			gen_suffix(suf, sizeof suf);
			snprintf(nm, sizeof nm, "%.*s%s", (int)(strlen(gen) > 58 ? 58 : strlen(gen)),
				 gen, suf);
			json_object_set_new(m, "name", json_string(nm));
			snprintf(t->name, sizeof t->name, "%s", nm);
			continue;
		}
		if (rc == -EEXIST) {
			char qn[300];
			qualified(t->res, qn, sizeof qn);
			reply_error(resp, 409, "AlreadyExists", t, "%s \"%s\" already exists", qn,
				    t->name);
		} else if (rc < 0) {
			dv_rest_status(resp, 500, "InternalError", "writing the store failed");
		} else {
			after_write(t, obj, false);
			free(w.body);
			reply_object(req, t, resp, 201, json_incref(obj));
		}
		break;
	}
	json_decref(obj);
}

/* Update semantics shared by PUT and PATCH ------------------------------- */

static bool str_eq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/* Carries what the client may not change from old into obj. */
static void keep_system_fields(const target *t, const json_t *old, json_t *obj, bool status_sub)
{
	json_t *om = json_object_get(old, "metadata");
	json_t *m = meta_of(obj);
	static const char *const keep[] = { "uid", "creationTimestamp", "deletionTimestamp",
					    "deletionGracePeriodSeconds", "name", "namespace",
					    "generation", NULL };
	for (size_t i = 0; keep[i]; i++) {
		json_t *v = json_object_get(om, keep[i]);
		if (v)
			json_object_set(m, keep[i], v);
		else
			json_object_del(m, keep[i]);
	}
	json_object_del(m, "managedFields");
	json_object_del(m, "selfLink");
	set_type(obj, t->res);
	if (t->res->has_status && !status_sub) {
		json_t *st = json_object_get(old, "status");
		if (st)
			json_object_set(obj, "status", st);
		else
			json_object_del(obj, "status");
	}
}

/* Whether a and b are equal in every top-level key except those in skip
 * (NULL-terminated), and, when meta_skip is set, in metadata except that
 * key. Compares in place: no copies. */
static bool equal_except(const json_t *a, const json_t *b, const char *const *skip,
			 const char *meta_skip)
{
	const char *k;
	json_t *v;
	for (int pass = 0; pass < 2; pass++) {
		const json_t *x = pass ? b : a, *y = pass ? a : b;
		json_object_foreach((json_t *)x, k, v)
		{
			bool skipped = false;
			for (size_t i = 0; skip && skip[i]; i++)
				if (strcmp(k, skip[i]) == 0)
					skipped = true;
			if (skipped)
				continue;
			json_t *w = json_object_get(y, k);
			if (meta_skip && strcmp(k, "metadata") == 0 && json_is_object(v) &&
			    json_is_object(w)) {
				const char *const ms[] = { meta_skip, NULL };
				if (!equal_except(v, w, ms, NULL))
					return false;
				continue;
			}
			if (pass == 0 ? !json_equal(v, w) : !w)
				return false;
		}
	}
	return true;
}

/* Whether anything outside metadata and status differs. */
static bool spec_changed(const json_t *old, const json_t *obj)
{
	static const char *const skip[] = { "metadata", "status", NULL };
	return !equal_except(old, obj, skip, NULL);
}

static bool finalizers_empty(const json_t *obj)
{
	return json_array_size(json_object_get(json_object_get(obj, "metadata"), "finalizers")) == 0;
}

static bool being_deleted(const json_t *obj)
{
	return json_object_get(json_object_get(obj, "metadata"), "deletionTimestamp") != NULL;
}

/* A finalizer may not be added to an object that is being deleted. */
static void check_finalizers(const json_t *old, const json_t *obj, json_t *causes)
{
	if (!being_deleted(old))
		return;
	json_t *of = json_object_get(json_object_get(old, "metadata"), "finalizers");
	size_t i, j;
	json_t *v, *w;
	json_array_foreach(json_object_get(json_object_get(obj, "metadata"), "finalizers"), i, v)
	{
		bool found = false;
		json_array_foreach(of, j, w)
		{
			if (json_equal(v, w))
				found = true;
		}
		if (!found) {
			dv_cause_add(causes, "FieldValueForbidden", "metadata.finalizers",
				     "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers [%s]",
				     json_string_value(v) ? json_string_value(v) : "");
			return;
		}
	}
}

typedef enum { UPD_OK, UPD_CONFLICT, UPD_NOTFOUND, UPD_FAILED } upd_result;

/*
 * Validates and stores obj as the new state of old. Writes a DELETE when
 * the object is being deleted and its last finalizer went. Replies on
 * every outcome except a conflict that the caller may retry (UPD_CONFLICT
 * with *retry set).
 */
static upd_result store_update(dv_rest *r, const dv_rest_req *req, const target *t,
			       json_t *old, uint64_t old_rv, json_t *obj, bool status_sub,
			       bool precondition, dv_rest_resp *resp)
{
	keep_system_fields(t, old, obj, status_sub);
	if (tracks_generation(t->res) && !status_sub && spec_changed(old, obj)) {
		json_int_t g = json_integer_value(json_object_get(json_object_get(old, "metadata"), "generation"));
		json_object_set_new(meta_of(obj), "generation", json_integer(g + 1));
	}
	dv_default(t->res->group, t->res->kind, obj);
	json_t *causes = json_array();
	dv_validate_env env = { lookup, r };
	if (status_sub)
		dv_validate_status_update(&env, t->res->group, t->res->kind, obj, old, causes);
	else
		dv_validate_update(&env, t->res->group, t->res->kind, t->res->namespaced, obj, old,
				   causes);
	validate_custom(t, obj, causes);
	check_finalizers(old, obj, causes);
	if (json_array_size(causes) == 0 && !status_sub) {
		char *why = dv_admit_update(&env, t->res->group, t->res->kind, obj, old);
		if (why) {
			char q[300];
			qualified(t->res, q, sizeof q);
			reply_error(resp, 403, "Forbidden", t, "%s \"%s\" is forbidden: %s", q, t->name, why);
			free(why);
			json_decref(causes);
			return UPD_FAILED;
		}
	}
	if (strcmp(t->res->kind, "CustomResourceDefinition") == 0 && !status_sub) {
		json_t *keep_status = json_incref(json_object_get(obj, "status"));
		crd_prepare(t, obj, causes);
		json_decref(keep_status);
	}
	if (json_array_size(causes) > 0) {
		reply_invalid(resp, t, t->name, causes);
		json_decref(causes);
		return UPD_FAILED;
	}
	json_decref(causes);

	/* Nothing changed: no write, the stored object is the answer. */
	bool same = equal_except(old, obj, NULL, "resourceVersion");
	if (same || dry_run(req)) {
		reply_object(req, t, resp, 200, json_incref(same ? old : obj));
		return UPD_OK;
	}
	bool finish = being_deleted(obj) && finalizers_empty(obj);
	dv_os_write w = { .op = finish ? DV_OS_DELETE : DV_OS_UPDATE, .res = t->res->store_key,
			  .ns = t->res->namespaced ? t->ns : "", .name = t->name,
			  .expect_rv = old_rv, .obj = obj };
	int rc = dv_objstore_write(r->st, &w);
	free(w.body);
	if (rc == -ESTALE) {
		if (precondition) {
			reply_conflict(resp, t, t->name);
			return UPD_FAILED;
		}
		return UPD_CONFLICT;
	}
	if (rc == -ENOENT) {
		reply_not_found(resp, t, t->name);
		return UPD_NOTFOUND;
	}
	if (rc < 0) {
		dv_rest_status(resp, 500, "InternalError", "writing the store failed");
		return UPD_FAILED;
	}
	after_write(t, obj, finish);
	reply_object(req, t, resp, 200, json_incref(obj));
	return UPD_OK;
}

static void serve_update(dv_rest *r, const dv_rest_req *req, target *t, dv_rest_resp *resp)
{
	json_t *obj = body_json(req, t, resp);
	if (!obj)
		return;
	json_t *m = meta_of(obj);
	const char *name = jstr(m, "name");
	if (!str_eq(name, t->name)) {
		reply_error(resp, 400, "BadRequest", NULL,
			    "the name of the object (%s) does not match the name on the URL (%s)",
			    name ? name : "", t->name);
		json_decref(obj);
		return;
	}
	const char *ns = jstr(m, "namespace");
	if (t->res->namespaced && ns && *ns && strcmp(ns, t->ns) != 0) {
		json_decref(obj);
		reply_error(resp, 400, "BadRequest", NULL,
			    "the namespace of the provided object does not match the namespace sent on the request");
		return;
	}
	uint64_t want = obj_rv(obj);
	bool status_sub = strcmp(t->sub, "status") == 0;
	for (int attempt = 0; attempt < MAX_RETRIES; attempt++) {
		uint64_t rv = 0;
		json_t *old = load_obj(r, t, t->name, &rv);
		if (!old) {
			reply_not_found(resp, t, t->name);
			break;
		}
		if (want && want != rv) {
			json_decref(old);
			reply_conflict(resp, t, t->name);
			break;
		}
		json_t *next = json_deep_copy(obj);
		if (status_sub) {
			json_t *st = json_incref(json_object_get(next, "status"));
			json_decref(next);
			next = json_deep_copy(old);
			if (st)
				json_object_set_new(next, "status", st);
			else
				json_object_del(next, "status");
		}
		upd_result u = store_update(r, req, t, old, rv, next, status_sub, want != 0, resp);
		json_decref(old);
		json_decref(next);
		if (u != UPD_CONFLICT)
			break;
		if (attempt == MAX_RETRIES - 1)
			reply_conflict(resp, t, t->name);
	}
	json_decref(obj);
}

static void serve_patch(dv_rest *r, const dv_rest_req *req, target *t, dv_rest_resp *resp)
{
	int type = dv_patch_type_from_content_type(req->content_type ? req->content_type : "");
	if (type < 0) {
		reply_error(resp, 415, "UnsupportedMediaType", NULL,
			    "the body of the request was in an unknown format - accepted media types include: "
			    "application/json-patch+json, application/merge-patch+json, "
			    "application/strategic-merge-patch+json");
		return;
	}
	if (type == DV_PATCH_STRATEGIC && t->res->custom) {
		reply_error(resp, 415, "UnsupportedMediaType", NULL,
			    "strategic merge patch is not supported for custom resources; use "
			    "application/merge-patch+json");
		return;
	}
	if (req->body && too_deep(req->body, req->body_len)) {
		reply_error(resp, 400, "BadRequest", NULL,
			    "the patch nests deeper than %d levels", MAX_JSON_DEPTH);
		return;
	}
	bool status_sub = strcmp(t->sub, "status") == 0;
	for (int attempt = 0; attempt < MAX_RETRIES; attempt++) {
		uint64_t rv = 0;
		json_t *old = load_obj(r, t, t->name, &rv);
		if (!old) {
			reply_not_found(resp, t, t->name);
			return;
		}
		if (t->res->custom)
			set_type(old, t->res);
		json_t *next = NULL;
		char err[512] = "";
		dv_patch_result pr = dv_patch_apply(old, req->body ? req->body : "", req->body_len,
						    (dv_patch_type)type, t->res->group, t->res->kind,
						    &next, err, sizeof err);
		if (pr != DV_PATCH_OK) {
			json_decref(old);
			int code = pr == DV_PATCH_EINVALID ? 422 : pr == DV_PATCH_EUNSUPPORTED ? 415 : pr == DV_PATCH_ENOMEM ? 500 : 400;
			reply_error(resp, code, code == 422 ? "Invalid" : code == 415 ? "UnsupportedMediaType" : "BadRequest",
				    NULL, "%s", err[0] ? err : "the patch could not be applied");
			return;
		}
		/* A resourceVersion the patch sets is a precondition. */
		uint64_t want = obj_rv(next);
		bool precondition = want != 0 && want != rv;
		if (precondition) {
			json_decref(old);
			json_decref(next);
			reply_conflict(resp, t, t->name);
			return;
		}
		if (!json_is_object(next) || !json_is_object(json_object_get(next, "metadata"))) {
			json_decref(old);
			json_decref(next);
			reply_error(resp, 422, "Invalid", NULL, "the patched object is not a valid object");
			return;
		}
		if (!str_eq(jstr(json_object_get(next, "metadata"), "name"), t->name)) {
			json_decref(old);
			json_decref(next);
			reply_error(resp, 400, "BadRequest", NULL, "the name of the object may not be changed by a patch");
			return;
		}
		json_t *st = NULL;
		if (status_sub) {
			st = json_incref(json_object_get(next, "status"));
			json_decref(next);
			next = json_deep_copy(old);
			if (st)
				json_object_set_new(next, "status", st);
			else
				json_object_del(next, "status");
		}
		upd_result u = store_update(r, req, t, old, rv, next, status_sub, false, resp);
		json_decref(old);
		json_decref(next);
		if (u != UPD_CONFLICT)
			return;
	}
	reply_conflict(resp, t, t->name);
}

/* Delete ------------------------------------------------------------------ */

typedef struct {
	const char *propagation; /* Background | Foreground | Orphan */
	const char *pre_uid;
	const char *pre_rv;
} delete_opts;

static int parse_delete_opts(const dv_rest_req *req, json_t **holder, delete_opts *o,
			     dv_rest_resp *resp)
{
	memset(o, 0, sizeof *o);
	*holder = NULL;
	o->propagation = q(req, "propagationPolicy");
	if (req->body && req->body_len > 0) {
		json_t *b = too_deep(req->body, req->body_len)
				    ? NULL
				    : json_loadb(req->body, req->body_len, 0, NULL);
		if (!json_is_object(b)) {
			json_decref(b);
			reply_error(resp, 400, "BadRequest", NULL, "the body of the request is not a valid DeleteOptions object");
			return -1;
		}
		*holder = b;
		if (jstr(b, "propagationPolicy"))
			o->propagation = jstr(b, "propagationPolicy");
		if (json_is_true(json_object_get(b, "orphanDependents")))
			o->propagation = "Orphan";
		json_t *pre = json_object_get(b, "preconditions");
		o->pre_uid = jstr(pre, "uid");
		o->pre_rv = jstr(pre, "resourceVersion");
	}
	if (o->propagation && strcmp(o->propagation, "Background") != 0 &&
	    strcmp(o->propagation, "Foreground") != 0 && strcmp(o->propagation, "Orphan") != 0) {
		reply_error(resp, 422, "Invalid", NULL,
			    "propagationPolicy: Unsupported value: \"%s\": supported values: "
			    "\"Foreground\", \"Background\", \"Orphan\"",
			    o->propagation);
		json_decref(*holder);
		*holder = NULL;
		return -1;
	}
	return 0;
}

/* Deletes one object: gracefully (deletionTimestamp) when finalizers or
 * the propagation policy say so, else at once. 0, or an HTTP code after
 * replying (quiet: no reply, for deletecollection). */
static int delete_one(dv_rest *r, const dv_rest_req *req, const target *t, const char *name,
		      const delete_opts *o, dv_rest_resp *resp)
{
	for (int attempt = 0; attempt < MAX_RETRIES; attempt++) {
		uint64_t rv = 0;
		json_t *old = load_obj(r, t, name, &rv);
		if (!old) {
			if (resp)
				reply_not_found(resp, t, name);
			return 404;
		}
		json_t *m = meta_of(old);
		if ((o->pre_uid && !str_eq(o->pre_uid, jstr(m, "uid"))) ||
		    (o->pre_rv && obj_rv(old) != strtoull(o->pre_rv, NULL, 10))) {
			if (resp)
				reply_error(resp, 409, "Conflict", t,
					    "Operation cannot be fulfilled on %s \"%s\": the precondition "
					    "failed",
					    t->res->resource, name);
			json_decref(old);
			return 409;
		}
		json_t *next = json_deep_copy(old);
		json_t *nm = meta_of(next);
		const char *prop = o->propagation;
		if (prop && strcmp(prop, "Foreground") == 0)
			add_finalizer(next, "foregroundDeletion");
		else if (prop && strcmp(prop, "Orphan") == 0)
			add_finalizer(next, "orphan");
		bool ns = strcmp(t->res->kind, "Namespace") == 0 && !*t->res->group;
		bool graceful = !finalizers_empty(next) ||
				(ns && json_array_size(json_object_get(json_object_get(next, "spec"), "finalizers")) > 0);
		dv_os_write w = { .res = t->res->store_key, .ns = t->res->namespaced ? t->ns : "",
				  .name = name, .expect_rv = rv, .obj = next };
		if (graceful) {
			if (being_deleted(old) && json_equal(old, next)) {
				/* Already terminating: nothing to write. */
				if (resp)
					reply_object(req, t, resp, 200, json_incref(old));
				json_decref(old);
				json_decref(next);
				return 0;
			}
			if (!being_deleted(old)) {
				char now[32];
				now_rfc3339(now, sizeof now);
				json_object_set_new(nm, "deletionTimestamp", json_string(now));
				json_object_set_new(nm, "deletionGracePeriodSeconds", json_integer(0));
			}
			if (ns)
				json_object_set_new(next, "status", json_pack("{s:s}", "phase", "Terminating"));
			w.op = DV_OS_UPDATE;
		} else {
			w.op = DV_OS_DELETE;
		}
		if (dry_run(req)) {
			if (resp)
				reply_object(req, t, resp, 200, json_incref(next));
			json_decref(old);
			json_decref(next);
			return 0;
		}
		int rc = dv_objstore_write(r->st, &w);
		free(w.body);
		json_decref(old);
		if (rc == -ESTALE) {
			json_decref(next);
			continue;
		}
		if (rc == -ENOENT) {
			json_decref(next);
			if (resp)
				reply_not_found(resp, t, name);
			return 404;
		}
		if (rc < 0) {
			json_decref(next);
			if (resp)
				dv_rest_status(resp, 500, "InternalError", "writing the store failed");
			return 500;
		}
		if (!graceful)
			after_write(t, next, true);
		if (resp)
			reply_object(req, t, resp, 200, next);
		else
			json_decref(next);
		return 0;
	}
	if (resp)
		reply_conflict(resp, t, name);
	return 409;
}

static void serve_delete(dv_rest *r, const dv_rest_req *req, target *t, dv_rest_resp *resp)
{
	json_t *holder;
	delete_opts o;
	if (parse_delete_opts(req, &holder, &o, resp) < 0)
		return;
	delete_one(r, req, t, t->name, &o, resp);
	json_decref(holder);
}

typedef struct {
	const selectors *sel;
	json_t *names; /* [[ns, name], ...] */
} collect_ctx;

static int collect_each(void *vctx, const char *ns, const char *name, const char *body, size_t len)
{
	collect_ctx *c = vctx;
	json_t *obj = json_loadb(body, len, 0, NULL);
	if (obj && sel_match(c->sel, obj))
		json_array_append_new(c->names, json_pack("[s, s]", ns, name));
	json_decref(obj);
	return 0;
}

static void serve_delete_collection(dv_rest *r, const dv_rest_req *req, target *t,
				    dv_rest_resp *resp)
{
	selectors sel;
	if (parse_selectors(req, t, &sel, resp) < 0)
		return;
	json_t *holder;
	delete_opts o;
	if (parse_delete_opts(req, &holder, &o, resp) < 0) {
		selectors_free(&sel);
		return;
	}
	collect_ctx c = { &sel, json_array() };
	uint64_t rv;
	dv_objstore_list(r->st, t->res->store_key, t->has_ns ? t->ns : NULL, NULL, NULL,
			 collect_each, &c, &rv);
	size_t i;
	json_t *v;
	json_array_foreach(c.names, i, v)
	{
		target one = *t;
		snprintf(one.ns, sizeof one.ns, "%s", json_string_value(json_array_get(v, 0)));
		one.has_ns = t->res->namespaced;
		delete_one(r, req, &one, json_string_value(json_array_get(v, 1)), &o, NULL);
	}
	json_decref(c.names);
	json_decref(holder);
	selectors_free(&sel);
	reply_json(resp, 200, status_json(200, NULL, ""));
}

static void serve_resource(dv_rest *r, const dv_rest_req *req, target *t, dv_rest_resp *resp)
{
	const char *m = req->method;
	bool item = t->name[0] != '\0';
	/* A namespaced resource without a namespace in the path can only be
	 * listed or watched, across all namespaces. */
	if (t->res->namespaced && !t->has_ns && (item || strcmp(m, "GET") != 0)) {
		reply_json(resp, 404, status_json(404, "NotFound",
						  "the server could not find the requested resource"));
		return;
	}
	if (strcmp(m, "GET") == 0) {
		if (item)
			serve_get(r, req, t, resp);
		else
			serve_list(r, req, t, resp);
	} else if (strcmp(m, "POST") == 0) {
		serve_create(r, req, t, resp);
	} else if (strcmp(m, "PUT") == 0 && item) {
		serve_update(r, req, t, resp);
	} else if (strcmp(m, "PATCH") == 0 && item) {
		serve_patch(r, req, t, resp);
	} else if (strcmp(m, "DELETE") == 0) {
		if (item)
			serve_delete(r, req, t, resp);
		else
			serve_delete_collection(r, req, t, resp);
	} else {
		dv_rest_status(resp, 405, "MethodNotAllowed",
			       "the server does not allow this method on the requested resource");
	}
}

/* Garbage collection ------------------------------------------------------
 * A background thread that follows every change (one watch over all
 * resources) and keeps an index from owner uid to the keys of the objects
 * that name it in their ownerReferences. Work is event-driven, never a
 * scan of the store:
 *  - an owner deleted: its dependents whose owners are all gone are
 *    deleted (background propagation);
 *  - an owner terminating with foregroundDeletion: its dependents are
 *    deleted, then its finalizer is removed; with orphan: the dependents
 *    lose the reference, then the finalizer goes;
 *  - a namespace terminating: its objects are deleted, then it goes.
 * The index is rebuilt from one scan at start and whenever the watch falls
 * behind the history. */

#define GC_TICK_MS 200

typedef struct {
	dv_rest *r;
	json_t *deps;        /* owner uid -> { key: true } */
	json_t *pending;     /* key -> true: owners waiting for their dependents */
	json_t *terminating; /* namespace -> true */
} gc_state;

/* key: "<store key>\x1f<namespace>\x1f<name>" */
static void gc_key(char *buf, size_t len, const char *res, const char *ns, const char *name)
{
	snprintf(buf, len, "%s\x1f%s\x1f%s", res, ns ? ns : "", name);
}

static bool gc_split(const char *key, char *res, char *ns, char *name, size_t len)
{
	const char *a = strchr(key, '\x1f');
	const char *b = a ? strchr(a + 1, '\x1f') : NULL;
	if (!a || !b || (size_t)(a - key) >= len || (size_t)(b - a - 1) >= len || strlen(b + 1) >= len)
		return false;
	snprintf(res, len, "%.*s", (int)(a - key), key);
	snprintf(ns, len, "%.*s", (int)(b - a - 1), a + 1);
	snprintf(name, len, "%s", b + 1);
	return true;
}

static void gc_index(gc_state *g, const char *key, const json_t *obj, bool add)
{
	size_t i;
	json_t *ref;
	json_array_foreach(json_object_get(json_object_get(obj, "metadata"), "ownerReferences"), i, ref)
	{
		const char *uid = jstr(ref, "uid");
		if (!uid)
			continue;
		json_t *set = json_object_get(g->deps, uid);
		if (add) {
			if (!set) {
				set = json_object();
				json_object_set_new(g->deps, uid, set);
			}
			json_object_set_new(set, key, json_true());
		} else if (set) {
			json_object_del(set, key);
			if (json_object_size(set) == 0)
				json_object_del(g->deps, uid);
		}
	}
}

static bool has_finalizer(const json_t *obj, const char *f)
{
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(json_object_get(obj, "metadata"), "finalizers"), i, v)
	{
		if (str_eq(json_string_value(v), f))
			return true;
	}
	return false;
}

static dv_resource *resource_of(const json_t *obj)
{
	const char *av = jstr(obj, "apiVersion"), *kind = jstr(obj, "kind");
	if (!av || !kind)
		return NULL;
	char group[256] = "";
	const char *slash = strchr(av, '/');
	if (slash && (size_t)(slash - av) < sizeof group) {
		memcpy(group, av, (size_t)(slash - av));
		group[slash - av] = '\0';
	}
	return dv_resource_find_kind(group, kind);
}

/* Notes what an object means to the collector (it exists in this state). */
static void gc_note(gc_state *g, const char *key, const json_t *obj)
{
	if (!being_deleted(obj))
		return;
	if (str_eq(jstr(obj, "kind"), "Namespace") && str_eq(jstr(obj, "apiVersion"), "v1"))
		json_object_set_new(g->terminating, jstr(json_object_get(obj, "metadata"), "name"),
				    json_true());
	if (has_finalizer(obj, "foregroundDeletion") || has_finalizer(obj, "orphan"))
		json_object_set_new(g->pending, key, json_true());
}

static const dv_rest_req GC_REQ = { .method = "DELETE", .path = "" };

static json_t *gc_load(gc_state *g, const char *key, target *t)
{
	char res[256], ns[256], name[256];
	memset(t, 0, sizeof *t);
	if (!gc_split(key, res, ns, name, sizeof res))
		return NULL;
	char *body = NULL;
	if (dv_objstore_get(g->r->st, res, ns, name, &body, NULL) < 0)
		return NULL;
	json_t *obj = json_loads(body, 0, NULL);
	free(body);
	t->res = obj ? resource_of(obj) : NULL;
	if (!t->res) {
		json_decref(obj);
		return NULL;
	}
	snprintf(t->ns, sizeof t->ns, "%s", ns);
	t->has_ns = t->res->namespaced;
	snprintf(t->name, sizeof t->name, "%s", name);
	return obj;
}

/* The owner named by ref (in namespace ns), if it exists with ref's uid. */
static json_t *gc_owner(dv_rest *r, const json_t *ref, const char *ns)
{
	dv_resource *res = resource_of(ref);
	if (!res)
		return NULL;
	char *body = NULL;
	int rc = dv_objstore_get(r->st, res->store_key, res->namespaced ? ns : "",
				 jstr(ref, "name") ? jstr(ref, "name") : "", &body, NULL);
	dv_resource_release(res);
	if (rc < 0)
		return NULL;
	json_t *o = json_loads(body, 0, NULL);
	free(body);
	if (!str_eq(jstr(json_object_get(o, "metadata"), "uid"), jstr(ref, "uid"))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Rewrites an object through the update path (finalizers, ownerRefs). */
static void gc_store(dv_rest *r, const target *t, const json_t *old, json_t *next)
{
	dv_rest_resp resp;
	memset(&resp, 0, sizeof resp);
	store_update(r, &GC_REQ, t, (json_t *)old, obj_rv(old), next, false, true, &resp);
	free(resp.body);
}

/* Deletes the dependent at key if none of its owners is alive (an owner
 * in foregroundDeletion counts as gone). */
static void gc_dependent(gc_state *g, const char *key)
{
	target t;
	json_t *obj = gc_load(g, key, &t);
	if (!obj)
		return;
	json_t *owners = json_object_get(json_object_get(obj, "metadata"), "ownerReferences");
	if (!being_deleted(obj) && json_array_size(owners) > 0) {
		const char *ns = jstr(json_object_get(obj, "metadata"), "namespace");
		size_t alive = 0, i;
		json_t *ref;
		json_array_foreach(json_object_get(json_object_get(obj, "metadata"), "ownerReferences"), i, ref)
		{
			json_t *owner = gc_owner(g->r, ref, ns ? ns : "");
			if (owner && !(being_deleted(owner) && has_finalizer(owner, "foregroundDeletion")))
				alive++;
			json_decref(owner);
		}
		if (alive == 0) {
			delete_opts o = { .propagation = "Background" };
			delete_one(g->r, &GC_REQ, &t, t.name, &o, NULL);
		}
	}
	json_decref(obj);
	dv_resource_release(t.res);
}

static void gc_dependents_of(gc_state *g, const char *uid)
{
	json_t *set = json_deep_copy(json_object_get(g->deps, uid));
	const char *key;
	json_t *v;
	json_object_foreach(set, key, v)
		gc_dependent(g, key);
	json_decref(set);
}

/* An owner in foregroundDeletion or orphan: do its part, then drop the
 * finalizer. Returns true when it is done with. */
static bool gc_pending_owner(gc_state *g, const char *key)
{
	target t;
	json_t *obj = gc_load(g, key, &t);
	if (!obj)
		return true;
	const char *uid = jstr(json_object_get(obj, "metadata"), "uid");
	json_t *set = uid ? json_deep_copy(json_object_get(g->deps, uid)) : NULL;
	bool orphan = has_finalizer(obj, "orphan");
	bool waiting = false;
	const char *dkey;
	json_t *v;
	json_object_foreach(set, dkey, v)
	{
		target dt;
		json_t *dep = gc_load(g, dkey, &dt);
		if (!dep)
			continue;
		if (orphan) {
			json_t *next = json_deep_copy(dep);
			json_t *refs = json_object_get(json_object_get(next, "metadata"), "ownerReferences");
			for (size_t k = json_array_size(refs); k-- > 0;)
				if (str_eq(jstr(json_array_get(refs, k), "uid"), uid))
					json_array_remove(refs, k);
			gc_store(g->r, &dt, dep, next);
			json_decref(next);
		} else {
			waiting = true;
			if (!being_deleted(dep)) {
				delete_opts o = { .propagation = "Background" };
				delete_one(g->r, &GC_REQ, &dt, dt.name, &o, NULL);
			}
		}
		json_decref(dep);
		dv_resource_release(dt.res);
	}
	json_decref(set);
	if (!waiting) {
		json_t *next = json_deep_copy(obj);
		json_t *fin = json_object_get(json_object_get(next, "metadata"), "finalizers");
		for (size_t i = json_array_size(fin); i-- > 0;) {
			const char *f = json_string_value(json_array_get(fin, i));
			if (str_eq(f, "foregroundDeletion") || str_eq(f, "orphan"))
				json_array_remove(fin, i);
		}
		gc_store(g->r, &t, obj, next);
		json_decref(next);
	}
	json_decref(obj);
	dv_resource_release(t.res);
	return !waiting;
}

typedef struct {
	json_t *names;
} names_ctx;

static int names_each(void *vctx, const char *ns, const char *name, const char *body, size_t len)
{
	names_ctx *c = vctx;
	json_array_append_new(c->names, json_string(name));
	return 0;
}

/* Deletes what a terminating namespace holds; removes it once empty.
 * Returns true when the namespace is gone. */
static bool gc_namespace(gc_state *g, const char *ns)
{
	dv_rest *r = g->r;
	json_t *keys = dv_resources_store_keys(true);
	long left = 0;
	size_t i;
	json_t *k;
	json_array_foreach(keys, i, k)
	{
		const char *key = json_string_value(k);
		names_ctx c = { json_array() };
		uint64_t rv;
		dv_objstore_list(r->st, key, ns, NULL, NULL, names_each, &c, &rv);
		const char *slash = strchr(key, '/');
		char group[256];
		snprintf(group, sizeof group, "%.*s", (int)(slash - key), key);
		dv_resource *res = json_array_size(c.names) ? dv_resource_find_any(group, slash + 1) : NULL;
		size_t j;
		json_t *v;
		json_array_foreach(c.names, j, v)
		{
			left++;
			if (!res)
				continue;
			target t = { .res = res, .has_ns = true };
			snprintf(t.ns, sizeof t.ns, "%s", ns);
			delete_opts o = { .propagation = "Background" };
			delete_one(r, &GC_REQ, &t, json_string_value(v), &o, NULL);
		}
		dv_resource_release(res);
		json_decref(c.names);
	}
	json_decref(keys);
	if (left > 0)
		return false;
	char *body = NULL;
	uint64_t rv = 0;
	if (dv_objstore_get(r->st, "/namespaces", "", ns, &body, &rv) < 0)
		return true;
	json_t *obj = json_loads(body, 0, NULL);
	free(body);
	bool gone = false;
	if (obj && being_deleted(obj) && finalizers_empty(obj)) {
		/* The "kubernetes" spec finalizer is the namespace controller's,
		 * that is this: with the namespace empty, it goes. */
		json_object_set_new(obj, "spec", json_object());
		dv_os_write w = { .op = DV_OS_DELETE, .res = "/namespaces", .ns = "", .name = ns,
				  .expect_rv = rv, .obj = obj };
		gone = dv_objstore_write(r->st, &w) == 0;
		free(w.body);
	} else if (!obj || !being_deleted(obj)) {
		gone = true; /* recreated or not terminating any more */
	}
	json_decref(obj);
	return gone;
}

static void gc_event(gc_state *g, const dv_event *ev)
{
	char key[800];
	gc_key(key, sizeof key, ev->res, ev->ns, ev->name);
	if (ev->old_body && strstr(ev->old_body, "\"ownerReferences\"")) {
		json_t *old = json_loads(ev->old_body, 0, NULL);
		gc_index(g, key, old, false);
		json_decref(old);
	}
	bool refs = strstr(ev->body, "\"ownerReferences\"") != NULL;
	/* A terminating object matters only as a namespace or as an owner
	 * waiting in foregroundDeletion/orphan. */
	bool deleting = strstr(ev->body, "\"deletionTimestamp\"") != NULL &&
			(strcmp(ev->res, "/namespaces") == 0 ||
			 strstr(ev->body, "\"foregroundDeletion\"") || strstr(ev->body, "\"orphan\""));
	if (ev->type == DV_EV_DELETED) {
		/* Only a possible owner needs a look: with no dependents known
		 * at all, and none named in this object, there is nothing. */
		if (json_object_size(g->deps) == 0 && !refs)
			return;
		json_t *obj = json_loads(ev->body, 0, NULL);
		gc_index(g, key, obj, false);
		const char *uid = jstr(json_object_get(obj, "metadata"), "uid");
		if (uid && json_object_get(g->deps, uid))
			gc_dependents_of(g, uid);
		json_decref(obj);
		return;
	}
	if (!refs && !deleting)
		return;
	json_t *obj = json_loads(ev->body, 0, NULL);
	if (refs) {
		gc_index(g, key, obj, true);
		gc_dependent(g, key); /* its owner may already be gone */
	}
	if (deleting)
		gc_note(g, key, obj);
	json_decref(obj);
}

static int scan_each(void *vctx, const char *ns, const char *name, const char *body, size_t len)
{
	void **c = vctx;
	gc_state *g = c[0];
	const char *res = c[1];
	if (!memmem(body, len, "\"ownerReferences\"", 17) && !memmem(body, len, "\"deletionTimestamp\"", 19))
		return 0;
	json_t *obj = json_loadb(body, len, 0, NULL);
	char key[800];
	gc_key(key, sizeof key, res, ns, name);
	gc_index(g, key, obj, true);
	gc_note(g, key, obj);
	json_decref(obj);
	return 0;
}

/* Builds the index from the stored objects. */
static void gc_scan(gc_state *g)
{
	json_object_clear(g->deps);
	json_t *keys = dv_resources_store_keys(false);
	size_t i;
	json_t *k;
	json_array_foreach(keys, i, k)
	{
		void *c[2] = { g, (void *)json_string_value(k) };
		uint64_t rv;
		dv_objstore_list(g->r->st, json_string_value(k), NULL, NULL, NULL, scan_each, c, &rv);
	}
	json_decref(keys);
	/* Dependents whose owners went while nobody watched. */
	json_t *deps = json_deep_copy(g->deps);
	const char *uid;
	json_t *set;
	json_object_foreach(deps, uid, set)
	{
		const char *key;
		json_t *v;
		json_object_foreach(set, key, v)
			gc_dependent(g, key);
	}
	json_decref(deps);
}

static void gc_tick(gc_state *g)
{
	json_t *ns = json_deep_copy(g->terminating);
	const char *name;
	json_t *v;
	json_object_foreach(ns, name, v)
	{
		if (gc_namespace(g, name))
			json_object_del(g->terminating, name);
	}
	json_decref(ns);
	json_t *p = json_deep_copy(g->pending);
	json_object_foreach(p, name, v)
	{
		if (gc_pending_owner(g, name))
			json_object_del(g->pending, name);
	}
	json_decref(p);
}

static void *gc_main(void *arg)
{
	dv_rest *r = arg;
	gc_state g = { r, json_object(), json_object(), json_object() };
	dv_watch *w = NULL;
	int64_t next_tick = 0;
	while (!__atomic_load_n(&r->gc_stop, __ATOMIC_ACQUIRE)) {
		/* Namespaces and waiting owners are looked at on a clock, busy
		 * or not. */
		if (dv_now_ns() >= next_tick) {
			gc_tick(&g);
			next_tick = dv_now_ns() + (int64_t)GC_TICK_MS * 1000000;
		}
		if (!w) {
			if (dv_objstore_watch(r->st, NULL, NULL, dv_objstore_rv(r->st), &w) < 0) {
				usleep(GC_TICK_MS * 1000);
				continue;
			}
			gc_scan(&g);
		}
		dv_event *ev = NULL;
		uint64_t seen;
		int rc = dv_watch_next(w, GC_TICK_MS, &ev, &seen);
		if (rc == 1) {
			gc_event(&g, ev);
			dv_event_release(ev);
			continue;
		}
		if (rc == -EOVERFLOW) {
			dv_watch_close(w);
			w = NULL;
			continue;
		}
		if (rc < 0)
			break;
	}
	dv_watch_close(w);
	json_decref(g.deps);
	json_decref(g.pending);
	json_decref(g.terminating);
	return NULL;
}

int dv_rest_start_gc(dv_rest *r)
{
	if (pthread_create(&r->gc, NULL, gc_main, r) != 0)
		return -EAGAIN;
	r->gc_running = true;
	return 0;
}

void dv_rest_stop_gc(dv_rest *r)
{
	if (!r->gc_running)
		return;
	__atomic_store_n(&r->gc_stop, 1, __ATOMIC_RELEASE);
	pthread_join(r->gc, NULL);
	r->gc_running = false;
}

/* Start-up: the namespaces every cluster has, and the CRDs stored. */

static int crd_each(void *vctx, const char *ns, const char *name, const char *body, size_t len)
{
	json_t *crd = json_loadb(body, len, 0, NULL);
	if (crd)
		dv_resources_apply_crd(crd, false);
	json_decref(crd);
	return 0;
}

static void ensure_namespace(dv_rest *r, const char *name)
{
	char *body = NULL;
	if (dv_objstore_get(r->st, "/namespaces", "", name, &body, NULL) == 0) {
		free(body);
		return;
	}
	char uid[37], now[32];
	new_uid(uid);
	now_rfc3339(now, sizeof now);
	json_t *ns = json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:{s:s}}, s:{s:[s]}, s:{s:s}}", "apiVersion",
			       "v1", "kind", "Namespace", "metadata", "name", name, "uid", uid,
			       "creationTimestamp", now, "labels", "kubernetes.io/metadata.name", name,
			       "spec", "finalizers", "kubernetes", "status", "phase", "Active");
	dv_os_write w = { .op = DV_OS_CREATE, .res = "/namespaces", .ns = "", .name = name, .obj = ns };
	dv_objstore_write(r->st, &w);
	free(w.body);
	json_decref(ns);
}

int dv_rest_new(dv_objstore *st, const char *server_addr, dv_rest **out)
{
	dv_rest *r = calloc(1, sizeof *r);
	if (!r)
		return -ENOMEM;
	r->st = st;
	r->server_addr = strdup(server_addr);
	if (!r->server_addr) {
		free(r);
		return -ENOMEM;
	}
	uint64_t rv;
	dv_objstore_list(st, "apiextensions.k8s.io/customresourcedefinitions", NULL, NULL, NULL,
			 crd_each, NULL, &rv);
	static const char *const system_ns[] = { "default", "kube-system", "kube-public",
						 "kube-node-lease", NULL };
	for (size_t i = 0; system_ns[i]; i++)
		ensure_namespace(r, system_ns[i]);
	*out = r;
	return 0;
}

void dv_rest_free(dv_rest *r)
{
	if (!r)
		return;
	dv_rest_stop_gc(r);
	free(r->server_addr);
	free(r);
}

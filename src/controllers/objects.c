/*
 * objects.c - small accessors for Kubernetes objects as jansson trees
 * (dotted paths, finalizers, timestamps) and the Secrets that CSI calls
 * carry.
 */
#include "ctrl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kubeconfig.h"

json_t *ctrl_get(const json_t *obj, const char *path)
{
	char part[128];
	const char *p = path;
	json_t *cur = (json_t *)obj;

	while (cur && *p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);

		if (n >= sizeof(part) || !json_is_object(cur))
			return NULL;
		memcpy(part, p, n);
		part[n] = '\0';
		cur = json_object_get(cur, part);
		p += n + (dot ? 1 : 0);
	}
	return cur;
}

const char *ctrl_str(const json_t *obj, const char *path)
{
	return json_string_value(ctrl_get(obj, path));
}

int ctrl_set_str(json_t *obj, const char *path, const char *value)
{
	char part[128];
	const char *p = path;
	json_t *cur = obj;

	for (;;) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		json_t *next;

		if (n == 0 || n >= sizeof(part) || !json_is_object(cur))
			return -EINVAL;
		memcpy(part, p, n);
		part[n] = '\0';
		if (!dot)
			return json_object_set_new(cur, part, json_string(value)) == 0 ? 0 : -ENOMEM;
		next = json_object_get(cur, part);
		if (!json_is_object(next)) {
			next = json_object();
			if (!next || json_object_set_new(cur, part, next) < 0)
				return -ENOMEM;
		}
		cur = next;
		p = dot + 1;
	}
}

bool ctrl_has_finalizer(const json_t *obj, const char *finalizer)
{
	json_t *f = ctrl_get(obj, "metadata.finalizers");
	size_t i;
	json_t *v;

	json_array_foreach(f, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), finalizer) == 0)
			return true;
	return false;
}

bool ctrl_add_finalizer(json_t *obj, const char *finalizer)
{
	json_t *md = json_object_get(obj, "metadata"), *f;

	if (!json_is_object(md) || ctrl_has_finalizer(obj, finalizer))
		return false;
	f = json_object_get(md, "finalizers");
	if (!json_is_array(f)) {
		f = json_array();
		json_object_set_new(md, "finalizers", f);
	}
	return json_array_append_new(f, json_string(finalizer)) == 0;
}

bool ctrl_remove_finalizer(json_t *obj, const char *finalizer)
{
	json_t *f = ctrl_get(obj, "metadata.finalizers");
	bool changed = false;

	for (size_t i = 0; json_is_array(f) && i < json_array_size(f);) {
		const char *s = json_string_value(json_array_get(f, i));

		if (s && strcmp(s, finalizer) == 0) {
			json_array_remove(f, i);
			changed = true;
		} else {
			i++;
		}
	}
	return changed;
}

bool ctrl_being_deleted(const json_t *obj)
{
	const char *ts = ctrl_str(obj, "metadata.deletionTimestamp");

	return ts && *ts;
}

void ctrl_time_now(char *out, size_t len)
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* --- Secrets ------------------------------------------------------------------ */

void ctrl_secrets_free(ctrl_secrets *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->keys[i]);
		if (s->values[i]) {
			explicit_bzero(s->values[i], strlen(s->values[i]));
			free(s->values[i]);
		}
	}
	free(s->keys);
	free(s->values);
	memset(s, 0, sizeof(*s));
}

int ctrl_secrets_load(ctrl_ctx *ctx, const char *ns, const char *name, ctrl_secrets *out,
		      dv_status *st)
{
	kube_response resp = { 0 };
	int code = kube_get(ctx->kube, &KUBE_SECRETS, ns, name, &resp);
	json_t *data;
	const char *k;
	json_t *v;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (code != 200) {
		if (code == 404)
			dv_status_set(st, DV_NOT_FOUND, "secret %s/%s not found", ns, name);
		else
			dv_status_set(st, DV_UNAVAILABLE, "cannot read secret %s/%s: %s", ns,
				      name, resp.message[0] ? resp.message : "no response");
		kube_response_clear(&resp);
		return code == 404 ? -ENOENT : -EIO;
	}
	data = json_object_get(resp.body, "data");
	if (json_is_object(data) && json_object_size(data) > 0) {
		size_t n = json_object_size(data);

		out->keys = calloc(n, sizeof(char *));
		out->values = calloc(n, sizeof(char *));
		if (!out->keys || !out->values)
			rc = -ENOMEM;
		json_object_foreach(data, k, v) {
			char *dec = NULL;
			size_t dlen = 0;

			if (rc < 0)
				break;
			if (!json_is_string(v) ||
			    kube_base64_decode(json_string_value(v), &dec, &dlen) < 0 ||
			    memchr(dec, '\0', dlen)) {
				free(dec);
				/* The key name is not secret; the value is. */
				dv_status_set(st, DV_INVALID_ARGUMENT,
					      "secret %s/%s: key %s is not valid text", ns, name, k);
				rc = -EINVAL;
				break;
			}
			out->keys[out->n] = strdup(k);
			out->values[out->n] = dec;
			out->n++;
			if (!out->keys[out->n - 1])
				rc = -ENOMEM;
		}
	}
	/* The response body held the values too. */
	kube_response_clear(&resp);
	if (rc < 0) {
		ctrl_secrets_free(out);
		if (rc == -ENOMEM)
			dv_status_set(st, DV_RESOURCE_EXHAUSTED, "out of memory");
	}
	return rc;
}

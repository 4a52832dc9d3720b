/*
 * events.c - the asynchronous, aggregating Event recorder (see events.h).
 */
#include "events.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "map.h"
#include "redact.h"
#include "strutil.h"

#define QUEUE_MAX 1000
#define AGGREGATE_MAX 4096 /* remembered (object, reason, message) series */

typedef struct pending {
	struct pending *next;
	char *kind, *api_version, *namespace, *name, *uid, *resource_version;
	char *type, *reason, *message;
	time_t when;
} pending;

/* One Event already written, for aggregation. */
typedef struct {
	char *event_name;
	char *event_ns;
	long count;
} series;

struct kube_recorder {
	kube_client *client;
	char *component, *host;
	pthread_mutex_t lock;
	pthread_cond_t cond;	  /* work arrived, or stop */
	pthread_cond_t idle_cond; /* the queue drained */
	pending *head, *tail;
	size_t queued;
	bool busy, stopping;
	pthread_t thread;
	kube_map series; /* recorder thread only */
	kube_recorder_stats stats;
};

static void pending_free(pending *p)
{
	if (!p)
		return;
	free(p->kind);
	free(p->api_version);
	free(p->namespace);
	free(p->name);
	free(p->uid);
	free(p->resource_version);
	free(p->type);
	free(p->reason);
	free(p->message);
	free(p);
}

static void format_time(time_t t, char *out, size_t len)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *event_body(kube_recorder *rec, const pending *p, const char *ns)
{
	char ts[32];
	format_time(p->when, ts, sizeof(ts));
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	/* client-go's naming: <object>.<unix nanoseconds in hex>. */
	char name[320];
	snprintf(name, sizeof(name), "%.250s.%llx", p->name,
		 (unsigned long long)now.tv_sec * 1000000000ULL + (unsigned long long)now.tv_nsec);
	json_t *involved = json_pack("{s:s, s:s}", "kind", p->kind, "name", p->name);
	if (!involved)
		return NULL;
	if (p->namespace)
		json_object_set_new(involved, "namespace", json_string(p->namespace));
	if (p->api_version)
		json_object_set_new(involved, "apiVersion", json_string(p->api_version));
	if (p->uid)
		json_object_set_new(involved, "uid", json_string(p->uid));
	if (p->resource_version)
		json_object_set_new(involved, "resourceVersion", json_string(p->resource_version));
	json_t *source = json_pack("{s:s}", "component", rec->component);
	if (source && rec->host)
		json_object_set_new(source, "host", json_string(rec->host));
	return json_pack("{s:s, s:s, s:{s:s, s:s}, s:o, s:s, s:s, s:s, s:i, s:s, s:s, s:o*, "
			 "s:s, s:s}",
			 "apiVersion", "v1", "kind", "Event",
			 "metadata", "name", name, "namespace", ns,
			 "involvedObject", involved,
			 "reason", p->reason, "message", p->message, "type", p->type,
			 "count", 1, "firstTimestamp", ts, "lastTimestamp", ts,
			 "source", source,
			 "reportingComponent", rec->component,
			 "reportingInstance", rec->host ? rec->host : rec->component);
}

static void series_free(series *s)
{
	if (s) {
		free(s->event_name);
		free(s->event_ns);
		free(s);
	}
}

static int series_free_cb(const char *key, void *value, void *payload)
{
	(void)key;
	(void)payload;
	series_free(value);
	return 0;
}

static void remember(kube_recorder *rec, const char *key, const json_t *created, const char *ns)
{
	/* Forgetting everything at the cap is crude but bounded; a repeat
	 * after that starts a new Event, which is still correct. */
	if (rec->series.count >= AGGREGATE_MAX) {
		kube_map_foreach(&rec->series, series_free_cb, NULL);
		kube_map_clear(&rec->series);
	}
	const char *name =
		json_string_value(json_object_get(json_object_get(created, "metadata"), "name"));
	series *s = calloc(1, sizeof(*s));
	if (!s || !name)
		goto fail;
	s->event_name = strdup(name);
	s->event_ns = strdup(ns);
	s->count = 1;
	void *old = NULL;
	if (!s->event_name || !s->event_ns || kube_map_put(&rec->series, key, s, &old) < 0)
		goto fail;
	series_free(old);
	return;
fail:
	series_free(s);
}

static void count_stat(kube_recorder *rec, uint64_t *field)
{
	pthread_mutex_lock(&rec->lock);
	(*field)++;
	pthread_mutex_unlock(&rec->lock);
}

/* Bumps an existing series; false when it has to be created anew. */
static bool bump(kube_recorder *rec, series *s, const pending *p)
{
	char ts[32];
	format_time(p->when, ts, sizeof(ts));
	json_t *patch = json_pack("{s:I, s:s}", "count", (json_int_t)(s->count + 1),
				  "lastTimestamp", ts);
	kube_response resp = { 0 };
	int r = patch ? kube_patch(rec->client, &KUBE_EVENTS, s->event_ns, s->event_name, NULL,
				   KUBE_PATCH_MERGE, patch, &resp)
		      : -ENOMEM;
	json_decref(patch);
	kube_response_clear(&resp);
	if (r == 200) {
		s->count++;
		count_stat(rec, &rec->stats.aggregated);
		return true;
	}
	return false;
}

static void write_event(kube_recorder *rec, const pending *p)
{
	const char *ns = p->namespace && *p->namespace ? p->namespace : "default";
	dv_buf key;
	dv_buf_init(&key, 0);
	dv_buf_appendf(&key, "%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s", p->kind, ns, p->name,
		       p->uid ? p->uid : "", p->type, p->reason, p->message);
	const char *k = key.data ? (const char *)key.data : "";
	series *s = kube_map_get(&rec->series, k);
	if (s && bump(rec, s, p)) {
		dv_buf_free(&key);
		return;
	}
	json_t *body = event_body(rec, p, ns);
	kube_response resp = { 0 };
	int r = body ? kube_create(rec->client, &KUBE_EVENTS, ns, body, &resp) : -ENOMEM;
	if (r == 201 || r == 200) {
		remember(rec, k, resp.body, ns);
		count_stat(rec, &rec->stats.created);
	} else {
		/* The reason only: the message is the caller's and was sent. */
		log_warn("kube events: cannot record %s on %s %s/%s: %s", p->reason, p->kind, ns,
			 p->name, resp.message);
		count_stat(rec, &rec->stats.failed);
	}
	json_decref(body);
	kube_response_clear(&resp);
	dv_buf_free(&key);
}

static void *recorder_main(void *arg)
{
	kube_recorder *rec = arg;
	pthread_mutex_lock(&rec->lock);
	for (;;) {
		while (!rec->head && !rec->stopping)
			pthread_cond_wait(&rec->cond, &rec->lock);
		pending *p = rec->head;
		if (!p)
			break;
		rec->head = p->next;
		if (!rec->head)
			rec->tail = NULL;
		rec->queued--;
		rec->busy = true;
		pthread_mutex_unlock(&rec->lock);
		write_event(rec, p);
		pending_free(p);
		pthread_mutex_lock(&rec->lock);
		rec->busy = false;
		if (!rec->head)
			pthread_cond_broadcast(&rec->idle_cond);
	}
	pthread_mutex_unlock(&rec->lock);
	return NULL;
}

int kube_recorder_new(kube_client *c, const char *component, const char *host,
		      kube_recorder **ret)
{
	kube_recorder *rec = calloc(1, sizeof(*rec));
	if (!rec)
		return -ENOMEM;
	rec->client = c;
	rec->component = strdup(component);
	rec->host = host ? strdup(host) : NULL;
	pthread_mutex_init(&rec->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&rec->cond, NULL);
	pthread_cond_init(&rec->idle_cond, &ca);
	pthread_condattr_destroy(&ca);
	kube_map_init(&rec->series);
	int r = (!rec->component || (host && !rec->host)) ? -ENOMEM : 0;
	if (r == 0)
		r = -pthread_create(&rec->thread, NULL, recorder_main, rec);
	if (r < 0) {
		free(rec->component);
		free(rec->host);
		pthread_mutex_destroy(&rec->lock);
		pthread_cond_destroy(&rec->cond);
		pthread_cond_destroy(&rec->idle_cond);
		free(rec);
		return r;
	}
	*ret = rec;
	return 0;
}

bool kube_recorder_flush(kube_recorder *rec, int timeout_ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	int64_t t = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec + (int64_t)timeout_ms * 1000000;
	ts.tv_sec = t / 1000000000LL;
	ts.tv_nsec = t % 1000000000LL;
	pthread_mutex_lock(&rec->lock);
	while (rec->head || rec->busy) {
		if (pthread_cond_timedwait(&rec->idle_cond, &rec->lock, &ts) == ETIMEDOUT)
			break;
	}
	bool done = !rec->head && !rec->busy;
	pthread_mutex_unlock(&rec->lock);
	return done;
}

void kube_recorder_free(kube_recorder *rec)
{
	if (!rec)
		return;
	kube_recorder_flush(rec, 5000);
	pthread_mutex_lock(&rec->lock);
	rec->stopping = true;
	/* What could not be written in time is dropped. */
	while (rec->head) {
		pending *p = rec->head;
		rec->head = p->next;
		pending_free(p);
		rec->stats.dropped++;
	}
	rec->tail = NULL;
	pthread_cond_broadcast(&rec->cond);
	pthread_mutex_unlock(&rec->lock);
	pthread_join(rec->thread, NULL);
	kube_map_foreach(&rec->series, series_free_cb, NULL);
	kube_map_clear(&rec->series);
	pthread_mutex_destroy(&rec->lock);
	pthread_cond_destroy(&rec->cond);
	pthread_cond_destroy(&rec->idle_cond);
	free(rec->component);
	free(rec->host);
	free(rec);
}

void kube_recorder_get_stats(kube_recorder *rec, kube_recorder_stats *out)
{
	pthread_mutex_lock(&rec->lock);
	*out = rec->stats;
	pthread_mutex_unlock(&rec->lock);
}

static char *dup_opt(const char *s, bool *oom)
{
	if (!s || !*s)
		return NULL;
	char *d = strdup(s);
	if (!d)
		*oom = true;
	return d;
}

static void enqueue(kube_recorder *rec, const kube_object_ref *ref, const char *type,
		    const char *reason, const char *fmt, va_list ap)
	__attribute__((format(printf, 5, 0)));
static void enqueue(kube_recorder *rec, const kube_object_ref *ref, const char *type,
		    const char *reason, const char *fmt, va_list ap)
{
	if (!ref->kind || !ref->name || !reason || !type) {
		log_warn("kube events: event without kind, name, type or reason dropped");
		return;
	}
	char msg[KUBE_EVENT_MESSAGE_MAX + 1];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	kube_redact(msg);
	bool oom = false;
	pending *p = calloc(1, sizeof(*p));
	if (!p)
		return;
	p->kind = dup_opt(ref->kind, &oom);
	p->api_version = dup_opt(ref->api_version, &oom);
	p->namespace = dup_opt(ref->namespace, &oom);
	p->name = dup_opt(ref->name, &oom);
	p->uid = dup_opt(ref->uid, &oom);
	p->resource_version = dup_opt(ref->resource_version, &oom);
	p->type = dup_opt(type, &oom);
	p->reason = dup_opt(reason, &oom);
	p->message = strdup(msg);
	p->when = time(NULL);
	if (oom || !p->message || !p->kind || !p->name || !p->type || !p->reason) {
		pending_free(p);
		return;
	}
	pthread_mutex_lock(&rec->lock);
	if (rec->queued >= QUEUE_MAX || rec->stopping) {
		rec->stats.dropped++;
		pthread_mutex_unlock(&rec->lock);
		pending_free(p);
		return;
	}
	if (rec->tail)
		rec->tail->next = p;
	else
		rec->head = p;
	rec->tail = p;
	rec->queued++;
	pthread_cond_signal(&rec->cond);
	pthread_mutex_unlock(&rec->lock);
}

void kube_event(kube_recorder *rec, const kube_object_ref *ref, const char *type,
		const char *reason, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	enqueue(rec, ref, type, reason, fmt, ap);
	va_end(ap);
}

void kube_event_on(kube_recorder *rec, const json_t *obj, const char *kind,
		   const char *api_version, const char *type, const char *reason,
		   const char *fmt, ...)
{
	json_t *meta = json_object_get(obj, "metadata");
	const char *k = json_string_value(json_object_get(obj, "kind"));
	const char *av = json_string_value(json_object_get(obj, "apiVersion"));
	kube_object_ref ref = {
		.kind = k ? k : kind,
		.api_version = av ? av : api_version,
		.namespace = json_string_value(json_object_get(meta, "namespace")),
		.name = json_string_value(json_object_get(meta, "name")),
		.uid = json_string_value(json_object_get(meta, "uid")),
		.resource_version = json_string_value(json_object_get(meta, "resourceVersion")),
	};
	va_list ap;
	va_start(ap, fmt);
	enqueue(rec, &ref, type, reason, fmt, ap);
	va_end(ap);
}

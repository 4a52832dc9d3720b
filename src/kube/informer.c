/*
 * informer.c - list + watch into a trimmed, indexed local cache (see
 * informer.h).
 *
 * One thread per informer runs: list (pages) -> watch -> watch -> ...,
 * back to list on 410, with backoff on failures. Watches run on curl's
 * multi interface so kube_informer_stop can wake the thread out of a
 * quiet stream at once (curl_multi_wakeup) instead of waiting for the
 * server's timeout.
 */
#include "informer.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "map.h"
#include "ratelimit.h"
#include "strutil.h"

#define INFORMER_MAX_INDEXES 8
#define WATCH_LINE_MAX (16u << 20) /* one event; the API server caps objects at 3 MiB */
#define INDEX_VALUE_MAX 512

typedef struct {
	char *json;	       /* compact text of the trimmed object */
	char *index_values[INFORMER_MAX_INDEXES]; /* NULL: not in that index */
} cache_entry;

/* The cache keys that share one index value. */
typedef struct {
	char **keys;
	size_t n, cap;
} index_bucket;

typedef struct {
	char *name;
	kube_index_fn fn;
	void *payload;
	kube_map buckets; /* value -> index_bucket */
} informer_index;

typedef enum { WATCH_ENDED, WATCH_EXPIRED, WATCH_FAILED, WATCH_STOPPED } watch_outcome;

struct kube_informer {
	kube_client *client;
	kube_informer_opts opts;
	char *namespace, *label_selector, *field_selector;

	pthread_rwlock_t cache_lock;
	kube_map cache; /* key -> cache_entry */
	informer_index indexes[INFORMER_MAX_INDEXES];
	size_t nindexes;

	pthread_mutex_t state_lock;
	pthread_cond_t state_cond; /* CLOCK_MONOTONIC: stop and synced */
	bool stopping, synced, running;
	kube_informer_stats stats;
	pthread_t thread;
	CURLM *multi;

	char rv[32]; /* informer thread only */

	/* The current watch (informer thread only). */
	dv_buf line;
	bool watch_got_event;
	bool watch_expired;
	bool watch_error;
};

int kube_object_key(const json_t *obj, char *out, size_t len)
{
	json_t *meta = json_object_get(obj, "metadata");
	const char *name = json_string_value(json_object_get(meta, "name"));
	const char *ns = json_string_value(json_object_get(meta, "namespace"));
	if (!name || !*name)
		return -EINVAL;
	int n = ns && *ns ? snprintf(out, len, "%s/%s", ns, name) : snprintf(out, len, "%s", name);
	return n < 0 || (size_t)n >= len ? -EINVAL : 0;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

int kube_informer_new(kube_client *c, const kube_informer_opts *opts, kube_informer **ret)
{
	kube_informer *inf = calloc(1, sizeof(*inf));
	if (!inf)
		return -ENOMEM;
	inf->client = c;
	inf->opts = *opts;
	inf->namespace = dup_or_null(opts->namespace);
	inf->label_selector = dup_or_null(opts->label_selector);
	inf->field_selector = dup_or_null(opts->field_selector);
	if (inf->opts.page_size <= 0)
		inf->opts.page_size = 500;
	if (inf->opts.backoff_initial_ns <= 0)
		inf->opts.backoff_initial_ns = 800LL * 1000000;
	if (inf->opts.backoff_max_ns <= 0)
		inf->opts.backoff_max_ns = 30LL * 1000000000;
	if (inf->opts.low_speed_s <= 0)
		inf->opts.low_speed_s = 75;
	pthread_rwlock_init(&inf->cache_lock, NULL);
	pthread_mutex_init(&inf->state_lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&inf->state_cond, &ca);
	pthread_condattr_destroy(&ca);
	kube_map_init(&inf->cache);
	dv_buf_init(&inf->line, WATCH_LINE_MAX);
	if ((opts->namespace && !inf->namespace) || (opts->label_selector && !inf->label_selector) ||
	    (opts->field_selector && !inf->field_selector)) {
		kube_informer_free(inf);
		return -ENOMEM;
	}
	*ret = inf;
	return 0;
}

int kube_informer_add_index(kube_informer *inf, const char *name, kube_index_fn fn,
			    void *payload)
{
	if (inf->running || inf->nindexes == INFORMER_MAX_INDEXES)
		return -EBUSY;
	informer_index *ix = &inf->indexes[inf->nindexes];
	ix->name = strdup(name);
	if (!ix->name)
		return -ENOMEM;
	ix->fn = fn;
	ix->payload = payload;
	kube_map_init(&ix->buckets);
	inf->nindexes++;
	return 0;
}

/* --- the cache (callers hold cache_lock for writing) ------------------ */

static int bucket_add(informer_index *ix, const char *value, const char *key)
{
	index_bucket *b = kube_map_get(&ix->buckets, value);
	if (!b) {
		b = calloc(1, sizeof(*b));
		if (!b || kube_map_put(&ix->buckets, value, b, NULL) < 0) {
			free(b);
			return -ENOMEM;
		}
	}
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 4;
		char **k = realloc(b->keys, cap * sizeof(*k));
		if (!k)
			return -ENOMEM;
		b->keys = k;
		b->cap = cap;
	}
	b->keys[b->n] = strdup(key);
	if (!b->keys[b->n])
		return -ENOMEM;
	b->n++;
	return 0;
}

static void bucket_remove(informer_index *ix, const char *value, const char *key)
{
	index_bucket *b = kube_map_get(&ix->buckets, value);
	if (!b)
		return;
	for (size_t i = 0; i < b->n; i++) {
		if (strcmp(b->keys[i], key) == 0) {
			free(b->keys[i]);
			b->keys[i] = b->keys[--b->n];
			break;
		}
	}
	if (b->n == 0) {
		kube_map_remove(&ix->buckets, value);
		free(b->keys);
		free(b);
	}
}

static void entry_free(kube_informer *inf, const char *key, cache_entry *e)
{
	for (size_t i = 0; i < inf->nindexes; i++) {
		if (e->index_values[i]) {
			bucket_remove(&inf->indexes[i], e->index_values[i], key);
			free(e->index_values[i]);
		}
	}
	free(e->json);
	free(e);
}

/* Stores obj under key; returns the previous text (the caller frees it)
 * through *ret_old, NULL when the key was new. */
static int cache_put(kube_informer *inf, const char *key, const json_t *obj, char **ret_old)
{
	cache_entry *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->json = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
	if (!e->json) {
		free(e);
		return -ENOMEM;
	}
	for (size_t i = 0; i < inf->nindexes; i++) {
		char v[INDEX_VALUE_MAX];
		if (inf->indexes[i].fn(obj, v, sizeof(v), inf->indexes[i].payload) == 1)
			e->index_values[i] = strdup(v);
	}
	cache_entry *old = kube_map_get(&inf->cache, key);
	*ret_old = NULL;
	if (old) {
		*ret_old = old->json;
		old->json = NULL;
		kube_map_remove(&inf->cache, key);
		entry_free(inf, key, old);
	}
	int r = kube_map_put(&inf->cache, key, e, NULL);
	for (size_t i = 0; r == 0 && i < inf->nindexes; i++) {
		if (e->index_values[i])
			r = bucket_add(&inf->indexes[i], e->index_values[i], key);
	}
	if (r < 0)
		log_error("kube informer: out of memory caching %s", key);
	return r;
}

/* Removes key; returns its text (the caller frees it) or NULL. */
static char *cache_del(kube_informer *inf, const char *key)
{
	cache_entry *e = kube_map_remove(&inf->cache, key);
	if (!e)
		return NULL;
	char *json = e->json;
	e->json = NULL;
	entry_free(inf, key, e);
	return json;
}

/* --- events -------------------------------------------------------- */

static json_t *trim(kube_informer *inf, json_t *obj)
{
	if (!inf->opts.trim)
		return json_incref(obj);
	return inf->opts.trim(obj, inf->opts.trim_payload);
}

static json_t *parse(const char *text)
{
	return text ? json_loads(text, 0, NULL) : NULL;
}

/* Applies an added or modified object and calls the handler. When
 * skip_same is set (relists), an object whose cached text is unchanged is
 * not reported. */
static void apply_upsert(kube_informer *inf, json_t *raw, bool skip_same)
{
	char key[512];
	if (kube_object_key(raw, key, sizeof(key)) < 0)
		return;
	json_t *obj = trim(inf, raw);
	if (!obj)
		return;
	char *old = NULL;
	pthread_rwlock_wrlock(&inf->cache_lock);
	int r = cache_put(inf, key, obj, &old);
	bool same = false;
	if (old && skip_same) {
		cache_entry *e = kube_map_get(&inf->cache, key);
		same = e && strcmp(e->json, old) == 0;
	}
	pthread_rwlock_unlock(&inf->cache_lock);
	const kube_handlers *h = &inf->opts.handlers;
	if (r == 0 && !same) {
		if (!old && h->on_add) {
			h->on_add(obj, h->payload);
		} else if (old && h->on_update) {
			json_t *o = parse(old);
			h->on_update(o, obj, h->payload);
			json_decref(o);
		}
	}
	free(old);
	json_decref(obj);
}

static void apply_delete(kube_informer *inf, json_t *raw)
{
	char key[512];
	if (kube_object_key(raw, key, sizeof(key)) < 0)
		return;
	pthread_rwlock_wrlock(&inf->cache_lock);
	char *old = cache_del(inf, key);
	pthread_rwlock_unlock(&inf->cache_lock);
	const kube_handlers *h = &inf->opts.handlers;
	if (h->on_delete) {
		json_t *obj = trim(inf, raw);
		if (obj)
			h->on_delete(obj, h->payload);
		json_decref(obj);
	}
	free(old);
}

static void set_rv(kube_informer *inf, const json_t *obj)
{
	const char *rv = json_string_value(
		json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
	if (rv && *rv && strlen(rv) < sizeof(inf->rv)) {
		snprintf(inf->rv, sizeof(inf->rv), "%s", rv);
		pthread_mutex_lock(&inf->state_lock);
		snprintf(inf->stats.resource_version, sizeof(inf->stats.resource_version), "%s", rv);
		pthread_mutex_unlock(&inf->state_lock);
	}
}

static void count(kube_informer *inf, uint64_t *field)
{
	pthread_mutex_lock(&inf->state_lock);
	(*field)++;
	pthread_mutex_unlock(&inf->state_lock);
}

static bool stopping(kube_informer *inf)
{
	pthread_mutex_lock(&inf->state_lock);
	bool s = inf->stopping;
	pthread_mutex_unlock(&inf->state_lock);
	return s;
}

/* Waits ns or until stop; returns true when stopping. */
static bool sleep_or_stop(kube_informer *inf, int64_t ns)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	int64_t t = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec + ns;
	ts.tv_sec = t / 1000000000LL;
	ts.tv_nsec = t % 1000000000LL;
	pthread_mutex_lock(&inf->state_lock);
	while (!inf->stopping) {
		if (pthread_cond_timedwait(&inf->state_cond, &inf->state_lock, &ts) == ETIMEDOUT)
			break;
	}
	bool s = inf->stopping;
	pthread_mutex_unlock(&inf->state_lock);
	return s;
}

/* --- list ---------------------------------------------------------- */

static int append_selectors(kube_informer *inf, dv_buf *q)
{
	int r = 0;
	if (inf->label_selector)
		r = dv_buf_appendf(q, "&labelSelector=%s", inf->label_selector);
	if (r == 0 && inf->field_selector)
		r = dv_buf_appendf(q, "&fieldSelector=%s", inf->field_selector);
	return r;
}

typedef struct {
	kube_map *seen;
	char **gone;
	size_t n, cap;
} gone_list;

static int collect_gone(const char *key, void *value, void *payload)
{
	(void)value;
	gone_list *g = payload;
	if (kube_map_has(g->seen, key))
		return 0;
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 16;
		char **a = realloc(g->gone, cap * sizeof(*a));
		if (!a)
			return -ENOMEM;
		g->gone = a;
		g->cap = cap;
	}
	g->gone[g->n] = strdup(key);
	if (!g->gone[g->n])
		return -ENOMEM;
	g->n++;
	return 0;
}

/* Objects in the cache that the list did not return were deleted while
 * the informer was not watching: report them as deletes. */
static void drop_unseen(kube_informer *inf, kube_map *seen)
{
	gone_list g = { .seen = seen };
	pthread_rwlock_rdlock(&inf->cache_lock);
	kube_map_foreach(&inf->cache, collect_gone, &g);
	pthread_rwlock_unlock(&inf->cache_lock);
	for (size_t i = 0; i < g.n; i++) {
		pthread_rwlock_wrlock(&inf->cache_lock);
		char *old = cache_del(inf, g.gone[i]);
		pthread_rwlock_unlock(&inf->cache_lock);
		json_t *obj = parse(old);
		if (obj && inf->opts.handlers.on_delete)
			inf->opts.handlers.on_delete(obj, inf->opts.handlers.payload);
		json_decref(obj);
		free(old);
		free(g.gone[i]);
	}
	free(g.gone);
}

/* Lists every page; on success the cache matches the list and inf->rv is
 * the list's resourceVersion. */
static int list_all(kube_informer *inf)
{
	kube_map seen;
	kube_map_init(&seen);
	char cont[4096] = "";
	char list_rv[32] = "";
	int r = 0;
	kube_response resp = { 0 };
	do {
		dv_buf q;
		dv_buf_init(&q, 8192);
		r = dv_buf_appendf(&q, "limit=%d", inf->opts.page_size);
		if (r == 0 && cont[0])
			r = dv_buf_appendf(&q, "&continue=%s", cont);
		if (r == 0)
			r = append_selectors(inf, &q);
		if (r == 0)
			r = kube_list(inf->client, inf->opts.resource, inf->namespace,
				      (const char *)q.data, &resp);
		dv_buf_free(&q);
		if (r != 200) {
			log_warn("kube informer %s: list failed: %s", inf->opts.resource->plural,
				 resp.message);
			r = r == 410 ? -ESTALE : -EIO;
			break;
		}
		r = 0;
		json_t *items = json_object_get(resp.body, "items");
		size_t i;
		json_t *item;
		json_array_foreach(items, i, item) {
			char key[512];
			if (kube_object_key(item, key, sizeof(key)) < 0)
				continue;
			if (kube_map_put(&seen, key, NULL, NULL) < 0) {
				r = -ENOMEM;
				break;
			}
			apply_upsert(inf, item, true);
		}
		json_t *meta = json_object_get(resp.body, "metadata");
		const char *c = json_string_value(json_object_get(meta, "continue"));
		const char *rv = json_string_value(json_object_get(meta, "resourceVersion"));
		if (rv && !cont[0])
			snprintf(list_rv, sizeof(list_rv), "%s", rv);
		if (c && strlen(c) >= sizeof(cont))
			r = -E2BIG;
		snprintf(cont, sizeof(cont), "%s", c && r == 0 ? c : "");
	} while (r == 0 && cont[0] && !stopping(inf));
	kube_response_clear(&resp);
	if (r == 0 && !stopping(inf)) {
		drop_unseen(inf, &seen);
		snprintf(inf->rv, sizeof(inf->rv), "%s", list_rv);
		pthread_mutex_lock(&inf->state_lock);
		snprintf(inf->stats.resource_version, sizeof(inf->stats.resource_version), "%s",
			 list_rv);
		inf->stats.lists++;
		inf->synced = true;
		pthread_cond_broadcast(&inf->state_cond);
		pthread_mutex_unlock(&inf->state_lock);
	}
	kube_map_clear(&seen);
	return r;
}

/* --- watch --------------------------------------------------------- */

static bool is_expired_status(const json_t *st)
{
	json_int_t code = json_integer_value(json_object_get(st, "code"));
	const char *reason = json_string_value(json_object_get(st, "reason"));
	return code == 410 || (reason && (strcmp(reason, "Expired") == 0 ||
					  strcmp(reason, "Gone") == 0));
}

/* One event line; false to end the watch. */
static bool handle_event(kube_informer *inf, const char *line, size_t len)
{
	json_error_t jerr;
	json_t *ev = json_loadb(line, len, 0, &jerr);
	if (!ev) {
		log_warn("kube informer %s: undecodable watch event: %s",
			 inf->opts.resource->plural, jerr.text);
		inf->watch_error = true;
		return false;
	}
	const char *type = json_string_value(json_object_get(ev, "type"));
	json_t *obj = json_object_get(ev, "object");
	bool go_on = true;
	if (!type || !json_is_object(obj)) {
		inf->watch_error = true;
		go_on = false;
	} else if (strcmp(type, "ADDED") == 0 || strcmp(type, "MODIFIED") == 0) {
		apply_upsert(inf, obj, false);
		set_rv(inf, obj);
		count(inf, &inf->stats.events);
	} else if (strcmp(type, "DELETED") == 0) {
		apply_delete(inf, obj);
		set_rv(inf, obj);
		count(inf, &inf->stats.events);
	} else if (strcmp(type, "BOOKMARK") == 0) {
		set_rv(inf, obj);
		count(inf, &inf->stats.bookmarks);
	} else if (strcmp(type, "ERROR") == 0) {
		const char *msg = json_string_value(json_object_get(obj, "message"));
		if (is_expired_status(obj))
			inf->watch_expired = true;
		else
			inf->watch_error = true;
		log_info("kube informer %s: watch error event: %s", inf->opts.resource->plural,
			 msg ? msg : "");
		go_on = false;
	}
	inf->watch_got_event = true;
	json_decref(ev);
	return go_on;
}

static size_t watch_write(char *p, size_t size, size_t n, void *payload)
{
	kube_informer *inf = payload;
	size_t total = size * n;
	if (dv_buf_append(&inf->line, p, total) < 0) {
		inf->watch_error = true;
		return 0;
	}
	for (;;) {
		char *nl = memchr(inf->line.data, '\n', inf->line.len);
		if (!nl)
			break;
		size_t len = (size_t)(nl - (char *)inf->line.data);
		bool go_on = len == 0 || handle_event(inf, (const char *)inf->line.data, len);
		dv_buf_consume(&inf->line, len + 1);
		if (!go_on)
			return 0; /* aborts the transfer */
		if (stopping(inf))
			return 0;
	}
	return total;
}

/* Only a 200 response is a stream of events; anything else is one Status
 * body, collected whole and reported after the transfer. */
typedef struct {
	kube_informer *inf;
	CURL *h;
	bool is_stream;
	bool checked;
	dv_buf errbody;
} watch_ctx;

static size_t watch_write_ctx(char *p, size_t size, size_t n, void *payload)
{
	watch_ctx *w = payload;
	if (!w->checked) {
		long code = 0;
		curl_easy_getinfo(w->h, CURLINFO_RESPONSE_CODE, &code);
		w->is_stream = code == 200;
		w->checked = true;
	}
	if (w->is_stream)
		return watch_write(p, size, n, w->inf);
	return dv_buf_append(&w->errbody, p, size * n) == 0 ? size * n : 0;
}

static int build_watch_path(kube_informer *inf, char *path, size_t len)
{
	char base[2048];
	if (kube_path(base, sizeof(base), inf->opts.resource, inf->namespace, NULL, NULL) < 0)
		return -ENAMETOOLONG;
	int timeout = inf->opts.watch_timeout_s > 0 ? inf->opts.watch_timeout_s
						    : 300 + (int)(random() % 300);
	dv_buf q;
	dv_buf_init(&q, len - 1);
	int r = dv_buf_appendf(&q, "%s?watch=1&allowWatchBookmarks=true&resourceVersion=%s"
				   "&timeoutSeconds=%d", base, inf->rv, timeout);
	if (r == 0)
		r = append_selectors(inf, &q);
	if (r == 0)
		memcpy(path, q.data, q.len + 1);
	dv_buf_free(&q);
	return r < 0 ? -ENAMETOOLONG : 0;
}

static watch_outcome watch_once(kube_informer *inf)
{
	char path[8192];
	if (build_watch_path(inf, path, sizeof(path)) < 0)
		return WATCH_FAILED;
	struct curl_slist *headers = NULL;
	CURL *h = kube_client_watch_handle(inf->client, path, inf->opts.low_speed_s, &headers);
	if (!h)
		return WATCH_FAILED;
	watch_ctx w = { .inf = inf, .h = h };
	dv_buf_init(&w.errbody, 64 * 1024);
	dv_buf_reset(&inf->line);
	inf->watch_got_event = inf->watch_expired = inf->watch_error = false;
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, watch_write_ctx);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &w);
	count(inf, &inf->stats.watches);
	CURLcode result = CURLE_OK;
	bool stopped = false;
	if (curl_multi_add_handle(inf->multi, h) != CURLM_OK) {
		result = CURLE_FAILED_INIT;
	} else {
		for (;;) {
			int running = 0;
			if (curl_multi_perform(inf->multi, &running) != CURLM_OK)
				break;
			if (!running)
				break;
			if (stopping(inf)) {
				stopped = true;
				break;
			}
			curl_multi_poll(inf->multi, NULL, 0, 1000, NULL);
		}
		int left;
		CURLMsg *m;
		while ((m = curl_multi_info_read(inf->multi, &left))) {
			if (m->msg == CURLMSG_DONE && m->easy_handle == h)
				result = m->data.result;
		}
		curl_multi_remove_handle(inf->multi, h);
	}
	long code = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	kube_client_note_watch(inf->client, h, code);
	curl_easy_cleanup(h);
	curl_slist_free_all(headers);
	watch_outcome out;
	if (stopped || stopping(inf)) {
		out = WATCH_STOPPED;
	} else if (code == 410 || inf->watch_expired) {
		out = WATCH_EXPIRED;
	} else if (code == 200 && result == CURLE_OK && !inf->watch_error) {
		out = WATCH_ENDED;
	} else {
		if (code != 200 && code != 0) {
			kube_response st = { .status = code };
			st.body = json_loadb((const char *)w.errbody.data, w.errbody.len, 0, NULL);
			kube_response_set_error(&st, (const char *)w.errbody.data, w.errbody.len);
			log_warn("kube informer %s: watch refused: %s", inf->opts.resource->plural,
				 st.message);
			kube_response_clear(&st);
		} else if (result != CURLE_OK) {
			log_info("kube informer %s: watch ended: %s", inf->opts.resource->plural,
				 curl_easy_strerror(result));
		}
		out = WATCH_FAILED;
	}
	dv_buf_free(&w.errbody);
	return out;
}

static int64_t next_backoff(kube_informer *inf, unsigned failures)
{
	int64_t d = kube_backoff_delay(inf->opts.backoff_initial_ns, inf->opts.backoff_max_ns,
				       failures);
	d = kube_jitter(d, 0.2);
	return d > inf->opts.backoff_max_ns ? inf->opts.backoff_max_ns : d;
}

static void *informer_main(void *arg)
{
	kube_informer *inf = arg;
	unsigned failures = 0;
	bool need_list = true;
	while (!stopping(inf)) {
		if (need_list) {
			if (list_all(inf) < 0) {
				if (sleep_or_stop(inf, next_backoff(inf, failures++)))
					break;
				continue;
			}
			need_list = false;
			failures = 0;
		}
		switch (watch_once(inf)) {
		case WATCH_STOPPED:
			break;
		case WATCH_ENDED:
			failures = 0;
			break;
		case WATCH_EXPIRED:
			count(inf, &inf->stats.expired);
			need_list = true;
			failures = 0;
			break;
		case WATCH_FAILED:
			if (inf->watch_got_event)
				failures = 0;
			count(inf, &inf->stats.reconnects);
			sleep_or_stop(inf, next_backoff(inf, failures++));
			break;
		}
	}
	return NULL;
}

int kube_informer_start(kube_informer *inf)
{
	if (inf->running)
		return -EBUSY;
	inf->multi = curl_multi_init();
	if (!inf->multi)
		return -ENOMEM;
	inf->stopping = false;
	int r = pthread_create(&inf->thread, NULL, informer_main, inf);
	if (r != 0) {
		curl_multi_cleanup(inf->multi);
		inf->multi = NULL;
		return -r;
	}
	inf->running = true;
	return 0;
}

void kube_informer_stop(kube_informer *inf)
{
	if (!inf->running)
		return;
	pthread_mutex_lock(&inf->state_lock);
	inf->stopping = true;
	pthread_cond_broadcast(&inf->state_cond);
	pthread_mutex_unlock(&inf->state_lock);
	curl_multi_wakeup(inf->multi);
	pthread_join(inf->thread, NULL);
	curl_multi_cleanup(inf->multi);
	inf->multi = NULL;
	inf->running = false;
}

static int free_entry_cb(const char *key, void *value, void *payload)
{
	(void)key;
	(void)payload;
	cache_entry *e = value;
	for (size_t i = 0; i < INFORMER_MAX_INDEXES; i++)
		free(e->index_values[i]);
	free(e->json);
	free(e);
	return 0;
}

static int free_bucket_cb(const char *key, void *value, void *payload)
{
	(void)key;
	(void)payload;
	index_bucket *b = value;
	for (size_t i = 0; i < b->n; i++)
		free(b->keys[i]);
	free(b->keys);
	free(b);
	return 0;
}

void kube_informer_free(kube_informer *inf)
{
	if (!inf)
		return;
	kube_informer_stop(inf);
	kube_map_foreach(&inf->cache, free_entry_cb, NULL);
	kube_map_clear(&inf->cache);
	for (size_t i = 0; i < inf->nindexes; i++) {
		kube_map_foreach(&inf->indexes[i].buckets, free_bucket_cb, NULL);
		kube_map_clear(&inf->indexes[i].buckets);
		free(inf->indexes[i].name);
	}
	dv_buf_free(&inf->line);
	pthread_rwlock_destroy(&inf->cache_lock);
	pthread_mutex_destroy(&inf->state_lock);
	pthread_cond_destroy(&inf->state_cond);
	free(inf->namespace);
	free(inf->label_selector);
	free(inf->field_selector);
	free(inf);
}

/* --- readers ------------------------------------------------------- */

bool kube_informer_has_synced(kube_informer *inf)
{
	pthread_mutex_lock(&inf->state_lock);
	bool s = inf->synced;
	pthread_mutex_unlock(&inf->state_lock);
	return s;
}

bool kube_informer_wait_synced(kube_informer *inf, int timeout_ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	int64_t t = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec + (int64_t)timeout_ms * 1000000;
	ts.tv_sec = t / 1000000000LL;
	ts.tv_nsec = t % 1000000000LL;
	pthread_mutex_lock(&inf->state_lock);
	while (!inf->synced && !inf->stopping) {
		if (timeout_ms < 0)
			pthread_cond_wait(&inf->state_cond, &inf->state_lock);
		else if (pthread_cond_timedwait(&inf->state_cond, &inf->state_lock, &ts) == ETIMEDOUT)
			break;
	}
	bool s = inf->synced;
	pthread_mutex_unlock(&inf->state_lock);
	return s;
}

json_t *kube_informer_get(kube_informer *inf, const char *ns, const char *name)
{
	char key[512];
	int n = ns && *ns && inf->opts.resource->namespaced ? snprintf(key, sizeof(key), "%s/%s", ns, name)
							   : snprintf(key, sizeof(key), "%s", name);
	if (n < 0 || (size_t)n >= sizeof(key))
		return NULL;
	pthread_rwlock_rdlock(&inf->cache_lock);
	cache_entry *e = kube_map_get(&inf->cache, key);
	json_t *obj = e ? parse(e->json) : NULL;
	pthread_rwlock_unlock(&inf->cache_lock);
	return obj;
}

static int list_cb(const char *key, void *value, void *payload)
{
	(void)key;
	cache_entry *e = value;
	json_t *obj = parse(e->json);
	if (obj)
		json_array_append_new(payload, obj);
	return 0;
}

json_t *kube_informer_list(kube_informer *inf)
{
	json_t *arr = json_array();
	if (!arr)
		return NULL;
	pthread_rwlock_rdlock(&inf->cache_lock);
	kube_map_foreach(&inf->cache, list_cb, arr);
	pthread_rwlock_unlock(&inf->cache_lock);
	return arr;
}

json_t *kube_informer_by_index(kube_informer *inf, const char *index, const char *key)
{
	informer_index *ix = NULL;
	for (size_t i = 0; i < inf->nindexes; i++) {
		if (strcmp(inf->indexes[i].name, index) == 0)
			ix = &inf->indexes[i];
	}
	if (!ix)
		return NULL;
	json_t *arr = json_array();
	if (!arr)
		return NULL;
	pthread_rwlock_rdlock(&inf->cache_lock);
	index_bucket *b = kube_map_get(&ix->buckets, key);
	for (size_t i = 0; b && i < b->n; i++) {
		cache_entry *e = kube_map_get(&inf->cache, b->keys[i]);
		json_t *obj = e ? parse(e->json) : NULL;
		if (obj)
			json_array_append_new(arr, obj);
	}
	pthread_rwlock_unlock(&inf->cache_lock);
	return arr;
}

size_t kube_informer_count(kube_informer *inf)
{
	pthread_rwlock_rdlock(&inf->cache_lock);
	size_t n = inf->cache.count;
	pthread_rwlock_unlock(&inf->cache_lock);
	return n;
}

void kube_informer_get_stats(kube_informer *inf, kube_informer_stats *out)
{
	pthread_mutex_lock(&inf->state_lock);
	*out = inf->stats;
	pthread_mutex_unlock(&inf->state_lock);
}

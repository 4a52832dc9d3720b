/*
 * informer.h - a local, watched copy of one resource, as client-go's
 * shared informers keep: list (paged with limit/continue), then watch from
 * the list's resourceVersion with bookmarks, and keep a cache that handlers
 * and controllers read instead of the API server.
 *
 * - 410 Gone (an HTTP 410, or an ERROR event with code 410 / reason
 *   Expired) means the resourceVersion left the server's history: list
 *   again, and report the difference as add/update/delete events.
 * - A lost connection reconnects from the last resourceVersion seen,
 *   after an exponential, jittered, capped backoff; a watch that ended
 *   normally (server timeout) is restarted at once.
 * - The cache is keyed "namespace/name" ("name" for cluster-scoped
 *   objects), with optional extra indexes: a key function maps an object
 *   to one index value (PVC -> storage class, PV -> claimRef, ...).
 * - Objects are stored as compact JSON text after the caller's trim
 *   function kept only the fields it reads, so 10,000 cached PVCs cost a
 *   few MiB. Readers get freshly parsed copies they own.
 *
 * Handlers run on the informer's thread, in event order, without the
 * cache lock held (they may read the cache). Objects passed to them are
 * the trimmed ones and are borrowed for the call.
 */
#ifndef DYNVOL_KUBE_INFORMER_H
#define DYNVOL_KUBE_INFORMER_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "client.h"

typedef struct kube_informer kube_informer;

/* Returns the object to cache: obj itself (with fields deleted) or a new
 * one; either way a new reference the informer owns. */
typedef json_t *(*kube_trim_fn)(json_t *obj, void *payload);

/* Writes obj's value for an index into out (len bytes) and returns 1, or
 * returns 0 when obj has none (it is then not in this index). */
typedef int (*kube_index_fn)(const json_t *obj, char *out, size_t len, void *payload);

typedef struct {
	void (*on_add)(const json_t *obj, void *payload);
	void (*on_update)(const json_t *old_obj, const json_t *new_obj, void *payload);
	/* obj is the final state: the DELETED event's object, or after a
	 * relist the last state the cache had. */
	void (*on_delete)(const json_t *obj, void *payload);
	void *payload;
} kube_handlers;

typedef struct {
	const kube_resource *resource;
	const char *namespace;	    /* NULL: all namespaces */
	const char *label_selector; /* NULL or URL-encoded selector */
	const char *field_selector; /* NULL or URL-encoded selector */
	int page_size;		    /* list limit; <= 0: 500 */
	kube_trim_fn trim;	    /* NULL: keep whole objects */
	void *trim_payload;
	kube_handlers handlers;
	int64_t backoff_initial_ns; /* reconnect backoff; <= 0: 800 ms */
	int64_t backoff_max_ns;	    /* <= 0: 30 s */
	int watch_timeout_s;	    /* server-side timeoutSeconds; <= 0: 300..600 random */
	int low_speed_s;	    /* abort a silent watch after this; <= 0: 75 s */
} kube_informer_opts;

typedef struct {
	uint64_t lists;	      /* complete lists (the first and every relist) */
	uint64_t watches;     /* watch requests started */
	uint64_t expired;     /* 410s seen */
	uint64_t reconnects;  /* watches ended by an error, retried after backoff */
	uint64_t events;      /* watch events applied */
	uint64_t bookmarks;
	char resource_version[32]; /* the last one seen */
} kube_informer_stats;

/* The client must outlive the informer. Strings in opts are copied. */
int kube_informer_new(kube_client *c, const kube_informer_opts *opts, kube_informer **ret);
/* Adds an index; only before kube_informer_start. name is copied. */
int kube_informer_add_index(kube_informer *inf, const char *name, kube_index_fn fn,
			    void *payload);
int kube_informer_start(kube_informer *inf);
/* Stops the thread (an open watch is interrupted at once) and waits for it. */
void kube_informer_stop(kube_informer *inf);
/* Stops if running, then frees. NULL-safe. */
void kube_informer_free(kube_informer *inf);

/* True once the first complete list is in the cache. */
bool kube_informer_has_synced(kube_informer *inf);
/* Waits up to timeout_ms (< 0: forever) for has_synced. */
bool kube_informer_wait_synced(kube_informer *inf, int timeout_ms);

/* A new parsed copy of the cached object, or NULL. ns ignored when
 * cluster-scoped (pass NULL). */
json_t *kube_informer_get(kube_informer *inf, const char *ns, const char *name);
/* A new JSON array of copies of every cached object. */
json_t *kube_informer_list(kube_informer *inf);
/* A new JSON array of the objects whose index value is key ([] when none,
 * NULL when there is no such index). */
json_t *kube_informer_by_index(kube_informer *inf, const char *index, const char *key);
size_t kube_informer_count(kube_informer *inf);
void kube_informer_get_stats(kube_informer *inf, kube_informer_stats *out);

/* "namespace/name" or "name" of obj into out; 0 or -EINVAL (no name). */
int kube_object_key(const json_t *obj, char *out, size_t len);

#endif

/*
 * objstore.h - the embedded API server's object store: Kubernetes objects
 * as JSON text in SQLite, one global resourceVersion counter, and a bounded
 * history of change events for watches.
 *
 * Writes go through one writer thread that commits concurrent requests in
 * one transaction (group commit): SQLite in WAL mode with synchronous=FULL,
 * so a write returns only after its transaction is on disk, and many
 * writers share one fsync. Each write is a compare-and-swap on the stored
 * resourceVersion, which is how optimistic concurrency (409 Conflict) and
 * read-modify-write retries are built above it.
 *
 * Reads use a small pool of read connections; WAL lets them run beside the
 * writer. A list reads the objects and the resourceVersion in one read
 * transaction, so the list's resourceVersion is exactly the state it shows,
 * and a watch started from it misses nothing.
 *
 * Keys: res is "<group>/<resource>" ("/pods" for core), ns is "" for
 * cluster-scoped objects.
 */
#ifndef DYNVOL_APISERVER_OBJSTORE_H
#define DYNVOL_APISERVER_OBJSTORE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef struct dv_objstore dv_objstore;

/* Change events kept for watches, all resources together. Each holds the
 * object before and after its change, so this is most of the server's
 * memory under a write load: 2048 events of a PVC are about 3 MiB.
 * (kube-apiserver keeps 100 per resource by default.) */
#define DV_OBJSTORE_DEFAULT_HISTORY 2048

int dv_objstore_open(const char *path, size_t history, dv_objstore **out, char *err,
		     size_t errlen);
/* Wakes every watch (they end with -ESHUTDOWN) and stops the writer after
 * the writes already queued are committed. */
void dv_objstore_close(dv_objstore *st);

/* The newest committed resourceVersion. */
uint64_t dv_objstore_rv(dv_objstore *st);

/* One object's text (malloc'd) and resourceVersion; -ENOENT, -EIO. */
int dv_objstore_get(dv_objstore *st, const char *res, const char *ns, const char *name,
		    char **body, uint64_t *rv);

/* Called per object in (ns, name) order; return nonzero to stop. */
typedef int (*dv_objstore_each_fn)(void *ctx, const char *ns, const char *name,
				   const char *body, size_t len);
/* Lists res (in namespace ns, or all when NULL) after the key
 * (after_ns, after_name) (both NULL: from the start). *list_rv is the
 * resourceVersion of the state read. 0 or -EIO. */
int dv_objstore_list(dv_objstore *st, const char *res, const char *ns, const char *after_ns,
		     const char *after_name, dv_objstore_each_fn fn, void *ctx,
		     uint64_t *list_rv);
/* Number of objects of res (all namespaces). */
long dv_objstore_count(dv_objstore *st, const char *res);

typedef enum { DV_OS_CREATE, DV_OS_UPDATE, DV_OS_DELETE } dv_os_op;

/*
 * One write. CREATE fails with -EEXIST if the key exists; UPDATE and DELETE
 * with -ENOENT if it does not, and with -ESTALE if expect_rv is nonzero and
 * differs from the stored resourceVersion. `obj` is the object to store (for
 * DELETE, the last state, sent to watchers); the writer sets its
 * metadata.resourceVersion. On success rv and body (the stored text,
 * malloc'd, the caller frees it) are filled.
 */
typedef struct dv_os_write {
	dv_os_op op;
	const char *res, *ns, *name;
	uint64_t expect_rv;
	json_t *obj;
	/* results */
	int result;
	uint64_t rv;
	char *body;
	/* private */
	struct dv_os_write *next_;
	int done_;
	pthread_cond_t cond_;
} dv_os_write;

/* Queues the write and waits until it is durable (or failed). Returns
 * w->result. */
int dv_objstore_write(dv_objstore *st, dv_os_write *w);

/* Watches ------------------------------------------------------------ */

typedef enum { DV_EV_ADDED, DV_EV_MODIFIED, DV_EV_DELETED } dv_ev_type;

typedef struct dv_event dv_event;
struct dv_event {
	int refs; /* atomic */
	dv_ev_type type;
	uint64_t rv;
	char *res, *ns, *name;
	char *body;     /* the object after the change (for DELETED: its last state) */
	char *old_body; /* before the change; NULL for ADDED */
};

typedef struct dv_watch dv_watch;

/* Starts a watch on res (all resources when NULL; namespace ns or all) delivering events with
 * rv > from. -ERANGE when events after `from` have already left the
 * history (the caller answers 410 Gone). */
int dv_objstore_watch(dv_objstore *st, const char *res, const char *ns, uint64_t from,
		      dv_watch **out);
/* Waits up to timeout_ms for the next event of the watch. 1: *ev is set
 * (release it), 0: timeout, -EOVERFLOW: the watch fell behind the history
 * and must end, -ESHUTDOWN: the store is closing. *seen_rv is the newest
 * resourceVersion this watch has passed (events of other resources
 * included), fit for a BOOKMARK. */
int dv_watch_next(dv_watch *w, int timeout_ms, dv_event **ev, uint64_t *seen_rv);
void dv_event_release(dv_event *ev);
void dv_watch_close(dv_watch *w);

/* For scratch stores (fuzzing) only: false turns off the fsync per
 * commit. Nothing else may call it. */
void dv_objstore_set_durable(dv_objstore *st, bool durable);

/* Test hook: counts transactions committed (each is one fsync of the WAL). */
uint64_t dv_objstore_commits(dv_objstore *st);

#endif

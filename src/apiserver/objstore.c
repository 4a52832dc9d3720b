/*
 * objstore.c - objects in SQLite with group commit and a watch history
 * (see objstore.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "log.h"
#include "objstore.h"

#define READ_POOL_KEEP 8
/* Writes per transaction at most: bounds the time one batch holds the
 * writer while keeping the fsync shared. */
#define MAX_BATCH 256

struct dv_watch {
	dv_objstore *st;
	char *res, *ns;
	uint64_t from;
	uint64_t next_seq;
	uint64_t seen_rv;
};

struct dv_objstore {
	char *path;
	sqlite3 *wdb;
	pthread_t writer;
	bool writer_started;

	pthread_mutex_t lock; /* queue, ring, rv, read pool */
	pthread_cond_t queue_cond;
	pthread_mutex_t ring_lock; /* rv, commits, the history: watchers never
				      contend with writers queueing */
	pthread_cond_t event_cond;
	dv_os_write *queue_head, *queue_tail;
	bool closing;

	bool nosync;          /* scratch stores only: see dv_objstore_set_durable */
	bool nosync_applied;
	uint64_t rv;          /* newest committed */
	uint64_t commits;

	dv_event **ring;
	size_t ring_cap;
	uint64_t head_seq;    /* sequence number of the next event */
	uint64_t evicted_rv;  /* newest rv no longer in the ring (or at open) */

	pthread_mutex_t pool_lock; /* the read connections only */
	sqlite3 **pool;
	size_t pool_len;
};

static const char SCHEMA[] =
	"CREATE TABLE IF NOT EXISTS objects("
	" res TEXT NOT NULL, ns TEXT NOT NULL, name TEXT NOT NULL,"
	" rv INTEGER NOT NULL, body TEXT NOT NULL,"
	" PRIMARY KEY(res, ns, name)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v INTEGER NOT NULL);"
	"INSERT OR IGNORE INTO meta VALUES('rv', 1);";

static int open_db(const char *path, bool writer, sqlite3 **out)
{
	sqlite3 *db = NULL;
	int flags = SQLITE_OPEN_NOMUTEX | (writer ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
						    : SQLITE_OPEN_READONLY);
	if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return -EIO;
	}
	sqlite3_busy_timeout(db, 5000);
	const char *pragmas = writer ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
				       "PRAGMA cache_size=-2048;"
				     : "PRAGMA cache_size=-256;";
	if (sqlite3_exec(db, pragmas, NULL, NULL, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return -EIO;
	}
	*out = db;
	return 0;
}

/* A read connection's statement for sql, prepared once and kept with the
 * connection (reset, not finalized, after each use): a GET is then no
 * SQL parse. */
static sqlite3_stmt *cached(sqlite3 *db, const char *sql)
{
	for (sqlite3_stmt *s = sqlite3_next_stmt(db, NULL); s; s = sqlite3_next_stmt(db, s))
		if (strcmp(sqlite3_sql(s), sql) == 0 && !sqlite3_stmt_busy(s))
			return s;
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK)
		return NULL;
	return s;
}

static void close_db(sqlite3 *db)
{
	sqlite3_stmt *s;
	while ((s = sqlite3_next_stmt(db, NULL)))
		sqlite3_finalize(s);
	sqlite3_close(db);
}

static sqlite3 *reader_get(dv_objstore *st)
{
	sqlite3 *db = NULL;
	pthread_mutex_lock(&st->pool_lock);
	if (st->pool_len > 0)
		db = st->pool[--st->pool_len];
	pthread_mutex_unlock(&st->pool_lock);
	if (!db && open_db(st->path, false, &db) < 0)
		return NULL;
	return db;
}

static void reader_put(dv_objstore *st, sqlite3 *db)
{
	pthread_mutex_lock(&st->pool_lock);
	if (st->pool_len < READ_POOL_KEEP) {
		st->pool[st->pool_len++] = db;
		db = NULL;
	}
	pthread_mutex_unlock(&st->pool_lock);
	if (db)
		close_db(db);
}

void dv_event_release(dv_event *ev)
{
	if (!ev || __atomic_sub_fetch(&ev->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	free(ev->res);
	free(ev->ns);
	free(ev->name);
	free(ev->body);
	free(ev->old_body);
	free(ev);
}

/* Appends a committed event to the history. Called with st->ring_lock held. */
static void ring_push(dv_objstore *st, dv_event *ev)
{
	size_t slot = st->head_seq % st->ring_cap;
	dv_event *old = st->ring[slot];
	if (old) {
		st->evicted_rv = old->rv;
		dv_event_release(old);
	}
	st->ring[slot] = ev;
	st->head_seq++;
}

static uint64_t stored_rv(sqlite3_stmt *sel, const dv_os_write *w, char **old)
{
	uint64_t rv = 0;
	sqlite3_reset(sel);
	sqlite3_bind_text(sel, 1, w->res, -1, SQLITE_STATIC);
	sqlite3_bind_text(sel, 2, w->ns ? w->ns : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(sel, 3, w->name, -1, SQLITE_STATIC);
	if (sqlite3_step(sel) == SQLITE_ROW) {
		rv = (uint64_t)sqlite3_column_int64(sel, 0);
		if (old) {
			const char *b = (const char *)sqlite3_column_text(sel, 1);
			*old = b ? strdup(b) : NULL;
		}
	}
	sqlite3_reset(sel);
	return rv;
}

static dv_event *event_new(const dv_os_write *w, dv_ev_type type, char *old)
{
	dv_event *ev = calloc(1, sizeof *ev);
	if (!ev)
		return NULL;
	ev->refs = 1;
	ev->type = type;
	ev->rv = w->rv;
	ev->res = strdup(w->res);
	ev->ns = strdup(w->ns ? w->ns : "");
	ev->name = strdup(w->name);
	ev->body = strdup(w->body);
	ev->old_body = old;
	if (!ev->res || !ev->ns || !ev->name || !ev->body) {
		ev->old_body = NULL;
		dv_event_release(ev);
		return NULL;
	}
	return ev;
}

static int set_rv(json_t *obj, uint64_t rv)
{
	json_t *meta = json_object_get(obj, "metadata");
	if (!json_is_object(meta))
		return -EINVAL;
	char buf[32];
	snprintf(buf, sizeof buf, "%llu", (unsigned long long)rv);
	return json_object_set_new(meta, "resourceVersion", json_string(buf)) == 0 ? 0 : -ENOMEM;
}

/* Applies one write inside the open transaction. Returns 0 (w->result says
 * how the write went), or -EIO when the transaction must be rolled back. */
static int apply_one(dv_objstore *st, sqlite3_stmt *sel, sqlite3_stmt *put, sqlite3_stmt *del,
		     dv_os_write *w, uint64_t *rv, dv_event **ev)
{
	char *old = NULL;
	uint64_t cur = stored_rv(sel, w, w->op == DV_OS_CREATE ? NULL : &old);
	*ev = NULL;
	if (w->op == DV_OS_CREATE && cur) {
		w->result = -EEXIST;
		return 0;
	}
	if (w->op != DV_OS_CREATE && !cur) {
		w->result = -ENOENT;
		free(old);
		return 0;
	}
	if (w->op != DV_OS_CREATE && w->expect_rv && w->expect_rv != cur) {
		w->result = -ESTALE;
		free(old);
		return 0;
	}
	uint64_t next = *rv + 1;
	if (set_rv(w->obj, next) < 0) {
		w->result = -EINVAL;
		free(old);
		return 0;
	}
	char *body = json_dumps(w->obj, JSON_COMPACT);
	if (!body) {
		w->result = -ENOMEM;
		free(old);
		return 0;
	}
	sqlite3_stmt *s = w->op == DV_OS_DELETE ? del : put;
	sqlite3_reset(s);
	sqlite3_bind_text(s, 1, w->res, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, w->ns ? w->ns : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, w->name, -1, SQLITE_STATIC);
	if (w->op != DV_OS_DELETE) {
		sqlite3_bind_int64(s, 4, (sqlite3_int64)next);
		sqlite3_bind_text(s, 5, body, -1, SQLITE_STATIC);
	}
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		free(body);
		free(old);
		return -EIO;
	}
	*rv = next;
	w->rv = next;
	w->body = body;
	w->result = 0;
	*ev = event_new(w, w->op == DV_OS_CREATE ? DV_EV_ADDED
				 : w->op == DV_OS_UPDATE ? DV_EV_MODIFIED
							 : DV_EV_DELETED,
			old);
	if (!*ev)
		free(old);
	return 0;
}

static int exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
}

static void fail_batch(dv_os_write **batch, size_t n, dv_event **evs)
{
	for (size_t i = 0; i < n; i++) {
		free(batch[i]->body);
		batch[i]->body = NULL;
		batch[i]->result = -EIO;
		dv_event_release(evs[i]);
		evs[i] = NULL;
	}
}

static void *writer_main(void *arg)
{
	dv_objstore *st = arg;
	sqlite3_stmt *sel = NULL, *put = NULL, *del = NULL, *meta = NULL;
	sqlite3_prepare_v2(st->wdb, "SELECT rv, body FROM objects WHERE res=?1 AND ns=?2 AND name=?3",
			   -1, &sel, NULL);
	sqlite3_prepare_v2(st->wdb, "INSERT OR REPLACE INTO objects VALUES(?1, ?2, ?3, ?4, ?5)", -1,
			   &put, NULL);
	sqlite3_prepare_v2(st->wdb, "DELETE FROM objects WHERE res=?1 AND ns=?2 AND name=?3", -1,
			   &del, NULL);
	sqlite3_prepare_v2(st->wdb, "UPDATE meta SET v=?1 WHERE k='rv'", -1, &meta, NULL);
	dv_os_write *batch[MAX_BATCH];
	dv_event *evs[MAX_BATCH];

	pthread_mutex_lock(&st->lock);
	for (;;) {
		while (!st->queue_head && !st->closing)
			pthread_cond_wait(&st->queue_cond, &st->lock);
		if (!st->queue_head && st->closing)
			break;
		size_t n = 0;
		while (st->queue_head && n < MAX_BATCH) {
			dv_os_write *w = st->queue_head;
			st->queue_head = w->next_;
			batch[n++] = w;
		}
		if (!st->queue_head)
			st->queue_tail = NULL;
		uint64_t rv = st->rv; /* only this thread changes it */
		bool nosync = st->nosync;
		pthread_mutex_unlock(&st->lock);
		if (nosync != st->nosync_applied) {
			exec(st->wdb, nosync ? "PRAGMA synchronous=OFF" : "PRAGMA synchronous=FULL");
			st->nosync_applied = nosync;
		}

		bool ok = sel && put && del && meta && exec(st->wdb, "BEGIN IMMEDIATE") == 0;
		size_t done = 0;
		for (; ok && done < n; done++) {
			evs[done] = NULL;
			if (apply_one(st, sel, put, del, batch[done], &rv, &evs[done]) < 0)
				ok = false;
		}
		if (ok) {
			sqlite3_reset(meta);
			sqlite3_bind_int64(meta, 1, (sqlite3_int64)rv);
			ok = sqlite3_step(meta) == SQLITE_DONE;
			sqlite3_reset(meta);
		}
		if (ok && exec(st->wdb, "COMMIT") < 0)
			ok = false;
		if (!ok) {
			log_error("apiserver store: transaction failed: %s", sqlite3_errmsg(st->wdb));
			exec(st->wdb, "ROLLBACK");
			for (size_t i = done; i < n; i++)
				evs[i] = NULL;
			fail_batch(batch, n, evs);
		}

		if (ok) {
			pthread_mutex_lock(&st->ring_lock);
			st->rv = rv;
			st->commits++;
			for (size_t i = 0; i < n; i++)
				if (evs[i])
					ring_push(st, evs[i]);
			pthread_cond_broadcast(&st->event_cond);
			pthread_mutex_unlock(&st->ring_lock);
		}
		pthread_mutex_lock(&st->lock);
		/* Each writer waits on its own condition: waking only the
		 * writers of this batch, not every waiting one. */
		for (size_t i = 0; i < n; i++) {
			batch[i]->done_ = 1;
			pthread_cond_signal(&batch[i]->cond_);
		}
	}
	pthread_mutex_unlock(&st->lock);
	sqlite3_finalize(sel);
	sqlite3_finalize(put);
	sqlite3_finalize(del);
	sqlite3_finalize(meta);
	return NULL;
}

int dv_objstore_open(const char *path, size_t history, dv_objstore **out, char *err,
		     size_t errlen)
{
	dv_objstore *st = calloc(1, sizeof *st);
	if (!st)
		return -ENOMEM;
	st->path = strdup(path);
	st->ring_cap = history ? history : DV_OBJSTORE_DEFAULT_HISTORY;
	st->ring = calloc(st->ring_cap, sizeof *st->ring);
	st->pool = calloc(READ_POOL_KEEP, sizeof *st->pool);
	pthread_mutex_init(&st->lock, NULL);
	pthread_mutex_init(&st->pool_lock, NULL);
	pthread_mutex_init(&st->ring_lock, NULL);
	pthread_cond_init(&st->queue_cond, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&st->event_cond, &ca);
	pthread_condattr_destroy(&ca);
	if (!st->path || !st->ring || !st->pool) {
		dv_objstore_close(st);
		return -ENOMEM;
	}
	if (open_db(path, true, &st->wdb) < 0 || exec(st->wdb, SCHEMA) < 0) {
		snprintf(err, errlen, "opening %s: %s", path,
			 st->wdb ? sqlite3_errmsg(st->wdb) : "cannot open");
		dv_objstore_close(st);
		return -EIO;
	}
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(st->wdb, "SELECT v FROM meta WHERE k='rv'", -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		st->rv = (uint64_t)sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	/* No history survives a restart: a watch from before it gets 410 Gone,
	 * a watch from the current version resumes. */
	st->evicted_rv = st->rv;
	if (pthread_create(&st->writer, NULL, writer_main, st) != 0) {
		snprintf(err, errlen, "starting the writer thread failed");
		dv_objstore_close(st);
		return -EAGAIN;
	}
	st->writer_started = true;
	*out = st;
	return 0;
}

void dv_objstore_close(dv_objstore *st)
{
	if (!st)
		return;
	pthread_mutex_lock(&st->lock);
	pthread_mutex_lock(&st->ring_lock);
	st->closing = true;
	pthread_cond_broadcast(&st->queue_cond);
	pthread_cond_broadcast(&st->event_cond);
	pthread_mutex_unlock(&st->ring_lock);
	pthread_mutex_unlock(&st->lock);
	if (st->writer_started)
		pthread_join(st->writer, NULL);
	for (size_t i = 0; st->ring && i < st->ring_cap; i++)
		dv_event_release(st->ring[i]);
	for (size_t i = 0; i < st->pool_len; i++)
		close_db(st->pool[i]);
	if (st->wdb)
		sqlite3_close(st->wdb);
	pthread_mutex_destroy(&st->lock);
	pthread_mutex_destroy(&st->pool_lock);
	pthread_mutex_destroy(&st->ring_lock);
	pthread_cond_destroy(&st->queue_cond);
	pthread_cond_destroy(&st->event_cond);
	free(st->ring);
	free(st->pool);
	free(st->path);
	free(st);
}

uint64_t dv_objstore_rv(dv_objstore *st)
{
	pthread_mutex_lock(&st->ring_lock);
	uint64_t rv = st->rv;
	pthread_mutex_unlock(&st->ring_lock);
	return rv;
}

void dv_objstore_set_durable(dv_objstore *st, bool durable)
{
	/* The writer owns its connection: it applies the change before its
	 * next batch. */
	pthread_mutex_lock(&st->lock);
	st->nosync = !durable;
	pthread_mutex_unlock(&st->lock);
}

uint64_t dv_objstore_commits(dv_objstore *st)
{
	pthread_mutex_lock(&st->ring_lock);
	uint64_t c = st->commits;
	pthread_mutex_unlock(&st->ring_lock);
	return c;
}

int dv_objstore_write(dv_objstore *st, dv_os_write *w)
{
	w->next_ = NULL;
	w->done_ = 0;
	w->body = NULL;
	w->result = -EIO;
	pthread_cond_init(&w->cond_, NULL);
	pthread_mutex_lock(&st->lock);
	if (st->closing) {
		pthread_mutex_unlock(&st->lock);
		pthread_cond_destroy(&w->cond_);
		return w->result = -ESHUTDOWN;
	}
	if (st->queue_tail)
		st->queue_tail->next_ = w;
	else
		st->queue_head = w;
	st->queue_tail = w;
	pthread_cond_signal(&st->queue_cond);
	while (!w->done_)
		pthread_cond_wait(&w->cond_, &st->lock);
	pthread_mutex_unlock(&st->lock);
	pthread_cond_destroy(&w->cond_);
	return w->result;
}

int dv_objstore_get(dv_objstore *st, const char *res, const char *ns, const char *name,
		    char **body, uint64_t *rv)
{
	sqlite3 *db = reader_get(st);
	if (!db)
		return -EIO;
	int r = -EIO;
	sqlite3_stmt *s = cached(db, "SELECT rv, body FROM objects WHERE res=?1 AND ns=?2 AND name=?3");
	if (s) {
		sqlite3_bind_text(s, 1, res, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, ns ? ns : "", -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, name, -1, SQLITE_STATIC);
		int rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			if (rv)
				*rv = (uint64_t)sqlite3_column_int64(s, 0);
			*body = strdup((const char *)sqlite3_column_text(s, 1));
			r = *body ? 0 : -ENOMEM;
		} else if (rc == SQLITE_DONE) {
			r = -ENOENT;
		}
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	reader_put(st, db);
	return r;
}

int dv_objstore_list(dv_objstore *st, const char *res, const char *ns, const char *after_ns,
		     const char *after_name, dv_objstore_each_fn fn, void *ctx,
		     uint64_t *list_rv)
{
	sqlite3 *db = reader_get(st);
	if (!db)
		return -EIO;
	int r = -EIO;
	sqlite3_stmt *m = NULL, *s = NULL;
	if (exec(db, "BEGIN") < 0)
		goto out;
	m = cached(db, "SELECT v FROM meta WHERE k='rv'");
	if (!m || sqlite3_step(m) != SQLITE_ROW)
		goto end;
	*list_rv = (uint64_t)sqlite3_column_int64(m, 0);
	const char *sql = ns ? "SELECT ns, name, body FROM objects WHERE res=?1 AND ns=?2 "
			       "AND name > ?4 ORDER BY name"
			     : "SELECT ns, name, body FROM objects WHERE res=?1 "
			       "AND (ns > ?3 OR (ns = ?3 AND name > ?4)) ORDER BY ns, name";
	s = cached(db, sql);
	if (!s)
		goto end;
	sqlite3_bind_text(s, 1, res, -1, SQLITE_STATIC);
	if (ns)
		sqlite3_bind_text(s, 2, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, after_ns ? after_ns : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, after_name ? after_name : "", -1, SQLITE_STATIC);
	int rc;
	r = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *bns = (const char *)sqlite3_column_text(s, 0);
		const char *bname = (const char *)sqlite3_column_text(s, 1);
		const char *body = (const char *)sqlite3_column_text(s, 2);
		size_t len = (size_t)sqlite3_column_bytes(s, 2);
		if (fn(ctx, bns, bname, body, len))
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		r = -EIO;
end:
	if (m)
		sqlite3_reset(m);
	if (s) {
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
	}
	exec(db, "COMMIT");
out:
	reader_put(st, db);
	return r;
}

long dv_objstore_count(dv_objstore *st, const char *res)
{
	sqlite3 *db = reader_get(st);
	if (!db)
		return -EIO;
	long n = -EIO;
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM objects WHERE res=?1", -1, &s, NULL) ==
	    SQLITE_OK) {
		sqlite3_bind_text(s, 1, res, -1, SQLITE_STATIC);
		if (sqlite3_step(s) == SQLITE_ROW)
			n = (long)sqlite3_column_int64(s, 0);
	}
	sqlite3_finalize(s);
	reader_put(st, db);
	return n;
}

/* Watches ------------------------------------------------------------ */

int dv_objstore_watch(dv_objstore *st, const char *res, const char *ns, uint64_t from,
		      dv_watch **out)
{
	dv_watch *w = calloc(1, sizeof *w);
	if (!w)
		return -ENOMEM;
	w->st = st;
	w->res = res ? strdup(res) : NULL;
	w->ns = ns ? strdup(ns) : NULL;
	if ((res && !w->res) || (ns && !w->ns)) {
		dv_watch_close(w);
		return -ENOMEM;
	}
	pthread_mutex_lock(&st->ring_lock);
	if (from < st->evicted_rv) {
		pthread_mutex_unlock(&st->ring_lock);
		dv_watch_close(w);
		return -ERANGE;
	}
	w->from = from;
	w->seen_rv = from > st->rv ? from : st->rv;
	/* The first event newer than `from`: events are in rv order, so walk
	 * back from the head while the previous one is still newer. */
	uint64_t lo = st->head_seq > st->ring_cap ? st->head_seq - st->ring_cap : 0;
	uint64_t seq = st->head_seq;
	while (seq > lo && st->ring[(seq - 1) % st->ring_cap]->rv > from)
		seq--;
	w->next_seq = seq;
	if (seq < st->head_seq)
		w->seen_rv = from;
	pthread_mutex_unlock(&st->ring_lock);
	*out = w;
	return 0;
}

static bool event_matches(const dv_watch *w, const dv_event *ev)
{
	if (ev->rv <= w->from || (w->res && strcmp(ev->res, w->res) != 0))
		return false;
	return !w->ns || strcmp(ev->ns, w->ns) == 0;
}

int dv_watch_next(dv_watch *w, int timeout_ms, dv_event **ev, uint64_t *seen_rv)
{
	dv_objstore *st = w->st;
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	int r = 0;
	pthread_mutex_lock(&st->ring_lock);
	for (;;) {
		if (st->closing) {
			r = -ESHUTDOWN;
			break;
		}
		uint64_t lo = st->head_seq > st->ring_cap ? st->head_seq - st->ring_cap : 0;
		if (w->next_seq < lo) {
			r = -EOVERFLOW;
			break;
		}
		if (w->next_seq < st->head_seq) {
			dv_event *e = st->ring[w->next_seq % st->ring_cap];
			w->next_seq++;
			if (e->rv > w->seen_rv)
				w->seen_rv = e->rv;
			if (event_matches(w, e)) {
				__atomic_add_fetch(&e->refs, 1, __ATOMIC_ACQ_REL);
				*ev = e;
				r = 1;
				break;
			}
			continue;
		}
		if (st->rv > w->seen_rv)
			w->seen_rv = st->rv;
		if (pthread_cond_timedwait(&st->event_cond, &st->ring_lock, &until) == ETIMEDOUT) {
			r = 0;
			break;
		}
	}
	*seen_rv = w->seen_rv;
	pthread_mutex_unlock(&st->ring_lock);
	return r;
}

void dv_watch_close(dv_watch *w)
{
	if (!w)
		return;
	free(w->res);
	free(w->ns);
	free(w);
}

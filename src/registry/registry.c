/*
 * registry.c - SQLite implementation of the registry.
 *
 * One connection, guarded by a mutex; statements are prepared once and
 * reused, so an operation costs the same with 100 or 100,000 volumes
 * (every lookup is by primary key or a unique index; lists walk the seq
 * index from a cursor).
 */
#include "registry.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crashpoint.h"
#include "log.h"
#include "sys/syncgroup.h"

#define SCHEMA_VERSION 2

/* Migrations: MIGRATIONS[i] takes the schema from version i to i+1. */
static const char *const MIGRATIONS[] = {
	"CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"CREATE TABLE volumes("
	" id TEXT PRIMARY KEY,"
	" name TEXT UNIQUE,"
	" pool TEXT NOT NULL,"
	" capacity INTEGER NOT NULL,"
	" block INTEGER NOT NULL DEFAULT 0,"
	" fs_type TEXT NOT NULL DEFAULT '',"
	" source_kind INTEGER NOT NULL DEFAULT 0,"
	" source_id TEXT NOT NULL DEFAULT '',"
	" parameters TEXT NOT NULL DEFAULT '{}',"
	" state INTEGER NOT NULL,"
	" formatted INTEGER NOT NULL DEFAULT 0,"
	" created_at INTEGER NOT NULL,"
	" seq INTEGER NOT NULL UNIQUE);"
	"CREATE INDEX volumes_pool ON volumes(pool);"
	"CREATE TABLE snapshots("
	" id TEXT PRIMARY KEY,"
	" name TEXT UNIQUE,"
	" source_volume TEXT NOT NULL,"
	" pool TEXT NOT NULL,"
	" size INTEGER NOT NULL,"
	" state INTEGER NOT NULL,"
	" created_at INTEGER NOT NULL,"
	" created_nanos INTEGER NOT NULL,"
	" seq INTEGER NOT NULL UNIQUE);"
	"CREATE INDEX snapshots_source ON snapshots(source_volume, seq);"
	"CREATE TABLE publications("
	" volume_id TEXT NOT NULL,"
	" node_id TEXT NOT NULL,"
	" readonly INTEGER NOT NULL,"
	" created_at INTEGER NOT NULL,"
	" PRIMARY KEY(volume_id, node_id));"
	"CREATE INDEX publications_node ON publications(node_id);"
	"CREATE TABLE operations("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" kind TEXT NOT NULL,"
	" object TEXT NOT NULL,"
	" pool TEXT NOT NULL,"
	" detail TEXT NOT NULL DEFAULT '',"
	" started_at INTEGER NOT NULL);"
	"CREATE TABLE counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
	"INSERT INTO counters VALUES('seq', 0);",
	/* 1 -> 2: node-side state, so a restarted driver knows what it staged
	 * and published; format_state on volumes (0 never, 1 started, 2 done) */
	"CREATE TABLE node_stages("
	" volume_id TEXT PRIMARY KEY,"
	" staging_path TEXT NOT NULL,"
	" device TEXT NOT NULL DEFAULT '',"
	" fs_type TEXT NOT NULL DEFAULT '',"
	" block INTEGER NOT NULL,"
	" mount_flags TEXT NOT NULL DEFAULT '',"
	" state INTEGER NOT NULL,"
	" created_at INTEGER NOT NULL);"
	"CREATE TABLE node_publishes("
	" volume_id TEXT NOT NULL,"
	" target_path TEXT NOT NULL,"
	" readonly INTEGER NOT NULL,"
	" created_at INTEGER NOT NULL,"
	" PRIMARY KEY(volume_id, target_path));",
};

enum {
	Q_BEGIN, Q_COMMIT, Q_ROLLBACK, Q_SAVEPOINT, Q_RELEASE, Q_ROLLBACK_TO,
	Q_VOL_GET, Q_VOL_GET_NAME, Q_VOL_INSERT, Q_VOL_SET_READY, Q_VOL_DELETE, Q_VOL_SET_STATE,
	Q_VOL_SET_CAPACITY, Q_VOL_SET_FORMATTED, Q_VOL_SET_PARAMS, Q_VOL_LIST, Q_VOL_POOL_SUM,
	Q_SEQ_NEXT, Q_SEQ_GET,
	Q_SNAP_GET, Q_SNAP_GET_NAME, Q_SNAP_INSERT, Q_SNAP_SET_READY, Q_SNAP_DELETE,
	Q_SNAP_SET_STATE, Q_SNAP_LIST, Q_SNAP_LIST_SRC, Q_SNAP_COUNT_SRC, Q_SNAP_POOL_SUM,
	Q_PUB_ADD, Q_PUB_GET, Q_PUB_REMOVE, Q_PUB_COUNT_NODE, Q_PUB_NODES, Q_PUB_REMOVE_VOL,
	Q_OP_INSERT, Q_OP_DELETE, Q_OP_LIST,
	Q_STAGE_GET, Q_STAGE_PUT, Q_STAGE_DEL, Q_NPUB_GET, Q_NPUB_PUT, Q_NPUB_DEL, Q_NPUB_COUNT,
	Q_NPUB_FIND_TARGET, Q_STAGE_LIST,
	Q_MAX
};

#define VOL_COLS "id, name, pool, capacity, block, fs_type, source_kind, source_id, " \
		 "parameters, state, formatted, created_at, seq"
#define SNAP_COLS "id, name, source_volume, pool, size, state, created_at, created_nanos, seq"

static const char *const SQL[Q_MAX] = {
	[Q_BEGIN] = "BEGIN IMMEDIATE",
	[Q_COMMIT] = "COMMIT",
	[Q_ROLLBACK] = "ROLLBACK",
	[Q_SAVEPOINT] = "SAVEPOINT w",
	[Q_RELEASE] = "RELEASE w",
	[Q_ROLLBACK_TO] = "ROLLBACK TO w",
	[Q_VOL_GET] = "SELECT " VOL_COLS " FROM volumes WHERE id = ?1",
	[Q_VOL_GET_NAME] = "SELECT " VOL_COLS " FROM volumes WHERE name = ?1",
	[Q_VOL_INSERT] = "INSERT INTO volumes(" VOL_COLS ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, "
			 "?8, ?9, ?10, ?11, ?12, ?13)",
	[Q_VOL_SET_READY] = "UPDATE volumes SET state = 1, capacity = ?2 WHERE id = ?1",
	[Q_VOL_DELETE] = "DELETE FROM volumes WHERE id = ?1",
	[Q_VOL_SET_STATE] = "UPDATE volumes SET state = ?2 WHERE id = ?1",
	[Q_VOL_SET_CAPACITY] = "UPDATE volumes SET capacity = ?2 WHERE id = ?1",
	[Q_VOL_SET_FORMATTED] = "UPDATE volumes SET formatted = ?2 WHERE id = ?1",
	[Q_VOL_SET_PARAMS] = "UPDATE volumes SET parameters = ?2 WHERE id = ?1",
	[Q_VOL_LIST] = "SELECT " VOL_COLS " FROM volumes WHERE seq > ?1 ORDER BY seq LIMIT ?2",
	[Q_VOL_POOL_SUM] = "SELECT COALESCE(SUM(capacity), 0) FROM volumes WHERE pool = ?1",
	/* not RETURNING: SQLite answers that from an ephemeral table with its
	 * own pager, about 150 KiB of page cache set up and torn down on
	 * every create (mtrace); seq_next() reads the value back instead */
	[Q_SEQ_NEXT] = "UPDATE counters SET value = value + 1 WHERE name = 'seq'",
	[Q_SEQ_GET] = "SELECT value FROM counters WHERE name = 'seq'",
	[Q_SNAP_GET] = "SELECT " SNAP_COLS " FROM snapshots WHERE id = ?1",
	[Q_SNAP_GET_NAME] = "SELECT " SNAP_COLS " FROM snapshots WHERE name = ?1",
	[Q_SNAP_INSERT] = "INSERT INTO snapshots(" SNAP_COLS ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, "
			  "?7, ?8, ?9)",
	[Q_SNAP_SET_READY] = "UPDATE snapshots SET state = 1, size = ?2 WHERE id = ?1",
	[Q_SNAP_DELETE] = "DELETE FROM snapshots WHERE id = ?1",
	[Q_SNAP_SET_STATE] = "UPDATE snapshots SET state = ?2 WHERE id = ?1",
	[Q_SNAP_LIST] = "SELECT " SNAP_COLS " FROM snapshots WHERE seq > ?1 ORDER BY seq LIMIT ?2",
	[Q_SNAP_LIST_SRC] = "SELECT " SNAP_COLS " FROM snapshots WHERE source_volume = ?3 AND "
			    "seq > ?1 ORDER BY seq LIMIT ?2",
	[Q_SNAP_COUNT_SRC] = "SELECT COUNT(*) FROM snapshots WHERE source_volume = ?1",
	[Q_SNAP_POOL_SUM] = "SELECT COALESCE(SUM(size), 0) FROM snapshots WHERE pool = ?1",
	[Q_PUB_ADD] = "INSERT INTO publications(volume_id, node_id, readonly, created_at) "
		      "VALUES(?1, ?2, ?3, ?4)",
	[Q_PUB_GET] = "SELECT readonly FROM publications WHERE volume_id = ?1 AND node_id = ?2",
	[Q_PUB_REMOVE] = "DELETE FROM publications WHERE volume_id = ?1 AND node_id = ?2",
	[Q_PUB_COUNT_NODE] = "SELECT COUNT(*) FROM publications WHERE node_id = ?1",
	[Q_PUB_NODES] = "SELECT node_id FROM publications WHERE volume_id = ?1 ORDER BY node_id",
	[Q_PUB_REMOVE_VOL] = "DELETE FROM publications WHERE volume_id = ?1",
	[Q_OP_INSERT] = "INSERT INTO operations(kind, object, pool, detail, started_at) "
			"VALUES(?1, ?2, ?3, ?4, ?5)",
	[Q_OP_DELETE] = "DELETE FROM operations WHERE id = ?1",
	[Q_OP_LIST] = "SELECT id, kind, object, pool, detail FROM operations ORDER BY id",
	[Q_STAGE_GET] = "SELECT volume_id, staging_path, device, fs_type, block, mount_flags, state "
			"FROM node_stages WHERE volume_id = ?1",
	[Q_STAGE_PUT] = "INSERT OR REPLACE INTO node_stages(volume_id, staging_path, device, fs_type, "
			"block, mount_flags, state, created_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[Q_STAGE_DEL] = "DELETE FROM node_stages WHERE volume_id = ?1",
	[Q_NPUB_GET] = "SELECT readonly FROM node_publishes WHERE volume_id = ?1 AND target_path = ?2",
	[Q_NPUB_PUT] = "INSERT OR REPLACE INTO node_publishes(volume_id, target_path, readonly, "
		       "created_at) VALUES(?1, ?2, ?3, ?4)",
	[Q_NPUB_DEL] = "DELETE FROM node_publishes WHERE volume_id = ?1 AND target_path = ?2",
	[Q_NPUB_COUNT] = "SELECT COUNT(*) FROM node_publishes WHERE volume_id = ?1",
	[Q_NPUB_FIND_TARGET] = "SELECT volume_id FROM node_publishes WHERE target_path = ?1",
	[Q_STAGE_LIST] = "SELECT volume_id, staging_path, device, fs_type, block, mount_flags, state "
			 "FROM node_stages ORDER BY volume_id",
};

struct registry {
	sqlite3 *db;
	pthread_mutex_t mu;
	sqlite3_stmt *stmt[Q_MAX];

	/* Group commit of the WAL (see "durability" below). */
	char *wal_path;
	int wal_fd;                 /* only the sync leader touches it */
	sys_syncgroup wal_sync;
	bool batch_open;            /* a write transaction is open (under mu) */
	uint64_t committed;         /* tickets up to this one are committed */
	registry_sync_hook sync_hook;
	void *sync_hook_payload;
};

static const char *const state_names[REG_STATE_MAX] = {
	[REG_STATE_CREATING] = "creating",
	[REG_STATE_READY] = "ready",
	[REG_STATE_DELETING] = "deleting",
	[REG_STATE_MISSING] = "missing",
};

const char *reg_state_to_string(reg_state s)
{
	return (unsigned)s < REG_STATE_MAX ? state_names[s] : "invalid";
}

void reg_volume_clear(reg_volume *v)
{
	if (!v)
		return;
	free(v->name);
	free(v->parameters);
	v->name = v->parameters = NULL;
}

void reg_snapshot_clear(reg_snapshot *s)
{
	if (!s)
		return;
	free(s->name);
	s->name = NULL;
}

void reg_op_clear(reg_op *op)
{
	if (!op)
		return;
	free(op->detail);
	op->detail = NULL;
}

/* ------------------------------------------------------------------ */

static int db_error(registry *reg, const char *what)
{
	int rc = sqlite3_extended_errcode(reg->db);

	if ((rc & 0xff) == SQLITE_CONSTRAINT)
		return -EEXIST;
	log_error("registry: %s: %s", what, sqlite3_errmsg(reg->db));
	if ((rc & 0xff) == SQLITE_FULL)
		return -ENOSPC;
	if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
		return -EBUSY;
	return -EIO;
}

/* Returns the statement reset and with bindings cleared. */
static sqlite3_stmt *q(registry *reg, int which)
{
	sqlite3_stmt *st = reg->stmt[which];

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return st;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

/* Runs a statement that returns no rows. */
static int exec_done(registry *reg, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return db_error(reg, what);
	return 0;
}

/* Runs a statement that must change exactly one row. */
static int exec_one(registry *reg, sqlite3_stmt *st, const char *what)
{
	int r = exec_done(reg, st, what);

	if (r < 0)
		return r;
	return sqlite3_changes(reg->db) == 1 ? 0 : -ENOENT;
}

/* Sets one integer column (?2) of the row keyed by id (?1); the row must
 * exist (-ENOENT otherwise). */
static int update_int_locked(registry *reg, int which, const char *id, int64_t value,
			     const char *what)
{
	sqlite3_stmt *st = q(reg, which);

	bind_text(st, 1, id);
	sqlite3_bind_int64(st, 2, value);
	return exec_one(reg, st, what);
}

/* Runs a statement keyed by k1 (?1) and, when not NULL, k2 (?2), that
 * returns no rows (a delete); no matching row is not an error. */
static int exec_by_key_locked(registry *reg, int which, const char *k1, const char *k2,
			      const char *what)
{
	sqlite3_stmt *st = q(reg, which);

	bind_text(st, 1, k1);
	if (k2)
		bind_text(st, 2, k2);
	return exec_done(reg, st, what);
}

/* One call's steps, all or none: a savepoint inside the batch (the
 * transaction that concurrent writers share; see "durability"). */
static int txn_begin(registry *reg)
{
	return exec_done(reg, q(reg, Q_SAVEPOINT), "savepoint");
}

static int txn_end(registry *reg, int r)
{
	if (r < 0) {
		exec_done(reg, q(reg, Q_ROLLBACK_TO), "rollback");
		exec_done(reg, q(reg, Q_RELEASE), "release");
		return r;
	}
	r = exec_done(reg, q(reg, Q_RELEASE), "release");
	if (r < 0) {
		exec_done(reg, q(reg, Q_ROLLBACK_TO), "rollback");
		exec_done(reg, q(reg, Q_RELEASE), "release");
	}
	return r;
}

static void copy_col(char *dst, size_t len, sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	snprintf(dst, len, "%s", s ? (const char *)s : "");
}

static char *dup_col(sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	return s ? strdup((const char *)s) : NULL;
}

/* Reads the current row of st into out, whose type is the reader's own. */
typedef void row_reader(sqlite3_stmt *st, void *out);
/* Frees what a reader allocated in one element (not the element). */
typedef void row_clear(void *row);

/* Steps a bound statement for one row and reads it into out (when read is
 * not NULL). 0 on a row, -ENOENT when there is none, else the database
 * error, logged as what. The statement is reset in every case. */
static int row_get(registry *reg, sqlite3_stmt *st, row_reader *read, void *out,
		   const char *what)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW && read)
		read(st, out);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? -ENOENT : db_error(reg, what);
}

/* row_get for a query that always yields a row (a count, a sum, the
 * sequence): no row is a database error as well. */
static int row_need(registry *reg, sqlite3_stmt *st, row_reader *read, void *out,
		    const char *what)
{
	int r = row_get(reg, st, read, out, what);

	return r == -ENOENT ? db_error(reg, what) : r;
}

/* Steps a bound list query to its end, reading each row into a growing
 * array of size-byte elements. On success *ret (the caller frees it and
 * clears each element) and *ret_n; on failure the elements read so far are
 * cleared, the array is freed, *ret is NULL and *ret_n 0. The statement is
 * reset in every case. */
static int rows_collect(registry *reg, sqlite3_stmt *st, size_t size, row_reader *read,
			row_clear *clear, void **ret, size_t *ret_n)
{
	char *arr = NULL;
	size_t n = 0, cap = 0;
	int rc, r = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 16;
			char *p = realloc(arr, nc * size);
			if (!p) {
				r = -ENOMEM;
				break;
			}
			arr = p;
			cap = nc;
		}
		read(st, arr + n++ * size);
	}
	if (r == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
		r = db_error(reg, "list");
	sqlite3_reset(st);
	if (r < 0) {
		for (size_t i = 0; i < n; i++)
			clear(arr + i * size);
		free(arr);
		arr = NULL;
		n = 0;
	}
	*ret = arr;
	*ret_n = n;
	return r;
}

/* A lookup by one text key (?1); see row_get. */
static int lookup_locked(registry *reg, int which, const char *key, row_reader *read, void *out,
			 const char *what)
{
	sqlite3_stmt *st = q(reg, which);

	bind_text(st, 1, key);
	return row_get(reg, st, read, out, what);
}

/* A caller's fixed-size buffer for read_text. */
struct text_buf {
	char *buf;
	size_t len;
};

static void read_text(sqlite3_stmt *st, void *out)
{
	struct text_buf *t = out;

	copy_col(t->buf, t->len, st, 0);
}

static void read_int64(sqlite3_stmt *st, void *out)
{
	*(int64_t *)out = sqlite3_column_int64(st, 0);
}

/* A single integer (a count, a sum) by one text key (?1); see row_need. */
static int scalar_locked(registry *reg, int which, const char *key, int64_t *ret,
			 const char *what)
{
	sqlite3_stmt *st = q(reg, which);

	bind_text(st, 1, key);
	return row_need(reg, st, read_int64, ret, what);
}

static void read_volume(sqlite3_stmt *st, void *out)
{
	reg_volume *v = out;

	memset(v, 0, sizeof(*v));
	copy_col(v->id, sizeof(v->id), st, 0);
	v->name = dup_col(st, 1);
	copy_col(v->pool, sizeof(v->pool), st, 2);
	v->capacity = (uint64_t)sqlite3_column_int64(st, 3);
	v->block = sqlite3_column_int(st, 4) != 0;
	copy_col(v->fs_type, sizeof(v->fs_type), st, 5);
	v->source_kind = (reg_source_kind)sqlite3_column_int(st, 6);
	copy_col(v->source_id, sizeof(v->source_id), st, 7);
	v->parameters = dup_col(st, 8);
	v->state = (reg_state)sqlite3_column_int(st, 9);
	v->formatted = sqlite3_column_int(st, 10);
	v->created_at = sqlite3_column_int64(st, 11);
	v->seq = sqlite3_column_int64(st, 12);
}

static void read_snapshot(sqlite3_stmt *st, void *out)
{
	reg_snapshot *s = out;

	memset(s, 0, sizeof(*s));
	copy_col(s->id, sizeof(s->id), st, 0);
	s->name = dup_col(st, 1);
	copy_col(s->source_volume, sizeof(s->source_volume), st, 2);
	copy_col(s->pool, sizeof(s->pool), st, 3);
	s->size = (uint64_t)sqlite3_column_int64(st, 4);
	s->state = (reg_state)sqlite3_column_int(st, 5);
	s->created_at = sqlite3_column_int64(st, 6);
	s->created_nanos = sqlite3_column_int(st, 7);
	s->seq = sqlite3_column_int64(st, 8);
}

static int op_insert(registry *reg, const char *kind, const char *object, const char *pool,
		     const char *detail, int64_t *ret_op)
{
	sqlite3_stmt *st = q(reg, Q_OP_INSERT);
	int r;

	bind_text(st, 1, kind);
	bind_text(st, 2, object);
	bind_text(st, 3, pool);
	bind_text(st, 4, detail ? detail : "");
	sqlite3_bind_int64(st, 5, (sqlite3_int64)time(NULL));
	r = exec_done(reg, st, "journal insert");
	if (r == 0)
		*ret_op = sqlite3_last_insert_rowid(reg->db);
	return r;
}

static int op_delete(registry *reg, int64_t op)
{
	sqlite3_stmt *st = q(reg, Q_OP_DELETE);

	sqlite3_bind_int64(st, 1, op);
	return exec_done(reg, st, "journal delete");
}

/* The current (highest handed out) sequence number. */
static int seq_get(registry *reg, int64_t *ret)
{
	return row_need(reg, q(reg, Q_SEQ_GET), read_int64, ret, "sequence");
}

/* The next sequence number. Inside the caller's transaction, so the
 * increment and the read are one step. */
static int seq_next(registry *reg, int64_t *ret)
{
	sqlite3_stmt *st = q(reg, Q_SEQ_NEXT);
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	if (rc != SQLITE_DONE || sqlite3_changes(reg->db) != 1)
		return db_error(reg, "sequence");
	return seq_get(reg, ret);
}

/* ------------------------------------------------------------------ */
/* durability: group commit                                            */

/*
 * SQLite runs with synchronous=NORMAL: a COMMIT writes its frames to the
 * WAL without syncing it (a checkpoint still syncs the WAL before copying
 * it and the database after). That survives kill -9 but not a power loss.
 *
 * Concurrent writers share one transaction and one fdatasync. A writing
 * call opens the batch (BEGIN IMMEDIATE) unless one is open, runs its steps
 * in a savepoint of it (all or none, as its own transaction would), takes
 * a ticket and leaves the mutex; then it waits (sys/syncgroup.h) for a sync
 * round that began after its ticket. The round's leader COMMITs the batch
 * under the mutex, then fdatasyncs the WAL without it: every writer whose
 * steps were in the batch is committed and durable at once, and replies
 * after that. A lone writer leads the round itself at once, so it pays one
 * commit and one sync, as with synchronous=FULL.
 *
 * Reads run on the same connection and see the batch (as they would see a
 * committed but not yet synced change otherwise); what a caller acts on
 * is committed first (every write waits for its round, and the one that
 * does not wait, MUTATED_UNSYNCED, commits the batch before it returns).
 */

/* (Re)opens the WAL for syncing when it is not open or SQLite removed
 * the file it is (SQLite never renames a WAL; it deletes it and makes a
 * new one, e.g. when the journal mode changes). */
static int wal_fd_fresh(registry *reg)
{
	struct stat a;

	if (reg->wal_fd >= 0 && fstat(reg->wal_fd, &a) == 0 && a.st_nlink > 0)
		return reg->wal_fd;
	if (reg->wal_fd >= 0)
		close(reg->wal_fd);
	reg->wal_fd = open(reg->wal_path, O_RDONLY | O_CLOEXEC);
	return reg->wal_fd >= 0 ? reg->wal_fd : -errno;
}

/* Under mu: the batch becomes one commit. 0, or the error of a COMMIT
 * that failed: then the batch is rolled back, and every ticket in it is
 * failed (their writers must not answer OK). *upto: the last ticket the
 * commit covers. */
static int batch_commit(registry *reg, uint64_t *upto)
{
	int r = 0;

	*upto = atomic_load(&reg->wal_sync.written);
	if (!reg->batch_open)
		return 0;
	reg->batch_open = false;
	r = exec_done(reg, q(reg, Q_COMMIT), "commit");
	reg->committed = *upto; /* settled either way */
	if (r < 0) {
		exec_done(reg, q(reg, Q_ROLLBACK), "rollback");
		sys_syncgroup_fail(&reg->wal_sync, *upto, r);
		return r;
	}
	return 0;
}

/* Under mu, before a writer's steps: the batch is open. */
static int batch_join(registry *reg)
{
	int r;

	if (reg->batch_open)
		return 0;
	r = exec_done(reg, q(reg, Q_BEGIN), "begin");
	if (r == 0)
		reg->batch_open = true;
	return r;
}

/* Under mu, after a writer that changed nothing: a batch that holds no
 * other writer's steps is closed now (nobody would commit it, and an open
 * write transaction keeps others' writers and checkpoints waiting). */
static void batch_close_idle(registry *reg)
{
	uint64_t upto;

	if (reg->batch_open && reg->committed == atomic_load(&reg->wal_sync.written))
		batch_commit(reg, &upto);
}

/* Under mu, after a writer's steps: its ticket when they changed rows
 * (else 0). SQLite rolls a whole transaction back on some errors (disk
 * full, I/O): then every uncommitted ticket is failed, and so is this
 * call (*r). */
static uint64_t batch_ticket(registry *reg, int64_t changes_before, int *r)
{
	if (reg->batch_open && sqlite3_get_autocommit(reg->db)) {
		reg->batch_open = false;
		log_error("registry: the shared transaction was rolled back");
		reg->committed = atomic_load(&reg->wal_sync.written);
		sys_syncgroup_fail(&reg->wal_sync, reg->committed, -EIO);
		if (*r == 0)
			*r = -EIO;
		return 0;
	}
	if (sqlite3_total_changes64(reg->db) == changes_before)
		return 0;
	return sys_syncgroup_ticket(&reg->wal_sync);
}

/* A sync round: commit the batch (under mu), then fdatasync the WAL
 * (without it). *covered becomes every ticket the commit took in. */
static int sync_wal(void *payload, uint64_t *covered)
{
	registry *reg = payload;
	uint64_t upto;
	int fd, r = 0;

	pthread_mutex_lock(&reg->mu);
	r = batch_commit(reg, &upto);
	pthread_mutex_unlock(&reg->mu);
	if (upto > *covered)
		*covered = upto;
	if (r < 0)
		return r;
	if (reg->sync_hook)
		return reg->sync_hook(reg->sync_hook_payload);
	fd = wal_fd_fresh(reg);
	if (fd == -ENOENT)
		return 0; /* no WAL: everything is in the (synced) database file */
	if (fd < 0 || fdatasync(fd) < 0)
		r = fd < 0 ? fd : -errno;
	if (r < 0)
		log_error("registry: syncing %s: %s", reg->wal_path, strerror(-r));
	return r;
}

/* After a mutation, outside mu: durable before the caller goes on, or
 * -EIO when the sync failed (the commit is in the WAL, but the disk did
 * not confirm it). The crash point registry.before_sync:<what> dies
 * between the commit and its sync, where a reply sent early would be a
 * lie to a power loss. */
static int finish_durable(registry *reg, const char *what, uint64_t ticket, int r)
{
	int s;

	if (!ticket)
		return r;
	dv_crashpoint_at("registry.before_sync", what);
	s = sys_syncgroup_wait(&reg->wal_sync, ticket, sync_wal, reg) < 0 ? -EIO : 0;
	return r < 0 ? r : s;
}

void registry_set_sync_hook(registry *reg, registry_sync_hook fn, void *payload)
{
	/* taken by the next round; tests set it while nothing syncs */
	reg->sync_hook = fn;
	reg->sync_hook_payload = payload;
}

uint64_t registry_sync_count(registry *reg)
{
	return sys_syncgroup_rounds(&reg->wal_sync);
}

/* ------------------------------------------------------------------ */
/* open / migrate                                                      */

static int schema_version(sqlite3 *db, int *ret)
{
	sqlite3_stmt *st = NULL;
	int rc;

	*ret = 0;
	rc = sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &st,
				NULL);
	if (rc != SQLITE_OK)
		return 0; /* no meta table: a new database */
	if (sqlite3_step(st) == SQLITE_ROW)
		*ret = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return 0;
}

static int migrate(sqlite3 *db, dv_status *err)
{
	int version;
	char *msg = NULL;

	schema_version(db, &version);
	if (version > SCHEMA_VERSION) {
		dv_status_set(err, DV_FAILED_PRECONDITION,
			      "registry schema version %d is newer than this dynvol (%d); "
			      "refusing to touch it", version, SCHEMA_VERSION);
		return -EPROTO;
	}
	for (int v = version; v < SCHEMA_VERSION; v++) {
		char bump[128];
		snprintf(bump, sizeof(bump),
			 "INSERT OR REPLACE INTO meta(key, value) VALUES('schema_version', '%d')", v + 1);
		if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK ||
		    sqlite3_exec(db, MIGRATIONS[v], NULL, NULL, &msg) != SQLITE_OK ||
		    sqlite3_exec(db, bump, NULL, NULL, &msg) != SQLITE_OK ||
		    sqlite3_exec(db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
			dv_status_set(err, DV_INTERNAL, "registry migration to version %d failed: %s",
				      v + 1, msg ? msg : "unknown error");
			sqlite3_free(msg);
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return -EIO;
		}
	}
	return 0;
}

/* Migrations and a WAL created at open become durable before the first
 * call: the WAL's contents, and the directory entries of the files. */
static int sync_at_open(registry *reg, const char *path)
{
	char *dir = strdup(path), *slash;
	int fd, r = sys_syncgroup_sync(&reg->wal_sync, sync_wal, reg);

	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = 0;
	fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r == 0 && (fd < 0 || fsync(fd) < 0))
		r = -errno;
	if (fd >= 0)
		close(fd);
	free(dir);
	return r;
}

int registry_open(registry **ret, const char *path, dv_status *err)
{
	registry *reg = calloc(1, sizeof(*reg));
	char *msg = NULL;
	int rc;

	if (!reg)
		return -ENOMEM;
	pthread_mutex_init(&reg->mu, NULL);
	sys_syncgroup_init(&reg->wal_sync);
	reg->wal_fd = -1;
	if (asprintf(&reg->wal_path, "%s-wal", path) < 0) {
		reg->wal_path = NULL;
		registry_close(reg);
		return -ENOMEM;
	}
	rc = sqlite3_open_v2(path, &reg->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		dv_status_set(err, DV_UNAVAILABLE, "cannot open registry %s: %s", path,
			      reg->db ? sqlite3_errmsg(reg->db) : sqlite3_errstr(rc));
		registry_close(reg);
		return -EIO;
	}
	sqlite3_busy_timeout(reg->db, 5000);
	/* WAL + NORMAL: a commit survives kill -9; our group commit makes it
	 * survive a power loss too (see "durability"). */
	if (sqlite3_exec(reg->db,
			 "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-1024; "
			 "PRAGMA foreign_keys=ON; PRAGMA secure_delete=OFF; PRAGMA temp_store=MEMORY;",
			 NULL, NULL, &msg) != SQLITE_OK) {
		dv_status_set(err, DV_UNAVAILABLE, "registry %s: %s", path, msg ? msg : "pragma failed");
		sqlite3_free(msg);
		registry_close(reg);
		return -EIO;
	}
	if (migrate(reg->db, err) < 0) {
		registry_close(reg);
		return -EIO;
	}
	if (sync_at_open(reg, path) < 0) {
		dv_status_set(err, DV_UNAVAILABLE, "registry %s: cannot sync it to disk", path);
		registry_close(reg);
		return -EIO;
	}
	for (int i = 0; i < Q_MAX; i++) {
		rc = sqlite3_prepare_v3(reg->db, SQL[i], -1, SQLITE_PREPARE_PERSISTENT, &reg->stmt[i],
					NULL);
		if (rc != SQLITE_OK) {
			dv_status_set(err, DV_INTERNAL, "registry: preparing query %d: %s", i,
				      sqlite3_errmsg(reg->db));
			registry_close(reg);
			return -EIO;
		}
	}
	*ret = reg;
	return 0;
}

void registry_close(registry *reg)
{
	if (!reg)
		return;
	if (reg->batch_open) {
		uint64_t upto;
		batch_commit(reg, &upto); /* nobody waits for it any more */
	}
	for (int i = 0; i < Q_MAX; i++)
		sqlite3_finalize(reg->stmt[i]);
	if (reg->db)
		sqlite3_close(reg->db);
	if (reg->wal_fd >= 0)
		close(reg->wal_fd);
	free(reg->wal_path);
	sys_syncgroup_destroy(&reg->wal_sync);
	pthread_mutex_destroy(&reg->mu);
	free(reg);
}

#define LOCKED(reg, expr)                                                       \
	({                                                                      \
		pthread_mutex_lock(&(reg)->mu);                                 \
		int _r = (expr);                                                \
		pthread_mutex_unlock(&(reg)->mu);                               \
		_r;                                                             \
	})

/* LOCKED for a call that writes: its steps (expr) join the batch, and it
 * returns once they are committed and durable (finish_durable); what
 * names it for the crash point. */
#define MUTATED(reg, what, expr)                                                \
	({                                                                      \
		uint64_t _t = 0;                                                \
		pthread_mutex_lock(&(reg)->mu);                                 \
		int _r = batch_join(reg);                                       \
		if (_r == 0) {                                                  \
			int64_t _before = sqlite3_total_changes64((reg)->db);   \
			_r = (expr);                                            \
			_t = batch_ticket((reg), _before, &_r);                 \
			if (!_t)                                                \
				batch_close_idle(reg);                          \
		}                                                               \
		pthread_mutex_unlock(&(reg)->mu);                               \
		finish_durable((reg), (what), _t, _r);                          \
	})

/* MUTATED for a call that does not wait for the sync: the batch is
 * committed before it returns (what the caller does next may depend on
 * it surviving kill -9), and the next round syncs it
 * (registry_volume_delete_intent; see the header). */
#define MUTATED_UNSYNCED(reg, expr)                                             \
	({                                                                      \
		uint64_t _upto;                                                 \
		pthread_mutex_lock(&(reg)->mu);                                 \
		int _r = batch_join(reg);                                       \
		if (_r == 0) {                                                  \
			int64_t _before = sqlite3_total_changes64((reg)->db);   \
			_r = (expr);                                            \
			batch_ticket((reg), _before, &_r);                      \
			int _c = batch_commit((reg), &_upto);                   \
			if (_r == 0)                                            \
				_r = _c;                                        \
		}                                                               \
		pthread_mutex_unlock(&(reg)->mu);                               \
		_r;                                                             \
	})

int registry_ping(registry *reg)
{
	return LOCKED(reg, row_need(reg, q(reg, Q_SEQ_GET), NULL, NULL, "ping"));
}

int registry_release_memory(registry *reg)
{
	return LOCKED(reg, sqlite3_db_release_memory(reg->db) == SQLITE_OK ? 0 : -EIO);
}

/* ------------------------------------------------------------------ */
/* volumes                                                             */

static int get_volume_locked(registry *reg, int which, const char *key, reg_volume *ret)
{
	return lookup_locked(reg, which, key, read_volume, ret, "volume lookup");
}

int registry_volume_get(registry *reg, const char *id, reg_volume *ret)
{
	return LOCKED(reg, get_volume_locked(reg, Q_VOL_GET, id, ret));
}

int registry_volume_get_by_name(registry *reg, const char *name, reg_volume *ret)
{
	return LOCKED(reg, get_volume_locked(reg, Q_VOL_GET_NAME, name, ret));
}

static int volume_create_intent_locked(registry *reg, reg_volume *v, const char *kind,
				       const char *detail, int64_t *ret_op)
{
	sqlite3_stmt *st;
	int r = txn_begin(reg);

	if (r < 0)
		return r;
	r = seq_next(reg, &v->seq);
	if (r == 0) {
		st = q(reg, Q_VOL_INSERT);
		bind_text(st, 1, v->id);
		bind_text(st, 2, v->name);
		bind_text(st, 3, v->pool);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)v->capacity);
		sqlite3_bind_int(st, 5, v->block);
		bind_text(st, 6, v->fs_type);
		sqlite3_bind_int(st, 7, v->source_kind);
		bind_text(st, 8, v->source_id);
		bind_text(st, 9, v->parameters ? v->parameters : "{}");
		sqlite3_bind_int(st, 10, REG_STATE_CREATING);
		sqlite3_bind_int(st, 11, v->formatted);
		sqlite3_bind_int64(st, 12, v->created_at ? v->created_at : (int64_t)time(NULL));
		sqlite3_bind_int64(st, 13, v->seq);
		r = exec_done(reg, st, "volume insert");
	}
	if (r == 0)
		r = op_insert(reg, kind, v->id, v->pool, detail, ret_op);
	if (r == 0)
		v->state = REG_STATE_CREATING;
	return txn_end(reg, r);
}

int registry_volume_create_intent(registry *reg, reg_volume *v, const char *kind,
				  const char *detail, int64_t *ret_op)
{
	return MUTATED(reg, "volume_create_intent", volume_create_intent_locked(reg, v, kind, detail, ret_op));
}

/* update_int_locked and the removal of journal entry op, in one
 * transaction: how a create or an expand is committed. */
static int update_commit_locked(registry *reg, int which, const char *id, uint64_t value,
				const char *what, int64_t op)
{
	int r = txn_begin(reg);

	if (r < 0)
		return r;
	r = update_int_locked(reg, which, id, (sqlite3_int64)value, what);
	if (r == 0)
		r = op_delete(reg, op);
	return txn_end(reg, r);
}

int registry_volume_create_commit(registry *reg, const char *id, uint64_t capacity, int64_t op)
{
	return MUTATED(reg, "volume_create_commit", update_commit_locked(reg, Q_VOL_SET_READY, id, capacity, "volume ready",
						op));
}

static int volume_remove_locked(registry *reg, const char *id, int64_t op)
{
	int r = txn_begin(reg);

	if (r < 0)
		return r;
	r = exec_by_key_locked(reg, Q_PUB_REMOVE_VOL, id, NULL, "publications delete");
	if (r == 0)
		r = exec_by_key_locked(reg, Q_VOL_DELETE, id, NULL, "volume delete");
	if (r == 0 && op > 0)
		r = op_delete(reg, op);
	return txn_end(reg, r);
}

int registry_volume_create_abort(registry *reg, const char *id, int64_t op)
{
	return MUTATED(reg, "volume_create_abort", volume_remove_locked(reg, id, op));
}

int registry_volume_delete_commit(registry *reg, const char *id, int64_t op)
{
	return MUTATED(reg, "volume_delete_commit", volume_remove_locked(reg, id, op));
}

static int set_state_op_locked(registry *reg, int which, const char *id, reg_state state,
			       const char *kind, const char *pool_of, const char *detail,
			       int64_t *ret_op)
{
	int r = txn_begin(reg);

	if (r < 0)
		return r;
	r = update_int_locked(reg, which, id, state, "state update");
	if (r == 0)
		r = op_insert(reg, kind, id, pool_of, detail, ret_op);
	return txn_end(reg, r);
}

void reg_delete_check_clear(reg_delete_check *c)
{
	if (!c)
		return;
	free(c->staging_path);
	c->staging_path = NULL;
}

static void read_stage(sqlite3_stmt *st, void *out);

/* The checks of a deletion and its intent, in one transaction (see the
 * header): one round trip instead of a read per check. */
static int delete_intent_locked(registry *reg, const char *id, reg_delete_check *chk,
				int64_t *ret_op)
{
	struct text_buf node = { chk->node, sizeof(chk->node) };
	reg_stage rs = { 0 };
	int64_t nsnaps = 0;
	int r = txn_begin(reg);

	if (r < 0)
		return r;
	chk->node[0] = 0;
	r = scalar_locked(reg, Q_SNAP_COUNT_SRC, id, &nsnaps, "count");
	chk->snapshots = r == 0 ? (size_t)nsnaps : 0;
	if (r == 0) {
		sqlite3_stmt *st = q(reg, Q_PUB_NODES);
		bind_text(st, 1, id);
		r = row_get(reg, st, read_text, &node, "publication lookup");
		r = r == 0 ? -EBUSY : r == -ENOENT ? 0 : r;
	}
	if (r == 0) {
		r = lookup_locked(reg, Q_STAGE_GET, id, read_stage, &rs, "stage lookup");
		if (r == 0) {
			chk->staging_path = rs.staging_path;
			rs.staging_path = NULL;
			reg_stage_clear(&rs);
			r = -EBUSY;
		} else if (r == -ENOENT) {
			r = 0;
		}
	}
	if (r == 0)
		r = update_int_locked(reg, Q_VOL_SET_STATE, id, REG_STATE_DELETING, "state update");
	if (r == 0)
		r = op_insert(reg, "delete_volume", id, "", NULL, ret_op);
	return txn_end(reg, r);
}

int registry_volume_delete_intent(registry *reg, const char *id, reg_delete_check *chk,
				  int64_t *ret_op)
{
	return MUTATED_UNSYNCED(reg, delete_intent_locked(reg, id, chk, ret_op));
}

static int expand_intent_locked(registry *reg, const char *id, uint64_t new_capacity,
				int64_t *ret_op)
{
	reg_volume v;
	char detail[32];
	int r = get_volume_locked(reg, Q_VOL_GET, id, &v);

	if (r < 0)
		return r;
	snprintf(detail, sizeof(detail), "%llu", (unsigned long long)new_capacity);
	r = op_insert(reg, "expand_volume", id, v.pool, detail, ret_op);
	reg_volume_clear(&v);
	return r;
}

int registry_volume_expand_intent(registry *reg, const char *id, uint64_t new_capacity,
				  int64_t *ret_op)
{
	return MUTATED(reg, "volume_expand_intent", expand_intent_locked(reg, id, new_capacity, ret_op));
}

int registry_volume_expand_commit(registry *reg, const char *id, uint64_t capacity, int64_t op)
{
	return MUTATED(reg, "volume_expand_commit", update_commit_locked(reg, Q_VOL_SET_CAPACITY, id, capacity,
						"volume capacity", op));
}

int registry_volume_set_state(registry *reg, const char *id, reg_state state)
{
	return MUTATED(reg, "volume_set_state", update_int_locked(reg, Q_VOL_SET_STATE, id, state, "update"));
}

int registry_volume_set_formatted(registry *reg, const char *id, int formatted)
{
	return MUTATED(reg, "volume_set_formatted", update_int_locked(reg, Q_VOL_SET_FORMATTED, id, formatted, "update"));
}

static int set_params_locked(registry *reg, const char *id, const char *parameters)
{
	sqlite3_stmt *st = q(reg, Q_VOL_SET_PARAMS);

	bind_text(st, 1, id);
	bind_text(st, 2, parameters);
	return exec_one(reg, st, "volume parameters");
}

int registry_volume_set_parameters(registry *reg, const char *id, const char *parameters)
{
	return MUTATED(reg, "volume_set_parameters", set_params_locked(reg, id, parameters));
}

static void clear_volume(void *row)
{
	reg_volume_clear(row);
}

static int volume_list_locked(registry *reg, int64_t after_seq, size_t limit, reg_volume **ret,
			      size_t *ret_n)
{
	sqlite3_stmt *st = q(reg, Q_VOL_LIST);
	void *arr;
	int r;

	sqlite3_bind_int64(st, 1, after_seq);
	sqlite3_bind_int64(st, 2, limit > INT64_MAX ? INT64_MAX : (sqlite3_int64)limit);
	r = rows_collect(reg, st, sizeof(reg_volume), read_volume, clear_volume, &arr, ret_n);
	*ret = arr;
	return r;
}

int registry_volume_list(registry *reg, int64_t after_seq, size_t limit, reg_volume **ret,
			 size_t *ret_n)
{
	return LOCKED(reg, volume_list_locked(reg, after_seq, limit, ret, ret_n));
}

void registry_volumes_free(reg_volume *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		reg_volume_clear(&v[i]);
	free(v);
}

int registry_volume_max_seq(registry *reg, int64_t *ret)
{
	return LOCKED(reg, seq_get(reg, ret));
}

static int pool_allocated_locked(registry *reg, const char *pool, uint64_t *ret,
				 uint64_t *ret_snaps)
{
	uint64_t total = 0;
	int which[2] = { Q_VOL_POOL_SUM, Q_SNAP_POOL_SUM };

	for (int i = 0; i < 2; i++) {
		int64_t part = 0;
		int r = scalar_locked(reg, which[i], pool, &part, "pool sum");
		if (r < 0)
			return r;
		total += (uint64_t)part;
		if (i == 1)
			*ret_snaps = (uint64_t)part;
	}
	*ret = total;
	return 0;
}

int registry_pool_allocated(registry *reg, const char *pool, uint64_t *ret_bytes,
			    uint64_t *ret_snapshot_bytes)
{
	return LOCKED(reg, pool_allocated_locked(reg, pool, ret_bytes, ret_snapshot_bytes));
}

/* ------------------------------------------------------------------ */
/* snapshots                                                           */

int registry_snapshot_get(registry *reg, const char *id, reg_snapshot *ret)
{
	return LOCKED(reg, lookup_locked(reg, Q_SNAP_GET, id, read_snapshot, ret,
					 "snapshot lookup"));
}

int registry_snapshot_get_by_name(registry *reg, const char *name, reg_snapshot *ret)
{
	return LOCKED(reg, lookup_locked(reg, Q_SNAP_GET_NAME, name, read_snapshot, ret,
					 "snapshot lookup"));
}

static int snapshot_create_intent_locked(registry *reg, reg_snapshot *s, int64_t *ret_op)
{
	sqlite3_stmt *st;
	struct timespec ts;
	int r = txn_begin(reg);

	if (r < 0)
		return r;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (!s->created_at) {
		s->created_at = ts.tv_sec;
		s->created_nanos = (int32_t)ts.tv_nsec;
	}
	r = seq_next(reg, &s->seq);
	if (r == 0) {
		st = q(reg, Q_SNAP_INSERT);
		bind_text(st, 1, s->id);
		bind_text(st, 2, s->name);
		bind_text(st, 3, s->source_volume);
		bind_text(st, 4, s->pool);
		sqlite3_bind_int64(st, 5, (sqlite3_int64)s->size);
		sqlite3_bind_int(st, 6, REG_STATE_CREATING);
		sqlite3_bind_int64(st, 7, s->created_at);
		sqlite3_bind_int(st, 8, s->created_nanos);
		sqlite3_bind_int64(st, 9, s->seq);
		r = exec_done(reg, st, "snapshot insert");
	}
	if (r == 0)
		r = op_insert(reg, "create_snapshot", s->id, s->pool, s->source_volume, ret_op);
	if (r == 0)
		s->state = REG_STATE_CREATING;
	return txn_end(reg, r);
}

int registry_snapshot_create_intent(registry *reg, reg_snapshot *s, int64_t *ret_op)
{
	return MUTATED(reg, "snapshot_create_intent", snapshot_create_intent_locked(reg, s, ret_op));
}

int registry_snapshot_create_commit(registry *reg, const char *id, uint64_t size, int64_t op)
{
	return MUTATED(reg, "snapshot_create_commit", update_commit_locked(reg, Q_SNAP_SET_READY, id, size, "snapshot ready",
						op));
}

static int snapshot_remove_locked(registry *reg, const char *id, int64_t op)
{
	int r = txn_begin(reg);

	if (r < 0)
		return r;
	r = exec_by_key_locked(reg, Q_SNAP_DELETE, id, NULL, "snapshot delete");
	if (r == 0 && op > 0)
		r = op_delete(reg, op);
	return txn_end(reg, r);
}

int registry_snapshot_create_abort(registry *reg, const char *id, int64_t op)
{
	return MUTATED(reg, "snapshot_create_abort", snapshot_remove_locked(reg, id, op));
}

int registry_snapshot_delete_commit(registry *reg, const char *id, int64_t op)
{
	return MUTATED(reg, "snapshot_delete_commit", snapshot_remove_locked(reg, id, op));
}

int registry_snapshot_delete_intent(registry *reg, const char *id, int64_t *ret_op)
{
	return MUTATED(reg, "snapshot_delete_intent", set_state_op_locked(reg, Q_SNAP_SET_STATE, id, REG_STATE_DELETING,
					       "delete_snapshot", "", NULL, ret_op));
}

int registry_snapshot_set_state(registry *reg, const char *id, reg_state state)
{
	return MUTATED(reg, "snapshot_set_state", update_int_locked(reg, Q_SNAP_SET_STATE, id, state, "update"));
}

static void clear_snapshot(void *row)
{
	reg_snapshot_clear(row);
}

static int snapshot_list_locked(registry *reg, const char *source_volume, int64_t after_seq,
				size_t limit, reg_snapshot **ret, size_t *ret_n)
{
	sqlite3_stmt *st = q(reg, source_volume ? Q_SNAP_LIST_SRC : Q_SNAP_LIST);
	void *arr;
	int r;

	sqlite3_bind_int64(st, 1, after_seq);
	sqlite3_bind_int64(st, 2, limit > INT64_MAX ? INT64_MAX : (sqlite3_int64)limit);
	if (source_volume)
		bind_text(st, 3, source_volume);
	r = rows_collect(reg, st, sizeof(reg_snapshot), read_snapshot, clear_snapshot, &arr, ret_n);
	*ret = arr;
	return r;
}

int registry_snapshot_list(registry *reg, const char *source_volume, int64_t after_seq,
			   size_t limit, reg_snapshot **ret, size_t *ret_n)
{
	return LOCKED(reg, snapshot_list_locked(reg, source_volume, after_seq, limit, ret, ret_n));
}

void registry_snapshots_free(reg_snapshot *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		reg_snapshot_clear(&s[i]);
	free(s);
}

static int count_locked(registry *reg, int which, const char *key, size_t *ret)
{
	int64_t n = 0;
	int r = scalar_locked(reg, which, key, &n, "count");

	if (r == 0)
		*ret = (size_t)n;
	return r;
}

int registry_snapshot_count_of(registry *reg, const char *volume_id, size_t *ret)
{
	return LOCKED(reg, count_locked(reg, Q_SNAP_COUNT_SRC, volume_id, ret));
}

/* ------------------------------------------------------------------ */
/* publications                                                        */

/* Records (volume_id, key) with its readonly flag and the time: a
 * publication to a node, or a node-side publish to a target path. */
static int flag_put_locked(registry *reg, int which, const char *volume_id, const char *key,
			   bool ro, const char *what)
{
	sqlite3_stmt *st = q(reg, which);

	bind_text(st, 1, volume_id);
	bind_text(st, 2, key);
	sqlite3_bind_int(st, 3, ro);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)time(NULL));
	return exec_done(reg, st, what);
}

/* The readonly flag in the first column, read when out is not NULL. */
static void read_flag(sqlite3_stmt *st, void *out)
{
	bool *ro = out;

	if (ro)
		*ro = sqlite3_column_int(st, 0) != 0;
}

/* The readonly flag recorded for (volume_id, key) by flag_put_locked; see
 * row_get. */
static int flag_get_locked(registry *reg, int which, const char *volume_id, const char *key,
			   bool *ro, const char *what)
{
	sqlite3_stmt *st = q(reg, which);

	bind_text(st, 1, volume_id);
	bind_text(st, 2, key);
	return row_get(reg, st, read_flag, ro, what);
}

int registry_publication_add(registry *reg, const char *volume_id, const char *node_id,
			     bool readonly)
{
	return MUTATED(reg, "publication_add", flag_put_locked(reg, Q_PUB_ADD, volume_id, node_id, readonly,
					   "publication insert"));
}

int registry_publication_get(registry *reg, const char *volume_id, const char *node_id,
			     bool *ret_readonly)
{
	return LOCKED(reg, flag_get_locked(reg, Q_PUB_GET, volume_id, node_id, ret_readonly,
					   "publication lookup"));
}

int registry_publication_remove(registry *reg, const char *volume_id, const char *node_id)
{
	return MUTATED(reg, "publication_remove", exec_by_key_locked(reg, Q_PUB_REMOVE, volume_id, node_id,
					      "publication delete"));
}

int registry_publication_count_node(registry *reg, const char *node_id, size_t *ret)
{
	return LOCKED(reg, count_locked(reg, Q_PUB_COUNT_NODE, node_id, ret));
}

static void read_str(sqlite3_stmt *st, void *out)
{
	*(char **)out = dup_col(st, 0);
}

static void clear_str(void *row)
{
	free(*(char **)row);
}

static int pub_nodes_locked(registry *reg, const char *volume_id, char ***ret)
{
	sqlite3_stmt *st = q(reg, Q_PUB_NODES);
	void *rows;
	char **arr, **p;
	size_t n;
	int r;

	bind_text(st, 1, volume_id);
	r = rows_collect(reg, st, sizeof(char *), read_str, clear_str, &rows, &n);
	if (r < 0)
		return r;
	arr = rows;
	p = realloc(arr, (n + 1) * sizeof(*p));
	if (!p) {
		for (size_t i = 0; i < n; i++)
			free(arr[i]);
		free(arr);
		return -ENOMEM;
	}
	p[n] = NULL;
	*ret = p;
	return 0;
}

int registry_publication_nodes(registry *reg, const char *volume_id, char ***ret)
{
	return LOCKED(reg, pub_nodes_locked(reg, volume_id, ret));
}

void registry_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

/* ------------------------------------------------------------------ */
/* journal                                                             */

static void read_op(sqlite3_stmt *st, void *out)
{
	reg_op *op = out;

	memset(op, 0, sizeof(*op));
	op->id = sqlite3_column_int64(st, 0);
	copy_col(op->kind, sizeof(op->kind), st, 1);
	copy_col(op->object, sizeof(op->object), st, 2);
	copy_col(op->pool, sizeof(op->pool), st, 3);
	op->detail = dup_col(st, 4);
}

static void clear_op(void *row)
{
	reg_op_clear(row);
}

static int op_list_locked(registry *reg, reg_op **ret, size_t *ret_n)
{
	void *arr;
	int r = rows_collect(reg, q(reg, Q_OP_LIST), sizeof(reg_op), read_op, clear_op, &arr, ret_n);

	*ret = arr;
	return r;
}

int registry_op_list(registry *reg, reg_op **ret, size_t *ret_n)
{
	return LOCKED(reg, op_list_locked(reg, ret, ret_n));
}

void registry_ops_free(reg_op *ops, size_t n)
{
	for (size_t i = 0; i < n; i++)
		reg_op_clear(&ops[i]);
	free(ops);
}

int registry_op_remove(registry *reg, int64_t op)
{
	return MUTATED(reg, "op_remove", op_delete(reg, op));
}

/* ------------------------------------------------------------------ */
/* node state                                                          */

static void read_stage(sqlite3_stmt *st, void *out)
{
	reg_stage *ret = out;

	memset(ret, 0, sizeof(*ret));
	copy_col(ret->volume_id, sizeof(ret->volume_id), st, 0);
	ret->staging_path = dup_col(st, 1);
	copy_col(ret->device, sizeof(ret->device), st, 2);
	copy_col(ret->fs_type, sizeof(ret->fs_type), st, 3);
	ret->block = sqlite3_column_int(st, 4) != 0;
	ret->mount_flags = dup_col(st, 5);
	ret->state = (reg_stage_state)sqlite3_column_int(st, 6);
}

static void clear_stage(void *row)
{
	reg_stage_clear(row);
}

static int stage_list_locked(registry *reg, reg_stage **ret, size_t *ret_n)
{
	void *arr;
	int r = rows_collect(reg, q(reg, Q_STAGE_LIST), sizeof(reg_stage), read_stage, clear_stage,
			     &arr, ret_n);

	*ret = arr;
	return r;
}

int registry_stage_list(registry *reg, reg_stage **ret, size_t *ret_n)
{
	return LOCKED(reg, stage_list_locked(reg, ret, ret_n));
}

void registry_stages_free(reg_stage *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		reg_stage_clear(&s[i]);
	free(s);
}

int registry_stage_get(registry *reg, const char *volume_id, reg_stage *ret)
{
	return LOCKED(reg, lookup_locked(reg, Q_STAGE_GET, volume_id, read_stage, ret,
					 "stage lookup"));
}

static int stage_put_locked(registry *reg, const reg_stage *s)
{
	sqlite3_stmt *st = q(reg, Q_STAGE_PUT);

	bind_text(st, 1, s->volume_id);
	bind_text(st, 2, s->staging_path);
	bind_text(st, 3, s->device);
	bind_text(st, 4, s->fs_type);
	sqlite3_bind_int(st, 5, s->block);
	bind_text(st, 6, s->mount_flags ? s->mount_flags : "");
	sqlite3_bind_int(st, 7, s->state);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)time(NULL));
	return exec_done(reg, st, "stage record");
}

int registry_stage_put(registry *reg, const reg_stage *s)
{
	return MUTATED(reg, "stage_put", stage_put_locked(reg, s));
}

int registry_stage_remove(registry *reg, const char *volume_id)
{
	return MUTATED(reg, "stage_remove", exec_by_key_locked(reg, Q_STAGE_DEL, volume_id, NULL,
					      "node state delete"));
}

void reg_stage_clear(reg_stage *s)
{
	if (!s)
		return;
	free(s->staging_path);
	free(s->mount_flags);
	s->staging_path = s->mount_flags = NULL;
}

int registry_node_publish_put(registry *reg, const char *volume_id, const char *target, bool ro)
{
	return MUTATED(reg, "node_publish_put", flag_put_locked(reg, Q_NPUB_PUT, volume_id, target, ro,
					   "publish record"));
}

int registry_node_publish_get(registry *reg, const char *volume_id, const char *target, bool *ret_ro)
{
	return LOCKED(reg, flag_get_locked(reg, Q_NPUB_GET, volume_id, target, ret_ro,
					   "publish lookup"));
}

int registry_node_publish_remove(registry *reg, const char *volume_id, const char *target)
{
	return MUTATED(reg, "node_publish_remove", exec_by_key_locked(reg, Q_NPUB_DEL, volume_id, target,
					      "node state delete"));
}

int registry_node_publish_count(registry *reg, const char *volume_id, size_t *ret)
{
	return LOCKED(reg, count_locked(reg, Q_NPUB_COUNT, volume_id, ret));
}


int registry_node_publish_find(registry *reg, const char *target, char *ret_volume_id, size_t len)
{
	struct text_buf t = { ret_volume_id, len };

	return LOCKED(reg, lookup_locked(reg, Q_NPUB_FIND_TARGET, target, read_text, &t,
					 "publish lookup"));
}

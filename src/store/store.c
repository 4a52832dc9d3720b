/*
 * store.c - the journal protocol over the registry and the pools, object
 * locks, capacity accounting, and crash recovery.
 */
#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "crashpoint.h"
#include "log.h"

typedef struct lock_entry {
	char *key;
	struct lock_entry *next;
} lock_entry;

struct store {
	registry *reg;
	pool **pools;
	uint64_t *allocated; /* per pool: bytes promised to volumes and snapshots */
	uint64_t *snap_allocated; /* per pool: the snapshots' part of it */
	size_t n_pools;
	bool remove_orphans;
	pthread_mutex_t mu;  /* locks list and allocation counters */
	lock_entry *locks;
};

registry *store_registry(store *s) { return s->reg; }
size_t store_pool_count(const store *s) { return s->n_pools; }
pool *store_pool_at(store *s, size_t i) { return i < s->n_pools ? s->pools[i] : NULL; }

static ssize_t pool_index(const store *s, const char *name)
{
	for (size_t i = 0; i < s->n_pools; i++)
		if (strcmp(s->pools[i]->name, name) == 0)
			return (ssize_t)i;
	return -1;
}

pool *store_pool_find(store *s, const char *name)
{
	ssize_t i = pool_index(s, name);

	return i < 0 ? NULL : s->pools[i];
}

/* ------------------------------------------------------------------ */
/* object locks                                                        */

static int lock_try(store *s, const char *key)
{
	lock_entry *e;

	pthread_mutex_lock(&s->mu);
	for (e = s->locks; e; e = e->next) {
		if (strcmp(e->key, key) == 0) {
			pthread_mutex_unlock(&s->mu);
			return -EBUSY;
		}
	}
	e = malloc(sizeof(*e));
	if (e)
		e->key = strdup(key);
	if (!e || !e->key) {
		free(e);
		pthread_mutex_unlock(&s->mu);
		return -ENOMEM;
	}
	e->next = s->locks;
	s->locks = e;
	pthread_mutex_unlock(&s->mu);
	return 0;
}

static void lock_release(store *s, const char *key)
{
	pthread_mutex_lock(&s->mu);
	for (lock_entry **pp = &s->locks; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->key, key) == 0) {
			lock_entry *e = *pp;
			*pp = e->next;
			free(e->key);
			free(e);
			break;
		}
	}
	pthread_mutex_unlock(&s->mu);
}

/* Takes the locks for keys (NULL entries skipped); all or none. */
static int lock_keys(store *s, const char *const *keys, size_t n, dv_status *st)
{
	for (size_t i = 0; i < n; i++) {
		if (!keys[i])
			continue;
		int r = lock_try(s, keys[i]);
		if (r < 0) {
			for (size_t j = 0; j < i; j++)
				if (keys[j])
					lock_release(s, keys[j]);
			if (r == -EBUSY)
				dv_status_set(st, DV_ABORTED,
					      "an operation on %s is already in progress; retry later",
					      keys[i]);
			else
				dv_status_set(st, DV_RESOURCE_EXHAUSTED, "out of memory");
			return r;
		}
	}
	return 0;
}

static void unlock_keys(store *s, const char *const *keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (keys[i])
			lock_release(s, keys[i]);
}

/* Names and IDs share one lock space; prefixes keep them apart. */
static void key_of(char *buf, size_t len, const char *kind, const char *v)
{
	snprintf(buf, len, "%s:%s", kind, v);
}

/* The lock of one object, "vol" or "snap" by id: lock_keys for a single
 * key, with its errors. */
static int lock_one(store *s, const char *kind, const char *id, dv_status *st)
{
	char key[128];
	const char *keys[1] = { key };

	key_of(key, sizeof(key), kind, id);
	return lock_keys(s, keys, 1, st);
}

static void unlock_one(store *s, const char *kind, const char *id)
{
	char key[128];
	const char *keys[1] = { key };

	key_of(key, sizeof(key), kind, id);
	unlock_keys(s, keys, 1);
}

/* ------------------------------------------------------------------ */
/* accounting                                                          */

int store_pool_available(store *s, pool *p, uint64_t *ret_bytes)
{
	uint64_t total, free_bytes, allocated, snaps, headroom, avail;
	ssize_t i = pool_index(s, p->name);
	int r;

	if (i < 0)
		return -ENOENT;
	r = p->ops->fs_capacity(p, &total, &free_bytes);
	if (r < 0)
		return r;
	if (!(p->caps & POOL_CAP_ENFORCES_SIZE)) {
		/* nothing is reserved where nothing is enforced */
		*ret_bytes = free_bytes;
		return 0;
	}
	pthread_mutex_lock(&s->mu);
	allocated = s->allocated[i];
	snaps = s->snap_allocated[i];
	pthread_mutex_unlock(&s->mu);
	if (p->overcommit > 1.0) {
		/* thin: promise up to overcommit x the file system */
		double cap = (double)total * p->overcommit;
		uint64_t promise = cap >= 1.8e19 ? UINT64_MAX : (uint64_t)cap;
		*ret_bytes = promise > allocated ? promise - allocated : 0;
		return 0;
	}
	/* Thick. The file system keeps some space for its own metadata: do
	 * not promise the last 2% (at most 1 GiB). Preallocated volumes are
	 * already out of free space; anything else promised (btrfs limits,
	 * snapshots that may need unsharing) still has to come out of it. */
	headroom = total / 50 < (1ULL << 30) ? total / 50 : (1ULL << 30);
	uint64_t owed = (p->caps & POOL_CAP_PREALLOCATES) ? snaps : allocated;
	avail = free_bytes > headroom ? free_bytes - headroom : 0;
	*ret_bytes = avail > owed ? avail - owed : 0;
	return 0;
}

/* Reserves size in pool i if it fits. */
static int reserve(store *s, pool *p, uint64_t size, bool snapshot, dv_status *st)
{
	uint64_t avail;
	ssize_t i = pool_index(s, p->name);
	int r = store_pool_available(s, p, &avail);

	if (r < 0)
		return dv_fail(st, r, DV_INTERNAL, "pool %s: capacity: %s", p->name, strerror(-r));
	if (size > avail)
		return dv_fail(st, -ENOSPC, DV_RESOURCE_EXHAUSTED,
				     "pool %s has %llu bytes available; %llu requested", p->name,
				     (unsigned long long)avail, (unsigned long long)size);
	if (p->caps & POOL_CAP_ENFORCES_SIZE) {
		pthread_mutex_lock(&s->mu);
		s->allocated[i] += size;
		if (snapshot)
			s->snap_allocated[i] += size;
		pthread_mutex_unlock(&s->mu);
	}
	return 0;
}

static void release(store *s, const char *pool_name, uint64_t size, bool snapshot)
{
	ssize_t i = pool_index(s, pool_name);

	if (i < 0 || !(s->pools[i]->caps & POOL_CAP_ENFORCES_SIZE))
		return;
	pthread_mutex_lock(&s->mu);
	s->allocated[i] = s->allocated[i] > size ? s->allocated[i] - size : 0;
	if (snapshot)
		s->snap_allocated[i] = s->snap_allocated[i] > size ? s->snap_allocated[i] - size : 0;
	pthread_mutex_unlock(&s->mu);
}

/* ------------------------------------------------------------------ */
/* volumes                                                             */

static int reg_error(int r, dv_status *st, const char *what)
{
	return dv_fail(st, r, r == -ENOSPC ? DV_RESOURCE_EXHAUSTED : DV_INTERNAL,
			     "registry: %s failed", what);
}

/* The pool for a new volume and its rounded size. Content sources pin the
 * pool: copies stay inside one pool's file system. */
static int choose_pool(store *s, const store_volume_request *req, const char *source_pool,
		       pool **ret_pool, uint64_t *ret_size, dv_status *st)
{
	bool any_candidate = false, any_range_ok = false;
	uint64_t best_avail = 0;

	for (size_t k = 0; k < (req->pools ? req->n_pools : s->n_pools); k++) {
		pool *p = req->pools ? store_pool_find(s, req->pools[k]) : s->pools[k];
		uint64_t size, avail;

		if (!p)
			continue;
		if (source_pool && strcmp(p->name, source_pool) != 0)
			continue;
		if (req->block && !(p->caps & POOL_CAP_BLOCK))
			continue;
		if (req->compression && !(p->caps & POOL_CAP_COMPRESSION))
			continue;
		any_candidate = true;
		if (pool_round_size(p, req->required, req->limit, req->fs_type, req->block, &size) < 0)
			continue;
		any_range_ok = true;
		if (store_pool_available(s, p, &avail) < 0)
			continue;
		if (avail >= size) {
			*ret_pool = p;
			*ret_size = size;
			return 0;
		}
		if (avail > best_avail)
			best_avail = avail;
	}
	if (!any_candidate) {
		if (source_pool)
			return dv_fail(st, -EINVAL, DV_INVALID_ARGUMENT,
					     "the source lives in pool %s, which the request excludes",
					     source_pool);
		return dv_fail(st, -EINVAL, DV_INVALID_ARGUMENT,
				     "no pool can serve this request (%s%s)",
				     req->block ? "block access" : "filesystem access",
				     req->compression ? ", compression" : "");
	}
	if (!any_range_ok)
		return dv_fail(st, -ERANGE, DV_OUT_OF_RANGE,
				     "no pool can make a volume of %llu..%llu bytes (minimums and "
				     "rounding apply)", (unsigned long long)req->required,
				     (unsigned long long)req->limit);
	return dv_fail(st, -ENOSPC, DV_RESOURCE_EXHAUSTED,
			     "not enough capacity: the best pool has %llu bytes available",
			     (unsigned long long)best_avail);
}

static const char *create_kind(reg_source_kind k)
{
	return k == REG_SOURCE_SNAPSHOT ? "restore_volume"
	       : k == REG_SOURCE_VOLUME ? "clone_volume" : "create_volume";
}

/* The volume named req->name, if there is one: -EEXIST with *ret (READY),
 * -EBUSY when it is still being made or is missing, -ENOENT when there is
 * none (st untouched), else a registry error. */
static int volume_by_name(store *s, const store_volume_request *req, reg_volume *ret,
			  dv_status *st)
{
	int r = registry_volume_get_by_name(s->reg, req->name, ret);

	if (r == -ENOENT)
		return r;
	if (r < 0)
		return reg_error(r, st, "lookup");
	if (ret->state == REG_STATE_READY) {
		dv_status_clear(st);
		return -EEXIST;
	}
	dv_status_set(st, ret->state == REG_STATE_MISSING ? DV_FAILED_PRECONDITION : DV_ABORTED,
		      "volume %s for %s is %s", ret->id, req->name, reg_state_to_string(ret->state));
	reg_volume_clear(ret);
	return -EBUSY;
}

/* The READY record a create just committed, built from what it wrote
 * instead of read back. */
static int created_record(const reg_volume *v, reg_volume *ret, dv_status *st)
{
	*ret = *v;
	ret->name = strdup(v->name);
	ret->parameters = strdup(v->parameters ? v->parameters : "{}");
	ret->state = REG_STATE_READY;
	if (!ret->name || !ret->parameters) {
		reg_volume_clear(ret);
		return dv_fail(st, -ENOMEM, DV_RESOURCE_EXHAUSTED, "out of memory");
	}
	return 0;
}

/*
 * A new volume for req. A request name that exists is found when the
 * intent's insert collides with it (-EEXIST), not by a lookup first: the
 * common case, a new name, costs two registry transactions. *made says
 * whether a record of ours got as far as the registry.
 */
static int volume_create_new(store *s, const store_volume_request *req, reg_volume *ret,
			     bool *made, dv_status *st)
{
	reg_volume v = { 0 };
	reg_volume src_vol = { 0 };
	reg_snapshot src_snap = { 0 };
	const char *source_pool = NULL;
	uint64_t source_size = 0;
	store_volume_request r2 = *req;
	pool *p = NULL;
	uint64_t size = 0;
	int64_t op;
	int r;

	if (req->source_kind == REG_SOURCE_SNAPSHOT) {
		r = registry_snapshot_get(s->reg, req->source_id, &src_snap);
		if (r < 0 || src_snap.state != REG_STATE_READY) {
			reg_snapshot_clear(&src_snap);
			return dv_fail(st, -ENOENT, DV_NOT_FOUND, "snapshot %s does not exist",
					     req->source_id);
		}
		source_pool = src_snap.pool;
		source_size = src_snap.size;
	} else if (req->source_kind == REG_SOURCE_VOLUME) {
		r = registry_volume_get(s->reg, req->source_id, &src_vol);
		if (r < 0 || src_vol.state != REG_STATE_READY) {
			reg_volume_clear(&src_vol);
			return dv_fail(st, -ENOENT, DV_NOT_FOUND, "volume %s does not exist",
					     req->source_id);
		}
		if (src_vol.block != req->block) {
			reg_volume_clear(&src_vol);
			return dv_fail(st, -EINVAL, DV_INVALID_ARGUMENT,
					     "cannot clone a %s volume into a %s volume",
					     src_vol.block ? "block" : "filesystem",
					     req->block ? "block" : "filesystem");
		}
		source_pool = src_vol.pool;
		source_size = src_vol.capacity;
	}
	if (source_size) {
		/* A copy is at least as large as what it copies. */
		if (req->limit && req->limit < source_size) {
			r = dv_fail(st, -ERANGE, DV_OUT_OF_RANGE,
					  "the source is %llu bytes, above the limit of %llu",
					  (unsigned long long)source_size,
					  (unsigned long long)req->limit);
			goto done;
		}
		if (r2.required < source_size)
			r2.required = source_size;
	}
	r = choose_pool(s, &r2, source_pool, &p, &size, st);
	if (r < 0)
		goto done;

	r = pool_id_generate("vol", v.id, sizeof(v.id));
	if (r < 0) {
		dv_status_set(st, DV_INTERNAL, "cannot generate an ID");
		goto done;
	}
	v.name = (char *)req->name;
	snprintf(v.pool, sizeof(v.pool), "%s", p->name);
	v.capacity = size;
	v.block = req->block;
	snprintf(v.fs_type, sizeof(v.fs_type), "%s",
		 req->block ? "" : (req->fs_type && *req->fs_type ? req->fs_type : p->default_fs));
	v.source_kind = req->source_kind;
	if (req->source_id)
		snprintf(v.source_id, sizeof(v.source_id), "%s", req->source_id);
	v.parameters = (char *)req->parameters;

	v.created_at = (int64_t)time(NULL);

	/* a pool that enforces no sizes promises nothing: choose_pool has
	 * just seen the free space, nothing to reserve */
	r = (p->caps & POOL_CAP_ENFORCES_SIZE) ? reserve(s, p, size, false, st) : 0;
	if (r < 0)
		goto done;
	r = registry_volume_create_intent(s->reg, &v, create_kind(req->source_kind), NULL, &op);
	if (r < 0) {
		release(s, p->name, size, false);
		if (r != -EEXIST) /* -EEXIST: the name is taken; the caller looks */
			reg_error(r, st, "recording the new volume");
		goto done;
	}
	*made = true;
	dv_crashpoint("store.create.after_intent");

	pool_volume_spec spec = { .size = size, .block = req->block, .fs_type = v.fs_type,
				  .compression = req->compression };
	if (req->source_kind == REG_SOURCE_SNAPSHOT)
		r = p->ops->volume_restore(p, v.id, req->source_id, &spec, st);
	else if (req->source_kind == REG_SOURCE_VOLUME)
		r = p->ops->volume_clone(p, v.id, req->source_id, &spec, st);
	else
		r = p->ops->volume_create(p, v.id, &spec, st);
	if (r < 0) {
		dv_status tmp = { 0 };
		p->ops->volume_delete(p, v.id, &tmp); /* nothing half-made stays */
		dv_status_clear(&tmp);
		if (registry_volume_create_abort(s->reg, v.id, op) < 0)
			log_error("store: volume %s: could not undo the record; recovery will", v.id);
		release(s, p->name, size, false);
		goto done;
	}
	dv_crashpoint("store.create.after_pool");
	r = registry_volume_create_commit(s->reg, v.id, size, op);
	if (r < 0) {
		/* The journal still says "creating": recovery undoes it. */
		reg_error(r, st, "recording the volume as ready");
		goto done;
	}
	r = created_record(&v, ret, st);
done:
	reg_volume_clear(&src_vol);
	reg_snapshot_clear(&src_snap);
	return r;
}

static int volume_create_locked(store *s, const store_volume_request *req, reg_volume *ret,
				dv_status *st)
{
	bool made = false;
	int r = volume_create_new(s, req, ret, &made, st);
	int found;

	if (r == 0 || made)
		return r;
	/* Nothing of ours was recorded: a volume with this name (a retry)
	 * answers for itself, whatever stopped a new one (its source gone,
	 * the pool full, the name taken). */
	found = volume_by_name(s, req, ret, st);
	if (found == -ENOENT && r == -EEXIST)
		/* taken at the insert, gone now: a delete raced us */
		return dv_fail(st, -EBUSY, DV_ABORTED, "volume %s was being deleted; retry", req->name);
	return found == -ENOENT ? r : found;
}

int store_volume_create(store *s, const store_volume_request *req, reg_volume *ret, dv_status *st)
{
	char key[512];
	const char *keys[2] = { key, NULL };
	char src_key[128];
	int r;

	key_of(key, sizeof(key), "volname", req->name);
	if (req->source_kind != REG_SOURCE_NONE && req->source_id) {
		key_of(src_key, sizeof(src_key), req->source_kind == REG_SOURCE_VOLUME ? "vol" : "snap",
		       req->source_id);
		keys[1] = src_key;
	}
	r = lock_keys(s, keys, 2, st);
	if (r < 0)
		return r;
	r = volume_create_locked(s, req, ret, st);
	unlock_keys(s, keys, 2);
	return r;
}

static int volume_delete_locked(store *s, const char *id, dv_status *st)
{
	reg_volume v;
	reg_delete_check chk = { 0 };
	int64_t op;
	pool *p;
	int r;

	r = registry_volume_get(s->reg, id, &v);
	if (r == -ENOENT)
		return 0; /* already gone: success, as the spec asks */
	if (r < 0)
		return reg_error(r, st, "lookup");
	p = store_pool_find(s, v.pool);
	if (!p) {
		r = dv_fail(st, -ENOENT, DV_FAILED_PRECONDITION,
				  "volume %s lives in pool %s, which is not configured", id,
				  v.pool);
		goto done;
	}
	/* Not while published, nor while staged on this node (a driver in
	 * mode all shares the registry with its Node service: a pod may be
	 * writing to it; the CO unstages first, and one that skipped
	 * ControllerPublish must not destroy it). The checks and the intent
	 * are one transaction. btrfs and reflinked images outlive their
	 * sources, dir copies too: snapshots never pin a volume here. */
	r = registry_volume_delete_intent(s->reg, id, &chk, &op);
	if (r == -EBUSY && chk.node[0]) {
		dv_status_set(st, DV_FAILED_PRECONDITION,
			      "volume %s is still published to node %s; unpublish it first", id,
			      chk.node);
		goto done;
	}
	if (r == -EBUSY && chk.staging_path) {
		dv_status_set(st, DV_FAILED_PRECONDITION,
			      "volume %s is still staged on this node at %s; unstage it first", id,
			      chk.staging_path);
		goto done;
	}
	if (r == -ENOENT) {
		r = 0;
		goto done;
	}
	if (r < 0) {
		reg_error(r, st, "recording the deletion");
		goto done;
	}
	dv_crashpoint("store.delete.after_intent");
	r = p->ops->volume_delete(p, id, st);
	if (r < 0) {
		/* The object is intact: back to READY, the caller may retry. */
		registry_volume_set_state(s->reg, id, v.state == REG_STATE_MISSING ? REG_STATE_MISSING
										    : REG_STATE_READY);
		registry_op_remove(s->reg, op);
		goto done;
	}
	dv_crashpoint("store.delete.after_pool");
	r = registry_volume_delete_commit(s->reg, id, op);
	if (r < 0) {
		reg_error(r, st, "recording the deletion");
		goto done;
	}
	release(s, v.pool, v.capacity, false);
	log_info("store: deleted volume %s (%s) from pool %s%s", id, v.name ? v.name : "", v.pool,
		 chk.snapshots ? "; its snapshots remain" : "");
done:
	reg_delete_check_clear(&chk);
	reg_volume_clear(&v);
	return r;
}

int store_volume_delete(store *s, const char *id, dv_status *st)
{
	int r = lock_one(s, "vol", id, st);

	if (r < 0)
		return r;
	r = volume_delete_locked(s, id, st);
	unlock_one(s, "vol", id);
	return r;
}

static int volume_expand_locked(store *s, const char *id, uint64_t required, uint64_t limit,
				uint64_t *ret_capacity, dv_status *st)
{
	reg_volume v;
	uint64_t size;
	int64_t op;
	pool *p;
	int r;

	r = registry_volume_get(s->reg, id, &v);
	if (r == -ENOENT)
		return dv_fail(st, r, DV_NOT_FOUND, "volume %s does not exist", id);
	if (r < 0)
		return reg_error(r, st, "lookup");
	if (v.state != REG_STATE_READY) {
		r = dv_fail(st, -EBUSY, DV_FAILED_PRECONDITION, "volume %s is %s", id,
				  reg_state_to_string(v.state));
		goto done;
	}
	p = store_pool_find(s, v.pool);
	if (!p) {
		r = dv_fail(st, -ENOENT, DV_FAILED_PRECONDITION, "pool %s is not configured", v.pool);
		goto done;
	}
	if (pool_round_size(p, required, limit, v.fs_type, v.block, &size) < 0) {
		r = dv_fail(st, -ERANGE, DV_OUT_OF_RANGE, "cannot size %s to %llu..%llu bytes", id,
				  (unsigned long long)required, (unsigned long long)limit);
		goto done;
	}
	if (size <= v.capacity) {
		/* Already as large (idempotent repeat), or a shrink request
		 * that the current size already satisfies. */
		if (limit && v.capacity > limit) {
			r = dv_fail(st, -ERANGE, DV_OUT_OF_RANGE,
					  "volume %s is %llu bytes, above the limit; volumes do not "
					  "shrink", id, (unsigned long long)v.capacity);
			goto done;
		}
		*ret_capacity = v.capacity;
		r = 0;
		goto done;
	}
	r = reserve(s, p, size - v.capacity, false, st);
	if (r < 0)
		goto done;
	r = registry_volume_expand_intent(s->reg, id, size, &op);
	if (r < 0) {
		release(s, p->name, size - v.capacity, false);
		reg_error(r, st, "recording the expansion");
		goto done;
	}
	dv_crashpoint("store.expand.after_intent");
	r = p->ops->volume_expand(p, id, size, st);
	if (r < 0) {
		registry_op_remove(s->reg, op);
		release(s, p->name, size - v.capacity, false);
		goto done;
	}
	dv_crashpoint("store.expand.after_pool");
	r = registry_volume_expand_commit(s->reg, id, size, op);
	if (r < 0) {
		reg_error(r, st, "recording the expansion");
		goto done;
	}
	*ret_capacity = size;
done:
	reg_volume_clear(&v);
	return r;
}

int store_volume_expand(store *s, const char *id, uint64_t required, uint64_t limit,
			uint64_t *ret_capacity, dv_status *st)
{
	int r = lock_one(s, "vol", id, st);

	if (r < 0)
		return r;
	r = volume_expand_locked(s, id, required, limit, ret_capacity, st);
	unlock_one(s, "vol", id);
	return r;
}

int store_volume_modify(store *s, const char *id, const char *key_name, const char *value,
			dv_status *st)
{
	reg_volume v;
	pool *p;
	int r;

	r = lock_one(s, "vol", id, st);
	if (r < 0)
		return r;
	r = registry_volume_get(s->reg, id, &v);
	if (r < 0) {
		dv_status_set(st, r == -ENOENT ? DV_NOT_FOUND : DV_INTERNAL, "volume %s: %s", id,
			      r == -ENOENT ? "does not exist" : "lookup failed");
		goto out;
	}
	p = store_pool_find(s, v.pool);
	if (!p || !p->ops->volume_set)
		r = dv_fail(st, -EINVAL, DV_INVALID_ARGUMENT, "pool %s has no mutable parameters",
				  v.pool);
	else
		r = p->ops->volume_set(p, id, key_name, value, st);
	reg_volume_clear(&v);
out:
	unlock_one(s, "vol", id);
	return r;
}

/* ------------------------------------------------------------------ */
/* snapshots                                                           */

static int snapshot_create_locked(store *s, const char *name, const char *source_volume,
				  reg_snapshot *ret, dv_status *st)
{
	reg_snapshot snap = { 0 };
	reg_volume v;
	uint64_t size = 0;
	int64_t op;
	pool *p;
	int r;

	r = registry_snapshot_get_by_name(s->reg, name, ret);
	if (r == 0) {
		if (ret->state == REG_STATE_READY)
			return -EEXIST;
		dv_status_set(st, DV_ABORTED, "snapshot %s for %s is %s", ret->id, name,
			      reg_state_to_string(ret->state));
		reg_snapshot_clear(ret);
		return -EBUSY;
	}
	if (r != -ENOENT)
		return reg_error(r, st, "lookup");
	r = registry_volume_get(s->reg, source_volume, &v);
	if (r == -ENOENT)
		return dv_fail(st, r, DV_NOT_FOUND, "source volume %s does not exist",
				     source_volume);
	if (r < 0)
		return reg_error(r, st, "lookup");
	if (v.state != REG_STATE_READY) {
		r = dv_fail(st, -EBUSY, DV_FAILED_PRECONDITION, "source volume %s is %s", source_volume,
				  reg_state_to_string(v.state));
		goto done;
	}
	p = store_pool_find(s, v.pool);
	if (!p || !(p->caps & POOL_CAP_SNAPSHOTS)) {
		r = dv_fail(st, -EINVAL, DV_INVALID_ARGUMENT, "pool %s cannot take snapshots", v.pool);
		goto done;
	}
	r = pool_id_generate("snap", snap.id, sizeof(snap.id));
	if (r < 0)
		goto done;
	snap.name = (char *)name;
	snprintf(snap.source_volume, sizeof(snap.source_volume), "%s", source_volume);
	snprintf(snap.pool, sizeof(snap.pool), "%s", v.pool);
	snap.size = v.capacity;
	/* Thick accounting: a snapshot may come to hold all of its bytes. */
	r = reserve(s, p, v.capacity, true, st);
	if (r < 0)
		goto done;
	r = registry_snapshot_create_intent(s->reg, &snap, &op);
	if (r < 0) {
		release(s, p->name, v.capacity, true);
		reg_error(r, st, "recording the snapshot");
		goto done;
	}
	dv_crashpoint("store.snapshot.after_intent");
	r = p->ops->snapshot_create(p, snap.id, source_volume, &size, st);
	if (r < 0) {
		dv_status tmp = { 0 };
		p->ops->snapshot_delete(p, snap.id, &tmp);
		dv_status_clear(&tmp);
		registry_snapshot_create_abort(s->reg, snap.id, op);
		release(s, p->name, v.capacity, true);
		goto done;
	}
	dv_crashpoint("store.snapshot.after_pool");
	r = registry_snapshot_create_commit(s->reg, snap.id, v.capacity, op);
	if (r < 0) {
		reg_error(r, st, "recording the snapshot as ready");
		goto done;
	}
	r = registry_snapshot_get(s->reg, snap.id, ret);
done:
	reg_volume_clear(&v);
	return r;
}

int store_snapshot_create(store *s, const char *name, const char *source_volume,
			  reg_snapshot *ret, dv_status *st)
{
	char k1[512], k2[128];
	const char *keys[2] = { k1, k2 };
	int r;

	key_of(k1, sizeof(k1), "snapname", name);
	key_of(k2, sizeof(k2), "vol", source_volume);
	r = lock_keys(s, keys, 2, st);
	if (r < 0)
		return r;
	r = snapshot_create_locked(s, name, source_volume, ret, st);
	unlock_keys(s, keys, 2);
	return r;
}

static int snapshot_delete_locked(store *s, const char *id, dv_status *st)
{
	reg_snapshot snap;
	int64_t op;
	pool *p;
	int r;

	r = registry_snapshot_get(s->reg, id, &snap);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return reg_error(r, st, "lookup");
	p = store_pool_find(s, snap.pool);
	if (!p) {
		r = dv_fail(st, -ENOENT, DV_FAILED_PRECONDITION, "pool %s is not configured", snap.pool);
		goto done;
	}
	r = registry_snapshot_delete_intent(s->reg, id, &op);
	if (r < 0) {
		reg_error(r, st, "recording the deletion");
		goto done;
	}
	dv_crashpoint("store.snapdelete.after_intent");
	r = p->ops->snapshot_delete(p, id, st);
	if (r < 0) {
		registry_snapshot_set_state(s->reg, id, REG_STATE_READY);
		registry_op_remove(s->reg, op);
		goto done;
	}
	dv_crashpoint("store.snapdelete.after_pool");
	r = registry_snapshot_delete_commit(s->reg, id, op);
	if (r == 0)
		release(s, snap.pool, snap.size, true);
	else
		reg_error(r, st, "recording the deletion");
done:
	reg_snapshot_clear(&snap);
	return r;
}

int store_snapshot_delete(store *s, const char *id, dv_status *st)
{
	int r = lock_one(s, "snap", id, st);

	if (r < 0)
		return r;
	r = snapshot_delete_locked(s, id, st);
	unlock_one(s, "snap", id);
	return r;
}

int store_lock_volume(store *s, const char *id, dv_status *st)
{
	return lock_one(s, "vol", id, st);
}

void store_unlock_volume(store *s, const char *id)
{
	unlock_one(s, "vol", id);
}

/* Paths are up to PATH_MAX; the key adds its prefix. */
#define PATH_KEY_MAX (4096 + 8)

int store_lock_volume_at(store *s, const char *id, const char *path, dv_status *st)
{
	char vkey[128], pkey[PATH_KEY_MAX];
	const char *keys[2] = { vkey, pkey };

	key_of(vkey, sizeof(vkey), "vol", id);
	key_of(pkey, sizeof(pkey), "path", path);
	return lock_keys(s, keys, 2, st);
}

void store_unlock_volume_at(store *s, const char *id, const char *path)
{
	char vkey[128], pkey[PATH_KEY_MAX];
	const char *keys[2] = { vkey, pkey };

	key_of(vkey, sizeof(vkey), "vol", id);
	key_of(pkey, sizeof(pkey), "path", path);
	unlock_keys(s, keys, 2);
}

/* ------------------------------------------------------------------ */
/* publications                                                        */

int store_publish(store *s, const char *volume_id, const char *node_id, bool readonly,
		  size_t max_per_node, dv_status *st)
{
	reg_volume v;
	bool ro;
	size_t count;
	int r;

	r = lock_one(s, "vol", volume_id, st);
	if (r < 0)
		return r;
	r = registry_volume_get(s->reg, volume_id, &v);
	if (r < 0) {
		dv_status_set(st, r == -ENOENT ? DV_NOT_FOUND : DV_INTERNAL, "volume %s %s", volume_id,
			      r == -ENOENT ? "does not exist" : "lookup failed");
		goto out;
	}
	reg_volume_clear(&v);
	r = registry_publication_get(s->reg, volume_id, node_id, &ro);
	if (r == 0) {
		if (ro != readonly)
			r = dv_fail(st, -EEXIST, DV_ALREADY_EXISTS,
					  "volume %s is published to %s %s; unpublish first",
					  volume_id, node_id, ro ? "read-only" : "read-write");
		goto out;
	}
	r = registry_publication_count_node(s->reg, node_id, &count);
	if (r == 0 && max_per_node && count >= max_per_node) {
		r = dv_fail(st, -ENOSPC, DV_RESOURCE_EXHAUSTED,
				  "node %s already has %zu volumes published (maximum %zu)", node_id,
				  count, max_per_node);
		goto out;
	}
	if (r == 0)
		r = registry_publication_add(s->reg, volume_id, node_id, readonly);
	if (r < 0 && !st->code)
		reg_error(r, st, "recording the publication");
out:
	unlock_one(s, "vol", volume_id);
	return r;
}

int store_unpublish(store *s, const char *volume_id, const char *node_id, dv_status *st)
{
	int r = lock_one(s, "vol", volume_id, st);

	if (r < 0)
		return r;
	r = registry_publication_remove(s->reg, volume_id, node_id);
	if (r < 0)
		reg_error(r, st, "removing the publication");
	unlock_one(s, "vol", volume_id);
	return r;
}

/* ------------------------------------------------------------------ */
/* recovery                                                            */

static pool *pool_of_op(store *s, const reg_op *op)
{
	reg_volume v;
	reg_snapshot sn;
	pool *p = op->pool[0] ? store_pool_find(s, op->pool) : NULL;

	if (p)
		return p;
	if (registry_volume_get(s->reg, op->object, &v) == 0) {
		p = store_pool_find(s, v.pool);
		reg_volume_clear(&v);
	} else if (registry_snapshot_get(s->reg, op->object, &sn) == 0) {
		p = store_pool_find(s, sn.pool);
		reg_snapshot_clear(&sn);
	}
	return p;
}

/* Finishes or undoes one journalled operation. */
static int recover_op(store *s, const reg_op *op)
{
	dv_status st = { 0 };
	pool *p = pool_of_op(s, op);
	int r = 0;

	if (!p) {
		log_error("recovery: operation %lld (%s %s) names an unknown pool; left in the journal",
			  (long long)op->id, op->kind, op->object);
		return -ENOENT;
	}
	if (!strcmp(op->kind, "create_volume") || !strcmp(op->kind, "restore_volume") ||
	    !strcmp(op->kind, "clone_volume")) {
		/* Undo: the caller retries CreateVolume and gets a new one. */
		r = p->ops->volume_delete(p, op->object, &st);
		if (r == 0)
			r = registry_volume_create_abort(s->reg, op->object, op->id);
	} else if (!strcmp(op->kind, "delete_volume")) {
		r = p->ops->volume_delete(p, op->object, &st);
		if (r == 0)
			r = registry_volume_delete_commit(s->reg, op->object, op->id);
	} else if (!strcmp(op->kind, "expand_volume")) {
		uint64_t size = strtoull(op->detail ? op->detail : "0", NULL, 10);
		r = p->ops->volume_expand(p, op->object, size, &st);
		if (r == 0)
			r = registry_volume_expand_commit(s->reg, op->object, size, op->id);
		else if (r == -ENOENT)
			r = registry_op_remove(s->reg, op->id);
	} else if (!strcmp(op->kind, "create_snapshot")) {
		r = p->ops->snapshot_delete(p, op->object, &st);
		if (r == 0)
			r = registry_snapshot_create_abort(s->reg, op->object, op->id);
	} else if (!strcmp(op->kind, "delete_snapshot")) {
		r = p->ops->snapshot_delete(p, op->object, &st);
		if (r == 0)
			r = registry_snapshot_delete_commit(s->reg, op->object, op->id);
	} else {
		log_error("recovery: unknown operation kind %s; left in the journal", op->kind);
		return -EINVAL;
	}
	if (r < 0)
		log_error("recovery: %s %s: %s", op->kind, op->object,
			  st.message ? st.message : strerror(-r));
	else
		log_info("recovery: %s %s %s", op->kind, op->object,
			 strstr(op->kind, "create") || strstr(op->kind, "restore") ||
					 strstr(op->kind, "clone")
				 ? "undone"
				 : "finished");
	dv_status_clear(&st);
	return r;
}

typedef struct {
	store *s;
	pool *p;
	size_t orphans;
} scan_ctx;

static int on_object(pool_obj_kind kind, const char *id, void *payload)
{
	scan_ctx *ctx = payload;
	dv_status st = { 0 };
	int r;

	if (kind == POOL_OBJ_VOLUME) {
		reg_volume v;
		r = registry_volume_get(ctx->s->reg, id, &v);
		if (r == 0) {
			bool mine = strcmp(v.pool, ctx->p->name) == 0;
			reg_volume_clear(&v);
			if (mine)
				return 0;
		}
	} else {
		reg_snapshot sn;
		r = registry_snapshot_get(ctx->s->reg, id, &sn);
		if (r == 0) {
			bool mine = strcmp(sn.pool, ctx->p->name) == 0;
			reg_snapshot_clear(&sn);
			if (mine)
				return 0;
		}
	}
	if (r < 0 && r != -ENOENT)
		return 0;
	ctx->orphans++;
	if (!ctx->s->remove_orphans) {
		log_warn("reconcile: pool %s holds %s %s that no record owns (set removeOrphans: "
			 "true to remove such objects)", ctx->p->name,
			 kind == POOL_OBJ_VOLUME ? "volume" : "snapshot", id);
		return 0;
	}
	r = kind == POOL_OBJ_VOLUME ? ctx->p->ops->volume_delete(ctx->p, id, &st)
				    : ctx->p->ops->snapshot_delete(ctx->p, id, &st);
	log_warn("reconcile: pool %s: orphan %s %s %s", ctx->p->name,
		 kind == POOL_OBJ_VOLUME ? "volume" : "snapshot", id, r == 0 ? "removed" : "kept");
	dv_status_clear(&st);
	return 0;
}

/* Records whose pool object vanished become MISSING (and back). */
static void check_records(store *s)
{
	int64_t after = 0;

	for (;;) {
		reg_volume *vs;
		size_t n;
		if (registry_volume_list(s->reg, after, 1000, &vs, &n) < 0 || n == 0)
			break;
		for (size_t i = 0; i < n; i++) {
			pool *p = store_pool_find(s, vs[i].pool);
			int ex = p ? p->ops->volume_exists(p, vs[i].id) : 0;
			if (vs[i].state == REG_STATE_READY && ex == 0) {
				log_error("reconcile: volume %s (%s) is missing from pool %s",
					  vs[i].id, vs[i].name ? vs[i].name : "", vs[i].pool);
				registry_volume_set_state(s->reg, vs[i].id, REG_STATE_MISSING);
			} else if (vs[i].state == REG_STATE_MISSING && ex == 1) {
				registry_volume_set_state(s->reg, vs[i].id, REG_STATE_READY);
			}
			after = vs[i].seq;
		}
		registry_volumes_free(vs, n);
	}
	after = 0;
	for (;;) {
		reg_snapshot *ss;
		size_t n;
		if (registry_snapshot_list(s->reg, NULL, after, 1000, &ss, &n) < 0 || n == 0)
			break;
		for (size_t i = 0; i < n; i++) {
			pool *p = store_pool_find(s, ss[i].pool);
			int ex = p ? p->ops->snapshot_exists(p, ss[i].id) : 0;
			if (ss[i].state == REG_STATE_READY && ex == 0) {
				log_error("reconcile: snapshot %s is missing from pool %s", ss[i].id,
					  ss[i].pool);
				registry_snapshot_set_state(s->reg, ss[i].id, REG_STATE_MISSING);
			} else if (ss[i].state == REG_STATE_MISSING && ex == 1) {
				registry_snapshot_set_state(s->reg, ss[i].id, REG_STATE_READY);
			}
			after = ss[i].seq;
		}
		registry_snapshots_free(ss, n);
	}
}

static int recover(store *s)
{
	reg_op *ops;
	size_t n;
	int r = registry_op_list(s->reg, &ops, &n);

	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		recover_op(s, &ops[i]);
	registry_ops_free(ops, n);
	for (size_t i = 0; i < s->n_pools; i++) {
		scan_ctx ctx = { .s = s, .p = s->pools[i] };
		s->pools[i]->ops->scan(s->pools[i], on_object, &ctx);
	}
	check_records(s);
	return 0;
}

/* ------------------------------------------------------------------ */

int store_open(store **ret, const dv_config *cfg, const char *state_dir, dv_status *err)
{
	store *s = calloc(1, sizeof(*s));
	char *path = NULL;
	int r;

	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->mu, NULL);
	s->remove_orphans = cfg->remove_orphans;
	if (asprintf(&path, "%s/registry.db", state_dir) < 0) {
		free(s);
		return -ENOMEM;
	}
	r = registry_open(&s->reg, path, err);
	free(path);
	if (r < 0)
		goto fail;
	s->pools = calloc(cfg->n_pools ? cfg->n_pools : 1, sizeof(*s->pools));
	s->allocated = calloc(cfg->n_pools ? cfg->n_pools : 1, sizeof(*s->allocated));
	s->snap_allocated = calloc(cfg->n_pools ? cfg->n_pools : 1, sizeof(*s->snap_allocated));
	if (!s->pools || !s->allocated || !s->snap_allocated) {
		r = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < cfg->n_pools; i++) {
		r = pool_open(&s->pools[i], &cfg->pools[i], err);
		if (r < 0)
			goto fail;
		s->n_pools++;
	}
	r = recover(s);
	if (r < 0) {
		dv_status_set(err, DV_INTERNAL, "recovery failed: %s", strerror(-r));
		goto fail;
	}
	for (size_t i = 0; i < s->n_pools; i++) {
		r = registry_pool_allocated(s->reg, s->pools[i]->name, &s->allocated[i],
					    &s->snap_allocated[i]);
		if (r < 0) {
			dv_status_set(err, DV_INTERNAL, "registry: pool accounting failed");
			goto fail;
		}
	}
	*ret = s;
	return 0;
fail:
	store_close(s);
	return r;
}

void store_close(store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_pools; i++)
		pool_close(s->pools[i]);
	free(s->pools);
	free(s->allocated);
	free(s->snap_allocated);
	registry_close(s->reg);
	while (s->locks) {
		lock_entry *e = s->locks;
		s->locks = e->next;
		free(e->key);
		free(e);
	}
	pthread_mutex_destroy(&s->mu);
	free(s);
}

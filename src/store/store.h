/*
 * store.h - volumes and snapshots: the registry and the pools kept in step.
 *
 * Every mutation follows the journal protocol (registry.h): record the
 * intent, act on the pool, record the result. store_open() replays what a
 * crash interrupted: creations are undone (the caller's retry makes a new
 * one), deletions and expansions are finished. Then it reconciles: pool
 * objects no record owns are reported (and removed when the config says
 * removeOrphans: true); records whose object vanished are marked MISSING.
 *
 * Concurrency: operations on one volume, snapshot or request name never
 * interleave. A second operation on a busy key fails at once with -EBUSY
 * and code ABORTED, as the CSI spec asks; different keys run in parallel.
 *
 * Errors: -errno with st set to the gRPC code a CSI caller should see.
 */
#ifndef DYNVOL_STORE_H
#define DYNVOL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "pool/pool.h"
#include "registry/registry.h"
#include "status.h"

typedef struct store store;

typedef struct {
	const char *name;           /* the CSI request name (required) */
	const char *const *pools;   /* candidate pool names in preference order;
				     * NULL: every pool */
	size_t n_pools;
	uint64_t required;          /* bytes; 0: the pool's minimum */
	uint64_t limit;             /* bytes; 0: none */
	bool block;
	const char *fs_type;        /* NULL: the pool's default */
	const char *compression;    /* NULL: inherit */
	const char *parameters;     /* canonical JSON kept for idempotency checks */
	reg_source_kind source_kind;
	const char *source_id;
} store_volume_request;

int store_open(store **ret, const dv_config *cfg, const char *state_dir, dv_status *err);
void store_close(store *s);

registry *store_registry(store *s);
size_t store_pool_count(const store *s);
pool *store_pool_at(store *s, size_t i);
pool *store_pool_find(store *s, const char *name);

/* What the pool can still give under its overcommit policy. */
int store_pool_available(store *s, pool *p, uint64_t *ret_bytes);

/*
 * Creates a volume, or finds the one with req->name. On a name that exists
 * returns -EEXIST with *ret filled (the caller decides whether the request
 * is compatible: same volume, or ALREADY_EXISTS). On success *ret is the
 * READY record (free with reg_volume_clear).
 */
int store_volume_create(store *s, const store_volume_request *req, reg_volume *ret, dv_status *st);

/* Deletes a volume; an unknown id succeeds. FAILED_PRECONDITION while it
 * is published or has snapshots the backend cannot outlive. */
int store_volume_delete(store *s, const char *id, dv_status *st);

/* Grows a volume to at least required (rounded); OUT_OF_RANGE to shrink or
 * past limit. *ret_capacity is the new size. Idempotent. */
int store_volume_expand(store *s, const char *id, uint64_t required, uint64_t limit,
			uint64_t *ret_capacity, dv_status *st);

/* A backend property of an existing volume (ControllerModifyVolume). */
int store_volume_modify(store *s, const char *id, const char *key, const char *value,
			dv_status *st);

/* Creates a snapshot of source_volume named name; -EEXIST with *ret filled
 * when the name exists (the caller compares the source). */
int store_snapshot_create(store *s, const char *name, const char *source_volume,
			  reg_snapshot *ret, dv_status *st);

/* Deletes a snapshot; an unknown id succeeds. */
int store_snapshot_delete(store *s, const char *id, dv_status *st);

/* The per-volume lock the store's own operations take, for node-side
 * operations on the same volume: -EBUSY (st: ABORTED) when held. */
int store_lock_volume(store *s, const char *id, dv_status *st);
void store_unlock_volume(store *s, const char *id);

/* The volume's lock and a node path's (a staging or target path), both or
 * neither: two volumes racing for one path get ABORTED instead of both
 * mounting there. */
int store_lock_volume_at(store *s, const char *id, const char *path, dv_status *st);
void store_unlock_volume_at(store *s, const char *id, const char *path);

/* Publication bookkeeping under the volume's lock. */
int store_publish(store *s, const char *volume_id, const char *node_id, bool readonly,
		  size_t max_per_node, dv_status *st);
int store_unpublish(store *s, const char *volume_id, const char *node_id, dv_status *st);

#endif

/*
 * registry.h - the driver's durable metadata in SQLite (WAL mode).
 *
 * Volumes, snapshots, publications and an operations journal. A mutation
 * of pool state is always: an *intent* transaction (the record in its
 * transitional state plus a journal entry), the pool action, then a
 * *commit* or *abort* transaction that settles the record and removes the
 * journal entry. A crash between the two leaves the journal entry, and
 * store recovery finishes or undoes it.
 *
 * Durability: every call that writes returns only once what it wrote is
 * committed and on disk (an fdatasync of the WAL that began after it), so
 * a caller that answers OK after it never answers OK for something a
 * power loss can take back. Concurrent writers share one transaction and
 * one fdatasync (group commit; registry.c, "durability"): each runs its
 * steps in a savepoint of the shared transaction, and one leader commits
 * and syncs for all. Reads never wait for a sync.
 *
 * Thread safety: every function takes the registry's mutex.
 * Return values: 0 on success, -ENOENT when a record is missing, -EEXIST
 * on a uniqueness conflict, -EIO on SQLite failures (logged).
 */
#ifndef DYNVOL_REGISTRY_H
#define DYNVOL_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define REG_ID_MAX 64
#define REG_POOL_MAX 64
#define REG_FS_MAX 16

typedef struct registry registry;

typedef enum {
	REG_STATE_CREATING,
	REG_STATE_READY,
	REG_STATE_DELETING,
	REG_STATE_MISSING, /* the record's pool object vanished */
	REG_STATE_MAX,
} reg_state;

const char *reg_state_to_string(reg_state s);

typedef enum { REG_SOURCE_NONE, REG_SOURCE_SNAPSHOT, REG_SOURCE_VOLUME } reg_source_kind;

typedef struct {
	char id[REG_ID_MAX];
	char *name;             /* CSI request name */
	char pool[REG_POOL_MAX];
	uint64_t capacity;      /* bytes */
	bool block;             /* raw block access, else mount */
	char fs_type[REG_FS_MAX];
	reg_source_kind source_kind;
	char source_id[REG_ID_MAX];
	char *parameters;       /* canonical JSON of the accepted parameters */
	reg_state state;
	int formatted;          /* 0 never formatted, 1 mkfs started, 2 formatted:
				 * the node never formats a volume at 2 again */
	int64_t created_at;     /* unix seconds */
	int64_t seq;            /* creation order; the ListVolumes cursor */
} reg_volume;

typedef struct {
	char id[REG_ID_MAX];
	char *name;
	char source_volume[REG_ID_MAX];
	char pool[REG_POOL_MAX];
	uint64_t size;
	reg_state state;
	int64_t created_at;     /* unix seconds */
	int32_t created_nanos;
	int64_t seq;
} reg_snapshot;

typedef struct {
	int64_t id;
	char kind[32];          /* "create_volume", "delete_volume", ... */
	char object[REG_ID_MAX];
	char pool[REG_POOL_MAX];
	char *detail;           /* kind-specific, e.g. the new size */
} reg_op;

/* Frees the heap strings inside (not the struct). NULL-safe. */
void reg_volume_clear(reg_volume *v);
void reg_snapshot_clear(reg_snapshot *s);
void reg_op_clear(reg_op *op);

/* Opens (creating or migrating) the database at path. */
int registry_open(registry **ret, const char *path, dv_status *err);
void registry_close(registry *reg);
/* A cheap query: the database answers. For Probe. */
int registry_ping(registry *reg);
/* Test hook: fn replaces the fdatasync of the WAL (NULL restores it);
 * returns 0 or -errno, as the sync would. */
typedef int (*registry_sync_hook)(void *payload);
void registry_set_sync_hook(registry *reg, registry_sync_hook fn, void *payload);
/* How many syncs of the WAL have run (or the hook has been called). */
uint64_t registry_sync_count(registry *reg);
/* Drops the cached database pages no statement holds (all of them between
 * calls), so an idle driver does not keep its page cache. Later reads
 * fetch pages again from the OS. Returns 0 or -EIO. */
int registry_release_memory(registry *reg);

/* --- volumes --- */
int registry_volume_get(registry *reg, const char *id, reg_volume *ret);
int registry_volume_get_by_name(registry *reg, const char *name, reg_volume *ret);
/* Intent: inserts v in state CREATING (v->seq assigned) and a journal
 * entry of kind with detail. -EEXIST if the id or name is taken. */
int registry_volume_create_intent(registry *reg, reg_volume *v, const char *kind,
				  const char *detail, int64_t *ret_op);
/* Commit: READY with the actual capacity; the journal entry goes. */
int registry_volume_create_commit(registry *reg, const char *id, uint64_t capacity, int64_t op);
/* Abort: the record and the journal entry go. */
int registry_volume_create_abort(registry *reg, const char *id, int64_t op);
/* What stops a volume's deletion, found by registry_volume_delete_intent. */
typedef struct {
	char node[256];       /* published (ControllerPublish) to this node, or "" */
	char *staging_path;   /* staged on this node there (heap), or NULL */
	size_t snapshots;     /* snapshots taken of it (they stay) */
} reg_delete_check;

void reg_delete_check_clear(reg_delete_check *c);

/* Intent to delete: state DELETING plus a journal entry, in one
 * transaction that first checks the volume is neither published nor
 * staged: -EBUSY with chk->node or chk->staging_path set (nothing
 * changed), -ENOENT when there is no such volume. chk->snapshots is set
 * in every case (clear chk with reg_delete_check_clear).
 *
 * The one write that returns before its sync (the commit that follows,
 * or the undo after a failed pool action, syncs it along): a deletion's
 * intent needs no durability of its own. Killed before the pool acts, the
 * intent survives in the WAL (kill -9) and recovery finishes the delete;
 * a power loss may drop it while the object's removal survives, and then
 * the record is READY over a missing object (reported MISSING) until the
 * CO, which never got an OK, retries the DeleteVolume and it succeeds.
 * Nothing is lost or leaked, and one sync less stands between a
 * DeleteVolume and its answer. */
int registry_volume_delete_intent(registry *reg, const char *id, reg_delete_check *chk,
				  int64_t *ret_op);
/* The record, its publications and the journal entry go. */
int registry_volume_delete_commit(registry *reg, const char *id, int64_t op);
/* Journal entry for a resize to new_capacity; commit sets it. */
int registry_volume_expand_intent(registry *reg, const char *id, uint64_t new_capacity,
				  int64_t *ret_op);
int registry_volume_expand_commit(registry *reg, const char *id, uint64_t capacity, int64_t op);
int registry_volume_set_state(registry *reg, const char *id, reg_state state);
int registry_volume_set_formatted(registry *reg, const char *id, int formatted);
int registry_volume_set_parameters(registry *reg, const char *id, const char *parameters);

/* Up to limit volumes with seq > after_seq, in seq order. *ret is an array
 * the caller frees with registry_volumes_free. */
int registry_volume_list(registry *reg, int64_t after_seq, size_t limit, reg_volume **ret,
			 size_t *ret_n);
void registry_volumes_free(reg_volume *v, size_t n);
/* The highest seq handed out so far (0 when none). */
int registry_volume_max_seq(registry *reg, int64_t *ret);
/* Bytes promised in a pool: volumes' capacities plus snapshots' sizes, and
 * the snapshots' part alone (for accounting at start). */
int registry_pool_allocated(registry *reg, const char *pool, uint64_t *ret_bytes,
			    uint64_t *ret_snapshot_bytes);

/* --- snapshots --- */
int registry_snapshot_get(registry *reg, const char *id, reg_snapshot *ret);
int registry_snapshot_get_by_name(registry *reg, const char *name, reg_snapshot *ret);
int registry_snapshot_create_intent(registry *reg, reg_snapshot *s, int64_t *ret_op);
int registry_snapshot_create_commit(registry *reg, const char *id, uint64_t size, int64_t op);
int registry_snapshot_create_abort(registry *reg, const char *id, int64_t op);
int registry_snapshot_delete_intent(registry *reg, const char *id, int64_t *ret_op);
int registry_snapshot_delete_commit(registry *reg, const char *id, int64_t op);
int registry_snapshot_set_state(registry *reg, const char *id, reg_state state);
/* Snapshots with seq > after_seq, optionally only of source_volume. */
int registry_snapshot_list(registry *reg, const char *source_volume, int64_t after_seq,
			   size_t limit, reg_snapshot **ret, size_t *ret_n);
void registry_snapshots_free(reg_snapshot *s, size_t n);
/* Number of snapshots whose source is volume id. */
int registry_snapshot_count_of(registry *reg, const char *volume_id, size_t *ret);

/* --- publications (ControllerPublishVolume) --- */
int registry_publication_add(registry *reg, const char *volume_id, const char *node_id,
			     bool readonly);
/* -ENOENT when absent. */
int registry_publication_get(registry *reg, const char *volume_id, const char *node_id,
			     bool *ret_readonly);
int registry_publication_remove(registry *reg, const char *volume_id, const char *node_id);
int registry_publication_count_node(registry *reg, const char *node_id, size_t *ret);
/* Node IDs the volume is published to (NULL-terminated array; free with
 * registry_strv_free). */
int registry_publication_nodes(registry *reg, const char *volume_id, char ***ret);
void registry_strv_free(char **v);

/* --- node state (NodeStage / NodePublish) --- */
typedef enum {
	REG_STAGE_STAGING,   /* started: the device may be attached, maybe mounted */
	REG_STAGE_STAGED,    /* mounted (or attached, for block) */
} reg_stage_state;

typedef struct {
	char volume_id[REG_ID_MAX];
	char *staging_path;
	char device[64];        /* "/dev/loopN" for image volumes, else "" */
	char fs_type[REG_FS_MAX];
	bool block;
	char *mount_flags;      /* as requested, comma separated */
	reg_stage_state state;
} reg_stage;

void reg_stage_clear(reg_stage *s);
int registry_stage_get(registry *reg, const char *volume_id, reg_stage *ret);
/* Inserts or replaces. */
int registry_stage_put(registry *reg, const reg_stage *s);
int registry_stage_remove(registry *reg, const char *volume_id);
/* Every stage record (for recovery at start). */
int registry_stage_list(registry *reg, reg_stage **ret, size_t *ret_n);
void registry_stages_free(reg_stage *s, size_t n);
int registry_node_publish_put(registry *reg, const char *volume_id, const char *target, bool ro);
int registry_node_publish_get(registry *reg, const char *volume_id, const char *target,
			      bool *ret_ro);
int registry_node_publish_remove(registry *reg, const char *volume_id, const char *target);
int registry_node_publish_count(registry *reg, const char *volume_id, size_t *ret);
/* The volume published at target, if any. */
int registry_node_publish_find(registry *reg, const char *target, char *ret_volume_id, size_t len);

/* --- journal --- */
/* Every unfinished operation, oldest first. */
int registry_op_list(registry *reg, reg_op **ret, size_t *ret_n);
void registry_ops_free(reg_op *ops, size_t n);
/* Removes a journal entry (recovery finished or undid it). */
int registry_op_remove(registry *reg, int64_t op);

#endif

/*
 * pool.h - where volume bytes live: one interface, several backends.
 *
 * A pool owns one root directory and keeps its objects beneath it:
 *   <root>/volumes/<volume id>[.img]
 *   <root>/snapshots/<snapshot id>[.img]
 * Object names are IDs that dynvol generated (pool_id_is_valid), never
 * strings from a request, and every path is opened beneath the root's fd
 * without following symlinks (sys_open_beneath).
 *
 * Contract for every backend operation:
 *  - idempotent: deleting what is gone succeeds; creating what exists with
 *    the same spec succeeds;
 *  - on failure nothing is left behind (no half-made file or subvolume);
 *  - concurrency: the store serialises operations on one object; a backend
 *    may run operations on different objects in parallel;
 *  - errors: -errno plus a message in st with the gRPC code a CSI caller
 *    should see (e.g. OUT_OF_RANGE for a size the pool cannot give).
 *
 * Sizes are bytes, already rounded by pool_round_size().
 */
#ifndef DYNVOL_POOL_H
#define DYNVOL_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "status.h"
#include "sys/syncgroup.h"

typedef struct pool pool;

typedef enum {
	POOL_CAP_ENFORCES_SIZE = 1 << 0, /* writes past the size fail */
	POOL_CAP_SNAPSHOTS = 1 << 1,
	POOL_CAP_REFLINK = 1 << 2,       /* snapshots/clones share extents */
	POOL_CAP_BLOCK = 1 << 3,         /* raw block volumes */
	POOL_CAP_COMPRESSION = 1 << 4,
	POOL_CAP_MULTI_NODE = 1 << 5,    /* many nodes may mount one volume */
	POOL_CAP_FILESYSTEM = 1 << 6,    /* the node mounts a file system from it */
	POOL_CAP_PREALLOCATES = 1 << 7,  /* a volume's bytes are allocated when it is made */
} pool_caps;

typedef struct {
	uint64_t size;
	bool block;
	const char *fs_type;      /* ext4 | xfs | btrfs; NULL: pool default */
	const char *compression;  /* btrfs: zstd | lzo | zlib | none; NULL: inherit */
} pool_volume_spec;

typedef struct {
	uint64_t total_bytes;
	uint64_t used_bytes;
	uint64_t available_bytes;
	uint64_t total_inodes; /* 0 when the backend cannot tell */
	uint64_t used_inodes;
	uint64_t free_inodes;
} pool_usage;

typedef enum { POOL_OBJ_VOLUME, POOL_OBJ_SNAPSHOT } pool_obj_kind;

/* Called for every object found on disk by pool->ops->scan(). */
typedef int (*pool_scan_fn)(pool_obj_kind kind, const char *id, void *payload);

typedef struct {
	const char *backend;
	int (*open)(pool *p, dv_status *err);
	void (*close)(pool *p);

	int (*volume_create)(pool *p, const char *id, const pool_volume_spec *spec, dv_status *st);
	/* New volume id with the content of snapshot snap_id, grown to spec->size. */
	int (*volume_restore)(pool *p, const char *id, const char *snap_id,
			      const pool_volume_spec *spec, dv_status *st);
	/* New volume id with the content of volume src_id, grown to spec->size. */
	int (*volume_clone)(pool *p, const char *id, const char *src_id,
			    const pool_volume_spec *spec, dv_status *st);
	int (*volume_delete)(pool *p, const char *id, dv_status *st);
	int (*volume_expand)(pool *p, const char *id, uint64_t new_size, dv_status *st);
	/* 1 present, 0 absent, -errno. */
	int (*volume_exists)(pool *p, const char *id);
	int (*volume_usage)(pool *p, const char *id, pool_usage *ret);
	/* Backend property change (ControllerModifyVolume), e.g. compression. */
	int (*volume_set)(pool *p, const char *id, const char *key, const char *value,
			  dv_status *st);

	int (*snapshot_create)(pool *p, const char *snap_id, const char *src_id, uint64_t *ret_size,
			       dv_status *st);
	int (*snapshot_delete)(pool *p, const char *snap_id, dv_status *st);
	int (*snapshot_exists)(pool *p, const char *snap_id);

	/* Raw capacity of the pool's file system. */
	int (*fs_capacity)(pool *p, uint64_t *ret_total, uint64_t *ret_free);
	/* Lists every object on disk (for reconciliation). */
	int (*scan)(pool *p, pool_scan_fn fn, void *payload);
} pool_ops;

struct pool {
	const pool_ops *ops;
	char *name;
	char *root;
	int root_fd;
	int volumes_fd;         /* <root>/volumes */
	int snapshots_fd;       /* <root>/snapshots */
	unsigned caps;
	double overcommit;      /* allocatable = fs size * overcommit */
	uint64_t min_size;      /* smallest volume */
	uint64_t granularity;   /* sizes round up to a multiple */
	char default_fs[16];
	bool direct_io;         /* image: loop devices bypass the page cache */
	/* group syncs of volumes/ and snapshots/ (pool_sync_dir) */
	sys_syncgroup volumes_sync;
	sys_syncgroup snapshots_sync;
	void *priv;
};

/* Opens the pool described by cfg (backend chosen by cfg->backend). */
int pool_open(pool **ret, const dv_pool_config *cfg, dv_status *err);
void pool_close(pool *p);

/* The size a request gets: max(required, min_size) rounded up to the
 * granularity, and the xfs minimum when fs_type is xfs. Fails (-ERANGE)
 * when that exceeds limit (limit 0 = none). */
int pool_round_size(const pool *p, uint64_t required, uint64_t limit, const char *fs_type,
		    bool block, uint64_t *ret);

/* IDs dynvol generates: "<prefix>-" followed by 32 lower-case hex digits. */
bool pool_id_is_valid(const char *id);
/* Fills buf (>= 40 bytes) with a new random ID: prefix "vol" or "snap". */
int pool_id_generate(const char *prefix, char *buf, size_t len);

/* Helpers for backends (pool_common.c). */
/* Opens or creates directory name beneath dir_fd (no symlinks). */
int pool_open_subdir(int dir_fd, const char *name, int *ret_fd);
/* Removes a directory tree beneath dir_fd without following symlinks. */
int pool_remove_tree(int dir_fd, const char *name);
/* fsync of a directory, so a create or unlink inside it that has
 * returned is durable. For volumes/ and snapshots/ the pool's sync group
 * shares one fsync among concurrent callers (a sync that began after the
 * caller's change covers it: sys/syncgroup.h). */
int pool_sync_dir(pool *p, int dir_fd);
/* pool->ops->scan for backends that name objects "<id><suffix>". */
int pool_scan_objects(pool *p, const char *suffix, pool_scan_fn fn, void *payload);
/* Removes entries ending in suffix from volumes/ and snapshots/: copies a
 * crash interrupted, never referenced by any record. */
void pool_remove_leftovers(const pool *p, const char *suffix);
/* Value of a pool option from the config, or NULL. */
const char *pool_option(const dv_pool_config *cfg, const char *key);

extern const pool_ops pool_dir_ops;
extern const pool_ops pool_image_ops;
extern const pool_ops pool_btrfs_ops;

#endif

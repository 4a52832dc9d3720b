/*
 * config.h - the driver's YAML configuration file.
 *
 *   driverName: csi.dynvol.io
 *   nodeId: node-1
 *   stateDir: /var/lib/dynvol
 *   maxVolumesPerNode: 256
 *   removeOrphans: false           # reconcile deletes pool objects no record owns
 *   pathPrefixes: [/var/lib/kubelet] # node targets must lie beneath one
 *   topology:                      # segments this node reports
 *     topology.dynvol.io/zone: zone-a
 *   pools:
 *     - name: default
 *       backend: dir               # image | btrfs | dir | shared
 *       root: /var/lib/dynvol/pools/default
 *       options:                   # backend-specific, strings
 *         overcommit: "1.0"
 *
 * Unknown keys are errors, so a typo never silently changes behaviour.
 */
#ifndef DYNVOL_CONFIG_H
#define DYNVOL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "status.h"

typedef struct {
	char *key;
	char *value;
} dv_kv;

typedef struct {
	char *name;
	char *backend;
	char *root;
	dv_kv *options;
	size_t n_options;
} dv_pool_config;

typedef struct {
	char *driver_name;
	char *node_id;
	char *state_dir;
	long max_volumes_per_node; /* 0: unset */
	bool remove_orphans;        /* reconcile removes unowned pool objects */
	dv_kv *topology;
	size_t n_topology;
	dv_pool_config *pools;
	size_t n_pools;
	char **path_prefixes;       /* where NodePublish targets may be */
	size_t n_path_prefixes;
} dv_config;

/* Parses path into a new config; on failure err says where and why. */
int dv_config_load(dv_config **ret, const char *path, dv_status *err);
/* Parses YAML text (for tests). */
int dv_config_parse(dv_config **ret, const char *text, size_t len, const char *source,
		    dv_status *err);
void dv_config_free(dv_config *cfg);

/* Appends a path prefix (validated: absolute, canonical). */
int dv_config_add_path_prefix(dv_config *cfg, const char *prefix, dv_status *err);

/* Validations shared with the command line. NULL when valid, else why. */
const char *dv_validate_driver_name(const char *name);
const char *dv_validate_pool_name(const char *name);

#endif

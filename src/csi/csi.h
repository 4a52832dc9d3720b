/*
 * csi.h - the CSI services: shared driver state and service registration.
 *
 * Handlers validate every field, then call into the pools; they never touch
 * HTTP/2 (src/rpc) beyond finishing their call.
 */
#ifndef DYNVOL_CSI_H
#define DYNVOL_CSI_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "rpc/server.h"
#include "store/store.h"

typedef enum {
	CSI_MODE_CONTROLLER = 1 << 0,
	CSI_MODE_NODE = 1 << 1,
	CSI_MODE_ALL = CSI_MODE_CONTROLLER | CSI_MODE_NODE,
} csi_mode;

/* Returns the mode for "controller", "node" or "all"; 0 when unknown. */
csi_mode csi_mode_from_string(const char *s);

typedef struct {
	const char *name;       /* CSI driver name */
	const char *version;    /* vendor_version */
	const char *node_id;
	const char *state_dir;
	csi_mode mode;
	const dv_config *config; /* pools, topology; never NULL */
	store *store;            /* volumes and snapshots; NULL in node-only mode */
	size_t max_volumes_per_node;
	/* How long Probe reuses a "ready" verdict (ns); 0 checks on every
	 * call. A cached verdict is answered on the event loop, without a
	 * thread hand-off or a file system call (identity.c). */
	int64_t probe_cache_ns;
	_Atomic int64_t probe_ready_until; /* identity.c: cache expiry (monotonic) */
} csi_driver;

/* The topology key every dynvol node reports: local pools are reachable
 * on their own node only. */
#define CSI_TOPOLOGY_NODE_KEY "topology.dynvol.io/node"

/* Registers the Identity service's methods. 0 or -errno. */
int csi_identity_register(rpc_server *srv, csi_driver *drv);

/* Registers the Controller service's methods. */
int csi_controller_register(rpc_server *srv, csi_driver *drv);

/* Registers the Node service's methods. */
int csi_node_register(rpc_server *srv, csi_driver *drv);

/* The kubelet's plugin registration (registration.c). */
typedef struct {
	const char *driver_name;
	const char *csi_path;	/* the CSI socket as the kubelet dials it */
	_Atomic int registered;	/* 0 not yet told, 1 registered, -1 refused */
} csi_registration;

/* Registers pluginregistration.Registration's methods on srv (a server of
 * its own, on the plugins_registry socket). */
int csi_registration_register(rpc_server *srv, csi_registration *reg);

/* Undoes node operations a crash interrupted (stages that never answered
 * OK): unmount, detach, forget. Called once at start. */
int csi_node_recover(csi_driver *drv);

/* Readiness as Probe reports it: NULL when ready, else the reason
 * (static or in buf). */
const char *csi_driver_not_ready(const csi_driver *drv, char *buf, size_t len);

#endif

/*
 * ctrl.h - what the controllers of `dynvol controller` share: one API
 * client, one Event recorder, one pool of CSI connections to the driver,
 * and one informer per resource whose cache every controller reads.
 *
 * The controllers replace the upstream sidecars (external-provisioner,
 * -attacher, -resizer, -snapshotter, the snapshot controller) and, where
 * asked, kube-controller-manager's PV binder. Each is a ctrl_def: setup
 * registers the informer handlers it needs (before the informers start),
 * run starts its workers (after the caches synced), stop drains them.
 *
 * Informers are shared: a resource has one list+watch and one cache,
 * whichever controllers watch it, and handlers are fanned out in
 * registration order. Cached objects keep everything but
 * metadata.managedFields (a PVC, PV or VolumeAttachment is small; the
 * fields a controller reads differ from controller to controller).
 *
 * Every controller's worker follows one rule: read the newest state
 * (the cache, then the API when a write must be exact), do one idempotent
 * step, write it back with optimistic concurrency, and requeue. A crash
 * at any point is repaired by the next pass, because every step can be
 * repeated (CSI calls are idempotent by name; API writes are compare-and-
 * swap or create-if-absent).
 */
#ifndef DYNVOL_CTRL_H
#define DYNVOL_CTRL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include "client.h"
#include "events.h"
#include "informer.h"
#include "status.h"
#include "workqueue.h"

typedef struct dv_metrics dv_metrics;

/* The resources controllers watch. */
typedef enum {
	CTRL_PVC,	/* index "class": spec.storageClassName; "volume": spec.volumeName */
	CTRL_PV,	/* index "claim": "ns/name" of spec.claimRef; "class" */
	CTRL_SC,
	CTRL_VA,	/* index "pv": spec.source.persistentVolumeName */
	CTRL_VS,	/* index "content": status.boundVolumeSnapshotContentName */
	CTRL_VSC,	/* index "snapshot": "ns/name" of spec.volumeSnapshotRef */
	CTRL_VSCLASS,
	CTRL_NODE,
	CTRL_CSINODE,
	CTRL_CAPACITY,	/* CSIStorageCapacity, all namespaces */
	CTRL_POD,	/* index "node": spec.nodeName; "claim": "ns/claimName" per volume */
	CTRL_NRES
} ctrl_res;

typedef struct {
	int workers;			/* per controller; <= 0: 16 */
	int64_t provision_timeout_ns;	/* CreateVolume; 5 min */
	int64_t delete_timeout_ns;	/* DeleteVolume; 2 min */
	int64_t expand_timeout_ns;	/* ControllerExpandVolume; 3 min */
	int64_t attach_timeout_ns;	/* ControllerPublish/Unpublish; 2 min */
	int64_t snapshot_timeout_ns;	/* CreateSnapshot/DeleteSnapshot; 5 min */
	int64_t capacity_poll_ns;	/* GetCapacity refresh; 1 min */
	int64_t retry_base_ns;		/* work queue backoff; 1 s */
	int64_t retry_max_ns;		/* 5 min */
	bool extra_create_metadata;	/* pass csi.storage.k8s.io/pvc/name etc.; true */
	const char *capacity_namespace; /* where CSIStorageCapacity objects go */
} ctrl_opts;

/* What the driver said about itself at start-up. */
typedef struct {
	char name[256];		/* GetPluginInfo (or --driver-name) */
	bool controller_service;
	bool topology;		/* VOLUME_ACCESSIBILITY_CONSTRAINTS */
	bool create_delete;	/* CREATE_DELETE_VOLUME */
	bool publish;		/* PUBLISH_UNPUBLISH_VOLUME */
	bool expand;		/* EXPAND_VOLUME */
	bool online_expand;	/* plugin capability ONLINE */
	bool snapshots;		/* CREATE_DELETE_SNAPSHOT */
	bool clone;		/* CLONE_VOLUME */
	bool capacity;		/* GET_CAPACITY */
	bool modify;		/* MODIFY_VOLUME */
	bool readonly_publish;	/* PUBLISH_READONLY */
	bool single_node_multi_writer; /* SINGLE_NODE_MULTI_WRITER: RWO(P) get the new modes */
} ctrl_driver_info;

typedef struct ctrl_csi ctrl_csi;
typedef struct ctrl_ctx ctrl_ctx;

struct ctrl_ctx {
	kube_client *kube;
	kube_recorder *rec;
	ctrl_csi *csi;
	dv_metrics *metrics;	/* may be NULL */
	ctrl_opts opt;
	ctrl_driver_info driver;
	char identity[128];	/* this process: host + pid */
	atomic_bool stopping;
	/* private */
	struct ctrl_shared *shared[CTRL_NRES];
	pthread_mutex_t loops_lock;	/* the loops, for the work-queue metrics */
	struct ctrl_loop *loops;
};

/* --- the context -------------------------------------------------------- */

/* Sets the defaults of every option (callers then override). */
void ctrl_opts_default(ctrl_opts *o);

/* kube, rec and csi are borrowed; they must outlive the context. */
int ctrl_ctx_init(ctrl_ctx *ctx, kube_client *kube, kube_recorder *rec, ctrl_csi *csi,
		  dv_metrics *metrics, const ctrl_opts *opt);
/* Stops and frees the informers. */
void ctrl_ctx_destroy(ctrl_ctx *ctx);

/* Asks the driver who it is and what it can (GetPluginInfo, capabilities),
 * retrying until it answers or timeout_ms passes. name_override: the
 * --driver-name, or NULL to take GetPluginInfo's. */
int ctrl_ctx_probe_driver(ctrl_ctx *ctx, const char *name_override, int timeout_ms,
			  dv_status *st);

/* Makes sure res has an informer (created on first use) and adds handlers
 * to its fan-out (h may be NULL: the cache only). Only before
 * ctrl_ctx_start_informers. */
int ctrl_watch(ctrl_ctx *ctx, ctrl_res res, const kube_handlers *h);
/* The informer of res, or NULL when nobody asked for it. */
kube_informer *ctrl_informer(ctrl_ctx *ctx, ctrl_res res);
const kube_resource *ctrl_resource(ctrl_res res);

/* Starts every informer asked for and waits until all synced. */
int ctrl_ctx_start_informers(ctrl_ctx *ctx, int timeout_ms);
void ctrl_ctx_stop_informers(ctrl_ctx *ctx);

/* --- controllers -------------------------------------------------------- */

typedef struct {
	const char *name; /* "provisioner", as --controllers names it */
	/* Registers watches and creates queues; *ret_state is passed back. */
	int (*setup)(ctrl_ctx *ctx, void **ret_state);
	/* Starts the workers: the informers have synced. */
	int (*run)(void *state);
	/* Stops taking work and waits for the workers' current keys. */
	void (*stop)(void *state);
	void (*free)(void *state);
} ctrl_def;

extern const ctrl_def ctrl_provisioner, ctrl_binder, ctrl_attacher, ctrl_resizer,
	ctrl_snapshotter, ctrl_capacity;

/* Every controller, in start order; NULL-terminated. */
extern const ctrl_def *const ctrl_all[];

/* A controller's queue and workers: the common shape. name also names
 * the queue in the workqueue_* metrics. */
typedef struct ctrl_loop {
	ctrl_ctx *ctx;
	const char *name;
	kube_workqueue *q;
	kube_work_fn fn;
	void *payload;
	struct ctrl_loop *next; /* in ctx->loops */
} ctrl_loop;

int ctrl_loop_init(ctrl_loop *l, ctrl_ctx *ctx, const char *name, kube_work_fn fn,
		   void *payload);
int ctrl_loop_run(ctrl_loop *l);
void ctrl_loop_stop(ctrl_loop *l);
void ctrl_loop_destroy(ctrl_loop *l);
/* Queues obj's key ("ns/name" or "name"). */
void ctrl_loop_enqueue(ctrl_loop *l, const json_t *obj);
/* Handlers that queue the key of every added, updated and deleted object
 * (payload: the loop). */
kube_handlers ctrl_loop_handlers(ctrl_loop *l);

/* Splits a "ns/name" or "name" key. ns gets "" for cluster-scoped keys. */
int ctrl_split_key(const char *key, char *ns, size_t nslen, char *name, size_t namelen);

/* --- CSI ------------------------------------------------------------------ */

/* A pool of connections to one CSI endpoint (unix:///path, /path, tcp). */
int ctrl_csi_new(const char *endpoint, int max_conns, ctrl_csi **ret, dv_status *st);
void ctrl_csi_free(ctrl_csi *c);

/* One unary CSI call ("/csi.v1.Controller/CreateVolume") on a pooled
 * connection, timed into csi_sidecar_operations_seconds. */
dv_code ctrl_csi_call(ctrl_ctx *ctx, const char *path, const ProtobufCMessage *req,
		      const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **ret_resp,
		      int64_t timeout_ns, dv_status *st);

/* True for the codes after which a retried CreateVolume/CreateSnapshot
 * may still be working in the driver ("in progress" codes of
 * external-provisioner: the operation must be retried until final). */
bool ctrl_code_is_transient(dv_code code);

/* A protobuf map<string,string> from a JSON object of strings (other
 * values skipped) or from key/value arrays. entry_desc is the map's
 * entry message (e.g. &csi__v1__create_volume_request__parameters_entry__descriptor).
 * Returns the entries (free with ctrl_pb_map_free) and their count. */
void **ctrl_pb_map_from_json(const json_t *obj, const ProtobufCMessageDescriptor *entry_desc,
			     size_t *ret_n);
void **ctrl_pb_map_from_kv(char *const *keys, char *const *values, size_t n,
			   const ProtobufCMessageDescriptor *entry_desc);
void ctrl_pb_map_free(void **entries, size_t n);
/* A JSON object from a protobuf map's entries (for volume_context). */
json_t *ctrl_pb_map_to_json(void *const *entries, size_t n);

/* --- Secrets (csi.storage.k8s.io/<op>-secret-name/-namespace) --------------- */

typedef struct {
	size_t n;
	char **keys;
	char **values; /* secret; wiped on free */
} ctrl_secrets;

/* Reads Secret ns/name and decodes its data. 0, or -ENOENT / -errno with
 * a message naming the Secret (never a value). */
int ctrl_secrets_load(ctrl_ctx *ctx, const char *ns, const char *name, ctrl_secrets *out,
		      dv_status *st);
void ctrl_secrets_free(ctrl_secrets *s);

/* --- objects ---------------------------------------------------------------- */

/* Borrowed string at a dotted path ("spec.storageClassName"), or NULL. */
const char *ctrl_str(const json_t *obj, const char *path);
json_t *ctrl_get(const json_t *obj, const char *path);
/* Sets a string at a dotted path, creating objects on the way. */
int ctrl_set_str(json_t *obj, const char *path, const char *value);
bool ctrl_has_finalizer(const json_t *obj, const char *finalizer);
/* Adds/removes in place; returns true when it changed obj. */
bool ctrl_add_finalizer(json_t *obj, const char *finalizer);
bool ctrl_remove_finalizer(json_t *obj, const char *finalizer);
bool ctrl_being_deleted(const json_t *obj);
/* metav1.Time now: "2026-01-02T15:04:05Z". */
void ctrl_time_now(char *out, size_t len);

/* --- metrics ------------------------------------------------------------------ */

/* Registers the controllers' scrape-time collector (work queues) with
 * ctx->metrics; ctrl_ctx_init calls it, ctrl_ctx_destroy undoes it. */
int ctrl_metrics_attach(ctrl_ctx *ctx);
void ctrl_metrics_detach(ctrl_ctx *ctx);
/* A kube_observe_fn for the API client: payload is the dv_metrics. */
void ctrl_metrics_observe_request(const char *method, long status, int64_t duration_ns,
				  void *payload);

int64_t ctrl_op_begin(void);
/* Counts an attempt's end: reason is NULL on success, else a gRPC code
 * name or "api". */
void ctrl_op_end(ctrl_ctx *ctx, const char *controller, const char *op, const char *reason,
		 int64_t begin);
/* Times one CSI call (path "/csi.v1.Controller/CreateVolume") into
 * csi_sidecar_operations_seconds. */
void ctrl_csi_observe(ctrl_ctx *ctx, const char *path, dv_code code, int64_t begin);

#endif

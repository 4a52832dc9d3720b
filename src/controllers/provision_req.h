/*
 * provision_req.h - what the provisioner sends and writes for one claim:
 * the CreateVolume request built from the PVC, its StorageClass, the
 * selected node's topology, the data source and the Secrets the class
 * names, and the PersistentVolume built from the answer.
 *
 * Kept apart from the controller loop (provisioner.c) because it is the
 * part with rules (reserved parameter keys, secret name templates,
 * access modes, topology terms, data source checks) and no state: the
 * same claim and class always give the same request, which is what
 * makes a retried CreateVolume idempotent.
 */
#ifndef DYNVOL_PROVISION_REQ_H
#define DYNVOL_PROVISION_REQ_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "csi.pb-c.h"
#include "ctrl.h"

#define PROV_ANN_PROVISIONED_BY "pv.kubernetes.io/provisioned-by"
#define PROV_ANN_DEL_SECRET_NAME "volume.kubernetes.io/provisioner-deletion-secret-name"
#define PROV_ANN_DEL_SECRET_NS "volume.kubernetes.io/provisioner-deletion-secret-namespace"
#define PROV_ANN_SELECTED_NODE "volume.kubernetes.io/selected-node"
#define PROV_ANN_STORAGE_PROVISIONER "volume.kubernetes.io/storage-provisioner"
#define PROV_ANN_BETA_STORAGE_PROVISIONER "volume.beta.kubernetes.io/storage-provisioner"
/* On PVs we provisioned: DeleteVolume runs before the PV object goes. */
#define PROV_PV_FINALIZER "external-provisioner.volume.kubernetes.io/finalizer"
/* On a clone's source PVC while the clone is being created. */
#define PROV_CLONE_FINALIZER "provisioner.storage.kubernetes.io/cloning-protection"

/* The secret kinds a StorageClass may name (csi.storage.k8s.io/<kind>-secret-*). */
typedef enum {
	PROV_SECRET_PROVISIONER,
	PROV_SECRET_CONTROLLER_PUBLISH,
	PROV_SECRET_NODE_STAGE,
	PROV_SECRET_NODE_PUBLISH,
	PROV_SECRET_CONTROLLER_EXPAND,
	PROV_SECRET_NODE_EXPAND,
	PROV_SECRET_NKINDS
} prov_secret_kind;

typedef struct {
	bool set;
	char name[254];
	char ns[64];
} prov_secret_ref;

typedef struct {
	Csi__V1__CreateVolumeRequest req;
	Csi__V1__CapacityRange range;
	Csi__V1__VolumeCapability **caps;
	Csi__V1__TopologyRequirement *topo;
	Csi__V1__VolumeContentSource *source;

	char pv_name[80];	/* "pvc-<uid>": also the CreateVolume name */
	char fstype[64];
	bool block;
	uint64_t request_bytes;
	prov_secret_ref secrets[PROV_SECRET_NKINDS];
	ctrl_secrets prov_secrets; /* the provisioner Secret's data, wiped on free */
	char clone_source[254];	   /* the source PVC's name when cloning */
	bool node_refused;	   /* the selected node cannot hold it: reschedule */
} prov_req;

/* Builds the request for pvc under class sc. Returns 0, or -1 with st
 * set: INVALID_ARGUMENT for what the user must fix (a reserved parameter,
 * a bad template, a missing data source), UNAVAILABLE for what may heal
 * by itself (the API unreachable, a node not registered yet). */
int prov_req_build(ctrl_ctx *ctx, const json_t *pvc, const json_t *sc, prov_req *r,
		   dv_status *st);
void prov_req_free(prov_req *r);

/* The PersistentVolume for the created volume. */
json_t *prov_pv_build(ctrl_ctx *ctx, const json_t *pvc, const json_t *sc, const prov_req *r,
		      const Csi__V1__Volume *vol, const char *identity);

/* --- the rules, exposed for unit tests ------------------------------------ */

/* Resolves a secret name or namespace template: ${pvc.name},
 * ${pvc.namespace}, ${pv.name}, and (names only) ${pvc.annotations['k']}.
 * Returns 0 or -1 with st (INVALID_ARGUMENT) naming the bad token. */
int prov_template(const char *tmpl, bool is_name, const json_t *pvc, const char *pv_name,
		  char *out, size_t len, dv_status *st);

/* Reads the csi.storage.k8s.io/<kind>-secret-name/-namespace pair of
 * params into ref (ref->set false when the class names none). */
int prov_secret_param(const json_t *params, prov_secret_kind kind, const json_t *pvc,
		      const char *pv_name, prov_secret_ref *ref, dv_status *st);

/* True for a key in the reserved csi.storage.k8s.io/ namespace that the
 * provisioner consumes; such keys never reach the driver. */
bool prov_reserved_key(const char *key, bool *ret_known);

/* Expands allowedTopologies terms into segments: a JSON array of
 * {key: value} objects (the cartesian product of each term's values). */
json_t *prov_topology_terms(const json_t *allowed);

#endif

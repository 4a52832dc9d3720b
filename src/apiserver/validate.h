/*
 * validate.h - defaulting and validation of the built-in kinds, as
 * kube-apiserver does them, with its error shape.
 *
 * Errors are appended to `causes`, a JSON array of StatusCause objects
 * ({"reason": "FieldValueInvalid"|"FieldValueRequired"|"FieldValueNotSupported"|
 *   "FieldValueForbidden"|"FieldValueDuplicate"|"FieldValueTooLong",
 *   "message": "...", "field": "spec.accessModes"}); the caller turns a
 * non-empty array into a 422 Invalid Status. Messages follow kube-apiserver's
 * wording ("Required value", "Unsupported value: \"X\": supported values:
 * ...", "field is immutable", ...). Messages never quote Secret data.
 *
 * Metadata (name, generateName, namespace, labels, annotations, finalizers,
 * ownerReferences) is validated for every kind, custom resources included.
 */
#ifndef DYNVOL_APISERVER_VALIDATE_H
#define DYNVOL_APISERVER_VALIDATE_H

#include <stdbool.h>

#include <jansson.h>

/* Looks up a stored object for cross-object rules (the StorageClass of a
 * PVC being resized, say). Returns a new reference or NULL if absent.
 * group "" is core; ns NULL for cluster-scoped resources. */
typedef json_t *(*dv_lookup_fn)(void *ctx, const char *group, const char *resource,
				const char *ns, const char *name);

typedef struct {
	dv_lookup_fn lookup;
	void *ctx;
} dv_validate_env;

/* Fills defaults on create (and on update, where kube-apiserver does):
 * PVC volumeMode=Filesystem; PV persistentVolumeReclaimPolicy=Retain,
 * volumeMode=Filesystem; StorageClass reclaimPolicy=Delete,
 * volumeBindingMode=Immediate; CSIDriver attachRequired=true,
 * podInfoOnMount=false, fsGroupPolicy=ReadWriteOnceWithFSType,
 * volumeLifecycleModes=[Persistent], ...; Pod restartPolicy, dnsPolicy,
 * container terminationMessagePath/Policy, imagePullPolicy, ...; Secret
 * type=Opaque; VolumeSnapshotContent deletionPolicy untouched (required). */
void dv_default(const char *group, const char *kind, json_t *obj);

/* Validation of a new object. `namespaced` tells whether metadata.namespace
 * must be set (already filled by the caller from the URL). */
void dv_validate_create(const dv_validate_env *env, const char *group, const char *kind,
			bool namespaced, const json_t *obj, json_t *causes);

/* Validation of an update of `old` to `obj` (spec or metadata update; status
 * updates go through dv_validate_status_update). Immutability rules: PVC
 * spec except resources.requests.storage (growth only, only when its
 * StorageClass has allowVolumeExpansion) and volumeAttributesClassName; PV
 * spec.persistentVolumeSource, StorageClass parameters/provisioner/
 * reclaimPolicy/volumeBindingMode, CSIDriver spec (except a few), VolumeAttachment
 * spec, VolumeSnapshot spec.source, VolumeSnapshotContent spec.source, ... */
void dv_validate_update(const dv_validate_env *env, const char *group, const char *kind,
			bool namespaced, const json_t *obj, const json_t *old, json_t *causes);

/* Validation of a status-subresource update. */
void dv_validate_status_update(const dv_validate_env *env, const char *group,
			       const char *kind, const json_t *obj, const json_t *old,
			       json_t *causes);

/* The message of a 422 Invalid Status, as kube-apiserver words it:
 * `PersistentVolumeClaim "x" is invalid: [spec.accessModes: Required value, ...]`
 * (malloc'd). */
char *dv_invalid_message(const char *kind, const char *name, const json_t *causes);

/* Appends one cause. For use by the API server's own checks too. */
void dv_cause_add(json_t *causes, const char *reason, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif

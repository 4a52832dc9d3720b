/*
 * validate.h - defaulting and validation of the built-in kinds, as
 * kube-apiserver v1.32 does them, with its error shape.
 *
 * Errors are appended to `causes`, a JSON array of StatusCause objects
 * ({"reason": "FieldValueInvalid"|"FieldValueRequired"|"FieldValueNotSupported"|
 *   "FieldValueForbidden"|"FieldValueDuplicate"|"FieldValueTooLong"|
 *   "FieldValueTooMany"|"FieldValueNotFound",
 *   "message": "...", "field": "spec.accessModes"}); the caller turns a
 * non-empty array into a 422 Invalid Status (dv_invalid_message builds its
 * message). As upstream, a cause's message is the error body without the
 * field ("Required value", "Unsupported value: \"X\": supported values:
 * \"A\", \"B\"", "Invalid value: \"Foo\": a lowercase RFC 1123 ...",
 * "field is immutable", ...); "field" is left out when it is empty.
 * Messages never quote Secret data.
 *
 * Metadata (name, generateName, namespace, labels, annotations, finalizers,
 * ownerReferences) is validated for every kind, custom resources included.
 * Kinds served by this module: core (""): PersistentVolumeClaim,
 * PersistentVolume, Pod, Secret, ConfigMap, Namespace, Node, Event;
 * storage.k8s.io: StorageClass, CSIDriver, CSINode, VolumeAttachment,
 * CSIStorageCapacity, VolumeAttributesClass; snapshot.storage.k8s.io:
 * VolumeSnapshot, VolumeSnapshotContent, VolumeSnapshotClass (the rules of
 * external-snapshotter's CRD schemas and CEL rules); coordination.k8s.io:
 * Lease; apiextensions.k8s.io: CustomResourceDefinition. Any other kind
 * is given metadata checks only.
 *
 * Quantities (resource.Quantity) are parsed and printed here too, for the
 * controllers' capacity arithmetic.
 */
#ifndef DYNVOL_APISERVER_VALIDATE_H
#define DYNVOL_APISERVER_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "quantity.h"

/* Looks up a stored object for cross-object rules (the StorageClass of a
 * PVC being resized, say). Returns a new reference or NULL if absent.
 * group "" is core; ns NULL for cluster-scoped resources. */
typedef json_t *(*dv_lookup_fn)(void *ctx, const char *group, const char *resource,
				const char *ns, const char *name);

typedef struct {
	dv_lookup_fn lookup;
	void *ctx;
} dv_validate_env;

/* Fills defaults on create (and on update, where kube-apiserver does; every
 * default only fills what is absent, so applying it twice is harmless):
 * PVC spec.volumeMode=Filesystem, status.phase=Pending, dataSource and
 * dataSourceRef mirrored; PV persistentVolumeReclaimPolicy=Retain,
 * volumeMode=Filesystem, hostPath.type="", status.phase=Pending;
 * StorageClass reclaimPolicy=Delete, volumeBindingMode=Immediate; CSIDriver
 * attachRequired=true, podInfoOnMount=false, storageCapacity=false,
 * requiresRepublish=false, seLinuxMount=false,
 * fsGroupPolicy=ReadWriteOnceWithFSType, volumeLifecycleModes=[Persistent];
 * Pod restartPolicy=Always, dnsPolicy=ClusterFirst,
 * schedulerName=default-scheduler, terminationGracePeriodSeconds=30,
 * securityContext={}, enableServiceLinks=true, serviceAccountName=default,
 * priority=0, preemptionPolicy=PreemptLowerPriority, the not-ready and
 * unreachable NoExecute tolerations (300 s), per container
 * terminationMessagePath=/dev/termination-log, terminationMessagePolicy=File,
 * imagePullPolicy (Always for :latest or no tag, else IfNotPresent),
 * resources={}, port
 * protocol TCP, requests copied from limits, probe timings; volumes without
 * a source get emptyDir {}, secret/configMap volumes defaultMode 420;
 * status.phase=Pending and status.qosClass; Secret type=Opaque with
 * stringData merged into data (base64); Namespace status.phase=Active,
 * spec.finalizers=[kubernetes], label kubernetes.io/metadata.name; Node
 * status.allocatable from capacity; CRD names.singular/listKind,
 * conversion.strategy=None, status.storedVersions records the storage version.
 * VolumeSnapshotContent deletionPolicy is left alone (required). A
 * built-in cluster-scoped kind loses any metadata.namespace, as upstream
 * clears it before validation (for custom resources the caller, who knows
 * the scope, does that). */
void dv_default(const char *group, const char *kind, json_t *obj);

/* Validation of a new object. `namespaced` tells whether metadata.namespace
 * must be set (already filled by the caller from the URL). Run after
 * dv_default. For a CRD, the version schemas are checked by the caller
 * (dv_schema_check, schema.h); here only their presence. */
void dv_validate_create(const dv_validate_env *env, const char *group, const char *kind,
			bool namespaced, const json_t *obj, json_t *causes);

/* Validation of an update of `old` to `obj` (spec or metadata update; status
 * updates go through dv_validate_status_update). The new object is
 * validated as on create, plus: metadata name/namespace/uid/
 * creationTimestamp/deletionTimestamp/deletionGracePeriodSeconds immutable,
 * generation not decremented, no new finalizers once deleting
 * (resourceVersion is the caller's). Immutability rules: PVC spec except
 * resources.requests.storage (bound claims only, never below the old value)
 * and volumeAttributesClassName, volumeName settable once; PV
 * spec.persistentVolumeSource and volumeMode; StorageClass parameters/
 * provisioner/reclaimPolicy/volumeBindingMode; CSIDriver attachRequired and
 * volumeLifecycleModes; CSINode drivers; VolumeAttachment spec;
 * CSIStorageCapacity nodeTopology/storageClassName; VolumeAttributesClass
 * driverName/parameters; VolumeSnapshot and VolumeSnapshotContent
 * spec.source; Secret type and, with immutable: true, data; ConfigMap data/
 * binaryData with immutable: true; Pod spec except container images,
 * activeDeadlineSeconds (lowered), added tolerations and
 * terminationGracePeriodSeconds (negative to 1); Node podCIDR(s) and
 * providerID once set.
 *
 * Growing a bound PVC's request is an admission rule in kube-apiserver,
 * answered 403 Forbidden, not 422: see dv_admit_update. */
void dv_validate_update(const dv_validate_env *env, const char *group, const char *kind,
			bool namespaced, const json_t *obj, const json_t *old, json_t *causes);

/* Validation of a status-subresource update: metadata as on update, plus
 * PVC status.phase (Pending|Bound|Lost) and status.capacity quantities, PV
 * status.phase (Pending|Available|Bound|Released|Failed), Pod status.phase,
 * Namespace status.phase (Active|Terminating), VolumeAttachment
 * attachmentMetadata size and error messages. */
void dv_validate_status_update(const dv_validate_env *env, const char *group,
			       const char *kind, const json_t *obj, const json_t *old,
			       json_t *causes);

/* The validating admission kube-apiserver runs after validation of an
 * update (PersistentVolumeClaimResize): growing a PVC's
 * spec.resources.requests.storage needs its StorageClass (env->lookup of
 * storage.k8s.io/storageclasses) to have allowVolumeExpansion: true.
 * Returns NULL when admitted, else a malloc'd reason for a 403 Forbidden
 * Status, worded as upstream; the caller's message is
 * `persistentvolumeclaims "<name>" is forbidden: <reason>`. */
char *dv_admit_update(const dv_validate_env *env, const char *group, const char *kind,
		      const json_t *obj, const json_t *old);

/* Appends one cause (reason, message body, field; field "" or NULL is left
 * out). For use by the API server's own checks too. */
void dv_cause_add(json_t *causes, const char *reason, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* The message of the 422 Status for `causes`, as kube-apiserver words it:
 * `<kind> "<name>" is invalid: <field>: <message>` for one cause, with the
 * causes in brackets, comma-separated and duplicates dropped, for more.
 * kind is the qualified kind as upstream prints it: "PersistentVolumeClaim"
 * for core, "StorageClass.storage.k8s.io" otherwise. Returns a malloc'd
 * string (NULL only when out of memory). */
char *dv_invalid_message(const char *kind, const char *name, const json_t *causes);

/* Quantities (resource.Quantity) live in src/common/quantity.h. */

#endif

/*
 * table.h - server-side printing: the meta.k8s.io/v1 Table that `kubectl
 * get` asks for (Accept: application/json;as=Table;v=v1;g=meta.k8s.io),
 * with the same columns kube-apiserver prints for each built-in kind
 * (k8s.io/kubernetes/pkg/printers/internalversion) and, for custom
 * resources, the CRD's additionalPrinterColumns.
 */
#ifndef DYNVOL_APISERVER_TABLE_H
#define DYNVOL_APISERVER_TABLE_H

#include <stdint.h>
#include <time.h>

#include <jansson.h>

typedef enum {
	DV_TABLE_INCLUDE_NONE,
	DV_TABLE_INCLUDE_METADATA, /* default: rows carry PartialObjectMetadata */
	DV_TABLE_INCLUDE_OBJECT,
} dv_table_include;

/* "None", "Metadata", "Object" (the ?includeObject= values; "" is the
 * default, Metadata); -1 otherwise. */
int dv_table_include_parse(const char *s);

/*
 * Builds a Table of `items` (a JSON array of objects of one kind; a single
 * GET passes an array of one). `group`/`kind` pick the built-in columns
 * (VolumeSnapshot, VolumeSnapshotContent and VolumeSnapshotClass of
 * snapshot.storage.k8s.io included: they get their upstream CRDs' columns).
 * `crd_columns` is the served version's additionalPrinterColumns array for
 * a custom resource: Name, then those columns; an empty array gives Name +
 * Age, as apiextensions serves a CRD version without columns. NULL: the
 * built-in columns, or for a kind without any (CustomResourceDefinition
 * itself, unknown kinds) the default convertor's Name + Created At.
 * `list_meta` (may be NULL) gives the Table's metadata: its
 * resourceVersion, continue and remainingItemCount, when set (a single GET
 * may pass the object's metadata). Rows carry the object as `include`
 * says (PartialObjectMetadata, the whole object, or no "object" key).
 * `now` is the time ages are measured from. The caller keeps its
 * references. Returns a new reference, or NULL on allocation failure.
 */
json_t *dv_table_build(const char *group, const char *kind, const json_t *crd_columns,
		       const json_t *items, const json_t *list_meta, dv_table_include include,
		       time_t now);

/* Kubernetes' short human duration ("5s", "3m20s", "2d3h", "45d"), as
 * k8s.io/apimachinery/pkg/util/duration.HumanDuration prints AGE. */
void dv_table_human_duration(int64_t seconds, char *out, size_t outlen);

#endif

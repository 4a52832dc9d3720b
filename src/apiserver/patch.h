/*
 * patch.h - the three PATCH bodies kube-apiserver accepts, on jansson trees.
 *
 *   application/json-patch+json             RFC 6902 JSON Patch
 *   application/merge-patch+json            RFC 7386 JSON Merge Patch
 *   application/strategic-merge-patch+json  Kubernetes strategic merge patch
 *
 * Strategic merge needs each list's patch strategy and merge key (the
 * patchStrategy/patchMergeKey struct tags of the Go types); patch.c keeps
 * that table for the built-in kinds dynvol serves. Kinds it does not know
 * (custom resources) get 415 from kube-apiserver for a strategic patch;
 * dv_patch_apply reports that as DV_PATCH_EUNSUPPORTED.
 */
#ifndef DYNVOL_APISERVER_PATCH_H
#define DYNVOL_APISERVER_PATCH_H

#include <stddef.h>

#include <jansson.h>

typedef enum {
	DV_PATCH_JSON,
	DV_PATCH_MERGE,
	DV_PATCH_STRATEGIC,
} dv_patch_type;

typedef enum {
	DV_PATCH_OK = 0,
	DV_PATCH_EBADREQUEST = -1,  /* malformed patch document: HTTP 400 */
	DV_PATCH_EINVALID = -2,     /* well-formed but cannot apply (test op failed,
	                               path missing): HTTP 422 */
	DV_PATCH_EUNSUPPORTED = -3, /* strategic merge on an unknown kind: HTTP 415 */
	DV_PATCH_ENOMEM = -4,
} dv_patch_result;

/* Maps a Content-Type (parameters after ';' ignored) to a patch type.
 * Returns -1 for anything else. */
int dv_patch_type_from_content_type(const char *content_type);

/*
 * Applies the patch document `patch` (len bytes, not NUL-terminated) to a
 * deep copy of `obj`; on success *out is the new object (caller owns it) and
 * `obj` is untouched. `group` and `kind` select the strategic merge table
 * ("" or NULL is the core group). On failure *out is NULL and err holds a
 * message fit for a Kubernetes Status (never the patch's values).
 *
 * EBADREQUEST: not JSON, nested deeper than 100 levels, or not the shape
 * the patch type needs (a JSON Patch that is not an array of operation
 * objects, an unknown op, a missing "path"/"value"/"from", a malformed
 * pointer, more than 10000 operations; a strategic patch that is not an
 * object, an unknown $patch directive, a merge-list item without its merge
 * key, a $setElementOrder list that contradicts the patch list).
 * EINVALID: well formed but not applicable to this object (a failed test,
 * a missing path, an index out of bounds, copies adding more than 3 MiB,
 * a result nested deeper than 100 levels, lists whose items cannot be
 * merged) - and, when obj is an object, a result that is not one.
 */
dv_patch_result dv_patch_apply(const json_t *obj, const char *patch, size_t len,
			       dv_patch_type type, const char *group, const char *kind,
			       json_t **out, char *err, size_t errlen);

#endif

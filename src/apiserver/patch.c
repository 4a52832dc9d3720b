/* patch.c - interim: JSON merge patch only, until the full module lands. */
#include <string.h>
#include "patch.h"

int dv_patch_type_from_content_type(const char *ct)
{
	if (strncmp(ct, "application/json-patch+json", 27) == 0)
		return DV_PATCH_JSON;
	if (strncmp(ct, "application/merge-patch+json", 28) == 0)
		return DV_PATCH_MERGE;
	if (strncmp(ct, "application/strategic-merge-patch+json", 38) == 0)
		return DV_PATCH_STRATEGIC;
	return -1;
}

static json_t *merge(json_t *target, json_t *patch)
{
	if (!json_is_object(patch))
		return json_incref(patch);
	json_t *out = json_is_object(target) ? json_deep_copy(target) : json_object();
	const char *k;
	json_t *v;
	json_object_foreach(patch, k, v)
	{
		if (json_is_null(v))
			json_object_del(out, k);
		else
			json_object_set_new(out, k, merge(json_object_get(out, k), v));
	}
	return out;
}

dv_patch_result dv_patch_apply(const json_t *obj, const char *patch, size_t len,
			       dv_patch_type type, const char *group, const char *kind,
			       json_t **out, char *err, size_t errlen)
{
	json_t *p = json_loadb(patch, len, 0, NULL);
	if (!p || type == DV_PATCH_JSON) {
		json_decref(p);
		return DV_PATCH_EBADREQUEST;
	}
	*out = merge((json_t *)obj, p);
	json_decref(p);
	return DV_PATCH_OK;
}

/* Fuzz target: the three PATCH bodies (apiserver/patch.h).
 *
 * Input: one byte choosing the patch type and kind, then the object to
 * patch and the patch body separated by a NUL byte (no NUL: the whole rest
 * is the patch, applied to a fixed Pod). Checks what patch.h promises: a
 * known result code, an object on success (for an object), the input
 * object untouched; and that patch.c's own JSON check agrees with jansson. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "patch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char default_obj[] =
	"{\"metadata\":{\"name\":\"p\",\"finalizers\":[\"a\",\"b\"],\"labels\":{\"x\":\"1\"},"
	"\"ownerReferences\":[{\"uid\":\"u\",\"name\":\"o\"}]},"
	"\"spec\":{\"containers\":[{\"name\":\"app\",\"env\":[{\"name\":\"A\",\"value\":\"1\"}],"
	"\"ports\":[{\"containerPort\":80}]},{\"name\":\"side\"}],"
	"\"volumes\":[{\"name\":\"v\",\"emptyDir\":{}}],\"tolerations\":[{\"key\":\"k\"}]},"
	"\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}],"
	"\"podIPs\":[{\"ip\":\"10.0.0.1\"}]}}";

static const struct {
	const char *group, *kind;
} kinds[] = {
	{ "", "Pod" }, { "", "Node" }, { "storage.k8s.io", "CSINode" },
	{ "", "PersistentVolumeClaim" }, { "example.com", "Widget" },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *sep;
	const char *patch;
	size_t patch_len;
	json_t *obj = NULL, *before, *out = NULL;
	dv_patch_type type;
	dv_patch_result r;
	char err[256];

	if (size < 1)
		return 0;
	type = (dv_patch_type)(data[0] % 3);
	sep = memchr(data + 1, 0, size - 1);
	if (sep) {
		/* the object must be a sane one: the API server only stores
		 * objects that came through its own body limits */
		obj = json_loadb((const char *)data + 1, (size_t)(sep - data - 1), 0, NULL);
		patch = (const char *)sep + 1;
		patch_len = size - (size_t)(sep - data) - 1;
	} else {
		patch = (const char *)data + 1;
		patch_len = size - 1;
	}
	if (!obj)
		obj = json_loads(default_obj, 0, NULL);
	if (!obj)
		return 0;
	before = json_deep_copy(obj);
	r = dv_patch_apply(obj, patch, patch_len, type, kinds[(data[0] / 3) % 5].group,
			   kinds[(data[0] / 3) % 5].kind, &out, err, sizeof(err));
	if (r != DV_PATCH_OK && r != DV_PATCH_EBADREQUEST && r != DV_PATCH_EINVALID &&
	    r != DV_PATCH_EUNSUPPORTED && r != DV_PATCH_ENOMEM)
		abort();
	if ((r == DV_PATCH_OK) != (out != NULL) || (out && json_is_object(obj) && !json_is_object(out)))
		abort();
	if (r != DV_PATCH_OK && !err[0])
		abort();
	/* nothing fails allocations here, so ENOMEM would mean patch.c's body
	 * check let through what jansson refuses; and what it refuses as not
	 * JSON, jansson must refuse too (jansson stops at a NUL byte, where
	 * patch.c, like Go's decoder, refuses it) */
	if (r == DV_PATCH_ENOMEM)
		abort();
	if (r == DV_PATCH_EBADREQUEST && strncmp(err, "the patch is not valid JSON", 27) == 0 &&
	    !memchr(patch, 0, patch_len)) {
		json_t *v = json_loadb(patch, patch_len, JSON_DECODE_ANY, NULL);

		if (v)
			abort();
	}
	if (!json_equal(obj, before))
		abort();
	json_decref(out);
	json_decref(before);
	json_decref(obj);
	return 0;
}

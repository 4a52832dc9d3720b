/* Fuzz target: the Kubernetes protobuf body decoder (apiserver/k8spb.h).
 * Each input is decoded as sent and once more behind the "k8s\0" magic, so
 * inputs without it still reach the envelope and object decoders. Whatever
 * decodes must be an object of a supported kind whose JSON text jansson
 * reads back equal (strings valid UTF-8); whatever fails must say why.
 * Seeds: bodies kubectl v1.32 sent for create namespace/configmap/secret,
 * and a hand-built one with every ObjectMeta field. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "k8spb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const uint8_t *data, size_t size)
{
	char err[256] = "";
	json_t *obj, *back;
	const char *kind;
	char *text;

	errno = 0;
	obj = dv_k8spb_decode(data, size, err, sizeof(err));
	if (!obj) {
		if (err[0] == '\0' || (errno != EINVAL && errno != ENOTSUP && errno != ENOMEM))
			abort();
		return;
	}
	kind = json_string_value(json_object_get(obj, "kind"));
	if (!kind || (strcmp(kind, "Namespace") && strcmp(kind, "ConfigMap") &&
		      strcmp(kind, "Secret")) ||
	    !json_is_object(json_object_get(obj, "metadata")))
		abort();
	text = json_dumps(obj, JSON_COMPACT);
	if (!text)
		abort();
	back = json_loads(text, 0, NULL);
	if (!back || !json_equal(back, obj))
		abort();
	json_decref(back);
	free(text);
	json_decref(obj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *framed;

	check(data, size);
	if (size > (1u << 20))
		return 0;
	framed = malloc(size + 4);
	if (!framed)
		return 0;
	memcpy(framed, "k8s\0", 4);
	memcpy(framed + 4, data, size);
	check(framed, size + 4);
	free(framed);
	return 0;
}

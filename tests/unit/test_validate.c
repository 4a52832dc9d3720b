/*
 * Unit tests: defaulting and validation of the built-in kinds (validate.h).
 * Each rule is tried with an object that passes and one that fails; a
 * failure is checked by field, reason and the words of upstream's message,
 * the way kubectl would show it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "strutil.h"
#include "testutil.h"
#include "validate.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                              */
/* ------------------------------------------------------------------ */

static json_t *J(const char *text)
{
	json_error_t err;
	json_t *v = json_loads(text, 0, &err);

	if (!v)
		fail_msg("bad test JSON: %s: %s", err.text, text);
	return v;
}

static void dump_causes(const json_t *causes)
{
	char *s = json_dumps(causes, JSON_INDENT(1));

	print_message("causes: %s\n", s ? s : "?");
	free(s);
}

/* The cause with this field and reason whose message contains `words`. */
static const json_t *find_cause(const json_t *causes, const char *field, const char *reason,
				const char *words)
{
	size_t i;
	json_t *c;

	json_array_foreach(causes, i, c)
	{
		const char *f = json_string_value(json_object_get(c, "field"));
		const char *r = json_string_value(json_object_get(c, "reason"));
		const char *m = json_string_value(json_object_get(c, "message"));

		if (strcmp(f ? f : "", field) == 0 && strcmp(r, reason) == 0 &&
		    (!words || (m && strstr(m, words))))
			return c;
	}
	return NULL;
}

#define assert_cause(causes, field, reason, words)                                 \
	do {                                                                       \
		if (!find_cause((causes), (field), (reason), (words))) {           \
			dump_causes(causes);                                       \
			fail_msg("no %s cause at %s with \"%s\"", (reason), (field), \
				 (words) ? (words) : "");                          \
		}                                                                  \
	} while (0)

#define assert_no_causes(causes)                                                     \
	do {                                                                         \
		if (json_array_size(causes) != 0) {                                  \
			dump_causes(causes);                                         \
			fail_msg("expected no causes, got %zu", json_array_size(causes)); \
		}                                                                    \
	} while (0)

/* The message of the one cause at field (for exact comparisons). */
static const char *cause_message(const json_t *causes, const char *field)
{
	size_t i;
	json_t *c;

	json_array_foreach(causes, i, c)
	{
		const char *f = json_string_value(json_object_get(c, "field"));

		if (strcmp(f ? f : "", field) == 0)
			return json_string_value(json_object_get(c, "message"));
	}
	dump_causes(causes);
	fail_msg("no cause at %s", field);
	return NULL;
}

static bool is_namespaced(const char *group, const char *kind)
{
	static const char *const cluster[] = { "PersistentVolume", "Namespace", "Node",
					       "StorageClass", "CSIDriver", "CSINode",
					       "VolumeAttachment", "VolumeAttributesClass",
					       "VolumeSnapshotContent", "VolumeSnapshotClass",
					       "CustomResourceDefinition", NULL };

	for (size_t i = 0; cluster[i]; i++)
		if (!strcmp(kind, cluster[i]))
			return false;
	(void)group;
	return true;
}

/* Defaults, then create validation, as the API server runs them. */
static json_t *create(const char *group, const char *kind, const char *text)
{
	json_t *obj = J(text), *causes = json_array();

	dv_default(group, kind, obj);
	dv_validate_create(NULL, group, kind, is_namespaced(group, kind), obj, causes);
	json_decref(obj);
	return causes;
}

/* Create validation without defaults (to see what a default prevents). */
static json_t *create_raw(const char *group, const char *kind, const char *text)
{
	json_t *obj = J(text), *causes = json_array();

	dv_validate_create(NULL, group, kind, is_namespaced(group, kind), obj, causes);
	json_decref(obj);
	return causes;
}

static json_t *update_env(const dv_validate_env *env, const char *group, const char *kind,
			  const char *old_text, const char *new_text)
{
	json_t *old = J(old_text), *obj = J(new_text), *causes = json_array();

	dv_default(group, kind, old);
	dv_default(group, kind, obj);
	dv_validate_update(env, group, kind, is_namespaced(group, kind), obj, old, causes);
	json_decref(old);
	json_decref(obj);
	return causes;
}

static json_t *update(const char *group, const char *kind, const char *old_text,
		      const char *new_text)
{
	return update_env(NULL, group, kind, old_text, new_text);
}

static json_t *defaulted(const char *group, const char *kind, const char *text)
{
	json_t *obj = J(text);

	dv_default(group, kind, obj);
	return obj;
}

/* Path lookup "a.b.c" for asserting defaults. */
static json_t *at(json_t *obj, const char *path)
{
	char buf[256], *p = buf, *dot;

	snprintf(buf, sizeof(buf), "%s", path);
	while (obj && (dot = strchr(p, '.'))) {
		*dot = 0;
		obj = json_object_get(obj, p);
		p = dot + 1;
	}
	return obj ? json_object_get(obj, p) : NULL;
}

static const char *at_str(json_t *obj, const char *path)
{
	return json_string_value(at(obj, path));
}

#define META(name) "\"metadata\":{\"name\":\"" name "\",\"namespace\":\"default\"}"
#define CMETA(name) "\"metadata\":{\"name\":\"" name "\"}"

/* ------------------------------------------------------------------ */
/* Quantities                                                           */
/* ------------------------------------------------------------------ */

static void test_quantity_canonical(void **state)
{
	static const struct {
		const char *in, *canonical;
	} cases[] = {
		{ "1Gi", "1Gi" },     { "1024Mi", "1Gi" },  { "1.5Gi", "1536Mi" }, { "500M", "500M" },
		{ "100m", "100m" },   { "1.5", "1500m" },   { "1000", "1k" },	   { "1500", "1500" },
		{ "1e3", "1e3" },     { "1E6", "1e6" },	    { "0", "0" },	   { "0Gi", "0" },
		{ "0.5Ki", "512" },   { "-1Gi", "-1Gi" },   { "1E", "1E" },	   { "5Ei", "5Ei" },
		{ "0.1", "100m" },    { "1n", "1n" },	    { "0.0000000001", "1n" }, { "+2k", "2k" },
		{ "1.", "1" },	      { ".5", "500m" },	    { "12345678", "12345678" }, { "2048", "2048" },
		{ "1Ki", "1Ki" },     { "1536Ki", "1536Ki" }, { "3u", "3u" },	   { "1.5e3", "1500" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		dv_quantity q;
		char buf[64];

		if (dv_quantity_parse(cases[i].in, &q) != 0)
			fail_msg("%s did not parse", cases[i].in);
		assert_true(dv_quantity_format_canonical(&q, buf, sizeof(buf)) > 0);
		if (strcmp(buf, cases[i].canonical) != 0)
			fail_msg("%s: got %s, want %s", cases[i].in, buf, cases[i].canonical);
	}
}

static void test_quantity_invalid(void **state)
{
	static const char *const bad[] = { "",	 "Gi", "1.2.3", "1Gib", "abc", " 1", "1 ",  "1e",
					   "1K", "--1", "+",   ".",	"1e1.5", "1iG", "1Mi5", NULL };
	dv_quantity q;

	for (size_t i = 0; bad[i]; i++) {
		if (dv_quantity_valid(bad[i]))
			fail_msg("\"%s\" was accepted", bad[i]);
		assert_int_equal(dv_quantity_parse(bad[i], &q), -EINVAL);
	}
	assert_true(dv_quantity_valid("10Gi"));
	/* Beyond a uint64 a quantity is still a quantity (kept to 19 digits). */
	assert_int_equal(dv_quantity_parse("20Ei", &q), 0);
	assert_int_equal(dv_quantity_cmp_str("20Ei", "15Ei"), 1);
	assert_int_equal(dv_quantity_cmp_str("1e30", "1e29"), 1);
	assert_int_equal(dv_quantity_parse("1e999999", &q), -ERANGE);
}

static void test_quantity_bytes_and_cmp(void **state)
{
	uint64_t b = 0;
	dv_quantity a, c;
	char small[4];

	assert_int_equal(dv_quantity_bytes("1Gi", &b), 0);
	assert_int_equal(b, 1073741824ULL);
	assert_int_equal(dv_quantity_bytes("1.5k", &b), 0);
	assert_int_equal(b, 1500);
	assert_int_equal(dv_quantity_bytes("100m", &b), 0);
	assert_int_equal(b, 1); /* rounded up */
	assert_int_equal(dv_quantity_bytes("1e3", &b), 0);
	assert_int_equal(b, 1000);
	assert_int_equal(dv_quantity_bytes("0.5Gi", &b), 0);
	assert_int_equal(b, 536870912ULL);
	assert_int_equal(dv_quantity_bytes("15E", &b), 0);
	assert_int_equal(b, 15000000000000000000ULL);
	assert_int_equal(dv_quantity_bytes("-1", &b), -ERANGE);
	assert_int_equal(dv_quantity_bytes("19E", &b), -ERANGE);
	assert_int_equal(dv_quantity_bytes("20Ei", &b), -ERANGE);
	assert_int_equal(dv_quantity_bytes("15Ei", &b), 0);
	assert_int_equal(b, 15ULL << 60);
	assert_int_equal(dv_quantity_bytes("x", &b), -EINVAL);

	assert_int_equal(dv_quantity_cmp_str("1Gi", "1024Mi"), 0);
	assert_int_equal(dv_quantity_cmp_str("1G", "1Gi"), -1);
	assert_int_equal(dv_quantity_cmp_str("2Gi", "1Gi"), 1);
	assert_int_equal(dv_quantity_cmp_str("500M", "0.5G"), 0);
	assert_int_equal(dv_quantity_cmp_str("-1", "0"), -1);
	assert_int_equal(dv_quantity_cmp_str("-2", "-1"), -1);
	assert_int_equal(dv_quantity_cmp_str("100m", "0.1"), 0);
	assert_int_equal(dv_quantity_cmp_str("1e3", "1k"), 0);
	assert_int_equal(dv_quantity_cmp_str("999", "1k"), -1);
	assert_int_equal(dv_quantity_parse("1536Mi", &a), 0);
	assert_int_equal(dv_quantity_parse("1.5Gi", &c), 0);
	assert_int_equal(dv_quantity_cmp(&a, &c), 0);
	assert_int_equal(dv_quantity_format_canonical(&a, small, sizeof(small)), -ENOBUFS);
}

/* ------------------------------------------------------------------ */
/* Causes and the Status message                                        */
/* ------------------------------------------------------------------ */

static void test_status_message(void **state)
{
	json_t *causes = json_array();
	char *msg;

	msg = dv_invalid_message("PersistentVolumeClaim", "x", causes);
	assert_string_equal(msg, "PersistentVolumeClaim \"x\" is invalid");
	free(msg);

	dv_cause_add(causes, "FieldValueRequired", "spec.accessModes", "Required value");
	assert_string_equal(json_string_value(json_object_get(json_array_get(causes, 0), "field")),
			    "spec.accessModes");
	msg = dv_invalid_message("PersistentVolumeClaim", "x", causes);
	assert_string_equal(msg, "PersistentVolumeClaim \"x\" is invalid: spec.accessModes: Required value");
	free(msg);
	/* A field cut inside a UTF-8 character still makes a cause. */
	{
		json_t *other = json_array();

		dv_cause_add(other, "FieldValueInvalid", "data[\xc3]", "Invalid value: \"\xc3\"");
		assert_string_equal(json_string_value(json_object_get(json_array_get(other, 0), "field")), "data[?]");
		assert_string_equal(json_string_value(json_object_get(json_array_get(other, 0), "message")),
				    "Invalid value: \"?\"");
		json_decref(other);
	}

	dv_cause_add(causes, "FieldValueRequired", "spec.resources[storage]", "Required value");
	dv_cause_add(causes, "FieldValueRequired", "spec.accessModes", "Required value");
	dv_cause_add(causes, "FieldValueTooLong", "", "Too long: must have at most %d bytes", 1048576);
	assert_null(json_object_get(json_array_get(causes, 3), "field"));
	msg = dv_invalid_message("StorageClass.storage.k8s.io", "fast", causes);
	assert_string_equal(msg, "StorageClass.storage.k8s.io \"fast\" is invalid: [spec.accessModes: "
				 "Required value, spec.resources[storage]: Required value, : Too "
				 "long: must have at most 1048576 bytes]");
	free(msg);
	json_decref(causes);
}

/* ------------------------------------------------------------------ */
/* Metadata                                                             */
/* ------------------------------------------------------------------ */

#define PVC_SPEC \
	"\"spec\":{\"accessModes\":[\"ReadWriteOnce\"],\"resources\":{\"requests\":{\"storage\":\"1Gi\"}}}"

static void test_meta_names(void **state)
{
	json_t *c;

	c = create("", "PersistentVolumeClaim", "{" META("data-1") "," PVC_SPEC "}");
	assert_no_causes(c);
	json_decref(c);

	c = create("", "PersistentVolumeClaim", "{" META("Foo") "," PVC_SPEC "}");
	assert_string_equal(cause_message(c, "metadata.name"),
			    "Invalid value: \"Foo\": a lowercase RFC 1123 subdomain must consist of lower "
			    "case alphanumeric characters, '-' or '.', and must start and end with an "
			    "alphanumeric character (e.g. 'example.com', regex used for validation is "
			    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')");
	assert_cause(c, "metadata.name", "FieldValueInvalid", NULL);
	json_decref(c);

	c = create("", "PersistentVolumeClaim",
		   "{\"metadata\":{\"namespace\":\"default\"}," PVC_SPEC "}");
	assert_cause(c, "metadata.name", "FieldValueRequired", "name or generateName is required");
	json_decref(c);

	/* generateName may end with '-'. */
	c = create("", "PersistentVolumeClaim",
		   "{\"metadata\":{\"generateName\":\"data-\",\"name\":\"data-x1\",\"namespace\":\"default\"}," PVC_SPEC "}");
	assert_no_causes(c);
	json_decref(c);
	c = create("", "PersistentVolumeClaim",
		   "{\"metadata\":{\"generateName\":\"Data-\",\"name\":\"data-x1\",\"namespace\":\"default\"}," PVC_SPEC "}");
	assert_cause(c, "metadata.generateName", "FieldValueInvalid", "\"Data-\": a lowercase RFC 1123 subdomain");
	json_decref(c);

	/* A 254-character name is too long. */
	{
		char big[600];

		memset(big, 'a', 254);
		big[254] = 0;
		char text[900];

		snprintf(text, sizeof(text), "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"default\"},%s}",
			 big, PVC_SPEC);
		c = create("", "PersistentVolumeClaim", text);
		assert_cause(c, "metadata.name", "FieldValueInvalid", "must be no more than 253 characters");
		json_decref(c);
	}

	/* Namespaces are DNS labels. */
	c = create("", "Namespace", "{" CMETA("team-a") "}");
	assert_no_causes(c);
	json_decref(c);
	c = create("", "Namespace", "{" CMETA("team.a") "}");
	assert_cause(c, "metadata.name", "FieldValueInvalid", "\"team.a\": must not contain dots");
	json_decref(c);
	c = create("", "Namespace", "{" CMETA("Team") "}");
	assert_cause(c, "metadata.name", "FieldValueInvalid",
		     "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'");
	json_decref(c);
}

static void test_meta_namespace(void **state)
{
	json_t *c;

	c = create("", "PersistentVolumeClaim", "{" CMETA("data") "," PVC_SPEC "}");
	assert_cause(c, "metadata.namespace", "FieldValueRequired", "Required value");
	json_decref(c);
	c = create("", "PersistentVolumeClaim",
		   "{\"metadata\":{\"name\":\"d\",\"namespace\":\"Bad_NS\"}," PVC_SPEC "}");
	assert_cause(c, "metadata.namespace", "FieldValueInvalid", "\"Bad_NS\"");
	json_decref(c);
	/* A cluster-scoped object's namespace is dropped by the defaults, as
	 * upstream clears it; validation alone refuses it. */
	c = create("storage.k8s.io", "StorageClass",
		   "{\"metadata\":{\"name\":\"fast\",\"namespace\":\"default\"},\"provisioner\":\"dynvol.csi\"}");
	assert_no_causes(c);
	json_decref(c);
	c = create_raw("storage.k8s.io", "StorageClass",
		       "{\"metadata\":{\"name\":\"fast\",\"namespace\":\"default\"},\"provisioner\":\"dynvol.csi\",\"volumeBindingMode\":\"Immediate\"}");
	assert_string_equal(cause_message(c, "metadata.namespace"), "Forbidden: not allowed on this type");
	assert_cause(c, "metadata.namespace", "FieldValueForbidden", NULL);
	json_decref(c);
	{
		json_t *o = defaulted("", "PersistentVolumeClaim", "{" META("d") "}");

		assert_string_equal(at_str(o, "metadata.namespace"), "default");
		json_decref(o);
	}
}

static void test_meta_labels_annotations(void **state)
{
	json_t *c;
	char *big, *text;
	size_t n = 256 * 1024 + 1;

	c = create("", "ConfigMap",
		   "{\"metadata\":{\"name\":\"c\",\"namespace\":\"default\",\"labels\":{\"app.kubernetes.io/name\":\"web\",\"tier\":\"\"},"
		   "\"annotations\":{\"Example.com/Note\":\"any value at all\"}}}");
	assert_no_causes(c);
	json_decref(c);

	c = create("", "ConfigMap",
		   "{\"metadata\":{\"name\":\"c\",\"namespace\":\"default\",\"labels\":{\"bad key!\":\"v\"}}}");
	assert_cause(c, "metadata.labels", "FieldValueInvalid",
		     "Invalid value: \"bad key!\": name part must consist of alphanumeric characters, '-', '_' or '.', "
		     "and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
		     "'123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')");
	json_decref(c);

	c = create("", "ConfigMap",
		   "{\"metadata\":{\"name\":\"c\",\"namespace\":\"default\",\"labels\":{\"a\":\"-v\"}}}");
	assert_cause(c, "metadata.labels", "FieldValueInvalid",
		     "\"-v\": a valid label must be an empty string or consist of alphanumeric characters");
	json_decref(c);

	c = create("", "ConfigMap",
		   "{\"metadata\":{\"name\":\"c\",\"namespace\":\"default\",\"labels\":{\"Bad_Prefix/x\":\"v\"}}}");
	assert_cause(c, "metadata.labels", "FieldValueInvalid", "prefix part a lowercase RFC 1123 subdomain");
	json_decref(c);

	/* Annotations: 256 KiB in all. */
	big = malloc(n + 1);
	text = malloc(n + 200);
	assert_non_null(big);
	assert_non_null(text);
	memset(big, 'x', n);
	big[n] = 0;
	snprintf(text, n + 200,
		 "{\"metadata\":{\"name\":\"c\",\"namespace\":\"default\",\"annotations\":{\"k\":\"%s\"}}}",
		 big + 2);
	c = create("", "ConfigMap", text);
	assert_no_causes(c); /* 1 + 262143 bytes: exactly at the limit */
	json_decref(c);
	snprintf(text, n + 200,
		 "{\"metadata\":{\"name\":\"c\",\"namespace\":\"default\",\"annotations\":{\"k\":\"%s\"}}}",
		 big + 1);
	c = create("", "ConfigMap", text);
	assert_cause(c, "metadata.annotations", "FieldValueTooLong", "Too long: must have at most 262144 bytes");
	json_decref(c);
	free(big);
	free(text);
}

static void test_meta_finalizers_owners(void **state)
{
	json_t *c;

	c = create("", "ConfigMap",
		   "{\"metadata\":{\"name\":\"c\",\"namespace\":\"default\",\"finalizers\":[\"kubernetes\",\"example.com/cleanup\"]}}");
	assert_no_causes(c);
	json_decref(c);

	c = create("", "ConfigMap",
		   "{\"metadata\":{\"name\":\"c\",\"namespace\":\"default\",\"finalizers\":[\"cleanup\"]}}");
	assert_cause(c, "metadata.finalizers[0]", "FieldValueInvalid",
		     "\"cleanup\": name is neither a standard finalizer name nor is it fully qualified");
	json_decref(c);

	/* Custom resources may use short finalizer names. */
	c = create("example.com", "Widget",
		   "{\"metadata\":{\"name\":\"w\",\"namespace\":\"default\",\"finalizers\":[\"cleanup\"]}}");
	assert_no_causes(c);
	json_decref(c);
	c = create("example.com", "Widget", "{\"metadata\":{\"name\":\"W_1\",\"namespace\":\"default\"}}");
	assert_cause(c, "metadata.name", "FieldValueInvalid", "a lowercase RFC 1123 subdomain");
	json_decref(c);

	c = create("", "ConfigMap",
		   "{\"metadata\":{\"name\":\"c\",\"namespace\":\"default\",\"finalizers\":[\"orphan\",\"foregroundDeletion\"]}}");
	assert_cause(c, "metadata.finalizers", "FieldValueInvalid",
		     "Invalid value: []string{\"orphan\", \"foregroundDeletion\"}: finalizer orphan and foregroundDeletion cannot be both set");
	json_decref(c);

	c = create("", "ConfigMap",
		   "{\"metadata\":{\"name\":\"c\",\"namespace\":\"default\",\"ownerReferences\":[{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"name\":\"p\",\"uid\":\"u-1\",\"controller\":true}]}}");
	assert_no_causes(c);
	json_decref(c);

	c = create("", "ConfigMap",
		   "{\"metadata\":{\"name\":\"c\",\"namespace\":\"default\",\"ownerReferences\":[{\"kind\":\"Pod\"}]}}");
	assert_cause(c, "metadata.ownerReferences.apiVersion", "FieldValueInvalid", "version must not be empty");
	assert_cause(c, "metadata.ownerReferences.name", "FieldValueInvalid", "Invalid value: \"\": must not be empty");
	assert_cause(c, "metadata.ownerReferences.uid", "FieldValueInvalid", "must not be empty");
	json_decref(c);

	c = create("", "ConfigMap",
		   "{\"metadata\":{\"name\":\"c\",\"namespace\":\"default\",\"ownerReferences\":["
		   "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"name\":\"a\",\"uid\":\"1\",\"controller\":true},"
		   "{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"name\":\"b\",\"uid\":\"2\",\"controller\":true}]}}");
	assert_cause(c, "metadata.ownerReferences", "FieldValueInvalid",
		     "Only one reference can have Controller set to true. Found \"true\" in references for Pod/a and ReplicaSet/b");
	json_decref(c);
}

static void test_meta_update(void **state)
{
	json_t *c;
	const char *old = "{\"metadata\":{\"name\":\"c\",\"namespace\":\"default\",\"uid\":\"u1\","
			  "\"creationTimestamp\":\"2026-01-02T03:04:05Z\",\"generation\":2}}";

	c = update("", "ConfigMap", old,
		   "{\"metadata\":{\"name\":\"c\",\"namespace\":\"default\",\"uid\":\"u1\","
		   "\"creationTimestamp\":\"2026-01-02T03:04:05Z\",\"generation\":2,\"labels\":{\"a\":\"b\"}}}");
	assert_no_causes(c);
	json_decref(c);

	c = update("", "ConfigMap", old,
		   "{\"metadata\":{\"name\":\"c\",\"namespace\":\"default\",\"uid\":\"u2\","
		   "\"creationTimestamp\":\"2026-01-02T03:04:06Z\",\"generation\":1}}");
	assert_cause(c, "metadata.uid", "FieldValueInvalid", "Invalid value: \"u2\": field is immutable");
	assert_cause(c, "metadata.creationTimestamp", "FieldValueInvalid",
		     "Invalid value: 2026-01-02 03:04:06 +0000 UTC: field is immutable");
	assert_cause(c, "metadata.generation", "FieldValueInvalid", "Invalid value: 1: must not be decremented");
	json_decref(c);

	c = update("", "ConfigMap", old,
		   "{\"metadata\":{\"name\":\"d\",\"namespace\":\"default\",\"uid\":\"u1\","
		   "\"creationTimestamp\":\"2026-01-02T03:04:05Z\",\"generation\":2}}");
	assert_cause(c, "metadata.name", "FieldValueInvalid", "Invalid value: \"d\": field is immutable");
	json_decref(c);

	/* No new finalizers once deleting. */
	c = update("", "ConfigMap",
		   "{\"metadata\":{\"name\":\"c\",\"namespace\":\"default\",\"deletionTimestamp\":\"2026-01-02T03:04:05Z\",\"finalizers\":[\"kubernetes\"]}}",
		   "{\"metadata\":{\"name\":\"c\",\"namespace\":\"default\",\"deletionTimestamp\":\"2026-01-02T03:04:05Z\",\"finalizers\":[\"kubernetes\",\"example.com/z\",\"example.com/x\"]}}");
	assert_cause(c, "metadata.finalizers", "FieldValueForbidden",
		     "no new finalizers can be added if the object is being deleted, found new finalizers []string{\"example.com/x\", \"example.com/z\"}");
	json_decref(c);
	c = update("", "ConfigMap",
		   "{\"metadata\":{\"name\":\"c\",\"namespace\":\"default\",\"deletionTimestamp\":\"2026-01-02T03:04:05Z\",\"finalizers\":[\"kubernetes\"]}}",
		   "{\"metadata\":{\"name\":\"c\",\"namespace\":\"default\",\"deletionTimestamp\":\"2026-01-02T03:04:05Z\"}}");
	assert_no_causes(c);
	json_decref(c);
}

/* ------------------------------------------------------------------ */
/* PersistentVolumeClaim                                                */
/* ------------------------------------------------------------------ */

static void test_pvc_defaults(void **state)
{
	json_t *o = defaulted("", "PersistentVolumeClaim",
			      "{" META("d") ",\"spec\":{\"dataSource\":{\"kind\":\"PersistentVolumeClaim\",\"name\":\"src\"}}}");

	assert_string_equal(at_str(o, "spec.volumeMode"), "Filesystem");
	assert_string_equal(at_str(o, "status.phase"), "Pending");
	assert_string_equal(at_str(o, "spec.dataSourceRef.name"), "src");
	assert_string_equal(at_str(o, "spec.dataSourceRef.kind"), "PersistentVolumeClaim");
	json_decref(o);
	o = defaulted("", "PersistentVolumeClaim",
		      "{" META("d") ",\"spec\":{\"volumeMode\":\"Block\",\"dataSourceRef\":{\"apiGroup\":\"snapshot.storage.k8s.io\",\"kind\":\"VolumeSnapshot\",\"name\":\"s\"}}}");
	assert_string_equal(at_str(o, "spec.volumeMode"), "Block");
	assert_string_equal(at_str(o, "spec.dataSource.apiGroup"), "snapshot.storage.k8s.io");
	json_decref(o);
}

static void test_pvc_create(void **state)
{
	json_t *c;

	c = create("", "PersistentVolumeClaim",
		   "{" META("d") ",\"spec\":{\"accessModes\":[\"ReadWriteOncePod\"],\"storageClassName\":\"fast\","
		   "\"resources\":{\"requests\":{\"storage\":\"500M\"}},\"volumeMode\":\"Block\"}}");
	assert_no_causes(c);
	json_decref(c);

	c = create("", "PersistentVolumeClaim", "{" META("d") ",\"spec\":{}}");
	assert_cause(c, "spec.accessModes", "FieldValueRequired", "Required value: at least 1 access mode is required");
	assert_string_equal(cause_message(c, "spec.resources[storage]"), "Required value");
	assert_cause(c, "spec.resources[storage]", "FieldValueRequired", NULL);
	json_decref(c);

	c = create("", "PersistentVolumeClaim",
		   "{" META("d") ",\"spec\":{\"accessModes\":[\"ReadWriteSometimes\"],\"resources\":{\"requests\":{\"storage\":\"1Gi\"}}}}");
	assert_string_equal(cause_message(c, "spec.accessModes"),
			    "Unsupported value: \"ReadWriteSometimes\": supported values: \"ReadOnlyMany\", "
			    "\"ReadWriteMany\", \"ReadWriteOnce\", \"ReadWriteOncePod\"");
	assert_cause(c, "spec.accessModes", "FieldValueNotSupported", NULL);
	json_decref(c);

	c = create("", "PersistentVolumeClaim",
		   "{" META("d") ",\"spec\":{\"accessModes\":[\"ReadWriteOncePod\",\"ReadWriteOnce\"],\"resources\":{\"requests\":{\"storage\":\"1Gi\"}}}}");
	assert_cause(c, "spec.accessModes", "FieldValueForbidden", "may not use ReadWriteOncePod with other access modes");
	json_decref(c);

	c = create("", "PersistentVolumeClaim",
		   "{" META("d") ",\"spec\":{\"accessModes\":[\"ReadWriteOnce\"],\"resources\":{\"requests\":{\"storage\":\"0Gi\"}}}}");
	assert_string_equal(cause_message(c, "spec.resources[storage]"),
			    "Invalid value: \"0\": must be greater than zero");
	json_decref(c);

	c = create("", "PersistentVolumeClaim",
		   "{" META("d") ",\"spec\":{\"accessModes\":[\"ReadWriteOnce\"],\"resources\":{\"requests\":{\"storage\":\"1GB\"}}}}");
	assert_cause(c, "spec.resources[storage]", "FieldValueInvalid", "quantities must match the regular expression");
	json_decref(c);

	c = create("", "PersistentVolumeClaim",
		   "{" META("d") ",\"spec\":{\"accessModes\":[\"ReadWriteOnce\"],\"volumeMode\":\"Raw\",\"storageClassName\":\"Fast\","
		   "\"resources\":{\"requests\":{\"storage\":\"1Gi\"}}}}");
	assert_string_equal(cause_message(c, "spec.volumeMode"),
			    "Unsupported value: \"Raw\": supported values: \"Block\", \"Filesystem\"");
	assert_cause(c, "spec.storageClassName", "FieldValueInvalid", "\"Fast\": a lowercase RFC 1123 subdomain");
	json_decref(c);
}

static void test_pvc_data_source(void **state)
{
	json_t *c;

	c = create("", "PersistentVolumeClaim",
		   "{" META("d") ",\"spec\":{\"accessModes\":[\"ReadWriteOnce\"],\"resources\":{\"requests\":{\"storage\":\"1Gi\"}},"
		   "\"dataSource\":{\"apiGroup\":\"snapshot.storage.k8s.io\",\"kind\":\"VolumeSnapshot\",\"name\":\"snap\"}}}");
	assert_no_causes(c);
	json_decref(c);

	c = create("", "PersistentVolumeClaim",
		   "{" META("d") ",\"spec\":{\"accessModes\":[\"ReadWriteOnce\"],\"resources\":{\"requests\":{\"storage\":\"1Gi\"}},"
		   "\"dataSource\":{\"kind\":\"VolumeSnapshot\"}}}");
	assert_cause(c, "spec.dataSource.name", "FieldValueRequired", NULL);
	assert_cause(c, "spec.dataSource", "FieldValueInvalid",
		     "Invalid value: \"VolumeSnapshot\": must be 'PersistentVolumeClaim' when referencing the default apiGroup");
	json_decref(c);

	c = create("", "PersistentVolumeClaim",
		   "{" META("d") ",\"spec\":{\"accessModes\":[\"ReadWriteOnce\"],\"resources\":{\"requests\":{\"storage\":\"1Gi\"}},"
		   "\"dataSource\":{\"kind\":\"PersistentVolumeClaim\",\"name\":\"a\"},"
		   "\"dataSourceRef\":{\"kind\":\"PersistentVolumeClaim\",\"name\":\"b\"}}}");
	assert_cause(c, "spec", "FieldValueInvalid", "Invalid value: spec.dataSource: must match dataSourceRef");
	json_decref(c);
}

static const char *pvc_bound(const char *size, const char *extra_spec)
{
	static char buf[4][1024];
	static int n;
	char *b = buf[n++ % 4];

	snprintf(b, sizeof(buf[0]),
		 "{\"metadata\":{\"name\":\"d\",\"namespace\":\"default\",\"uid\":\"u\"},\"spec\":{\"accessModes\":[\"ReadWriteOnce\"],"
		 "\"storageClassName\":\"fast\",\"volumeName\":\"pv-1\",\"resources\":{\"requests\":{\"storage\":\"%s\"}}%s},"
		 "\"status\":{\"phase\":\"Bound\"}}",
		 size, extra_spec);
	return b;
}

static json_t *lookup_class(void *ctx, const char *group, const char *resource, const char *ns,
			    const char *name)
{
	const char *expand = ctx;

	assert_string_equal(group, "storage.k8s.io");
	assert_string_equal(resource, "storageclasses");
	assert_null(ns);
	if (strcmp(name, "fast") != 0)
		return NULL;
	return json_pack("{s:s, s:b}", "provisioner", "dynvol.csi", "allowVolumeExpansion",
			 strcmp(expand, "yes") == 0);
}

static void test_pvc_update(void **state)
{
	dv_validate_env env = { lookup_class, (void *)"yes" };
	json_t *c, *old, *obj;
	char *why;

	c = update_env(&env, "", "PersistentVolumeClaim", pvc_bound("1Gi", ""), pvc_bound("2Gi", ""));
	assert_no_causes(c);
	json_decref(c);
	c = update_env(&env, "", "PersistentVolumeClaim", pvc_bound("1Gi", ""), pvc_bound("1024Mi", ""));
	assert_no_causes(c);
	json_decref(c);

	c = update_env(&env, "", "PersistentVolumeClaim", pvc_bound("2Gi", ""), pvc_bound("1Gi", ""));
	assert_string_equal(cause_message(c, "spec.resources.requests.storage"),
			    "Forbidden: field can not be less than previous value");
	json_decref(c);

	c = update_env(&env, "", "PersistentVolumeClaim", pvc_bound("1Gi", ""),
		       pvc_bound("1Gi", ",\"storageClassName\":\"slow\""));
	assert_string_equal(cause_message(c, "spec"),
			    "Forbidden: spec is immutable after creation except resources.requests and "
			    "volumeAttributesClassName for bound claims");
	json_decref(c);

	c = update_env(&env, "", "PersistentVolumeClaim", pvc_bound("1Gi", ""),
		       pvc_bound("1Gi", ",\"volumeAttributesClassName\":\"gold\""));
	assert_no_causes(c);
	json_decref(c);

	/* An unbound claim may not be resized; the binder may set volumeName once. */
	c = update(
		"", "PersistentVolumeClaim",
		"{" META("d") ",\"spec\":{\"accessModes\":[\"ReadWriteOnce\"],\"resources\":{\"requests\":{\"storage\":\"1Gi\"}}}}",
		"{" META("d") ",\"spec\":{\"accessModes\":[\"ReadWriteOnce\"],\"resources\":{\"requests\":{\"storage\":\"2Gi\"}}}}");
	assert_cause(c, "spec", "FieldValueForbidden", "spec is immutable after creation");
	json_decref(c);
	c = update(
		"", "PersistentVolumeClaim",
		"{" META("d") ",\"spec\":{\"accessModes\":[\"ReadWriteOnce\"],\"resources\":{\"requests\":{\"storage\":\"1Gi\"}}}}",
		"{" META("d") ",\"spec\":{\"accessModes\":[\"ReadWriteOnce\"],\"volumeName\":\"pv-9\",\"resources\":{\"requests\":{\"storage\":\"1Gi\"}}}}");
	assert_no_causes(c);
	json_decref(c);

	/* Admission: growth needs allowVolumeExpansion on the class. */
	old = J(pvc_bound("1Gi", ""));
	obj = J(pvc_bound("2Gi", ""));
	assert_null(dv_admit_update(&env, "", "PersistentVolumeClaim", obj, old));
	env.ctx = (void *)"no";
	why = dv_admit_update(&env, "", "PersistentVolumeClaim", obj, old);
	assert_non_null(why);
	assert_string_equal(why, "only dynamically provisioned pvc can be resized and the storageclass "
				 "that provisions the pvc must support resize");
	free(why);
	/* No growth, nothing to admit. */
	assert_null(dv_admit_update(&env, "", "PersistentVolumeClaim", old, old));
	assert_null(dv_admit_update(&env, "", "ConfigMap", obj, old));
	json_decref(old);
	json_decref(obj);
}

static void test_pvc_status(void **state)
{
	json_t *old = J(pvc_bound("1Gi", "")), *obj = J(pvc_bound("1Gi", "")), *c = json_array();

	json_object_set_new(json_object_get(obj, "status"), "capacity", json_pack("{s:s}", "storage", "1Gi"));
	dv_validate_status_update(NULL, "", "PersistentVolumeClaim", obj, old, c);
	assert_no_causes(c);
	json_object_set_new(json_object_get(obj, "status"), "phase", json_string("Gone"));
	json_object_set_new(json_object_get(obj, "status"), "capacity", json_pack("{s:s}", "storage", "-1Gi"));
	dv_validate_status_update(NULL, "", "PersistentVolumeClaim", obj, old, c);
	assert_cause(c, "status.phase", "FieldValueNotSupported",
		     "Unsupported value: \"Gone\": supported values: \"Pending\", \"Bound\", \"Lost\"");
	assert_cause(c, "status.capacity[storage]", "FieldValueInvalid", "\"-1Gi\": must be greater than or equal to 0");
	json_decref(c);
	json_decref(old);
	json_decref(obj);
}

/* ------------------------------------------------------------------ */
/* PersistentVolume                                                     */
/* ------------------------------------------------------------------ */

#define PV_CSI                                                                                  \
	"{" CMETA("pv-1") ",\"spec\":{\"capacity\":{\"storage\":\"10Gi\"},\"accessModes\":[\"ReadWriteOnce\"]," \
	"\"csi\":{\"driver\":\"dynvol.csi.example.com\",\"volumeHandle\":\"vol-1\"},"                     \
	"\"claimRef\":{\"namespace\":\"default\",\"name\":\"d\"}}}"

static void test_pv_create(void **state)
{
	json_t *c, *o;

	o = defaulted("", "PersistentVolume", PV_CSI);
	assert_string_equal(at_str(o, "spec.persistentVolumeReclaimPolicy"), "Retain");
	assert_string_equal(at_str(o, "spec.volumeMode"), "Filesystem");
	assert_string_equal(at_str(o, "status.phase"), "Pending");
	json_decref(o);

	c = create("", "PersistentVolume", PV_CSI);
	assert_no_causes(c);
	json_decref(c);

	c = create("", "PersistentVolume", "{" CMETA("pv-1") ",\"spec\":{}}");
	assert_cause(c, "spec.capacity", "FieldValueRequired", NULL);
	assert_cause(c, "spec.capacity", "FieldValueNotSupported",
		     "Unsupported value: core.ResourceList(nil): supported values: \"storage\"");
	assert_cause(c, "spec.accessModes", "FieldValueRequired", NULL);
	assert_cause(c, "spec", "FieldValueRequired", "Required value: must specify a volume type");
	json_decref(c);

	c = create("", "PersistentVolume",
		   "{" CMETA("pv-1") ",\"spec\":{\"capacity\":{\"storage\":\"1Gi\"},\"accessModes\":[\"ReadWriteOnce\"],"
		   "\"hostPath\":{\"path\":\"/tmp/x\"},\"csi\":{\"driver\":\"d.example.com\",\"volumeHandle\":\"h\"},"
		   "\"persistentVolumeReclaimPolicy\":\"Recycle2\"}}");
	assert_cause(c, "spec.csi", "FieldValueForbidden", "Forbidden: may not specify more than 1 volume type");
	assert_string_equal(cause_message(c, "spec.persistentVolumeReclaimPolicy"),
			    "Unsupported value: \"Recycle2\": supported values: \"Delete\", \"Recycle\", \"Retain\"");
	json_decref(c);

	c = create("", "PersistentVolume",
		   "{" CMETA("pv-1") ",\"spec\":{\"capacity\":{\"storage\":\"1Gi\"},\"accessModes\":[\"ReadWriteOnce\"],"
		   "\"csi\":{\"driver\":\"\"}}}");
	assert_cause(c, "spec.csi.driver", "FieldValueRequired", NULL);
	assert_cause(c, "spec.csi.volumeHandle", "FieldValueRequired", NULL);
	json_decref(c);

	c = create("", "PersistentVolume",
		   "{" CMETA("pv-1") ",\"spec\":{\"capacity\":{\"storage\":\"1Gi\"},\"accessModes\":[\"ReadWriteOnce\"],"
		   "\"local\":{\"path\":\"data\"}}}");
	assert_cause(c, "spec.local.path", "FieldValueInvalid", "\"data\": must be an absolute path");
	assert_cause(c, "spec.nodeAffinity", "FieldValueRequired", "Local volume requires node affinity");
	json_decref(c);

	c = create("", "PersistentVolume",
		   "{" CMETA("pv-1") ",\"spec\":{\"capacity\":{\"storage\":\"1Gi\"},\"accessModes\":[\"ReadWriteOnce\"],"
		   "\"local\":{\"path\":\"/mnt/d\"},\"nodeAffinity\":{\"required\":{\"nodeSelectorTerms\":[{\"matchExpressions\":"
		   "[{\"key\":\"kubernetes.io/hostname\",\"operator\":\"In\",\"values\":[\"node-1\"]}]}]}}}}");
	assert_no_causes(c);
	json_decref(c);

	c = create("", "PersistentVolume",
		   "{" CMETA("pv-1") ",\"spec\":{\"capacity\":{\"storage\":\"1Gi\"},\"accessModes\":[\"ReadWriteOnce\"],"
		   "\"local\":{\"path\":\"/mnt/d\"},\"nodeAffinity\":{\"required\":{\"nodeSelectorTerms\":[{\"matchExpressions\":"
		   "[{\"key\":\"kubernetes.io/hostname\",\"operator\":\"Near\"}]}]}}}}");
	assert_cause(c, "spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].operator",
		     "FieldValueInvalid", "\"Near\": not a valid selector operator");
	json_decref(c);
	c = create("", "PersistentVolume",
		   "{" CMETA("pv-1") ",\"spec\":{\"capacity\":{\"storage\":\"1Gi\"},\"accessModes\":[\"ReadWriteOnce\"],"
		   "\"nfs\":{\"server\":\"nfs.local\",\"path\":\"/x\"},\"nodeAffinity\":{\"required\":{}}}}");
	assert_cause(c, "spec.nodeAffinity.required.nodeSelectorTerms", "FieldValueRequired",
		     "must have at least one node selector term");
	json_decref(c);

	c = create("", "PersistentVolume",
		   "{" CMETA("pv-1") ",\"spec\":{\"capacity\":{\"storage\":\"1Gi\",\"cpu\":\"1\"},\"accessModes\":[\"ReadWriteOnce\"],"
		   "\"hostPath\":{\"path\":\"/a/../b\",\"type\":\"Dir\"}}}");
	assert_cause(c, "spec.capacity", "FieldValueNotSupported", "supported values: \"storage\"");
	assert_cause(c, "spec.hostPath.path", "FieldValueInvalid", "must not contain '..'");
	assert_cause(c, "spec.hostPath.type", "FieldValueNotSupported", "\"Dir\": supported values: \"\", \"BlockDevice\"");
	json_decref(c);
}

static void test_pv_update_status(void **state)
{
	json_t *c, *old, *obj;

	c = update("", "PersistentVolume", PV_CSI,
		   "{" CMETA("pv-1") ",\"spec\":{\"capacity\":{\"storage\":\"20Gi\"},\"accessModes\":[\"ReadWriteOnce\"],"
		   "\"csi\":{\"driver\":\"dynvol.csi.example.com\",\"volumeHandle\":\"vol-1\"}}}");
	assert_no_causes(c);
	json_decref(c);
	c = update("", "PersistentVolume", PV_CSI,
		   "{" CMETA("pv-1") ",\"spec\":{\"capacity\":{\"storage\":\"10Gi\"},\"accessModes\":[\"ReadWriteOnce\"],"
		   "\"csi\":{\"driver\":\"dynvol.csi.example.com\",\"volumeHandle\":\"vol-2\"}}}");
	assert_cause(c, "spec.persistentvolumesource", "FieldValueForbidden",
		     "spec.persistentvolumesource is immutable after creation");
	json_decref(c);

	old = defaulted("", "PersistentVolume", PV_CSI);
	obj = defaulted("", "PersistentVolume", PV_CSI);
	c = json_array();
	json_object_set_new(json_object_get(obj, "status"), "phase", json_string("Bound"));
	dv_validate_status_update(NULL, "", "PersistentVolume", obj, old, c);
	assert_no_causes(c);
	json_object_set_new(json_object_get(obj, "status"), "phase", json_string("Lost"));
	dv_validate_status_update(NULL, "", "PersistentVolume", obj, old, c);
	assert_cause(c, "status.phase", "FieldValueNotSupported", "\"Lost\": supported values: \"Pending\", \"Available\"");
	json_decref(c);
	json_decref(old);
	json_decref(obj);
}

/* ------------------------------------------------------------------ */
/* storage.k8s.io                                                       */
/* ------------------------------------------------------------------ */

#define SC(extra) "{" CMETA("fast") ",\"provisioner\":\"dynvol.csi.example.com\"" extra "}"

static void test_storage_class(void **state)
{
	json_t *c, *o;
	dv_buf params;

	o = defaulted("storage.k8s.io", "StorageClass", SC(""));
	assert_string_equal(at_str(o, "reclaimPolicy"), "Delete");
	assert_string_equal(at_str(o, "volumeBindingMode"), "Immediate");
	json_decref(o);

	c = create("storage.k8s.io", "StorageClass",
		   SC(",\"parameters\":{\"pool\":\"a\"},\"reclaimPolicy\":\"Retain\",\"volumeBindingMode\":\"WaitForFirstConsumer\","
		      "\"allowVolumeExpansion\":true,\"allowedTopologies\":[{\"matchLabelExpressions\":[{\"key\":\"topology.kubernetes.io/zone\",\"values\":[\"a\"]}]}]"));
	assert_no_causes(c);
	json_decref(c);

	c = create("storage.k8s.io", "StorageClass", "{" CMETA("fast") "}");
	assert_string_equal(cause_message(c, "provisioner"), "Required value");
	json_decref(c);
	c = create("storage.k8s.io", "StorageClass",
		   "{" CMETA("fast") ",\"provisioner\":\"a/b/c\",\"reclaimPolicy\":\"Recycle\",\"volumeBindingMode\":\"Later\"}");
	assert_cause(c, "provisioner", "FieldValueInvalid", "a qualified name must consist of alphanumeric characters");
	assert_string_equal(cause_message(c, "reclaimPolicy"),
			    "Unsupported value: \"Recycle\": supported values: \"Delete\", \"Retain\"");
	assert_string_equal(cause_message(c, "volumeBindingMode"),
			    "Unsupported value: \"Later\": supported values: \"Immediate\", \"WaitForFirstConsumer\"");
	json_decref(c);
	c = create_raw("storage.k8s.io", "StorageClass", SC(""));
	assert_cause(c, "volumeBindingMode", "FieldValueRequired", NULL);
	json_decref(c);

	/* 513 parameters. */
	dv_buf_init(&params, 0);
	dv_buf_appends(&params, "{" CMETA("fast") ",\"provisioner\":\"p.example.com\",\"parameters\":{");
	for (int i = 0; i < 513; i++)
		dv_buf_appendf(&params, "%s\"k%d\":\"v\"", i ? "," : "", i);
	dv_buf_appends(&params, "}}");
	c = create("storage.k8s.io", "StorageClass", (char *)params.data);
	assert_cause(c, "parameters", "FieldValueTooLong", "Too long: must have at most 512 bytes");
	json_decref(c);
	dv_buf_free(&params);

	c = create("storage.k8s.io", "StorageClass",
		   SC(",\"allowedTopologies\":[{\"matchLabelExpressions\":[{\"key\":\"zone\",\"values\":[]},{\"key\":\"zone\",\"values\":[\"a\",\"a\"]}]}]"));
	assert_cause(c, "allowedTopologies[0].matchLabelExpressions[0].values", "FieldValueRequired", NULL);
	assert_cause(c, "allowedTopologies[0].matchLabelExpressions[1].key", "FieldValueDuplicate", "Duplicate value: \"zone\"");
	assert_cause(c, "allowedTopologies[0].matchLabelExpressions[1].values[1]", "FieldValueDuplicate", "\"a\"");
	json_decref(c);
}

static void test_storage_class_update(void **state)
{
	json_t *c;

	c = update("storage.k8s.io", "StorageClass", SC(",\"parameters\":{\"a\":\"1\"}"),
		   SC(",\"parameters\":{\"a\":\"1\"},\"allowVolumeExpansion\":true,\"metadata\":{\"name\":\"fast\",\"labels\":{\"x\":\"y\"}}"));
	assert_no_causes(c);
	json_decref(c);
	c = update("storage.k8s.io", "StorageClass", SC(",\"parameters\":{\"a\":\"1\"}"),
		   "{" CMETA("fast") ",\"provisioner\":\"other.example.com\",\"parameters\":{\"a\":\"2\"},"
		   "\"reclaimPolicy\":\"Retain\",\"volumeBindingMode\":\"WaitForFirstConsumer\"}");
	assert_string_equal(cause_message(c, "parameters"), "Forbidden: updates to parameters are forbidden.");
	assert_string_equal(cause_message(c, "provisioner"), "Forbidden: updates to provisioner are forbidden.");
	assert_string_equal(cause_message(c, "reclaimPolicy"), "Forbidden: updates to reclaimPolicy are forbidden.");
	assert_string_equal(cause_message(c, "volumeBindingMode"),
			    "Invalid value: \"WaitForFirstConsumer\": field is immutable");
	json_decref(c);
}

static void test_csi_driver(void **state)
{
	json_t *c, *o;
	const char *drv = "{" CMETA("dynvol.csi.example.com") ",\"spec\":{}}";

	o = defaulted("storage.k8s.io", "CSIDriver", drv);
	assert_true(json_is_true(at(o, "spec.attachRequired")));
	assert_true(json_is_false(at(o, "spec.podInfoOnMount")));
	assert_true(json_is_false(at(o, "spec.storageCapacity")));
	assert_string_equal(at_str(o, "spec.fsGroupPolicy"), "ReadWriteOnceWithFSType");
	assert_string_equal(json_string_value(json_array_get(at(o, "spec.volumeLifecycleModes"), 0)), "Persistent");
	json_decref(o);

	c = create("storage.k8s.io", "CSIDriver", drv);
	assert_no_causes(c);
	json_decref(c);
	c = create_raw("storage.k8s.io", "CSIDriver", drv);
	assert_cause(c, "spec.attachedRequired", "FieldValueRequired", NULL);
	assert_cause(c, "spec.podInfoOnMount", "FieldValueRequired", NULL);
	json_decref(c);
	c = create("storage.k8s.io", "CSIDriver",
		   "{" CMETA("d.example.com") ",\"spec\":{\"fsGroupPolicy\":\"Any\",\"volumeLifecycleModes\":[\"Forever\"],"
		   "\"tokenRequests\":[{\"audience\":\"a\",\"expirationSeconds\":60},{\"audience\":\"a\"}]}}");
	assert_cause(c, "spec.fsGroupPolicy", "FieldValueNotSupported",
		     "\"Any\": supported values: \"File\", \"None\", \"ReadWriteOnceWithFSType\"");
	assert_cause(c, "spec.volumeLifecycleModes", "FieldValueNotSupported", "\"Persistent\", \"Ephemeral\"");
	assert_cause(c, "spec.tokenRequests[0].expirationSeconds", "FieldValueInvalid",
		     "Invalid value: 60: may not specify a duration less than 10 minutes");
	assert_cause(c, "spec.tokenRequests[1].audience", "FieldValueDuplicate", NULL);
	json_decref(c);

	c = update("storage.k8s.io", "CSIDriver", drv,
		   "{" CMETA("dynvol.csi.example.com") ",\"spec\":{\"attachRequired\":false,\"podInfoOnMount\":true}}");
	assert_string_equal(cause_message(c, "spec.attachedRequired"), "Invalid value: false: field is immutable");
	json_decref(c);
}

static void test_csi_node(void **state)
{
	const char *ok = "{" CMETA("node-1") ",\"spec\":{\"drivers\":[{\"name\":\"dynvol.csi.example.com\","
			 "\"nodeID\":\"node-1\",\"topologyKeys\":[\"topology.dynvol.io/node\"]}]}}";
	json_t *c;

	c = create("storage.k8s.io", "CSINode", ok);
	assert_no_causes(c);
	json_decref(c);
	c = create("storage.k8s.io", "CSINode",
		   "{" CMETA("node-1") ",\"spec\":{\"drivers\":[{\"name\":\"Bad_Driver\",\"topologyKeys\":[\"k\",\"k\"]},"
		   "{\"name\":\"Bad_Driver\",\"nodeID\":\"n\",\"allocatable\":{\"count\":-1}}]}}");
	assert_cause(c, "spec.drivers[0].name", "FieldValueInvalid", "a lowercase RFC 1123 subdomain");
	assert_cause(c, "spec.drivers[0].nodeID", "FieldValueRequired", NULL);
	assert_cause(c, "spec.drivers[0]", "FieldValueDuplicate", "\"k\"");
	assert_cause(c, "spec.drivers[1].name", "FieldValueDuplicate", "\"Bad_Driver\"");
	assert_cause(c, "spec.drivers[1].allocatable.count", "FieldValueInvalid", "-1: must be greater than or equal to 0");
	json_decref(c);
	c = update("storage.k8s.io", "CSINode", ok,
		   "{" CMETA("node-1") ",\"spec\":{\"drivers\":[{\"name\":\"dynvol.csi.example.com\",\"nodeID\":\"node-2\","
		   "\"topologyKeys\":[\"topology.dynvol.io/node\"]}]}}");
	assert_cause(c, "spec.drivers", "FieldValueInvalid", "field is immutable");
	json_decref(c);
}

#define VA(src) \
	"{" CMETA("csi-123") ",\"spec\":{\"attacher\":\"dynvol.csi.example.com\",\"nodeName\":\"node-1\",\"source\":" src "}}"

static void test_volume_attachment(void **state)
{
	json_t *c;

	c = create("storage.k8s.io", "VolumeAttachment", VA("{\"persistentVolumeName\":\"pv-1\"}"));
	assert_no_causes(c);
	json_decref(c);
	c = create("storage.k8s.io", "VolumeAttachment", VA("{}"));
	assert_string_equal(cause_message(c, "spec.source"),
			    "Required value: must specify exactly one of inlineVolumeSpec and persistentVolumeName");
	json_decref(c);
	c = create("storage.k8s.io", "VolumeAttachment",
		   VA("{\"persistentVolumeName\":\"pv-1\",\"inlineVolumeSpec\":{\"csi\":{\"driver\":\"d\",\"volumeHandle\":\"h\"}}}"));
	assert_cause(c, "spec.source", "FieldValueForbidden", "must specify exactly one of inlineVolumeSpec and persistentVolumeName");
	json_decref(c);
	c = create("storage.k8s.io", "VolumeAttachment",
		   "{" CMETA("csi-1") ",\"spec\":{\"nodeName\":\"Node_1\",\"source\":{\"inlineVolumeSpec\":{\"accessModes\":[\"ReadWriteOnce\"],"
		   "\"csi\":{\"driver\":\"d.example.com\",\"volumeHandle\":\"h\"},\"persistentVolumeReclaimPolicy\":\"Delete\"}}}}");
	assert_cause(c, "spec.attacher", "FieldValueRequired", NULL);
	assert_cause(c, "spec.nodeName", "FieldValueInvalid", "\"Node_1\"");
	assert_cause(c, "spec.source.inlineVolumeSpec.persistentVolumeReclaimPolicy", "FieldValueForbidden",
		     "may only be Retain in the context of inline volumes");
	json_decref(c);
	c = update("storage.k8s.io", "VolumeAttachment", VA("{\"persistentVolumeName\":\"pv-1\"}"),
		   VA("{\"persistentVolumeName\":\"pv-2\"}"));
	assert_cause(c, "spec", "FieldValueInvalid",
		     "Invalid value: storage.VolumeAttachmentSpec{Attacher:\"dynvol.csi.example.com\", "
		     "Source:storage.VolumeAttachmentSource{PersistentVolumeName:\"pv-2\"");
	assert_cause(c, "spec", "FieldValueInvalid", "field is immutable");
	json_decref(c);
}

static void test_csi_storage_capacity(void **state)
{
	const char *ok = "{" META("cap-1") ",\"storageClassName\":\"fast\",\"capacity\":\"100Gi\","
			 "\"nodeTopology\":{\"matchLabels\":{\"topology.dynvol.io/node\":\"node-1\"}}}";
	json_t *c;

	c = create("storage.k8s.io", "CSIStorageCapacity", ok);
	assert_no_causes(c);
	json_decref(c);
	c = create("storage.k8s.io", "CSIStorageCapacity",
		   "{" META("cap-1") ",\"storageClassName\":\"Fast\",\"capacity\":\"-1\","
		   "\"nodeTopology\":{\"matchExpressions\":[{\"key\":\"k\",\"operator\":\"In\"}]}}");
	assert_cause(c, "storageClassName", "FieldValueInvalid", "\"Fast\"");
	assert_cause(c, "capacity", "FieldValueInvalid", "Invalid value: \"-1\": must be greater than or equal to 0");
	assert_cause(c, "nodeTopology.matchExpressions[0].values", "FieldValueRequired",
		     "must be specified when `operator` is 'In' or 'NotIn'");
	json_decref(c);
	c = update("storage.k8s.io", "CSIStorageCapacity", ok,
		   "{" META("cap-1") ",\"storageClassName\":\"slow\",\"capacity\":\"50Gi\","
		   "\"nodeTopology\":{\"matchLabels\":{\"topology.dynvol.io/node\":\"node-1\"}}}");
	assert_string_equal(cause_message(c, "storageClassName"), "Invalid value: \"slow\": field is immutable");
	json_decref(c);
}

static void test_volume_attributes_class(void **state)
{
	const char *ok = "{" CMETA("gold") ",\"driverName\":\"dynvol.csi.example.com\",\"parameters\":{\"iops\":\"1000\"}}";
	json_t *c;

	c = create("storage.k8s.io", "VolumeAttributesClass", ok);
	assert_no_causes(c);
	json_decref(c);
	c = create("storage.k8s.io", "VolumeAttributesClass", "{" CMETA("gold") "}");
	assert_cause(c, "driverName", "FieldValueRequired", NULL);
	assert_string_equal(cause_message(c, "parameters"), "Required value: must contain at least one key/value pair");
	json_decref(c);
	c = update("storage.k8s.io", "VolumeAttributesClass", ok,
		   "{" CMETA("gold") ",\"driverName\":\"x.example.com\",\"parameters\":{\"iops\":\"2000\"}}");
	assert_string_equal(cause_message(c, "parameters"), "Forbidden: updates to parameters are forbidden.");
	assert_string_equal(cause_message(c, "driverName"), "Forbidden: updates to driverName are forbidden.");
	json_decref(c);
}

/* ------------------------------------------------------------------ */
/* snapshot.storage.k8s.io                                              */
/* ------------------------------------------------------------------ */

static void test_volume_snapshot(void **state)
{
	const char *ok = "{" META("snap") ",\"spec\":{\"volumeSnapshotClassName\":\"csi\",\"source\":{\"persistentVolumeClaimName\":\"d\"}}}";
	json_t *c;

	c = create("snapshot.storage.k8s.io", "VolumeSnapshot", ok);
	assert_no_causes(c);
	json_decref(c);
	c = create("snapshot.storage.k8s.io", "VolumeSnapshot",
		   "{" META("snap") ",\"spec\":{\"volumeSnapshotClassName\":\"\",\"source\":{\"persistentVolumeClaimName\":\"d\",\"volumeSnapshotContentName\":\"c\"}}}");
	assert_string_equal(cause_message(c, "spec.source"),
			    "Invalid value: \"object\": exactly one of volumeSnapshotContentName and persistentVolumeClaimName must be set");
	assert_cause(c, "spec.volumeSnapshotClassName", "FieldValueInvalid", "must not be the empty string when set");
	json_decref(c);
	c = create("snapshot.storage.k8s.io", "VolumeSnapshot", "{" META("snap") ",\"spec\":{\"source\":{}}}");
	assert_cause(c, "spec.source", "FieldValueInvalid", "exactly one of");
	json_decref(c);
	c = create("snapshot.storage.k8s.io", "VolumeSnapshot", "{" META("snap") "}");
	assert_cause(c, "spec", "FieldValueRequired", NULL);
	json_decref(c);
	c = update("snapshot.storage.k8s.io", "VolumeSnapshot", ok,
		   "{" META("snap") ",\"spec\":{\"volumeSnapshotClassName\":\"csi\",\"source\":{\"persistentVolumeClaimName\":\"e\"}}}");
	assert_string_equal(cause_message(c, "spec.source.persistentVolumeClaimName"),
			    "Invalid value: \"string\": persistentVolumeClaimName is immutable");
	json_decref(c);
}

#define VSC(spec) "{" CMETA("snapcontent-1") ",\"spec\":" spec "}"
#define VSC_OK \
	VSC("{\"deletionPolicy\":\"Delete\",\"driver\":\"dynvol.csi.example.com\",\"source\":{\"volumeHandle\":\"vol-1\"}," \
	    "\"volumeSnapshotRef\":{\"name\":\"snap\",\"namespace\":\"default\"}}")

static void test_volume_snapshot_content(void **state)
{
	json_t *c;

	c = create("snapshot.storage.k8s.io", "VolumeSnapshotContent", VSC_OK);
	assert_no_causes(c);
	json_decref(c);
	c = create("snapshot.storage.k8s.io", "VolumeSnapshotContent", VSC("{}"));
	assert_cause(c, "spec.deletionPolicy", "FieldValueRequired", NULL);
	assert_cause(c, "spec.driver", "FieldValueRequired", NULL);
	assert_cause(c, "spec.source", "FieldValueRequired", NULL);
	assert_cause(c, "spec.volumeSnapshotRef", "FieldValueRequired", NULL);
	json_decref(c);
	c = create("snapshot.storage.k8s.io", "VolumeSnapshotContent",
		   VSC("{\"deletionPolicy\":\"Keep\",\"driver\":\"d\",\"source\":{\"volumeHandle\":\"v\",\"snapshotHandle\":\"s\"},"
		       "\"volumeSnapshotRef\":{\"name\":\"snap\"}}"));
	assert_string_equal(cause_message(c, "spec.deletionPolicy"),
			    "Unsupported value: \"Keep\": supported values: \"Delete\", \"Retain\"");
	assert_cause(c, "spec.source", "FieldValueInvalid", "exactly one of volumeHandle and snapshotHandle must be set");
	assert_cause(c, "spec.volumeSnapshotRef", "FieldValueInvalid",
		     "both spec.volumeSnapshotRef.name and spec.volumeSnapshotRef.namespace must be set");
	json_decref(c);
	c = update("snapshot.storage.k8s.io", "VolumeSnapshotContent", VSC_OK,
		   VSC("{\"deletionPolicy\":\"Retain\",\"driver\":\"dynvol.csi.example.com\",\"source\":{\"volumeHandle\":\"vol-2\"},"
		       "\"volumeSnapshotRef\":{\"name\":\"snap\",\"namespace\":\"default\"}}"));
	assert_string_equal(cause_message(c, "spec.source.volumeHandle"),
			    "Invalid value: \"string\": Spec.Source.VolumeHandle is immutable");
	json_decref(c);
}

static void test_volume_snapshot_class(void **state)
{
	json_t *c;

	c = create("snapshot.storage.k8s.io", "VolumeSnapshotClass",
		   "{" CMETA("csi") ",\"driver\":\"dynvol.csi.example.com\",\"deletionPolicy\":\"Retain\"}");
	assert_no_causes(c);
	json_decref(c);
	c = create("snapshot.storage.k8s.io", "VolumeSnapshotClass", "{" CMETA("csi") ",\"deletionPolicy\":\"Never\"}");
	assert_cause(c, "driver", "FieldValueRequired", NULL);
	assert_cause(c, "deletionPolicy", "FieldValueNotSupported", "\"Never\": supported values: \"Delete\", \"Retain\"");
	json_decref(c);
}

/* ------------------------------------------------------------------ */
/* Secret, ConfigMap, Lease, Namespace, Node, Event                     */
/* ------------------------------------------------------------------ */

static void test_secret(void **state)
{
	json_t *c, *o;
	char *big, *text;
	size_t n = 1400000; /* base64 of > 1 MiB */

	o = defaulted("", "Secret", "{" META("s") ",\"stringData\":{\"password\":\"hunter2\"},\"data\":{\"user\":\"YWRtaW4=\"}}");
	assert_string_equal(at_str(o, "type"), "Opaque");
	assert_string_equal(at_str(o, "data.password"), "aHVudGVyMg==");
	assert_string_equal(at_str(o, "data.user"), "YWRtaW4=");
	assert_null(at(o, "stringData"));
	json_decref(o);

	c = create("", "Secret", "{" META("s") ",\"data\":{\"tls.crt\":\"YQ==\",\"tls.key\":\"Yg==\"},\"type\":\"kubernetes.io/tls\"}");
	assert_no_causes(c);
	json_decref(c);
	c = create("", "Secret", "{" META("s") ",\"data\":{\"bad key\":\"YQ==\",\"x\":\"not base64!\"},\"type\":\"kubernetes.io/tls\"}");
	assert_cause(c, "data[bad key]", "FieldValueInvalid", "a valid config key must consist of alphanumeric characters, '-', '_' or '.'");
	assert_string_equal(cause_message(c, "data[x]"),
			    "Invalid value: \"<secret contents redacted>\": illegal base64 data at input byte 3");
	assert_cause(c, "data[tls.crt]", "FieldValueRequired", NULL);
	assert_cause(c, "data[tls.key]", "FieldValueRequired", NULL);
	/* Data never shows in messages. */
	{
		char *dump = json_dumps(c, 0);

		assert_null(strstr(dump, "not base64"));
		free(dump);
	}
	json_decref(c);

	big = malloc(n + 1);
	text = malloc(n + 100);
	assert_non_null(big);
	assert_non_null(text);
	memset(big, 'A', n);
	big[n] = 0;
	snprintf(text, n + 100, "{" META("s") ",\"data\":{\"k\":\"%s\"}}", big);
	c = create("", "Secret", text);
	assert_cause(c, "data", "FieldValueTooLong", "must have at most 1048576 bytes");
	json_decref(c);
	free(big);
	free(text);

	c = update("", "Secret", "{" META("s") ",\"immutable\":true,\"data\":{\"a\":\"YQ==\"}}",
		   "{" META("s") ",\"immutable\":true,\"data\":{\"a\":\"Yg==\"},\"type\":\"Opaque\"}");
	assert_string_equal(cause_message(c, "data"), "Forbidden: field is immutable when `immutable` is set");
	json_decref(c);
	c = update("", "Secret", "{" META("s") ",\"data\":{\"a\":\"YQ==\"}}",
		   "{" META("s") ",\"data\":{\"a\":\"Yg==\"},\"type\":\"kubernetes.io/basic-auth\"}");
	assert_string_equal(cause_message(c, "type"), "Invalid value: \"kubernetes.io/basic-auth\": field is immutable");
	json_decref(c);
	c = update("", "Secret", "{" META("s") ",\"data\":{\"a\":\"YQ==\"}}", "{" META("s") ",\"data\":{\"a\":\"Yg==\"}}");
	assert_no_causes(c);
	json_decref(c);
}

static void test_configmap(void **state)
{
	json_t *c;
	char *big, *text;
	size_t n = 1024 * 1024 + 1;

	c = create("", "ConfigMap", "{" META("c") ",\"data\":{\"app.conf\":\"x=1\"},\"binaryData\":{\"blob\":\"AAEC\"}}");
	assert_no_causes(c);
	json_decref(c);
	c = create("", "ConfigMap", "{" META("c") ",\"data\":{\"..hidden\":\"x\",\"dup\":\"1\"},\"binaryData\":{\"dup\":\"AAEC\"}}");
	assert_cause(c, "data[..hidden]", "FieldValueInvalid", "must not start with '..'");
	assert_cause(c, "data[dup]", "FieldValueInvalid", "duplicate of key present in binaryData");
	json_decref(c);

	big = malloc(n + 1);
	text = malloc(n + 100);
	assert_non_null(big);
	assert_non_null(text);
	memset(big, 'x', n);
	big[n] = 0;
	snprintf(text, n + 100, "{" META("c") ",\"data\":{\"k\":\"%s\"}}", big);
	c = create("", "ConfigMap", text);
	assert_cause(c, "", "FieldValueTooLong", "Too long: must have at most 1048576 bytes");
	json_decref(c);
	free(big);
	free(text);

	c = update("", "ConfigMap", "{" META("c") ",\"immutable\":true,\"data\":{\"a\":\"1\"}}",
		   "{" META("c") ",\"data\":{\"a\":\"1\"}}");
	assert_string_equal(cause_message(c, "immutable"), "Forbidden: field is immutable when `immutable` is set");
	json_decref(c);
	c = update("", "ConfigMap", "{" META("c") ",\"data\":{\"a\":\"1\"}}", "{" META("c") ",\"data\":{\"a\":\"2\"}}");
	assert_no_causes(c);
	json_decref(c);
}

static void test_lease_event(void **state)
{
	json_t *c;

	c = create("coordination.k8s.io", "Lease",
		   "{" META("l") ",\"spec\":{\"holderIdentity\":\"a\",\"leaseDurationSeconds\":15,\"leaseTransitions\":0}}");
	assert_no_causes(c);
	json_decref(c);
	c = create("coordination.k8s.io", "Lease", "{" META("l") ",\"spec\":{\"leaseDurationSeconds\":0,\"leaseTransitions\":-1}}");
	assert_string_equal(cause_message(c, "spec.leaseDurationSeconds"), "Invalid value: 0: must be greater than 0");
	assert_cause(c, "spec.leaseTransitions", "FieldValueInvalid", "must be greater than or equal to 0");
	json_decref(c);

	c = create("", "Event",
		   "{" META("e.1") ",\"involvedObject\":{\"kind\":\"Pod\",\"namespace\":\"default\",\"name\":\"p\"},\"reason\":\"Started\"}");
	assert_no_causes(c);
	json_decref(c);
	c = create("", "Event", "{" META("e.1") ",\"involvedObject\":{\"kind\":\"Pod\",\"namespace\":\"other\",\"name\":\"p\"}}");
	assert_string_equal(cause_message(c, "involvedObject.namespace"),
			    "Invalid value: \"other\": does not match event.namespace");
	json_decref(c);
	c = create("", "Event",
		   "{" META("e.2") ",\"eventTime\":\"2026-01-01T00:00:00.000000Z\",\"involvedObject\":{\"namespace\":\"default\"}}");
	assert_cause(c, "reportingComponent", "FieldValueRequired", NULL);
	assert_cause(c, "reportingInstance", "FieldValueRequired", NULL);
	assert_cause(c, "action", "FieldValueRequired", NULL);
	assert_cause(c, "reason", "FieldValueRequired", NULL);
	json_decref(c);
}

static void test_namespace_node(void **state)
{
	json_t *c, *o, *obj, *old;

	o = defaulted("", "Namespace", "{" CMETA("team-a") "}");
	assert_string_equal(at_str(o, "status.phase"), "Active");
	assert_string_equal(json_string_value(json_array_get(at(o, "spec.finalizers"), 0)), "kubernetes");
	assert_string_equal(json_string_value(json_object_get(at(o, "metadata.labels"), "kubernetes.io/metadata.name")), "team-a");
	json_decref(o);
	c = create("", "Namespace", "{" CMETA("team-a") ",\"spec\":{\"finalizers\":[\"custom\"]}}");
	assert_cause(c, "spec.finalizers", "FieldValueInvalid", "name is neither a standard finalizer name nor is it fully qualified");
	json_decref(c);
	old = defaulted("", "Namespace", "{" CMETA("team-a") "}");
	obj = defaulted("", "Namespace", "{" CMETA("team-a") ",\"status\":{\"phase\":\"Gone\"}}");
	c = json_array();
	dv_validate_status_update(NULL, "", "Namespace", obj, old, c);
	assert_cause(c, "status.phase", "FieldValueNotSupported", "\"Active\", \"Terminating\"");
	json_decref(c);
	json_decref(obj);
	json_decref(old);

	o = defaulted("", "Node", "{" CMETA("node-1") ",\"status\":{\"capacity\":{\"cpu\":\"4\"}}}");
	assert_string_equal(at_str(o, "status.allocatable.cpu"), "4");
	json_decref(o);
	c = create("", "Node", "{" CMETA("node-1") ",\"spec\":{\"taints\":[{\"key\":\"dedicated\",\"value\":\"db\",\"effect\":\"NoSchedule\"}]}}");
	assert_no_causes(c);
	json_decref(c);
	c = create("", "Node", "{" CMETA("node-1") ",\"spec\":{\"taints\":[{\"key\":\"dedicated\",\"effect\":\"Sometimes\"},{\"effect\":\"NoSchedule\"}]}}");
	assert_cause(c, "spec.taints[0].effect", "FieldValueNotSupported",
		     "\"Sometimes\": supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\"");
	assert_cause(c, "spec.taints[1].key", "FieldValueRequired", NULL);
	json_decref(c);
	c = update("", "Node", "{" CMETA("node-1") ",\"spec\":{\"providerID\":\"dynvol://1\"}}",
		   "{" CMETA("node-1") ",\"spec\":{\"providerID\":\"dynvol://2\"}}");
	assert_cause(c, "spec.providerID", "FieldValueForbidden", "node updates may not change providerID except from \"\" to valid");
	json_decref(c);
}

/* ------------------------------------------------------------------ */
/* Pod                                                                  */
/* ------------------------------------------------------------------ */

#define POD(spec) "{" META("web") ",\"spec\":" spec "}"
#define POD_RUN POD("{\"containers\":[{\"name\":\"web\",\"image\":\"nginx\"}]}")

static void test_pod_defaults(void **state)
{
	json_t *o = defaulted("", "Pod",
			      POD("{\"containers\":[{\"name\":\"web\",\"image\":\"nginx\",\"ports\":[{\"containerPort\":80}]},"
				  "{\"name\":\"side\",\"image\":\"busybox:1.36\",\"resources\":{\"limits\":{\"cpu\":\"1\"}}},"
				  "{\"name\":\"pin\",\"image\":\"registry.local:5000/app@sha256:abc\"}],"
				  "\"volumes\":[{\"name\":\"scratch\"},{\"name\":\"cfg\",\"configMap\":{\"name\":\"c\"}}]}"));
	json_t *c0 = json_array_get(at(o, "spec.containers"), 0), *c1 = json_array_get(at(o, "spec.containers"), 1);
	json_t *c2 = json_array_get(at(o, "spec.containers"), 2);

	assert_string_equal(at_str(o, "spec.restartPolicy"), "Always");
	assert_string_equal(at_str(o, "spec.dnsPolicy"), "ClusterFirst");
	assert_string_equal(at_str(o, "spec.schedulerName"), "default-scheduler");
	assert_int_equal(json_integer_value(at(o, "spec.terminationGracePeriodSeconds")), 30);
	assert_true(json_is_object(at(o, "spec.securityContext")));
	assert_string_equal(at_str(o, "spec.serviceAccountName"), "default");
	assert_int_equal(json_array_size(at(o, "spec.tolerations")), 2);
	assert_string_equal(at_str(c0, "terminationMessagePath"), "/dev/termination-log");
	assert_string_equal(at_str(c0, "terminationMessagePolicy"), "File");
	assert_string_equal(at_str(c0, "imagePullPolicy"), "Always");
	assert_true(json_is_object(json_object_get(c0, "resources")));
	assert_int_equal(json_object_size(json_object_get(c0, "resources")), 0);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(c0, "ports"), 0), "protocol")), "TCP");
	assert_string_equal(at_str(c1, "imagePullPolicy"), "IfNotPresent");
	assert_string_equal(at_str(c1, "resources.requests.cpu"), "1");
	assert_string_equal(at_str(c2, "imagePullPolicy"), "IfNotPresent");
	assert_true(json_is_object(json_object_get(json_array_get(at(o, "spec.volumes"), 0), "emptyDir")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_array_get(at(o, "spec.volumes"), 1), "configMap"), "defaultMode")), 420);
	assert_string_equal(at_str(o, "status.phase"), "Pending");
	assert_string_equal(at_str(o, "status.qosClass"), "Burstable");
	json_decref(o);

	o = defaulted("", "Pod", POD_RUN);
	assert_string_equal(at_str(o, "status.qosClass"), "BestEffort");
	json_decref(o);
	o = defaulted("", "Pod", POD("{\"containers\":[{\"name\":\"a\",\"image\":\"x:latest\",\"resources\":{\"limits\":{\"cpu\":\"1\",\"memory\":\"1Gi\"}}}]}"));
	assert_string_equal(at_str(o, "status.qosClass"), "Guaranteed");
	assert_string_equal(at_str(json_array_get(at(o, "spec.containers"), 0), "imagePullPolicy"), "Always");
	json_decref(o);
}

static void test_pod_create(void **state)
{
	json_t *c;

	c = create("", "Pod",
		   POD("{\"containers\":[{\"name\":\"web\",\"image\":\"nginx\",\"volumeMounts\":[{\"name\":\"data\",\"mountPath\":\"/data\"}]}],"
		       "\"volumes\":[{\"name\":\"data\",\"persistentVolumeClaim\":{\"claimName\":\"d\"}},"
		       "{\"name\":\"inline\",\"csi\":{\"driver\":\"dynvol.csi.example.com\"}},"
		       "{\"name\":\"eph\",\"ephemeral\":{\"volumeClaimTemplate\":{\"spec\":{\"accessModes\":[\"ReadWriteOnce\"],"
		       "\"resources\":{\"requests\":{\"storage\":\"1Gi\"}}}}}}]}"));
	assert_no_causes(c);
	json_decref(c);

	c = create("", "Pod", POD("{}"));
	assert_string_equal(cause_message(c, "spec.containers"), "Required value");
	json_decref(c);

	c = create("", "Pod", POD("{\"containers\":[{\"name\":\"web\"},{\"name\":\"web\",\"image\":\"x\"}],\"restartPolicy\":\"Sometimes\"}"));
	assert_cause(c, "spec.containers[0].image", "FieldValueRequired", NULL);
	assert_cause(c, "spec.containers[1].name", "FieldValueDuplicate", "Duplicate value: \"web\"");
	assert_string_equal(cause_message(c, "spec.restartPolicy"),
			    "Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"");
	json_decref(c);

	c = create("", "Pod",
		   POD("{\"containers\":[{\"name\":\"web\",\"image\":\"nginx\",\"volumeMounts\":[{\"name\":\"nope\",\"mountPath\":\"/a\"},"
		       "{\"name\":\"v\",\"mountPath\":\"/a\"}]}],"
		       "\"volumes\":[{\"name\":\"p\",\"persistentVolumeClaim\":{}},{\"name\":\"v\",\"emptyDir\":{}},{\"name\":\"v\",\"emptyDir\":{}},"
		       "{\"name\":\"c\",\"csi\":{}},{\"name\":\"e\",\"ephemeral\":{}},"
		       "{\"name\":\"t\",\"ephemeral\":{\"volumeClaimTemplate\":{\"metadata\":{\"name\":\"x\"},\"spec\":{}}}},"
		       "{\"name\":\"two\",\"emptyDir\":{},\"hostPath\":{\"path\":\"/x\"}}]}"));
	assert_string_equal(cause_message(c, "spec.containers[0].volumeMounts[0].name"), "Not found: \"nope\"");
	assert_cause(c, "spec.containers[0].volumeMounts[0].name", "FieldValueNotFound", NULL);
	assert_cause(c, "spec.containers[0].volumeMounts[1].mountPath", "FieldValueInvalid", "\"/a\": must be unique");
	assert_cause(c, "spec.volumes[0].persistentVolumeClaim.claimName", "FieldValueRequired", NULL);
	assert_cause(c, "spec.volumes[2].name", "FieldValueDuplicate", "\"v\"");
	assert_cause(c, "spec.volumes[3].csi.driver", "FieldValueRequired", NULL);
	assert_cause(c, "spec.volumes[4].ephemeral.volumeClaimTemplate", "FieldValueRequired", NULL);
	assert_cause(c, "spec.volumes[5].ephemeral.volumeClaimTemplate.metadata.name", "FieldValueForbidden",
		     "cannot be set for an ephemeral volume");
	assert_cause(c, "spec.volumes[5].ephemeral.volumeClaimTemplate.spec.accessModes", "FieldValueRequired",
		     "at least 1 access mode is required");
	assert_cause(c, "spec.volumes[5].ephemeral.volumeClaimTemplate.spec.resources[storage]", "FieldValueRequired", NULL);
	assert_cause(c, "spec.volumes[6].hostPath", "FieldValueForbidden", "may not specify more than 1 volume type");
	json_decref(c);

	c = create("", "Pod",
		   POD("{\"containers\":[{\"name\":\"Web\",\"image\":\"nginx\",\"imagePullPolicy\":\"Sometimes\",\"ports\":[{\"containerPort\":70000}],"
		       "\"resources\":{\"requests\":{\"memory\":\"2Gi\"},\"limits\":{\"memory\":\"1Gi\"}}}]}"));
	assert_cause(c, "spec.containers[0].name", "FieldValueInvalid", "a lowercase RFC 1123 label");
	assert_cause(c, "spec.containers[0].imagePullPolicy", "FieldValueNotSupported", "\"Always\", \"IfNotPresent\", \"Never\"");
	assert_cause(c, "spec.containers[0].ports[0].containerPort", "FieldValueInvalid",
		     "Invalid value: 70000: must be between 1 and 65535, inclusive");
	assert_cause(c, "spec.containers[0].resources.requests[memory]", "FieldValueInvalid",
		     "must be less than or equal to memory limit of 1Gi");
	json_decref(c);
}

static void test_pod_update(void **state)
{
	const char *old = POD("{\"containers\":[{\"name\":\"web\",\"image\":\"nginx:1.25\"}],\"activeDeadlineSeconds\":100}");
	json_t *c;

	c = update("", "Pod", old,
		   POD("{\"containers\":[{\"name\":\"web\",\"image\":\"nginx:1.26\"}],\"activeDeadlineSeconds\":50,"
		       "\"tolerations\":[{\"key\":\"a\",\"operator\":\"Exists\"}]}"));
	assert_no_causes(c);
	json_decref(c);

	c = update("", "Pod", old,
		   POD("{\"containers\":[{\"name\":\"web\",\"image\":\"nginx:1.25\",\"ports\":[{\"containerPort\":80}]}],\"activeDeadlineSeconds\":100}"));
	assert_string_equal(cause_message(c, "spec"),
			    "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
			    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
			    "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be "
			    "set to 1 if it was previously negative)");
	json_decref(c);

	c = update("", "Pod", old,
		   POD("{\"containers\":[{\"name\":\"web\",\"image\":\"nginx:1.25\"}],\"activeDeadlineSeconds\":200}"));
	assert_string_equal(cause_message(c, "spec.activeDeadlineSeconds"),
			    "Invalid value: 200: must be less than or equal to previous value");
	json_decref(c);

	c = update("", "Pod", old, POD("{\"containers\":[{\"name\":\"web\",\"image\":\"a\"},{\"name\":\"b\",\"image\":\"b\"}]}"));
	assert_string_equal(cause_message(c, "spec.containers"), "Forbidden: pod updates may not add or remove containers");
	json_decref(c);

	c = update("", "Pod",
		   POD("{\"containers\":[{\"name\":\"web\",\"image\":\"a\"}],\"tolerations\":[{\"key\":\"x\",\"operator\":\"Exists\"}]}"),
		   POD("{\"containers\":[{\"name\":\"web\",\"image\":\"a\"}],\"tolerations\":[{\"key\":\"y\",\"operator\":\"Exists\"}]}"));
	assert_cause(c, "spec.tolerations", "FieldValueForbidden", "existing toleration can not be modified except its tolerationSeconds");
	json_decref(c);
}

/* ------------------------------------------------------------------ */
/* CustomResourceDefinition                                             */
/* ------------------------------------------------------------------ */

#define CRD(name, group, versions)                                                              \
	"{" CMETA(name) ",\"spec\":{\"group\":\"" group "\",\"scope\":\"Namespaced\","               \
	"\"names\":{\"plural\":\"widgets\",\"kind\":\"Widget\"},\"versions\":" versions "}}"
#define V1_OK "[{\"name\":\"v1\",\"served\":true,\"storage\":true,\"schema\":{\"openAPIV3Schema\":{\"type\":\"object\"}}}]"

static void test_crd(void **state)
{
	json_t *c, *o;

	o = defaulted("apiextensions.k8s.io", "CustomResourceDefinition", CRD("widgets.example.com", "example.com", V1_OK));
	assert_string_equal(at_str(o, "spec.names.singular"), "widget");
	assert_string_equal(at_str(o, "spec.names.listKind"), "WidgetList");
	assert_string_equal(at_str(o, "spec.conversion.strategy"), "None");
	assert_string_equal(json_string_value(json_array_get(at(o, "status.storedVersions"), 0)), "v1");
	json_decref(o);

	c = create("apiextensions.k8s.io", "CustomResourceDefinition", CRD("widgets.example.com", "example.com", V1_OK));
	assert_no_causes(c);
	json_decref(c);

	c = create("apiextensions.k8s.io", "CustomResourceDefinition", CRD("widget.example.com", "example.com", V1_OK));
	assert_string_equal(cause_message(c, "metadata.name"),
			    "Invalid value: \"widget.example.com\": must be spec.names.plural+\".\"+spec.group");
	json_decref(c);

	c = create("apiextensions.k8s.io", "CustomResourceDefinition",
		   CRD("widgets.example", "example",
		       "[{\"name\":\"v1\",\"served\":true,\"storage\":true},{\"name\":\"v2\",\"served\":true,\"storage\":true,"
		       "\"schema\":{\"openAPIV3Schema\":{\"type\":\"object\"}}}]"));
	assert_cause(c, "spec.group", "FieldValueInvalid", "\"example\": should be a domain with at least one dot");
	assert_cause(c, "spec.versions", "FieldValueInvalid", "must have exactly one version marked as storage version");
	assert_cause(c, "spec.versions[0].schema.openAPIV3Schema", "FieldValueRequired", "schemas are required");
	json_decref(c);

	c = create("apiextensions.k8s.io", "CustomResourceDefinition", CRD("widgets.example.com", "example.com", "[]"));
	assert_string_equal(cause_message(c, "spec.versions"),
			    "Invalid value: []apiextensions.CustomResourceDefinitionVersion(nil): must have exactly one "
			    "version marked as storage version");
	json_decref(c);

	c = create("apiextensions.k8s.io", "CustomResourceDefinition",
		   "{" CMETA("x.example.com") ",\"spec\":{\"group\":\"example.com\",\"scope\":\"Global\",\"names\":{\"plural\":\"X\"},\"versions\":" V1_OK "}}");
	assert_string_equal(cause_message(c, "spec.scope"),
			    "Unsupported value: \"Global\": supported values: \"Cluster\", \"Namespaced\"");
	assert_cause(c, "spec.names.kind", "FieldValueRequired", NULL);
	assert_cause(c, "spec.names.plural", "FieldValueInvalid", "a DNS-1035 label must consist of lower case alphanumeric characters");
	json_decref(c);

	c = update("apiextensions.k8s.io", "CustomResourceDefinition", CRD("widgets.example.com", "example.com", V1_OK),
		   "{" CMETA("widgets.example.com") ",\"spec\":{\"group\":\"example.com\",\"scope\":\"Cluster\","
		   "\"names\":{\"plural\":\"widgets\",\"kind\":\"Widget\"},\"versions\":" V1_OK "}}");
	assert_string_equal(cause_message(c, "spec.scope"), "Invalid value: \"Cluster\": field is immutable");
	json_decref(c);
}


/* Rules not covered above, each once failing and (where it applies) once
 * passing. */
static void test_more_rules(void **state)
{
	json_t *c, *obj, *old;

	/* Secret types. */
	c = create("", "Secret", "{" META("s") ",\"type\":\"kubernetes.io/service-account-token\"}");
	assert_cause(c, "metadata.annotations[kubernetes.io/service-account.name]", "FieldValueRequired", NULL);
	json_decref(c);
	c = create("", "Secret", "{" META("s") ",\"type\":\"kubernetes.io/basic-auth\"}");
	assert_cause(c, "data[username]", "FieldValueRequired", NULL);
	assert_cause(c, "data[password]", "FieldValueRequired", NULL);
	json_decref(c);
	c = create("", "Secret", "{" META("s") ",\"type\":\"kubernetes.io/basic-auth\",\"data\":{\"username\":\"YQ==\"}}");
	assert_no_causes(c);
	json_decref(c);
	c = create("", "Secret", "{" META("s") ",\"type\":\"kubernetes.io/dockerconfigjson\"}");
	assert_cause(c, "data[.dockerconfigjson]", "FieldValueRequired", NULL);
	json_decref(c);

	/* CSI PV secret references. */
	c = create("", "PersistentVolume",
		   "{" CMETA("pv-1") ",\"spec\":{\"capacity\":{\"storage\":\"1Gi\"},\"accessModes\":[\"ReadWriteOnce\"],"
		   "\"csi\":{\"driver\":\"d.example.com\",\"volumeHandle\":\"h\",\"nodeStageSecretRef\":{\"name\":\"s\"},"
		   "\"controllerExpandSecretRef\":{\"name\":\"s\",\"namespace\":\"default\"}}}}");
	assert_cause(c, "spec.csi.nodeStageSecretRef.namespace", "FieldValueRequired", NULL);
	assert_null(find_cause(c, "spec.csi.controllerExpandSecretRef.namespace", "FieldValueRequired", NULL));
	json_decref(c);

	/* PV volumeMode is immutable; a controllerExpandSecretRef may be added. */
	c = update("", "PersistentVolume", PV_CSI,
		   "{" CMETA("pv-1") ",\"spec\":{\"capacity\":{\"storage\":\"10Gi\"},\"accessModes\":[\"ReadWriteOnce\"],\"volumeMode\":\"Block\","
		   "\"csi\":{\"driver\":\"dynvol.csi.example.com\",\"volumeHandle\":\"vol-1\",\"controllerExpandSecretRef\":{\"name\":\"s\",\"namespace\":\"n\"}}}}");
	assert_string_equal(cause_message(c, "volumeMode"), "Invalid value: \"Block\": field is immutable");
	assert_null(find_cause(c, "spec.persistentvolumesource", "FieldValueForbidden", NULL));
	json_decref(c);

	/* PVC: volumeAttributesClassName may not go back to nil; a namespaced
	 * dataSourceRef excludes dataSource. */
	c = update("", "PersistentVolumeClaim", pvc_bound("1Gi", ",\"volumeAttributesClassName\":\"gold\""), pvc_bound("1Gi", ""));
	assert_cause(c, "spec.volumeAttributesClassName", "FieldValueForbidden", "update from non-nil value to nil is forbidden");
	json_decref(c);
	c = create("", "PersistentVolumeClaim",
		   "{" META("d") ",\"spec\":{\"accessModes\":[\"ReadWriteOnce\"],\"resources\":{\"requests\":{\"storage\":\"1Gi\"}},"
		   "\"dataSource\":{\"kind\":\"PersistentVolumeClaim\",\"name\":\"a\"},"
		   "\"dataSourceRef\":{\"kind\":\"PersistentVolumeClaim\",\"name\":\"a\",\"namespace\":\"other\"}}}");
	assert_cause(c, "spec", "FieldValueInvalid", "may not be specified when dataSourceRef.namespace is specified");
	json_decref(c);

	/* Pod: terminationGracePeriodSeconds may go from negative to 1 only. */
	c = update("", "Pod", POD("{\"containers\":[{\"name\":\"a\",\"image\":\"a\"}],\"terminationGracePeriodSeconds\":-1}"),
		   POD("{\"containers\":[{\"name\":\"a\",\"image\":\"a\"}],\"terminationGracePeriodSeconds\":1}"));
	assert_null(find_cause(c, "spec", "FieldValueForbidden", NULL));
	json_decref(c);
	c = update("", "Pod", POD("{\"containers\":[{\"name\":\"a\",\"image\":\"a\"}],\"terminationGracePeriodSeconds\":30}"),
		   POD("{\"containers\":[{\"name\":\"a\",\"image\":\"a\"}],\"terminationGracePeriodSeconds\":1}"));
	assert_cause(c, "spec", "FieldValueForbidden", "pod updates may not change fields other than");
	json_decref(c);

	/* Pod status: phases, and a bound pod keeps its node. */
	old = defaulted("", "Pod", POD("{\"nodeName\":\"node-1\",\"containers\":[{\"name\":\"a\",\"image\":\"a\"}]}"));
	obj = defaulted("", "Pod", POD("{\"nodeName\":\"node-1\",\"containers\":[{\"name\":\"a\",\"image\":\"a\"}]}"));
	c = json_array();
	json_object_set_new(json_object_get(obj, "status"), "phase", json_string("Running"));
	dv_validate_status_update(NULL, "", "Pod", obj, old, c);
	assert_no_causes(c);
	json_object_set_new(json_object_get(obj, "status"), "phase", json_string("Sleeping"));
	dv_validate_status_update(NULL, "", "Pod", obj, old, c);
	assert_cause(c, "status.phase", "FieldValueNotSupported", "\"Pending\", \"Running\", \"Succeeded\", \"Failed\", \"Unknown\"");
	json_decref(c);
	json_decref(obj);
	json_decref(old);

	/* VolumeAttachment status. */
	old = J(VA("{\"persistentVolumeName\":\"pv-1\"}"));
	obj = J(VA("{\"persistentVolumeName\":\"pv-1\"}"));
	c = json_array();
	json_object_set_new(obj, "status", json_pack("{s:b, s:{s:s}}", "attached", 1, "attachmentMetadata", "devicePath", "/dev/x"));
	dv_validate_status_update(NULL, "storage.k8s.io", "VolumeAttachment", obj, old, c);
	assert_no_causes(c);
	{
		char *longmsg = malloc(2000);

		assert_non_null(longmsg);
		memset(longmsg, 'e', 1999);
		longmsg[1999] = 0;
		json_object_set_new(json_object_get(obj, "status"), "attachError", json_pack("{s:s}", "message", longmsg));
		free(longmsg);
	}
	dv_validate_status_update(NULL, "storage.k8s.io", "VolumeAttachment", obj, old, c);
	assert_cause(c, "status.attachError.message", "FieldValueTooLong", NULL);
	json_decref(c);
	json_decref(obj);
	json_decref(old);

	/* Node podCIDRs, once set, stay. */
	c = update("", "Node", "{" CMETA("node-1") ",\"spec\":{\"podCIDRs\":[\"10.0.0.0/24\"]}}",
		   "{" CMETA("node-1") ",\"spec\":{\"podCIDRs\":[\"10.0.1.0/24\"]}}");
	assert_cause(c, "spec.podCIDRs", "FieldValueForbidden", "node updates may not change podCIDR except from \"\" to valid");
	json_decref(c);
	c = update("", "Node", "{" CMETA("node-1") "}", "{" CMETA("node-1") ",\"spec\":{\"podCIDRs\":[\"10.0.1.0/24\"],\"providerID\":\"p\"}}");
	assert_no_causes(c);
	json_decref(c);

	/* An established CRD keeps its names. */
	c = update("apiextensions.k8s.io", "CustomResourceDefinition",
		   "{" CMETA("widgets.example.com") ",\"spec\":{\"group\":\"example.com\",\"scope\":\"Namespaced\","
		   "\"names\":{\"plural\":\"widgets\",\"kind\":\"Widget\"},\"versions\":" V1_OK "},"
		   "\"status\":{\"conditions\":[{\"type\":\"Established\",\"status\":\"True\"}]}}",
		   "{" CMETA("widgets.example.com") ",\"spec\":{\"group\":\"example.com\",\"scope\":\"Namespaced\","
		   "\"names\":{\"plural\":\"widgets\",\"kind\":\"Gadget\"},\"versions\":" V1_OK "}}");
	assert_string_equal(cause_message(c, "spec.names.kind"), "Invalid value: \"Gadget\": field is immutable");
	json_decref(c);

	/* Snapshot content: sourceVolumeMode stays once set. */
	c = update("snapshot.storage.k8s.io", "VolumeSnapshotContent",
		   VSC("{\"deletionPolicy\":\"Delete\",\"driver\":\"d\",\"source\":{\"snapshotHandle\":\"s\"},\"sourceVolumeMode\":\"Block\","
		       "\"volumeSnapshotRef\":{\"name\":\"snap\",\"namespace\":\"default\"}}"),
		   VSC("{\"deletionPolicy\":\"Delete\",\"driver\":\"d\",\"source\":{\"snapshotHandle\":\"s\"},"
		       "\"volumeSnapshotRef\":{\"name\":\"snap\",\"namespace\":\"default\"}}"));
	assert_string_equal(cause_message(c, "spec"), "Invalid value: \"object\": sourceVolumeMode is required once set");
	json_decref(c);
	c = update("snapshot.storage.k8s.io", "VolumeSnapshot",
		   "{" META("snap") ",\"spec\":{\"source\":{\"volumeSnapshotContentName\":\"c\"}}}",
		   "{" META("snap") ",\"spec\":{\"source\":{\"persistentVolumeClaimName\":\"d\"}}}");
	assert_cause(c, "spec.source", "FieldValueInvalid", "volumeSnapshotContentName is required once set");
	json_decref(c);
}

/* Objects of the wrong shape (members of other JSON types, nulls, empty
 * containers) must never crash a validator: they are treated as unset. */
static void test_wrong_shapes(void **state)
{
	static const struct {
		const char *group, *kind;
	} kinds[] = {
		{ "", "PersistentVolumeClaim" },	  { "", "PersistentVolume" },
		{ "", "Pod" },				  { "", "Secret" },
		{ "", "ConfigMap" },			  { "", "Namespace" },
		{ "", "Node" },				  { "", "Event" },
		{ "storage.k8s.io", "StorageClass" },	  { "storage.k8s.io", "CSIDriver" },
		{ "storage.k8s.io", "CSINode" },	  { "storage.k8s.io", "VolumeAttachment" },
		{ "storage.k8s.io", "CSIStorageCapacity" }, { "storage.k8s.io", "VolumeAttributesClass" },
		{ "snapshot.storage.k8s.io", "VolumeSnapshot" },
		{ "snapshot.storage.k8s.io", "VolumeSnapshotContent" },
		{ "snapshot.storage.k8s.io", "VolumeSnapshotClass" },
		{ "coordination.k8s.io", "Lease" },
		{ "apiextensions.k8s.io", "CustomResourceDefinition" },
		{ "example.com", "Widget" },
	};
	static const char *const shapes[] = {
		"{}",
		"{\"metadata\":[],\"spec\":\"x\",\"status\":1}",
		("{\"metadata\":{\"name\":5,\"labels\":[1],\"annotations\":\"a\",\"finalizers\":{},\"ownerReferences\":[1,null]},"
		"\"spec\":{\"accessModes\":[1,null],\"resources\":{\"requests\":{\"storage\":[]}},\"containers\":[1,{\"ports\":[1]}],"
		"\"volumes\":[null,{\"name\":1}],\"source\":[],\"drivers\":[1],\"versions\":[1],\"names\":1,\"capacity\":[],"
		"\"csi\":1,\"nodeAffinity\":{\"required\":{\"nodeSelectorTerms\":[1,{\"matchExpressions\":[1]}]}},\"taints\":[1]},"
		"\"data\":{\"k\":1},\"binaryData\":[],\"parameters\":{\"a\":1},\"allowedTopologies\":[1,{\"matchLabelExpressions\":[1]}],"
		"\"nodeTopology\":{\"matchExpressions\":[1]},\"capacity\":{},\"stringData\":{\"a\":1}}"),
		("{\"metadata\":{\"name\":\"x\",\"namespace\":\"default\"},\"spec\":{\"volumes\":[{\"name\":\"v\",\"ephemeral\":{\"volumeClaimTemplate\":{\"metadata\":[],\"spec\":[]}}}],"
		"\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"volumeMounts\":[1,{}],\"volumeDevices\":[1,{}],\"resources\":{\"limits\":{\"cpu\":1},\"requests\":[]}}]}}"),
	};

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
			for (size_t j = 0; j < sizeof(shapes) / sizeof(shapes[0]); j++) {
				json_t *obj = J(shapes[i]), *old = J(shapes[j]), *c = json_array();
				char *why, *msg;

				dv_default(kinds[k].group, kinds[k].kind, obj);
				dv_default(kinds[k].group, kinds[k].kind, old);
				dv_validate_create(NULL, kinds[k].group, kinds[k].kind, true, obj, c);
				dv_validate_update(NULL, kinds[k].group, kinds[k].kind, true, obj, old, c);
				dv_validate_status_update(NULL, kinds[k].group, kinds[k].kind, obj, old, c);
				why = dv_admit_update(NULL, kinds[k].group, kinds[k].kind, obj, old);
				free(why);
				msg = dv_invalid_message(kinds[k].kind, "x", c);
				assert_non_null(msg);
				assert_non_null(strstr(msg, " is invalid"));
				free(msg);
				json_decref(c);
				json_decref(obj);
				json_decref(old);
			}
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quantity_canonical),
		cmocka_unit_test(test_quantity_invalid),
		cmocka_unit_test(test_quantity_bytes_and_cmp),
		cmocka_unit_test(test_status_message),
		cmocka_unit_test(test_meta_names),
		cmocka_unit_test(test_meta_namespace),
		cmocka_unit_test(test_meta_labels_annotations),
		cmocka_unit_test(test_meta_finalizers_owners),
		cmocka_unit_test(test_meta_update),
		cmocka_unit_test(test_pvc_defaults),
		cmocka_unit_test(test_pvc_create),
		cmocka_unit_test(test_pvc_data_source),
		cmocka_unit_test(test_pvc_update),
		cmocka_unit_test(test_pvc_status),
		cmocka_unit_test(test_pv_create),
		cmocka_unit_test(test_pv_update_status),
		cmocka_unit_test(test_storage_class),
		cmocka_unit_test(test_storage_class_update),
		cmocka_unit_test(test_csi_driver),
		cmocka_unit_test(test_csi_node),
		cmocka_unit_test(test_volume_attachment),
		cmocka_unit_test(test_csi_storage_capacity),
		cmocka_unit_test(test_volume_attributes_class),
		cmocka_unit_test(test_volume_snapshot),
		cmocka_unit_test(test_volume_snapshot_content),
		cmocka_unit_test(test_volume_snapshot_class),
		cmocka_unit_test(test_secret),
		cmocka_unit_test(test_configmap),
		cmocka_unit_test(test_lease_event),
		cmocka_unit_test(test_namespace_node),
		cmocka_unit_test(test_pod_defaults),
		cmocka_unit_test(test_pod_create),
		cmocka_unit_test(test_pod_update),
		cmocka_unit_test(test_crd),
		cmocka_unit_test(test_more_rules),
		cmocka_unit_test(test_wrong_shapes),
	};
	int fds = testutil_count_open_fds();
	int failed = cmocka_run_group_tests_name("validate", tests, NULL, NULL);

	return failed + testutil_fd_leak(fds);
}

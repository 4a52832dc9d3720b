/*
 * resources.c - the served resources and their discovery documents (see
 * resources.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resources.h"

typedef struct {
	const char *group, *version, *resource, *kind, *singular;
	bool namespaced, status;
	const char *shorts[4];
	const char *categories[2];
} builtin;

/* The storage slice of the Kubernetes API, plus what the flow around it
 * needs (Pods, Nodes, Secrets, Events, Leases, CRDs). Short names and
 * categories are kube-apiserver's. */
static const builtin BUILTINS[] = {
	{ "", "v1", "namespaces", "Namespace", "namespace", false, true, { "ns" }, { NULL } },
	{ "", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", "persistentvolumeclaim",
	  true, true, { "pvc" }, { NULL } },
	{ "", "v1", "persistentvolumes", "PersistentVolume", "persistentvolume", false, true,
	  { "pv" }, { NULL } },
	{ "", "v1", "pods", "Pod", "pod", true, true, { "po" }, { "all" } },
	{ "", "v1", "nodes", "Node", "node", false, true, { "no" }, { NULL } },
	{ "", "v1", "secrets", "Secret", "secret", true, false, { NULL }, { NULL } },
	{ "", "v1", "configmaps", "ConfigMap", "configmap", true, false, { "cm" }, { NULL } },
	{ "", "v1", "events", "Event", "event", true, false, { "ev" }, { NULL } },
	{ "events.k8s.io", "v1", "events", "Event", "event", true, false, { "ev" }, { NULL } },
	{ "storage.k8s.io", "v1", "storageclasses", "StorageClass", "storageclass", false, false,
	  { "sc" }, { NULL } },
	{ "storage.k8s.io", "v1", "csidrivers", "CSIDriver", "csidriver", false, false, { NULL },
	  { NULL } },
	{ "storage.k8s.io", "v1", "csinodes", "CSINode", "csinode", false, false, { NULL },
	  { NULL } },
	{ "storage.k8s.io", "v1", "volumeattachments", "VolumeAttachment", "volumeattachment",
	  false, true, { NULL }, { NULL } },
	{ "storage.k8s.io", "v1", "csistoragecapacities", "CSIStorageCapacity",
	  "csistoragecapacity", true, false, { NULL }, { NULL } },
	{ "storage.k8s.io", "v1beta1", "volumeattributesclasses", "VolumeAttributesClass",
	  "volumeattributesclass", false, false, { "vac" }, { NULL } },
	{ "snapshot.storage.k8s.io", "v1", "volumesnapshots", "VolumeSnapshot", "volumesnapshot",
	  true, true, { "vs" }, { NULL } },
	{ "snapshot.storage.k8s.io", "v1", "volumesnapshotcontents", "VolumeSnapshotContent",
	  "volumesnapshotcontent", false, true, { "vsc", "vscs" }, { NULL } },
	{ "snapshot.storage.k8s.io", "v1", "volumesnapshotclasses", "VolumeSnapshotClass",
	  "volumesnapshotclass", false, false, { "vsclass", "vsclasses" }, { NULL } },
	{ "coordination.k8s.io", "v1", "leases", "Lease", "lease", true, false, { NULL },
	  { NULL } },
	{ "apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition",
	  "customresourcedefinition", false, true, { "crd", "crds" }, { "api-extensions" } },
};

static const char *const VERBS[] = { "create", "delete", "deletecollection", "get", "list",
				     "patch", "update", "watch", NULL };
static const char *const STATUS_VERBS[] = { "get", "patch", "update", NULL };

static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static dv_resource **table;
static size_t n_table, cap_table;

static char **strv_dup(const char *const *v, size_t max)
{
	size_t n = 0;
	while (n < max && v[n])
		n++;
	char **out = calloc(n + 1, sizeof *out);
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!(out[i] = strdup(v[i]))) {
			for (size_t j = 0; j < i; j++)
				free(out[j]);
			free(out);
			return NULL;
		}
	return out;
}

static void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static void res_free(dv_resource *r)
{
	free(r->group);
	free(r->version);
	free(r->resource);
	free(r->kind);
	free(r->singular);
	free(r->list_kind);
	free(r->store_key);
	strv_free(r->short_names);
	strv_free(r->categories);
	json_decref(r->schema);
	json_decref(r->columns);
	free(r);
}

void dv_resource_release(dv_resource *r)
{
	if (r && __atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) == 0)
		res_free(r);
}

static dv_resource *res_new(const char *group, const char *version, const char *resource,
			    const char *kind, const char *singular, bool namespaced, bool status,
			    const char *const *shorts, size_t nshorts, const char *const *cats,
			    size_t ncats)
{
	dv_resource *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->refs = 1;
	r->group = strdup(group);
	r->version = strdup(version);
	r->resource = strdup(resource);
	r->kind = strdup(kind);
	r->singular = strdup(singular);
	size_t kl = strlen(kind) + 5;
	r->list_kind = malloc(kl);
	if (r->list_kind)
		snprintf(r->list_kind, kl, "%sList", kind);
	size_t sl = strlen(group) + strlen(resource) + 2;
	r->store_key = malloc(sl);
	if (r->store_key)
		snprintf(r->store_key, sl, "%s/%s", group, resource);
	r->namespaced = namespaced;
	r->has_status = status;
	r->short_names = strv_dup(shorts, nshorts);
	r->categories = strv_dup(cats, ncats);
	r->served = true;
	r->storage = true;
	if (!r->group || !r->version || !r->resource || !r->kind || !r->singular ||
	    !r->list_kind || !r->store_key || !r->short_names || !r->categories) {
		res_free(r);
		return NULL;
	}
	return r;
}

/* Called with the write lock held. */
static int table_add(dv_resource *r)
{
	if (n_table == cap_table) {
		size_t nc = cap_table ? cap_table * 2 : 64;
		dv_resource **nt = realloc(table, nc * sizeof *nt);
		if (!nt)
			return -ENOMEM;
		table = nt;
		cap_table = nc;
	}
	table[n_table++] = r;
	return 0;
}

int dv_resources_init(void)
{
	pthread_rwlock_wrlock(&lock);
	for (size_t i = 0; i < sizeof BUILTINS / sizeof BUILTINS[0]; i++) {
		const builtin *b = &BUILTINS[i];
		dv_resource *r = res_new(b->group, b->version, b->resource, b->kind, b->singular,
					 b->namespaced, b->status, b->shorts, 4, b->categories, 2);
		if (!r || table_add(r) < 0) {
			pthread_rwlock_unlock(&lock);
			return -ENOMEM;
		}
	}
	pthread_rwlock_unlock(&lock);
	return 0;
}

void dv_resources_fini(void)
{
	pthread_rwlock_wrlock(&lock);
	for (size_t i = 0; i < n_table; i++)
		dv_resource_release(table[i]);
	free(table);
	table = NULL;
	n_table = cap_table = 0;
	pthread_rwlock_unlock(&lock);
}

static dv_resource *ref(dv_resource *r)
{
	if (r)
		__atomic_add_fetch(&r->refs, 1, __ATOMIC_ACQ_REL);
	return r;
}

dv_resource *dv_resource_find(const char *group, const char *version, const char *resource)
{
	dv_resource *found = NULL;
	pthread_rwlock_rdlock(&lock);
	for (size_t i = 0; i < n_table && !found; i++) {
		dv_resource *r = table[i];
		if (r->served && strcmp(r->group, group) == 0 && strcmp(r->version, version) == 0 &&
		    strcmp(r->resource, resource) == 0)
			found = ref(r);
	}
	pthread_rwlock_unlock(&lock);
	return found;
}

dv_resource *dv_resource_find_any(const char *group, const char *resource)
{
	dv_resource *found = NULL;
	pthread_rwlock_rdlock(&lock);
	for (size_t i = 0; i < n_table; i++) {
		dv_resource *r = table[i];
		if (!r->served || strcmp(r->group, group) != 0 || strcmp(r->resource, resource) != 0)
			continue;
		if (!found || r->storage) {
			dv_resource_release(found);
			found = ref(r);
		}
	}
	pthread_rwlock_unlock(&lock);
	return found;
}

dv_resource *dv_resource_find_kind(const char *group, const char *kind)
{
	dv_resource *found = NULL;
	pthread_rwlock_rdlock(&lock);
	for (size_t i = 0; i < n_table && !found; i++) {
		dv_resource *r = table[i];
		if (r->served && strcmp(r->group, group) == 0 && strcmp(r->kind, kind) == 0)
			found = ref(r);
	}
	pthread_rwlock_unlock(&lock);
	return found;
}

json_t *dv_resources_store_keys(bool namespaced_only)
{
	json_t *keys = json_array();
	pthread_rwlock_rdlock(&lock);
	for (size_t i = 0; i < n_table; i++) {
		dv_resource *r = table[i];
		if (!r->served || (namespaced_only && !r->namespaced))
			continue;
		bool dup = false;
		size_t j;
		json_t *k;
		json_array_foreach(keys, j, k)
		{
			if (strcmp(json_string_value(k), r->store_key) == 0)
				dup = true;
		}
		if (!dup)
			json_array_append_new(keys, json_string(r->store_key));
	}
	pthread_rwlock_unlock(&lock);
	return keys;
}

bool dv_resource_is_builtin_kind(const char *group, const char *kind)
{
	for (size_t i = 0; i < sizeof BUILTINS / sizeof BUILTINS[0]; i++)
		if (strcmp(BUILTINS[i].group, group) == 0 && strcmp(BUILTINS[i].kind, kind) == 0)
			return true;
	return false;
}

static bool builtin_group(const char *group)
{
	for (size_t i = 0; i < sizeof BUILTINS / sizeof BUILTINS[0]; i++)
		if (strcmp(BUILTINS[i].group, group) == 0)
			return true;
	return false;
}

static const char *jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static size_t str_array(const json_t *a, const char **out, size_t max)
{
	size_t n = 0, i;
	json_t *v;
	json_array_foreach(a, i, v)
	{
		if (n < max && json_is_string(v))
			out[n++] = json_string_value(v);
	}
	return n;
}

int dv_resources_apply_crd(const json_t *crd, bool remove)
{
	const json_t *spec = json_object_get(crd, "spec");
	const json_t *names = json_object_get(spec, "names");
	const char *group = jstr(spec, "group"), *plural = jstr(names, "plural");
	const char *kind = jstr(names, "kind"), *singular = jstr(names, "singular");
	const char *scope = jstr(spec, "scope");
	if (!group || !plural || !kind || builtin_group(group))
		return -EINVAL;
	if (!singular || !*singular)
		singular = NULL;
	char lower[256];
	if (!singular) {
		size_t i = 0;
		for (; kind[i] && i < sizeof lower - 1; i++)
			lower[i] = (char)(kind[i] >= 'A' && kind[i] <= 'Z' ? kind[i] + 32 : kind[i]);
		lower[i] = '\0';
		singular = lower;
	}
	const char *shorts[16], *cats[16];
	size_t ns = str_array(json_object_get(names, "shortNames"), shorts, 16);
	size_t nc = str_array(json_object_get(names, "categories"), cats, 16);

	pthread_rwlock_wrlock(&lock);
	/* Drop the CRD's old versions first: an update may rename or remove
	 * some. */
	size_t w = 0;
	for (size_t i = 0; i < n_table; i++) {
		dv_resource *r = table[i];
		if (r->custom && strcmp(r->group, group) == 0 && strcmp(r->resource, plural) == 0)
			dv_resource_release(r);
		else
			table[w++] = r;
	}
	n_table = w;
	int rc = 0;
	if (!remove) {
		size_t i;
		json_t *v;
		json_array_foreach(json_object_get(spec, "versions"), i, v)
		{
			const char *ver = jstr(v, "name");
			if (!ver)
				continue;
			bool status = json_object_get(json_object_get(v, "subresources"), "status") != NULL;
			dv_resource *r = res_new(group, ver, plural, kind, singular,
						 !scope || strcmp(scope, "Cluster") != 0, status, shorts,
						 ns, cats, nc);
			if (!r) {
				rc = -ENOMEM;
				break;
			}
			r->custom = true;
			r->served = json_is_true(json_object_get(v, "served"));
			r->storage = json_is_true(json_object_get(v, "storage"));
			r->schema = json_incref(
				json_object_get(json_object_get(v, "schema"), "openAPIV3Schema"));
			r->columns = json_incref(json_object_get(v, "additionalPrinterColumns"));
			if (table_add(r) < 0) {
				res_free(r);
				rc = -ENOMEM;
				break;
			}
		}
	}
	pthread_rwlock_unlock(&lock);
	return rc;
}

/* Discovery ------------------------------------------------------------ */

static json_t *strv_json(char **v)
{
	json_t *a = json_array();
	for (size_t i = 0; v && v[i]; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static json_t *verbs_json(const char *const *v)
{
	json_t *a = json_array();
	for (size_t i = 0; v[i]; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

json_t *dv_discovery_core_versions(const char *server_addr)
{
	return json_pack("{s:s, s:[s], s:[{s:s, s:s}]}", "kind", "APIVersions", "versions", "v1",
			 "serverAddressByClientCIDRs", "clientCIDR", "0.0.0.0/0", "serverAddress",
			 server_addr);
}

/* The distinct versions of a group, storage/preferred one first. Called
 * with the read lock held. */
static size_t group_versions(const char *group, const char **out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < n_table; i++) {
		dv_resource *r = table[i];
		if (!r->served || strcmp(r->group, group) != 0)
			continue;
		size_t j = 0;
		while (j < n && strcmp(out[j], r->version) != 0)
			j++;
		if (j < n || n == max)
			continue;
		out[n++] = r->version;
	}
	return n;
}

static json_t *group_json(const char *group)
{
	const char *vers[16];
	size_t n = group_versions(group, vers, 16);
	if (n == 0)
		return NULL;
	json_t *versions = json_array();
	for (size_t i = 0; i < n; i++) {
		char gv[512];
		snprintf(gv, sizeof gv, "%s/%s", group, vers[i]);
		json_array_append_new(versions,
				      json_pack("{s:s, s:s}", "groupVersion", gv, "version", vers[i]));
	}
	json_t *pref = json_incref(json_array_get(versions, 0));
	return json_pack("{s:s, s:s, s:s, s:o, s:o}", "kind", "APIGroup", "apiVersion", "v1",
			 "name", group, "versions", versions, "preferredVersion", pref);
}

/* Distinct non-core groups in table order. Read lock held. */
static size_t groups(const char **out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < n_table; i++) {
		dv_resource *r = table[i];
		if (!r->served || !*r->group)
			continue;
		size_t j = 0;
		while (j < n && strcmp(out[j], r->group) != 0)
			j++;
		if (j == n && n < max)
			out[n++] = r->group;
	}
	return n;
}

json_t *dv_discovery_groups(void)
{
	json_t *list = json_array();
	pthread_rwlock_rdlock(&lock);
	const char *gs[256];
	size_t n = groups(gs, 256);
	for (size_t i = 0; i < n; i++) {
		json_t *g = group_json(gs[i]);
		if (g) {
			json_object_del(g, "kind");
			json_object_del(g, "apiVersion");
			json_array_append_new(list, g);
		}
	}
	pthread_rwlock_unlock(&lock);
	return json_pack("{s:s, s:s, s:o}", "kind", "APIGroupList", "apiVersion", "v1", "groups",
			 list);
}

json_t *dv_discovery_group(const char *group)
{
	pthread_rwlock_rdlock(&lock);
	json_t *g = *group ? group_json(group) : NULL;
	pthread_rwlock_unlock(&lock);
	return g;
}

json_t *dv_discovery_resources(const char *group, const char *version)
{
	json_t *list = json_array();
	size_t found = 0;
	pthread_rwlock_rdlock(&lock);
	for (size_t i = 0; i < n_table; i++) {
		dv_resource *r = table[i];
		if (!r->served || strcmp(r->group, group) != 0 || strcmp(r->version, version) != 0)
			continue;
		found++;
		json_t *e = json_pack("{s:s, s:s, s:b, s:s, s:o}", "name", r->resource,
				      "singularName", r->singular, "namespaced", r->namespaced,
				      "kind", r->kind, "verbs", verbs_json(VERBS));
		if (r->short_names[0])
			json_object_set_new(e, "shortNames", strv_json(r->short_names));
		if (r->categories[0])
			json_object_set_new(e, "categories", strv_json(r->categories));
		json_array_append_new(list, e);
		if (r->has_status) {
			char sub[300];
			snprintf(sub, sizeof sub, "%s/status", r->resource);
			json_array_append_new(list, json_pack("{s:s, s:s, s:b, s:s, s:o}", "name", sub,
							      "singularName", "", "namespaced",
							      r->namespaced, "kind", r->kind, "verbs",
							      verbs_json(STATUS_VERBS)));
		}
	}
	pthread_rwlock_unlock(&lock);
	if (!found) {
		json_decref(list);
		return NULL;
	}
	char gv[512];
	snprintf(gv, sizeof gv, "%s%s%s", group, *group ? "/" : "", version);
	return json_pack("{s:s, s:s, s:s, s:o}", "kind", "APIResourceList", "apiVersion", "v1",
			 "groupVersion", gv, "resources", list);
}

static json_t *aggregated_resource(const dv_resource *r)
{
	json_t *e = json_pack("{s:s, s:{s:s, s:s, s:s}, s:s, s:s, s:o}", "resource", r->resource,
			      "responseKind", "group", r->group, "version", r->version, "kind",
			      r->kind, "scope", r->namespaced ? "Namespaced" : "Cluster",
			      "singularResource", r->singular, "verbs", verbs_json(VERBS));
	if (r->short_names[0])
		json_object_set_new(e, "shortNames", strv_json(r->short_names));
	if (r->categories[0])
		json_object_set_new(e, "categories", strv_json(r->categories));
	if (r->has_status)
		json_object_set_new(e, "subresources",
				    json_pack("[{s:s, s:{s:s, s:s, s:s}, s:o}]", "subresource",
					      "status", "responseKind", "group", r->group,
					      "version", r->version, "kind", r->kind, "verbs",
					      verbs_json(STATUS_VERBS)));
	return e;
}

/* One APIGroupDiscovery. Read lock held. */
static json_t *aggregated_group(const char *group)
{
	const char *vers[16];
	size_t nv = group_versions(group, vers, 16);
	json_t *versions = json_array();
	for (size_t v = 0; v < nv; v++) {
		json_t *res = json_array();
		for (size_t i = 0; i < n_table; i++) {
			dv_resource *r = table[i];
			if (r->served && strcmp(r->group, group) == 0 &&
			    strcmp(r->version, vers[v]) == 0)
				json_array_append_new(res, aggregated_resource(r));
		}
		json_array_append_new(versions, json_pack("{s:s, s:o, s:s}", "version", vers[v],
							  "resources", res, "freshness", "Current"));
	}
	json_t *meta = *group ? json_pack("{s:s, s:n}", "name", group, "creationTimestamp")
			      : json_pack("{s:n}", "creationTimestamp");
	return json_pack("{s:o, s:o}", "metadata", meta, "versions", versions);
}

json_t *dv_discovery_aggregated(bool core, const char *api_version)
{
	json_t *items = json_array();
	pthread_rwlock_rdlock(&lock);
	if (core) {
		json_array_append_new(items, aggregated_group(""));
	} else {
		const char *gs[256];
		size_t n = groups(gs, 256);
		for (size_t i = 0; i < n; i++)
			json_array_append_new(items, aggregated_group(gs[i]));
	}
	pthread_rwlock_unlock(&lock);
	return json_pack("{s:s, s:s, s:{}, s:o}", "kind", "APIGroupDiscoveryList", "apiVersion",
			 api_version, "metadata", "items", items);
}

/* OpenAPI v3 ------------------------------------------------------------
 * Only what clients look for: each resource's paths, with the PATCH
 * operation's x-kubernetes-group-version-kind and its fieldValidation
 * parameter (kubectl's server-side field validation probe). No schemas:
 * kubectl then computes strategic merge patches from its own types. */

json_t *dv_openapi_v3_index(void)
{
	json_t *paths = json_object();
	pthread_rwlock_rdlock(&lock);
	for (size_t i = 0; i < n_table; i++) {
		dv_resource *r = table[i];
		if (!r->served)
			continue;
		char key[512], url[600];
		if (*r->group)
			snprintf(key, sizeof key, "apis/%s/%s", r->group, r->version);
		else
			snprintf(key, sizeof key, "api/%s", r->version);
		snprintf(url, sizeof url, "/openapi/v3/%s?hash=%s", key, "0");
		json_object_set_new(paths, key, json_pack("{s:s}", "serverRelativeURL", url));
	}
	pthread_rwlock_unlock(&lock);
	return json_pack("{s:o}", "paths", paths);
}

static json_t *op_json(const dv_resource *r, const char *action, bool params)
{
	json_t *op = json_pack("{s:s, s:{s:s, s:s, s:s}}", "x-kubernetes-action", action,
			       "x-kubernetes-group-version-kind", "group", r->group, "version",
			       r->version, "kind", r->kind);
	if (params)
		json_object_set_new(op, "parameters",
				    json_pack("[{s:s, s:s, s:{s:s}}, {s:s, s:s, s:{s:s}}]", "name",
					      "fieldValidation", "in", "query", "schema", "type",
					      "string", "name", "fieldManager", "in", "query",
					      "schema", "type", "string"));
	return op;
}

json_t *dv_openapi_v3_gv(const char *group, const char *version)
{
	json_t *paths = json_object();
	size_t found = 0;
	pthread_rwlock_rdlock(&lock);
	for (size_t i = 0; i < n_table; i++) {
		dv_resource *r = table[i];
		if (!r->served || strcmp(r->group, group) != 0 || strcmp(r->version, version) != 0)
			continue;
		found++;
		char base[512], item[600];
		if (*group)
			snprintf(base, sizeof base, "/apis/%s/%s/%s%s", group, version,
				 r->namespaced ? "namespaces/{namespace}/" : "", r->resource);
		else
			snprintf(base, sizeof base, "/api/%s/%s%s", version,
				 r->namespaced ? "namespaces/{namespace}/" : "", r->resource);
		snprintf(item, sizeof item, "%s/{name}", base);
		json_object_set_new(paths, base,
				    json_pack("{s:o, s:o}", "get", op_json(r, "list", false), "post",
					      op_json(r, "post", true)));
		json_object_set_new(paths, item,
				    json_pack("{s:o, s:o, s:o, s:o}", "get", op_json(r, "get", false),
					      "put", op_json(r, "put", true), "patch",
					      op_json(r, "patch", true), "delete",
					      op_json(r, "delete", false)));
	}
	pthread_rwlock_unlock(&lock);
	if (!found) {
		json_decref(paths);
		return NULL;
	}
	return json_pack("{s:s, s:{s:s, s:s}, s:o, s:{s:{}}}", "openapi", "3.0.0", "info", "title",
			 "Kubernetes", "version", "v1.32.0", "paths", paths, "components",
			 "schemas");
}

/*
 * resources.h - what the embedded API server serves: the built-in
 * resources (a static table) and the custom resources that
 * CustomResourceDefinitions add at run time, plus the discovery documents
 * built from them (legacy /api, /apis and the aggregated
 * apidiscovery.k8s.io/v2 form kubectl 1.32 asks for first).
 */
#ifndef DYNVOL_APISERVER_RESOURCES_H
#define DYNVOL_APISERVER_RESOURCES_H

#include <stdbool.h>

#include <jansson.h>

typedef struct dv_resource {
	char *group;    /* "" for core */
	char *version;
	char *resource; /* plural, lower case */
	char *kind;
	char *singular;
	char *list_kind;
	bool namespaced;
	bool has_status;
	char **short_names; /* NULL-terminated */
	char **categories;  /* NULL-terminated */
	char *store_key;    /* "<group>/<resource>" */
	/* custom resources only */
	bool custom;
	json_t *schema;     /* openAPIV3Schema, or NULL */
	json_t *columns;    /* additionalPrinterColumns, or NULL */
	bool served;
	bool storage;       /* the version objects are stored as */
	int refs;           /* atomic; see dv_resource_release */
} dv_resource;

int dv_resources_init(void);
void dv_resources_fini(void);

/* Finds group/version/resource (resource plural or, for convenience,
 * nothing else). Returns a reference (release it) or NULL. */
dv_resource *dv_resource_find(const char *group, const char *version, const char *resource);
/* Any served version of group/resource, preferring the storage version. */
dv_resource *dv_resource_find_any(const char *group, const char *resource);
/* By kind (first served version in group). */
dv_resource *dv_resource_find_kind(const char *group, const char *kind);
void dv_resource_release(dv_resource *r);

/* Installs (or replaces) the versions of a CustomResourceDefinition object;
 * removes them when crd is being deleted (remove=true). */
int dv_resources_apply_crd(const json_t *crd, bool remove);

/* Discovery documents (new references). */
json_t *dv_discovery_core_versions(const char *server_addr);
json_t *dv_discovery_groups(void);
json_t *dv_discovery_group(const char *group);  /* NULL if not served */
json_t *dv_discovery_resources(const char *group, const char *version); /* NULL if not served */
/* Aggregated: core=true for /api, false for /apis. */
json_t *dv_discovery_aggregated(bool core, const char *api_version);
/* OpenAPI v3: the index, or one group-version's document (NULL if none). */
json_t *dv_openapi_v3_index(void);
json_t *dv_openapi_v3_gv(const char *group, const char *version);

/* The store keys of every served resource (namespaced ones only when
 * namespaced_only), as a new JSON array of strings. */
json_t *dv_resources_store_keys(bool namespaced_only);

/* Kinds that are built in: these are the API server's own. */
bool dv_resource_is_builtin_kind(const char *group, const char *kind);

#endif

/* table.c - interim: NAME and AGE only, until the full module lands. */
#include <stdio.h>
#include <string.h>
#include "table.h"
int dv_table_include_parse(const char *s) { return strcmp(s, "None") == 0 ? 0 : strcmp(s, "Object") == 0 ? 2 : 1; }
void dv_table_human_duration(int64_t s, char *out, size_t n) { snprintf(out, n, "%llds", (long long)s); }
json_t *dv_table_build(const char *group, const char *kind, const json_t *crd_columns,
		       const json_t *items, const json_t *list_meta, dv_table_include include,
		       time_t now)
{
	json_t *rows = json_array();
	size_t i;
	json_t *o;
	json_array_foreach(items, i, o) {
		const char *name = json_string_value(json_object_get(json_object_get(o, "metadata"), "name"));
		json_array_append_new(rows, json_pack("{s:[s,s], s:O}", "cells", name ? name : "", "?", "object", o));
	}
	return json_pack("{s:s, s:s, s:O, s:[{s:s,s:s,s:s},{s:s,s:s}], s:o}", "kind", "Table", "apiVersion", "meta.k8s.io/v1",
			 "metadata", list_meta ? list_meta : json_object(), "columnDefinitions", "name", "Name", "type", "string", "format", "name", "name", "Age", "type", "string", "rows", rows);
}

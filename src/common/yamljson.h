/*
 * yamljson.h - YAML to JSON, the way Kubernetes reads YAML
 * (sigs.k8s.io/yaml over go-yaml v2: YAML 1.1 scalars, so an unquoted
 * yes/no/on/off is a boolean and 0x10 an integer; mapping keys become
 * strings).
 *
 * Quoted scalars are strings; plain ones are resolved by their text, even
 * with an explicit tag (libyaml's loader does not keep whether a tag was
 * written).
 *
 * One document only. Aliases are expanded, but the whole result is bounded
 * (YAMLJSON_MAX_NODES values, YAMLJSON_MAX_DEPTH levels), so an alias bomb
 * is refused instead of expanded.
 */
#ifndef DYNVOL_YAMLJSON_H
#define DYNVOL_YAMLJSON_H

#include <stddef.h>

#include <jansson.h>

#define YAMLJSON_MAX_NODES 200000
#define YAMLJSON_MAX_DEPTH 256

/* A new JSON value, or NULL with a message in err (line and column of the
 * problem where libyaml gives them). */
json_t *yaml_to_json(const char *text, size_t len, char *err, size_t errlen);

#endif

/*
 * schema.h - structural OpenAPI v3 schemas of CustomResourceDefinitions:
 * validation of custom resources against spec.versions[].schema.
 * openAPIV3Schema, pruning of unknown fields and defaulting, as
 * kube-apiserver's apiextensions does it, and the checks a CRD's own schema
 * must pass to be accepted.
 *
 * Supported keywords: type (object, array, string, integer, number,
 * boolean), properties, additionalProperties (schema or bool), items,
 * required, enum, default, nullable, format (int32, int64, date-time, ...
 * checked where kube-apiserver checks them), minimum/maximum (+exclusive),
 * minLength/maxLength, minItems/maxItems, minProperties/maxProperties,
 * pattern (POSIX ERE via regcomp; ECMA-only syntax is rejected as a schema
 * error), multipleOf, uniqueItems, allOf/anyOf/oneOf/not,
 * x-kubernetes-preserve-unknown-fields, x-kubernetes-int-or-string,
 * x-kubernetes-embedded-resource, x-kubernetes-list-type (atomic, set, map)
 * with x-kubernetes-list-map-keys. metadata, apiVersion and kind are the
 * API server's and are never pruned.
 */
#ifndef DYNVOL_APISERVER_SCHEMA_H
#define DYNVOL_APISERVER_SCHEMA_H

#include <stdbool.h>

#include <jansson.h>

/* Checks that `schema` is a structural schema kube-apiserver would accept
 * for a CRD version; problems go to `causes` (see validate.h) with fields
 * under `field_prefix` (e.g. "spec.versions[0].schema.openAPIV3Schema"). */
void dv_schema_check(const json_t *schema, const char *field_prefix, json_t *causes);

/* Applies defaults, then prunes unknown fields (unless preserved), in place. */
void dv_schema_default_and_prune(const json_t *schema, json_t *obj);

/* Validates obj (after defaulting and pruning); causes carry field paths
 * like "spec.replicas". */
void dv_schema_validate(const json_t *schema, const json_t *obj, json_t *causes);

#endif

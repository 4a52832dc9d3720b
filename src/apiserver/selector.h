/*
 * selector.h - label and field selectors, as kube-apiserver parses them.
 *
 * Label selectors (the ?labelSelector= grammar of k8s.io/apimachinery/
 * pkg/labels): "a=b", "a==b", "a!=b", "a in (x,y)", "a notin (x)", "a",
 * "!a", comma-separated (AND); keys are qualified names (optional DNS
 * prefix + '/'), values are label values. Also built from a
 * metav1.LabelSelector JSON object (matchLabels + matchExpressions with
 * In/NotIn/Exists/DoesNotExist), which controllers use.
 *
 * Field selectors (?fieldSelector=): "f=v", "f==v", "f!=v", comma-separated;
 * f is a dotted path into the object ("metadata.name", "spec.nodeName",
 * "status.phase"). Which fields a resource supports is the caller's
 * business: dv_selector_count() and dv_selector_key() list the ones a
 * selector uses, for kube-apiserver's "field label not supported" check.
 */
#ifndef DYNVOL_APISERVER_SELECTOR_H
#define DYNVOL_APISERVER_SELECTOR_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

typedef struct dv_selector dv_selector;

/* 0 on success (*out may be an empty selector that matches everything);
 * -EINVAL with a message in err on a syntax error; -ENOMEM. */
int dv_label_selector_parse(const char *s, dv_selector **out, char *err, size_t errlen);
/* From a metav1.LabelSelector object; NULL or {} matches everything.
 * A JSON null selector value is the caller's to treat as "matches nothing"
 * where the API says so. */
int dv_label_selector_from_json(const json_t *sel, dv_selector **out, char *err, size_t errlen);
/* labels: the object's metadata.labels (NULL = no labels). A NULL selector
 * matches everything; a field selector passed here matches nothing (and a
 * label selector passed to dv_field_selector_matches), a caller's mix-up
 * failing closed. */
bool dv_label_selector_matches(const dv_selector *sel, const json_t *labels);

int dv_field_selector_parse(const char *s, dv_selector **out, char *err, size_t errlen);
/* A missing field compares as "" (as kube-apiserver's field sets do). */
bool dv_field_selector_matches(const dv_selector *sel, const json_t *obj);
/* The number of requirements, and the field (or label key) of the i-th. */
size_t dv_selector_count(const dv_selector *sel);
const char *dv_selector_key(const dv_selector *sel, size_t i);
/* True if the selector matches everything. */
bool dv_selector_empty(const dv_selector *sel);

void dv_selector_free(dv_selector *sel);

#endif

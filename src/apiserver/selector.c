/* selector.c - interim: empty selectors only, until the full module lands. */
#include <errno.h>
#include <stdlib.h>
#include "selector.h"
struct dv_selector { int n; };
int dv_label_selector_parse(const char *s, dv_selector **out, char *err, size_t errlen)
{ *out = calloc(1, sizeof **out); return 0; }
int dv_label_selector_from_json(const json_t *sel, dv_selector **out, char *err, size_t errlen)
{ *out = calloc(1, sizeof **out); return 0; }
bool dv_label_selector_matches(const dv_selector *sel, const json_t *labels) { return true; }
int dv_field_selector_parse(const char *s, dv_selector **out, char *err, size_t errlen)
{ *out = calloc(1, sizeof **out); return 0; }
bool dv_field_selector_matches(const dv_selector *sel, const json_t *obj) { return true; }
size_t dv_selector_count(const dv_selector *sel) { return 0; }
const char *dv_selector_key(const dv_selector *sel, size_t i) { return ""; }
bool dv_selector_empty(const dv_selector *sel) { return true; }
void dv_selector_free(dv_selector *sel) { free(sel); }

/* validate.c - interim: no rules, until the full module lands. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include "validate.h"
void dv_default(const char *group, const char *kind, json_t *obj) {}
void dv_validate_create(const dv_validate_env *env, const char *group, const char *kind,
			bool namespaced, const json_t *obj, json_t *causes) {}
void dv_validate_update(const dv_validate_env *env, const char *group, const char *kind,
			bool namespaced, const json_t *obj, const json_t *old, json_t *causes) {}
void dv_validate_status_update(const dv_validate_env *env, const char *group,
			       const char *kind, const json_t *obj, const json_t *old, json_t *causes) {}
void dv_cause_add(json_t *causes, const char *reason, const char *field, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	json_array_append_new(causes, json_pack("{s:s,s:s,s:s}", "reason", reason, "message", msg, "field", field));
}
char *dv_invalid_message(const char *kind, const char *name, const json_t *causes)
{
	char *s = NULL;
	if (asprintf(&s, "%s \"%s\" is invalid", kind, name) < 0) return NULL;
	return s;
}

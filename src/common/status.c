#include "status.h"

#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

static const char *const code_names[DV_CODE_MAX] = {
	[DV_OK] = "OK",
	[DV_CANCELLED] = "CANCELLED",
	[DV_UNKNOWN] = "UNKNOWN",
	[DV_INVALID_ARGUMENT] = "INVALID_ARGUMENT",
	[DV_DEADLINE_EXCEEDED] = "DEADLINE_EXCEEDED",
	[DV_NOT_FOUND] = "NOT_FOUND",
	[DV_ALREADY_EXISTS] = "ALREADY_EXISTS",
	[DV_PERMISSION_DENIED] = "PERMISSION_DENIED",
	[DV_RESOURCE_EXHAUSTED] = "RESOURCE_EXHAUSTED",
	[DV_FAILED_PRECONDITION] = "FAILED_PRECONDITION",
	[DV_ABORTED] = "ABORTED",
	[DV_OUT_OF_RANGE] = "OUT_OF_RANGE",
	[DV_UNIMPLEMENTED] = "UNIMPLEMENTED",
	[DV_INTERNAL] = "INTERNAL",
	[DV_UNAVAILABLE] = "UNAVAILABLE",
	[DV_DATA_LOSS] = "DATA_LOSS",
	[DV_UNAUTHENTICATED] = "UNAUTHENTICATED",
};

const char *dv_code_name(int code)
{
	if (code < 0 || code >= DV_CODE_MAX)
		return "UNKNOWN";
	return code_names[code];
}

int dv_code_from_name(const char *name)
{
	for (int i = 0; i < DV_CODE_MAX; i++)
		if (strcasecmp(name, code_names[i]) == 0)
			return i;
	return -1;
}

dv_code dv_status_vset(dv_status *st, dv_code code, const char *fmt, va_list ap)
{
	char *msg = NULL;

	if (fmt && vasprintf(&msg, fmt, ap) < 0)
		msg = NULL; /* out of memory: keep the code, lose the text */
	free(st->message);
	st->code = code;
	st->message = msg;
	return code;
}

dv_code dv_status_set(dv_status *st, dv_code code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	dv_status_vset(st, code, fmt, ap);
	va_end(ap);
	return code;
}

void dv_status_clear(dv_status *st)
{
	if (!st)
		return;
	free(st->message);
	st->message = NULL;
	st->code = DV_OK;
}

int dv_fail(dv_status *st, int err, dv_code code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	dv_status_vset(st, code, fmt, ap);
	va_end(ap);
	return err;
}

/*
 * redact.c - the registered secret values and their scrubbing (redact.h).
 */
#include "redact.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define REDACT_MAX 256

static pthread_mutex_t redact_lock = PTHREAD_MUTEX_INITIALIZER;
static char *values[REDACT_MAX];
static size_t nvalues;

int kube_redact_add(const char *value)
{
	if (!value || strlen(value) < 4)
		return 0;
	pthread_mutex_lock(&redact_lock);
	int r = 0;
	for (size_t i = 0; i < nvalues; i++) {
		if (strcmp(values[i], value) == 0)
			goto done;
	}
	if (nvalues == REDACT_MAX) {
		r = -ENOSPC;
		goto done;
	}
	values[nvalues] = strdup(value);
	if (!values[nvalues])
		r = -ENOMEM;
	else
		nvalues++;
done:
	pthread_mutex_unlock(&redact_lock);
	return r;
}

static void replace_all(char *s, const char *v)
{
	size_t vl = strlen(v);
	char *p;
	while ((p = strstr(s, v)) != NULL) {
		/* "***" is never longer than a registered value (>= 4 bytes). */
		memcpy(p, "***", 3);
		memmove(p + 3, p + vl, strlen(p + vl) + 1);
	}
}

void kube_redact(char *s)
{
	pthread_mutex_lock(&redact_lock);
	for (size_t i = 0; i < nvalues; i++)
		replace_all(s, values[i]);
	pthread_mutex_unlock(&redact_lock);
}

void kube_redact_reset(void)
{
	pthread_mutex_lock(&redact_lock);
	for (size_t i = 0; i < nvalues; i++) {
		explicit_bzero(values[i], strlen(values[i]));
		free(values[i]);
	}
	nvalues = 0;
	pthread_mutex_unlock(&redact_lock);
}

/*
 * metrics.c - the registry and the text exposition format (metrics.h).
 */
#include "metrics.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LABELS 8

const double dv_metrics_op_buckets[] = { 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 25, 50, 120, 300, 600 };
const size_t dv_metrics_op_nbuckets = sizeof(dv_metrics_op_buckets) / sizeof(double);

typedef enum { KIND_COUNTER, KIND_HISTOGRAM } metric_kind;

typedef struct series {
	struct series *next;
	char **values;
	double value;	   /* counter; histogram: sum */
	uint64_t count;	   /* histogram */
	uint64_t *buckets; /* histogram: per bound, not cumulative */
} series;

struct dv_metric {
	struct dv_metric *next;
	dv_metrics *m;
	metric_kind kind;
	char *name, *help;
	size_t nlabels;
	char *labels[MAX_LABELS];
	double *bounds;
	size_t nbounds;
	series *series, **tail;
};

typedef struct collector {
	struct collector *next;
	dv_metrics_collect_fn fn;
	void *payload;
} collector;

struct dv_metrics {
	/* One lock: updates are a short list walk and an add, scrapes are
	 * rare; a lock per family would buy nothing measurable. */
	pthread_mutex_t lock;
	/* Held across a render, so removing a collector waits for it. */
	pthread_mutex_t scrape;
	dv_metric *families, **tail;
	collector *collectors;
};

struct dv_metrics_out {
	dv_buf *b;
	int err;
};

static bool name_ok(const char *s, bool allow_colon)
{
	if (!s || !*s)
		return false;
	for (size_t i = 0; s[i]; i++) {
		char c = s[i];
		bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
			     (allow_colon && c == ':');

		if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
			return false;
	}
	return true;
}

int dv_metrics_new(dv_metrics **ret)
{
	dv_metrics *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	pthread_mutex_init(&m->lock, NULL);
	pthread_mutex_init(&m->scrape, NULL);
	m->tail = &m->families;
	*ret = m;
	return 0;
}

static void series_free(series *s, size_t nlabels)
{
	for (size_t i = 0; i < nlabels; i++)
		free(s->values[i]);
	free(s->values);
	free(s->buckets);
	free(s);
}

static void family_free(dv_metric *f)
{
	series *s, *next;

	for (s = f->series; s; s = next) {
		next = s->next;
		series_free(s, f->nlabels);
	}
	for (size_t i = 0; i < f->nlabels; i++)
		free(f->labels[i]);
	free(f->bounds);
	free(f->name);
	free(f->help);
	free(f);
}

void dv_metrics_free(dv_metrics *m)
{
	dv_metric *f, *nf;
	collector *c, *nc;

	if (!m)
		return;
	for (f = m->families; f; f = nf) {
		nf = f->next;
		family_free(f);
	}
	for (c = m->collectors; c; c = nc) {
		nc = c->next;
		free(c);
	}
	pthread_mutex_destroy(&m->lock);
	pthread_mutex_destroy(&m->scrape);
	free(m);
}

static bool same_shape(const dv_metric *f, metric_kind kind, size_t nlabels,
		       const char *const *labels, size_t nbounds)
{
	if (f->kind != kind || f->nlabels != nlabels || f->nbounds != nbounds)
		return false;
	for (size_t i = 0; i < nlabels; i++)
		if (strcmp(f->labels[i], labels[i]) != 0)
			return false;
	return true;
}

static dv_metric *family_get(dv_metrics *m, metric_kind kind, const char *name, const char *help,
			     size_t nlabels, const char *const *labels, const double *bounds,
			     size_t nbounds)
{
	dv_metric *f;

	if (!m || !name_ok(name, true) || nlabels > MAX_LABELS || !help)
		return NULL;
	for (size_t i = 0; i < nlabels; i++)
		if (!name_ok(labels[i], false) || strcmp(labels[i], "le") == 0)
			return NULL;
	for (size_t i = 1; i < nbounds; i++)
		if (!(bounds[i] > bounds[i - 1]))
			return NULL;

	pthread_mutex_lock(&m->lock);
	for (f = m->families; f; f = f->next)
		if (strcmp(f->name, name) == 0)
			break;
	if (f) {
		if (!same_shape(f, kind, nlabels, labels, nbounds))
			f = NULL;
		pthread_mutex_unlock(&m->lock);
		return f;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		goto out;
	f->m = m;
	f->kind = kind;
	f->name = strdup(name);
	f->help = strdup(help);
	f->nlabels = nlabels;
	f->tail = &f->series;
	bool ok = f->name && f->help;
	for (size_t i = 0; i < nlabels; i++)
		ok = (f->labels[i] = strdup(labels[i])) != NULL && ok;
	if (nbounds) {
		f->bounds = malloc(nbounds * sizeof(double));
		ok = ok && f->bounds;
		if (f->bounds)
			memcpy(f->bounds, bounds, nbounds * sizeof(double));
		f->nbounds = nbounds;
	}
	if (!ok) {
		family_free(f);
		f = NULL;
		goto out;
	}
	*m->tail = f;
	m->tail = &f->next;
out:
	pthread_mutex_unlock(&m->lock);
	return f;
}

dv_metric *dv_metrics_counter(dv_metrics *m, const char *name, const char *help, size_t nlabels,
			      const char *const *labels)
{
	return family_get(m, KIND_COUNTER, name, help, nlabels, labels, NULL, 0);
}

dv_metric *dv_metrics_histogram(dv_metrics *m, const char *name, const char *help,
				size_t nlabels, const char *const *labels, const double *bounds,
				size_t nbounds)
{
	if (nbounds == 0 || !bounds)
		return NULL;
	return family_get(m, KIND_HISTOGRAM, name, help, nlabels, labels, bounds, nbounds);
}

/* Under m->lock. NULL when out of memory. */
static series *series_get(dv_metric *f, const char *const *values)
{
	series *s;

	for (s = f->series; s; s = s->next) {
		size_t i;

		for (i = 0; i < f->nlabels; i++)
			if (strcmp(s->values[i], values[i] ? values[i] : "") != 0)
				break;
		if (i == f->nlabels)
			return s;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->values = calloc(f->nlabels ? f->nlabels : 1, sizeof(char *));
	if (f->nbounds)
		s->buckets = calloc(f->nbounds, sizeof(uint64_t));
	bool ok = s->values && (!f->nbounds || s->buckets);
	for (size_t i = 0; ok && i < f->nlabels; i++)
		ok = (s->values[i] = strdup(values[i] ? values[i] : "")) != NULL;
	if (!ok) {
		if (s->values)
			series_free(s, f->nlabels);
		else
			free(s);
		return NULL;
	}
	*f->tail = s;
	f->tail = &s->next;
	return s;
}

void dv_metric_add(dv_metric *f, const char *const *values, double v)
{
	series *s;

	if (!f || f->kind != KIND_COUNTER || !(v >= 0))
		return;
	pthread_mutex_lock(&f->m->lock);
	s = series_get(f, values);
	if (s)
		s->value += v;
	pthread_mutex_unlock(&f->m->lock);
}

void dv_metric_observe(dv_metric *f, const char *const *values, double v)
{
	series *s;

	if (!f || f->kind != KIND_HISTOGRAM || isnan(v))
		return;
	pthread_mutex_lock(&f->m->lock);
	s = series_get(f, values);
	if (s) {
		size_t i;

		for (i = 0; i < f->nbounds && v > f->bounds[i]; i++)
			;
		if (i < f->nbounds)
			s->buckets[i]++;
		s->count++;
		s->value += v;
	}
	pthread_mutex_unlock(&f->m->lock);
}

int dv_metrics_add_collector(dv_metrics *m, dv_metrics_collect_fn fn, void *payload)
{
	collector *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->fn = fn;
	c->payload = payload;
	pthread_mutex_lock(&m->scrape);
	c->next = m->collectors;
	m->collectors = c;
	pthread_mutex_unlock(&m->scrape);
	return 0;
}

void dv_metrics_remove_collector(dv_metrics *m, dv_metrics_collect_fn fn, void *payload)
{
	collector **pp;

	if (!m)
		return;
	pthread_mutex_lock(&m->scrape);
	for (pp = &m->collectors; *pp; pp = &(*pp)->next) {
		if ((*pp)->fn == fn && (*pp)->payload == payload) {
			collector *c = *pp;

			*pp = c->next;
			free(c);
			break;
		}
	}
	pthread_mutex_unlock(&m->scrape);
}

/* --- exposition -------------------------------------------------------------- */

static void out_append(dv_metrics_out *o, const char *s, size_t n)
{
	if (!o->err && dv_buf_append(o->b, s, n) < 0)
		o->err = -ENOMEM;
}

static void out_str(dv_metrics_out *o, const char *s)
{
	out_append(o, s, strlen(s));
}

/* HELP text escapes \ and newline; label values also ". */
static void out_escaped(dv_metrics_out *o, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			out_str(o, "\\\\");
		else if (*s == '\n')
			out_str(o, "\\n");
		else if (quote && *s == '"')
			out_str(o, "\\\"");
		else
			out_append(o, s, 1);
	}
}

static void out_number(dv_metrics_out *o, double v)
{
	char num[64];

	if (isinf(v))
		out_str(o, v > 0 ? "+Inf" : "-Inf");
	else if (isnan(v))
		out_str(o, "NaN");
	else if (v == floor(v) && fabs(v) < 1e15) {
		snprintf(num, sizeof(num), "%.0f", v);
		out_str(o, num);
	} else {
		snprintf(num, sizeof(num), "%.17g", v);
		out_str(o, num);
	}
}

void dv_metrics_out_family(dv_metrics_out *o, const char *name, const char *type,
			   const char *help)
{
	out_str(o, "# HELP ");
	out_str(o, name);
	out_str(o, " ");
	out_escaped(o, help ? help : "", false);
	out_str(o, "\n# TYPE ");
	out_str(o, name);
	out_str(o, " ");
	out_str(o, type);
	out_str(o, "\n");
}

/* name{l1="v1",...,extra_label="extra_value"} value */
static void out_line(dv_metrics_out *o, const char *name, const char *suffix, size_t nlabels,
		     const char *const *labels, const char *const *values, const char *extra_label,
		     const char *extra_value, double v)
{
	out_str(o, name);
	out_str(o, suffix);
	if (nlabels || extra_label) {
		const char *sep = "{";

		for (size_t i = 0; i < nlabels; i++) {
			out_str(o, sep);
			out_str(o, labels[i]);
			out_str(o, "=\"");
			out_escaped(o, values[i] ? values[i] : "", true);
			out_str(o, "\"");
			sep = ",";
		}
		if (extra_label) {
			out_str(o, sep);
			out_str(o, extra_label);
			out_str(o, "=\"");
			out_str(o, extra_value);
			out_str(o, "\"");
		}
		out_str(o, "}");
	}
	out_str(o, " ");
	out_number(o, v);
	out_str(o, "\n");
}

void dv_metrics_out_sample(dv_metrics_out *o, const char *name, size_t nlabels,
			   const char *const *labels, const char *const *values, double v)
{
	out_line(o, name, "", nlabels, labels, values, NULL, NULL, v);
}

static void render_family(dv_metrics_out *o, const dv_metric *f)
{
	const char *const *labels = (const char *const *)f->labels;

	dv_metrics_out_family(o, f->name, f->kind == KIND_COUNTER ? "counter" : "histogram",
			      f->help);
	for (const series *s = f->series; s; s = s->next) {
		const char *const *values = (const char *const *)s->values;

		if (f->kind == KIND_COUNTER) {
			out_line(o, f->name, "", f->nlabels, labels, values, NULL, NULL, s->value);
			continue;
		}
		uint64_t cum = 0;
		for (size_t i = 0; i < f->nbounds; i++) {
			char le[64];

			cum += s->buckets[i];
			snprintf(le, sizeof(le), "%g", f->bounds[i]);
			out_line(o, f->name, "_bucket", f->nlabels, labels, values, "le", le,
				 (double)cum);
		}
		out_line(o, f->name, "_bucket", f->nlabels, labels, values, "le", "+Inf",
			 (double)s->count);
		out_line(o, f->name, "_sum", f->nlabels, labels, values, NULL, NULL, s->value);
		out_line(o, f->name, "_count", f->nlabels, labels, values, NULL, NULL,
			 (double)s->count);
	}
}

int dv_metrics_render(dv_metrics *m, dv_buf *b)
{
	dv_metrics_out o = { .b = b };

	pthread_mutex_lock(&m->scrape);
	/* Updates wait for the registry's part of the page (microseconds);
	 * collectors run outside that lock, since they take locks of their own. */
	pthread_mutex_lock(&m->lock);
	for (const dv_metric *f = m->families; f; f = f->next)
		render_family(&o, f);
	pthread_mutex_unlock(&m->lock);
	for (collector *c = m->collectors; c; c = c->next)
		c->fn(&o, c->payload);
	pthread_mutex_unlock(&m->scrape);
	return o.err;
}

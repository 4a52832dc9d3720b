/*
 * metrics.h - a Prometheus registry: labelled counters and histograms that
 * any thread updates, collectors that read live state (queue depths, the
 * API client's counters) at scrape time, and the text exposition format
 * 0.0.4 that every Prometheus server reads.
 *
 * Series are few (operations x result codes), so a family keeps its series
 * in a list under one lock; an update is a lookup of a short list and an
 * add. Label values are escaped on output, never trusted: they come from
 * error codes and object kinds, not from users' strings, but one bad value
 * must not corrupt the whole page.
 */
#ifndef DYNVOL_METRICS_H
#define DYNVOL_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "strutil.h"

typedef struct dv_metrics dv_metrics;
typedef struct dv_metric dv_metric;

/* The default buckets (seconds) of the duration histograms: upstream
 * csi-lib-utils' operation buckets, 0.1 s to 10 min. */
extern const double dv_metrics_op_buckets[];
extern const size_t dv_metrics_op_nbuckets;

int dv_metrics_new(dv_metrics **ret);
void dv_metrics_free(dv_metrics *m);

/* Get-or-create a family. Names and label names must be valid Prometheus
 * names (checked; NULL when not, or when an existing family of that name
 * has another type or other labels). The strings are copied. */
dv_metric *dv_metrics_counter(dv_metrics *m, const char *name, const char *help, size_t nlabels,
			      const char *const *labels);
/* bounds: ascending upper bounds, +Inf implied. */
dv_metric *dv_metrics_histogram(dv_metrics *m, const char *name, const char *help,
				size_t nlabels, const char *const *labels, const double *bounds,
				size_t nbounds);

/* values: one per label. Adds to a counter (v >= 0), or observes v in a
 * histogram. NULL family: nothing (callers need not check set-up). */
void dv_metric_add(dv_metric *f, const char *const *values, double v);
void dv_metric_observe(dv_metric *f, const char *const *values, double v);

/* Collectors write families of their own when a scrape renders. */
typedef struct dv_metrics_out dv_metrics_out;
typedef void (*dv_metrics_collect_fn)(dv_metrics_out *out, void *payload);

int dv_metrics_add_collector(dv_metrics *m, dv_metrics_collect_fn fn, void *payload);
/* Waits for a scrape in progress: after it returns, fn is not running. */
void dv_metrics_remove_collector(dv_metrics *m, dv_metrics_collect_fn fn, void *payload);

/* In a collector: a family's header (type "counter" or "gauge"), then its
 * samples. A family must be written whole in one call of one collector. */
void dv_metrics_out_family(dv_metrics_out *o, const char *name, const char *type,
			   const char *help);
void dv_metrics_out_sample(dv_metrics_out *o, const char *name, size_t nlabels,
			   const char *const *labels, const char *const *values, double v);

/* The whole page into b (appended). 0 or -ENOMEM. */
int dv_metrics_render(dv_metrics *m, dv_buf *b);

/* --- the endpoint ----------------------------------------------------------- */

typedef struct dv_metrics_server dv_metrics_server;
/* False and a reason when the process is not well. */
typedef bool (*dv_probe_fn)(char *reason, size_t len, void *payload);

typedef struct {
	dv_probe_fn live;  /* /healthz (and /livez); NULL: 200 while the process runs */
	dv_probe_fn ready; /* /readyz; NULL: always ready */
	void *payload;
} dv_probes;

/* Serves GET /metrics, /healthz and /readyz on addr: "HOST:PORT", ":PORT"
 * (every address), "[V6]:PORT"; port 0 picks a free one. A failing probe
 * answers 503 with its reason. Plain HTTP, as Prometheus scrapes pods and
 * the kubelet probes them. probes may be NULL. */
int dv_metrics_serve(const char *addr, dv_metrics *m, const dv_probes *probes,
		     dv_metrics_server **ret, char *err, size_t errlen);
int dv_metrics_server_port(const dv_metrics_server *s);
void dv_metrics_server_stop(dv_metrics_server *s);

#endif

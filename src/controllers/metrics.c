/*
 * metrics.c - what `dynvol controller` exports on --metrics-address.
 *
 * Per operation (provision, delete, attach, detach, expand, snapshot,
 * delete-snapshot, capacity), the four numbers the seeds monitor:
 *   dynvol_operation_attempts_total{controller,operation}
 *   dynvol_operation_successes_total{controller,operation}
 *   dynvol_operation_failures_total{controller,operation,reason}
 *   dynvol_operation_duration_seconds{controller,operation,result}
 * and, under the names the upstream sidecars and client-go use so that
 * existing dashboards work unchanged:
 *   csi_sidecar_operations_seconds{driver_name,method_name,grpc_status_code}
 *   workqueue_depth / workqueue_unfinished / workqueue_adds_total /
 *   workqueue_retries_total{name}
 *   rest_client_requests_total{code,method}
 *   rest_client_request_duration_seconds{verb}
 * A success rate or an average is a query over these (rate(successes) /
 * rate(attempts)), not a number the process keeps.
 */
#include "ctrl.h"

#include <stdio.h>

#include "metrics.h"

static const double api_buckets[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
				      0.5, 1, 2.5, 5, 10, 30, 60 };

void ctrl_op_end(ctrl_ctx *ctx, const char *controller, const char *op, const char *reason,
		 int64_t begin)
{
	static const char *const two[] = { "controller", "operation" };
	static const char *const three_reason[] = { "controller", "operation", "reason" };
	static const char *const three_result[] = { "controller", "operation", "result" };
	dv_metrics *m = ctx ? ctx->metrics : NULL;
	double secs = (double)(ctrl_op_begin() - begin) / 1e9;

	if (!m)
		return;
	const char *const v2[] = { controller, op };
	dv_metric_add(dv_metrics_counter(m, "dynvol_operation_attempts_total",
					 "Operations attempted, by controller and operation.", 2,
					 two),
		      v2, 1);
	if (reason) {
		const char *const v3[] = { controller, op, reason };

		dv_metric_add(dv_metrics_counter(m, "dynvol_operation_failures_total",
						 "Operations that failed, by the gRPC code or "
						 "\"api\" that failed them.",
						 3, three_reason),
			      v3, 1);
	} else {
		dv_metric_add(dv_metrics_counter(m, "dynvol_operation_successes_total",
						 "Operations that succeeded.", 2, two),
			      v2, 1);
	}
	const char *const vr[] = { controller, op, reason ? "failure" : "success" };
	dv_metric_observe(dv_metrics_histogram(m, "dynvol_operation_duration_seconds",
					       "Time of one operation attempt, API writes "
					       "included.",
					       3, three_result, dv_metrics_op_buckets,
					       dv_metrics_op_nbuckets),
			  vr, secs);
}

void ctrl_csi_observe(ctrl_ctx *ctx, const char *path, dv_code code, int64_t begin)
{
	static const char *const labels[] = { "driver_name", "method_name", "grpc_status_code" };
	dv_metrics *m = ctx ? ctx->metrics : NULL;

	if (!m)
		return;
	const char *const v[] = { ctx->driver.name, path, dv_code_name((int)code) };
	dv_metric_observe(dv_metrics_histogram(m, "csi_sidecar_operations_seconds",
					       "Duration of the CSI calls to the driver.", 3,
					       labels, dv_metrics_op_buckets,
					       dv_metrics_op_nbuckets),
			  v, (double)(ctrl_op_begin() - begin) / 1e9);
}

void ctrl_metrics_observe_request(const char *method, long status, int64_t duration_ns,
				  void *payload)
{
	static const char *const req_labels[] = { "code", "method" };
	static const char *const dur_labels[] = { "verb" };
	dv_metrics *m = payload;
	char code[24];

	if (!m)
		return;
	if (status > 0)
		snprintf(code, sizeof(code), "%ld", status);
	else
		snprintf(code, sizeof(code), "<error>"); /* client-go's label for no answer */
	const char *const v[] = { code, method };
	dv_metric_add(dv_metrics_counter(m, "rest_client_requests_total",
					 "API requests, by HTTP status code and method.", 2,
					 req_labels),
		      v, 1);
	const char *const verb[] = { method };
	dv_metric_observe(dv_metrics_histogram(m, "rest_client_request_duration_seconds",
					       "API request latency, by verb.", 1, dur_labels,
					       api_buckets,
					       sizeof(api_buckets) / sizeof(api_buckets[0])),
			  verb, (double)duration_ns / 1e9);
}

/* One family at a time over every loop: a family's lines must stay
 * together in the exposition format. */
static void queue_family(dv_metrics_out *o, ctrl_ctx *ctx, const char *name, const char *type,
			 const char *help, int which)
{
	static const char *const labels[] = { "name" };

	dv_metrics_out_family(o, name, type, help);
	for (ctrl_loop *l = ctx->loops; l; l = l->next) {
		kube_workqueue_stats st;
		double v;

		if (!l->q)
			continue;
		kube_workqueue_get_stats(l->q, &st);
		switch (which) {
		case 0: v = (double)st.depth; break;
		case 1: v = (double)(st.processing + st.waiting); break;
		case 2: v = (double)st.adds; break;
		default: v = (double)st.retries; break;
		}
		const char *const values[] = { l->name };
		dv_metrics_out_sample(o, name, 1, labels, values, v);
	}
}

static void collect_queues(dv_metrics_out *o, void *payload)
{
	ctrl_ctx *ctx = payload;

	pthread_mutex_lock(&ctx->loops_lock);
	queue_family(o, ctx, "workqueue_depth", "gauge", "Keys ready for a worker now.", 0);
	queue_family(o, ctx, "workqueue_unfinished", "gauge",
		     "Keys a worker holds or that wait for their retry time.", 1);
	queue_family(o, ctx, "workqueue_adds_total", "counter", "Keys queued.", 2);
	queue_family(o, ctx, "workqueue_retries_total", "counter",
		     "Keys put back after a failure (with backoff).", 3);
	pthread_mutex_unlock(&ctx->loops_lock);
}

int ctrl_metrics_attach(ctrl_ctx *ctx)
{
	return dv_metrics_add_collector(ctx->metrics, collect_queues, ctx);
}

void ctrl_metrics_detach(ctrl_ctx *ctx)
{
	dv_metrics_remove_collector(ctx->metrics, collect_queues, ctx);
}

/*
 * ctl_bench.c - dynvolctl bench: drives one RPC at a fixed concurrency for
 * a fixed time and reports calls/s and latency percentiles. Each worker
 * thread has its own connection, as separate clients of a driver would.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csi.pb-c.h"
#include "ctl.h"
#include "strutil.h"

typedef struct bench_worker bench_worker;

typedef struct {
	const char *name;
	const char *path;
	/* One measured operation; NULL: call path with an empty request. */
	dv_code (*op)(bench_worker *w, rpc_client *c, dv_buf *resp, dv_status *st);
} bench_method;

struct bench_worker {
	const ctl_ctx *ctx;
	const bench_method *m;
	int idx;
	uint64_t iter;
	const char *pool;
	uint64_t size;
	int64_t end_ns;
	atomic_long *budget;	/* operations left when counting; NULL: by time */
	atomic_bool *stop;
	uint32_t *lat_us; /* one per successful operation */
	size_t n, cap;
	size_t errors;
	dv_code first_error;
};

/* CreateVolume of a fresh name, then DeleteVolume of what it made: the
 * provisioning round trip a PVC's life costs. */
static dv_code create_one(bench_worker *w, rpc_client *c, bool delete_after, dv_status *st)
{
	Csi__V1__CreateVolumeRequest req = CSI__V1__CREATE_VOLUME_REQUEST__INIT;
	Csi__V1__CapacityRange range = CSI__V1__CAPACITY_RANGE__INIT;
	Csi__V1__VolumeCapability cap = CSI__V1__VOLUME_CAPABILITY__INIT;
	Csi__V1__VolumeCapability__AccessMode am = CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__INIT;
	Csi__V1__VolumeCapability__MountVolume mv = CSI__V1__VOLUME_CAPABILITY__MOUNT_VOLUME__INIT;
	Csi__V1__VolumeCapability *capp = &cap;
	Csi__V1__CreateVolumeRequest__ParametersEntry pe = CSI__V1__CREATE_VOLUME_REQUEST__PARAMETERS_ENTRY__INIT;
	Csi__V1__CreateVolumeRequest__ParametersEntry *pep = &pe;
	Csi__V1__CreateVolumeResponse *cr = NULL;
	char name[96];
	dv_code code;

	snprintf(name, sizeof(name), "bench-%d-%d-%llu", (int)getpid(), w->idx,
		 (unsigned long long)w->iter++);
	am.mode = CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_WRITER;
	cap.access_mode = &am;
	cap.access_type_case = CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT;
	cap.mount = &mv;
	range.required_bytes = (int64_t)w->size;
	req.name = name;
	req.capacity_range = &range;
	req.n_volume_capabilities = 1;
	req.volume_capabilities = &capp;
	if (w->pool) {
		pe.key = (char *)"pool";
		pe.value = (char *)w->pool;
		req.n_parameters = 1;
		req.parameters = &pep;
	}
	code = rpc_client_call(c, "/csi.v1.Controller/CreateVolume", &req.base,
			       &csi__v1__create_volume_response__descriptor, (ProtobufCMessage **)&cr,
			       w->ctx->timeout_ns, st);
	if (code != DV_OK)
		return code;
	if (!delete_after) {
		protobuf_c_message_free_unpacked(&cr->base, NULL);
		return DV_OK;
	}
	Csi__V1__DeleteVolumeRequest dreq = CSI__V1__DELETE_VOLUME_REQUEST__INIT;
	ProtobufCMessage *dresp = NULL;
	dreq.volume_id = cr->volume->volume_id;
	code = rpc_client_call(c, "/csi.v1.Controller/DeleteVolume", &dreq.base,
			       &csi__v1__delete_volume_response__descriptor, &dresp, w->ctx->timeout_ns,
			       st);
	protobuf_c_message_free_unpacked(&cr->base, NULL);
	if (dresp)
		protobuf_c_message_free_unpacked(dresp, NULL);
	return code;
}

static dv_code op_create_delete(bench_worker *w, rpc_client *c, dv_buf *resp, dv_status *st)
{
	return create_one(w, c, true, st);
}

static dv_code op_create(bench_worker *w, rpc_client *c, dv_buf *resp, dv_status *st)
{
	return create_one(w, c, false, st);
}

/* One ListVolumes page of 500, walking the whole list round and round. */
static dv_code op_list_page(bench_worker *w, rpc_client *c, dv_buf *resp, dv_status *st)
{
	Csi__V1__ListVolumesRequest req = CSI__V1__LIST_VOLUMES_REQUEST__INIT;
	Csi__V1__ListVolumesResponse *lr = NULL;
	char token[32];
	dv_code code;

	snprintf(token, sizeof(token), "%llu", (unsigned long long)w->iter);
	req.max_entries = 500;
	req.starting_token = w->iter ? token : (char *)"";
	code = rpc_client_call(c, "/csi.v1.Controller/ListVolumes", &req.base,
			       &csi__v1__list_volumes_response__descriptor, (ProtobufCMessage **)&lr,
			       w->ctx->timeout_ns, st);
	if (code != DV_OK)
		return code;
	w->iter = lr->next_token && *lr->next_token ? strtoull(lr->next_token, NULL, 10) : 0;
	protobuf_c_message_free_unpacked(&lr->base, NULL);
	return DV_OK;
}

static const bench_method methods[] = {
	{ "probe", "/csi.v1.Identity/Probe", NULL },
	{ "info", "/csi.v1.Identity/GetPluginInfo", NULL },
	{ "caps", "/csi.v1.Identity/GetPluginCapabilities", NULL },
	{ "create-delete", "CreateVolume+DeleteVolume", op_create_delete },
	{ "create", "CreateVolume", op_create },
	{ "list-page", "ListVolumes(500)", op_list_page },
};

static void *bench_main(void *arg)
{
	bench_worker *w = arg;
	rpc_client *client = NULL;
	dv_status st = { 0 };
	uint8_t req[1];
	size_t req_len = 0; /* the benchmarked requests have no fields */
	dv_buf resp;

	if (rpc_client_new(&client, w->ctx->endpoint, &st) < 0) {
		w->errors++;
		w->first_error = st.code;
		dv_status_clear(&st);
		return NULL;
	}
	dv_buf_init(&resp, 0);
	while (!atomic_load(w->stop)) {
		int64_t t0 = dv_now_ns();
		if (t0 >= w->end_ns)
			break;
		if (w->budget && atomic_fetch_sub(w->budget, 1) <= 0)
			break;
		dv_buf_reset(&resp);
		dv_code code = w->m->op ? w->m->op(w, client, &resp, &st)
					: rpc_client_call_raw(client, w->m->path, req, req_len, &resp,
							      w->ctx->timeout_ns, &st);
		int64_t dt = dv_now_ns() - t0;
		if (code != DV_OK) {
			if (!w->errors)
				w->first_error = code;
			w->errors++;
			dv_status_clear(&st);
			continue;
		}
		if (w->n == w->cap) {
			size_t ncap = w->cap ? w->cap * 2 : 4096;
			uint32_t *p = realloc(w->lat_us, ncap * sizeof(*p));
			if (!p)
				break;
			w->lat_us = p;
			w->cap = ncap;
		}
		w->lat_us[w->n++] = (uint32_t)(dt / 1000 > UINT32_MAX ? UINT32_MAX : dt / 1000);
	}
	dv_buf_free(&resp);
	rpc_client_free(client);
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static void bench_usage(FILE *f)
{
	fputs("Usage: dynvolctl bench [-c N] [-d DUR] [--pool P] [--size S] METHOD\n"
	      "  METHOD: probe | info | caps | create-delete\n"
	      "  -c, --concurrency N   parallel clients, one connection each (default 16)\n"
	      "  -d, --duration DUR    how long to run (default 5s)\n"
	      "  --pool P              create-delete: StorageClass parameter pool=P\n"
	      "  --size S              create-delete: required size (default 16Mi)\n"
	      "  -n, --count N         stop after N operations (e.g. create -n 10000)\n",
	      f);
}

int ctl_bench(ctl_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "concurrency", required_argument, NULL, 'c' },
		{ "duration", required_argument, NULL, 'd' },
		{ "pool", required_argument, NULL, 'p' },
		{ "size", required_argument, NULL, 's' },
		{ "count", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long conc = 16;
	int64_t dur = 5LL * 1000000000LL;
	const bench_method *m = NULL;
	const char *pool = NULL;
	uint64_t size = 16ULL << 20;
	long count = 0;
	int c;

	optind = 0; /* 0 re-initialises glibc getopt after the main scan */
	while ((c = getopt_long(argc, argv, "c:d:p:s:n:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			pool = optarg;
			break;
		case 'n':
			count = strtol(optarg, NULL, 10);
			if (count < 1) {
				fprintf(stderr, "dynvolctl bench: --count must be >= 1\n");
				return EXIT_USAGE;
			}
			dur = INT64_MAX / 4;
			break;
		case 's':
			if (dv_parse_size(optarg, &size) < 0) {
				fprintf(stderr, "dynvolctl bench: --size must be like 16Mi\n");
				return EXIT_USAGE;
			}
			break;
		case 'c':
			conc = strtol(optarg, NULL, 10);
			if (conc < 1 || conc > 1024) {
				fprintf(stderr, "dynvolctl bench: concurrency must be 1..1024\n");
				return EXIT_USAGE;
			}
			break;
		case 'd':
			if (dv_parse_duration(optarg, &dur) < 0 || dur <= 0) {
				fprintf(stderr, "dynvolctl bench: --duration must be like 5s\n");
				return EXIT_USAGE;
			}
			break;
		case 'h':
			bench_usage(stdout);
			return 0;
		default:
			bench_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		bench_usage(stderr);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(argv[optind], methods[i].name) == 0)
			m = &methods[i];
	if (!m) {
		fprintf(stderr, "dynvolctl bench: unknown method '%s'\n", argv[optind]);
		return EXIT_USAGE;
	}

	atomic_bool stop;
	atomic_long budget;
	atomic_init(&stop, false);
	atomic_init(&budget, count);
	bench_worker *ws = calloc((size_t)conc, sizeof(*ws));
	pthread_t *tids = calloc((size_t)conc, sizeof(*tids));
	if (!ws || !tids) {
		free(ws);
		free(tids);
		return DV_RESOURCE_EXHAUSTED;
	}
	int64_t t0 = dv_now_ns();
	long started = 0;
	for (long i = 0; i < conc; i++) {
		ws[i] = (bench_worker){ .ctx = ctx, .m = m, .idx = (int)i, .pool = pool, .size = size,
					.end_ns = t0 + dur, .stop = &stop,
					.budget = count ? &budget : NULL };
		if (pthread_create(&tids[i], NULL, bench_main, &ws[i]) != 0)
			break;
		started++;
	}
	for (long i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	double secs = (double)(dv_now_ns() - t0) / 1e9;

	size_t total = 0, errors = 0;
	dv_code first_error = DV_OK;
	for (long i = 0; i < started; i++) {
		total += ws[i].n;
		errors += ws[i].errors;
		if (ws[i].errors && first_error == DV_OK)
			first_error = ws[i].first_error;
	}
	uint32_t *all = malloc((total ? total : 1) * sizeof(*all));
	size_t k = 0;
	for (long i = 0; all && i < started; i++) {
		memcpy(all + k, ws[i].lat_us, ws[i].n * sizeof(*all));
		k += ws[i].n;
	}
	double p50 = 0, p99 = 0, pmax = 0;
	if (all && total) {
		qsort(all, total, sizeof(*all), cmp_u32);
		p50 = all[total * 50 / 100];
		p99 = all[total * 99 / 100];
		pmax = all[total - 1];
	}
	if (ctx->json)
		printf("{\"method\":\"%s\",\"concurrency\":%ld,\"calls\":%zu,\"errors\":%zu,"
		       "\"seconds\":%.3f,\"calls_per_sec\":%.1f,\"p50_us\":%.0f,\"p99_us\":%.0f,"
		       "\"max_us\":%.0f}\n",
		       m->path, started, total, errors, secs, total / secs, p50, p99, pmax);
	else
		printf("%s concurrency=%ld calls=%zu errors=%zu %.0f calls/s p50=%.0fus "
		       "p99=%.0fus max=%.0fus\n",
		       m->path, started, total, errors, total / secs, p50, p99, pmax);
	if (errors)
		fprintf(stderr, "dynvolctl bench: %zu calls failed, first with %s\n", errors,
			dv_code_name(first_error));
	for (long i = 0; i < conc; i++)
		free(ws[i].lat_us);
	free(all);
	free(ws);
	free(tids);
	return errors ? (int)first_error : 0;
}

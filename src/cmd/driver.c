/*
 * driver.c - `dynvol driver`: the CSI plugin process.
 *
 * Reads flags and the config file, builds the gRPC server with the CSI
 * services for its mode, and serves until SIGTERM/SIGINT, then drains.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "config.h"
#include "csi/csi.h"
#include "log.h"
#include "metrics.h"
#include "pbjson.h"
#include "rpc/server.h"
#include "strutil.h"
#include "version.h"

#define DEFAULT_STATE_DIR "/var/lib/dynvol"
#define DEFAULT_DRIVER_NAME "csi.dynvol.io"
/* how long the server must be quiet before on_idle() returns memory */
#define IDLE_QUIET_NS (500 * 1000000LL)
/* A liveness probe every few seconds still sees a fresh check each time;
 * a burst of Probes costs one check a second. */
#define DEFAULT_PROBE_CACHE_NS (1000 * 1000000LL)

static rpc_server *volatile running_server;
static rpc_server *volatile running_registration;

const cmd_embedding *cmd_driver_embedding;
static volatile sig_atomic_t stop_early;

static void on_signal(int sig)
{
	stop_early = 1;
	if (running_server)
		rpc_server_stop(running_server);
	if (running_registration)
		rpc_server_stop(running_registration);
}

void cmd_driver_stop(void)
{
	on_signal(SIGTERM);
}

/* The plugin-registration server's loop: its own thread, so the kubelet's
 * few calls never queue behind CSI traffic and the CSI loop stays as is. */
static void *registration_loop(void *p)
{
	int r = rpc_server_run(p);

	if (r < 0)
		dv_log_errno(r, "plugin registration server failed");
	return NULL;
}

static void log_call(const rpc_call_record *rec, void *payload);

/* What the driver exports on --metrics-address: every CSI call by method
 * and code, and its latency. */
typedef struct {
	dv_metrics *m;
	dv_metric *calls, *seconds;
} driver_metrics;

static const double call_buckets[] = { 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
					0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 30 };

static void observe_call(const rpc_call_record *rec, void *payload)
{
	driver_metrics *dm = payload;
	const char *const v[] = { rec->method, dv_code_name(rec->code) };
	const char *const m[] = { rec->method };

	log_call(rec, NULL);
	dv_metric_add(dm->calls, v, 1);
	dv_metric_observe(dm->seconds, m, (double)rec->duration_ns / 1e9);
}

/* /healthz and /readyz: the check Probe makes (the livenessprobe
 * sidecar's job), on the metrics server's thread. */
static bool driver_healthy(char *reason, size_t len, void *payload)
{
	char buf[512];
	const char *why = csi_driver_not_ready(payload, buf, sizeof(buf));

	if (why)
		snprintf(reason, len, "%s", why);
	return why == NULL;
}

/* The path of a unix:// endpoint, or NULL for tcp://. */
static const char *unix_path(const char *endpoint)
{
	if (strncmp(endpoint, "unix://", 7) == 0)
		return endpoint + 7;
	return endpoint[0] == '/' ? endpoint : NULL;
}

static void usage(FILE *f)
{
	fputs("Usage: dynvol driver [options]\n"
	      "\n"
	      "Runs the CSI driver on a unix socket (or TCP for tests).\n"
	      "\n"
	      "  --endpoint EP        unix:///path/csi.sock or tcp://127.0.0.1:PORT\n"
	      "                       (default unix://<state-dir>/csi.sock)\n"
	      "  --mode MODE          controller | node | all (default all)\n"
	      "  --node-id ID         this node's ID (default: the host name)\n"
	      "  --driver-name NAME   CSI driver name (default " DEFAULT_DRIVER_NAME ")\n"
	      "  --state-dir DIR      metadata directory (default " DEFAULT_STATE_DIR ")\n"
	      "  --config FILE        YAML config: pools, topology, limits (docs/config.md)\n"
	      "  --log-level LEVEL    debug | info | warn | error (default info)\n"
	      "  --log-format FMT     text | json (default text)\n"
	      "  --max-msg-size N     largest request in bytes (default 4194304)\n"
	      "  --workers N          handler threads (default 8)\n"
	      "  --grace-period DUR   drain time on SIGTERM, e.g. 30s (default 30s)\n"
	      "  --probe-cache DUR    Probe reuses a ready verdict this long; 0 checks\n"
	      "                       on every call (default 1s)\n"
	      "  --path-prefix DIR    node targets must lie beneath DIR (repeatable;\n"
	      "                       default /var/lib/kubelet)\n"
	      "  --max-volumes-per-node N  reported by NodeGetInfo, enforced by publish\n"
	      "  --kubelet-registration-dir DIR  register with the kubelet: serve its\n"
	      "                       plugin-registration API on DIR/<driver>-reg.sock\n"
	      "                       (DIR is <kubelet-root>/plugins_registry; node modes)\n"
	      "  --kubelet-csi-path PATH  the CSI socket as the kubelet dials it (default:\n"
	      "                       the --endpoint path)\n"
	      "  --metrics-address ADDR  serve /metrics (CSI calls by method and code),\n"
	      "                       /healthz and /readyz (Probe's check), e.g. :9808\n"
	      "  -h, --help           show this help\n"
	      "\n"
	      "Without a config file the driver serves one 'dir' pool at\n"
	      "<state-dir>/pools/default.\n",
	      f);
}

/* DYNVOL_TEST_DELAY="Probe:500,GetPluginInfo:200": test-only fault
 * injection, makes the named handlers wait (cancellably) that many ms. */
static int apply_test_delays(rpc_server *srv)
{
	const char *env = getenv("DYNVOL_TEST_DELAY");
	char *copy, *save = NULL;
	int r = 0;

	if (!env || !*env)
		return 0;
	copy = strdup(env);
	if (!copy)
		return -ENOMEM;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(tok, ':');
		char *end;
		long ms;
		if (!colon) {
			r = -EINVAL;
			break;
		}
		*colon = 0;
		ms = strtol(colon + 1, &end, 10);
		if (*end || ms < 0 || rpc_server_set_delay(srv, tok, ms * 1000000LL) < 0) {
			r = -EINVAL;
			break;
		}
		log_warn("test fault injection: %s waits %ld ms", tok, ms);
	}
	free(copy);
	return r;
}

static void log_call(const rpc_call_record *rec, void *payload)
{
	dv_log_field f[5];
	size_t n = 0;
	char *req_json = NULL;
	dv_log_level level = DV_LOG_INFO;

	if (rec->code == DV_INTERNAL || rec->code == DV_UNKNOWN || rec->code == DV_DATA_LOSS)
		level = DV_LOG_WARN;
	if (!dv_log_enabled(level) && !dv_log_enabled(DV_LOG_DEBUG))
		return;
	f[n++] = DV_LOG_STR("method", rec->method);
	f[n++] = DV_LOG_STR("code", dv_code_name(rec->code));
	f[n++] = DV_LOG_DBL("duration_ms", (double)rec->duration_ns / 1e6);
	if (rec->message && *rec->message)
		f[n++] = DV_LOG_STR("error", rec->message);
	/* pbjson redacts every "secrets" field: requests are safe to show */
	if (dv_log_enabled(DV_LOG_DEBUG) && rec->request) {
		req_json = pbjson_dumps(rec->request, JSON_COMPACT);
		if (req_json)
			f[n++] = DV_LOG_JSON("request", req_json);
	}
	dv_log_fields(level, "rpc", f, n);
	free(req_json);
}

/*
 * The server went quiet after work (rpc_server_set_idle_hook). A burst of
 * calls leaves the heap as large as its peak: with 64 clients the nghttp2
 * sessions alone take about 2 MiB, and what lives on (registry pages
 * cached meanwhile, the listener's state) sits between the freed chunks,
 * so glibc cannot shrink the heap from its top. malloc_trim() hands every
 * free page back wherever it lies (bench/memory.py shows before/after).
 * The registry's page cache goes first: up to 1 MiB once the database
 * holds thousands of volumes, refilled from the OS's cache by the next
 * calls at a few microseconds a page.
 */
static void on_idle(void *payload)
{
	store *s = payload;
	int64_t t0 = dv_now_ns();

	if (s)
		registry_release_memory(store_registry(s));
	malloc_trim(0);
	log_debug("idle: returned free memory in %.0f us", (double)(dv_now_ns() - t0) / 1e3);
}

static char *default_node_id(void)
{
	char host[HOST_NAME_MAX + 1];

	if (gethostname(host, sizeof(host)) < 0)
		return strdup("localhost");
	host[HOST_NAME_MAX] = 0;
	return strdup(host);
}

/* Without configured pools the driver serves a 'dir' pool under its state
 * directory, so a fresh machine works with no flags at all. */
static int add_default_pool(dv_config *cfg, const char *state_dir)
{
	dv_pool_config *pc = calloc(1, sizeof(*pc));
	char *root = NULL;

	if (!pc || asprintf(&root, "%s/pools/default", state_dir) < 0) {
		free(pc);
		return -ENOMEM;
	}
	pc->name = strdup("default");
	pc->backend = strdup("dir");
	pc->root = root;
	if (!pc->name || !pc->backend) {
		free(pc->name);
		free(pc->backend);
		free(root);
		free(pc);
		return -ENOMEM;
	}
	cfg->pools = pc;
	cfg->n_pools = 1;
	if (mkdir(state_dir, 0700) < 0 && errno != EEXIST)
		return 0; /* Probe reports it */
	char *pools_dir = NULL;
	if (asprintf(&pools_dir, "%s/pools", state_dir) >= 0) {
		mkdir(pools_dir, 0700);
		free(pools_dir);
	}
	mkdir(root, 0700);
	return 0;
}

int cmd_driver(int argc, char **argv)
{
	enum {
		OPT_ENDPOINT = 256, OPT_MODE, OPT_NODE_ID, OPT_DRIVER_NAME, OPT_STATE_DIR,
		OPT_CONFIG, OPT_LOG_LEVEL, OPT_LOG_FORMAT, OPT_MAX_MSG, OPT_WORKERS, OPT_GRACE,
		OPT_PATH_PREFIX, OPT_MAX_VOLUMES, OPT_PROBE_CACHE, OPT_REG_DIR, OPT_REG_CSI,
		OPT_METRICS,
	};
	static const struct option longopts[] = {
		{ "endpoint", required_argument, NULL, OPT_ENDPOINT },
		{ "mode", required_argument, NULL, OPT_MODE },
		{ "node-id", required_argument, NULL, OPT_NODE_ID },
		{ "driver-name", required_argument, NULL, OPT_DRIVER_NAME },
		{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
		{ "log-format", required_argument, NULL, OPT_LOG_FORMAT },
		{ "max-msg-size", required_argument, NULL, OPT_MAX_MSG },
		{ "workers", required_argument, NULL, OPT_WORKERS },
		{ "grace-period", required_argument, NULL, OPT_GRACE },
		{ "path-prefix", required_argument, NULL, OPT_PATH_PREFIX },
		{ "max-volumes-per-node", required_argument, NULL, OPT_MAX_VOLUMES },
		{ "probe-cache", required_argument, NULL, OPT_PROBE_CACHE },
		{ "kubelet-registration-dir", required_argument, NULL, OPT_REG_DIR },
		{ "kubelet-csi-path", required_argument, NULL, OPT_REG_CSI },
		{ "metrics-address", required_argument, NULL, OPT_METRICS },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *endpoint = NULL, *mode_s = "all", *node_id = NULL, *driver_name = NULL;
	const char *state_dir = NULL, *config_path = NULL;
	const char *reg_dir = NULL, *reg_csi = NULL, *metrics_addr = NULL;
	driver_metrics dm = { 0 };
	dv_metrics_server *msrv = NULL;
	char *reg_endpoint = NULL;
	rpc_server *reg_srv = NULL;
	pthread_t reg_thread;
	bool reg_running = false;
	csi_registration reg = { 0 };
	const char *prefixes[16];
	size_t n_prefixes = 0;
	long max_volumes = -1;
	rpc_server_options opts = { 0 };
	dv_config *cfg = NULL;
	dv_status st = { 0 };
	rpc_server *srv = NULL;
	store *st_store = NULL;
	csi_driver drv = { 0 };
	char *owned_node_id = NULL, *owned_endpoint = NULL;
	int c, r, ret = 1;
	uint64_t size;
	int64_t ns;
	int64_t probe_cache_ns = DEFAULT_PROBE_CACHE_NS;

	/* glibc gives every thread that allocates its own arena; with eight
	 * handler threads that alone doubles RSS. Two arenas cost nothing
	 * measurable in throughput here (bench/controller.py). */
	mallopt(M_ARENA_MAX, 2);
	/* Fixed thresholds instead of glibc's sliding ones. By default each
	 * freed mmap()ed block (a 128 KiB list of registry rows, a ListVolumes
	 * response) raises the mmap threshold to its size and the trim
	 * threshold to twice that, so later blocks of that size come from the
	 * heap and up to 2x of free space at each arena's top is never given
	 * back, not even by malloc_trim() (it leaves the top of a thread's
	 * arena alone). Blocks of 64 KiB and more are per-call: mmap()ed, they
	 * go back to the system the moment they are freed. */
	mallopt(M_MMAP_THRESHOLD, 64 * 1024);
	mallopt(M_TRIM_THRESHOLD, 128 * 1024);
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_ENDPOINT: endpoint = optarg; break;
		case OPT_MODE: mode_s = optarg; break;
		case OPT_NODE_ID: node_id = optarg; break;
		case OPT_DRIVER_NAME: driver_name = optarg; break;
		case OPT_STATE_DIR: state_dir = optarg; break;
		case OPT_CONFIG: config_path = optarg; break;
		case OPT_REG_DIR: reg_dir = optarg; break;
		case OPT_REG_CSI: reg_csi = optarg; break;
		case OPT_METRICS: metrics_addr = optarg; break;
		case OPT_LOG_LEVEL: {
			dv_log_level l = dv_log_level_from_string(optarg);
			if (l == DV_LOG_LEVEL_INVALID) {
				fprintf(stderr, "dynvol driver: --log-level must be debug, info, warn or error\n");
				return EXIT_USAGE;
			}
			dv_log_set_level(l);
			break;
		}
		case OPT_LOG_FORMAT:
			if (strcmp(optarg, "json") == 0) {
				dv_log_set_format(DV_LOG_JSON);
			} else if (strcmp(optarg, "text") == 0) {
				dv_log_set_format(DV_LOG_TEXT);
			} else {
				fprintf(stderr, "dynvol driver: --log-format must be text or json\n");
				return EXIT_USAGE;
			}
			break;
		case OPT_MAX_MSG:
			if (dv_parse_size(optarg, &size) < 0 || size < 1024 || size > (1ULL << 30)) {
				fprintf(stderr, "dynvol driver: --max-msg-size must be 1024..1Gi bytes\n");
				return EXIT_USAGE;
			}
			opts.max_message = (size_t)size;
			break;
		case OPT_WORKERS: {
			char *end;
			long w = strtol(optarg, &end, 10);
			if (*end || w < 1 || w > 256) {
				fprintf(stderr, "dynvol driver: --workers must be 1..256\n");
				return EXIT_USAGE;
			}
			opts.workers = (unsigned)w;
			break;
		}
		case OPT_GRACE:
			if (dv_parse_duration(optarg, &ns) < 0 || ns <= 0) {
				fprintf(stderr, "dynvol driver: --grace-period must be a duration like 30s\n");
				return EXIT_USAGE;
			}
			opts.grace_ns = ns;
			break;
		case OPT_PROBE_CACHE:
			if (dv_parse_duration(optarg, &ns) < 0 || ns < 0 || ns > 3600 * 1000000000LL) {
				fprintf(stderr, "dynvol driver: --probe-cache must be a duration like 1s or 0, at most 1h\n");
				return EXIT_USAGE;
			}
			probe_cache_ns = ns;
			break;
		case OPT_PATH_PREFIX:
			if (n_prefixes == sizeof(prefixes) / sizeof(prefixes[0])) {
				fprintf(stderr, "dynvol driver: at most 16 --path-prefix\n");
				return EXIT_USAGE;
			}
			prefixes[n_prefixes++] = optarg;
			break;
		case OPT_MAX_VOLUMES: {
			char *end;
			max_volumes = strtol(optarg, &end, 10);
			if (*end || max_volumes < 0 || max_volumes > 1000000) {
				fprintf(stderr, "dynvol driver: --max-volumes-per-node must be 0..1000000\n");
				return EXIT_USAGE;
			}
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "dynvol driver: unexpected argument '%s'\n", argv[optind]);
		return EXIT_USAGE;
	}
	drv.mode = csi_mode_from_string(mode_s);
	if (!drv.mode) {
		fprintf(stderr, "dynvol driver: --mode must be controller, node or all\n");
		return EXIT_USAGE;
	}
	if (reg_dir && !(drv.mode & CSI_MODE_NODE)) {
		fprintf(stderr, "dynvol driver: --kubelet-registration-dir needs a node mode "
				"(the kubelet registers node plugins)\n");
		return EXIT_USAGE;
	}
	if (reg_dir && reg_dir[0] != '/') {
		fprintf(stderr, "dynvol driver: --kubelet-registration-dir must be absolute\n");
		return EXIT_USAGE;
	}
	if (reg_csi && reg_csi[0] != '/') {
		fprintf(stderr, "dynvol driver: --kubelet-csi-path must be an absolute path\n");
		return EXIT_USAGE;
	}

	if (config_path) {
		if (dv_config_load(&cfg, config_path, &st) < 0) {
			log_error("%s", st.message ? st.message : "cannot load config");
			goto done;
		}
	} else if (!(cfg = calloc(1, sizeof(*cfg)))) {
		goto done;
	}
	/* flags win over the file, the file over defaults */
	if (!driver_name)
		driver_name = cfg->driver_name ? cfg->driver_name : DEFAULT_DRIVER_NAME;
	if (!state_dir)
		state_dir = cfg->state_dir ? cfg->state_dir : DEFAULT_STATE_DIR;
	if (!node_id)
		node_id = cfg->node_id ? cfg->node_id : (owned_node_id = default_node_id());
	const char *why = dv_validate_driver_name(driver_name);
	if (why) {
		log_error("driver name '%s' %s", driver_name, why);
		goto done;
	}
	if (!node_id || !*node_id || strlen(node_id) > 256) {
		log_error("node ID must be 1 to 256 bytes");
		goto done;
	}
	if (state_dir[0] != '/') {
		log_error("state directory must be an absolute path: %s", state_dir);
		goto done;
	}
	if (!endpoint) {
		if (asprintf(&owned_endpoint, "unix://%s/csi.sock", state_dir) < 0)
			goto done;
		endpoint = owned_endpoint;
	}
	if (cfg->n_pools == 0 && add_default_pool(cfg, state_dir) < 0)
		goto done;
	/* --path-prefix replaces the file's list; the kubelet dir is the default */
	if (n_prefixes) {
		for (size_t i = 0; i < cfg->n_path_prefixes; i++)
			free(cfg->path_prefixes[i]);
		cfg->n_path_prefixes = 0;
	}
	for (size_t i = 0; i < n_prefixes; i++) {
		if (dv_config_add_path_prefix(cfg, prefixes[i], &st) < 0) {
			log_error("%s", st.message ? st.message : "bad --path-prefix");
			goto done;
		}
	}
	if (cfg->n_path_prefixes == 0 && dv_config_add_path_prefix(cfg, "/var/lib/kubelet", &st) < 0)
		goto done;
	if (max_volumes >= 0)
		cfg->max_volumes_per_node = max_volumes;

	if (store_open(&st_store, cfg, state_dir, &st) < 0) {
		log_error("%s", st.message ? st.message : "cannot open the volume store");
		goto done;
	}
	drv.store = st_store;
	drv.state_dir = state_dir;
	drv.config = cfg;
	drv.node_id = node_id;
	if ((drv.mode & CSI_MODE_NODE) && csi_node_recover(&drv) < 0)
		log_warn("node recovery could not read the registry");
	drv.max_volumes_per_node = cfg->max_volumes_per_node > 0 ? (size_t)cfg->max_volumes_per_node : 0;
	drv.name = driver_name;
	drv.version = DYNVOL_VERSION;
	drv.probe_cache_ns = probe_cache_ns;
	drv.node_id = node_id;
	drv.state_dir = state_dir;
	drv.config = cfg;

	r = rpc_server_new(&srv, &opts);
	if (r < 0) {
		dv_log_errno(r, "cannot create the gRPC server");
		goto done;
	}
	if (metrics_addr) {
		static const char *const two[] = { "method", "grpc_status_code" };
		static const char *const one[] = { "method" };
		dv_probes probes = { .live = driver_healthy, .ready = driver_healthy,
				     .payload = &drv };
		char err[256];

		if (dv_metrics_new(&dm.m) < 0)
			goto done;
		dm.calls = dv_metrics_counter(dm.m, "dynvol_csi_calls_total",
					      "CSI calls answered, by method and code.", 2, two);
		dm.seconds = dv_metrics_histogram(dm.m, "dynvol_csi_call_duration_seconds",
						  "CSI call latency, by method.", 1, one,
						  call_buckets,
						  sizeof(call_buckets) / sizeof(call_buckets[0]));
		if (dv_metrics_serve(metrics_addr, dm.m, &probes, &msrv, err, sizeof(err)) < 0) {
			log_error("--metrics-address: %s", err);
			goto done;
		}
		log_info("metrics on %s (port %d)", metrics_addr, dv_metrics_server_port(msrv));
		rpc_server_set_observer(srv, observe_call, &dm);
	} else {
		rpc_server_set_observer(srv, log_call, NULL);
	}
	rpc_server_set_idle_hook(srv, IDLE_QUIET_NS, on_idle, st_store);
	if (csi_identity_register(srv, &drv) < 0 ||
	    ((drv.mode & CSI_MODE_CONTROLLER) && csi_controller_register(srv, &drv) < 0) ||
	    ((drv.mode & CSI_MODE_NODE) && csi_node_register(srv, &drv) < 0)) {
		log_error("cannot register the CSI services");
		goto done;
	}
	if (apply_test_delays(srv) < 0) {
		log_error("DYNVOL_TEST_DELAY must look like Probe:500,GetPluginInfo:200");
		goto done;
	}
	if (rpc_server_listen(srv, endpoint, &st) < 0) {
		log_error("%s", st.message ? st.message : "cannot listen");
		goto done;
	}
	if (reg_dir) {
		rpc_server_options ro = { .workers = 1 };

		reg.driver_name = driver_name;
		reg.csi_path = reg_csi ? reg_csi : unix_path(endpoint);
		if (!reg.csi_path) {
			log_error("--kubelet-csi-path is needed: the kubelet dials a unix socket, "
				  "and --endpoint %s is not one", endpoint);
			goto done;
		}
		if (asprintf(&reg_endpoint, "unix://%s/%s-reg.sock", reg_dir, driver_name) < 0)
			goto done;
		r = rpc_server_new(&reg_srv, &ro);
		if (r < 0 || csi_registration_register(reg_srv, &reg) < 0) {
			log_error("cannot create the plugin registration server");
			goto done;
		}
		if (rpc_server_listen(reg_srv, reg_endpoint, &st) < 0) {
			log_error("kubelet registration: %s", st.message ? st.message : "cannot listen");
			goto done;
		}
	}

	running_server = srv;
	running_registration = reg_srv;
	if (!cmd_driver_embedding) {
		struct sigaction sa = { .sa_handler = on_signal };

		sigemptyset(&sa.sa_mask);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
		signal(SIGPIPE, SIG_IGN);
	}
	/* a stop that came before the server was there to take it */
	if (stop_early)
		rpc_server_stop(srv);

	{
		char port[16] = "";
		if (rpc_server_tcp_port(srv))
			snprintf(port, sizeof(port), "%d", rpc_server_tcp_port(srv));
		dv_log_field f[] = {
			DV_LOG_STR("version", DYNVOL_VERSION),
			DV_LOG_STR("name", driver_name),
			DV_LOG_STR("mode", mode_s),
			DV_LOG_STR("node_id", node_id),
			DV_LOG_STR("endpoint", endpoint),
			DV_LOG_STR("port", port),
		};
		dv_log_fields(DV_LOG_INFO, "dynvol driver listening", f, port[0] ? 6 : 5);
	}
	if (reg_srv) {
		if (pthread_create(&reg_thread, NULL, registration_loop, reg_srv) != 0) {
			log_error("cannot start the plugin registration server");
			goto done;
		}
		reg_running = true;
		log_info("serving kubelet plugin registration on %s", reg_endpoint);
	}
	if (cmd_driver_embedding && cmd_driver_embedding->ready)
		cmd_driver_embedding->ready(cmd_driver_embedding->payload);
	r = rpc_server_run(srv);
	running_server = NULL;
	if (r < 0) {
		dv_log_errno(r, "event loop failed");
		goto done;
	}
	log_info("dynvol driver stopped");
	ret = 0;
done:
	running_server = NULL;
	running_registration = NULL;
	if (reg_running) {
		rpc_server_stop(reg_srv);
		pthread_join(reg_thread, NULL);
	}
	/* frees the socket file too: the kubelet sees the plugin go */
	rpc_server_free(reg_srv);
	free(reg_endpoint);
	rpc_server_free(srv);
	dv_metrics_server_stop(msrv);
	dv_metrics_free(dm.m);
	store_close(st_store);
	dv_config_free(cfg);
	dv_status_clear(&st);
	free(owned_node_id);
	free(owned_endpoint);
	return ret;
}

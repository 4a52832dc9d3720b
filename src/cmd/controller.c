/*
 * controller.c - `dynvol controller`: the provisioner, attacher, resizer,
 * snapshotter, capacity publisher and (when asked) the PV binder, talking
 * to a Kubernetes API server through its REST API and to a CSI driver
 * through its gRPC endpoint.
 *
 * Start-up: kubeconfig -> API client -> the driver's name and
 * capabilities -> (leader election) -> each controller's watches ->
 * informers synced -> workers. SIGTERM drains the workers (each finishes
 * its current key; CSI calls have deadlines), releases the Lease and
 * exits 0. Losing the Lease exits 1, as client-go's controllers do: a
 * supervisor restarts the process, which then competes again.
 */
#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "controllers/ctrl.h"
#include "kubeconfig.h"
#include "lease.h"
#include "metrics.h"
#include "ratelimit.h"
#include "log.h"
#include "strutil.h"

/* Every controller but the binder: a real cluster's kube-controller-manager
 * binds, so running ours there too would race it. */
#define DEFAULT_CONTROLLERS "default"
#define SEC 1000000000LL

static volatile sig_atomic_t stop_requested;
const cmd_embedding *cmd_controller_embedding;

static void on_signal(int sig)
{
	stop_requested = 1;
}

void cmd_controller_stop(void)
{
	stop_requested = 1;
}

static void usage(FILE *f)
{
	fputs("Usage: dynvol controller [options]\n"
	      "\n"
	      "Runs the CSI control plane against a Kubernetes API server: dynamic\n"
	      "provisioning, attach, expansion, snapshots, storage capacity and, when\n"
	      "asked, PV/PVC binding and reclaim.\n"
	      "\n"
	      "  --kubeconfig PATH        API server credentials (default: $KUBECONFIG,\n"
	      "                           in-cluster service account, ~/.kube/config)\n"
	      "  --context NAME           kubeconfig context (default: current-context)\n"
	      "  --csi-address EP         the CSI driver's endpoint (unix:///path/csi.sock,\n"
	      "                           /path/csi.sock or tcp://host:port; required)\n"
	      "  --driver-name NAME       provision for this name instead of GetPluginInfo's\n"
	      "  --controllers LIST       comma-separated: provisioner, binder, attacher,\n"
	      "                           resizer, snapshotter, capacity; all; or default\n"
	      "                           (every one but the binder; the default)\n"
	      "  --workers N              concurrent operations per controller (default 16)\n"
	      "  --kube-api-qps Q         client-side API rate (default 50; 0 = unlimited)\n"
	      "  --kube-api-burst N       (default 100)\n"
	      "  --timeout-provision D    CreateVolume deadline (default 5m)\n"
	      "  --timeout-delete D       DeleteVolume deadline (default 2m)\n"
	      "  --timeout-expand D       ControllerExpandVolume deadline (default 3m)\n"
	      "  --timeout-attach D       ControllerPublish/Unpublish deadline (default 2m)\n"
	      "  --timeout-snapshot D     CreateSnapshot/DeleteSnapshot deadline (default 5m)\n"
	      "  --retry-interval-start D first retry after a failure (default 1s; doubles)\n"
	      "  --retry-interval-max D   longest retry interval (default 5m)\n"
	      "  --capacity-poll-interval D  GetCapacity refresh (default 1m)\n"
	      "  --capacity-namespace NS  namespace of CSIStorageCapacity objects\n"
	      "                           (default: the kubeconfig's namespace)\n"
	      "  --leader-elect           run only while holding a Lease\n"
	      "  --leader-elect-namespace NS  (default: the kubeconfig's namespace)\n"
	      "  --leader-elect-lease-duration D (default 15s)\n"
	      "  --leader-elect-renew-deadline D (default 10s)\n"
	      "  --leader-elect-retry-period D   (default 2s)\n"
	      "  --metrics-address ADDR   serve /metrics, /healthz, /readyz (e.g. :9809)\n"
	      "  --log-level LEVEL        debug | info | warn | error (default info)\n"
	      "  -h, --help               show this help\n"
	      "\n"
	      "Durations take ms, s, m, h suffixes (500ms, 30s, 5m).\n",
	      f);
}

enum {
	O_KUBECONFIG = 256, O_CONTEXT, O_CSI, O_DRIVER, O_CONTROLLERS, O_WORKERS, O_QPS, O_BURST,
	O_T_PROV, O_T_DEL, O_T_EXP, O_T_ATT, O_T_SNAP, O_RETRY_START, O_RETRY_MAX, O_CAP_POLL,
	O_CAP_NS, O_LE, O_LE_NS, O_LE_DUR, O_LE_RENEW, O_LE_RETRY, O_METRICS, O_LOG,
};

typedef struct {
	const char *kubeconfig, *context, *csi, *driver_name, *controllers, *metrics_addr;
	const char *le_ns;
	bool leader_elect;
	int64_t le_dur, le_renew, le_retry;
	double qps;
	int burst;
	ctrl_opts opt;
} options;

/* Leadership, seen by the main thread. */
static pthread_mutex_t lead_lock = PTHREAD_MUTEX_INITIALIZER;
static bool leading, lost;

static void on_started(void *p)
{
	pthread_mutex_lock(&lead_lock);
	leading = true;
	pthread_mutex_unlock(&lead_lock);
	log_info("controller: became the leader");
}

static void on_stopped(void *p)
{
	pthread_mutex_lock(&lead_lock);
	if (leading)
		lost = true;
	leading = false;
	pthread_mutex_unlock(&lead_lock);
}

static bool lead_state(bool *ret_lost)
{
	bool l;

	pthread_mutex_lock(&lead_lock);
	l = leading;
	*ret_lost = lost;
	pthread_mutex_unlock(&lead_lock);
	return l;
}

static int parse_dur(const char *flag, const char *s, int64_t *out)
{
	if (dv_parse_duration(s, out) < 0 || *out <= 0) {
		fprintf(stderr, "dynvol controller: invalid %s %s\n", flag, s);
		return -1;
	}
	return 0;
}

/* Which controllers --controllers names; -1 on an unknown name. */
static int select_controllers(const char *list, bool on[])
{
	char buf[256];
	char *p = buf;

	if (snprintf(buf, sizeof(buf), "%s", list) >= (int)sizeof(buf))
		return -1;
	while (p && *p) {
		char *comma = strchr(p, ',');
		bool found = false;

		if (comma)
			*comma = '\0';
		for (int i = 0; ctrl_all[i]; i++)
			if (strcmp(p, "all") == 0 || strcmp(p, ctrl_all[i]->name) == 0 ||
			    (strcmp(p, "default") == 0 && strcmp(ctrl_all[i]->name, "binder") != 0)) {
				on[i] = true;
				found = true;
			}
		if (!found) {
			fprintf(stderr, "dynvol controller: unknown controller '%s'\n", p);
			return -1;
		}
		p = comma ? comma + 1 : NULL;
	}
	return 0;
}

static int parse_args(int argc, char **argv, options *o)
{
	static const struct option opts[] = {
		{ "kubeconfig", required_argument, NULL, O_KUBECONFIG },
		{ "context", required_argument, NULL, O_CONTEXT },
		{ "csi-address", required_argument, NULL, O_CSI },
		{ "driver-name", required_argument, NULL, O_DRIVER },
		{ "controllers", required_argument, NULL, O_CONTROLLERS },
		{ "workers", required_argument, NULL, O_WORKERS },
		{ "kube-api-qps", required_argument, NULL, O_QPS },
		{ "kube-api-burst", required_argument, NULL, O_BURST },
		{ "timeout-provision", required_argument, NULL, O_T_PROV },
		{ "timeout-delete", required_argument, NULL, O_T_DEL },
		{ "timeout-expand", required_argument, NULL, O_T_EXP },
		{ "timeout-attach", required_argument, NULL, O_T_ATT },
		{ "timeout-snapshot", required_argument, NULL, O_T_SNAP },
		{ "retry-interval-start", required_argument, NULL, O_RETRY_START },
		{ "retry-interval-max", required_argument, NULL, O_RETRY_MAX },
		{ "capacity-poll-interval", required_argument, NULL, O_CAP_POLL },
		{ "capacity-namespace", required_argument, NULL, O_CAP_NS },
		{ "leader-elect", no_argument, NULL, O_LE },
		{ "leader-elect-namespace", required_argument, NULL, O_LE_NS },
		{ "leader-elect-lease-duration", required_argument, NULL, O_LE_DUR },
		{ "leader-elect-renew-deadline", required_argument, NULL, O_LE_RENEW },
		{ "leader-elect-retry-period", required_argument, NULL, O_LE_RETRY },
		{ "metrics-address", required_argument, NULL, O_METRICS },
		{ "log-level", required_argument, NULL, O_LOG },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	char *end;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case O_KUBECONFIG: o->kubeconfig = optarg; break;
		case O_CONTEXT: o->context = optarg; break;
		case O_CSI: o->csi = optarg; break;
		case O_DRIVER: o->driver_name = optarg; break;
		case O_CONTROLLERS: o->controllers = optarg; break;
		case O_METRICS: o->metrics_addr = optarg; break;
		case O_CAP_NS: o->opt.capacity_namespace = optarg; break;
		case O_LE: o->leader_elect = true; break;
		case O_LE_NS: o->le_ns = optarg; break;
		case O_WORKERS:
			o->opt.workers = (int)strtol(optarg, &end, 10);
			if (*end || o->opt.workers < 1 || o->opt.workers > 1024) {
				fprintf(stderr, "dynvol controller: --workers must be 1..1024\n");
				return -1;
			}
			break;
		case O_QPS:
			o->qps = strtod(optarg, &end);
			if (*end || o->qps < 0 || o->qps > 1e6) {
				fprintf(stderr, "dynvol controller: invalid --kube-api-qps %s\n", optarg);
				return -1;
			}
			break;
		case O_BURST:
			o->burst = (int)strtol(optarg, &end, 10);
			if (*end || o->burst < 1 || o->burst > 1000000) {
				fprintf(stderr, "dynvol controller: invalid --kube-api-burst %s\n", optarg);
				return -1;
			}
			break;
		case O_T_PROV: if (parse_dur("--timeout-provision", optarg, &o->opt.provision_timeout_ns)) return -1; break;
		case O_T_DEL: if (parse_dur("--timeout-delete", optarg, &o->opt.delete_timeout_ns)) return -1; break;
		case O_T_EXP: if (parse_dur("--timeout-expand", optarg, &o->opt.expand_timeout_ns)) return -1; break;
		case O_T_ATT: if (parse_dur("--timeout-attach", optarg, &o->opt.attach_timeout_ns)) return -1; break;
		case O_T_SNAP: if (parse_dur("--timeout-snapshot", optarg, &o->opt.snapshot_timeout_ns)) return -1; break;
		case O_RETRY_START: if (parse_dur("--retry-interval-start", optarg, &o->opt.retry_base_ns)) return -1; break;
		case O_RETRY_MAX: if (parse_dur("--retry-interval-max", optarg, &o->opt.retry_max_ns)) return -1; break;
		case O_CAP_POLL: if (parse_dur("--capacity-poll-interval", optarg, &o->opt.capacity_poll_ns)) return -1; break;
		case O_LE_DUR: if (parse_dur("--leader-elect-lease-duration", optarg, &o->le_dur)) return -1; break;
		case O_LE_RENEW: if (parse_dur("--leader-elect-renew-deadline", optarg, &o->le_renew)) return -1; break;
		case O_LE_RETRY: if (parse_dur("--leader-elect-retry-period", optarg, &o->le_retry)) return -1; break;
		case O_LOG: {
			dv_log_level lv = dv_log_level_from_string(optarg);

			if (lv == DV_LOG_LEVEL_INVALID) {
				fprintf(stderr, "dynvol controller: invalid --log-level %s\n", optarg);
				return -1;
			}
			dv_log_set_level(lv);
			break;
		}
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "dynvol controller: unexpected argument %s\n", argv[optind]);
		return -1;
	}
	if (!o->csi) {
		fprintf(stderr, "dynvol controller: --csi-address is required\n");
		return -1;
	}
	if (o->le_renew && o->le_dur && o->le_renew >= o->le_dur) {
		fprintf(stderr, "dynvol controller: --leader-elect-renew-deadline must be shorter "
				"than the lease duration\n");
		return -1;
	}
	return 0;
}

/* A Lease name from the driver name: DNS-1123, as external-provisioner
 * derives its own ("dynvol.io" -> "dynvol-io-dynvol-controller"). */
static void lease_name(const char *driver, char *out, size_t len)
{
	size_t n = 0;

	for (const char *p = driver; *p && n + 1 < len && n < 200; p++) {
		char ch = *p;

		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		out[n++] = ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')) ? ch : '-';
	}
	out[n] = '\0';
	snprintf(out + n, len - n, "-dynvol-controller");
}

typedef struct {
	atomic_bool running;	/* read by the metrics server's thread */
	bool elect;
	char lease[256];
} ready_state;

static bool is_ready(char *reason, size_t len, void *payload)
{
	ready_state *r = payload;

	if (!atomic_load(&r->running)) {
		snprintf(reason, len, "controllers not running (not the leader, or starting)");
		return false;
	}
	return true;
}

/* leader_election_master_status, client-go's name: 1 while this process
 * leads (or runs without election), so an alert can check there is one. */
static void collect_leader(dv_metrics_out *o, void *payload)
{
	static const char *const labels[] = { "name" };
	ready_state *r = payload;
	const char *const values[] = { r->lease };
	bool was_lost;

	if (!r->elect)
		return;
	dv_metrics_out_family(o, "leader_election_master_status", "gauge",
			      "1 while this process holds the Lease.");
	dv_metrics_out_sample(o, "leader_election_master_status", 1, labels, values,
			      lead_state(&was_lost) ? 1 : 0);
}

int cmd_controller(int argc, char **argv)
{
	options o = { .controllers = DEFAULT_CONTROLLERS, .qps = 50, .burst = 100 };
	bool on[16] = { false };
	void *state[16] = { NULL };
	kube_config *cfg = NULL;
	kube_client *kube = NULL;
	kube_recorder *rec = NULL;
	kube_leader *leader = NULL;
	ctrl_csi *csi = NULL;
	dv_metrics *metrics = NULL;
	dv_metrics_server *msrv = NULL;
	ready_state ready = { .elect = false };
	ctrl_ctx ctx;
	dv_status st = { 0 };
	char err[512] = "";
	int rc, exit_code = 1;
	bool informers = false;

	mallopt(M_ARENA_MAX, 2);
	ctrl_opts_default(&o.opt);
	rc = parse_args(argc, argv, &o);
	if (rc)
		return rc > 0 ? 0 : EXIT_USAGE;
	if (select_controllers(o.controllers, on) < 0)
		return EXIT_USAGE;

	if (!cmd_controller_embedding) {
		struct sigaction sa = { .sa_handler = on_signal };

		sigemptyset(&sa.sa_mask);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
		signal(SIGPIPE, SIG_IGN);
	}

	if (kube_config_load(o.kubeconfig, o.context, &cfg, err, sizeof(err)) < 0) {
		log_error("controller: %s", err);
		return 1;
	}
	if (o.metrics_addr && dv_metrics_new(&metrics) < 0) {
		log_error("controller: out of memory");
		goto out;
	}
	kube_client_opts ko = { .qps = o.qps, .burst = o.burst, .unlimited = o.qps == 0,
				.user_agent = "dynvol-controller",
				.observe = metrics ? ctrl_metrics_observe_request : NULL,
				.observe_payload = metrics };
	if (kube_client_new(cfg, &ko, &kube) < 0) {
		log_error("controller: cannot create the API client");
		goto out;
	}
	if (ctrl_csi_new(o.csi, o.opt.workers * 2 + 4, &csi, &st) < 0) {
		log_error("controller: --csi-address %s: %s", o.csi,
			  st.message ? st.message : "invalid");
		goto out;
	}
	if (!o.opt.capacity_namespace)
		o.opt.capacity_namespace = kube_client_namespace(kube);
	ctrl_ctx_init(&ctx, kube, NULL, csi, metrics, &o.opt);
	if (o.metrics_addr) {
		dv_probes probes = { .ready = is_ready, .payload = &ready };

		if (dv_metrics_serve(o.metrics_addr, metrics, &probes, &msrv, err, sizeof(err)) < 0) {
			log_error("controller: --metrics-address: %s", err);
			goto out_ctx;
		}
		log_info("controller: metrics on %s (port %d)", o.metrics_addr,
			 dv_metrics_server_port(msrv));
	}
	while (ctrl_ctx_probe_driver(&ctx, o.driver_name, 5000, &st) < 0) {
		log_warn("controller: CSI driver at %s not answering yet: %s", o.csi,
			 st.message ? st.message : "");
		if (stop_requested) {
			exit_code = 0;
			goto out_ctx;
		}
	}
	if (kube_recorder_new(kube, "dynvol-controller", NULL, &rec) < 0)
		goto out_ctx;
	ctx.rec = rec;

	if (o.leader_elect) {
		char lname[256];
		kube_leader_opts lo = {
			.namespace = o.le_ns ? o.le_ns : kube_client_namespace(kube),
			.name = lname,
			.identity = ctx.identity,
			.lease_duration_ns = o.le_dur,
			.renew_deadline_ns = o.le_renew,
			.retry_period_ns = o.le_retry,
			.on_started_leading = on_started,
			.on_stopped_leading = on_stopped,
		};
		bool l = false;

		lease_name(ctx.driver.name, lname, sizeof(lname));
		snprintf(ready.lease, sizeof(ready.lease), "%s", lname);
		ready.elect = true;
		if (metrics)
			dv_metrics_add_collector(metrics, collect_leader, &ready);
		if (kube_leader_start(kube, &lo, &leader) < 0) {
			log_error("controller: cannot start leader election");
			goto out_ctx;
		}
		log_info("controller: waiting to lead Lease %s/%s as %s", lo.namespace, lname,
			 ctx.identity);
		while (!stop_requested && !(lead_state(&l)))
			kube_sleep_ns(50000000);
		if (stop_requested) {
			exit_code = 0;
			goto out_ctx;
		}
	}

	for (int i = 0; ctrl_all[i]; i++) {
		if (!on[i])
			continue;
		if (ctrl_all[i]->setup(&ctx, &state[i]) < 0) {
			log_error("controller: %s: setup failed", ctrl_all[i]->name);
			goto out_stop;
		}
	}
	informers = true;
	if (ctrl_ctx_start_informers(&ctx, 120000) < 0)
		goto out_stop;
	for (int i = 0; ctrl_all[i]; i++) {
		if (state[i] && ctrl_all[i]->run(state[i]) < 0) {
			log_error("controller: %s: cannot start workers", ctrl_all[i]->name);
			goto out_stop;
		}
	}
	atomic_store(&ready.running, true);
	{
		char names[256] = "";
		size_t n = 0;

		for (int i = 0; ctrl_all[i]; i++)
			if (on[i] && n < sizeof(names))
				n += (size_t)snprintf(names + n, sizeof(names) - n, "%s%s",
						      n ? "," : "", ctrl_all[i]->name);
		log_info("controller: running for driver %s (%s)", ctx.driver.name, names);
	}
	if (cmd_controller_embedding && cmd_controller_embedding->ready)
		cmd_controller_embedding->ready(cmd_controller_embedding->payload);

	exit_code = 0;
	for (;;) {
		bool l_lost = false;

		if (stop_requested)
			break;
		if (leader) {
			lead_state(&l_lost);
			if (l_lost) {
				log_error("controller: lost the Lease; stopping so that only one "
					  "leader acts");
				exit_code = 1;
				break;
			}
		}
		kube_sleep_ns(50000000);
	}
	log_info("controller: stopping");

out_stop:
	atomic_store(&ready.running, false);
	atomic_store(&ctx.stopping, true);
	for (int i = 0; ctrl_all[i]; i++)
		if (state[i])
			ctrl_all[i]->stop(state[i]);
	if (informers)
		ctrl_ctx_stop_informers(&ctx);
	for (int i = 0; ctrl_all[i]; i++)
		if (state[i])
			ctrl_all[i]->free(state[i]);
out_ctx:
	dv_metrics_server_stop(msrv);
	kube_leader_stop(leader);
	ctrl_ctx_destroy(&ctx);
	kube_recorder_free(rec);
out:
	dv_status_clear(&st);
	ctrl_csi_free(csi);
	kube_client_free(kube);
	kube_config_free(cfg);
	dv_metrics_free(metrics);
	return exit_code;
}

/*
 * server.c - `dynvol server`: the whole flow on one machine, in one
 * process. The embedded API server, the CSI driver and the controllers
 * (the binder included) share one state directory, each role on threads
 * of its own, talking to each other exactly as in a cluster: the
 * controllers through the API server's REST API (HTTPS on loopback, the
 * kubeconfig it writes) and the driver's gRPC socket. So what runs here is
 * what runs in a cluster, only co-located.
 *
 * Start: API server -> driver (socket up) -> this node's Node, CSINode and
 * CSIDriver objects and the default StorageClass -> controllers. SIGTERM
 * stops them in the reverse order, each draining its work.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "apiserver/apiserver.h"
#include "client.h"
#include "cmd.h"
#include "kubeconfig.h"
#include "log.h"
#include "ratelimit.h"
#include "strutil.h"
#include "version.h"

#define DEFAULT_STATE_DIR "/var/lib/dynvol"
#define DRIVER_NAME "csi.dynvol.io"
#define TOPOLOGY_KEY "topology.dynvol.io/node"
#define DEFAULT_CLASS "dynvol-default"
#define START_TIMEOUT_NS (120 * 1000000000LL)

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void usage(FILE *f)
{
	fputs("Usage: dynvol server [options]\n"
	      "\n"
	      "Runs the embedded API server, the CSI driver and the controllers (PV\n"
	      "binder included) in one process on one state directory, and registers\n"
	      "this machine as a node. kubectl --kubeconfig <state-dir>/kubeconfig\n"
	      "then drives the whole flow.\n"
	      "\n"
	      "  --state-dir DIR      everything lives here (default " DEFAULT_STATE_DIR ")\n"
	      "  --port N             API server port (default 6443; 0 picks a free one)\n"
	      "  --node-name NAME     this node's name (default: the host name)\n"
	      "  --config FILE        the driver's pools (docs/config.md); default one\n"
	      "                       'dir' pool at <state-dir>/pools/default\n"
	      "  --controllers LIST   the controllers to run (default all)\n"
	      "  --log-level LEVEL    debug | info | warn | error (default info)\n"
	      "  -h, --help           show this help\n",
	      f);
}

/* A role (driver, controller) on its own thread. */
typedef struct {
	const char *name;
	int (*main)(int argc, char **argv);
	const cmd_embedding **slot;
	char *argv[24];
	int argc;
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool ready, done;
	int exit_code;
	cmd_embedding emb;
} role;

static void role_ready(void *p)
{
	role *r = p;

	pthread_mutex_lock(&r->lock);
	r->ready = true;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

static void *role_thread(void *p)
{
	role *r = p;
	int rc = r->main(r->argc, r->argv);

	pthread_mutex_lock(&r->lock);
	r->done = true;
	r->exit_code = rc;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

static void role_arg(role *r, const char *a)
{
	if (r->argc < (int)(sizeof(r->argv) / sizeof(r->argv[0])) - 1)
		r->argv[r->argc++] = (char *)a;
	r->argv[r->argc] = NULL;
}

/* Starts the role and waits until it serves, fails, or a stop comes.
 * 0 when it serves. */
static int role_start(role *r)
{
	int64_t deadline = dv_now_ns() + START_TIMEOUT_NS;

	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	r->emb = (cmd_embedding){ .ready = role_ready, .payload = r };
	*r->slot = &r->emb;
	if (pthread_create(&r->thread, NULL, role_thread, r) != 0) {
		log_error("server: cannot start the %s", r->name);
		return -1;
	}
	r->started = true;
	for (;;) {
		bool ready, done;

		pthread_mutex_lock(&r->lock);
		ready = r->ready;
		done = r->done;
		pthread_mutex_unlock(&r->lock);
		if (ready)
			return 0;
		if (done) {
			log_error("server: the %s stopped during start-up (exit %d)", r->name,
				  r->exit_code);
			return -1;
		}
		if (stop_requested || dv_now_ns() > deadline) {
			if (!stop_requested)
				log_error("server: the %s did not start in time", r->name);
			return -1;
		}
		kube_sleep_ns(20 * 1000000);
	}
}

static bool role_exited(role *r)
{
	bool done;

	if (!r->started)
		return false;
	pthread_mutex_lock(&r->lock);
	done = r->done;
	pthread_mutex_unlock(&r->lock);
	return done;
}

static int role_join(role *r, void (*stop)(void))
{
	if (!r->started)
		return 0;
	stop();
	pthread_join(r->thread, NULL);
	r->started = false;
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
	return r->exit_code;
}

/* Creates obj, or, when it exists and replace is set, updates it to obj
 * (keeping what others wrote in metadata). 0 or -1 with a log line. */
static int ensure(kube_client *kube, const kube_resource *res, json_t *obj, bool replace)
{
	kube_response resp = { 0 };
	const char *name = json_string_value(json_object_get(json_object_get(obj, "metadata"),
							     "name"));
	int c = kube_create(kube, res, NULL, obj, &resp);

	if (c == 409 && replace) {
		kube_response_clear(&resp);
		c = kube_get(kube, res, NULL, name, &resp);
		if (c == 200) {
			json_t *cur_meta = json_object_get(resp.body, "metadata");

			json_object_set(json_object_get(obj, "metadata"), "resourceVersion",
					json_object_get(cur_meta, "resourceVersion"));
			kube_response_clear(&resp);
			c = kube_update(kube, res, NULL, obj, &resp);
		}
	}
	if (c != 200 && c != 201 && !(c == 409 && !replace)) {
		log_error("server: cannot register %s %s: %s", res->kind, name,
			  resp.message[0] ? resp.message : "no answer");
		kube_response_clear(&resp);
		return -1;
	}
	kube_response_clear(&resp);
	return 0;
}

/* Node status as a kubelet reports it: Ready while dynvol server runs
 * (kubectl get nodes says Ready instead of Unknown). */
static int node_ready(kube_client *kube, const char *node)
{
	kube_response resp = { 0 };
	char now[32];
	time_t t = time(NULL);
	struct tm tm;
	int c = kube_get(kube, &KUBE_NODES, NULL, node, &resp);

	if (c != 200) {
		kube_response_clear(&resp);
		return -1;
	}
	struct utsname u;
	const char *arch = "unknown", *kernel = "unknown";

	if (uname(&u) == 0) {
		/* Kubernetes' names (GOARCH), not the kernel's */
		arch = strcmp(u.machine, "x86_64") == 0	 ? "amd64" :
		       strcmp(u.machine, "aarch64") == 0 ? "arm64" : u.machine;
		kernel = u.release;
	}
	gmtime_r(&t, &tm);
	strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_set_new(resp.body, "status", json_pack(
		"{s:[{s:s,s:s,s:s,s:s,s:s,s:s}],s:{s:s,s:s,s:s,s:s}}", "conditions", "type", "Ready",
		"status", "True", "reason", "DynvolServerRunning", "message",
		"dynvol server runs this node's volumes", "lastHeartbeatTime", now,
		"lastTransitionTime", now, "nodeInfo", "kubeletVersion", "dynvol-" DYNVOL_VERSION,
		"operatingSystem", "linux", "architecture", arch, "kernelVersion",
		kernel));
	json_t *obj = json_incref(resp.body);
	kube_response_clear(&resp);
	c = kube_update_status(kube, &KUBE_NODES, NULL, obj, &resp);
	json_decref(obj);
	kube_response_clear(&resp);
	return c == 200 ? 0 : -1;
}

/* What a kubelet and an installer would register for this node. */
static int register_node(const char *kubeconfig, const char *node)
{
	kube_config *cfg = NULL;
	kube_client *kube = NULL;
	char err[512];
	int r = -1;

	if (kube_config_load(kubeconfig, NULL, &cfg, err, sizeof(err)) < 0) {
		log_error("server: %s", err);
		return -1;
	}
	kube_client_opts ko = { .unlimited = true, .user_agent = "dynvol-server" };
	if (kube_client_new(cfg, &ko, &kube) < 0)
		goto out;

	json_t *node_obj = json_pack(
		"{s:s,s:s,s:{s:s,s:{s:s,s:s,s:s}},s:{}}", "apiVersion", "v1", "kind", "Node",
		"metadata", "name", node, "labels", "kubernetes.io/hostname", node,
		"kubernetes.io/os", "linux", TOPOLOGY_KEY, node, "spec");
	/* The CSINode is what the kubelet writes after the driver registered:
	 * the node id and topology keys the provisioner and attacher read. */
	json_t *csinode = json_pack(
		"{s:s,s:s,s:{s:s},s:{s:[{s:s,s:s,s:[s]}]}}", "apiVersion", "storage.k8s.io/v1",
		"kind", "CSINode", "metadata", "name", node, "spec", "drivers", "name",
		DRIVER_NAME, "nodeID", node, "topologyKeys", TOPOLOGY_KEY);
	json_t *driver = json_pack(
		"{s:s,s:s,s:{s:s},s:{s:b,s:b,s:b,s:s,s:[s,s]}}", "apiVersion", "storage.k8s.io/v1",
		"kind", "CSIDriver", "metadata", "name", DRIVER_NAME, "spec", "attachRequired", 1,
		"podInfoOnMount", 1, "storageCapacity", 1, "fsGroupPolicy", "File",
		"volumeLifecycleModes", "Persistent", "Ephemeral");
	/* Immediate binding: until dynvol server schedules Pods itself, a
	 * WaitForFirstConsumer claim would wait for a scheduler that is not
	 * there. The user's own classes choose for themselves. */
	json_t *sc = json_pack(
		"{s:s,s:s,s:{s:s,s:{s:s}},s:s,s:s,s:s,s:b}", "apiVersion", "storage.k8s.io/v1",
		"kind", "StorageClass", "metadata", "name", DEFAULT_CLASS, "annotations",
		"storageclass.kubernetes.io/is-default-class", "true", "provisioner", DRIVER_NAME,
		"reclaimPolicy", "Delete", "volumeBindingMode", "Immediate",
		"allowVolumeExpansion", 1);

	if (node_obj && csinode && driver && sc &&
	    ensure(kube, &KUBE_NODES, node_obj, true) == 0 && node_ready(kube, node) == 0 &&
	    ensure(kube, &KUBE_CSINODES, csinode, true) == 0 &&
	    ensure(kube, &KUBE_CSIDRIVERS, driver, false) == 0 &&
	    /* a default class the user changed or deleted stays as they left it
	     * only while it exists: deleted, it comes back on restart */
	    ensure(kube, &KUBE_STORAGECLASSES, sc, false) == 0)
		r = 0;
	json_decref(node_obj);
	json_decref(csinode);
	json_decref(driver);
	json_decref(sc);
out:
	kube_client_free(kube);
	kube_config_free(cfg);
	return r;
}

int cmd_server(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state-dir", required_argument, NULL, 's' },
		{ "port", required_argument, NULL, 'p' },
		{ "node-name", required_argument, NULL, 'n' },
		{ "config", required_argument, NULL, 'c' },
		{ "controllers", required_argument, NULL, 'C' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *state_arg = DEFAULT_STATE_DIR, *node = NULL, *config = NULL;
	const char *controllers = "all", *log_level = NULL;
	char state[PATH_MAX], host[256] = "", kubeconfig[PATH_MAX + 16], csi[PATH_MAX + 16];
	dv_apiserver_config acfg = { .port = 6443 };
	dv_apiserver *api = NULL;
	role drv = { .name = "driver", .main = cmd_driver, .slot = &cmd_driver_embedding };
	role ctl = { .name = "controller", .main = cmd_controller,
		     .slot = &cmd_controller_embedding };
	char err[512] = "";
	int c, rc = 1;

	mallopt(M_ARENA_MAX, 2);
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		char *end;

		switch (c) {
		case 's': state_arg = optarg; break;
		case 'n': node = optarg; break;
		case 'c': config = optarg; break;
		case 'C': controllers = optarg; break;
		case 'p':
			acfg.port = (int)strtol(optarg, &end, 10);
			if (*end || acfg.port < 0 || acfg.port > 65535) {
				fprintf(stderr, "dynvol server: invalid --port %s\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'l': {
			dv_log_level lv = dv_log_level_from_string(optarg);

			if (lv == DV_LOG_LEVEL_INVALID) {
				fprintf(stderr, "dynvol server: invalid --log-level %s\n", optarg);
				return EXIT_USAGE;
			}
			dv_log_set_level(lv);
			log_level = optarg;
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
		fprintf(stderr, "dynvol server: unexpected argument %s\n", argv[optind]);
		return EXIT_USAGE;
	}
	if (!node) {
		gethostname(host, sizeof(host) - 1);
		node = host[0] ? host : "localhost";
	}
	if (mkdir(state_arg, 0700) < 0 && errno != EEXIST) {
		log_error("server: cannot create %s: %s", state_arg, strerror(errno));
		return 1;
	}
	if (!realpath(state_arg, state)) {
		log_error("server: %s: %s", state_arg, strerror(errno));
		return 1;
	}
	snprintf(kubeconfig, sizeof(kubeconfig), "%s/kubeconfig", state);
	snprintf(csi, sizeof(csi), "unix://%s/csi.sock", state);

	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	acfg.state_dir = state;
	if (dv_apiserver_start(&acfg, &api, err, sizeof(err)) < 0) {
		log_error("server: API server: %s", err);
		return 1;
	}
	log_info("server: API server on %s", dv_apiserver_url(api));

	role_arg(&drv, "driver");
	role_arg(&drv, "--state-dir");
	role_arg(&drv, state);
	role_arg(&drv, "--endpoint");
	role_arg(&drv, csi);
	role_arg(&drv, "--node-id");
	role_arg(&drv, node);
	if (config) {
		role_arg(&drv, "--config");
		role_arg(&drv, config);
	}
	if (log_level) {
		role_arg(&drv, "--log-level");
		role_arg(&drv, log_level);
	}
	if (role_start(&drv) < 0)
		goto out;
	if (register_node(kubeconfig, node) < 0)
		goto out;

	role_arg(&ctl, "controller");
	role_arg(&ctl, "--kubeconfig");
	role_arg(&ctl, kubeconfig);
	role_arg(&ctl, "--csi-address");
	role_arg(&ctl, csi);
	role_arg(&ctl, "--controllers");
	role_arg(&ctl, controllers);
	if (log_level) {
		role_arg(&ctl, "--log-level");
		role_arg(&ctl, log_level);
	}
	if (role_start(&ctl) < 0)
		goto out;

	log_info("server: ready on node %s; kubeconfig %s", node, kubeconfig);
	log_info("server: try: kubectl --kubeconfig %s get storageclass", kubeconfig);
	rc = 0;
	for (unsigned tick = 1; !stop_requested; tick++) {
		if (role_exited(&drv) || role_exited(&ctl)) {
			log_error("server: the %s stopped; stopping everything",
				  role_exited(&drv) ? "driver" : "controller");
			rc = 1;
			break;
		}
		kube_sleep_ns(200 * 1000000);
		if (tick % 10 == 0)
			malloc_trim(0); /* freed heap pages back every 2 s */
	}
	log_info("server: stopping");
out:
	/* reverse order: nothing calls a role that is already gone */
	if (role_join(&ctl, cmd_controller_stop) != 0)
		rc = 1;
	if (role_join(&drv, cmd_driver_stop) != 0)
		rc = 1;
	dv_apiserver_stop(api);
	log_info("server: stopped");
	return rc;
}

#include "harness.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csi/csi.h"
#include "log.h"
#include "rpc/server.h"
#include "store/store.h"
#include "sys/spawn.h"

static char sock_path[108];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static char tmp_dir[] = "/tmp/dvfuzz-XXXXXX";
static int node_enabled;

int harness_enable_node(void)
{
	if (unshare(CLONE_NEWNS) < 0)
		return -errno;
	/* nothing mounted here may reach the host's namespace */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return -errno;
	if (mkdir(HARNESS_KUBELET, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (mount("dvfuzz", HARNESS_KUBELET, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m") < 0)
		return -errno;
	node_enabled = 1;
	return 0;
}

/* The fuzzer exits through exit(): take the scratch state dir with it. */
static void cleanup(void)
{
	const char *argv[] = { "/bin/rm", "-rf", "--", tmp_dir, NULL };

	if (node_enabled) {
		/* both are tmpfs in this namespace, with binds under them:
		 * detaching takes every mount beneath, and the data */
		umount2(tmp_dir, MNT_DETACH);
		rmdir(tmp_dir);
		umount2(HARNESS_KUBELET, MNT_DETACH);
		rmdir(HARNESS_KUBELET);
		return;
	}
	sys_spawn(argv, NULL, 0, 10000);
}

static void *serve(void *arg)
{
	rpc_server_run(arg);
	return NULL;
}

static void start(void)
{
	char *dir = tmp_dir;
	static char pool_root[256], endpoint[160];
	static dv_config *cfg;
	static csi_driver drv;
	static dv_pool_config pc;
	store *st = NULL;
	rpc_server *srv = NULL;
	dv_status err = { 0 };
	pthread_t t;

	dv_log_set_level(DV_LOG_ERROR);
	if (!mkdtemp(dir))
		abort();
	if (node_enabled && mount("dvfuzz", dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=64m") < 0)
		abort();
	atexit(cleanup);
	snprintf(pool_root, sizeof(pool_root), "%s/pool", dir);
	mkdir(pool_root, 0700);
	cfg = calloc(1, sizeof(*cfg));
	pc.name = (char *)"default";
	pc.backend = (char *)"dir";
	pc.root = pool_root;
	cfg->pools = &pc;
	cfg->n_pools = 1;
	if ((node_enabled && dv_config_add_path_prefix(cfg, HARNESS_KUBELET, &err) < 0) ||
	    dv_config_add_path_prefix(cfg, dir, &err) < 0 || store_open(&st, cfg, dir, &err) < 0 ||
	    rpc_server_new(&srv, NULL) < 0) {
		fprintf(stderr, "harness: %s\n", err.message ? err.message : "setup failed");
		abort();
	}
	drv.name = "csi.dynvol.io";
	drv.version = "fuzz";
	drv.node_id = "fuzz-node";
	drv.state_dir = dir;
	drv.mode = CSI_MODE_ALL;
	drv.config = cfg;
	drv.store = st;
	snprintf(sock_path, sizeof(sock_path), "%s/csi.sock", dir);
	snprintf(endpoint, sizeof(endpoint), "unix://%s", sock_path);
	if (csi_identity_register(srv, &drv) < 0 || csi_controller_register(srv, &drv) < 0 ||
	    (node_enabled && csi_node_register(srv, &drv) < 0) ||
	    rpc_server_listen(srv, endpoint, &err) < 0 ||
	    pthread_create(&t, NULL, serve, srv) != 0)
		abort();
	pthread_detach(t);
}

const char *harness_socket(void)
{
	pthread_once(&once, start);
	return sock_path;
}

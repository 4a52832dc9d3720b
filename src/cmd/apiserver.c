/*
 * apiserver.c - `dynvol apiserver`: the embedded Kubernetes API server on
 * its own (dynvol server runs the same inside it).
 */
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apiserver/apiserver.h"
#include "cmd.h"
#include "log.h"

#define DEFAULT_STATE_DIR "/var/lib/dynvol"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	stop_requested = 1;
}

static void usage(FILE *f)
{
	fputs("Usage: dynvol apiserver [options]\n"
	      "\n"
	      "Serves the storage slice of the Kubernetes API (stored in SQLite) so that\n"
	      "kubectl works against it, and writes <state-dir>/kubeconfig for it.\n"
	      "\n"
	      "  --state-dir DIR      store, credentials and kubeconfig (default " DEFAULT_STATE_DIR ")\n"
	      "  --bind-address IP    IPv4 address to listen on (default 127.0.0.1)\n"
	      "  --port N             port (default 6443; 0 picks a free one)\n"
	      "  --insecure-http      plain HTTP instead of HTTPS (loopback only)\n"
	      "  --no-auth            with --insecure-http: no bearer token required\n"
	      "  --watch-history N    change events kept for watches (default 2048)\n"
	      "  --idle-timeout SEC   close connections idle this long (default 300;\n"
	      "                       a watch lasts its own time instead)\n"
	      "  --log-level LEVEL    debug | info | warn | error (default info)\n"
	      "  -h, --help           show this help\n",
	      f);
}

int cmd_apiserver(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state-dir", required_argument, NULL, 's' },
		{ "bind-address", required_argument, NULL, 'b' },
		{ "port", required_argument, NULL, 'p' },
		{ "insecure-http", no_argument, NULL, 'i' },
		{ "no-auth", no_argument, NULL, 'n' },
		{ "watch-history", required_argument, NULL, 'w' },
		{ "idle-timeout", required_argument, NULL, 't' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	dv_apiserver_config cfg = { .state_dir = DEFAULT_STATE_DIR, .port = 6443 };
	int c;
	/* A thread per connection: without a cap, glibc gives each its own
	 * arena, and fixed thresholds keep large freed blocks (list
	 * responses) from staying in the heap (the driver does the same; see
	 * driver.c). */
	mallopt(M_ARENA_MAX, 2);
	mallopt(M_MMAP_THRESHOLD, 64 * 1024);
	mallopt(M_TRIM_THRESHOLD, 128 * 1024);
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		char *end;
		switch (c) {
		case 's':
			cfg.state_dir = optarg;
			break;
		case 'b':
			cfg.bind_addr = optarg;
			break;
		case 'p':
			cfg.port = (int)strtol(optarg, &end, 10);
			if (*end || cfg.port < 0 || cfg.port > 65535) {
				fprintf(stderr, "dynvol apiserver: invalid --port %s\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'i':
			cfg.insecure = true;
			break;
		case 'n':
			cfg.no_auth = true;
			break;
		case 'w': {
			long v = strtol(optarg, &end, 10);
			if (*end || v < 16 || v > 1000000) {
				fprintf(stderr, "dynvol apiserver: --watch-history must be 16..1000000\n");
				return EXIT_USAGE;
			}
			cfg.watch_history = (size_t)v;
			break;
		}
		case 't': {
			long v = strtol(optarg, &end, 10);
			if (*end || v < 1 || v > 86400) {
				fprintf(stderr, "dynvol apiserver: --idle-timeout must be 1..86400 seconds\n");
				return EXIT_USAGE;
			}
			cfg.idle_timeout = (unsigned)v;
			break;
		}
		case 'l': {
			dv_log_level lv = dv_log_level_from_string(optarg);
			if (lv == DV_LOG_LEVEL_INVALID) {
				fprintf(stderr, "dynvol apiserver: invalid --log-level %s\n", optarg);
				return EXIT_USAGE;
			}
			dv_log_set_level(lv);
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
		fprintf(stderr, "dynvol apiserver: unexpected argument %s\n", argv[optind]);
		return EXIT_USAGE;
	}
	if (cfg.no_auth && !cfg.insecure) {
		fprintf(stderr, "dynvol apiserver: --no-auth needs --insecure-http\n");
		return EXIT_USAGE;
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	dv_apiserver *a = NULL;
	char err[512] = "";
	if (dv_apiserver_start(&cfg, &a, err, sizeof err) < 0) {
		log_error("apiserver: %s", err);
		return 1;
	}
	log_info("apiserver: serving %s; kubeconfig %s/kubeconfig", dv_apiserver_url(a),
		 cfg.state_dir);
	/* Freed heap pages go back to the system every few seconds. */
	while (!stop_requested) {
		sleep(2);
		malloc_trim(0);
	}
	log_info("apiserver: stopping");
	dv_apiserver_stop(a);
	return 0;
}

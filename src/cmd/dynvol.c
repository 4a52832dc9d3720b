/*
 * dynvol.c - the dynvol binary: one entry point, a subcommand per role.
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "version.h"

static void usage(FILE *f)
{
	fputs("Usage: dynvol <command> [options]\n"
	      "\n"
	      "Commands:\n"
	      "  driver      run the CSI driver (Identity, Controller, Node services)\n"
	      "  apiserver   run the embedded Kubernetes API server (kubectl works against it)\n"
	      "  controller  run the control plane: provisioner, attacher, resizer, snapshotter,\n"
	      "              capacity publisher, PV binder (against any Kubernetes API server)\n"
	      "  server      all of it in one process on one machine: API server, driver,\n"
	      "              controllers (kubectl --kubeconfig <state-dir>/kubeconfig)\n"
	      "\n"
	      "Options:\n"
	      "  -h, --help     show this help\n"
	      "  -V, --version  show the version\n"
	      "\n"
	      "Run 'dynvol <command> --help' for the command's options.\n",
	      f);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 64;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("dynvol %s\n", DYNVOL_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "driver") == 0)
		return cmd_driver(argc - 1, argv + 1);
	if (strcmp(argv[1], "apiserver") == 0)
		return cmd_apiserver(argc - 1, argv + 1);
	if (strcmp(argv[1], "controller") == 0)
		return cmd_controller(argc - 1, argv + 1);
	if (strcmp(argv[1], "server") == 0)
		return cmd_server(argc - 1, argv + 1);
	fprintf(stderr, "dynvol: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 64;
}

/*
 * dynvolctl.c - a CSI client in the spirit of csc: calls any CSI driver's
 * RPCs over its socket, prints the answer for people or as JSON, and exits
 * with the call's gRPC status code.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "pbjson.h"
#include "strutil.h"
#include "version.h"

#define DEFAULT_ENDPOINT "unix:///var/lib/dynvol/csi.sock"

static void usage(FILE *f)
{
	fputs("Usage: dynvolctl [options] <group> <command> [args]\n"
	      "\n"
	      "Options:\n"
	      "  -e, --endpoint EP   CSI endpoint (default $CSI_ENDPOINT or " DEFAULT_ENDPOINT ")\n"
	      "  -t, --timeout DUR   per-call deadline, e.g. 10s, 500ms (default 30s)\n"
	      "  -o, --output FMT    text (default) or json\n"
	      "  -V, --version       show the version\n"
	      "  -h, --help          show this help\n"
	      "\n"
	      "Commands:\n"
	      "  identity info       GetPluginInfo: driver name and version\n"
	      "  identity caps       GetPluginCapabilities\n"
	      "  identity probe      Probe: is the driver ready\n"
	      "  controller ...      Controller RPCs: create, delete, list, publish, expand,\n"
	      "                      snapshot, capacity... (controller --help)\n"
	      "  bench METHOD        load test: bench --help for options\n"
	      "\n"
	      "Exit status: the gRPC status code of the call (0 OK, 4 DEADLINE_EXCEEDED,\n"
	      "12 UNIMPLEMENTED, 14 UNAVAILABLE, ...); 64 for usage errors.\n",
	      f);
}

int ctl_call(ctl_ctx *ctx, const char *path, const ProtobufCMessage *req,
	     const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **ret_resp)
{
	dv_status st = { 0 };
	dv_code code;

	if (!ctx->client && rpc_client_new(&ctx->client, ctx->endpoint, &st) < 0) {
		fprintf(stderr, "dynvolctl: %s\n", st.message ? st.message : "bad endpoint");
		dv_status_clear(&st);
		return EXIT_USAGE;
	}
	code = rpc_client_call(ctx->client, path, req, resp_desc, ret_resp, ctx->timeout_ns, &st);
	if (code != DV_OK)
		fprintf(stderr, "dynvolctl: %s: %s: %s\n", path, dv_code_name(code),
			st.message && *st.message ? st.message : "(no message)");
	dv_status_clear(&st);
	return (int)code;
}

void ctl_print_json(const ProtobufCMessage *resp)
{
	char *s = pbjson_dumps(resp, JSON_COMPACT);

	if (s) {
		puts(s);
		free(s);
	}
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "endpoint", required_argument, NULL, 'e' },
		{ "timeout", required_argument, NULL, 't' },
		{ "output", required_argument, NULL, 'o' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	ctl_ctx ctx = { .timeout_ns = 30LL * 1000000000LL };
	int c, ret;

	ctx.endpoint = getenv("CSI_ENDPOINT");
	if (!ctx.endpoint || !*ctx.endpoint)
		ctx.endpoint = DEFAULT_ENDPOINT;
	/* '+': stop at the first command word, so subcommands own their flags */
	while ((c = getopt_long(argc, argv, "+e:t:o:Vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'e':
			ctx.endpoint = optarg;
			break;
		case 't':
			if (dv_parse_duration(optarg, &ctx.timeout_ns) < 0 || ctx.timeout_ns <= 0) {
				fprintf(stderr, "dynvolctl: --timeout must be a duration like 10s\n");
				return EXIT_USAGE;
			}
			break;
		case 'o':
			if (strcmp(optarg, "json") == 0)
				ctx.json = true;
			else if (strcmp(optarg, "text") != 0) {
				fprintf(stderr, "dynvolctl: --output must be text or json\n");
				return EXIT_USAGE;
			}
			break;
		case 'V':
			printf("dynvolctl %s\n", DYNVOL_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *group = argv[optind];
	if (strcmp(group, "identity") == 0) {
		ret = ctl_identity(&ctx, argc - optind, argv + optind);
	} else if (strcmp(group, "controller") == 0) {
		ret = ctl_controller(&ctx, argc - optind, argv + optind);
	} else if (strcmp(group, "bench") == 0) {
		ret = ctl_bench(&ctx, argc - optind, argv + optind);
	} else {
		fprintf(stderr, "dynvolctl: unknown command group '%s'\n", group);
		usage(stderr);
		ret = EXIT_USAGE;
	}
	rpc_client_free(ctx.client);
	return ret;
}

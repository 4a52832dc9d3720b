/* ctl.h - shared state of dynvolctl's subcommands. */
#ifndef DYNVOL_CTL_H
#define DYNVOL_CTL_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdint.h>

#include "rpc/client.h"

#define EXIT_USAGE 64

typedef struct {
	const char *endpoint;
	int64_t timeout_ns;
	bool json;
	rpc_client *client;
} ctl_ctx;

/* Makes one call and reports a failure on stderr. Returns the gRPC code,
 * which dynvolctl uses as its exit status. */
int ctl_call(ctl_ctx *ctx, const char *path, const ProtobufCMessage *req,
	     const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **ret_resp);

/* Prints resp as JSON (one line per object) on stdout. */
void ctl_print_json(const ProtobufCMessage *resp);

int ctl_identity(ctl_ctx *ctx, int argc, char **argv);
int ctl_bench(ctl_ctx *ctx, int argc, char **argv);
int ctl_controller(ctl_ctx *ctx, int argc, char **argv);

#endif

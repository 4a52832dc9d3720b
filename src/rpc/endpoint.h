/*
 * endpoint.h - CSI endpoint strings: "unix:///abs/path", "unix:/abs/path",
 * a bare absolute path, or "tcp://host:port" (loopback, for tests).
 */
#ifndef DYNVOL_RPC_ENDPOINT_H
#define DYNVOL_RPC_ENDPOINT_H

#include <sys/un.h>

typedef enum { RPC_ENDPOINT_UNIX, RPC_ENDPOINT_TCP } rpc_endpoint_kind;

typedef struct {
	rpc_endpoint_kind kind;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* unix */
	char host[256];                                          /* tcp */
	char port[8];
} rpc_endpoint;

/* 0, or -EINVAL with a reason in *ret_why (static string). */
int rpc_endpoint_parse(const char *s, rpc_endpoint *ret, const char **ret_why);

/* Connects (blocking, with CLOEXEC); returns the fd or -errno. */
int rpc_endpoint_connect(const rpc_endpoint *ep);

#endif

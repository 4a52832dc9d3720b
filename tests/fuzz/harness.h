/* harness.h - an in-process dynvol driver (Identity + Controller, and Node
 * on request, over a throwaway `dir` pool) on a unix socket, for the fuzz
 * targets and the allocation torture. */
#ifndef DYNVOL_FUZZ_HARNESS_H
#define DYNVOL_FUZZ_HARNESS_H

/* Starts the driver once per process; returns the socket path. */
const char *harness_socket(void);

/* Where node paths may lie when the Node service is on. */
#define HARNESS_KUBELET "/tmp/dvfuzz-kubelet"

/*
 * Serves the Node service too, with every mount the fuzzed calls make kept
 * in a private mount namespace (they vanish with the process) and
 * HARNESS_KUBELET a private tmpfs. Call before any thread exists (from
 * LLVMFuzzerInitialize): unshare(CLONE_NEWNS) refuses multi-threaded
 * callers. -errno when the namespace cannot be had (not root): the Node
 * service then stays off.
 */
int harness_enable_node(void);

#endif

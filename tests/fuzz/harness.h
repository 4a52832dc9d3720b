/* harness.h - an in-process dynvol driver (Identity + Controller over a
 * throwaway `dir` pool) on a unix socket, for the fuzz targets. */
#ifndef DYNVOL_FUZZ_HARNESS_H
#define DYNVOL_FUZZ_HARNESS_H

/* Starts the driver once per process; returns the socket path. */
const char *harness_socket(void);

#endif

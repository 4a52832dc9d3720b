/*
 * crashpoint.h - named points where a test can make the process die.
 *
 * DYNVOL_CRASHPOINT=<name> in the environment makes the process kill
 * itself with SIGKILL when it reaches dv_crashpoint("<name>"), exactly as
 * kill -9 would at that instant. Tests use it to prove that every mutation
 * is crash-safe: restart, reconcile, nothing lost, nothing leaked.
 * Without the variable a crash point costs one branch.
 */
#ifndef DYNVOL_CRASHPOINT_H
#define DYNVOL_CRASHPOINT_H

void dv_crashpoint(const char *name);

/* The same for a point that stands in many places: armed by
 * DYNVOL_CRASHPOINT=<name>:<detail>, e.g. the reply of one RPC method
 * ("rpc.before_reply:/csi.v1.Controller/CreateVolume"). */
void dv_crashpoint_at(const char *name, const char *detail);

#endif

/*
 * pbcheck.h - checks on a request's wire bytes that protobuf-c cannot
 * make after decoding: a string field holding a NUL byte (protobuf-c hands
 * it over as a C string, silently cut at the NUL - "vol-1\0../x" would
 * read as "vol-1") or bytes that are not UTF-8 (proto3 strings must be).
 */
#ifndef DYNVOL_RPC_PBCHECK_H
#define DYNVOL_RPC_PBCHECK_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

/* 0 when every string field of msg (recursively) is NUL-free UTF-8.
 * Otherwise -EINVAL and *ret_field names the offending field. Malformed
 * wire data returns 0: protobuf-c's decoder reports that itself. */
int rpc_pbcheck_strings(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
			const char **ret_field);

#endif

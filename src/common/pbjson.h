/*
 * pbjson.h - protobuf-c message to JSON, for logs and dynvolctl output.
 *
 * Field names are the .proto names; maps become objects; enums their value
 * names; 64-bit integers numbers. Any field named "secrets" (the CSI spec's
 * csi_secret fields all are) is replaced by "<redacted>" at every depth, so
 * a message can be logged without leaking credentials.
 */
#ifndef DYNVOL_PBJSON_H
#define DYNVOL_PBJSON_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

/* New reference, or NULL on allocation failure. */
json_t *pbjson_from_message(const ProtobufCMessage *msg);

/* Compact JSON text (caller frees), or NULL. */
char *pbjson_dumps(const ProtobufCMessage *msg, size_t flags);

#endif

/*
 * k8spb.h - decodes Kubernetes protobuf request bodies into JSON.
 *
 * kubectl's generator commands (create namespace, create configmap, create
 * secret generic/docker-registry/tls) send typed objects as
 * application/vnd.kubernetes.protobuf and do not retry with JSON on 415.
 * Such a body is the 4-byte magic "k8s\0" followed by a runtime.Unknown:
 *
 *   1 typeMeta        { 1 apiVersion, 2 kind }
 *   2 raw             the object, as its k8s.io/api generated.proto message
 *   3 contentEncoding must be empty (dynvol decodes no compression)
 *   4 contentType     empty or application/vnd.kubernetes.protobuf
 *
 * Only the core/v1 kinds the generators create are decoded: Namespace,
 * ConfigMap and Secret, with the ObjectMeta fields a client may set (name,
 * generateName, namespace, uid, resourceVersion, generation,
 * creationTimestamp, labels, annotations, ownerReferences, finalizers).
 * Other fields, known or unknown, are skipped by wire type, as Go's
 * generated Unmarshal skips unknown ones.
 *
 * The decoder is strict and never reads past the buffer: varints of at
 * most 10 bytes, lengths within the enclosing message, wire types checked
 * for every field it decodes, groups nested at most 16 deep, strings valid
 * UTF-8 without NUL (what jansson accepts in a JSON body). Responses stay
 * JSON: there is no encoder.
 */
#ifndef DYNVOL_APISERVER_K8SPB_H
#define DYNVOL_APISERVER_K8SPB_H

#include <stddef.h>

#include <jansson.h>

#define DV_K8SPB_CONTENT_TYPE "application/vnd.kubernetes.protobuf"

/*
 * Decodes a Kubernetes protobuf body (buf, len bytes) into the JSON object
 * kube-apiserver would have received had the client sent JSON: the Go
 * object's encoding/json form, so "apiVersion" and "kind" come from the
 * envelope, metadata always carries "creationTimestamp" (null when unset),
 * empty strings and maps are omitted as omitempty omits them, a Namespace
 * always has "spec" and "status", and bytes (Secret data, ConfigMap
 * binaryData) become standard base64 strings.
 *
 * Returns a new reference the caller owns. On failure returns NULL, writes
 * a message fit for a Kubernetes Status into err (errlen bytes; it names
 * fields, never their values) and sets errno: ENOTSUP for a well-formed
 * envelope of a kind this decoder does not know (the message says which),
 * ENOMEM when an allocation failed, EINVAL for anything malformed.
 */
json_t *dv_k8spb_decode(const void *buf, size_t len, char *err, size_t errlen);

#endif

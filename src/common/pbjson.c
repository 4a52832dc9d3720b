#include "pbjson.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REDACTED "<redacted>"

static bool field_is_secret(const ProtobufCFieldDescriptor *f)
{
	size_t n = strlen(f->name);

	return strcmp(f->name, "secrets") == 0 ||
	       (n > 8 && strcmp(f->name + n - 8, "_secrets") == 0);
}

static size_t element_size(ProtobufCType type)
{
	switch (type) {
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
		return 4;
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
		return 8;
	case PROTOBUF_C_TYPE_FLOAT: return sizeof(float);
	case PROTOBUF_C_TYPE_DOUBLE: return sizeof(double);
	case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_ENUM: return sizeof(int);
	case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE: return sizeof(ProtobufCMessage *);
	}
	return 0;
}

static json_t *bytes_to_json(const ProtobufCBinaryData *b)
{
	static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t olen = (b->len + 2) / 3 * 4;
	char *out = malloc(olen + 1);
	json_t *j;
	size_t o = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < b->len; i += 3) {
		uint32_t v = (uint32_t)b->data[i] << 16;
		if (i + 1 < b->len)
			v |= (uint32_t)b->data[i + 1] << 8;
		if (i + 2 < b->len)
			v |= b->data[i + 2];
		out[o++] = tbl[v >> 18 & 63];
		out[o++] = tbl[v >> 12 & 63];
		out[o++] = i + 1 < b->len ? tbl[v >> 6 & 63] : '=';
		out[o++] = i + 2 < b->len ? tbl[v & 63] : '=';
	}
	out[o] = 0;
	j = json_string(out);
	free(out);
	return j;
}

static json_t *value_to_json(const ProtobufCFieldDescriptor *f, const void *p)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
		return json_integer(*(const int32_t *)p);
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
		return json_integer(*(const uint32_t *)p);
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
		return json_integer(*(const int64_t *)p);
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64: {
		uint64_t v = *(const uint64_t *)p;
		if (v > (uint64_t)LLONG_MAX) {
			char buf[24];
			snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
			return json_string(buf);
		}
		return json_integer((json_int_t)v);
	}
	case PROTOBUF_C_TYPE_FLOAT: return json_real(*(const float *)p);
	case PROTOBUF_C_TYPE_DOUBLE: return json_real(*(const double *)p);
	case PROTOBUF_C_TYPE_BOOL: return json_boolean(*(const protobuf_c_boolean *)p);
	case PROTOBUF_C_TYPE_ENUM: {
		int v = *(const int *)p;
		const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
		return ev ? json_string(ev->name) : json_integer(v);
	}
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;
		json_t *j = json_string(s ? s : "");
		/* not UTF-8: show it rather than drop it */
		return j ? j : json_stringn_nocheck(s, strlen(s));
	}
	case PROTOBUF_C_TYPE_BYTES:
		return bytes_to_json(p);
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *m = *(ProtobufCMessage *const *)p;
		return m ? pbjson_from_message(m) : json_null();
	}
	}
	return json_null();
}

static bool is_map_entry(const ProtobufCFieldDescriptor *f)
{
	const ProtobufCMessageDescriptor *d = f->descriptor;
	size_t n;

	if (f->type != PROTOBUF_C_TYPE_MESSAGE || f->label != PROTOBUF_C_LABEL_REPEATED || !d)
		return false;
	n = strlen(d->name);
	return d->n_fields == 2 && n > 5 && strcmp(d->name + n - 5, "Entry") == 0 &&
	       strcmp(d->fields[0].name, "key") == 0 && strcmp(d->fields[1].name, "value") == 0;
}

static json_t *map_to_json(const ProtobufCFieldDescriptor *f, size_t count, void *const *arr)
{
	json_t *obj = json_object();
	const ProtobufCMessageDescriptor *d = f->descriptor;

	for (size_t i = 0; obj && i < count; i++) {
		const uint8_t *entry = arr[i];
		const ProtobufCFieldDescriptor *kf = &d->fields[0], *vf = &d->fields[1];
		json_t *k = value_to_json(kf, entry + kf->offset);
		json_t *v = value_to_json(vf, entry + vf->offset);
		const char *ks = json_is_string(k) ? json_string_value(k) : NULL;
		char kbuf[32];

		if (!ks && json_is_integer(k)) {
			snprintf(kbuf, sizeof(kbuf), "%lld", (long long)json_integer_value(k));
			ks = kbuf;
		}
		if (ks && v)
			json_object_set(obj, ks, v);
		json_decref(k);
		json_decref(v);
	}
	return obj;
}

json_t *pbjson_from_message(const ProtobufCMessage *msg)
{
	const ProtobufCMessageDescriptor *d = msg->descriptor;
	const uint8_t *base = (const uint8_t *)msg;
	json_t *obj = json_object();

	if (!obj)
		return NULL;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const void *p = base + f->offset;
		json_t *v = NULL;

		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t count = *(const size_t *)(base + f->quantifier_offset);
			void *const *arr = *(void *const *)p;
			if (count == 0)
				continue;
			if (field_is_secret(f)) {
				v = json_string(REDACTED);
			} else if (is_map_entry(f)) {
				v = map_to_json(f, count, (void *const *)arr);
			} else {
				v = json_array();
				size_t es = element_size(f->type);
				for (size_t k = 0; v && k < count; k++)
					json_array_append_new(v, value_to_json(f, (const uint8_t *)arr + k * es));
			}
		} else {
			if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
				if (*(const uint32_t *)(base + f->quantifier_offset) != f->id)
					continue;
			} else if (f->label == PROTOBUF_C_LABEL_OPTIONAL &&
				   f->type != PROTOBUF_C_TYPE_MESSAGE &&
				   f->type != PROTOBUF_C_TYPE_STRING) {
				if (!*(const protobuf_c_boolean *)(base + f->quantifier_offset))
					continue;
			}
			if (f->type == PROTOBUF_C_TYPE_MESSAGE && !*(ProtobufCMessage *const *)p)
				continue;
			v = field_is_secret(f) ? json_string(REDACTED) : value_to_json(f, p);
		}
		if (v)
			json_object_set_new(obj, f->name, v);
	}
	return obj;
}

char *pbjson_dumps(const ProtobufCMessage *msg, size_t flags)
{
	json_t *j = pbjson_from_message(msg);
	char *s;

	if (!j)
		return NULL;
	s = json_dumps(j, flags | JSON_PRESERVE_ORDER);
	json_decref(j);
	return s;
}

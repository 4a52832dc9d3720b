#include "pbcheck.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#define MAX_DEPTH 32

static int read_varint(const uint8_t *p, size_t len, size_t *off, uint64_t *ret)
{
	uint64_t v = 0;

	for (int shift = 0; shift < 64 && *off < len; shift += 7) {
		uint8_t b = p[(*off)++];
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*ret = v;
			return 0;
		}
	}
	return -1;
}

static bool utf8_ok(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = s[i];
		size_t len;
		uint32_t cp;
		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			len = 2;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			len = 3;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			len = 4;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (i + len > n)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

static int check(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t len, int depth,
		 const char **ret_field)
{
	size_t off = 0;

	if (depth > MAX_DEPTH)
		return 0;
	while (off < len) {
		uint64_t key, v;
		if (read_varint(p, len, &off, &key) < 0)
			return 0;
		unsigned wire = key & 7;
		uint32_t num = (uint32_t)(key >> 3);
		switch (wire) {
		case 0:
			if (read_varint(p, len, &off, &v) < 0)
				return 0;
			continue;
		case 1:
			off += 8;
			continue;
		case 5:
			off += 4;
			continue;
		case 2:
			break;
		default:
			return 0;
		}
		if (read_varint(p, len, &off, &v) < 0 || v > len - off)
			return 0;
		const uint8_t *val = p + off;
		size_t vlen = (size_t)v;
		off += vlen;
		const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(desc, num);
		if (!f)
			continue; /* unknown field: not ours to judge */
		if (f->type == PROTOBUF_C_TYPE_STRING) {
			if (!utf8_ok(val, vlen)) {
				*ret_field = f->name;
				return -EINVAL;
			}
		} else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
			int r = check(f->descriptor, val, vlen, depth + 1, ret_field);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int rpc_pbcheck_strings(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
			const char **ret_field)
{
	*ret_field = NULL;
	return check(desc, data, len, 0, ret_field);
}

#include "frame.h"

#include <string.h>

void rpc_frame_reader_init(rpc_frame_reader *r, size_t max_message)
{
	memset(r, 0, sizeof(*r));
	r->max = max_message;
	dv_buf_init(&r->msg, max_message ? max_message : 1);
}

void rpc_frame_reader_free(rpc_frame_reader *r)
{
	dv_buf_free(&r->msg);
}

rpc_frame_result rpc_frame_reader_feed(rpc_frame_reader *r, const uint8_t *p, size_t n)
{
	while (n > 0 && r->error == RPC_FRAME_OK) {
		if (r->prefix_len < RPC_FRAME_PREFIX) {
			size_t take = RPC_FRAME_PREFIX - r->prefix_len;
			if (take > n)
				take = n;
			memcpy(r->prefix + r->prefix_len, p, take);
			r->prefix_len += take;
			p += take;
			n -= take;
			if (r->prefix_len < RPC_FRAME_PREFIX)
				break;
			if (r->count > 0) {
				r->error = RPC_FRAME_EXTRA;
				break;
			}
			if (r->prefix[0] > 1) {
				r->error = RPC_FRAME_BAD_FLAG;
				break;
			}
			r->compressed = r->prefix[0] == 1;
			r->msg_len = (uint32_t)r->prefix[1] << 24 | (uint32_t)r->prefix[2] << 16 |
				     (uint32_t)r->prefix[3] << 8 | r->prefix[4];
			if (r->msg_len > r->max) {
				r->error = RPC_FRAME_TOO_LARGE;
				break;
			}
			dv_buf_reset(&r->msg);
		}
		size_t want = r->msg_len - r->msg.len;
		size_t take = want < n ? want : n;
		if (take && dv_buf_append(&r->msg, p, take) < 0) {
			r->error = RPC_FRAME_NOMEM;
			break;
		}
		p += take;
		n -= take;
		if (r->msg.len == r->msg_len) {
			r->count++;
			r->prefix_len = 0;
		}
	}
	return r->error;
}

rpc_frame_result rpc_frame_reader_finish(rpc_frame_reader *r, const uint8_t **ret_msg,
					 size_t *ret_len, bool *ret_compressed)
{
	if (r->error != RPC_FRAME_OK)
		return r->error;
	if (r->count != 1 || r->prefix_len != 0)
		return RPC_FRAME_MISSING;
	*ret_msg = r->msg.data ? r->msg.data : (const uint8_t *)"";
	*ret_len = r->msg.len;
	*ret_compressed = r->compressed;
	return RPC_FRAME_OK;
}

void rpc_frame_prefix(uint8_t out[RPC_FRAME_PREFIX], bool compressed, uint32_t len)
{
	out[0] = compressed ? 1 : 0;
	out[1] = (uint8_t)(len >> 24);
	out[2] = (uint8_t)(len >> 16);
	out[3] = (uint8_t)(len >> 8);
	out[4] = (uint8_t)len;
}

/* Fuzz target: the small parsers that read peer or user input -
 * grpc-timeout, percent-decoding, sizes, durations, message framing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/frame.h"
#include "rpc/percent.h"
#include "rpc/timeout.h"
#include "strutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	int64_t ns;
	uint64_t v;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	rpc_timeout_parse(s, size, &ns);
	dv_parse_duration(s, &ns);
	dv_parse_size(s, &v);
	free(rpc_percent_decode(s, size));
	char *enc = rpc_percent_encode(s);
	if (enc) {
		char *dec = rpc_percent_decode(enc, strlen(enc));
		/* encoding then decoding gives the (NUL-cut) input back */
		if (dec && strcmp(dec, s) != 0)
			abort();
		free(dec);
		free(enc);
	}
	rpc_frame_reader r;
	rpc_frame_reader_init(&r, 1 << 16);
	for (size_t off = 0; off < size; off += 7)
		rpc_frame_reader_feed(&r, data + off, size - off < 7 ? size - off : 7);
	const uint8_t *msg;
	size_t len;
	bool comp;
	rpc_frame_reader_finish(&r, &msg, &len, &comp);
	rpc_frame_reader_free(&r);
	free(s);
	return 0;
}

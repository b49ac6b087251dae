/* ratelimit.h: `barge api --rate-limit N` (docs/api.md "Rate limit"): a token bucket per access
 * key (anonymous requests share one), refilled at N requests per second up to a burst. A
 * request over the limit is answered 429 TooManyRequestsException before its body is parsed,
 * so nothing is written. Off (NULL limiter) by default.
 *
 * Each key's bucket is made when the limiter is (the credentials file lists the keys) and has
 * its own lock: requests of different keys never wait for each other. */
#ifndef BARGE_API_RATELIMIT_H
#define BARGE_API_RATELIMIT_H
#include <stdint.h>

#include "credentials.h"

struct api_ratelimit;
/* rate: requests per second per key (> 0); burst: the bucket's size (>= 1). creds (may be
 * NULL: anonymous only) is borrowed and must outlive the limiter. */
struct api_ratelimit *api_ratelimit_new(double rate, double burst, const struct api_credentials *creds);
void api_ratelimit_free(struct api_ratelimit *l);
/* Takes one token from the bucket of cred (NULL: anonymous) at monotonic time now_us: 1 when
 * the request may go on, 0 when it is over the limit. */
int api_ratelimit_take(struct api_ratelimit *l, const struct api_credential *cred, int64_t now_us);
#endif

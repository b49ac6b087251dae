/* ratelimit.c: see ratelimit.h. */
#include "ratelimit.h"

#include <pthread.h>
#include <stdlib.h>

struct bucket {
  pthread_mutex_t mu;
  double tokens;
  int64_t last_us; /* when tokens was last refilled; 0: never (a full bucket) */
};

struct api_ratelimit {
  double rate, burst;
  const struct api_credentials *creds;
  struct bucket *b; /* one per credential, then the anonymous one */
  size_t n;
};

struct api_ratelimit *api_ratelimit_new(double rate, double burst, const struct api_credentials *creds) {
  struct api_ratelimit *l = xcalloc(1, sizeof *l);
  l->rate = rate;
  l->burst = burst < 1 ? 1 : burst;
  l->creds = creds;
  l->n = (creds ? creds->n : 0) + 1;
  l->b = xcalloc(l->n, sizeof *l->b);
  for (size_t i = 0; i < l->n; i++) {
    pthread_mutex_init(&l->b[i].mu, NULL);
    l->b[i].tokens = l->burst;
  }
  return l;
}

void api_ratelimit_free(struct api_ratelimit *l) {
  if (!l) return;
  for (size_t i = 0; i < l->n; i++) pthread_mutex_destroy(&l->b[i].mu);
  free(l->b);
  free(l);
}

int api_ratelimit_take(struct api_ratelimit *l, const struct api_credential *cred, int64_t now_us) {
  size_t i = l->n - 1; /* anonymous */
  if (cred && l->creds && cred >= l->creds->keys && cred < l->creds->keys + l->creds->n)
    i = (size_t)(cred - l->creds->keys);
  struct bucket *b = &l->b[i];
  pthread_mutex_lock(&b->mu);
  if (b->last_us && now_us > b->last_us) {
    b->tokens += (double)(now_us - b->last_us) * l->rate / 1e6;
    if (b->tokens > l->burst) b->tokens = l->burst;
  }
  if (!b->last_us || now_us > b->last_us) b->last_us = now_us;
  int ok = b->tokens >= 1;
  if (ok) b->tokens -= 1;
  pthread_mutex_unlock(&b->mu);
  return ok;
}

/* dash_session.c: the dashboard's logins (dash_int.h). A login checks an access key and secret
 * of the API's credentials file (credentials.h) and makes a session: a random cookie token and
 * a random CSRF token, 256 bits each from the kernel's CSPRNG, kept in memory only (a restarted
 * API forgets them: log in again). At most DASH_MAX_SESSIONS; a new one past that replaces the
 * least recently used.
 *
 * Failed logins are limited per client address by a token bucket (dash.h, DASH_LOGIN_*): each
 * failure takes a token, one comes back every DASH_LOGIN_REFILL_MS up to DASH_LOGIN_FAILS; with
 * none left every login from the address is refused (429) until one comes back, so guessing a
 * secret costs a minute per 5 tries. The table keeps DASH_LOGIN_CLIENTS addresses; a new one
 * replaces the entry refilled longest ago (full by then, or nearly). */
#include <stdio.h>
#include <string.h>

#include "dash_int.h"
#include "util.h"

int dash_same(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  unsigned char diff = la != lb;
  for (size_t i = 0; i < la; i++) diff |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
  return diff == 0;
}

int dash_login(struct dash *d, const char *access_key, const char *secret, const char *session_token, char *token,
               char *csrf, char *err, size_t errlen) {
  const struct api_credential *cred = NULL;
  if (!access_key || !*access_key) {
    if (!d->conf.allow_anonymous) {
      snprintf(err, errlen, "give an access key and its secret (from the API's credentials file)");
      return -1;
    }
  } else {
    cred = d->conf.creds ? api_credentials_find(d->conf.creds, access_key) : NULL;
    /* the same answer for an unknown key and a wrong secret */
    if (!cred || !secret || !dash_same(secret, cred->secret_key) ||
        (cred->session_token && (!session_token || !dash_same(session_token, cred->session_token)))) {
      snprintf(err, errlen, "unknown access key or wrong secret");
      return -1;
    }
  }
  random_hex(token, 64);
  random_hex(csrf, 64);
  int64_t now = dash_now(d);
  pthread_mutex_lock(&d->mu);
  struct dash_session *slot = &d->sessions[0];
  for (size_t i = 0; i < DASH_MAX_SESSIONS; i++) {
    struct dash_session *s = &d->sessions[i];
    if (!s->token[0] || now - s->last_ms > DASH_SESSION_IDLE_MS) {
      slot = s;
      break;
    }
    if (s->last_ms < slot->last_ms) slot = s;
  }
  snprintf(slot->token, sizeof slot->token, "%s", token);
  snprintf(slot->csrf, sizeof slot->csrf, "%s", csrf);
  slot->cred = cred;
  slot->last_ms = now;
  pthread_mutex_unlock(&d->mu);
  return 0;
}

/* The value of the dashboard's cookie in a Cookie header, into out (65 bytes); -1 when none. */
static int cookie_token(const char *cookie, char *out) {
  size_t n = strlen(DASH_COOKIE);
  for (const char *p = cookie; p && *p;) {
    while (*p == ' ' || *p == ';') p++;
    size_t len = strcspn(p, ";");
    if (len > n && p[n] == '=' && !strncmp(p, DASH_COOKIE, n) && len - n - 1 < 65) {
      snprintf(out, 65, "%.*s", (int)(len - n - 1), p + n + 1);
      return 0;
    }
    p += len;
  }
  return -1;
}

/* The live session of cookie (d->mu held), or NULL. */
static struct dash_session *find(struct dash *d, const char *cookie, int64_t now) {
  char token[65];
  if (cookie_token(cookie, token) || strlen(token) != 64) return NULL;
  struct dash_session *found = NULL;
  for (size_t i = 0; i < DASH_MAX_SESSIONS; i++) {
    struct dash_session *s = &d->sessions[i];
    if (s->token[0] && dash_same(token, s->token)) found = s;
  }
  if (found && now - found->last_ms > DASH_SESSION_IDLE_MS) {
    memset(found, 0, sizeof *found);
    found = NULL;
  }
  return found;
}

void dash_session_of(struct dash *d, const char *cookie, struct dash_who *out) {
  memset(out, 0, sizeof *out);
  int64_t now = dash_now(d);
  pthread_mutex_lock(&d->mu);
  struct dash_session *s = find(d, cookie, now);
  if (s) {
    s->last_ms = now;
    out->ok = 1;
    snprintf(out->csrf, sizeof out->csrf, "%s", s->csrf);
    if (s->cred)
      out->who = (struct api_principal){s->cred->access_key, s->cred->profile, s->cred->account_id, s->cred->read_only, 0};
    out->profile = s->cred ? s->cred->profile : "anonymous";
  }
  pthread_mutex_unlock(&d->mu);
}

void dash_logout(struct dash *d, const char *cookie) {
  pthread_mutex_lock(&d->mu);
  struct dash_session *s = find(d, cookie, dash_now(d));
  if (s) memset(s, 0, sizeof *s);
  pthread_mutex_unlock(&d->mu);
}

/* The entry of addr with its tokens refilled to now (d->mu held); a new or replaced one is full. */
static struct dash_login_client *client_of(struct dash *d, const char *addr, int64_t now) {
  struct dash_login_client *slot = &d->clients[0];
  for (size_t i = 0; i < DASH_LOGIN_CLIENTS; i++) {
    struct dash_login_client *c = &d->clients[i];
    if (c->addr[0] && !strcmp(c->addr, addr)) {
      c->tokens += (double)(now - c->last_ms) / DASH_LOGIN_REFILL_MS;
      if (c->tokens > DASH_LOGIN_FAILS) c->tokens = DASH_LOGIN_FAILS;
      c->last_ms = now;
      return c;
    }
    if (slot->addr[0] && (!c->addr[0] || c->last_ms < slot->last_ms)) slot = c;
  }
  snprintf(slot->addr, sizeof slot->addr, "%s", addr);
  slot->tokens = DASH_LOGIN_FAILS;
  slot->last_ms = now;
  return slot;
}

int dash_login_wait(struct dash *d, const char *client) {
  int64_t now = dash_now(d);
  pthread_mutex_lock(&d->mu);
  struct dash_login_client *c = client_of(d, client && *client ? client : "?", now);
  int wait_s = c->tokens >= 1 ? 0 : (int)((1 - c->tokens) * DASH_LOGIN_REFILL_MS / 1000) + 1;
  pthread_mutex_unlock(&d->mu);
  return wait_s;
}

void dash_login_failed(struct dash *d, const char *client) {
  int64_t now = dash_now(d);
  pthread_mutex_lock(&d->mu);
  struct dash_login_client *c = client_of(d, client && *client ? client : "?", now);
  c->tokens = c->tokens >= 1 ? c->tokens - 1 : 0;
  pthread_mutex_unlock(&d->mu);
}

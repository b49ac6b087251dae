/* query_int.h: what the read operations share (query_config.c, query_jobs.c); not part of the
 * module's interface. */
#ifndef BARGE_QUERY_INT_H
#define BARGE_QUERY_INT_H
#include "jsonget.h"
#include "query.h"

#define CLIENT API_CLIENT_ERROR
#define SERVER API_SERVER_ERROR
#define fail api_error

/* The page size: req's maxResults (refused unless 1..max) capped at cap, or def when absent. 0,
 * or API_CLIENT_ERROR. */
int query_max_results(const json_t *req, int def, int max, int cap, int *out, char *err, size_t errlen);
/* Pages the array all (@owned) into {member: items, nextToken}: nextToken is the decimal index
 * of the next item. 0 with *resp, or API_CLIENT_ERROR for a bad nextToken. */
int query_paginate(json_t *all, const json_t *req, int page, const char *member, json_t **resp,
                   char *err, size_t errlen);
#endif

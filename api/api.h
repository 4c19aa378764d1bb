/*
 * NAME
 *	api 3h
 * SUMMARY
 *	crmsync-api internals: the running state and the HTTP handler
 * DESCRIPTION
 *	main.c loads the config, the policy and the tokens into an
 *	api_state and starts libmicrohttpd with api_handler(); SIGUSR1
 *	builds a new policy and token set and swaps them in under the lock
 *	(requests in flight keep the references they took). http.c answers
 *	requests: every worker thread keeps its own store connection.
 */
#ifndef API_H
#define API_H

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <microhttpd.h>
#include "cs_config.h"
#include "cs_policy.h"
#include "tokens.h"

/* Limits; crmsync-api(8) lists them. */
#define API_MAX_BODY		(1024 * 1024)	/* bytes of a request body */
#define API_MAX_HEADERS		(32 * 1024)	/* per connection: request line and headers */
#define API_MAX_CONNECTIONS	256
#define API_TIMEOUT_S		15		/* idle or slow connection */
#define API_MAX_THREADS		10000		/* thread ids in one share/private/delete */

typedef struct api_counters {
    atomic_ulong requests, ok, client_errors, server_errors, unauthorized, too_large;
    atomic_ulong usec;				/* sum of request times */
} api_counters;

typedef struct api_state {
    pthread_rwlock_t lock;			/* policy and tokens below */
    cs_policy *policy;
    api_tokens *tokens;
    cs_config *cfg;				/* the config in force */
    api_counters counters;
    time_t  started;
    unsigned workers;
    int     tls;
} api_state;

enum MHD_Result api_handler(void *cls, struct MHD_Connection *, const char *url,
			            const char *method, const char *version,
			            const char *upload, size_t *upload_size, void **con_cls);
void    api_completed(void *cls, struct MHD_Connection *, void **con_cls,
		              enum MHD_RequestTerminationCode);

#endif

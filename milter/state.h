/*
 * NAME
 *	state 3h
 * SUMMARY
 *	the daemon's state: the config, policy and store in force
 * DESCRIPTION
 *	Process-wide, guarded inside state.c, shared by the callbacks
 *	(mlfi.c) and main.c. The names keep the mlfi_ prefix the callbacks
 *	have always called them by.
 *
 *	mlfi_config() and mlfi_policy() return new references (NULL before
 *	the first mlfi_install(), which takes both references it is given).
 *	mlfi_store() is NULL while the store cannot be opened; it retries
 *	every few seconds. mlfi_sync_users() tells a store the users.
 */
#ifndef STATE_H
#define STATE_H

#include "cs_config.h"
#include "cs_policy.h"
#include "cs_store.h"

cs_config *mlfi_config(void);
cs_policy *mlfi_policy(void);
void    mlfi_install(cs_config *, cs_policy *);
void    mlfi_open_store(cs_config *, const cs_policy *);	/* at start */
cs_store *mlfi_store(void);
void    mlfi_close_store(void);		/* after smfi_main */
void    mlfi_sync_users(cs_store *, const cs_config *, const cs_policy *);

#endif

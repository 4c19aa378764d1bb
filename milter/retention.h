/*
 * NAME
 *	retention 3h
 * SUMMARY
 *	crmsync-milter's background retention runs (SPEC R1)
 */
#ifndef CS_MILTER_RETENTION_H
#define CS_MILTER_RETENTION_H

/* Start the thread (nothing to do until a Retention is set); 0 or -1. */
int     cs_retention_start(void);
/* Stop it, waiting for a run in progress to finish its batch. */
void    cs_retention_stop(void);

#endif

/* master: ingestctl reconcile: staging, archive, manifests and the audit DB checked against each other. */
#ifndef INGESTD_RECONCILE_H
#define INGESTD_RECONCILE_H

struct conn;
struct reconcile;

/*
 * Start a reconcile of one watch (or all) that reports to c, one record per
 * drift, repairing what is safe when repair is set.  It runs in steps from
 * the event loop and ends with control_task_done().  NULL with *err on
 * failure to start.
 */
struct reconcile	*reconcile_start(struct conn *c, const char *watch,
			    int repair, char **err);
/* The client went away: stop and free. */
void			 reconcile_abort(struct reconcile *);

#endif

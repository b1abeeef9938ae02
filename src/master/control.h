/* master: the control socket that ingestctl talks to: listener, peers, commands. */
#ifndef INGESTD_CONTROL_H
#define INGESTD_CONTROL_H

/*
 * Take the socket's lock (PATH.lock), replace a stale socket left by a dead
 * daemon, bind and listen.  Returns 0, or -1 with a message in *err (free
 * it) and a sysexits code in *code (EX_TEMPFAIL: another daemon answers
 * on it).
 */
int	control_listen(const char *path, char **err, int *code);
/* Resolve the read and admin groups of the current configuration. */
void	control_set_groups(const char *read_group, const char *admin_group);
/* Replies, for the commands that run in steps (reconcile). */
struct conn;
struct ctl_record;
/* Queue one record of the reply (the record is freed). */
void	control_record(struct conn *, struct ctl_record *);
/* End the reply with ingestctl's exit status and a message. */
void	control_end(struct conn *, int status, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* A stepwise command finished. */
void	control_task_done(struct conn *, int status, const char *message);

/* Close every connection and the listener; remove the socket. */
void	control_close(void);

#endif

/* master: the systemd notification protocol (sd_notify), in-tree without libsystemd. */
#ifndef INGESTD_NOTIFY_H
#define INGESTD_NOTIFY_H

/*
 * Read NOTIFY_SOCKET and WATCHDOG_USEC (and WATCHDOG_PID) from the
 * environment; everything below is a silent no-op without NOTIFY_SOCKET.
 */
void	notify_init(void);
void	notify_ready(void);
void	notify_reloading(void);
void	notify_stopping(void);
void	notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Start WATCHDOG=1 pings at half of WATCHDOG_USEC on the event loop. */
void	notify_watchdog_start(void);
void	notify_close(void);

#endif

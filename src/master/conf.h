/* master: the effective configuration (quick mode builds one watch from the command line). */
#ifndef INGESTD_CONF_H
#define INGESTD_CONF_H

enum complete_mode {
	COMPLETE_STABILITY = 0,
	COMPLETE_SIDECAR,
};

struct watch_conf {
	char	*name;			/* "input" in quick mode */
	char	*path;			/* staging root */
	int	 recursive;
	int	 complete;		/* enum complete_mode */
	int	 stability_secs;
	char	*sidecar_suffix;	/* ".ok" */
	char	*dest_root;		/* fixed prefix of the destination template */
	char	*dest_template;		/* relative to dest_root */
	char	*manifest_root;
	char	*manifest_template;	/* relative to manifest_root */
};

struct config {
	struct watch_conf	 watch;
	char			*state_path;
	char			*control_path;	/* used by ingestctl (later) */
	int			 workers;
	int			 dry_run;
	int			 once;
	int			 log_level;
	char			*worker_path;
	char			*sandbox;	/* required | auto | off */
	char			*user;		/* NULL: worker default */
	char			*chroot_dir;
	int			 rescan_secs;
	int			 max_attempts;
	int			 backoff_base_secs;
	int			 backoff_max_secs;
	int			 watchdog_secs;
};

#endif

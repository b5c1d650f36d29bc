"""The service: the poll cycle, the scheduler, supervision (systemd, health, metrics), status."""

"""Liveness of worker processes and leases that keep a job to one process at a time."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class WorkerHeartbeat(models.Model):
    """Written every few seconds by each live worker. A RUNNING task whose worker has gone
    quiet belongs to a dead process and is put back in the queue by the reaper."""

    worker_id = models.CharField(max_length=64, primary_key=True)
    hostname = models.CharField(max_length=255)
    pid = models.IntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"{self.worker_id} on {self.hostname}:{self.pid}"


class Lease(models.Model):
    """A named lock with an expiry held in the database, so it works across hosts on
    PostgreSQL and across processes on SQLite alike."""

    name = models.CharField(max_length=64, primary_key=True)
    holder = models.CharField(max_length=128)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} held by {self.holder} until {self.expires_at}"

"""Background work: the worker with its heartbeat, the retry policy, the reaper of tasks
left RUNNING by a dead worker, and the single-instance scheduler of periodic jobs."""

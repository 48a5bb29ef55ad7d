"""The inbound pipeline: from a spooled raw mail to a ticket, a comment, or a recorded
decision not to make one. Runs in the worker, inside the processing transaction."""

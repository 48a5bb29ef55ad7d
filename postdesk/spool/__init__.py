"""The inbound spool: every transport hands raw bytes and an envelope to ``accept()``, which
makes them durable and queues their processing in one transaction."""

"""Inbound transports. Each one hands raw bytes and an envelope to ``spool.accept`` and
acknowledges only after it returned: SMTP/LMTP, the MTA pipe client, HTTP and IMAP."""

"""The IMAP connector (SPEC F17): a mailbox read over IMAP feeds the spool like any transport.

``connect`` logs in, ``poll`` imports new unread mail, ``setup`` connects a new mailbox and
makes its address a support address, ``sealed`` keeps the mailbox's secret encrypted at rest.
"""

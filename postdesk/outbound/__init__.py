"""Outbound mail (SPEC F12, F13 signing, F10 bounces): the durable outbox and what feeds it.

- ``models``: ``OutboundMessage`` (the exact composed bytes, stored before sending) with one
  ``OutboundRecipient`` per envelope recipient, ``DkimKey``, ``NotificationTemplate`` and the
  rate-limit tables.
- ``services``: what the rest of Postdesk calls (acknowledgements, public replies, admin
  notices, system mail); ``sender.from_address_for`` is the one From decision of SPEC F12.
- ``outbox``: storing a composed mail and queueing its delivery in the caller's transaction.
- ``delivery`` / ``tasks``: the worker side: sign, hand to the relay, record each reply, retry.
- ``relays``: ``smtp://``, ``outbox:`` and ``locmem:`` behind one small interface.
- ``dkim_keys``: per-domain keys, the records to publish, and when mail is signed.
- ``bounces``: DSNs to VERP return paths matched back to the recipient that failed.
"""

"""Live checks of a sending domain's DNS (SPEC F13): SPF, DKIM and DMARC.

What lives here, one job per module:

- ``resolver``: the one seam to DNS. :class:`~postdesk.dns.resolver.Lookup` is any function
  ``(name, type) -> values``; :func:`~postdesk.dns.resolver.system_lookup` is dnspython asking
  the servers of ``POSTDESK_DNS`` (or the system's), tests pass a table instead.
- ``names``: validating a domain as typed by a person (IDNA included).
- ``spf``, ``dkim``, ``dmarc``: the checks themselves, pure functions of a lookup and what
  Postdesk expects, each answering a status (``unknown | verified | failed``) and its problems
  in plain words.
- ``report``: the whole check of one domain in the shape of SPEC §4 (``postdesk check-dns
  --json``), the expected DKIM keys read from the database, the results written back to the
  domain's support addresses and keys, and the text a person reads.
"""

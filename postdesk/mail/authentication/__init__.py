"""Inbound mail authentication (SPEC F11): SPF, DKIM, DMARC and ARC of each received mail.

A pure library: :func:`evaluate` takes the raw mail, what the transport saw
(:class:`Connection`), whose reports are believed (:class:`Trust`) and a DNS
:class:`~postdesk.dns.resolver.Lookup`, and answers an :class:`AuthResult`. No database, no
DNS but through the lookup (wrap it in :func:`postdesk.dns.cache.cached` in the worker).

One job per module:

- ``result``: the dataclasses of the interface and the JSON form of a result;
- ``message``: the header fields and body, split once, and the From domain;
- ``domains``: normalising domains, the organizational domain (public suffix list), alignment;
- ``keys``: DKIM/ARC public keys through the lookup, for dkimpy;
- ``signatures``: DKIM signatures (dkimpy); ``spf_check``: SPF (pyspf);
  ``policy``: finding the DMARC record; ``arc_chain``: the ARC chain (dkimpy);
- ``reported``: Authentication-Results and ARC-Authentication-Results (authres);
- ``evaluate``: the verdict.
"""

from .evaluate import evaluate
from .result import AuthResult, Connection, Trust

__all__ = ["AuthResult", "Connection", "Trust", "evaluate"]

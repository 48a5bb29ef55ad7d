"""Outbound mail building blocks: tokens, header safety, composing and DKIM signing."""

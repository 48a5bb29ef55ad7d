"""The DNS checks of SPEC F13 driven by a table of records instead of a DNS server."""

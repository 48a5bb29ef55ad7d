"""Pure email logic: parsing, charsets, addresses, rules, tokens. No Django, no sockets."""

"""The suspended-mail queue and the desk's protection settings (SPEC F10, F16).

Mail the inbound rules keep out of tickets is held here with its cause for agents to review,
recover (it becomes the ticket or comment it would have been) or delete; it is purged after a
retention period. Dropped mail leaves a record here too. The rate-limit windows of
`postdesk.mail.ratelimit` are kept in this app's tables so every process shares them, and the
admin-editable allow/blocklists and limits live here as well.
"""

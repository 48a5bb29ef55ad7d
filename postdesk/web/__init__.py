"""The browser side of Postdesk: sign-in, the agent's ticket views, health."""

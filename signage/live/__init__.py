"""The push path: the hub front and its backends, the player socket and its protocol,
pairing, and fleet status (who is online where, and what each screen plays)."""

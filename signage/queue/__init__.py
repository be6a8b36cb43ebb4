"""Queue calling: tickets and their actions, counters and services set-up, kiosks, boards,
statistics, the announcer and the voice."""

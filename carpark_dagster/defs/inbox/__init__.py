"""Real gate events in: the files dropped in the inbox, landed for the ticks."""

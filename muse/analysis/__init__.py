"""What the agents conclude from the store: insights and their lifecycle, the analytics
view (z-scores on read), facts and evidence behind every episode number, the statistics
they rest on, the watcher's circuit state and the narrator that may only say what the
facts say. Imports the core only."""

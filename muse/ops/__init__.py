"""Running muse in production: `muse health` and its probes, Datadog monitors and the
daily digest. Imports the core and :mod:`muse.analysis`."""

"""Getting an episode onto the site: the blog git repository, Vercel deploys with
rollback, the episode validator and the HTML check. Imports the core and
:mod:`muse.analysis` (evidence, for tracing numbers)."""

"""The demo pipeline (`muse demo`) and its deterministic data: the top of the house,
it may import every other package."""

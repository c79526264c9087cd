"""The residents' account service, installed as one package so no generic name lands in site-packages.

Layers, each importing only itself and those below (enforced by import-linter in `make lint`):
api → schema → support → identity → mail → models → core.
"""

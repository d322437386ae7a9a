"""Stages of the workflow: each turns settings and input stores into output stores.

The stages know nothing about Snakemake or the command line; the ``pipeline`` CLI
parses arguments and calls them, the Snakefile only wires CLI calls together.
"""

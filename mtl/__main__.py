"""``python -m mtl``: the same as the ``mtl`` console script."""

from mtl.cli import main

main(prog_name="mtl")

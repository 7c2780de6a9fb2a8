"""``python -m prober`` runs the ``probe`` command."""

from prober.cli import main

main()

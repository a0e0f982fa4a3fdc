"""``python -m celeriac`` runs the command line."""

from celeriac.cli.main import main

main()

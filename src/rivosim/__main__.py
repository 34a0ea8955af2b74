"""``python -m rivosim`` runs the command-line interface."""

from rivosim.cli import main

raise SystemExit(main())

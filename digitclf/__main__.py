"""``python -m digitclf`` works like ``digitclf``."""

from digitclf.cli import main

main()

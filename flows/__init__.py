"""Example flows; each file also runs as a script."""

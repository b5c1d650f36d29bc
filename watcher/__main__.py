"""`python -m watcher` and the `regwatch` command.

Importing this module runs nothing and imports nothing else: worker processes (started
with "spawn") import the main module of the process that starts them, and must not load
the whole command line to parse feeds.
"""


def main() -> None:
    """Run the regwatch command line."""
    from watcher.cli import cli

    cli(prog_name="regwatch")


if __name__ == "__main__":
    main()

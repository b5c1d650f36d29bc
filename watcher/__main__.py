from watcher.cli import cli

cli(prog_name="regwatch")

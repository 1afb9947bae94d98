import click


@click.group()
def cli() -> None:
    """placeholder"""


def main() -> None:
    cli()

"""``python -m nanobragg``: the nanoBragg command."""

from .cli.main import console_entry

if __name__ == "__main__":
    console_entry()

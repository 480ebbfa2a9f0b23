"""``python -m sightline``."""

from sightline.cli.main import run

if __name__ == "__main__":
    run()

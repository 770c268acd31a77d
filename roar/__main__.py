"""``python -m roar`` is ``roar``."""

from roar.cli import main

if __name__ == "__main__":
    main()

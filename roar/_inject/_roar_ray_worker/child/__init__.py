"""Put on ``PYTHONPATH`` for the processes a Ray task starts (see ``sitecustomize.py`` here)."""

"""Code roar puts into traced processes (see sitecustomize.py); never imported by roar itself."""

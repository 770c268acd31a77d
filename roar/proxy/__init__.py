"""The S3 re-signing reverse proxy (roadmap item 5): aiohttp server, SigV4 via botocore.

Nothing here yet; `roar proxy` arrives with that issue. The package exists so the layout of the
design card holds from the start.
"""

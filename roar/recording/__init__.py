"""Turning what a tracer saw into a job record: access semantics, filters, and the recorder."""

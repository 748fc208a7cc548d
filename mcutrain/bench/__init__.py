"""Benchmarks: count the instructions the generated training code executes (unicorn + capstone),
estimate cycles from the cores' tables, and write BENCHMARKS.md (``mcutrain bench``)."""

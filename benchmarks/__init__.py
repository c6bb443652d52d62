"""Speed and memory at scale, printed as numbers (``make bench`` / ``python -m benchmarks``).

The harness builds synthetic clinics of about 100k, 1M and (on request) 10M sessions with the
demo generator, bulk-loads them into SQLite and PostgreSQL, and measures what the issue names:
import throughput through the real importer, the condition × route summary cold and warm, the
overview page through ``AppTest`` (cold, a new filter, a filter the cache has seen) and the app
process's peak memory. Beside each number it puts DuckDB over the same data and the
load-everything-into-pandas approach, checks that all three count the same patients, and
prints one table (also written to ``docs/performance.md``).

Modules:

- :mod:`benchmarks.clinic`: sizes, the chunked generator, the stored form of the tables.
- :mod:`benchmarks.databases`: fresh databases (SQLite file, PostgreSQL schema) and bulk loads.
- :mod:`benchmarks.engines`: the same docs/methods.md summary in DuckDB SQL and in pandas.
- :mod:`benchmarks.probes`: measurements that run in their own process (cold, peak memory).
- :mod:`benchmarks.report`: targets, the table, the markdown block.
"""

"""Archive-scale batch jobs on Dask (see index_archive.py)."""

"""`psych review`: read built rows one at a time in a local page and keep, drop or edit each.

- `store.py`: the input rows, the decisions journal next to the output (appended and fsynced per
  decision, so a killed server resumes), and the output file (written atomically after each
  decision: the kept and edited rows, in input order).
- `sources.py`: the book passage and reviewer notes shown beside a row (a sidecar written by
  build-dataset, or the book itself found by the row's source section).
- `app.py`: the ASGI app (Starlette) serving the page in `static/` and a small JSON API.
"""

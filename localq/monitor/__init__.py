"""What the dashboard, the JSON API and the CLI read and do about jobs (Flower's side of localq).

  jobs.py     one job, a worker list, counts, as plain dicts; re-queue, run-now, bulk actions
  listing.py  the job list: filters, orders and cursor pages over the job table's indexes
  stats.py    the overview's figures and throughput series
  redact.py   secrets in arguments hidden before a page or the API shows them

Core only: no Flask here (the web layer translates these into pages and JSON).
"""

"""localq's web pages (localq/*.html) and their static files (static/), shipped as the package
localq.templates (pyproject.toml maps it here). A folder of their own, under localq/, so that a
Flask app localq is mounted in keeps its own base.html."""

"""The clerk web console: server-rendered pages (Jinja2) under ``/console`` with cookie sessions,
CSRF protection and a Japanese-first interface with an English toggle."""

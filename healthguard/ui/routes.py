"""Route constants: one place to change a URL."""

DASHBOARD = "/"

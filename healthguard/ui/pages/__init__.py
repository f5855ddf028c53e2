"""Pages: each module registers one page with its route and on_load."""

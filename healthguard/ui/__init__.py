"""The Reflex user interface: pages/, components/, states/, styles.py, routes.py."""

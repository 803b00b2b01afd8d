"""The demo shop (`growthloop demo`, `make run`): see `shop.py`."""

from growthloop.demo.menu import DEMO_EMAIL, DEMO_PASSWORD
from growthloop.demo.shop import seed_if_empty

__all__ = ["DEMO_EMAIL", "DEMO_PASSWORD", "seed_if_empty"]

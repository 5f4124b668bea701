"""`python -m hermes_planner` runs the planner service."""

import asyncio

from hermes_planner.app import create_app

if __name__ == "__main__":
    asyncio.run(create_app().run())

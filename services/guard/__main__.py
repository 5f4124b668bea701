"""`python -m hermes_guard` runs the guard service."""

import asyncio

from hermes_guard.app import create_app

if __name__ == "__main__":
    asyncio.run(create_app().run())

"""`python -m hermes_executor` runs the executor service."""

import asyncio

from hermes_executor.app import create_app

if __name__ == "__main__":
    asyncio.run(create_app().run())

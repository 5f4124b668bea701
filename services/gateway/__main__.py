"""`python -m hermes_gateway` runs the gateway service."""

import asyncio

from hermes_gateway.app import create_app

if __name__ == "__main__":
    asyncio.run(create_app().run())

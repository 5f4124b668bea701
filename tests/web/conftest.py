"""The web page's browser tests run the whole of Hermes, as the end-to-end tests do."""

from tests.e2e.conftest import stack_servers

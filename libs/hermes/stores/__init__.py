"""Typed stores: the only code that touches a family of Redis keys. One owner writes each family;
the other services get a read-only view, so no service parses another's JSON by hand."""

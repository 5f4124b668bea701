"""How OpenClaw reads the files its users already have, so Hermes reads them the same way.

* `hermes.openclaw.frontmatter`: a SKILL.md's frontmatter and `metadata.openclaw` block, and the
  eligibility rules (`requires`, `os`, `always`), following OpenClaw's skill loader.
* `hermes.openclaw.config_keys`: every key of OpenClaw's `openclaw.json`, classified as used by Hermes,
  valid OpenClaw with no meaning in Hermes, or unknown.
"""

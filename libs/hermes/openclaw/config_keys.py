"""Every key of an OpenClaw `openclaw.json` Hermes may meet, and what it means to Hermes.

A key the file sets is one of three things:

* **used** — Hermes reads it (a field of `hermes.config`'s models, or a key the gateway reads from a
  channel's extra settings: `dmPolicy`, `groupPolicy`, `dm.policy`, Telegram's `groups`);
* **openclaw** — valid OpenClaw, with no meaning in Hermes (it configures a part of OpenClaw Hermes
  does not have); reported as such, never as a mistake;
* **unknown** — neither: probably a typo, reported with a close match when there is one.

The OpenClaw keys below were collected from the `openclaw.json` examples of OpenClaw's documentation
(openclaw/docs at c0a8fa9) and its configuration reference, per section. A path segment `*` stands
for any name (a skill key, an agent id, a channel id).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

__all__ = [
    "GATEWAY_READS",
    "NON_CHANNEL_KEYS",
    "OPENCLAW_CHANNELS",
    "OPENCLAW_KEYS",
    "OPENCLAW_TOP_LEVEL",
    "is_openclaw_key",
    "unknown_hint",
]

OPENCLAW_TOP_LEVEL = frozenset({
    "$schema", "acp", "accessGroups", "agents", "approvals", "audio", "auth", "bindings", "broadcast",
    "browser", "canvasHost", "channels", "commands", "cron", "diagnostics", "discovery", "env", "gateway",
    "hooks", "logging", "mcp", "media", "memory", "messages", "meta", "models", "nodeHost", "plugins",
    "secrets", "security", "session", "skills", "talk", "tools", "tts", "ui", "update", "web", "wizard",
})

# Entries of `channels` that are settings for every channel, not channels.
NON_CHANNEL_KEYS = frozenset({"defaults", "modelByChannel", "denyRules"})

# Channels OpenClaw has (Hermes has Slack, Discord and Telegram).
OPENCLAW_CHANNELS = frozenset({
    "bluebubbles", "buzz", "clickclack", "discord", "feishu", "googlechat", "imessage", "irc", "line",
    "matrix", "mattermost", "msteams", "nextcloud-talk", "nostr", "qqbot", "raft", "reef", "signal", "slack",
    "sms", "synology-chat", "telegram", "tlon", "twitch", "whatsapp", "yuanbao", "zalo", "zalouser",
})

_EXEC_APPROVALS = {"enabled", "approvers", "target", "agentFilter", "sessionFilter", "cleanupAfterResolve"}
_COMMON_CHANNEL = {
    "accounts", "actions", "allowBots", "allowFrom", "botLoopProtection", "capabilities", "configWrites",
    "customCommands", "defaultAccount", "dm", "dmHistoryLimit", "dmPolicy", "dms", "enabled", "execApprovals",
    "groupAllowFrom", "groupPolicy", "healthMonitor", "heartbeat", "historyLimit", "markdown",
    "mediaMaxMb", "mentionPatterns", "name", "proxy", "reactionNotifications", "replyToMode", "responsePrefix",
    "streaming", "textChunkLimit", "blockStreaming", "blockStreamingCoalesce", "chunkMode",
}
_AGENT = {
    "agentRuntime", "blockStreamingBreak", "blockStreamingChunk", "blockStreamingCoalesce",
    "blockStreamingDefault", "bootstrapMaxChars", "bootstrapTotalMaxChars", "compaction", "contextInjection",
    "contextLimits", "contextPruning", "contextTokens", "elevatedDefault", "embeddedAgent", "experimental",
    "fastModeDefault", "heartbeat", "humanDelay", "identity", "imageMaxDimensionPx", "imageModel",
    "imageQuality", "maxConcurrent", "mediaMaxMb", "mediaModels", "memorySearch", "model", "modelPolicy",
    "models", "params", "pdfMaxMb", "pdfMaxPages", "pdfModel", "reasoningDefault", "repoRoot", "sandbox",
    "skills", "skipBootstrap", "skipOptionalBootstrapFiles", "startupContext", "subagents", "systemAgent",
    "thinkingDefault", "timeoutSeconds", "toolProgressDetail", "tools", "typingIntervalSeconds", "typingMode",
    "userTimezone", "utilityModel", "verboseDefault", "workspace", "groupChat", "cliBackends",
    "envelopeTimezone", "envelopeTimestamp", "envelopeElapsed",
}

OPENCLAW_KEYS: dict[str, frozenset[str]] = {
    "skills": frozenset({"allowBundled", "entries", "install", "limits", "load", "workshop"}),
    "skills.load": frozenset({"allowSymlinkTargets", "extraDirs", "watch", "watchDebounceMs"}),
    "skills.entries.*": frozenset({"apiKey", "config", "enabled", "env"}),
    "channels.slack": frozenset(_COMMON_CHANNEL | {
        "appToken", "botToken", "channels", "mode", "postAs", "presenceEvents", "reactionAllowlist", "relay",
        "requireMention", "signingSecret", "slashCommand", "thread", "typingReaction", "unfurlLinks",
        "unfurlMedia", "userToken", "userTokenReadOnly", "webhookPath", "nativeStreaming"}),
    "channels.slack.channels.*": frozenset({
        "allow", "enabled", "requireMention", "users", "skills", "systemPrompt", "tools", "toolsBySender",
        "allowBots"}),
    "channels.discord": frozenset(_COMMON_CHANNEL | {
        "activities", "activity", "activityType", "activityUrl", "applicationId", "autoPresence", "guilds",
        "intents", "maxLinesPerMessage", "mentionAliases", "pluralkit", "publicKey", "status", "suppressEmbeds",
        "threadBindings", "token", "voice", "ui", "agentComponents"}),
    "channels.telegram": frozenset(_COMMON_CHANNEL | {
        "apiRoot", "botToken", "direct", "errorPolicy", "groups", "linkPreview", "network", "richMessages",
        "tokenFile", "trustedLocalFileRoots", "webhookPath", "webhookSecret", "webhookUrl", "webhookHost",
        "webhookPort"}),
    "channels.*.execApprovals": frozenset(_EXEC_APPROVALS),
    "agents": frozenset({"defaults", "entries", "list"}),
    "agents.defaults": frozenset(_AGENT),
    "agents.entries.*": frozenset(_AGENT | {"id", "name", "default", "agentDir"}),
    "agents.defaults.sandbox": frozenset({
        "backend", "browser", "docker", "mode", "prune", "scope", "ssh", "workspaceAccess", "workspaceRoot",
        "sessionToolsVisibility", "tools"}),
    "agents.defaults.sandbox.docker": frozenset({
        "apparmorProfile", "binds", "capDrop", "containerPrefix", "cpus", "dns", "env", "extraHosts", "gpus",
        "image", "memory", "memorySwap", "network", "pidsLimit", "readOnlyRoot", "seccompProfile",
        "setupCommand", "tmpfs", "ulimits", "user", "workdir", "dangerouslyAllowReservedContainerTargets",
        "dangerouslyAllowExternalBindSources"}),
    "gateway": frozenset({
        "allowRealIpFallback", "auth", "bind", "cliAgents", "controlUi", "customBindHost", "exposure", "http",
        "mode", "nodes", "port", "publicOrigin", "push", "reload", "remote", "tailscale", "terminal", "tls",
        "tools", "trustedProxies", "channelHealthCheckMinutes"}),
    "gateway.auth": frozenset({
        "allowTailscale", "identityScopes", "mode", "password", "rateLimit", "requireAuth",
        "requireExplicitRateLimit", "token", "trustedProxy"}),
}
OPENCLAW_KEYS["agents.entries.*.sandbox"] = OPENCLAW_KEYS["agents.defaults.sandbox"]
OPENCLAW_KEYS["agents.entries.*.sandbox.docker"] = OPENCLAW_KEYS["agents.defaults.sandbox.docker"]

# Keys Hermes's gateway reads from a channel's extra settings (hermes_gateway.channels.ChannelPolicy).
GATEWAY_READS: dict[str, frozenset[str]] = {
    "channels.slack": frozenset({"dmPolicy", "groupPolicy", "dm"}),
    "channels.discord": frozenset({"dmPolicy", "groupPolicy", "dm"}),
    "channels.telegram": frozenset({"dmPolicy", "groupPolicy", "dm", "groups"}),
}


def _pattern(path: Sequence[str]) -> list[str]:
    """The patterns a concrete path can match, most specific first."""
    parts = list(path)
    if parts[:2] == ["agents", "list"]:
        parts = ["agents", "entries", *parts[2:]]  # the older array form: entries by id
    candidates = [".".join(parts)]
    for index in range(len(parts) - 1, -1, -1):
        starred = parts[:index] + ["*"] + parts[index + 1:]
        candidates.append(".".join(starred))
    if len(parts) >= 3 and parts[0] == "channels":
        candidates.append(".".join(["channels", "*", *parts[2:]]))
    return candidates


def is_openclaw_key(path: Sequence[str], key: str) -> bool:
    """Is `key`, inside the object at `path`, a key OpenClaw's config has?"""
    if not path:
        return key in OPENCLAW_TOP_LEVEL
    return any(key in OPENCLAW_KEYS.get(p, ()) for p in _pattern(path))


def is_gateway_key(path: Sequence[str], key: str) -> bool:
    """Is `key` one the gateway reads from the channel at `path` (kept as an extra setting)?"""
    return key in GATEWAY_READS.get(".".join(path), ())


def unknown_hint(key: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, sorted(set(known)), n=1, cutoff=0.8)
    return f"; did you mean {close[0]!r}?" if close else ""

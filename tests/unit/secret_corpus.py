"""A corpus of fake secrets, generated at test time from a seeded random source, each one embedded in
realistic `ankra` CLI output (key/value views, tables, YAML and JSON, stack manifests, kubeconfigs,
Kubernetes Secrets, logs) and in JSON-shaped data. No real secret is stored in the repository: every
value here is assembled from random characters when the corpus is built.

`secret_cases()` returns the cases; `false_positive_texts()` / `false_positive_data()` return output
that holds no secret and must come out of redaction unchanged.
"""

from __future__ import annotations

import base64
import json
import random
import re
import string
import textwrap
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SEED = 20240501
PER_KIND = 30

UPPER = string.ascii_uppercase
LOWER = string.ascii_lowercase
DIGITS = string.digits
ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
URLSAFE = ALNUM + "-_"
# Characters a generated password may hold. Left out: blanks, quotes and backslashes (they need
# quoting or escaping in every format), and `,;&` (delimiters in connection strings and queries).
PASSWORD_CHARS = ALNUM + "!#$%*+-.:=?@^_~"
# Words for pass phrases: none of them occurs in the surrounding output.
WORDS = (
    "correct",
    "horse",
    "battery",
    "staple",
    "walrus",
    "meadow",
    "quartz",
    "lantern",
    "falcon",
    "orchid",
    "granite",
    "velvet",
    "harbor",
    "thistle",
    "comet",
    "saffron",
    "juniper",
    "pebble",
    "otter",
    "maple",
    "canyon",
    "glacier",
    "ember",
    "willow",
    "heron",
    "cobalt",
    "tundra",
    "acorn",
)


@dataclass(frozen=True)
class Secret:
    kind: str
    value: str  # the credential as it appears in the output
    cores: tuple[str, ...]  # what must not survive redaction (no 8-character piece of any of them)
    label: str = ""  # the key the value is stored under, for kinds that need one


@dataclass(frozen=True)
class Case:
    kind: str
    context: str  # which output the secret is embedded in, for failure messages
    text: str
    data: Any
    secret: Secret


# -- random values -------------------------------------------------------------------------------


def rand(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def password(rng: random.Random, lo: int = 10, hi: int = 28) -> str:
    value = rand(rng, ALNUM, 1) + rand(rng, PASSWORD_CHARS, rng.randint(lo, hi) - 3)
    return value + rng.choice(DIGITS) + rng.choice(UPPER)


def cluster_name(rng: random.Random) -> str:
    return rng.choice(["staging-cluster", "production", "edge-1", "edge-eu-2", "dev-sandbox", "ops-mgmt"])


def cluster_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def words_of(label: str) -> list[str]:
    return [w.lower() for w in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", label)]


def env_name(label: str) -> str:
    return "_".join(words_of(label)).upper()


def human(label: str) -> str:
    return " ".join(w.capitalize() for w in words_of(label))


def pem_body(rng: random.Random, nbytes: int, width: int = 64) -> list[str]:
    return textwrap.wrap(b64(rng.randbytes(nbytes)), width)


def pem(kind_header: str, body: list[str], headers: tuple[str, ...] = ()) -> str:
    lines = [
        f"-----BEGIN {kind_header}-----",
        *headers,
        *([""] if headers else []),
        *body,
        f"-----END {kind_header}-----",
    ]
    return "\n".join(lines)


def fake_certificate(rng: random.Random) -> str:
    return pem("CERTIFICATE", pem_body(rng, 600))


# -- generators, one per kind --------------------------------------------------------------------


def _bare(kind: str, value: str) -> Secret:
    return Secret(kind, value, (value,))


def gen_aws_access_key_id(rng: random.Random) -> Secret:
    return _bare("aws-access-key-id", rng.choice(["AKIA", "ASIA"]) + rand(rng, UPPER + "234567", 16))


def gen_aws_secret_access_key(rng: random.Random) -> Secret:
    label = rng.choice(
        [
            "aws_secret_access_key",
            "AWS_SECRET_ACCESS_KEY",
            "SecretAccessKey",
            "secretAccessKey",
            "awsSecretAccessKey",
        ]
    )
    value = rand(rng, ALNUM + "/+", 40)
    return Secret("aws-secret-access-key", value, (value,), label)


def gen_api_secret(rng: random.Random) -> Secret:
    label = rng.choice(
        [
            "secretKey",
            "privateKey",
            "clientSecret",
            "apiKey",
            "api_key",
            "client_secret",
            "secret_key",
            "signingKey",
            "encryptionKey",
            "accessToken",
            "refresh_token",
            "webhookSecret",
            "token",
            "secret",
            "x-api-key",
            "masterKey",
        ]
    )
    value = rand(rng, ALNUM, 1) + rand(rng, URLSAFE, rng.randint(22, 50)) + rand(rng, DIGITS, 1)
    return Secret("labelled-api-secret", value, (value,), label)


def gen_password(rng: random.Random) -> Secret:
    label = rng.choice(
        [
            "password",
            "PGPASSWORD",
            "rootPassword",
            "db_pass",
            "passwd",
            "adminPassword",
            "redis-password",
            "auth.password",
            "MYSQL_ROOT_PASSWORD",
            "pwd",
            "passphrase",
        ]
    )
    value = password(rng)
    return Secret("password", value, (value,), label)


def gen_password_with_spaces(rng: random.Random) -> Secret:
    label = rng.choice(
        ["password", "adminPassword", "postgresPassword", "DB_PASSWORD", "passphrase", "userPassword"]
    )
    value = " ".join(rng.sample(WORDS, rng.randint(3, 5)))
    return Secret("password-with-spaces", value, (value,), label)


def gen_url_password(rng: random.Random) -> Secret:
    scheme = rng.choice(["https", "postgres", "postgresql", "mongodb+srv", "amqp", "mysql", "redis"])
    user = rng.choice(["app", "admin", "deploy", "ankra", "readonly"])
    pw = rand(rng, ALNUM, 1) + rand(rng, ALNUM + "-._~", rng.randint(9, 30)) + rand(rng, ALNUM, 1)
    host = rng.choice(
        [
            "db.internal:5432/app",
            "git.example.com/org/repo.git",
            "mq.data.svc:5672/",
            "cluster0.abcde.mongodb.net/app",
            "charts.example.com/stable",
        ]
    )
    return Secret("basic-auth-url", f"{scheme}://{user}:{pw}@{host}", (pw,))


def gen_redis_url(rng: random.Random) -> Secret:
    pw = rand(rng, ALNUM, rng.randint(12, 32))
    head = rng.choice(["redis://:", "rediss://:", "redis://default:"])
    return Secret("redis-url-password", f"{head}{pw}@redis-master.data.svc:6379/0", (pw,))


def gen_gitlab_token(rng: random.Random) -> Secret:
    return _bare("gitlab-token", rng.choice(["glpat-", "glrt-", "gldt-"]) + rand(rng, URLSAFE, 20))


def gen_google_api_key(rng: random.Random) -> Secret:
    return _bare("google-api-key", "AIza" + rand(rng, URLSAFE, 35))


def gen_stripe_key(rng: random.Random) -> Secret:
    return _bare(
        "stripe-key",
        rng.choice(["sk_live_", "rk_live_", "sk_test_"]) + rand(rng, ALNUM, rng.choice([24, 34, 99])),
    )


def gen_npm_token(rng: random.Random) -> Secret:
    return _bare("npm-token", "npm_" + rand(rng, ALNUM, 36))


def gen_sendgrid_key(rng: random.Random) -> Secret:
    return _bare("sendgrid-key", "SG." + rand(rng, URLSAFE, 22) + "." + rand(rng, URLSAFE, 43))


def gen_discord_token(rng: random.Random) -> Secret:
    user_id = str(rng.randint(10**16, 10**19 - 1)).encode()
    value = b64url(user_id) + "." + rand(rng, URLSAFE, 6) + "." + rand(rng, URLSAFE, rng.choice([27, 38]))
    return _bare("discord-bot-token", value)


def gen_telegram_token(rng: random.Random) -> Secret:
    return _bare("telegram-bot-token", str(rng.randint(10**7, 10**10 - 1)) + ":AA" + rand(rng, URLSAFE, 33))


def gen_jwt(rng: random.Random) -> Secret:
    header = {"alg": rng.choice(["HS256", "RS256", "ES256"]), "typ": "JWT", "kid": rand(rng, HEX, 16)}
    payload = {
        "sub": rand(rng, ALNUM, 12),
        "iss": "https://auth.ankra.app",
        "exp": rng.randint(1_700_000_000, 1_900_000_000),
        "email": f"{rand(rng, LOWER, 6)}@example.com",
    }
    sig = rng.randbytes(rng.choice([32, 64, 256]))
    value = ".".join([b64url(json.dumps(header).encode()), b64url(json.dumps(payload).encode()), b64url(sig)])
    return _bare("jwt", value)


def gen_github_token(rng: random.Random) -> Secret:
    return _bare("github-token", rng.choice(["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]) + rand(rng, ALNUM, 36))


def gen_github_pat(rng: random.Random) -> Secret:
    return _bare("github-fine-grained-pat", "github_pat_" + rand(rng, ALNUM, 22) + "_" + rand(rng, ALNUM, 59))


def gen_slack_token(rng: random.Random) -> Secret:
    if rng.random() < 0.5:
        value = f"xoxb-{rand(rng, DIGITS, 12)}-{rand(rng, DIGITS, 13)}-{rand(rng, ALNUM, 24)}"
    else:
        value = f"xoxp-{rand(rng, DIGITS, 12)}-{rand(rng, DIGITS, 12)}-{rand(rng, DIGITS, 13)}-{rand(rng, HEX, 32)}"
    return _bare("slack-token", value)


def gen_slack_app_token(rng: random.Random) -> Secret:
    return _bare(
        "slack-app-token",
        f"xapp-1-A{rand(rng, UPPER + DIGITS, 10)}-{rand(rng, DIGITS, 13)}-{rand(rng, HEX, 64)}",
    )


def gen_openai_key(rng: random.Random) -> Secret:
    if rng.random() < 0.7:
        value = "sk-proj-" + rand(rng, URLSAFE, 156)
    else:
        value = "sk-" + rand(rng, ALNUM, 20) + "T3BlbkFJ" + rand(rng, ALNUM, 20)
    return _bare("openai-key", value)


def gen_anthropic_key(rng: random.Random) -> Secret:
    return _bare("anthropic-key", "sk-ant-api03-" + rand(rng, URLSAFE, 93) + "AA")


def gen_ankra_token(rng: random.Random) -> Secret:
    return _bare("ankra-token", "ankra_" + rand(rng, HEX, 48))


def gen_hermes_token(rng: random.Random) -> Secret:
    return _bare("hermes-token", "hrm_" + rand(rng, ALNUM, 32))


def gen_twilio_key(rng: random.Random) -> Secret:
    return _bare("twilio-api-key", "SK" + rand(rng, HEX, 32))


def gen_pypi_token(rng: random.Random) -> Secret:
    return _bare("pypi-token", "pypi-AgEIcHlwaS5vcmc" + rand(rng, URLSAFE, 120))


def gen_vault_token(rng: random.Random) -> Secret:
    return _bare("vault-token", rng.choice(["hvs.", "hvb."]) + "CAESI" + rand(rng, URLSAFE, rng.randint(40, 90)))


def gen_grafana_token(rng: random.Random) -> Secret:
    if rng.random() < 0.5:
        return _bare("grafana-token", "glsa_" + rand(rng, ALNUM, 32) + "_" + rand(rng, HEX, 8))
    claims = {"o": str(rng.randint(10**5, 10**6)), "n": "ankra-stack", "k": rand(rng, ALNUM, 24)}
    return _bare("grafana-token", "glc_" + b64(json.dumps(claims).encode()))


def gen_digitalocean_token(rng: random.Random) -> Secret:
    return _bare("digitalocean-token", rng.choice(["dop_v1_", "doo_v1_"]) + rand(rng, HEX, 64))


def gen_age_key(rng: random.Random) -> Secret:
    return _bare("age-secret-key", "AGE-SECRET-KEY-1" + rand(rng, "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 58))


def gen_presigned_url(rng: random.Random) -> Secret:
    signature = rand(rng, HEX, 64)
    if rng.random() < 0.5:
        url = ("https://ankra-backups.s3.eu-central-1.amazonaws.com/etcd/snapshot.db?X-Amz-Algorithm=AWS4-HMAC-SHA256"
               f"&X-Amz-Date=20240501T120000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature={signature}")
    else:
        signature = rand(rng, ALNUM, 43) + "%3D"
        url = ("https://ankrabackups.blob.core.windows.net/etcd/snapshot.db?sv=2022-11-02&ss=b&srt=o&sp=r"
               f"&se=2024-05-02T12:00:00Z&spr=https&sig={signature}")
    return Secret("presigned-url-signature", url, (signature,))


def gen_bearer_header(rng: random.Random) -> Secret:
    value = rand(rng, ALNUM, 1) + rand(rng, ALNUM + "-._~+/", rng.randint(30, 60))
    return Secret("bearer-header", value, (value,), "Authorization")


def gen_basic_header(rng: random.Random) -> Secret:
    pw = password(rng)
    value = b64(f"{rng.choice(['admin', 'ci', 'deploy'])}:{pw}".encode())
    return Secret("basic-auth-header", value, (value,), "Authorization")


def gen_cli_flag(rng: random.Random) -> Secret:
    label = rng.choice(["token", "password", "api-key", "client-secret", "registry-password"])
    value = rand(rng, ALNUM, 1) + rand(rng, ALNUM + "_.", rng.randint(16, 40)) + rand(rng, DIGITS, 1)
    return Secret("cli-flag-secret", value, (value,), label)


def gen_env_var(rng: random.Random) -> Secret:
    label = rng.choice(
        [
            "DB_PASSWORD",
            "REDIS_PASSWORD",
            "API_TOKEN",
            "STRIPE_SECRET",
            "OAUTH_CLIENT_SECRET",
            "SMTP_PASSWORD",
            "GRAFANA_ADMIN_PASSWORD",
            "SENTRY_AUTH_TOKEN",
        ]
    )
    value = password(rng, 14, 32)
    return Secret("env-var-value", value, (value,), label)


# Structural kinds: the generator returns the secret; its contexts are whole documents.

PEM_TYPES = {
    "pem-rsa": "RSA PRIVATE KEY",
    "pem-ec": "EC PRIVATE KEY",
    "pem-dsa": "DSA PRIVATE KEY",
    "pem-openssh": "OPENSSH PRIVATE KEY",
    "pem-pkcs8": "PRIVATE KEY",
    "pem-encrypted-pkcs8": "ENCRYPTED PRIVATE KEY",
    "pem-pgp": "PGP PRIVATE KEY BLOCK",
}


def gen_pem(kind: str) -> Callable[[random.Random], Secret]:
    def make(rng: random.Random) -> Secret:
        body = pem_body(rng, rng.choice([121, 227, 1190]))
        headers: tuple[str, ...] = ()
        if kind == "pem-rsa" and rng.random() < 0.3:  # legacy OpenSSL encryption headers
            headers = ("Proc-Type: 4,ENCRYPTED", f"DEK-Info: AES-256-CBC,{rand(rng, HEX, 32).upper()}")
        if kind == "pem-pgp":
            headers = ("Version: GnuPG v2",)
        return Secret(kind, pem(PEM_TYPES[kind], body, headers), tuple(body))

    return make


def gen_ssh2_key(rng: random.Random) -> Secret:
    body = pem_body(rng, 700, 70)
    value = "\n".join(
        [
            "---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----",
            'Comment: "rsa-key-20240501"',
            *body,
            "---- END SSH2 ENCRYPTED PRIVATE KEY ----",
        ]
    )
    return Secret("pem-ssh2-encrypted", value, tuple(body))


def gen_putty_key(rng: random.Random) -> Secret:
    public = pem_body(rng, 270)
    private = pem_body(rng, 660)
    mac = rand(rng, HEX, 64)
    value = "\n".join(
        [
            "PuTTY-User-Key-File-2: ssh-rsa",
            "Encryption: none",
            "Comment: rsa-key-20240501",
            f"Public-Lines: {len(public)}",
            *public,
            f"Private-Lines: {len(private)}",
            *private,
            f"Private-MAC: {mac}",
        ]
    )
    return Secret("putty-private-key", value, (*private, mac))


def gen_client_key_data(rng: random.Random) -> Secret:
    key = pem("RSA PRIVATE KEY", pem_body(rng, rng.choice([1190, 1700])))
    value = b64(key.encode())
    # The base64 of the BEGIN/END lines is the same in every key (and close to a certificate's): the
    # core is the part that encodes the key's body.
    return Secret("kubeconfig-client-key-data", value, (value[44:-44],), "client-key-data")


def gen_kubeconfig_token(rng: random.Random) -> Secret:
    pick = rng.random()
    if pick < 0.33:
        value = gen_jwt(rng).value
    elif pick < 0.66:
        value = f"{rand(rng, LOWER + DIGITS, 6)}.{rand(rng, LOWER + DIGITS, 16)}"  # kubeadm bootstrap token
    else:
        value = rand(rng, ALNUM, rng.randint(40, 64))
    return Secret("kubeconfig-token", value, (value,), "token")


def gen_docker_auth(rng: random.Random) -> Secret:
    pw = password(rng)
    auth = b64(f"{rng.choice(['robot$ci', 'deploy', 'ankra'])}:{pw}".encode())
    return Secret("docker-config-auth", auth, (auth, pw), "auth")


def gen_dockerconfigjson(rng: random.Random) -> Secret:
    docker = gen_docker_auth(rng)
    registry = rng.choice(["ghcr.io", "registry.gitlab.com", "harbor.example.com"])
    pw = docker.cores[1]
    config = {"auths": {registry: {"username": "deploy", "password": pw, "auth": docker.value}}}
    value = b64(json.dumps(config, separators=(",", ":")).encode())
    return Secret("dockerconfigjson", value, (value,), ".dockerconfigjson")


def gen_azure_key(rng: random.Random) -> Secret:
    value = b64(rng.randbytes(64))
    return Secret("azure-storage-account-key", value, (value,), "AccountKey")


def gen_secret_data(rng: random.Random) -> Secret:
    keys = rng.sample(
        [
            "username",
            "password",
            "DATABASE_URL",
            "api-token",
            "config.json",
            "ca.key",
            "REDIS_PASSWORD",
            "smtp-credentials",
            "license",
        ],
        3,
    )
    values = [b64(password(rng, 12, 40).encode()) for _ in keys]
    encoded = ",".join(f"{k}={v}" for k, v in zip(keys, values, strict=True))
    return Secret("k8s-secret-data", encoded, tuple(values))


def gen_secret_string_data(rng: random.Random) -> Secret:
    keys = rng.sample(["username", "connection-string", "api-token", "webhook-url", "license"], 2)
    values = [password(rng, 16, 40) for _ in keys]
    encoded = ",".join(f"{k}={v}" for k, v in zip(keys, values, strict=True))
    return Secret("k8s-secret-string-data", encoded, tuple(values))


# -- contexts ------------------------------------------------------------------------------------


def _cluster_fields(rng: random.Random) -> dict[str, Any]:
    return {
        "id": cluster_id(rng),
        "name": cluster_name(rng),
        "provider": rng.choice(["hetzner", "ovh", "upcloud"]),
        "state": "online",
        "kubernetes_version": rng.choice(["v1.29.3+k3s1", "v1.30.2", "1.28.9"]),
        "nodes": rng.randint(1, 9),
        "created_at": "2024-05-01T12:00:00Z",
    }


def kv_view(rng: random.Random, line: str) -> str:
    c = _cluster_fields(rng)
    return (
        f"Name:               {c['name']}\nID:                 {c['id']}\nProvider:           {c['provider']}\n"
        f"State:              online\nKubernetes Version: {c['kubernetes_version']}\n"
        f"Nodes:              {c['nodes']}\n{line}\nCreated:            2024-05-01 12:00 UTC (3 days ago)\n"
    )


def table(rng: random.Random, cell: str) -> str:
    rows = [("ID", "NAME", "PROVIDER", "STATE", "CREDENTIAL")]
    for i in range(3):
        rows.append((cluster_id(rng), f"{cluster_name(rng)}", "hetzner", "online", cell if i == 1 else "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return (
        "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows) + "\n"
    )


def box_table(rng: random.Random, cell: str) -> str:
    rows = [("Name", "Provider", "State", "Token")]
    for i in range(2):
        rows.append((cluster_name(rng), "ovh", "online", cell if i == 0 else "—"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    line = lambda r: "│ " + " │ ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) + " │"
    top = "┌" + "┬".join("─" * (w + 2) for w in widths) + "┐"
    bottom = "└" + "┴".join("─" * (w + 2) for w in widths) + "┘"
    return "\n".join([top, line(rows[0]), *(line(r) for r in rows[1:]), bottom]) + "\n"


def stack_manifest(rng: random.Random, entry: str) -> str:
    return f"""apiVersion: v1
kind: Stack
metadata:
  name: {rng.choice(["data-platform", "observability", "edge-ingress"])}
  cluster: {cluster_name(rng)}
  clusterId: {cluster_id(rng)}
spec:
  charts:
    - name: postgresql-ha
      chart: bitnami/postgresql-ha
      version: 14.2.3
      namespace: data
      values:
        auth:
          existingSecret: app-data-credentials
{textwrap.indent(entry, " " * 10)}
        primary:
          resources:
            limits:
              memory: 512Mi
    - name: ingress-nginx
      chart: ingress-nginx/ingress-nginx
      version: 4.10.1
      namespace: ingress-nginx
"""


def yaml_scalar(rng: random.Random, value: str) -> str:
    style = rng.choice(["plain", "single", "double"])
    if style == "single":
        return f"'{value}'"
    if style == "double":
        return json.dumps(value)
    return value


def log_lines(rng: random.Random, line: str) -> str:
    return (
        f"2024-05-01T12:00:00Z INFO  hermes.executor step=2 cluster={cluster_name(rng)} "
        f'command="ankra cluster get" exit=0\n{line}\n'
        f"2024-05-01T12:00:02Z INFO  hermes.executor step=3 commit={rand(rng, HEX, 40)} done\n"
    )


def json_doc(rng: random.Random, extra: dict[str, Any]) -> str:
    return json.dumps({**_cluster_fields(rng), **extra}, indent=2)


def bare_contexts() -> list[tuple[str, Callable[[random.Random, Secret], tuple[str, Any]]]]:
    def data(rng: random.Random, v: str) -> Any:
        return {
            "cluster": _cluster_fields(rng),
            "message": f"Imported with credential {v}.",
            "annotations": {"ankra.app/credential": v},
            "history": [v, "rotated"],
        }

    return [
        (
            "ankra cluster get (detail view)",
            lambda rng, s: (kv_view(rng, f"Credential:         {s.value}"), data(rng, s.value)),
        ),
        ("ankra credentials list (table)", lambda rng, s: (table(rng, s.value), data(rng, s.value))),
        ("ankra cluster list (box table)", lambda rng, s: (box_table(rng, s.value), data(rng, s.value))),
        (
            "ankra stack get -o yaml (manifest)",
            lambda rng, s: (
                stack_manifest(rng, f"note: {yaml_scalar(rng, 'imported ' + s.value)}\nvalue: {s.value}"),
                data(rng, s.value),
            ),
        ),
        (
            "ankra cluster get -o json",
            lambda rng, s: (
                json_doc(rng, {"annotations": {"ankra.app/credential": s.value}}),
                data(rng, s.value),
            ),
        ),
        (
            "executor log",
            lambda rng, s: (
                log_lines(
                    rng,
                    f'2024-05-01T12:00:01Z WARN  agent credential={s.value} cluster=edge-1 msg="rotating"',
                ),
                data(rng, s.value),
            ),
        ),
        (
            "chat reply",
            lambda rng, s: (
                (f"I found this in the cluster's config:\n\n    {s.value}\n\nRotate it in the console."),
                data(rng, s.value),
            ),
        ),
    ]


def labelled_contexts() -> list[tuple[str, Callable[[random.Random, Secret], tuple[str, Any]]]]:
    def data(rng: random.Random, s: Secret) -> Any:
        return {
            "cluster": _cluster_fields(rng),
            "values": {"auth": {s.label: s.value, "existingSecret": "app-data-credentials"}},
        }

    def quoted_if_spaced(v: str) -> str:
        return f'"{v}"' if " " in v else v

    return [
        (
            "ankra stack get -o yaml (values)",
            lambda rng, s: (stack_manifest(rng, f"{s.label}: {yaml_scalar(rng, s.value)}"), data(rng, s)),
        ),
        (
            "ankra stack get -o json (values)",
            lambda rng, s: (json_doc(rng, {"values": {"auth": {s.label: s.value}}}), data(rng, s)),
        ),
        (
            "shell export",
            lambda rng, s: (
                (
                    f"$ ankra cluster env {cluster_name(rng)}\nexport ANKRA_CLUSTER=edge-1\n"
                    f'export {env_name(s.label)}="{s.value}"\n'
                ),
                data(rng, s),
            ),
        ),
        (
            ".env file",
            lambda rng, s: (
                (
                    f"CLUSTER_ID={cluster_id(rng)}\n"
                    f"{env_name(s.label)}={quoted_if_spaced(s.value)}\nLOG_LEVEL=info\n"
                ),
                data(rng, s),
            ),
        ),
        (
            "ankra credentials get (detail view)",
            lambda rng, s: (kv_view(rng, f"{(human(s.label) + ':').ljust(19)} {s.value}"), data(rng, s)),
        ),
        (
            "logfmt line",
            lambda rng, s: (
                log_lines(
                    rng,
                    f"2024-05-01T12:00:01Z DEBUG config {s.label}="
                    f"{quoted_if_spaced(s.value)} region=eu-central",
                ),
                data(rng, s),
            ),
        ),
        (
            "ini file",
            lambda rng, s: (
                f"[default]\nregion = eu-central-1\n{s.label} = {s.value}\noutput = json\n",
                data(rng, s),
            ),
        ),
    ]


def pem_contexts() -> list[tuple[str, Callable[[random.Random, Secret], tuple[str, Any]]]]:
    def data(rng: random.Random, s: Secret) -> Any:
        return {"credential": {"id": cluster_id(rng), "name": "deploy-key"}, "files": {"id_rsa": s.value}}

    return [
        (
            "ankra credentials get --show (raw key)",
            lambda rng, s: (
                f"Name:        deploy-key\nFingerprint: SHA256:{rand(rng, ALNUM, 43)}\n\n{s.value}\n",
                data(rng, s),
            ),
        ),
        (
            "ankra stack get -o yaml (block scalar)",
            lambda rng, s: (
                stack_manifest(rng, "tls.key: |\n" + textwrap.indent(s.value, "  ")),
                data(rng, s),
            ),
        ),
        (
            "ankra stack get -o json (escaped newlines)",
            lambda rng, s: (json_doc(rng, {"values": {"sshKey": s.value}}), data(rng, s)),
        ),
        (
            "chat reply (code block)",
            lambda rng, s: (f"The key in the repo is:\n```\n{s.value}\n```\nRevoke it.", data(rng, s)),
        ),
    ]


def kubeconfig(rng: random.Random, user: str) -> tuple[str, Any]:
    name = cluster_name(rng)
    ca = b64(fake_certificate(rng).encode())
    cert = b64(fake_certificate(rng).encode())
    text = f"""apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: {ca}
    server: https://10.0.{rng.randint(0, 255)}.{rng.randint(1, 254)}:6443
  name: {name}
contexts:
- context:
    cluster: {name}
    user: {name}-admin
  name: {name}
current-context: {name}
users:
- name: {name}-admin
  user:
    client-certificate-data: {cert}
{user}
"""
    return text, {"cluster": name, "certificate": cert}


def kubeconfig_contexts() -> list[tuple[str, Callable[[random.Random, Secret], tuple[str, Any]]]]:
    def build(rng: random.Random, s: Secret, wrap: Callable[[str], str]) -> tuple[str, Any]:
        text, parts = kubeconfig(rng, f"    {s.label}: {s.value}")
        data = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": parts["cluster"],
            "users": [
                {
                    "name": f"{parts['cluster']}-admin",
                    "user": {"client-certificate-data": parts["certificate"], s.label: s.value},
                }
            ],
        }
        return wrap(text), data

    return [
        ("ankra cluster kubeconfig", lambda rng, s: build(rng, s, lambda t: t)),
        (
            "chat reply (kubeconfig)",
            lambda rng, s: build(rng, s, lambda t: f"Here is the kubeconfig:\n```yaml\n{t}```"),
        ),
        ("kubeconfig as JSON", lambda rng, s: build(rng, s, lambda t: json.dumps({"kubeconfig": t}))),
    ]


def docker_auth_contexts() -> list[tuple[str, Callable[[random.Random, Secret], tuple[str, Any]]]]:
    def build(rng: random.Random, s: Secret, indent: int | None) -> tuple[str, Any]:
        config = {"auths": {"ghcr.io": {"username": "deploy", "password": s.cores[1], "auth": s.value}}}
        return json.dumps(config, indent=indent), config

    return [
        ("docker config.json (pretty)", lambda rng, s: build(rng, s, 2)),
        ("docker config.json (compact)", lambda rng, s: build(rng, s, None)),
    ]


def secret_yaml(rng: random.Random, section: str, entries: list[tuple[str, str]], *, listed: bool) -> str:
    body = "\n".join(f"  {k}: {v}" for k, v in entries)
    doc = (
        f"apiVersion: v1\n{section}:\n{body}\nkind: Secret\nmetadata:\n  name: app-data-credentials\n"
        f"  namespace: data\n  uid: {cluster_id(rng)}\ntype: Opaque\n"
    )
    if not listed:
        return doc
    return (
        "apiVersion: v1\nitems:\n"
        + textwrap.indent(doc, "  ").replace("  apiVersion", "- apiVersion", 1)
        + "kind: List\n"
    )


def secret_contexts(section: str) -> list[tuple[str, Callable[[random.Random, Secret], tuple[str, Any]]]]:
    def entries(s: Secret) -> list[tuple[str, str]]:
        return [tuple(pair.split("=", 1)) for pair in s.value.split(",")]  # type: ignore[misc]

    def data(rng: random.Random, s: Secret) -> Any:
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "app-data-credentials"},
            "type": "Opaque",
            section: dict(entries(s)),
        }

    return [
        (
            "kubectl get secret -o yaml",
            lambda rng, s: (secret_yaml(rng, section, entries(s), listed=False), data(rng, s)),
        ),
        (
            "kubectl get secrets -o yaml (List)",
            lambda rng, s: (secret_yaml(rng, section, entries(s), listed=True), data(rng, s)),
        ),
        ("kubectl get secret -o json", lambda rng, s: (json.dumps(data(rng, s), indent=2), data(rng, s))),
    ]


def dockerconfigjson_contexts() -> list[tuple[str, Callable[[random.Random, Secret], tuple[str, Any]]]]:
    def data(s: Secret) -> Any:
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "regcred"},
            "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": s.value},
        }

    return [
        (
            "image pull Secret (yaml)",
            lambda rng, s: (
                "apiVersion: v1\ndata:\n  .dockerconfigjson: " + s.value + "\nkind: Secret\nmetadata:\n"
                "  name: regcred\n  namespace: apps\ntype: kubernetes.io/dockerconfigjson\n",
                data(s),
            ),
        ),
        ("image pull Secret (json)", lambda rng, s: (json.dumps(data(s), indent=2), data(s))),
        (
            "image pull Secret without kind (chat)",
            lambda rng, s: (f"The pull secret holds:\n.dockerconfigjson: {s.value}\n", {"note": s.value}),
        ),
    ]


def azure_contexts() -> list[tuple[str, Callable[[random.Random, Secret], tuple[str, Any]]]]:
    def conn(s: Secret) -> str:
        return (
            f"DefaultEndpointsProtocol=https;AccountName=ankrabackups;AccountKey={s.value};"
            "EndpointSuffix=core.windows.net"
        )

    return [
        (
            "stack values (connection string)",
            lambda rng, s: (
                stack_manifest(rng, f'connectionString: "{conn(s)}"'),
                {"connectionString": conn(s)},
            ),
        ),
        (
            "env (connection string)",
            lambda rng, s: (
                f"AZURE_STORAGE_CONNECTION_STRING={conn(s)}\n",
                {"env": {"AZURE_STORAGE": conn(s)}},
            ),
        ),
        (
            "logfmt (account key)",
            lambda rng, s: (
                log_lines(rng, f"backup target account=ankrabackups AccountKey={s.value}"),
                {"backup": {"AccountKey": s.value}},
            ),
        ),
    ]


def npm_contexts() -> list[tuple[str, Callable[[random.Random, Secret], tuple[str, Any]]]]:
    return [
        *bare_contexts(),
        (
            ".npmrc",
            lambda rng, s: (
                f"registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken={s.value}\n",
                {"npmrc": f"//registry.npmjs.org/:_authToken={s.value}"},
            ),
        ),
    ]


def header_contexts(scheme: str) -> list[tuple[str, Callable[[random.Random, Secret], tuple[str, Any]]]]:
    return [
        (
            "curl -v output",
            lambda rng, s: (
                (
                    f"> GET /api/v1/clusters HTTP/1.1\n> Host: platform.ankra.app\n"
                    f"> Authorization: {scheme} {s.value}\n> Accept: */*\n"
                ),
                {"headers": {"Authorization": f"{scheme} {s.value}"}},
            ),
        ),
        (
            "http request log",
            lambda rng, s: (
                log_lines(rng, f"request headers={{'authorization': '{scheme} {s.value}'}}"),
                {"request": {"headers": {"authorization": f"{scheme} {s.value}"}}},
            ),
        ),
        (
            "bare scheme in chat",
            lambda rng, s: (
                f"Use the header value `{scheme} {s.value}` when calling the API.",
                {"hint": f"{scheme} {s.value}"},
            ),
        ),
    ]


def cli_flag_contexts() -> list[tuple[str, Callable[[random.Random, Secret], tuple[str, Any]]]]:
    def argv(rng: random.Random, s: Secret) -> Any:
        return {"argv": ["ankra", "cluster", "import", "--name", cluster_name(rng), f"--{s.label}", s.value]}

    return [
        (
            "command echo",
            lambda rng, s: (
                (
                    f"$ ankra cluster import --name {cluster_name(rng)} --{s.label} "
                    f"{s.value}\nCluster imported.\n"
                ),
                argv(rng, s),
            ),
        ),
        (
            "command echo (=)",
            lambda rng, s: (
                f"$ ankra registry login ghcr.io --{s.label}={s.value} --user ci\n",
                argv(rng, s),
            ),
        ),
        (
            "command echo (quoted)",
            lambda rng, s: (f"running: helm install app --{s.label} '{s.value}' --wait\n", argv(rng, s)),
        ),
    ]


def env_var_contexts() -> list[tuple[str, Callable[[random.Random, Secret], tuple[str, Any]]]]:
    def data(s: Secret) -> Any:
        return {
            "spec": {
                "containers": [
                    {
                        "name": "app",
                        "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": s.label, "value": s.value}],
                    }
                ]
            }
        }

    return [
        (
            "deployment env (yaml)",
            lambda rng, s: (
                (
                    "    spec:\n      containers:\n      - name: app\n        env:\n        - name: LOG_LEVEL\n"
                    f"          value: info\n        - name: {s.label}\n          value: {yaml_scalar(rng, s.value)}\n"
                ),
                data(s),
            ),
        ),
        ("deployment env (json)", lambda rng, s: (json.dumps(data(s), indent=2), data(s))),
        ("helm --set list", lambda rng, s: (f'set:\n  - name: {s.label}\n    value: "{s.value}"\n', data(s))),
    ]


# -- the kinds -----------------------------------------------------------------------------------

Contexts = list[tuple[str, Callable[[random.Random, Secret], tuple[str, Any]]]]
KINDS: list[tuple[Callable[[random.Random], Secret], Callable[[], Contexts]]] = [
    (gen_aws_access_key_id, bare_contexts),
    (gen_aws_secret_access_key, labelled_contexts),
    (gen_api_secret, labelled_contexts),
    (gen_password, labelled_contexts),
    (gen_password_with_spaces, labelled_contexts),
    (gen_url_password, bare_contexts),
    (gen_redis_url, bare_contexts),
    (gen_gitlab_token, bare_contexts),
    (gen_google_api_key, bare_contexts),
    (gen_stripe_key, bare_contexts),
    (gen_npm_token, npm_contexts),
    (gen_sendgrid_key, bare_contexts),
    (gen_discord_token, bare_contexts),
    (gen_telegram_token, bare_contexts),
    (gen_jwt, bare_contexts),
    (gen_github_token, bare_contexts),
    (gen_github_pat, bare_contexts),
    (gen_slack_token, bare_contexts),
    (gen_slack_app_token, bare_contexts),
    (gen_openai_key, bare_contexts),
    (gen_anthropic_key, bare_contexts),
    (gen_ankra_token, bare_contexts),
    (gen_hermes_token, bare_contexts),
    (gen_twilio_key, bare_contexts),
    (gen_pypi_token, bare_contexts),
    (gen_vault_token, bare_contexts),
    (gen_grafana_token, bare_contexts),
    (gen_digitalocean_token, bare_contexts),
    (gen_age_key, bare_contexts),
    (gen_presigned_url, bare_contexts),
    (gen_bearer_header, lambda: header_contexts("Bearer")),
    (gen_basic_header, lambda: header_contexts("Basic")),
    (gen_cli_flag, cli_flag_contexts),
    (gen_env_var, env_var_contexts),
    *[(gen_pem(kind), pem_contexts) for kind in PEM_TYPES],
    (gen_ssh2_key, pem_contexts),
    (gen_putty_key, pem_contexts),
    (gen_client_key_data, kubeconfig_contexts),
    (gen_kubeconfig_token, kubeconfig_contexts),
    (gen_docker_auth, docker_auth_contexts),
    (gen_dockerconfigjson, dockerconfigjson_contexts),
    (gen_azure_key, azure_contexts),
    (gen_secret_data, lambda: secret_contexts("data")),
    (gen_secret_string_data, lambda: secret_contexts("stringData")),
]


def secret_cases(seed: int = SEED, per_kind: int = PER_KIND) -> list[Case]:
    """`per_kind` generated secrets of every kind, each in one of its kind's contexts (in turn)."""
    rng = random.Random(seed)
    cases: list[Case] = []
    for make, contexts in KINDS:
        ctx = contexts()
        for i in range(per_kind):
            secret = make(rng)
            name, render = ctx[i % len(ctx)]
            text, data = render(rng, secret)
            cases.append(Case(secret.kind, name, text, data, secret))
    return cases


# -- what must stay ------------------------------------------------------------------------------


def false_positive_texts(seed: int = SEED) -> list[str]:
    """Output that holds no secret: names, ids, digests, versions, prose. Redaction must not touch it."""
    rng = random.Random(seed + 1)
    sha = rand(rng, HEX, 40)
    digest = "sha256:" + rand(rng, HEX, 64)
    cid = cluster_id(rng)
    cert = fake_certificate(rng)
    kube, _ = kubeconfig(rng, '    exec:\n      command: ankra\n      args: ["cluster", "credentials"]')
    texts = [
        "staging-cluster",
        "production",
        "edge-1",
        "bitnami/postgresql-ha",
        "ingress-nginx",
        "kube-prometheus-stack",
        "cert-manager",
        "oci://registry-1.docker.io/bitnamicharts/postgresql-ha",
        "ingress-nginx/ingress-nginx:4.10.1",
        "ingress-nginx-controller-7d9c6b5f4-x2k8q",
        "deployment.apps/cert-manager-webhook",
        "secret/app-data-credentials created",
        "Secret app-data-credentials synced",
        "task-controller-manager-abcdefghijklmnop",
        "disk-pressure-monitoring-rules-for-edge-nodes",
        f"cluster id {cid}",
        f"id: {cid}",
        json.dumps({"id": cid, "name": "edge-1"}),
        f"image: ghcr.io/ankra/agent:v1.4.2@{digest}",
        f'Successfully pulled image "ghcr.io/ankra/agent@{digest}"',
        digest,
        f"commit {sha}",
        f"Stack synced at revision {sha[:7]} ({sha})",
        "v1.29.3+k3s1",
        "kubernetes_version: 1.30.2",
        "chart version 14.2.3, app version 16.2.0",
        "2024-05-01T12:00:00Z",
        "created_at: 2024-05-01T12:00:00.123456+00:00",
        "Last Synced: 3 minutes ago",
        "Fingerprint: SHA256:q5YcXk2Lm8Qw9Zr4Tv7Bn1Hs6Jd3Pf0Gx5Ca2Ue8Io",
        "reset your password in the console",
        "Your password must be at least 12 characters long.",
        'password authentication failed for user "app"',
        "Passwords: 3 rotated, 0 failed",
        "Bearer tokens are rotated daily; Basic authentication is disabled.",
        "a basic configuration",
        "tokens: 2 active, 1 revoked",
        "token_type: Bearer",
        "tokenExpirySeconds: 3600",
        "max_tokens: 4096",
        "existingSecret: app-data-credentials",
        "existingSecretPasswordKey: redis-password",
        "secretName: hermes-tls",
        "tlsSecret: hermes-tls",
        "connection_secret: app-data-credentials",
        "passwordSecret: app-data-credentials",
        "apiKeySecretRef: ankra-api-key",
        "tokenUrl: https://example.invalid/oauth",
        "secretKeyRef:\n  name: app-data-credentials\n  key: password",
        "auth:\n  enabled: true\n  existingSecret: app-data-credentials\n  secretKeys:\n    adminPasswordKey: admin-password",
        "env:\n- name: DB_PASSWORD\n  valueFrom:\n    secretKeyRef:\n      name: app-data-credentials\n      key: password",
        "password: ${DB_PASSWORD}",
        "token: {{ .Values.ankra.token }}",
        'password: ""',
        "token: true",
        "auth: enabled",
        "secret: app-data-credentials",
        "key: password",
        "primaryKey: id",
        "publicKey: ssh-ed25519",
        "AccountName=ankrabackups;EndpointSuffix=core.windows.net",
        "https://platform.ankra.app/clusters/staging-cluster",
        "git@github.com:ankraio/stacks.git",
        "postgres://db.internal:5432/app",
        "https://deploy@git.example.com/org/repo.git",
        "https://registry.npmjs.org:443/@scope/pkg",
        "arn:aws:iam::123456789012:role/ankra-node",
        "ops@example.com",
        "10.0.12.7:6443",
        "region: eu-central-1",
        "chat_id: -1001234567890",
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\ndata:\n  LOG_LEVEL: info\n"
            "  config.yaml: |\n    server:\n      port: 8080\n"
        ),
        cert,
        kube,
        "ankra_cluster_list",
        "--name edge-1 --provider hetzner --yes",
        "Reconciliation triggered for production: 3 operations created.",
        "pass: 12, fail: 0",
        # prose and templates that put a value-looking thing after a label
        "Use only one way to receive updates per bot token: polling or a webhook, never both.",
        "- **Rotating a NATS password:** change it in the Secret, then restart NATS and the service.",
        "The chart creates no service-account token: `automountServiceAccountToken: false` is set.",
        "hermes.json:7: gateway.auth.token: environment variable GW_TOKEN is not set",
        "Authorization: Bearer <token>",
        'curl -H "Authorization: Bearer $(cat /var/run/secrets/token)" https://platform.ankra.app',
        "      HERMES_REDIS_PASSWORD: ${HERMES_REDIS_PASSWORD:?set in .env}",
        "HERMES_REDIS_URL=redis://:$(HERMES_REDIS_PASSWORD)@redis:6379/0",
        "HERMES_NATS_URL=nats://<service>:<password>@nats:4222",
        "      --token string              API token (or ANKRA_API_TOKEN)",
        "password: <set with ankra credentials create>",
        "token: {{ .Values.token | default (randAlphaNum 40) | quote }}",
        "registry.k8s.io/sig-storage/csi-provisioner:v3.6.0",
        "signature: verified (cosign, keyless)",
        f"kubeadm join 10.0.0.1:6443 --discovery-token-ca-cert-hash sha256:{rand(rng, HEX, 64)}",
        "echo $REGISTRY_TOKEN | docker login ghcr.io --username ci --password-stdin",
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=3600&X-Amz-SignedHeaders=host",
        "pwd is /home/ankra",
        "Secret: app-data-credentials",
    ]
    table_text = table(rng, "-") + box_table(rng, "—")
    return [*texts, table_text, stack_manifest(rng, "existingSecretPasswordKey: redis-password")]


def false_positive_data(seed: int = SEED) -> list[Any]:
    """JSON-shaped values that hold no secret."""
    rng = random.Random(seed + 2)
    return [
        {"cluster": _cluster_fields(rng), "stacks": ["kube-prometheus-stack", "cert-manager"]},
        {
            "secretName": "hermes-tls",
            "existingSecret": "app-data-credentials",
            "tokenUrl": "https://example.invalid",
            "connection_secret": "app-data-credentials",
            "token_type": "Bearer",
            "tokens": 2,
            "auth": {"enabled": True},
        },
        {
            "env": [
                {
                    "name": "DB_PASSWORD",
                    "valueFrom": {"secretKeyRef": {"name": "app-data-credentials", "key": "password"}},
                },
                {"name": "LOG_LEVEL", "value": "info"},
            ]
        },
        {"image": "ghcr.io/ankra/agent@sha256:" + rand(rng, HEX, 64), "commit": rand(rng, HEX, 40)},
        {"kind": "ConfigMap", "data": {"LOG_LEVEL": "info", "port": "8080"}},
        {"argv": ["ankra", "cluster", "get", "--name", "staging-cluster", "-o", "json"]},
        {"message": "reset your password in the console", "password_hint": "the usual one"},
    ]

"""One settings file, read from the environment.

With nothing set, the app runs on the embedded default: SQLite, the in-memory
channel layer, Celery tasks run in-process and the local assistant. Each real
part is switched on by one variable (see README.md). A bad value stops start-up
with a message naming the variable.
"""

from __future__ import annotations

import os
from ipaddress import ip_network
from pathlib import Path
from urllib.parse import urlparse

import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

# Lets admin and form classes be written with type parameters (ModelAdmin[Model]).
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, got {raw!r}")


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env_str(name, default)
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be {' or '.join(choices)}, got {value!r}")
    return value


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}")
    return value


def env_float(name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}")
    return value


def env_url(name: str, schemes: set[str]) -> str:
    raw = env_str(name)
    if not raw:
        return ""
    parsed = urlparse(raw)
    if parsed.scheme not in schemes or not (parsed.netloc or parsed.path):
        allowed = ", ".join(sorted(schemes))
        raise ImproperlyConfigured(f"{name} must be a URL starting with one of: {allowed}")
    return raw


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_origins(name: str) -> list[str]:
    """Comma-separated web origins (`scheme://host[:port]`, no path), normalised."""
    origins = []
    for item in env_list(name, []):
        parsed = urlparse(item)
        if (
            parsed.scheme not in {"http", "https"}
            or not parsed.hostname
            or parsed.path not in {"", "/"}
            or parsed.query
            or parsed.fragment
            or parsed.username
        ):
            raise ImproperlyConfigured(
                f"{name} must list origins like https://shop.example.com, got {item!r}"
            )
        port = f":{parsed.port}" if parsed.port else ""
        origins.append(f"{parsed.scheme}://{parsed.hostname.lower()}{port}")
    return origins


# --- Mode -------------------------------------------------------------------

SUPPORTBOT_ENV = env_choice("SUPPORTBOT_ENV", "development", ("development", "production"))
PRODUCTION = SUPPORTBOT_ENV == "production"
DEBUG = env_bool("DJANGO_DEBUG", default=not PRODUCTION)

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when SUPPORTBOT_ENV=production")
    # Development only: a fixed key keeps sessions valid across restarts.
    SECRET_KEY = "dev-insecure-" + "x" * 50
elif PRODUCTION and len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be at least 50 characters in production")

ALLOWED_HOSTS = env_list(
    "DJANGO_ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"]
)
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must be set when SUPPORTBOT_ENV=production")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

# --- Applications -----------------------------------------------------------

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "apps.outbox",
    "apps.chat",
    "apps.assistant",
    "apps.orders",
    "apps.knowledge",
    "apps.escalations",
    "apps.reports",
    "apps.evaluation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The customer's pages in their browser's language (LANGUAGES); no URL prefixes.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "supportbot.csp.ContentSecurityPolicyMiddleware",
    "supportbot.login_throttle.AdminLoginThrottleMiddleware",
]

ROOT_URLCONF = "supportbot.urls"
ASGI_APPLICATION = "supportbot.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------

DATABASE_URL = env_url("DATABASE_URL", {"postgres", "postgresql", "sqlite"})
# Seconds a connection is kept; the chat path makes many short queries per turn, each in
# a thread of the pool that keeps its own connection. 0: a new connection per step.
_CONN_MAX_AGE = env_int("DATABASE_CONN_MAX_AGE", 600)
# SQLite, however it is named: write transactions take the write lock when they begin
# (no deadlock between two readers that both want to write), a writer waits for the
# lock instead of failing with "database is locked", and WAL lets readers run while
# one writes.
SQLITE_OPTIONS = {
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
}
if DATABASE_URL:
    import dj_database_url

    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL, conn_max_age=_CONN_MAX_AGE, conn_health_checks=True
        )
    }
else:
    (BASE_DIR / "var").mkdir(exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(BASE_DIR / "var" / "db.sqlite3"),
            "CONN_MAX_AGE": _CONN_MAX_AGE,
            "CONN_HEALTH_CHECKS": True,
        }
    }
_IS_SQLITE = DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
if _IS_SQLITE:
    _sqlite = DATABASES["default"]
    _sqlite["OPTIONS"] = {**SQLITE_OPTIONS, **_sqlite.get("OPTIONS", {})}
    # A file, not memory, so a Daphne or Celery process started by a test sees the
    # test's rows; one per test run, so runs don't share it.
    _sqlite.setdefault("TEST", {"NAME": str(BASE_DIR / "var" / f"test-db-{os.getpid()}.sqlite3")})
# Threads for the chat path's database steps, per process (apps/chat/asyncdb.py): few,
# since each takes the GIL from the event loop that streams the replies. On PostgreSQL
# one: a turn has two steps, and a second thread cost more in GIL hand-offs than it won
# in overlapped round trips (50 and 200 chats, docs/deployment.md, capacity); raise it
# when the database is across a network, where a step mostly waits. SQLite: two, one
# overlapping the other's waits on the file.
SUPPORTBOT_DB_THREADS = env_int("SUPPORTBOT_DB_THREADS", 2 if _IS_SQLITE else 1, minimum=1)
# PostgreSQL: a bounded pool per process (Django's, on psycopg_pool). A connection is
# held only during a database step: the chat path's steps run in SUPPORTBOT_DB_THREADS
# threads, Channels' database_sync_to_async in one more, and each sync HTTP request
# (the admin) in a thread of its own, 5 of them before they wait. Past the pool's size
# a step waits up to DATABASE_POOL_TIMEOUT for a free connection instead of opening
# another. Connections per machine: processes x pool (docs/deployment.md, capacity).
# 0: no pool, one persistent connection per thread (DATABASE_CONN_MAX_AGE).
DEFAULT_POOL_SIZE = SUPPORTBOT_DB_THREADS + 6
DATABASE_POOL_SIZE = env_int("DATABASE_POOL_SIZE", DEFAULT_POOL_SIZE)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and DATABASE_POOL_SIZE:
    _postgres = DATABASES["default"]
    _postgres["CONN_MAX_AGE"] = 0  # the pool keeps the connections
    _postgres["CONN_HEALTH_CHECKS"] = False
    _postgres["OPTIONS"] = {
        **_postgres.get("OPTIONS", {}),
        "pool": {
            "min_size": min(2, DATABASE_POOL_SIZE),
            "max_size": DATABASE_POOL_SIZE,
            # Waiting longer than this for a free connection is an error, not a queue.
            "timeout": env_float("DATABASE_POOL_TIMEOUT", 10.0, minimum=0.1),
        },
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer, cache (rate limits), Celery broker ---------------

REDIS_URL = env_url("REDIS_URL", {"redis", "rediss", "unix"})
CHANNEL_LAYER_PREFIX = env_str("SUPPORTBOT_CHANNEL_PREFIX", "supportbot")
# The channel layer's blocking pop lasts 2 s (supportbot/redis_layer.py); the Redis
# client's read timeout must stay well above it, or every idle socket drops with a
# 1011. It still bounds how long a dead Redis can hold a request.
REDIS_SOCKET_TIMEOUT = env_float("SUPPORTBOT_REDIS_SOCKET_TIMEOUT", 10.0, minimum=5.0)
REDIS_CONNECT_TIMEOUT = env_float("SUPPORTBOT_REDIS_CONNECT_TIMEOUT", 5.0, minimum=0.5)

# channels_redis keeps all messages for one process's sockets in one Redis inbox, so
# `capacity` bounds a process, not a socket (every channel here is a process's, so no
# per-channel `channel_capacity`); past it, group messages to that process are dropped
# (logged "over capacity"), stored events included. Measured with python -m
# benchmarks.streaming --full on 2 shared cores: 200 chats streaming on one process
# queue at most ~270 messages there; with a second tab for each on another process, that
# process falls behind (replies ~20 s late) and its inbox peaked at 5,200-8,300 (at
# 1,000, replies were dropped). 20,000 is over twice that, a few MB of Redis. `expiry`:
# seconds a message may wait before it is dropped as stale; those late replies waited
# 20-27 s, so it stays at channels_redis's 60.
LAYER_CAPACITY = env_int("SUPPORTBOT_LAYER_CAPACITY", 20_000, minimum=100)
LAYER_EXPIRY = env_int("SUPPORTBOT_LAYER_EXPIRY", 60, minimum=1)
# Connections per process to the layer's Redis, opened as needed; a command finding all
# in use waits for one up to REDIS_SOCKET_TIMEOUT, then fails (the event is stored;
# clients `resume`). 200 chats streaming on one saturated process (benchmarks.streaming)
# ran out at 100: ~1,000 publishes failed after waiting; at 400, none.
LAYER_CONNECTIONS = env_int("SUPPORTBOT_LAYER_CONNECTIONS", 400, minimum=10)


def redis_channel_layer(url: str, prefix: str) -> dict[str, object]:
    """The channel layer on Redis at `url` (tests build theirs with this too)."""
    host = {
        "address": url,
        "socket_timeout": REDIS_SOCKET_TIMEOUT,
        "socket_connect_timeout": REDIS_CONNECT_TIMEOUT,
        "socket_keepalive": True,
        "max_connections": LAYER_CONNECTIONS,
        "timeout": REDIS_SOCKET_TIMEOUT,
    }
    return {
        "BACKEND": "supportbot.redis_layer.RedisChannelLayer",
        "CONFIG": {
            "hosts": [host],
            "prefix": prefix,
            "capacity": LAYER_CAPACITY,
            "expiry": LAYER_EXPIRY,
        },
    }


if REDIS_URL:
    CHANNEL_LAYERS = {"default": redis_channel_layer(REDIS_URL, CHANNEL_LAYER_PREFIX)}
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CHANNEL_LAYER_PREFIX,
            "OPTIONS": {
                "socket_timeout": REDIS_SOCKET_TIMEOUT,
                "socket_connect_timeout": REDIS_CONNECT_TIMEOUT,
                # The rate limits share one client per process; past 100 commands in
                # flight redis-py's own pool raises (23 of 200 conversations created at
                # once failed): this one waits for a free connection.
                "pool_class": "redis.BlockingConnectionPool",
                "max_connections": 100,
                "timeout": REDIS_SOCKET_TIMEOUT,
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
# Without a broker, tasks run in-process so the embedded default needs no worker.
CELERY_TASK_ALWAYS_EAGER = env_bool("SUPPORTBOT_TASKS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# A task whose worker died is redelivered after this many seconds.
_VISIBILITY_TIMEOUT = env_int("SUPPORTBOT_TASK_VISIBILITY_TIMEOUT", 3600, minimum=1)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": _VISIBILITY_TIMEOUT,
    # Workers look for such tasks this often (kombu's default is ~100 s: 10 s x throttle 10).
    "unacked_restore_interval": min(10, _VISIBILITY_TIMEOUT),
    "unacked_restore_throttle": 1,
}
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    # Background work is written to an outbox with the change that needs it and sent
    # from there (apps/outbox); this sends what the broker could not take at once.
    "outbox-dispatch": {
        "task": "outbox.dispatch",
        "schedule": env_float("SUPPORTBOT_OUTBOX_INTERVAL", 5.0, minimum=1.0),
    },
}

# --- The model --------------------------------------------------------------

OPENAI_API_KEY = env_str("OPENAI_API_KEY")
OPENAI_BASE_URL = env_url("OPENAI_BASE_URL", {"http", "https"})
SUPPORTBOT_MODEL = env_str("SUPPORTBOT_MODEL", "gpt-4o-mini")
OPENAI_CONNECT_TIMEOUT = env_float("OPENAI_CONNECT_TIMEOUT", 5.0, minimum=0.1)
OPENAI_READ_TIMEOUT = env_float("OPENAI_READ_TIMEOUT", 30.0, minimum=0.1)
OPENAI_MAX_RETRIES = env_int("OPENAI_MAX_RETRIES", 2)
OPENAI_RETRY_BASE_DELAY = env_float("OPENAI_RETRY_BASE_DELAY", 0.5)
OPENAI_RETRY_MAX_DELAY = env_float("OPENAI_RETRY_MAX_DELAY", 8.0)
OPENAI_RETRY_AFTER_CAP = env_float("OPENAI_RETRY_AFTER_CAP", 20.0)
SUPPORTBOT_MAX_OUTPUT_TOKENS = env_int("SUPPORTBOT_MAX_OUTPUT_TOKENS", 600, minimum=16)
if SUPPORTBOT_MAX_OUTPUT_TOKENS > 16_384:  # gpt-4o-mini's completion limit
    raise ImproperlyConfigured("SUPPORTBOT_MAX_OUTPUT_TOKENS must be at most 16384")
# Low by default: a support assistant should answer the same question the same way.
SUPPORTBOT_TEMPERATURE = env_float("SUPPORTBOT_TEMPERATURE", 0.2)
if SUPPORTBOT_TEMPERATURE > 2:
    raise ImproperlyConfigured("SUPPORTBOT_TEMPERATURE must be between 0 and 2")
# Earlier turns' messages, tool calls and results the model sees, in tokens (estimated);
# the oldest are compacted first.
SUPPORTBOT_HISTORY_TOKENS = env_int("SUPPORTBOT_HISTORY_TOKENS", 8000, minimum=500)
# `manage.py evaluate`: the simulated customer's sampling temperature.
SUPPORTBOT_EVAL_USER_TEMPERATURE = env_float("SUPPORTBOT_EVAL_USER_TEMPERATURE", 0.7)
# A model-based input screen beside each turn (real providers only); it never blocks.
SUPPORTBOT_MODEL_SCREEN = env_bool("SUPPORTBOT_MODEL_SCREEN", default=True)
SUPPORTBOT_MODEL_SCREEN_WAIT = env_float("SUPPORTBOT_MODEL_SCREEN_WAIT", 3.0, minimum=0.1)
# Help-center search adds OpenAI embeddings of article sections when a key is set
# (docs/help-center.md); the vectors are cached per section by content hash.
SUPPORTBOT_HELP_EMBEDDINGS = env_bool("SUPPORTBOT_HELP_EMBEDDINGS", default=True)
SUPPORTBOT_EMBEDDING_MODEL = env_str("SUPPORTBOT_EMBEDDING_MODEL", "text-embedding-3-small")
# Without a key, a local sentence encoder (all-MiniLM-L6-v2 run in numpy) embeds them
# instead, when its folder is there (`manage.py fetch_embedding_model`).
SUPPORTBOT_LOCAL_EMBEDDINGS = env_bool("SUPPORTBOT_LOCAL_EMBEDDINGS", default=True)
SUPPORTBOT_LOCAL_MODEL_DIR = Path(
    env_str("SUPPORTBOT_LOCAL_MODEL_DIR", str(BASE_DIR / "var" / "models" / "all-MiniLM-L6-v2"))
)
SUPPORTBOT_MAX_TOOL_STEPS = env_int("SUPPORTBOT_MAX_TOOL_STEPS", 6, minimum=1)
SUPPORTBOT_TURN_TIMEOUT = env_float("SUPPORTBOT_TURN_TIMEOUT", 90.0, minimum=1.0)
# A process running a turn renews its lease on the conversation every quarter of
# this; a lease not renewed for this long is taken over by another process (the
# first one died), which tells the customer and answers again.
SUPPORTBOT_TURN_LEASE_SECONDS = env_float("SUPPORTBOT_TURN_LEASE_SECONDS", 5.0, minimum=2.0)
# How often each server process looks for owed turns nobody is running.
SUPPORTBOT_TURN_SWEEP_SECONDS = env_float("SUPPORTBOT_TURN_SWEEP_SECONDS", 1.0, minimum=0.1)
SUPPORTBOT_MAX_TURNS = env_int("SUPPORTBOT_MAX_TURNS", 60, minimum=1)
SUPPORTBOT_MAX_CONVERSATION_TOKENS = env_int(
    "SUPPORTBOT_MAX_CONVERSATION_TOKENS", 200_000, minimum=1000
)
# How often streamed text is flushed to the client as one `delta` frame while the
# process streams few replies; with more, each waits longer, so that the process sends
# at most SUPPORTBOT_DELTA_FRAMES_PER_SECOND text frames in all, and never longer than
# SUPPORTBOT_DELTA_MAX_INTERVAL (apps/chat/turn_frames.py, delta_interval).
SUPPORTBOT_DELTA_INTERVAL = env_float("SUPPORTBOT_DELTA_INTERVAL", 0.04, minimum=0.0)
SUPPORTBOT_DELTA_FRAMES_PER_SECOND = env_float(
    "SUPPORTBOT_DELTA_FRAMES_PER_SECOND", 625.0, minimum=1.0
)
SUPPORTBOT_DELTA_MAX_INTERVAL = env_float("SUPPORTBOT_DELTA_MAX_INTERVAL", 0.12, minimum=0.0)
# ... and how often to sockets of other processes, through the channel layer (one
# layer message per stream per interval at most; see docs/deployment.md, capacity).
SUPPORTBOT_LAYER_DELTA_INTERVAL = env_float("SUPPORTBOT_LAYER_DELTA_INTERVAL", 0.25, minimum=0.0)
# Pause between words of the local assistant, so it streams like a model.
SUPPORTBOT_LOCAL_WORD_DELAY = env_float("SUPPORTBOT_LOCAL_WORD_DELAY", 0.02, minimum=0.0)

# --- Chat limits ------------------------------------------------------------

SUPPORTBOT_MAX_FRAME_BYTES = env_int("SUPPORTBOT_MAX_FRAME_BYTES", 16_384, minimum=256)
SUPPORTBOT_MAX_MESSAGE_CHARS = env_int("SUPPORTBOT_MAX_MESSAGE_CHARS", 4000, minimum=10)
SUPPORTBOT_RATE_MESSAGES = env_int("SUPPORTBOT_RATE_MESSAGES", 20, minimum=1)  # per minute
SUPPORTBOT_RATE_CONVERSATIONS = env_int("SUPPORTBOT_RATE_CONVERSATIONS", 10, minimum=1)
SUPPORTBOT_RATE_PHOTOS = env_int("SUPPORTBOT_RATE_PHOTOS", 10, minimum=1)  # per chat per minute
SUPPORTBOT_RATE_RESUMES = env_int("SUPPORTBOT_RATE_RESUMES", 30, minimum=1)  # per minute
# Addresses (or CIDR ranges) of the reverse proxies in front of Daphne: only from
# these is X-Forwarded-For believed, to find the client's own address.
SUPPORTBOT_TRUSTED_PROXIES = env_list("SUPPORTBOT_TRUSTED_PROXIES", [])
for _proxy in SUPPORTBOT_TRUSTED_PROXIES:
    try:
        ip_network(_proxy, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"SUPPORTBOT_TRUSTED_PROXIES must be IP addresses or networks, got {_proxy!r}"
        ) from None
# Failed identity verifications, across conversations, before a cool-down: per
# client address and per identity tried (zip with email or last name).
SUPPORTBOT_VERIFY_FAILURES_PER_CLIENT = env_int(
    "SUPPORTBOT_VERIFY_FAILURES_PER_CLIENT", 10, minimum=1
)
SUPPORTBOT_VERIFY_FAILURES_PER_IDENTITY = env_int(
    "SUPPORTBOT_VERIFY_FAILURES_PER_IDENTITY", 5, minimum=1
)
SUPPORTBOT_VERIFY_COOLDOWN = env_int("SUPPORTBOT_VERIFY_COOLDOWN", 3600, minimum=60)  # seconds
SUPPORTBOT_CONFIRM_TTL = env_int("SUPPORTBOT_CONFIRM_TTL", 600, minimum=10)  # seconds
SUPPORTBOT_IDENTITY_SECRET = env_str("SUPPORTBOT_IDENTITY_SECRET")
if PRODUCTION and not SUPPORTBOT_IDENTITY_SECRET:
    SUPPORTBOT_IDENTITY_SECRET = ""  # signed identity tokens are then refused
SUPPORTBOT_STORE_DOMAINS = env_list("SUPPORTBOT_STORE_DOMAINS", [])
# The assistant's name in the chat (its avatar says "AI"; the page says it is automated).
SUPPORTBOT_ASSISTANT_NAME = env_str("SUPPORTBOT_ASSISTANT_NAME", "Sierra")
# Store sites allowed to embed the messenger (widget.js): the frame's
# `Content-Security-Policy: frame-ancestors` and the customer socket's origin check.
SUPPORTBOT_EMBED_ORIGINS = env_origins("SUPPORTBOT_EMBED_ORIGINS")
# The demo store at /demo-store/ (development only unless switched on).
SUPPORTBOT_DEMO_STORE = env_bool("SUPPORTBOT_DEMO_STORE", default=not PRODUCTION)

# --- Auth, i18n, static -----------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LANGUAGE_CODE = "en"
# The customer's pages (chat, messenger) in these, chosen from the browser.
LANGUAGES = [("en", "English"), ("es", "Español"), ("fr", "Français"), ("de", "Deutsch")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Customer photos. Never served from here directly: /attachments/<signed id>/ checks
# the signature and sends them with a strict Content-Type and CSP.
MEDIA_ROOT = Path(env_str("SUPPORTBOT_MEDIA_ROOT") or BASE_DIR / "var" / "media")
MEDIA_URL = "/media-not-served/"
SUPPORTBOT_MAX_PHOTO_BYTES = env_int("SUPPORTBOT_MAX_PHOTO_BYTES", 8 * 1024 * 1024, minimum=1024)

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
# Daphne serves /static/ itself unless a proxy in front does (see docs/deployment.md).
SUPPORTBOT_SERVE_STATIC = env_bool("SUPPORTBOT_SERVE_STATIC", default=not PRODUCTION)

EMAIL_BACKEND = env_str("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DJANGO_DEFAULT_FROM_EMAIL", "support@example.com")
EMAIL_HOST = env_str("DJANGO_EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("DJANGO_EMAIL_PORT", 25)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {
        "daphne": {"level": "WARNING"},
        "django.channels.server": {"level": "WARNING"},
        # The OpenAI client's HTTP library logs every request at INFO: a line per model
        # call. Failures reach our own log (apps.assistant.providers) with their cause.
        "httpx2": {"level": "WARNING"},
        # channels_redis says at INFO when a group message found full inboxes (dropped).
        "channels_redis": {"level": "INFO"},
    },
}

# --- Production hardening ---------------------------------------------------

# The site's Content-Security-Policy (supportbot/csp.py; a view may override a
# directive). Inline style attributes are used by templates; scripts are files only.
SUPPORTBOT_CSP: dict[str, list[str]] = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'", "'unsafe-inline'"],
    "img-src": ["'self'", "data:", "blob:"],  # blob: photo previews before upload
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
# Failed admin logins allowed per 15 minutes, per username and per client address.
SUPPORTBOT_LOGIN_FAILURES_PER_USER = env_int("SUPPORTBOT_LOGIN_FAILURES_PER_USER", 5, minimum=1)
SUPPORTBOT_LOGIN_FAILURES_PER_CLIENT = env_int(
    "SUPPORTBOT_LOGIN_FAILURES_PER_CLIENT", 20, minimum=1
)
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# --- Reports: life cycle sweeps, transcripts, analysis ----------------------

from celery.schedules import crontab  # noqa: E402

# A conversation with no new event for this long is closed with reason "idle".
SUPPORTBOT_IDLE_CLOSE_MINUTES = env_int("SUPPORTBOT_IDLE_CLOSE_MINUTES", 30, minimum=1)
# realtime: analyse each conversation when it closes; batch: a nightly OpenAI Batch API job
# (half the price; needs OPENAI_API_KEY, else analysis stays realtime with local rules).
SUPPORTBOT_ANALYSIS_MODE = env_choice("SUPPORTBOT_ANALYSIS_MODE", "realtime", ("realtime", "batch"))
# Quality reviews of closed conversations. batch (the default): with OPENAI_API_KEY, a
# nightly Batch API job at half price (managers can also review one conversation now);
# realtime: the model reviews each conversation as it closes. Without a key the
# rule-based reviewer scores what the audit shows, at once.
SUPPORTBOT_REVIEW_MODE = env_choice("SUPPORTBOT_REVIEW_MODE", "batch", ("realtime", "batch"))
SUPPORTBOT_REVIEW_MODEL = env_str("SUPPORTBOT_REVIEW_MODEL", "gpt-4o-mini")
CELERY_BEAT_SCHEDULE["reports-close-idle"] = {
    "task": "apps.reports.tasks.close_idle_conversations_task",
    "schedule": 60.0,
}
CELERY_BEAT_SCHEDULE["reports-submit-analysis-batch"] = {
    "task": "apps.reports.tasks.submit_analysis_batch_task",
    # Nightly, at this hour (UTC).
    "schedule": crontab(hour=env_int("SUPPORTBOT_ANALYSIS_BATCH_HOUR", 2), minute=0),
}
CELERY_BEAT_SCHEDULE["reports-submit-review-batch"] = {
    "task": "apps.reports.tasks.submit_review_batch_task",
    "schedule": crontab(hour=env_int("SUPPORTBOT_REVIEW_BATCH_HOUR", 2), minute=15),
}
CELERY_BEAT_SCHEDULE["reports-poll-review-batches"] = {
    "task": "apps.reports.tasks.poll_review_batches_task",
    "schedule": 600.0,
}
CELERY_BEAT_SCHEDULE["reports-find-knowledge-gaps"] = {
    "task": "apps.reports.tasks.find_knowledge_gaps_task",
    "schedule": crontab(hour=env_int("SUPPORTBOT_GAPS_HOUR", 3), minute=0),
}
CELERY_BEAT_SCHEDULE["reports-poll-analysis-batches"] = {
    "task": "apps.reports.tasks.poll_analysis_batches_task",
    "schedule": 600.0,
}

# --- Hand-off to humans (apps.escalations) ----------------------------------

# How many conversations one agent may hold at once (per agent: AgentPresence in the admin).
SUPPORTBOT_AGENT_MAX_CONVERSATIONS = env_int("SUPPORTBOT_AGENT_MAX_CONVERSATIONS", 3, minimum=1)
# An unclaimed escalation is announced again after this many minutes, and again after as many.
SUPPORTBOT_ESCALATION_RENOTIFY_MINUTES = env_int(
    "SUPPORTBOT_ESCALATION_RENOTIFY_MINUTES", 5, minimum=1
)
# A customer waiting on an agent who has been away or offline this long goes back to the queue.
SUPPORTBOT_AGENT_AWAY_REQUEUE_MINUTES = env_int(
    "SUPPORTBOT_AGENT_AWAY_REQUEUE_MINUTES", 10, minimum=1
)
# Failed turns in a row (provider errors) before the conversation goes to a person.
SUPPORTBOT_ESCALATE_AFTER_FAILURES = env_int("SUPPORTBOT_ESCALATE_AFTER_FAILURES", 2, minimum=1)
# When people answer: "mon-fri 09:00-17:00" in SUPPORTBOT_SUPPORT_TIMEZONE; empty: always.
SUPPORTBOT_SUPPORT_HOURS = env_str("SUPPORTBOT_SUPPORT_HOURS", "mon-fri 09:00-17:00")
SUPPORTBOT_SUPPORT_TIMEZONE = env_str("SUPPORTBOT_SUPPORT_TIMEZONE", "America/New_York")
# The file email backend (DJANGO_EMAIL_BACKEND=django.core.mail.backends.filebased.EmailBackend).
EMAIL_FILE_PATH = env_str("DJANGO_EMAIL_FILE_PATH", str(BASE_DIR / "var" / "mail"))
CELERY_BEAT_SCHEDULE["escalations-sla-sweep"] = {
    "task": "escalations.sweep",
    "schedule": 60.0,
}

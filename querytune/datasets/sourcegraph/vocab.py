"""What the sourcegraph generator composes queries from: names, code, paths, people, dates.

Each entry pairs how people say a thing with the exact query text it becomes. File and
repo regexes are written as Sourcegraph wants them (``\\.`` for a literal dot). Nothing
here is query syntax on the request side: spoken forms are plain words.
"""
from __future__ import annotations

from importlib.resources import files
from itertools import product

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml reads the same tables ~6x faster
_TABLES = {name: row for table in ("vocab.yaml", "concepts.yaml", "idioms.yaml") for name, row in
           yaml.load(files(__package__).joinpath(table).read_text(encoding="utf-8"), Loader=_LOADER).items()}

# ---------------------------------------------------------------- languages

# (lang: value, ways to say it); the first rows are the languages people search most. "proto files" are
# named by their extension (file:\.proto$, FILE_KINDS), so "proto" is no name of protobuf here
LANGUAGES = [
    ("go", ["Go", "Golang", "go"]), ("python", ["Python", "python", "py"]),
    ("typescript", ["TypeScript", "TS", "typescript", "ts"]), ("javascript", ["JavaScript", "JS", "javascript", "js"]),
    ("java", ["Java", "java"]), ("rust", ["Rust", "rust"]), ("ruby", ["Ruby", "ruby"]), ("c++", ["C++", "cpp"]),
    ("c", ["C"]), ("c#", ["C#", "csharp", "c#"]), ("kotlin", ["Kotlin", "kotlin"]), ("swift", ["Swift", "swift"]),
    ("php", ["PHP", "php"]), ("scala", ["Scala"]), ("shell", ["shell", "bash", "shell script"]), ("elixir", ["Elixir"]),
    ("haskell", ["Haskell"]), ("lua", ["Lua"]), ("dart", ["Dart"]), ("sql", ["SQL", "sql"]),
    ("yaml", ["YAML", "yaml"]), ("markdown", ["Markdown", "markdown"]), ("hcl", ["HCL", "Terraform", "terraform"]),
    ("protobuf", ["protobuf", "Protobuf"]), ("dockerfile", ["Dockerfile"]), ("json", ["JSON"]),
    ("objective-c", ["Objective-C", "objc"]), ("clojure", ["Clojure"]), ("erlang", ["Erlang"]),
    ("ocaml", ["OCaml"]), ("r", ["R"]), ("julia", ["Julia"]), ("perl", ["Perl"]), ("groovy", ["Groovy"]),
    ("graphql", ["GraphQL"]), ("vue", ["Vue"]), ("svelte", ["Svelte"]), ("zig", ["Zig"]),
    ("powershell", ["PowerShell"]), ("solidity", ["Solidity"]), ("cmake", ["CMake"]), ("nix", ["Nix"]),
    ("css", ["CSS"]), ("scss", ["SCSS", "Sass"]), ("html", ["HTML"]), ("makefile", ["Makefile"]),
    ("nginx", ["nginx"]),
]
LANG_NAMES = {value: names for value, names in LANGUAGES}

# language -> code people search for in it (raw text; quoting is decided when building the query)
CODE = {
    "python": ["asyncio.create_task", "import requests", "@dataclass", "yield from", "raise NotImplementedError",
               "subprocess.run", "os.environ", "logging.getLogger", "asyncio.run", "pickle.loads",
               "@pytest.fixture", "json.dumps", "__slots__", "contextmanager", "TypedDict", "getattr(",
               "functools.lru_cache", "sys.exit", "from typing import Any", "@property", "threading.Lock",
               "time.monotonic", "requests.post", "yaml.safe_load", "open(", "except Exception", "breakpoint()"],
    "go": ["go func", "defer", "context.WithTimeout", "errors.Wrap", "sync.Once", "http.HandleFunc",
           "fmt.Errorf", "recover()", "os.LookupEnv", "sync.WaitGroup", "atomic.AddInt64", "bufio.NewScanner",
           "time.NewTicker", "interface{}", "json.Unmarshal", "context.WithCancel", "http.ListenAndServe",
           "errors.Is", "t.Helper()", "slog.Info", "sql.Open", "grpc.NewServer", "os.ReadFile", "reflect.DeepEqual",
           "http.NewRequest", "strconv.Atoi", "time.After"],
    "typescript": ["useRef", "useReducer", "as const", "Promise.all", "structuredClone(", "@ts-expect-error",
                   "readonly", "keyof typeof", "z.object", "createContext", "async function", "useMemo", "useCallback",
                   "export default", "Record<string", "@Injectable()", "import.meta.env", "JSON.stringify"],
    "javascript": ["console.error", "require(", "module.exports", "requestAnimationFrame", "addEventListener",
                   "sessionStorage", "JSON.parse", "document.querySelector", "process.argv", "new Promise",
                   "innerHTML", "new Function(", "axios.get", "XMLHttpRequest", "setInterval"],
    "java": ["@Override", "System.out.println", "synchronized", "@Autowired", "Optional.ofNullable",
             "CompletableFuture", "@Transactional", "ReentrantLock", "printStackTrace", "ExecutorService",
             "@FunctionalInterface", "ObjectMapper", "@RestController", "LoggerFactory.getLogger", "@SuppressWarnings"],
    "rust": ["unsafe", ".unwrap()", ".clone()", "impl Drop", "tokio::spawn", "Arc<Mutex", "#[derive(Debug)]",
             "panic!", "Box<dyn", "async fn", "unimplemented!()", ".expect(", "RefCell", "#[tokio::main]"],
    "ruby": ["attr_accessor", "before_action", "has_many", "define_method", "rescue StandardError",
             "ActiveRecord::Base", "send(", "frozen_string_literal", "belongs_to", "validates"],
    "c++": ["std::unique_ptr", "std::shared_ptr", "reinterpret_cast", "#include <atomic>", "std::mutex",
            "template <typename", "virtual ~", "constexpr", "std::move", "const_cast"],
    "c": ["malloc(", "memcpy", "strcpy", "#pragma once", "goto", "pthread_create", "sprintf", "volatile",
          "free(", "strncpy"],
    "c#": ["async Task", "IDisposable", "[HttpGet]", "Console.WriteLine", "ConfigureAwait(false)",
           "IServiceCollection", "Task.Run", "ILogger", "[Authorize]"],
    "kotlin": ["suspend fun", "lateinit var", "data class", "withContext", "companion object", "!!",
               "viewModelScope", "@Composable"],
    "swift": ["@MainActor", "DispatchQueue.main", "guard let", "weak self", "@Published", "fatalError",
              "URLSession.shared", "@State"],
    "php": ["mysqli_connect", "$_SERVER", "password_hash", "namespace App", "var_dump", "$_POST", "unserialize("],
    "scala": ["implicit", "case class", "Future", "sealed trait", "flatMap", "lazy val"],
    "shell": ["set -euo pipefail", "curl", "sudo", "set -x", "kubectl apply", "docker build", "chmod 777"],
    "elixir": ["GenServer", "defmodule", "Ecto.Changeset", "Task.async", "Phoenix.LiveView", "use Supervisor"],
    "haskell": ["liftIO", "Maybe", "mapM_", "IORef", "deriving (Show"],
    "lua": ["local function", "require", "pcall", "setmetatable", "ngx.say", "vim.api", "ngx.log"],
    "dart": ["StatefulWidget", "setState", "Future<void>", "BuildContext", "Provider.of", "extends ChangeNotifier"],
    "sql": ["SELECT *", "UNION ALL", "CREATE INDEX", "LEFT JOIN", "ON DELETE CASCADE", "GRANT ALL",
            "ALTER TABLE", "TRUNCATE"],
    "yaml": ["replicas", "hostNetwork", "imagePullPolicy", "runs-on", "privileged", "resources"],
    "markdown": ["TODO", "deprecated", "Getting started", "breaking change"],
    "hcl": ["aws_lambda_function", "aws_iam_role", "provider", "backend", "module"],
    "protobuf": ["repeated", "rpc", "google.protobuf.Timestamp", "oneof", "reserved"],
    "dockerfile": ["FROM node", "apt-get install", "USER root", "EXPOSE", "HEALTHCHECK"],
    "json": ["devDependencies", "lodash", "eslintConfig", "engines"],
    "objective-c": ["NSUserDefaults", "@interface", "dispatch_async"],
    "clojure": ["defn", "swap!", "core.async"], "erlang": ["gen_server", "spawn_link"],
    "ocaml": ["Lwt", "Option.get"], "r": ["library(dplyr)", "data.frame"], "julia": ["@inbounds", "mutable struct"],
    "perl": ["use strict", "local $"], "groovy": ["pipeline", "sh"], "graphql": ["extend type", "mutation"],
    "vue": ["v-model", "defineProps"], "svelte": ["onDestroy", "export let"], "zig": ["comptime", "allocator"],
    "powershell": ["Get-ChildItem", "Set-ExecutionPolicy"], "solidity": ["delegatecall", "tx.origin"],
    "cmake": ["target_link_libraries", "add_subdirectory"], "nix": ["mkDerivation", "fetchFromGitHub"],
    "css": ["@media", "z-index"], "scss": ["@mixin", "@extend"], "html": ["<iframe", "onclick"],
    "makefile": [".PHONY", "docker-build"],
}

# (lang, code text, ways to say the concept): constructs named in words ("bare excepts" -> "except:"),
# from concepts.yaml; the gold searches the code text in that language
CONCEPTS = [(lang, row[0], row[1:]) for lang, rows in _TABLES["concepts"].items() for row in rows]
# idioms composed from a name the request gives ("python files importing httpx"): idioms.yaml, by family
IDIOM_FAMILIES, IDIOM_SLOTS, IDIOM_LANG_NAMES = (_TABLES[f"idiom_{k}"] for k in ("families", "slots", "lang_names"))

# ---------------------------------------------------------------- identifiers

VERBS = ["parse", "load", "fetch", "validate", "build", "render", "handle", "resolve", "create", "delete",
         "update", "sync", "flush", "encode", "decode", "retry", "schedule", "dispatch", "compute", "serialize",
         "normalize", "register", "refresh", "emit", "apply", "merge", "lookup", "publish", "consume",
         "migrate", "verify", "sign", "upload", "download", "reconcile", "evict", "enqueue", "archive", "notify"]
NOUNS = ["Config", "User", "Token", "Session", "Request", "Response", "Order", "Invoice", "Payment", "Cache",
         "Index", "Query", "Manifest", "Schema", "Event", "Webhook", "Job", "Batch", "Snapshot", "Account",
         "Tenant", "Policy", "Credentials", "Metrics", "Span", "Shard", "Lease", "Cursor", "Blob", "Message",
         "Subscription", "Refund", "Cart", "Coupon", "Profile", "Permission", "Artifact", "Release", "Build",
         "Repo", "Commit", "Branch", "Deployment", "Secret", "Quota", "Header", "Payload", "Template"]
TYPE_SUFFIXES = ["Service", "Manager", "Handler", "Client", "Store", "Repository", "Factory", "Provider",
                 "Controller", "Worker", "Middleware", "Processor", "Builder", "Registry", "Resolver", "Adapter"]


def _snake(*words: str) -> str:
    return "_".join(w.lower() for w in words)


def _camel(verb: str, noun: str) -> str:
    return verb + noun


#: names the held-out dev set (dev.jsonl) searches for that the products below would compose, in any casing
#: (parseConfig, HandleRequest, MaxRetries): left out, so the dev set checks names it was never taught
DEV_NAMES = {"parseconfig", "handlerequest", "maxretries", "kafkabrokers", "sentrydsn", "databaseurl",
             "enablenewcheckout", "enabledarkmode"}


def _taught(names: set[str]) -> list[str]:
    return sorted(name for name in names if name.lower().replace("_", "") not in DEV_NAMES)


#: (verb, noun) pairs that functions are composed from (intents.py composes them too)
VERB_NOUNS = [(v, n) for v, n in product(VERBS, NOUNS) if (v + n).lower() not in DEV_NAMES]
FUNCTIONS = sorted({_camel(v, n) for v, n in VERB_NOUNS} | {_snake(v, n) for v, n in VERB_NOUNS})
TYPES = sorted({n + s for n, s in product(NOUNS, TYPE_SUFFIXES)})
CONSTANTS = _taught({f"{a}_{b}" for a, b in product(
    ["MAX", "DEFAULT", "MIN", "ENABLE", "DISABLE", "LEGACY", "STRIPE", "KAFKA", "REDIS", "SENTRY", "DATABASE",
     "AWS", "GITHUB", "SLACK", "FEATURE"],
    ["RETRIES", "TIMEOUT", "URL", "API_KEY", "BROKERS", "BATCH_SIZE", "REGION", "TOKEN", "DSN", "HOST",
     "PORT", "WEBHOOK", "NEW_CHECKOUT", "POOL_SIZE"])})
FLAGS_NAMES = _taught({f"{a}_{b}" for a, b in product(
    ["enable", "use", "allow", "disable", "show"],
    ["new_checkout", "dark_mode", "beta_search", "v2_api", "fast_path", "async_export", "sso_login",
     "bulk_import", "smart_retry", "edge_cache"])})
HEADERS = ["X-Correlation-Id", "X-Forwarded-For", "X-Api-Key", "Retry-After", "X-Trace-Id", "Idempotency-Key",
           "X-Tenant-Id", "Content-Security-Policy"]
# (kind, words): code names a request says in words ("retry policy", a type), from vocab.yaml; the gold
# writes each the way code of that kind (a function or variable: of its language) does (content.py)
SPOKEN_IDENTS = [(kind, words) for kind, names in _TABLES["spoken_idents"].items() for words in names]

# language-agnostic things to look for
TERMS = ["TODO", "FIXME", "HACK", "deprecated", "retry", "timeout", "access_token", "password", "kill_switch",
         "healthcheck", "XXX", "secret", "localhost", "tracing", "OpenTelemetry", "Sentry", "datadog",
         "prometheus", "Redis", "Kafka", "GraphQL", "gRPC", "JWT", "OAuth", "CORS", "websocket", "cron",
         "migration", "mutex", "deadlock", "stripe", "twilio", "launchdarkly", "statsd", "protobuf",
         "lodash", "moment", "log4j", "jackson", "boto3", "pydantic", "celery", "sidekiq", "zap", "logrus",
         "opentracing", "honeycomb", "segment", "mixpanel", "auth0", "okta", "keycloak", "vault", "consul",
         "nats", "rabbitmq", "sqs", "pubsub", "bigquery", "snowflake", "clickhouse", "elasticsearch", "memcached",
         "nginx", "envoy", "linkerd", "argo", "flux", "buildkite", "circleci", "webpack", "vite", "esbuild",
         "storybook", "cypress", "playwright", "jest", "mocha", "pytest", "rspec", "hypothesis", "testify",
         "gomock", "mockito", "wiremock", "feign", "retrofit", "okhttp", "axios", "graphene", "sqlalchemy",
         "alembic", "flyway", "liquibase", "prisma", "sequelize", "gorm", "diesel", "hibernate"]

# topics people describe in a few words: (spoken, keyword terms of the query)
TOPICS = [
    ("grpc timeout", "grpc timeout"), ("retry budget", "retry budget"),
    ("retry jitter", "retry jitter"), ("circuit breaker", "circuit breaker"),
    ("connection pool size", "connection pool size"), ("jwt expiry", "jwt expiry"),
    ("oauth callback", "oauth callback"), ("cache invalidation", "cache invalidation"), ("s3 upload", "s3 upload"),
    ("kafka consumer lag", "kafka consumer lag"), ("webhook signature", "webhook signature"),
    ("feature flag rollout", "feature flag rollout"), ("stripe refund", "stripe refund"), ("redis lock", "redis lock"),
    ("graceful shutdown", "graceful shutdown"), ("health check endpoint", "health check"),
    ("cors preflight", "cors preflight"), ("password reset email", "password reset email"),
    ("pagination cursor", "pagination cursor"), ("dead letter queue", "dead letter queue"),
    ("tls certificate reload", "tls certificate reload"), ("db migration rollback", "migration rollback"),
    ("sentry breadcrumbs", "sentry breadcrumbs"), ("trace sampling rate", "trace sampling"),
    ("idempotency key", "idempotency key"), ("session cookie", "session cookie"), ("batch size", "batch size"),
    ("exponential backoff", "exponential backoff"), ("worker pool", "worker pool"), ("audit log", "audit log"),
    ("outgoing http retries", "http retry"), ("invoice pdf rendering", "invoice pdf"),
    ("tenant isolation", "tenant isolation"), ("search ranking weights", "ranking weights"),
    ("image resizing", "image resize"), ("cron schedule parsing", "cron schedule"),
    ("sso login redirect", "sso redirect"), ("gdpr data export", "gdpr export"),
    ("currency rounding", "currency rounding"),
    ("timezone conversion", "timezone"), ("file upload size limit", "upload size limit"),
    ("websocket heartbeat", "websocket heartbeat"), ("database connection string", "connection string"),
    ("api versioning", "api version"), ("request signing", "request signing"),
    ("shard rebalancing", "shard rebalance"), ("leader election", "leader election"),
    ("bloom filter", "bloom filter"), ("consistent hashing", "consistent hashing"), ("config hot reload", "hot reload"),
    ("otp verification", "otp verify"), ("push notification tokens", "push token"),
    ("email unsubscribe link", "unsubscribe"), ("cart abandonment", "abandoned cart"),
    ("fraud score threshold", "fraud score"), ("refund webhook", "refund webhook"),
    ("locale fallback", "locale fallback"), ("dark mode toggle", "dark mode"), ("csv export", "csv export"),
    ("schema validation", "schema validation"),
]

# error and log strings people paste (always a phrase in the query), and regexes described in
# words as (description, regex, bare): both long tables live in vocab.yaml, see there
MESSAGES = _TABLES["messages"]
REGEXES = [(row["say"], row["regex"], row["bare"]) for row in _TABLES["regexes"]]

# how people type ordinary words (surface.py): short forms, words they drop, words they misspell
ABBREVIATIONS, FILLERS, TYPO_WORDS = _TABLES["abbreviations"], set(_TABLES["fillers"]), set(_TABLES["typo_words"])

# "X followed later on the same line by Y": (first, second)
SEQUENCES = [("http.Get", "err"), ("open", "close"), ("SELECT", "WHERE"), ("lock", "unlock"), ("try", "finally"),
             ("Begin", "Commit"), ("subscribe", "unsubscribe"), ("malloc", "free"), ("fetch", "then"),
             ("new Date", "toISOString"), ("json.loads", "KeyError"), ("ctx", "cancel")]

# literal text with characters that would mean something else in regex or keyword mode
LITERALS = ["a[i] = b", "x ? y : z", "**kwargs", "++i", "[]byte{}", "$HOME/.config", "a ?: b", "!= null",
            "{{ .Values", "<%=", "=> {}", "#!/usr/bin/env", "[0]", "i += 1", "&& true", "-- TODO", "?? 0",
            "*ptr++", "+= 1", "[]string{}", "% 2 == 0", "|| true"]
# exact code text of several words or symbols, searched as one quoted phrase
PHRASES = ["private_key =", "api_key =", "return nil, err", "if err != nil", "SELECT * FROM", "import pandas as pd",
           "except Exception as e", "def __init__(self", "catch (Exception e)", "throw new Error", "debug = True",
           "verify = False", "timeout = 0", "for i in range", "while (true)", "new Date()", "as unknown as",
           "ON CONFLICT DO NOTHING", "git push --force", "chmod 777", "allow_origins = *", "DROP TABLE IF EXISTS",
           "ssl_verify = false", "max_connections = 100", "retries = 3", "process.exit(1);", "return err }",
           "log.Println(err)", "return null;", "secret_key =", "raise ValueError(", "async with", "go func()",
           "select * from users", "setTimeout(() =>", "if (err) throw err", "== null", "import * as",
           "std::cout <<", "exit 1"]

# ---------------------------------------------------------------- structural templates

# (description, comby template, lang); templates avoid spaces before "(" and holes after letters
STRUCTURAL = [
    ("calls to fmt.Errorf with any arguments", "fmt.Errorf(:[args])", "go"),
    ("if err != nil blocks that only return the error", "if err != nil {return err}", "go"),
    ("errors.New called with any message", "errors.New(:[msg])", "go"),
    ("json.Unmarshal calls, whatever the arguments", "json.Unmarshal(:[data],:[v])", "go"),
    ("http.Get calls with any URL", "http.Get(:[url])", "go"),
    ("setTimeout with any callback and delay", "setTimeout(:[fn],:[ms])", "javascript"),
    ("console.log calls with any arguments", "console.log(:[args])", "typescript"),
    ("useEffect hooks with any body and deps", "useEffect(:[fn],:[deps])", "typescript"),
    ("assertEqual calls with any two arguments", "assertEqual(:[a],:[b])", "python"),
    ("print calls with anything inside", "print(:[x])", "python"),
    ("requests.get calls without a timeout", "requests.get(:[url])", "python"),
    ("Thread.sleep with any duration", "Thread.sleep(:[ms])", "java"),
    ("Optional.of calls with any value", "Optional.of(:[v])", "java"),
    ("unwrap calls on any expression", ":[x].unwrap()", "rust"),
    ("strcpy calls with any arguments", "strcpy(:[dst],:[src])", "c"),
    ("t.Errorf calls with any format", "t.Errorf(:[fmt])", "go"),
]

# ---------------------------------------------------------------- files

#: (file: regex, ways to say it): kinds of file named by a file name, an extension or a folder, never by a
#: language's name (that is lang:), from vocab.yaml; pick a way to say one with ``Ctx.pick``
FILE_KINDS = [(row["regex"], row["say"]) for row in _TABLES["files"]]


def _seen(said: list[str]) -> list[str]:
    """The ways to say a file kind that training rows use (``Ctx.pick`` keeps the last quarter of 4+ for test)."""
    return said[:len(said) - len(said) // 4] if len(said) >= 4 else said


#: (how people say it, file: regex), one row per training phrasing, for tables that draw a (said, regex) pair
FILES = [(said, regex) for regex, says in FILE_KINDS for said in _seen(says)]
#: file regexes (FILE_KINDS, EXCLUSIONS) that only match one language's files: such a filter never meets a
#: different lang: in one query ("the main.go files in Python" contradicts itself); ``text`` meets none
IMPLIED_LANG = {row["regex"]: row["lang"] for row in _TABLES["files"] if "lang" in row} | {
    r"\.pb\.go$": "go", r"\.min\.js$": "javascript"}
#: kinds of file people name by their language ("SQL files", "nginx configs"): lang:, not file:
LANG_FILES = [("YAML files", "yaml"), ("SQL files", "sql"), ("shell scripts", "shell"), ("bash scripts", "shell"),
              ("Terraform files", "hcl"), ("nginx configs", "nginx"), ("protobuf definitions", "protobuf"),
              ("Python scripts", "python"), ("Ruby scripts", "ruby"), ("Markdown docs", "markdown"),
              ("JSON files", "json"), ("Svelte components", "svelte"), ("Vue components", "vue"),
              ("GraphQL files", "graphql"), ("Perl scripts", "perl"), ("PowerShell scripts", "powershell"),
              ("CSS files", "css"), ("Go files", "go"), ("Java files", "java"), ("Kotlin files", "kotlin"),
              ("Rust files", "rust"), ("TypeScript files", "typescript"), ("Lua scripts", "lua"),
              ("HTML files", "html"), ("SCSS files", "scss"), ("Groovy scripts", "groovy")]
#: languages named by their file ("Dockerfiles"): the request spells a file name, so the gold is file:
FILE_NAMED_LANGS = {"dockerfile": ("Dockerfiles", "Dockerfile"), "makefile": ("Makefiles", "Makefile")}
DIRECTORIES = ["src", "docs", "scripts", "internal/auth", "pkg/api", "cmd/server", "web/src/components",
               "services/payments", "lib", "deploy", "infra/terraform", "client/web", "api/v1", "tools",
               "internal/search", "app/models", "app/controllers", "backend/jobs", "frontend", "config"]
FILE_NAMES = ["main.go", "server.ts", "settings.py", "routes.rb", "index.js", "schema.graphql", "config.yaml",
              "Makefile", "app.py", "handler.go", "utils.ts", "docker-compose.yml", "webpack.config.js",
              "urls.py", "build.gradle", "values.yaml", "client.go", "models.py"]
EXTENSIONS = [".go", ".py", ".ts", ".tsx", ".rb", ".java", ".rs", ".proto", ".sql", ".tf", ".sh", ".md",
              ".yaml", ".json", ".kt", ".swift", ".vue", ".scss", ".graphql", ".ipynb"]
#: extension -> the language of its files; file names and extensions imply it like IMPLIED_LANG's regexes
EXTENSION_LANG = {".go": "go", ".py": "python", ".ts": "typescript", ".tsx": "typescript", ".rb": "ruby",
                  ".java": "java", ".rs": "rust", ".proto": "protobuf", ".sql": "sql", ".tf": "hcl", ".sh": "shell",
                  ".md": "markdown", ".yaml": "yaml", ".yml": "yaml", ".json": "json", ".kt": "kotlin",
                  ".swift": "swift", ".vue": "vue", ".scss": "scss", ".graphql": "graphql", ".js": "javascript",
                  ".gradle": "groovy", ".ipynb": "jupyter notebook"}
IMPLIED_LANG.update({name.replace(".", "\\.") + "$": EXTENSION_LANG.get("." + name.rsplit(".", 1)[-1], name.lower())
                     for name in FILE_NAMES + EXTENSIONS})
# (how people say what to leave out, -file: regex)
EXCLUSIONS = [
    ("tests", "test"), ("test files", "test"), ("vendored code", "vendor/"), ("node_modules", "node_modules/"),
    ("generated code", "generated"), ("mocks", "mock"), ("the docs", "^docs/"), ("examples", "example"),
    ("third-party code", "third_party/"), ("fixtures", "fixtures/"), ("_test.go files", r"_test\.go$"),
    ("minified bundles", r"\.min\.js$"), ("generated .pb.go files", r"\.pb\.go$"), ("the dist folder", "dist/"),
    ("storybook stories", r"\.stories\."), ("snapshots", "__snapshots__/"),
]

# ---------------------------------------------------------------- repositories

PUBLIC_REPOS = list(_TABLES["public_repos"].items())  # (repo, ways to say it), from vocab.yaml

SERVICES = ["payments-service", "web-app", "infra", "auth-service", "mobile-ios", "mobile-android",
            "data-pipeline", "design-system", "billing-api", "search-indexer", "notifications", "monorepo",
            "checkout", "inventory-service", "admin-portal", "ml-models", "core-lib", "deploy-tools",
            "gateway", "user-service", "ledger", "fraud-detection", "email-worker", "graphql-api",
            "feature-flags", "analytics-etl", "identity", "storefront", "shipping-service", "docs-site",
            "terraform-modules", "k8s-manifests", "cli", "sdk-python", "sdk-go", "event-bus", "scheduler",
            "reporting", "pricing-engine", "onboarding"]
ORGS = ["acme", "globex", "initech", "umbrella", "hooli", "piedpiper", "wayne", "stark", "tyrell", "cyberdyne"]


def _spoken_service(name: str) -> list[str]:
    """How people say a service's repo in words: "payments service", "billing", "web app"."""
    stem, _, suffix = name.rpartition("-")
    if suffix == "service":
        return [stem.replace("-", " ") + " service", stem] if "-" not in stem else [stem.replace("-", " ") + " service"]
    if suffix in ("api", "app", "worker", "engine") and "-" not in stem:
        return [f"{stem} {suffix}", stem] if suffix == "api" else [f"{stem} {suffix}"]
    return []


def _company_repos() -> list[tuple[str, list[str]]]:
    """Each org gets a deterministic slice of services (real companies share few names)."""
    repos = []
    for i, org in enumerate(ORGS):
        names = SERVICES[i * 3 % len(SERVICES):] + SERVICES[:i * 3 % len(SERVICES)]
        for name in names[:14 if i < 3 else 7]:
            repos.append((f"github.com/{org}/{name}", [name, f"{org}/{name}", *_spoken_service(name)]))
    return repos


COMPANY_REPOS = _company_repos()
REPOS = PUBLIC_REPOS + COMPANY_REPOS

BRANCHES = ["main", "master", "develop", "dev", "staging", "release-2.3", "release/5.4", "hotfix/login",
            "feature/new-checkout", "next", "stable", "v2", "canary", "release-1.18", "experimental"]
TAGS = ["v5.0.0", "v1.2.3", "v0.9.1", "v2.0.0-rc1", "v3.14.2", "v1.30.0", "v4.1.0", "v10.2.1"]
SHAS = ["a1b2c3d", "9f8e7d6c", "3e4f5a6b7c", "deadbeef", "c0ffee42", "1a2b3c4d5e6f", "7d3f2a1", "b16b00b5"]
# (spoken, ref glob) for sets of branches
REF_GLOBS = [("every release branch", "*refs/heads/release-*"), ("all branches", "*refs/heads/*"),
             ("all the tags", "*refs/tags/*"), ("every feature branch", "*refs/heads/feature/*")]

# ---------------------------------------------------------------- people, teams, repo metadata

FIRST_NAMES = ["erik", "alice", "bob", "sarah", "priya", "wei", "carlos", "fatima", "tom", "nina", "kenji",
               "olga", "marcus", "aisha", "liam", "sofia", "raj", "chen", "beyang", "quinn", "thorsten",
               "camden", "mei", "jonas", "amara", "diego", "hana", "ivan", "leila", "mateo", "noah", "yuki"]
FULL_NAMES = ["Priya Patel", "Tom Chen", "Sarah Kim", "Carlos Diaz", "Fatima Khan", "Jonas Berg",
              "Amara Okafor", "Diego Alvarez", "Hana Sato", "Leila Haddad", "Mateo Rossi", "Ivan Petrov"]
HANDLES = ["jdoe", "bpasero", "mkaplan", "tsenart", "kz-dev", "sqs", "eseliger", "ryanb", "jlee42", "mrnugget"]
EMAIL_DOMAINS = ["acme.com", "globex.io", "initech.dev"]
BOTS = [("dependabot", "dependabot"), ("renovate", "renovate"), ("the release bot", "release-bot"),
        ("github-actions", "github-actions")]
TEAMS = ["@platform-team", "@payments-team", "@security", "@frontend-guild", "@sre", "@data-eng", "@mobile",
         "@search-core", "@identity-team", "@infra-oncall"]
TOPICS_GH = ["machine-learning", "kubernetes", "cli", "react", "graphql", "observability", "security",
             "terraform", "rust", "deprecated", "internal-tools", "microservice", "data-engineering", "sdk"]
DESCRIPTIONS = ["kubernetes operator", "payment gateway", "internal CLI", "design system", "feature flag",
                "search engine", "rate limiter", "static site", "ETL pipeline", "GraphQL server", "mobile app",
                "terraform module", "auth proxy", "load testing", "chaos engineering", "secrets manager",
                "image service", "billing engine", "recommendation model", "admin dashboard", "sdk generator"]
# (spoken, has.meta argument)
META = [("owned by the payments team", "team:payments"), ("in the platform team's metadata", "team:platform"),
        ("marked tier-1", "tier:1"), ("tagged as a production service", "env:production"),
        ("with a lifecycle of deprecated", "lifecycle:deprecated"), ("with an oncall key set", "oncall"),
        ("that have a pci metadata key", "pci"), ("with an empty owner key", "owner:"),
        ("with the language metadata set to go", "language:go"), ("flagged as customer-facing", "customer-facing")]
META_KEYS = ["deprecated", "owner", "oncall", "sla", "cost-center", "experimental", "team", "pager"]  # said as keys
CONTEXTS = [("the backend", "backend"), ("the mobile", "mobile"), ("the frontend", "frontend"),
            ("the open source", "oss"), ("the payments", "payments"), ("the data platform", "data-platform"),
            ("the acme mobile org", "@acme/mobile"), ("the globex platform", "@globex/platform"),
            ("the initech core", "@initech/core"), ("the infra", "infra"), ("the hooli search org", "@hooli/search"),
            ("the ml", "ml"), ("the stark security org", "@stark/security"), ("the web", "web"),
            ("the umbrella apps org", "@umbrella/apps")]
CONTEXT_USERS = ["alice", "erik", "priya", "sqs", "kenji", "sofia", "marcus", "hana"]
USER_CONTEXTS = ["oncall", "reviews", "infra", "services", "migration", "starred"]  # a user's own contexts: @user/name

# commit-message subjects: single words and phrases
MESSAGE_WORDS = ["revert", "hotfix", "CVE", "flaky", "migration", "bump", "refactor", "typo", "security",
                 "deprecate", "rollback", "WIP", "breaking", "fixup!", "chore", "perf", "regression", "backport"]
MESSAGE_PHRASES = ["memory leak", "race condition", "null pointer", "fix login", "upgrade go", "remove feature flag",
                   "rate limiting", "breaking change", "security fix", "flaky test", "bump version", "dark mode",
                   "data loss", "merge conflict"]

# (spoken plural, select:symbol.<kind> kind)
SYMBOL_KINDS = [("functions", "function"), ("classes", "class"), ("interfaces", "interface"),
                ("structs", "struct"), ("methods", "method"), ("enums", "enum"), ("constants", "constant"),
                ("variables", "variable"), ("modules", "module"), ("packages", "package"), ("fields", "field"),
                ("constructors", "constructor"), ("properties", "property"), ("type parameters", "type-parameter"),
                ("enum members", "enum-member"), ("namespaces", "namespace"), ("events", "event"),
                ("operators", "operator"), ("keys", "key"), ("object literals", "object")]

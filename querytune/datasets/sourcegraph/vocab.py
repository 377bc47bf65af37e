"""What the sourcegraph generator composes queries from.

Each entry pairs how people say a thing with the exact query text it becomes.
File regexes are written as Sourcegraph wants them (``\\.`` for a literal dot).
"""
from __future__ import annotations

# (lang: value, ways to say it)
LANGUAGES = [
    ("python", ["Python", "python", "py"]), ("go", ["Go", "Golang", "go"]),
    ("typescript", ["TypeScript", "TS", "typescript"]), ("javascript", ["JavaScript", "JS", "javascript"]),
    ("java", ["Java"]), ("rust", ["Rust"]), ("ruby", ["Ruby"]), ("c++", ["C++", "cpp"]), ("c", ["C"]),
    ("c#", ["C#", "csharp"]), ("kotlin", ["Kotlin"]), ("swift", ["Swift"]), ("php", ["PHP"]),
    ("scala", ["Scala"]), ("shell", ["shell", "bash", "shell script"]), ("elixir", ["Elixir"]),
    ("haskell", ["Haskell"]), ("lua", ["Lua"]), ("dart", ["Dart"]), ("sql", ["SQL"]),
]

# language -> code people search for in it (raw text; quoting is decided when building the query)
CODE = {
    "python": ["async def", "import requests", "@dataclass", "yield from", "raise NotImplementedError",
               "subprocess.run", "os.environ", "logging.getLogger", "asyncio.gather", "pickle.loads",
               "@pytest.fixture", "json.dumps", "__slots__", "contextmanager", "TypedDict", "eval("],
    "go": ["go func", "defer", "context.WithTimeout", "errors.Wrap", "sync.Mutex", "http.HandleFunc",
           "fmt.Errorf", "panic(", "os.Getenv", "sync.WaitGroup", "select {", "atomic.AddInt64",
           "ioutil.ReadAll", "time.Sleep", "interface{}", "json.Unmarshal"],
    "typescript": ["useEffect", "useState", "as any", "Promise.all", "fetch(", "@ts-ignore", "readonly",
                   "keyof typeof", "zod", "z.object", "createContext", "async function"],
    "javascript": ["console.log", "require(", "module.exports", "setTimeout", "addEventListener",
                   "localStorage", "JSON.parse", "document.querySelector", "process.env", "new Promise"],
    "java": ["@Override", "System.out.println", "synchronized", "@Autowired", "Optional.ofNullable",
             "CompletableFuture", "@Transactional", "Thread.sleep", "printStackTrace", "ExecutorService"],
    "rust": ["unsafe", ".unwrap()", ".clone()", "impl Drop", "tokio::spawn", "Arc<Mutex", "#[derive(Debug)]",
             "panic!", "Box<dyn", "async fn"],
    "ruby": ["attr_accessor", "before_action", "has_many", "define_method", "rescue StandardError",
             "ActiveRecord::Base", "send(", "frozen_string_literal"],
    "c++": ["std::unique_ptr", "std::shared_ptr", "reinterpret_cast", "#include <thread>", "std::mutex",
            "template <typename", "virtual ~", "constexpr"],
    "c": ["malloc(", "memcpy", "strcpy", "#pragma once", "goto", "pthread_create", "sprintf", "volatile"],
    "c#": ["async Task", "IDisposable", "[HttpGet]", "Console.WriteLine", "LINQ", "ConfigureAwait(false)",
           "IServiceCollection", "Task.Run"],
    "kotlin": ["suspend fun", "lateinit var", "data class", "runBlocking", "companion object", "!!"],
    "swift": ["@MainActor", "DispatchQueue.main", "guard let", "weak self", "@Published", "fatalError"],
    "php": ["mysqli_query", "$_GET", "eval(", "password_hash", "namespace App", "var_dump"],
    "scala": ["implicit", "case class", "Future", "sealed trait", "Akka", "flatMap"],
    "shell": ["set -euo pipefail", "curl", "sudo", "rm -rf", "#!/bin/bash", "kubectl apply"],
    "elixir": ["GenServer", "defmodule", "Ecto.Changeset", "Task.async", "|>", "Phoenix.LiveView"],
    "haskell": ["unsafePerformIO", "Maybe", "mapM_", "IORef", "where", "deriving (Show"],
    "lua": ["local function", "require", "pcall", "setmetatable", "ngx.say", "vim.api"],
    "dart": ["StatefulWidget", "setState", "Future<void>", "async", "BuildContext", "Provider.of"],
    "sql": ["SELECT *", "DROP TABLE", "CREATE INDEX", "LEFT JOIN", "ON DELETE CASCADE", "GRANT ALL"],
}

# language-agnostic things to look for (topic words people mention anywhere)
TERMS = ["TODO", "FIXME", "HACK", "deprecated", "retry", "timeout", "api_key", "password", "feature_flag",
         "rate limit", "circuit breaker", "healthcheck", "XXX", "secret", "localhost", "tracing",
         "OpenTelemetry", "Sentry", "datadog", "prometheus", "Redis", "Kafka", "S3", "GraphQL", "gRPC",
         "JWT", "OAuth", "CORS", "websocket", "cron", "migration", "cache", "mutex", "deadlock",
         "memory leak", "race condition", "null pointer", "stack trace", "connection pool"]

# (how people say it, file: regex)
FILES = [
    ("Dockerfiles", "Dockerfile"), ("YAML files", "\\.ya?ml$"), ("package.json files", "package\\.json$"),
    ("GitHub Actions workflows", "^\\.github/workflows/"), ("files under docs/", "^docs/"),
    ("Makefiles", "Makefile"), ("database migrations", "migrations/"), ("go.mod files", "go\\.mod$"),
    ("the src folder", "^src/"), ("Helm charts", "charts/"), ("config files", "config"),
    ("README files", "README"), ("Terraform files", "\\.tf$"), ("protobuf definitions", "\\.proto$"),
    ("shell scripts", "\\.sh$"), ("Jenkinsfiles", "Jenkinsfile"), ("docker-compose files", "docker-compose"),
    ("requirements.txt files", "requirements\\.txt$"), ("the scripts directory", "^scripts/"),
    ("Kubernetes manifests", "k8s/"), ("SQL files", "\\.sql$"), ("test files", "test"),
    ("changelogs", "CHANGELOG"), (".env files", "\\.env"), ("Cargo.toml files", "Cargo\\.toml$"),
    ("pom.xml files", "pom\\.xml$"), ("Gradle build files", "build\\.gradle"),
    ("tsconfig files", "tsconfig.*\\.json$"), ("OpenAPI specs", "openapi"), ("CODEOWNERS files", "CODEOWNERS"),
]

# (how people say what to leave out, -file: regex)
EXCLUSIONS = [
    ("tests", "test"), ("test files", "test"), ("vendored code", "vendor/"), ("node_modules", "node_modules/"),
    ("generated code", "generated"), ("mocks", "mock"), ("the docs", "^docs/"), ("examples", "example"),
    ("third-party code", "third_party/"), ("fixtures", "fixtures/"),
]

# public repositories: (full name, how people name it)
PUBLIC_REPOS = [
    ("github.com/sourcegraph/sourcegraph", ["sourcegraph", "sourcegraph/sourcegraph"]),
    ("github.com/sourcegraph/cody", ["cody", "sourcegraph/cody"]),
    ("github.com/sourcegraph/zoekt", ["zoekt"]),
    ("github.com/kubernetes/kubernetes", ["kubernetes", "kubernetes/kubernetes"]),
    ("github.com/golang/go", ["golang/go"]), ("github.com/facebook/react", ["react", "facebook/react"]),
    ("github.com/microsoft/vscode", ["vscode", "microsoft/vscode"]), ("github.com/torvalds/linux", ["linux", "torvalds/linux"]),
    ("github.com/rust-lang/rust", ["rust-lang/rust"]), ("github.com/python/cpython", ["cpython", "python/cpython"]),
    ("github.com/django/django", ["django", "django/django"]), ("github.com/pallets/flask", ["flask", "pallets/flask"]),
    ("github.com/pytorch/pytorch", ["pytorch", "pytorch/pytorch"]),
    ("github.com/huggingface/transformers", ["transformers", "huggingface/transformers"]),
    ("github.com/hashicorp/terraform", ["terraform", "hashicorp/terraform"]),
    ("github.com/grafana/grafana", ["grafana", "grafana/grafana"]),
    ("github.com/prometheus/prometheus", ["prometheus/prometheus"]),
    ("github.com/apache/kafka", ["kafka", "apache/kafka"]), ("github.com/nodejs/node", ["nodejs/node"]),
    ("github.com/vercel/next.js", ["next.js", "vercel/next.js"]), ("github.com/rails/rails", ["rails", "rails/rails"]),
    ("github.com/redis/redis", ["redis/redis"]), ("github.com/etcd-io/etcd", ["etcd", "etcd-io/etcd"]),
    ("github.com/gin-gonic/gin", ["gin", "gin-gonic/gin"]), ("github.com/tokio-rs/tokio", ["tokio", "tokio-rs/tokio"]),
    ("github.com/denoland/deno", ["deno", "denoland/deno"]), ("github.com/vllm-project/vllm", ["vllm", "vllm-project/vllm"]),
    ("github.com/ray-project/ray", ["ray-project/ray"]), ("github.com/numpy/numpy", ["numpy", "numpy/numpy"]),
    ("github.com/pandas-dev/pandas", ["pandas", "pandas-dev/pandas"]), ("github.com/helm/helm", ["helm", "helm/helm"]),
    ("github.com/istio/istio", ["istio", "istio/istio"]), ("github.com/envoyproxy/envoy", ["envoy", "envoyproxy/envoy"]),
    ("github.com/neovim/neovim", ["neovim", "neovim/neovim"]), ("github.com/curl/curl", ["curl/curl"]),
    ("github.com/cockroachdb/cockroach", ["cockroach", "cockroachdb/cockroach"]),
]

# a company's own repositories (named the way teams name them)
COMPANY_REPOS = [
    (f"github.com/{org}/{name}", [name, f"{org}/{name}"])
    for org, names in {
        "acme": ["payments-service", "web-app", "infra", "auth-service", "mobile-ios", "data-pipeline",
                 "design-system", "billing-api", "search-indexer", "notifications"],
        "globex": ["platform", "checkout", "inventory-service", "admin-portal", "ml-models"],
        "initech": ["tps-reports", "core-lib", "deploy-tools", "android-app"],
    }.items() for name in names
]
REPOS = PUBLIC_REPOS + COMPANY_REPOS

# (how people name a person, author: value)
AUTHORS = [(name, name.lower()) for name in [
    "erik", "alice", "bob", "jdoe", "sarah", "priya", "wei", "carlos", "fatima", "tom", "nina", "kenji",
    "olga", "marcus", "aisha", "liam", "sofia", "raj", "chen", "beyang", "quinn", "thorsten", "camden",
]] + [("Priya Patel", '"Priya Patel"'), ("Tom Chen", '"Tom Chen"'), ("Sarah Kim", '"Sarah Kim"'),
      ("alice@acme.com", "alice@acme.com"), ("dependabot", "dependabot"), ("renovate bot", "renovate")]

# commit-message subjects: (how people say it, message: value)
MESSAGE_TERMS = [(t, t) for t in ["revert", "hotfix", "CVE", "flaky", "migration", "bump", "refactor",
                                   "typo", "security", "deprecate", "rollback", "WIP", "breaking"]] + [
    (t, f'"{t}"') for t in ["memory leak", "race condition", "null pointer", "fix login", "upgrade go",
                             "remove feature flag", "rate limiting"]]

SYMBOLS = ["NewServer", "HandleRequest", "UserService", "parseConfig", "useAuth", "ConnectionPool",
           "RateLimiter", "get_user_by_id", "TokenBucket", "renderTemplate", "validate_email", "HttpClient",
           "ApplyMigration", "WithTimeout", "EventEmitter", "DatabaseConfig", "retryWithBackoff",
           "CacheManager", "serialize_response", "OrderRepository", "PaymentProcessor", "newLogger",
           "AuthMiddleware", "SearchIndexer", "parse_args", "BlobStore", "InvoiceService", "calculateTax",
           "FeatureFlags", "JobScheduler"]

# (how people say it, select:symbol.<kind>)
SYMBOL_KINDS = [("functions", "function"), ("classes", "class"), ("interfaces", "interface"),
                ("structs", "struct"), ("methods", "method"), ("enums", "enum"), ("constants", "constant")]

# (how people describe it, /regex/ body)
REGEXES = [
    ("TODO comments with an owner, like TODO(alice)", "TODO\\(\\w+\\)"),
    ("semantic version strings like 1.2.3", "\\d+\\.\\d+\\.\\d+"),
    ("AWS access key IDs", "AKIA[0-9A-Z]{16}"), ("hex color codes", "#[0-9a-fA-F]{6}"),
    ("IPv4 addresses", "\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}"), ("localhost URLs with a port", "localhost:\\d+"),
    ("console.log or console.debug calls", "console\\.(log|debug)\\("),
    ("email addresses", "[\\w.]+@[\\w-]+\\.\\w+"), ("UUIDs", "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}"),
    ("Go test functions", "func\\sTest\\w+"), ("plain http:// URLs", "http:\\/\\/[\\w.-]+"),
    ("JIRA ticket ids like ABC-123", "[A-Z]{2,5}-\\d+"),
]

# (how people say it, options that do it)
FLAGS = [("including forks", "fork:yes"), ("only in forks", "fork:only"), ("including archived repos", "archived:yes"),
         ("only archived repositories", "archived:only"), ("in public repos only", "visibility:public"),
         ("in private repos only", "visibility:private"), ("show all results", "count:all"),
         ("case-sensitive", "case:yes")]

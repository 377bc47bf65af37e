"""Serving configs: ``configs/serve.yaml`` is a Ray Serve config file.

The same file runs three ways, so there is one place to change a replica count:

* ``querytune serve configs/serve.yaml`` (starts or joins Ray, deploys, blocks),
* ``serve run configs/serve.yaml`` and ``serve deploy configs/serve.yaml`` (Ray's own CLI).

Ray reads ``http_options`` and ``applications[0].import_path``, then calls
``querytune.serve.app:build_from_args`` with ``applications[0].args``; those args are a
``ServeConfig``. ``ServeFile`` mirrors the part of Ray's schema we use, so our CLI
validates the file the same way before anything starts.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import ConfigDict, Field, model_validator
from ray.serve.config import AutoscalingConfig

from querytune.platform.config import ConfigError, Strict, apply_overrides, read_yaml, validate

DEFAULT_HOST = "127.0.0.1"  # loopback only; a public bind is a deliberate edit
DEFAULT_PORT = 8000
DEFAULT_API_KEY_ENV = "QUERYTUNE_API_KEY"
DEFAULT_LLM_MAX_ONGOING_REQUESTS = 32  # Serve's own default (5) starves a batching LLM replica
DEFAULT_INGRESS_MAX_ONGOING_REQUESTS = 256  # the ingress only waits on LLM replicas
DEFAULT_KEEP_ALIVE_S = 5  # an idle keep-alive connection is closed after this long (Ray's default is 90)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
IMPORT_PATH = "querytune.serve.app:build_from_args"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
ROUTES = ("sourcegraph", "qmd")
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # vLLM 0.26 MaxLoRARanks


# --------------------------------------------------------------------------- replicas
#: our defaults where they differ from Ray Serve's (1 replica at most, 2 ongoing requests, 30 s to scale up,
#: 600 s to scale down, a 30 s window): a replica set that follows a load test within seconds
AUTOSCALING_DEFAULTS = {"max_replicas": 2, "target_ongoing_requests": 4, "upscale_delay_s": 10,
                        "downscale_delay_s": 60, "look_back_period_s": 10, "metrics_interval_s": 2}


class Autoscaling(AutoscalingConfig):
    """Ray Serve's own ``autoscaling_config`` model (every field, check and description of it),
    refusing unknown keys, with :data:`AUTOSCALING_DEFAULTS` for the keys a file leaves out."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    @model_validator(mode="before")
    @classmethod
    def _our_defaults(cls, data):
        return {**AUTOSCALING_DEFAULTS, **data} if isinstance(data, dict) else data

    def ray(self) -> dict:
        """The keys set here or by our defaults; Ray fills in the rest."""
        return self.model_dump(exclude_unset=True)


class Replica(Strict):
    """How Ray Serve places and scales one deployment's replicas."""

    max_ongoing_requests: int = Field(DEFAULT_LLM_MAX_ONGOING_REQUESTS, ge=1,
                                      description="requests one replica holds at once; more wait in the caller")
    autoscaling: Autoscaling = Field(default_factory=Autoscaling, description="replica count policy")
    num_cpus: float = Field(1, ge=0, description="logical CPUs reserved per replica")
    num_gpus: float = Field(0, ge=0, description="GPUs per replica (1 for a vLLM replica; fractions share one)")
    access_log: bool = Field(False, description="Ray Serve's log line per request on every replica; off, it "
                             "leaves each request's path (/metrics counts requests by route and status)")

    def ray(self) -> dict:
        """Keyword arguments of ``serve.deployment``."""
        return {"max_ongoing_requests": self.max_ongoing_requests, "autoscaling_config": self.autoscaling.ray(),
                "ray_actor_options": {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus},
                "logging_config": {"enable_access_log": self.access_log}}


# --------------------------------------------------------------------------- engines
class Batching(Strict):
    """How the transformers engine batches concurrent requests (vLLM batches continuously by itself)."""

    max_batch_size: int = Field(8, ge=1, description="requests generated together (grouped by adapter)")
    batch_wait_timeout_s: float = Field(0.01, ge=0, description="how long a batch waits to fill")


class TransformersSettings(Strict):
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="weights dtype; auto = bfloat16 on GPU, float32 on CPU")
    device: str | None = Field(None, description="cpu, cuda, cuda:1...; None = GPU if present")
    threads: int | None = Field(None, ge=1, description="torch intra-op threads; None = torch's choice")


class Ngram(Strict):
    """vLLM n-gram speculative decoding: cheap drafts copied from the prompt (queries echo it)."""

    num_speculative_tokens: int = Field(4, ge=1, description="tokens drafted per step")
    prompt_lookup_max: int = Field(4, ge=1, description="longest n-gram matched in the prompt")
    prompt_lookup_min: int = Field(2, ge=1, description="shortest n-gram matched in the prompt")


class VLLMSettings(Strict):
    max_lora_rank: int = Field(16, description=f"largest adapter rank; one of {VLLM_LORA_RANKS}")
    max_loras: int | None = Field(None, ge=1, description="adapters in one batch; None = all of the deployment's")
    gpu_memory_utilization: float = Field(0.85, gt=0, le=1, description="share of GPU memory vLLM may take")
    max_model_len: int = Field(2048, ge=64, description="prompt + answer tokens")
    max_num_seqs: int | None = Field(None, ge=1, description="sequences per step; None = vLLM's default")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field("auto", description="weights dtype")
    enforce_eager: bool = Field(False, description="skip torch.compile and CUDA graphs (fast start, slower decode)")
    cache_root: str | None = Field(None, description="VLLM_CACHE_ROOT: torch.compile, Inductor and Triton caches "
                                   "(keyed by model and config); a shared folder lets later replicas skip "
                                   "compilation. CUDA graphs are captured at every start")
    cudagraph_capture_sizes: list[int] | None = Field(
        None, description="batch sizes captured as CUDA graphs; fewer = faster start")
    structured_outputs_backend: Literal["guidance", "xgrammar"] = Field(
        "guidance", description="grammar engine: 'guidance' (llguidance, the tasks' Lark grammars; about 0.5 ms "
        "a mask on CPU) or 'xgrammar' (their GBNF; hundreds of ms a mask for sourcegraph, BENCHMARKS.md)")
    ngram: Ngram | None = Field(None, description="n-gram speculative decoding; None = off")
    seed: int = Field(0, description="sampling seed of the engine")
    warm_up_batches: list[int] = Field(
        [16, 64], description="concurrent warm-up requests across the replica's adapters as it starts, one "
        "burst per size: the LoRA kernels compile per batch shape (vLLM logged _lora_shrink_kernel JIT under load)")

    @model_validator(mode="after")
    def _rank_allowed(self) -> "VLLMSettings":
        if self.max_lora_rank not in VLLM_LORA_RANKS:
            allowed = ", ".join(map(str, VLLM_LORA_RANKS))
            raise ValueError(f"max_lora_rank={self.max_lora_rank}: vLLM accepts {allowed}")
        return self


# --------------------------------------------------------------------------- models
class AdapterSpec(Strict):
    adapter: str = Field(..., description="registry name (querytune adapters list) or adapter folder")
    name: str | None = Field(None, pattern=NAME_PATTERN, description="model name clients use (/v1/models, routes); "
                             "default = the adapter's registry name")
    task: str | None = Field(None, description="task that writes prompts and parses answers; default = the "
                             "adapter's own task")
    constrained: bool = Field(True, description="decode under the task's grammar (vLLM; transformers when "
                              "llguidance is installed); answers say whether they were")


class LLMDeployment(Strict):
    """One base model and its task adapters: one Ray Serve deployment, scaled as a unit."""

    name: str = Field(..., pattern=NAME_PATTERN, description="deployment name (Ray dashboard, serve status)")
    engine: Literal["transformers", "vllm"] = Field("transformers", description="transformers (CPU) or vllm (GPU)")
    base: str | None = Field(None, description="base model; default = the one the adapters were trained on "
                             "(another copy must have the same hash)")
    adapters: list[AdapterSpec] = Field(..., min_length=1, description="task adapters served on this base")
    replica: Replica = Field(default_factory=Replica, description="placement and autoscaling")
    batching: Batching = Field(default_factory=Batching, description="transformers engine only")
    transformers: TransformersSettings = Field(default_factory=TransformersSettings)
    vllm: VLLMSettings = Field(default_factory=VLLMSettings)


# --------------------------------------------------------------------------- routes
class Route(Strict):
    model: str = Field(..., description="served model name (an adapter's name) answering this route")
    max_tokens: int = Field(128, ge=1, description="generation budget of one answer")
    retries: int = Field(2, ge=0, description="resamples of an answer that ends on its own and does not parse "
                         "(under the grammar too: it leaves whole-query rules to the validator); an answer "
                         "cut at max_tokens is not resampled")
    retry_temperature: float = Field(0.7, gt=0, description="sampling temperature of a resample")
    best_of: int = Field(1, ge=1, description="answers sampled per request; the task's own gold-free choice "
                         "(task.choose) is returned. A request may ask for another count ('best_of', up to "
                         "limits.max_n)")
    best_of_temperature: float = Field(0.8, gt=0, description="sampling temperature when best_of > 1")


class Limits(Strict):
    """Bounds on what one request may ask; beyond them the answer is a 4xx naming the field."""

    max_body_bytes: int = Field(16_384, ge=256, description="request body size")
    max_query_chars: int = Field(1_000, ge=1, description="length of 'query'")
    max_candidate_repos: int = Field(20, ge=0, description="entries of 'candidate_repos'")
    max_repo_chars: int = Field(200, ge=1, description="length of one candidate repository name")
    max_tokens: int = Field(512, ge=1, description="largest max_tokens a chat completion may ask for")
    max_messages: int = Field(32, ge=1, description="messages in one chat completion")
    max_n: int = Field(8, ge=1, description="choices one request may ask for ('n'; 'best_of' of a task route)")
    max_stop: int = Field(4, ge=1, description="stop sequences of one request (OpenAI allows 4)")
    max_stop_chars: int = Field(64, ge=1, description="length of one stop sequence")
    max_message_chars: int = Field(8_000, ge=1, description="length of one chat message")
    max_prompt_tokens: int = Field(1_024, ge=16, description="tokens of the whole prompt (chat template, system "
                                   "prompt and user text), counted with the model's tokenizer before generating")
    timeout_s: float = Field(60, gt=0, description="generation time before the request fails with 504")
    max_headers: int = Field(64, ge=8, description="header lines of one request; more get 431")
    max_header_bytes: int = Field(16_384, ge=1_024, description="request line plus headers, in bytes; more get "
                                  "400 before they are parsed (--local; Ray's proxy has no such limit)")
    header_timeout_s: float = Field(10, gt=0, description="time a connection has to send a request's headers, "
                                    "however slowly it trickles them (--local)")
    max_connections: int = Field(128, ge=1, description="open connections plus requests in flight; beyond it "
                                 "new requests get 503 (--local; keep it below the process's file limit)")
    max_runtime_adapters: int = Field(4, ge=0, description="adapters POST /v1/load_lora_adapter may add while "
                                      "the server runs; each LLM replica also keeps at most this many of them "
                                      "loaded, dropping the least recently used (0 = runtime loading off)")


class ServeConfig(Strict):
    """The application's arguments: what is served, by which deployments, within which limits."""

    storage_path: str = Field("runs", description="registry root holding the adapters (folder or s3://...)")
    api_key_env: str | None = Field(DEFAULT_API_KEY_ENV, description="environment variable holding the API key, "
                                    "read where the app is built and handed to its replicas; every route but "
                                    "/healthz, /livez and the static page then needs 'Authorization: Bearer "
                                    "<key>', and the server refuses to start while the variable is unset. "
                                    "null = no key (loopback only)")
    routes: dict[Literal["sourcegraph", "qmd"], Route] = Field(
        default_factory=dict, description="task routes: sourcegraph -> POST /sourcegraph/query and /query, "
                                          "qmd -> POST /qmd/expand")
    limits: Limits = Field(default_factory=Limits)
    ingress: Replica = Field(
        default_factory=lambda: Replica(max_ongoing_requests=DEFAULT_INGRESS_MAX_ONGOING_REQUESTS, num_cpus=0.25),
        description="the FastAPI ingress deployment")
    deployments: list[LLMDeployment] = Field(..., min_length=1, description="one per base model")

    @model_validator(mode="after")
    def _names_resolve(self) -> "ServeConfig":
        deployment_names = [d.name for d in self.deployments]
        if len(set(deployment_names)) != len(deployment_names):
            raise ValueError(f"deployment names must be unique, got {deployment_names}")
        served = [s.name for d in self.deployments for s in d.adapters if s.name]
        if len(set(served)) != len(served):
            raise ValueError(f"adapter 'name's must be unique across deployments, got {served}")
        for name, route in self.routes.items():
            if route.best_of > self.limits.max_n:
                raise ValueError(f"routes.{name}.best_of={route.best_of} > limits.max_n={self.limits.max_n}: "
                                 f"lower best_of or raise limits.max_n")
        return self


# --------------------------------------------------------------------------- the file
class HttpOptions(Strict):
    """Ray Serve's ``http_options`` (our ``--local`` server reads host and port; its limits are in ``limits``)."""

    host: str = Field(DEFAULT_HOST, description="bind address of Serve's HTTP proxy (127.0.0.1 = this machine)")
    port: int = Field(DEFAULT_PORT, ge=1, le=65535, description="port of Serve's HTTP proxy")
    request_timeout_s: float = Field(90, gt=0, description="Serve's proxy answers 408 to a request still open "
                                     "after this long (keep it above limits.timeout_s)")
    keep_alive_timeout_s: int = Field(DEFAULT_KEEP_ALIVE_S, ge=1, description="idle keep-alive connections are "
                                      "closed after this long")


class ServeApplication(Strict):
    name: str = Field("querytune", pattern=NAME_PATTERN, description="Serve application name")
    route_prefix: str = Field("/", pattern=r"^/", description="URL prefix of every route")
    import_path: Literal["querytune.serve.app:build_from_args"] = Field(
        IMPORT_PATH, description="application builder Ray calls with 'args'")
    args: ServeConfig = Field(..., description="what is served (ServeConfig)")


class ServeFile(Strict):
    """A Ray Serve config file holding exactly one querytune application."""

    http_options: HttpOptions = Field(default_factory=HttpOptions)
    applications: list[ServeApplication] = Field(..., min_length=1, max_length=1)

    @model_validator(mode="after")
    def _keyed_off_loopback(self) -> "ServeFile":
        require_key_off_loopback(self.http_options.host, self.app.args)
        return self

    @property
    def app(self) -> ServeApplication:
        return self.applications[0]


def require_key_off_loopback(host: str, args: ServeConfig) -> None:
    """A server other machines can reach must demand a key: an open one hands out every adapter."""
    if host not in LOOPBACK_HOSTS and args.api_key_env is None:
        raise ConfigError(f"http_options.host={host!r} reaches other machines but api_key_env is null: set "
                         f"api_key_env: {DEFAULT_API_KEY_ENV} (and that variable), or bind 127.0.0.1")


def load_serve_file(path: str | Path, overrides: list[str] | None = None) -> ServeFile:
    """Read a serve YAML; ``key=value`` overrides address the application's args (``routes.qmd.model=x``)."""
    data = read_yaml(path)
    apps = data.get("applications")
    if not isinstance(apps, list) or len(apps) != 1 or not isinstance(apps[0], dict):
        raise ConfigError(f"{path}: expected 'applications:' with exactly one application (see configs/serve.yaml)")
    apps[0]["args"] = apply_overrides(apps[0].get("args") or {}, overrides or [])
    return validate(ServeFile, data, str(path))

"""Typed configs: one pydantic model per YAML file under ``configs/``, and one per training recipe.

Every field has a default that works on one CPU machine and a description; unknown keys are
errors. A train config is the model its ``recipe:`` names (``sft`` where absent), with only the
sections that recipe reads: ``--set lora.r=8`` on a GRPO file is refused, naming ``grpo.lora``.
``load_config`` names the file and the dotted key path of whatever is wrong, and ``--set a.b=c``
overrides go through the same validation as the file. Sections are ``*Section`` classes, so none
shares a name with the library class it feeds (``trl.SFTConfig``, ``peft.LoraConfig`` ...).
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar, Union

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    model_validator,
)

DEFAULT_TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
RECIPE_TAG = "recipe:"  # marks the step of an error's location that picked the train config's model


def trains_differently(key: str) -> bool:
    """Whether a dotted config key changes what a run trains: a rerun of a run name may change the
    others (retries, the registry name, where it logs)."""
    return key not in ("run.max_failures", "run.register_as") and not key.startswith("run.tracking.")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ConfigError(ValueError):
    """A config file or override that does not validate; the message says where."""


# --------------------------------------------------------------------------- sections
class ModelSection(Strict):
    name: str = Field("default", description="base model: 'default' (SmolLM2-135M-Instruct, offline), "
                      "'tiny-qwen3' (random weights, tests), a Hugging Face id or a local directory")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="weights dtype; auto = bfloat16 on GPU, float32 on CPU")
    attn_implementation: str | None = Field(
        None, description="e.g. sdpa, flash_attention_2; None = transformers' choice")


class LoraSection(Strict):
    r: int = Field(16, ge=1, le=512, description="LoRA rank")
    alpha: float = Field(32, gt=0, description="LoRA alpha; usually 2 x r")
    dropout: float = Field(0.0, ge=0, lt=1, description="LoRA dropout")
    target_modules: list[str] = Field(default_factory=lambda: list(DEFAULT_TARGET_MODULES),
                                      description="module names that get adapters")


class DataSection(Strict):
    source: str | None = Field(None, description="JSONL/Parquet file or folder of train/val files; "
                               "None = the task's own builder")
    num_examples: int = Field(2000, ge=1, description="examples asked of the task's builder")
    max_train: int | None = Field(None, ge=1, description="cap on training rows after the split")
    val_fraction: float = Field(0.1, gt=0, lt=1, description="val share when the data has no split column")
    val_samples: int = Field(16, ge=0, description="val rows generated on at each report for the task metric; "
                             "0 = off")
    seed: int = Field(42, description="shuffle/split seed")
    options: dict[str, Any] = Field(default_factory=dict, description="task-specific builder options (the "
                                    "task's generate() names them), e.g. sourcegraph's intent_weights")

    @model_validator(mode="after")
    def _options_need_the_builder(self) -> "DataSection":
        if self.source and self.options:
            raise ValueError(f"options ({', '.join(sorted(self.options))}) change the task's builder, "
                             "which data.source replaces: drop one of them")
        return self


class SftSection(Strict):
    epochs: float = Field(3, gt=0, description="passes over the training set")
    lr: float = Field(2e-4, gt=0, lt=1, description="peak learning rate")
    batch_size: int = Field(8, ge=1, description="micro-batch per worker: examples, or packed sequences of "
                            "max_length tokens with packing")
    grad_accum: int = Field(1, ge=1, description="gradient accumulation steps")
    warmup_ratio: float = Field(0.03, ge=0, lt=1, description="share of the optimizer steps over which the "
                                "learning rate rises from 0 to lr")
    scheduler: Literal["cosine", "linear", "constant", "constant_with_warmup"] = Field(
        "cosine", description="learning-rate schedule after the warm-up")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay")
    max_length: int = Field(512, ge=16, description="tokens per example; longer ones are truncated")
    packing: bool = Field(False, description="pack examples best-fit into sequences of max_length tokens, no "
                          "padding; each keeps its own attention block and loss mask")
    gradient_checkpointing: bool = Field(False, description="trade compute for memory")
    logging_steps: int = Field(5, ge=1, description="optimizer steps between loss logs (the learning curves)")
    max_steps: int = Field(-1, description="stop after this many optimizer steps; -1 = epochs decide")
    max_new_tokens: int = Field(64, ge=1, description="generation budget for the per-epoch val metric")


class GrpoSection(Strict):
    parent: str = Field("", description="SFT adapter (registry name or path) to start from; required")
    steps: int = Field(20, ge=1, description="optimizer steps")
    lr: float = Field(5e-6, gt=0, lt=1, description="peak learning rate")
    beta: float = Field(0.04, ge=0, description="KL weight; 0 drifts (see README)")
    num_generations: int = Field(4, ge=2, description="completions per prompt")
    batch_size: int = Field(4, ge=1, description="prompts x generations per device step; divisible by num_generations")
    grad_accum: int = Field(1, ge=1, description="gradient accumulation steps")
    temperature: float = Field(1.0, gt=0, description="sampling temperature of the rollouts (val answers are greedy)")
    scale_rewards: Literal["group", "batch", "none"] = Field(
        "group", description="what a completion's advantage (reward minus its group's mean) is divided by: its "
        "group's reward std ('group', TRL's default), the whole batch's ('batch'), or nothing ('none', Dr. GRPO). "
        "With a strong parent most groups' rewards differ by little, and 'group' scales those small "
        "differences up to full-size advantages")
    num_iterations: int = Field(1, ge=1, description="optimizer steps on each batch of rollouts (TRL's mu): "
                                "more learning per generated completion; the clipped ratio keeps the "
                                "extra steps near the policy that sampled them")
    lr_scheduler: Literal["linear", "constant", "cosine"] = Field(
        "linear", description="learning-rate schedule after warm-up; 'linear' (TRL's default) has decayed to "
        "a quarter of the peak by step 150 of 200, where the val score had not yet moved")
    max_completion_length: int = Field(64, ge=8, description="tokens per rollout completion and per val answer")
    format_reward_weight: float = Field(
        0.0, ge=0, description="weight of the parse-or-not reward beside the task reward")
    eval_every: int = Field(10, ge=1, description="val task score every N steps; best checkpoint kept")
    use_vllm: bool = Field(False, description="rollouts through vLLM in colocate mode (GPU only)")
    vllm_gpu_memory_utilization: float = Field(0.3, gt=0, lt=1, description="GPU memory share of the colocated "
                                               "vLLM engine; training uses the rest")
    vllm_max_model_length: int = Field(2048, ge=64, description="vLLM context: longest prompt + max_completion_length")
    gradient_checkpointing: bool = Field(False, description="trade compute for memory")
    lora: LoraSection = Field(default_factory=lambda: LoraSection(r=8, alpha=16),
                              description="the new adapter GRPO trains on top of the merged parent")

    @model_validator(mode="after")
    def _divisible(self) -> "GrpoSection":
        if (self.batch_size * self.grad_accum) % self.num_generations:
            raise ValueError(f"batch_size*grad_accum={self.batch_size * self.grad_accum} must be divisible by "
                             f"num_generations={self.num_generations} (try batch_size={self.num_generations})")
        return self


class ScalingSection(Strict):
    num_workers: int = Field(1, ge=1, description="Ray Train workers (DDP ranks)")
    use_gpu: bool = Field(False, description="one GPU per worker (or gpus_per_worker)")
    cpus_per_worker: float = Field(1, gt=0, description="CPUs Ray reserves per worker; a fraction shares a core")
    gpus_per_worker: float | None = Field(None, gt=0, le=1, description="fractional GPU share, e.g. 0.25 for sweeps")

    @model_validator(mode="after")
    def _gpu_share_needs_gpu(self) -> "ScalingSection":
        if self.gpus_per_worker is not None and not self.use_gpu:
            raise ValueError("gpus_per_worker is set but use_gpu is false (set scaling.use_gpu=true)")
        return self


TRACKING_INSTALL = "pip install 'querytune[tracking]'"


class TrackingSection(Strict):
    """Where a run's params, metrics and artifacts are logged (``run.tracking`` of a train or sweep
    config, ``--tracking key=value`` of ``querytune eval``); platform/tracking.py does the logging."""

    mlflow: bool = Field(False, description=f"log params, metrics and artifacts to MLflow ({TRACKING_INSTALL})")
    tensorboard: bool = Field(False, description="write TensorBoard event files (training loss per logging step)")
    mlflow_uri: str | None = Field(None, min_length=1, description="MLflow tracking URI (http://host:5000, "
                                   "sqlite:///path.db); None = <storage>/mlruns/mlflow.db")
    experiment: str | None = Field(None, min_length=1, description="MLflow experiment; None = the task name "
                                   "(train, eval) or <task>-sweep-<run.name> (sweep)")

    @model_validator(mode="after")
    def _mlflow_keys_need_mlflow(self) -> "TrackingSection":
        unused = [f"{k}={getattr(self, k)!r}" for k in ("mlflow_uri", "experiment") if getattr(self, k) is not None]
        if unused and not self.mlflow:
            raise ValueError(f"{' and '.join(unused)}: no effect while mlflow=false (set mlflow=true, or remove it)")
        return self


class RunSection(Strict):
    name: str = Field("run", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="run name; reruns resume it")
    storage_path: str = Field("runs", description="local folder or pyarrow URI (s3://, gs://) for runs and adapters")
    seed: int = Field(0, description="torch and trainer seed (data.seed shuffles and splits)")
    max_failures: int = Field(2, ge=0, description="worker crashes survived by restarting from the last checkpoint")
    register_as: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                                    description="registry name for the finished adapter; default = run name")
    tracking: TrackingSection = Field(default_factory=TrackingSection, description="MLflow / TensorBoard logging")


# --------------------------------------------------------------------------- train files: one model per recipe
RECIPE_HELP = "training method, one of the platform/recipes/ registry: sft or grpo"


class TrainFile(Strict):
    """What every recipe's train config holds; each recipe's model adds the sections it reads."""

    #: top-level sections of other recipes -> the refusal (which names the key and where it belongs)
    ELSEWHERE: ClassVar[dict[str, str]] = {}

    recipe: str = Field(description=RECIPE_HELP)
    task: str = Field(..., description="registered task name (querytune tasks)")
    model: ModelSection = Field(default_factory=ModelSection, description="the base model")
    data: DataSection = Field(default_factory=DataSection, description="training and validation rows")
    scaling: ScalingSection = Field(default_factory=ScalingSection, description="Ray Train workers and resources")
    run: RunSection = Field(default_factory=RunSection, description="run name, storage, seed and retries")

    @model_validator(mode="before")
    @classmethod
    def _no_other_recipes_sections(cls, data: Any) -> Any:
        misplaced = sorted(set(data) & set(cls.ELSEWHERE)) if isinstance(data, dict) else []
        if misplaced:  # one at a time, as pydantic stops at a model validator's error
            raise ValueError(cls.ELSEWHERE[misplaced[0]])
        return data


class SftTrainConfig(TrainFile):
    """`querytune train` with ``recipe: sft``: LoRA SFT of the base model (platform/recipes/sft.py)."""

    ELSEWHERE = {"grpo": "grpo: recipe: sft reads no grpo section; set recipe: grpo to train GRPO from an SFT "
                         "adapter, or remove it"}

    recipe: Literal["sft"] = Field("sft", description=RECIPE_HELP)
    lora: LoraSection = Field(default_factory=LoraSection, description="the adapter SFT trains")
    sft: SftSection = Field(default_factory=SftSection, description="the SFT optimisation")


class GrpoTrainConfig(TrainFile):
    """`querytune train` with ``recipe: grpo``: GRPO from an SFT adapter (platform/recipes/grpo.py)."""

    ELSEWHERE = {
        "lora": "lora: recipe: grpo reads no top-level lora; the new LoRA it trains on top of the merged SFT "
                "parent is grpo.lora: move it there (e.g. --set grpo.lora.r=8)",
        "sft": "sft: recipe: grpo reads no sft section; GRPO's settings are under grpo (grpo.lr, grpo.steps, "
               "...): remove it, or set recipe: sft"}

    recipe: Literal["grpo"] = Field("grpo", description=RECIPE_HELP)
    grpo: GrpoSection = Field(default_factory=GrpoSection, description="the GRPO run and its new LoRA")

    @model_validator(mode="after")
    def _runnable(self) -> "GrpoTrainConfig":
        if not self.grpo.parent:
            raise ValueError("recipe=grpo needs grpo.parent (an SFT adapter name or path)")
        if self.data.val_samples < 1:
            raise ValueError("recipe=grpo keeps the step with the best validation score: data.val_samples=0 "
                             "leaves nothing to score (try data.val_samples=16)")
        if self.grpo.use_vllm and not self.scaling.use_gpu:
            raise ValueError("grpo.use_vllm=true needs scaling.use_gpu=true: vLLM rollouts run on GPU only "
                             "(on CPU set grpo.use_vllm=false)")
        return self


RECIPE_CONFIGS: dict[str, type[TrainFile]] = {"sft": SftTrainConfig, "grpo": GrpoTrainConfig}


def _recipe_tag(data: Any) -> str | None:
    """The model a train config validates with: its ``recipe`` (``sft`` where absent, as before recipes
    had a model each); None for what is not a mapping."""
    if isinstance(data, TrainFile):
        return RECIPE_TAG + data.recipe
    return RECIPE_TAG + str(data.get("recipe", "sft")) if isinstance(data, dict) else None


def _known_recipe(data: Any) -> Any:
    if isinstance(data, dict) and data.get("recipe", "sft") not in RECIPE_CONFIGS:
        raise ValueError(f"recipe={data['recipe']!r}: not a training method; use one of {', '.join(RECIPE_CONFIGS)}")
    return data


#: `querytune train CONFIG`: the model of the file's recipe (``load_config(path, TrainConfig)``).
TrainConfig = Annotated[
    Union[tuple(Annotated[model, Tag(RECIPE_TAG + name)] for name, model in RECIPE_CONFIGS.items())],
    Discriminator(_recipe_tag, custom_error_type="not_a_mapping",
                  custom_error_message="a train config is a mapping of sections (recipe, task, model, ...)"),
    BeforeValidator(_known_recipe)]


# --------------------------------------------------------------------------- loading
M = TypeVar("M", bound=BaseModel)


def check_key_path(model: type[BaseModel], dotted: str) -> None:
    """Raise if ``dotted`` (e.g. ``lora.r``) is not a field path of ``model``."""
    current: Any = model
    for part in dotted.split("."):
        fields = getattr(current, "model_fields", None)
        if fields is None or part not in fields:
            known = ", ".join(sorted(fields)) if fields else "(no sub-keys)"
            raise ValueError(f"unknown key {dotted!r}: {part!r} is not one of {known}")
        current = fields[part].annotation


def parse_override(text: str) -> tuple[list[str], Any]:
    """``a.b=3`` -> (["a", "b"], 3); the value is read as YAML so types come out right."""
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected key=value, e.g. lora.r=8")
    key, raw = text.split("=", 1)
    if not key.strip():
        raise ConfigError(f"override {text!r}: empty key")
    return key.strip().split("."), yaml.safe_load(raw) if raw.strip() else ""


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    for text in overrides:
        path, value = parse_override(text)
        node = data
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {text!r}: {part!r} is not a section")
        node[path[-1]] = value
    return data


def format_validation_error(err: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid config"]
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"] if not str(p).startswith(RECIPE_TAG)) or "(top level)"
        msg = {"extra_forbidden": "unknown key (not allowed here)",
               "value_error": str(e.get("ctx", {}).get("error", e["msg"]))}.get(e["type"], e["msg"])
        got = f" (got {e['input']!r})" if e["type"] != "missing" and not isinstance(e.get("input"), dict) else ""
        lines.append(f"  {where}: {msg}{got}")
    return "\n".join(lines)


class NoAliasLoader(yaml.SafeLoader):
    """SafeLoader without anchors and aliases: each alias expands in place, so a few hundred bytes of
    nested aliases become hundreds of megabytes (a "billion laughs" file). Configs write values out."""

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise yaml.constructor.ConstructorError(
                None, None, f"anchors and aliases (&{event.anchor}, *{event.anchor}) are not allowed in configs: "
                "write the value out", event.start_mark)
        return super().compose_node(parent, index)


def read_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.load(path.read_text(), Loader=NoAliasLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}:{where} not valid YAML: {getattr(err, 'problem', err)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of keys, got {type(data).__name__}")
    return data


def validate(model: type[M], data: dict, source: str = "config") -> M:
    """``data`` as ``model`` (a model class, or a union such as ``TrainConfig``); errors as ``ConfigError``."""
    try:
        return TypeAdapter(model).validate_python(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, source)) from None


def load_config(path: str | Path, model: type[M], overrides: list[str] | None = None) -> M:
    """Read YAML, apply ``key=value`` overrides, validate; errors name file and key."""
    data = apply_overrides(read_yaml(path), overrides or [])
    return validate(model, data, str(path))


class NoAliasDumper(yaml.SafeDumper):
    """Writes a value used twice out twice: ``read_yaml`` refuses aliases."""

    def ignore_aliases(self, data) -> bool:
        return True


def save_config(cfg: BaseModel, path: str | Path) -> None:
    """Write the resolved config next to an artifact (every default spelled out)."""
    Path(path).write_text(yaml.dump(cfg.model_dump(mode="json"), Dumper=NoAliasDumper, sort_keys=False))


def set_path(cfg: M, dotted: str, value: Any) -> M:
    """A validated copy of ``cfg`` with ``dotted`` set (used by sweeps)."""
    data = cfg.model_dump(mode="json")
    node = data
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node[part]
    node[parts[-1]] = value
    return validate(type(cfg), data, f"override {dotted}={value!r}")

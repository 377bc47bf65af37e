"""The GPU GRPO config and the reward's spread over a group of plausible samples."""
import statistics

from querytune.experiments.qmd.reward import reward
from querytune.platform.config import GrpoTrainConfig, TrainConfig, load_config

PROMPT = [{"role": "user", "content": "/no_think Expand this search query: Rust lifetimes explained"}]
HYDE = "hyde: Lifetimes tell the Rust borrow checker how long references stay valid, written as 'a in signatures."
#: Eight samples an SFT model at temperature 1.0 plausibly draws for one query.
GROUP = [
    f"{HYDE}\nlex: Rust lifetimes borrow checker\nlex: \"lifetime annotations\" Rust references\n"
    "vec: how do lifetimes work in Rust and why does the borrow checker need them",
    f"{HYDE}\nlex: Rust lifetimes borrow checker\nvec: how do lifetimes work in Rust",
    f"{HYDE}\nlex: Rust lifetimes explained\nvec: how do lifetimes work in Rust",              # lex echo
    "lex: Rust lifetimes borrow checker\nvec: how do lifetimes work in Rust",                   # no hyde
    f"{HYDE}\nlex: Rust overview lifetimes\nvec: what are Rust lifetimes",                       # filler
    "hyde: " + "Rust lifetimes are about references and lifetimes of references in Rust. " * 4 +
    "\nlex: Rust lifetimes\nvec: Rust lifetimes",                                                # long, repeats
    f"{HYDE}\nlex: borrow checker references\nvec: how do references stay valid",                # no entity
    "Sure! Here is an expansion:\nlex: Rust lifetimes",                                          # fails
]


def test_a_plausible_group_of_eight_has_reward_variance():
    rewards = reward([PROMPT] * 8, [[{"role": "assistant", "content": c}] for c in GROUP])
    assert len(set(rewards)) >= 6
    assert statistics.pstdev(rewards) > 0.15
    assert rewards[0] == max(rewards) and rewards[-1] == 0.0
    assert 0 < rewards[2] < rewards[1]  # an echo costs points but is not flattened to the 50% cap


def test_gpu_grpo_config_starts_from_qmd_sft_with_colocated_vllm():
    cfg = load_config("configs/qmd/grpo-gpu.yaml", GrpoTrainConfig)
    g = cfg.grpo
    assert cfg.recipe == "grpo" and cfg.model.name == "default" and g.parent == "qmd-sft"
    assert g.use_vllm and cfg.scaling.use_gpu and g.num_generations >= 8 and g.beta > 0
    assert g.temperature >= 0.9 and g.steps >= 200 and g.steps % g.eval_every == 0
    assert (g.batch_size * g.grad_accum) // g.num_generations >= 4  # prompts per optimizer step
    assert cfg.data.options == {"clean": True, "max_hyde_chars": 200} and cfg.data.val_samples >= 32


def test_shipped_qmd_configs_train_on_the_cleaned_data():
    for name in ("sft", "sft-gpu", "grpo", "grpo-gpu"):
        assert load_config(f"configs/qmd/{name}.yaml", TrainConfig).data.options["clean"] is True, name

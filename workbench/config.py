"""The run configuration: one typed, validated model, stored as TOML.

Every invalid value fails here, before a run directory exists or a process starts, with a message that
names the field and says how to fix it. Defaults reproduce the public tutorial (LoRA r=64 on all seven
projections, lr 5e-6, weight decay 5e-4, warmup 0.1, cosine, 8 generations, grad clip 0.1,
max_seq_length 2048) except where the tutorial was wrong or wasteful, which the docstrings say.
The attribute docstrings are the config reference: `grpo-workbench config --reference` prints them.
"""

from __future__ import annotations

import keyword
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import annotated_types
import tomli_w
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo

from workbench import paths, presets
from workbench.rewards import DEFAULT_WEIGHTS, REWARD_NAMES
from workbench.verifier import DEFAULT_TIMEOUT_S

VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
"""The LoRA ranks vLLM 0.24 accepts as `max_lora_rank`."""

ALL_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
DATA_SUFFIXES = (".json", ".jsonl", ".parquet")
HUB_DATASET = "5CD-AI/Vietnamese-meta-math-MetaMathQA-40K-gg-translated"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class _Section(BaseModel):
    model_config = ConfigDict(
        extra="forbid", use_attribute_docstrings=True, validate_assignment=True, allow_inf_nan=False
    )


class ModelSection(_Section):
    """Which model to fine-tune and how to load it."""

    name: str = "tiny"
    """A preset (tiny, llama-3.2-1b, llama-3.2-3b, random-1b, random-3b), a hub id or a local directory."""
    max_seq_length: int = Field(2048, ge=128, le=131072)
    """Longest prompt + completion in tokens (the tutorial's 2048)."""
    load_in_4bit: bool = False
    """Unsloth only: load the base in 4-bit (bitsandbytes, so a GPU). Off: a 1B/3B model fits in 16-bit
    and learns better there."""
    fast_inference: bool = True
    """Unsloth only: generate with a colocated vLLM that shares the weights."""
    gpu_memory_utilization: float = Field(0.0, ge=0.0, le=0.95)
    """Share of GPU memory given to vLLM for generation (Unsloth fast_inference, TRL colocate);
    0 = choose it from the model and the batch (at least 0.2)."""
    gradient_checkpointing: Literal["auto", "on", "off"] = "auto"
    """Recompute activations in the backward pass (Unsloth's offloaded variant with Unsloth): less
    memory, about one extra forward pass of time. auto: off when the run still fits the GPU with a
    micro-batch of at least 16 completions without it (and on a CPU), else on."""

    @field_validator("name")
    @classmethod
    def _known_model(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError(
                "is empty; fix: use a preset such as 'tiny' or 'llama-3.2-1b', a hub id or a directory"
            )
        if value in presets.PRESETS:
            return value
        path = Path(value).expanduser()
        looks_local = value.startswith(("/", ".", "~")) or path.exists()
        if looks_local:
            if not path.is_dir():
                raise ValueError(
                    f"directory {value!r} does not exist; fix: build one with "
                    "`grpo-workbench build-model` or use a preset"
                )
            if not (path / "config.json").is_file():
                raise ValueError(
                    f"{value!r} has no config.json, so it is not a model directory; "
                    "fix: point at the directory that from_pretrained would load"
                )
            return str(path.resolve())
        if not _HUB_ID.match(value):
            known = ", ".join(presets.PRESETS)
            raise ValueError(f"{value!r} is neither a preset ({known}), a hub id (org/name) nor a directory")
        return value


class LoraSection(_Section):
    """The LoRA adapter that GRPO trains."""

    rank: int = Field(64, ge=1, le=512)
    """LoRA rank r (the tutorial's 64)."""
    alpha: int = Field(64, ge=1)
    """LoRA alpha; the scale is alpha / rank."""
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    """LoRA dropout."""
    target_modules: list[str] = Field(default_factory=lambda: list(ALL_PROJECTIONS))
    """Projections that get adapters (default: all seven of the Llama block)."""
    max_lora_rank: int = 64
    """The largest rank vLLM reserves room for; must be >= rank and one of vLLM's allowed ranks."""
    init_from: str = ""
    """An adapter directory (a run's `adapter/` or `checkpoint-N/`) whose LoRA weights this run starts from
    instead of LoRA's zero start; its rank, alpha, projections and base model must be this run's.
    `grpo-workbench train --from RUN[:checkpoint-N]` fills it in. Empty: a fresh adapter."""

    @field_validator("init_from")
    @classmethod
    def _init_from_dir(cls, value: str) -> str:
        if value and not Path(value).expanduser().is_dir():
            raise ValueError(
                f"{value} is not a directory; fix: name a run's adapter/ or checkpoint-N/ directory, "
                "or leave "
                "it empty for a fresh adapter"
            )
        return value

    @field_validator("target_modules")
    @classmethod
    def _known_modules(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("is empty; fix: list at least one of " + ", ".join(ALL_PROJECTIONS))
        unknown = [m for m in value if m not in ALL_PROJECTIONS]
        if unknown:
            raise ValueError(f"unknown module(s) {unknown}; fix: choose from {', '.join(ALL_PROJECTIONS)}")
        return list(dict.fromkeys(value))

    @field_validator("max_lora_rank")
    @classmethod
    def _vllm_rank(cls, value: int) -> int:
        if value not in VLLM_LORA_RANKS:
            allowed = ", ".join(map(str, VLLM_LORA_RANKS))
            raise ValueError(f"{value} is not a rank vLLM accepts; fix: use one of {allowed}")
        return value

    @model_validator(mode="after")
    def _rank_fits(self) -> LoraSection:
        if self.rank > self.max_lora_rank:
            larger = next((r for r in VLLM_LORA_RANKS if r >= self.rank), None)
            raise ValueError(
                f"@lora.rank: {self.rank} is above lora.max_lora_rank {self.max_lora_rank}; "
                f"fix: lower lora.rank or set lora.max_lora_rank = {larger}"
            )
        return self


Tracker = Literal["none", "tensorboard", "wandb", "trackio"]
"""An experiment tracker TRL can report to (transformers' `report_to` names)."""


class GrpoSection(_Section):
    """GRPO and optimiser settings (TRL GRPOConfig names where they exist)."""

    learning_rate: float = Field(5e-6, gt=0.0, le=1.0)
    """Peak learning rate (tutorial: 5e-6)."""
    weight_decay: float = Field(5e-4, ge=0.0, lt=1.0)
    """AdamW weight decay (tutorial: 5e-4)."""
    warmup_ratio: float = Field(0.1, ge=0.0, lt=1.0)
    """Share of steps spent warming up (passed to transformers 5 as warmup_steps < 1)."""
    lr_scheduler_type: Literal["cosine", "linear", "constant", "constant_with_warmup"] = "cosine"
    """Learning-rate schedule."""
    max_grad_norm: float = Field(0.1, gt=0.0)
    """Gradient clipping (tutorial: 0.1)."""
    optim: Literal["adamw_torch", "adamw_8bit", "paged_adamw_8bit"] = "adamw_torch"
    """Optimiser; the 8-bit ones need bitsandbytes and a GPU."""
    completions_per_step: int = Field(0, ge=0)
    """Completions per optimizer step; the workbench then chooses per_device_train_batch_size and
    gradient_accumulation_steps to fit the GPU (0: use those two as given)."""
    per_device_train_batch_size: int = Field(8, ge=1)
    """Completions per device per micro-batch (ignored when completions_per_step is set)."""
    gradient_accumulation_steps: int = Field(1, ge=1)
    """Micro-batches per optimizer step, also TRL's steps_per_generation (ignored when
    completions_per_step is set)."""
    num_generations: int = Field(8, ge=2)
    """Completions sampled per prompt: the group GRPO normalises over (tutorial: 8)."""
    max_prompt_length: int = Field(256, ge=16)
    """Longest prompt in tokens; longer rows are dropped and counted (TRL 1.15 never truncates)."""
    max_completion_length: int = Field(256, ge=8)
    """Longest completion in tokens."""
    temperature: float = Field(1.0, gt=0.0, le=2.0)
    """Sampling temperature for the rollouts."""
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    """Nucleus sampling for the rollouts."""
    beta: float = Field(0.0, ge=0.0)
    """KL coefficient; 0 means no reference model (TRL's default)."""
    loss_type: Literal["grpo", "dapo", "dr_grpo", "bnpo"] = "dapo"
    """TRL loss aggregation."""
    max_steps: int = Field(250, ge=1)
    """Optimizer steps to train."""
    save_steps: int = Field(25, ge=1)
    """Save a checkpoint every this many steps (and on stop)."""
    save_total_limit: int = Field(3, ge=1)
    """Checkpoints kept on disk (the oldest are deleted)."""
    logging_steps: int = Field(1, ge=1)
    """Log metrics every this many steps (1: every step is plotted)."""
    seed: int = 3407
    """Training seed (the tutorial's)."""
    use_vllm: Literal["auto", "on", "off"] = "auto"
    """Backend trl: generate with vLLM colocated when CUDA and vLLM are present (auto)."""
    samples_per_step: int = Field(4, ge=0, le=64)
    """Completions per step written to samples.jsonl with their reward scores."""
    rollout_groups_per_step: int = Field(2, ge=0, le=64)
    """Whole GRPO groups (every completion of a prompt) per step written to rollouts.jsonl with each
    reward's score, the total, the advantage TRL trained with, the length and whether it was truncated
    (0: none). The file is rotated at 8 MiB, one older file kept."""
    stop_on_nan_loss: bool = True
    """Stop the run when the logged loss or gradient norm is NaN or infinite, without saving those
    weights: the last checkpoint saved before stays the one to resume from, and the status says why."""
    vllm_importance_sampling_correction: bool = False
    """With vLLM: reweight each token by the trainer's over vLLM's probability (TRL's truncated
    importance sampling, on by default in TRL 1.15). Off (the tutorial's algorithm) trusts that the
    colocated vLLM samples from the policy the trainer holds (weights synced every step) and saves vLLM's
    log-probability of every sampled token (and, with grpo.one_pass_importance_sampling off, a forward
    pass over every completion per step); turn it on if long runs drift."""
    one_pass_importance_sampling: bool = True
    """With the importance-sampling correction on (and TRL's defaults of one optimizer step per generation):
    take the trainer's log-probabilities for the ratio from the update's own forward pass instead of a
    second forward pass over every completion before it. The same numbers (the same weights) and TRL's
    `sampling/*` metrics; off runs TRL's extra pass as shipped, as does a run with dropout (lora.dropout >
    0: two passes then differ), which train.log says."""
    trim_vllm_overhead: bool = True
    """Backend trl with vLLM colocated: push the LoRA-merged weights into vLLM in one pass instead of one
    call per tensor, and take token ids from vLLM without detokenizing every token on the host (TRL
    decodes the completions itself). Same weights, same samples; off runs TRL's colocated engine exactly
    as shipped."""
    group_by_length: bool = True
    """Backend trl: split each step's completions into micro-batches of like length and cut each to its own
    longest row, instead of padding every micro-batch to the step's longest completion. The same update
    (loss_type bnpo: only the cuts); faster when completions end early."""
    reward_timeout_s: float = Field(60.0, gt=0.0, le=3600.0)
    """Wall-clock seconds one call of a custom reward function may take on a step's batch (its import and
    each call of the pre-launch check get the same limit). A call that runs past it fails the run, naming
    the function."""
    report_to: list[Tracker] = Field(default_factory=lambda: list[Tracker](["none"]))
    """Experiment trackers TRL reports every logged step to (TRL's report_to): none, tensorboard, wandb,
    trackio, or several, e.g. ["tensorboard", "wandb"]. Their files go under the run's trackers/
    directory (TensorBoard event files in trackers/tensorboard/). tensorboard needs the tensorboard or
    tensorboardX package, wandb the wandb package, trackio the trackio package."""
    report_offline: bool = True
    """wandb: log offline into trackers/wandb/ (`wandb sync` uploads it later); off: upload as it logs
    (needs `wandb login`). trackio always keeps its database in trackers/trackio/."""
    scoring_timeout_s: float = Field(DEFAULT_TIMEOUT_S, gt=0.0, le=600.0)
    """Wall-clock seconds one math-verify comparison may take (reward `correctness`, and eval's accuracy)
    before its worker process is killed; the completion then counts as wrong and is counted
    (`scoring/timeouts` in metrics.jsonl, `scoring_timeouts` in eval results)."""

    @field_validator("report_to", mode="before")
    @classmethod
    def _trackers_list(cls, value: Any) -> Any:
        if isinstance(value, str):  # TRL takes a string too: "tensorboard" or "tensorboard,wandb"
            value = [part for part in value.replace(",", " ").split() if part] or ["none"]
        return value

    @field_validator("report_to")
    @classmethod
    def _trackers_consistent(cls, value: list[Tracker]) -> list[Tracker]:
        value = list(dict.fromkeys(value)) or list[Tracker](["none"])
        if "none" in value and len(value) > 1:
            others = [v for v in value if v != "none"]
            raise ValueError(f"lists none together with {others}; fix: either ['none'] or the trackers alone")
        return value

    @property
    def generation_batch_size(self) -> int:
        """Completions per generation round on one device (TRL's formula with steps_per_generation)."""
        return (
            self.completions_per_step or self.per_device_train_batch_size * self.gradient_accumulation_steps
        )

    @model_validator(mode="after")
    def _batch_shape(self) -> GrpoSection:
        if self.completions_per_step:
            if self.completions_per_step % self.num_generations:
                n = self.num_generations
                fits = n * max(1, round(self.completions_per_step / n))
                raise ValueError(
                    f"@grpo.completions_per_step: {self.completions_per_step} is not a multiple of "
                    f"grpo.num_generations = {n}; fix: use {fits}"
                )
            return self
        gen = self.generation_batch_size
        if gen % self.num_generations:
            fits = self.num_generations * max(1, round(gen / self.num_generations))
            raise ValueError(
                "@grpo.num_generations: the generation batch per_device_train_batch_size x "
                f"gradient_accumulation_steps = "
                f"{self.per_device_train_batch_size} x {self.gradient_accumulation_steps} = {gen} is not "
                f"divisible by grpo.num_generations = {self.num_generations}; fix: make it a multiple, "
                f"e.g. per_device_train_batch_size x gradient_accumulation_steps = {fits}"
            )
        return self


class DistributedSection(_Section):
    """Several GPUs: one training process per GPU (accelerate: DDP or DeepSpeed ZeRO); defaults: one GPU."""

    gpus: list[int] = Field(default_factory=list)
    """NVML indices (as `nvidia-smi` numbers them) of the GPUs that train, one process each, e.g. [0, 1];
    they replace CUDA_VISIBLE_DEVICES. Empty: the single-process run on the first visible GPU."""
    strategy: Literal["ddp", "zero2", "zero3"] = "ddp"
    """How the training processes share the work when there are several: ddp (each holds the whole model;
    the fastest for 1B/3B with LoRA), zero2 (DeepSpeed shards optimizer state and gradients) or zero3 (also
    the weights; for models that do not fit one GPU). zero2/zero3 need the deepspeed package."""
    vllm_mode: Literal["colocate", "server"] = "colocate"
    """Where vLLM generates: colocate (inside every training process, sharing its GPU) or server (one
    `trl vllm-serve` on distributed.server_gpu, which the training processes call and push weights to)."""
    server_gpu: int = Field(-1, ge=-1)
    """Server mode: NVML index of the GPU that runs vLLM alone, not one of distributed.gpus (-1: none)."""
    overlap_generation: bool = False
    """Server mode: the vLLM server generates the next step's completions while this step trains, so
    generation and the update run at the same time on their own GPUs. What changes in the algorithm: each
    step trains on completions sampled by the policy one update behind (one step off-policy, never more;
    `overlap/staleness` in metrics.jsonl), and TRL's truncated importance sampling reweights every token by
    the trainer's over the sampler's probability (grpo.vllm_importance_sampling_correction is turned on
    for it; the gap is logged per step as `sampling/*`). False: every step waits for its own generation."""
    server_port: int = Field(0, ge=0, le=65535)
    """Server mode: the vLLM server's HTTP port (0: a free port chosen at start; several machines need
    a fixed one)."""
    num_machines: int = Field(1, ge=1)
    """Machines taking part; each runs this same config with its own machine_rank and distributed.gpus
    GPUs (completions_per_step is split over every process on every machine)."""
    machine_rank: int = Field(0, ge=0)
    """This machine's rank, 0 to num_machines - 1; machine 0 writes the run's metrics and checkpoints."""
    main_process_ip: str = ""
    """Several machines: the address of machine 0, reachable from every machine."""
    main_process_port: int = Field(0, ge=0, le=65535)
    """The port of the processes' rendezvous on machine 0 (0: a free port chosen at start; several
    machines need a fixed one, e.g. 29500)."""

    @field_validator("gpus")
    @classmethod
    def _distinct_gpus(cls, value: list[int]) -> list[int]:
        negative = [index for index in value if index < 0]
        if negative:
            raise ValueError(f"GPU index {negative[0]} is negative; fix: use NVML indices such as [0, 1]")
        twice = sorted({index for index in value if value.count(index) > 1})
        if twice:
            kept = list(dict.fromkeys(value))
            raise ValueError(f"GPU {twice[0]} is listed twice; fix: list each GPU once, e.g. {kept}")
        return value

    @field_validator("main_process_ip")
    @classmethod
    def _one_address(cls, value: str) -> str:
        value = value.strip()
        if any(ch.isspace() for ch in value):
            raise ValueError(f"{value!r} is not one address; fix: machine 0's address, e.g. 10.0.0.1")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> DistributedSection:
        several_machines = self.num_machines > 1
        if self.vllm_mode == "server":
            if not self.gpus:
                raise ValueError(
                    "@distributed.gpus: server mode keeps vLLM on a GPU of its own, so the training GPUs "
                    "must be named; fix: e.g. distributed.gpus = [0] and distributed.server_gpu = 1"
                )
            if self.server_gpu < 0:
                spare = next(i for i in range(len(self.gpus) + 1) if i not in self.gpus)
                raise ValueError(
                    "@distributed.server_gpu: server mode needs a GPU for vLLM; fix: set "
                    f"distributed.server_gpu to a GPU not in distributed.gpus, e.g. {spare}"
                )
            if self.server_gpu in self.gpus:
                raise ValueError(
                    f"@distributed.server_gpu: GPU {self.server_gpu} also trains (it is in distributed.gpus "
                    f"= {self.gpus}); vLLM's server needs it alone; fix: pick a GPU not in distributed.gpus"
                )
            if several_machines and not self.server_port:
                raise ValueError(
                    "@distributed.server_port: with several machines every machine must know the vLLM "
                    "server's port; fix: set a fixed one, e.g. distributed.server_port = 8000"
                )
        elif self.overlap_generation:
            raise ValueError(
                "@distributed.overlap_generation: generation overlaps training only with vLLM on a GPU of "
                'its own; fix: distributed.vllm_mode = "server", distributed.gpus = [0] and '
                "distributed.server_gpu = 1 (or overlap_generation = false)"
            )
        elif self.server_gpu >= 0:
            raise ValueError(
                f"@distributed.server_gpu: is {self.server_gpu} but distributed.vllm_mode is colocate, which "
                'runs no server; fix: set distributed.vllm_mode = "server" or distributed.server_gpu = -1'
            )
        if self.machine_rank >= self.num_machines:
            raise ValueError(
                f"@distributed.machine_rank: {self.machine_rank} is not below distributed.num_machines = "
                f"{self.num_machines}; fix: use 0 to {self.num_machines - 1}"
            )
        if not several_machines and self.main_process_ip:
            raise ValueError(
                f"@distributed.main_process_ip: is {self.main_process_ip!r} but distributed.num_machines is "
                "1, where the processes meet on this machine; fix: clear it or set distributed.num_machines"
            )
        if several_machines:
            if not self.gpus:
                raise ValueError(
                    "@distributed.gpus: with several machines each machine's training GPUs must be named "
                    "(the same count on every machine); fix: e.g. distributed.gpus = [0, 1, 2, 3]"
                )
            if not self.main_process_ip:
                raise ValueError(
                    "@distributed.main_process_ip: several machines meet at machine 0; fix: set it to "
                    "machine 0's address, reachable from every machine"
                )
            if not self.main_process_port:
                raise ValueError(
                    "@distributed.main_process_port: several machines need a fixed rendezvous port; fix: "
                    "set it, e.g. distributed.main_process_port = 29500"
                )
        return self

    @property
    def num_processes(self) -> int:
        """Training processes over every machine: one per training GPU (one in all without gpus)."""
        return max(1, len(self.gpus)) * self.num_machines


class DataSection(_Section):
    """Where the training rows come from and how they are split."""

    source: str = "bundled"
    """'bundled' (the sample rows shipped with the workbench), a hub dataset id, or a local
    .json/.jsonl/.parquet file in the dataset's schema (query_vi, response_vi, query_en, response_en,
    type)."""
    split: str = "train"
    """Hub split to load."""
    limit: int = Field(0, ge=0)
    """Use at most this many rows (0: all)."""
    held_out: int = Field(32, ge=0)
    """Rows set aside for evaluation, never trained on (fixed by the seed, saved in the run)."""
    seed: int = 3407
    """Shuffle/split seed."""

    @field_validator("source")
    @classmethod
    def _readable_source(cls, value: str) -> str:
        value = value.strip()
        if value in ("", "bundled"):
            return "bundled"
        path = Path(value).expanduser()
        looks_local = value.startswith(("/", ".", "~")) or path.suffix in DATA_SUFFIXES or path.exists()
        if not looks_local:
            if not _HUB_ID.match(value):
                raise ValueError(f"{value!r} is neither 'bundled', a hub dataset id (org/name) nor a file")
            return value
        if not path.exists():
            raise ValueError(f"file {value!r} does not exist; fix: check the path, or use 'bundled'")
        if not path.is_file():
            raise ValueError(f"{value!r} is not a file; fix: point at a .json, .jsonl or .parquet file")
        if path.suffix not in DATA_SUFFIXES:
            raise ValueError(
                f"{value!r} has suffix {path.suffix!r}; fix: use a .json, .jsonl or .parquet file"
            )
        try:
            with path.open("rb") as fh:
                fh.read(1)
        except OSError as exc:
            raise ValueError(
                f"{value!r} cannot be read ({exc.strerror}); fix: check its permissions"
            ) from exc
        return str(path.resolve())


class CustomReward(_Section):
    """A reward function of your own, with TRL's signature: `f(prompts, completions, answer, **kwargs) ->
    list[float | None]`, one score (or None) per completion. Its weight is `rewards.<function>` (1.0 when
    not given), its metric `rewards/<function>/mean`."""

    file: str
    """A Python file defining the function (self-contained: it may import installed packages, not files
    beside it). Checked before launch and copied into the run directory (`custom_rewards/`), which the run,
    its resume and its evaluations import."""
    function: str
    """The function's name in that file: also its metric name and its weight's key in [rewards]."""

    @field_validator("file")
    @classmethod
    def _python_file(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("is empty; fix: name a .py file that defines the reward function")
        if not value.endswith(".py"):
            raise ValueError(
                f"{value!r} is not a .py file; fix: name the Python file that defines the function"
            )
        return str(Path(value).expanduser().absolute())

    @field_validator("function")
    @classmethod
    def _function_name(cls, value: str) -> str:
        value = value.strip()
        if not value.isidentifier() or keyword.iskeyword(value):
            raise ValueError(
                f"{value!r} is not a Python function name; fix: the name after `def` in the file, e.g. "
                "length_reward"
            )
        if value in REWARD_NAMES:
            raise ValueError(
                f"{value!r} is a built-in reward's name and would share its metric; fix: rename the function "
                "(or use the built-in's weight in [rewards])"
            )
        return value

    @property
    def label(self) -> str:
        """`file.py:function`, as messages and the Configure form write it."""
        return f"{Path(self.file).name}:{self.function}"


class RunConfig(BaseModel):
    """A whole run: everything a job needs, and nothing about where it runs."""

    model_config = ConfigDict(
        extra="forbid", use_attribute_docstrings=True, validate_assignment=True, allow_inf_nan=False
    )

    name: str = ""
    """A label for the run (optional); shown in the runs list and used in the run id."""
    backend: Literal["auto", "unsloth", "trl"] = "auto"
    """auto: TRL (with vLLM where it is installed, the faster path measured on an H200); Unsloth only on
    a GPU that has Unsloth but no vLLM, and never on several GPUs. unsloth needs CUDA; trl runs on CPU
    too."""
    model: ModelSection = Field(default_factory=ModelSection)
    lora: LoraSection = Field(default_factory=LoraSection)
    custom_rewards: list[CustomReward] = Field(default_factory=list)
    """Reward functions of your own, each `{file = "my_rewards.py", function = "length_reward"}`, trained
    beside the built-in ones (weights in [rewards])."""
    rewards: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    """Weight of each reward function, built-in or custom (0 switches it off; a custom reward without
    one weighs 1.0); the total reward is the weighted sum. A negative weight is refused: every built-in
    function already scores bad output below zero, so a negative weight would reward exactly what the
    function penalises (a custom reward that penalises returns negative scores)."""
    grpo: GrpoSection = Field(default_factory=GrpoSection)
    distributed: DistributedSection = Field(default_factory=DistributedSection)
    data: DataSection = Field(default_factory=DataSection)

    @field_validator("custom_rewards")
    @classmethod
    def _distinct_custom(cls, value: list[CustomReward]) -> list[CustomReward]:
        names = [entry.function for entry in value]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(
                f"function {twice[0]!r} is listed twice; its metric rewards/{twice[0]}/mean would be logged "
                "twice; fix: list each function once (rename one if two files define the same name)"
            )
        by_name: dict[str, str] = {}
        for entry in value:
            base = Path(entry.file).name
            if by_name.setdefault(base, entry.file) != entry.file:
                raise ValueError(
                    f"two files are named {base} ({by_name[base]} and {entry.file}); the run directory keeps "
                    "one copy per file name; fix: rename one of them"
                )
        return value

    @model_validator(mode="before")
    @classmethod
    def _custom_weights(cls, data: Any) -> Any:
        """A custom reward without a weight in [rewards] weighs 1.0 (declaring it means using it)."""
        if not isinstance(data, dict) or not isinstance(data.get("custom_rewards"), list):
            return data
        weights = data.get("rewards")
        weights = dict(DEFAULT_WEIGHTS) if weights is None else weights
        if not isinstance(weights, dict):
            return data
        weights = dict(weights)
        for entry in data["custom_rewards"]:
            name = entry.get("function") if isinstance(entry, dict) else getattr(entry, "function", None)
            if isinstance(name, str) and name.strip():
                weights.setdefault(name.strip(), 1.0)
        return {**data, "rewards": weights}

    @field_validator("rewards")
    @classmethod
    def _known_rewards(cls, value: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        custom = info.data.get("custom_rewards")
        custom_names = [entry.function for entry in custom] if custom is not None else []
        if custom is not None:  # a custom_rewards entry that failed has its own message
            unknown = sorted(set(value) - set(REWARD_NAMES) - set(custom_names))
            if unknown:
                raise ValueError(
                    f"unknown reward(s) {unknown}; fix: use only {', '.join(REWARD_NAMES)}, or declare a "
                    "function of your own in [[custom_rewards]]"
                )
        # a partial [rewards] table changes the weights it names: the others keep their defaults (a table
        # naming only a custom reward used to switch every built-in reward off, unannounced)
        merged = {name: float(value.get(name, DEFAULT_WEIGHTS.get(name, 0.0))) for name in REWARD_NAMES}
        merged.update({name: float(value.get(name, 1.0)) for name in custom_names})
        negative = [(name, weight) for name, weight in merged.items() if weight < 0]
        if negative:
            name, weight = negative[0]
            if name in custom_names:
                raise ValueError(
                    f"@rewards.{name}: weight {weight:g} is negative; fix: use 0 to switch it off, or a "
                    "positive weight and have the function return negative scores for what it penalises"
                )
            raise ValueError(
                f"@rewards.{name}: weight {weight:g} is negative, which would reward what this function "
                "penalises (its scores already go below 0 for bad output); fix: use 0 to switch it off or a "
                "positive weight"
            )
        if custom is not None and not any(merged.values()):
            raise ValueError("every reward weight is 0, so there is nothing to learn; fix: give one a weight")
        return merged

    @model_validator(mode="after")
    def _lengths_fit(self) -> RunConfig:
        total = self.grpo.max_prompt_length + self.grpo.max_completion_length
        if total > self.model.max_seq_length:
            raise ValueError(
                "@grpo.max_completion_length: grpo.max_prompt_length + grpo.max_completion_length = "
                f"{self.grpo.max_prompt_length} + "
                f"{self.grpo.max_completion_length} = {total} exceeds model.max_seq_length = "
                f"{self.model.max_seq_length}; fix: shorten one of them or raise model.max_seq_length"
            )
        return self

    @model_validator(mode="after")
    def _distributed_fits(self) -> RunConfig:
        d, g = self.distributed, self.grpo
        if self.backend == "unsloth" and d.num_processes > 1:
            raise ValueError(
                f"@backend: Unsloth is the single-GPU backend and distributed.gpus names {len(d.gpus)} GPUs "
                f'on {d.num_machines} machine(s); fix: backend = "trl" (or one GPU in distributed.gpus)'
            )
        if d.vllm_mode == "server":
            if self.backend == "unsloth":
                raise ValueError(
                    "@backend: Unsloth generates with its own colocated vLLM and has no server mode; fix: "
                    'backend = "trl" or distributed.vllm_mode = "colocate"'
                )
            if g.use_vllm == "off":
                raise ValueError(
                    "@distributed.vllm_mode: server mode generates with vLLM but grpo.use_vllm is off; fix: "
                    'grpo.use_vllm = "auto" or distributed.vllm_mode = "colocate"'
                )
        whole = g.num_generations * d.num_processes
        if d.num_processes > 1 and g.completions_per_step and g.completions_per_step % whole:
            n = d.num_processes
            below = whole * max(1, g.completions_per_step // whole)
            raise ValueError(
                f"@grpo.completions_per_step: {g.completions_per_step} completions do not split into whole "
                f"groups of grpo.num_generations = {g.num_generations} over {n} training processes; fix: "
                f"use a multiple of {g.num_generations} x {n} = {whole}, e.g. {below} or {below + whole}"
            )
        return self

    @property
    def active_rewards(self) -> list[str]:
        """Reward functions with a non-zero weight: the built-in ones in registry order, then the custom
        ones in the order they are declared."""
        return [name for name in self.reward_names if self.rewards.get(name, 0.0) != 0.0]

    @property
    def reward_names(self) -> list[str]:
        """Every reward function of the run, weighted or not: built-in ones, then custom ones."""
        return [*REWARD_NAMES, *(entry.function for entry in self.custom_rewards)]

    def custom_reward(self, name: str) -> CustomReward | None:
        """The custom reward named `name`, or None for a built-in one."""
        return next((entry for entry in self.custom_rewards if entry.function == name), None)

    def to_toml(self) -> str:
        """The config as TOML text (what `config.toml` in a run holds)."""
        return tomli_w.dumps(self.model_dump(mode="json"))

    def save(self, path: Path) -> None:
        """Write the config atomically."""
        from workbench.atomic import write_text_atomic

        write_text_atomic(path, self.to_toml())


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config: the dotted field and a message that says the fix."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class ConfigError(ValueError):
    """A config that cannot run; `problems` lists every field at fault."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("invalid config:\n" + "\n".join(f"  - {p}" for p in problems))


_BOUND_ERRORS = frozenset({"greater_than", "greater_than_equal", "less_than", "less_than_equal"})
_TYPE_FIXES = {
    "int": "a whole number",
    "float": "a number such as 0.5 or 5e-6",
    "bool": "true or false",
}


def _field_info(loc: tuple[int | str, ...]) -> FieldInfo | None:
    """The RunConfig field at `loc` (`("lora", "rank")`), or None for a key that is not a field."""
    model: type[BaseModel] | None = RunConfig
    info = None
    for part in loc:
        info = model.model_fields.get(str(part)) if model is not None else None
        if info is None:
            return None
        annotation = info.annotation
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    return info


_NO_DEFAULT = object()


def _bounds_fix(info: FieldInfo, default: Any = _NO_DEFAULT) -> str:
    """`fix: use a whole number from 1 to 512 (default 64)`: the field's range, from its bounds, and
    `default` (the schema's own default unless given: the caller's defaults for this machine)."""
    lower: Any = None
    upper: Any = None
    lower_open = upper_open = False
    for bound in info.metadata:
        if isinstance(bound, annotated_types.Ge):
            lower = bound.ge
        elif isinstance(bound, annotated_types.Gt):
            lower, lower_open = bound.gt, True
        elif isinstance(bound, annotated_types.Le):
            upper = bound.le
        elif isinstance(bound, annotated_types.Lt):
            upper, upper_open = bound.lt, True
    kind = "a whole number" if info.annotation is int else "a number"
    if lower is not None and upper is not None and not (lower_open or upper_open):
        span = f"from {lower} to {upper}"
    else:
        ends = []
        if lower is not None:
            ends.append(f"above {lower}" if lower_open else f"at least {lower}")
        if upper is not None:
            ends.append(f"below {upper}" if upper_open else f"at most {upper}")
        span = " and ".join(ends)
    if default is _NO_DEFAULT:
        default = info.get_default(call_default_factory=True)
    return f"fix: use {kind} {span}" + (f" (default {default})" if default is not None else "")


def _default_at(defaults: dict[str, Any] | None, loc: tuple[Any, ...]) -> Any:
    """The value at `loc` in config data `defaults`, or _NO_DEFAULT where it has none."""
    node: Any = defaults
    for part in loc:
        if not isinstance(node, dict) or part not in node:
            return _NO_DEFAULT
        node = node[part]
    return node


def _problems_from(exc: ValidationError, defaults: dict[str, Any] | None = None) -> list[Problem]:
    problems = []
    for err in exc.errors():
        parts = list(err["loc"])
        if len(parts) > 1 and isinstance(parts[-1], int):
            parts.pop()  # an item of a list (grpo.report_to.0): the setting is the list, its value is shown
        loc = ".".join(str(part) for part in parts)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "is not a known setting; fix: remove it or check its spelling (see `config --reference`)"
        elif "input" in err and err["type"] not in ("value_error", "model_type"):
            msg = f"{msg} (got {err['input']!r})"
            # Every bound and type message names its fix, as the hand-written checks do.
            info = _field_info(tuple(err["loc"]))
            kind = err["type"].split("_")[0]
            if err["type"] in _BOUND_ERRORS and info is not None:
                msg += f"; {_bounds_fix(info, _default_at(defaults, tuple(err['loc'])))}"
            elif kind in _TYPE_FIXES:
                msg += f"; fix: use {_TYPE_FIXES[kind]}"
            elif err["type"] == "literal_error":
                msg += f"; fix: use {err.get('ctx', {}).get('expected', 'one of the choices')}"
        # Cross-field checks run on a whole section or the run; they name their field as "@field: ".
        if msg.startswith("@"):
            loc, _, msg = msg[1:].partition(": ")
        problems.append(Problem(loc, msg))
    return problems


def validate(data: dict[str, Any], defaults: dict[str, Any] | None = None) -> RunConfig:
    """Build a RunConfig from plain data, raising ConfigError with every problem found.

    `defaults` (config data, usually `machine_default(...)` dumped to JSON) is what a bound message
    quotes as the default: on a CPU the tiny model trains at a learning rate of 1e-3, not the schema's
    5e-6, and the message should name the value Ctrl+N or a fresh `train` would use here.
    """
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_problems_from(exc, defaults)) from None


def merge(base: dict[str, Any], layer: dict[str, Any]) -> dict[str, Any]:
    """`layer` laid over `base` (a new dict): tables merge key by key, any other value (a list, a number, a
    string) replaces the base's."""
    merged = dict(base)
    for key, value in layer.items():
        below = merged.get(key)
        merged[key] = merge(below, value) if isinstance(below, dict) and isinstance(value, dict) else value
    return merged


def load(path: Path, base: dict[str, Any] | None = None) -> RunConfig:
    """Read and validate a TOML config file.

    With `base` (config data, usually `machine_default(...)` dumped to JSON) the file is laid over it
    (`merge`): a file that names a few settings changes those and keeps the machine's defaults for the
    rest, as `--set` does. Without it (a run's own config.toml, which names every setting) the schema's
    defaults fill what the file leaves out.

    Raises:
        ConfigError: the file is missing, unreadable, not TOML, or its settings are invalid.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem("", f"config file {path} does not exist")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem("", f"config file {path} cannot be read: {exc}")]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([Problem("", f"config file {path} is not valid TOML: {exc}")]) from None
    return validate(merge(base, data) if base is not None else data)


def parse_override(item: str) -> tuple[list[str], Any]:
    """Split `key.path=value`; the value is read as a TOML literal, else kept as a string."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(
            [Problem("", f"--set {item!r} is not key=value; fix: e.g. --set grpo.max_steps=20")]
        )
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return [part.strip() for part in key.strip().split(".")], value


def apply_overrides(data: dict[str, Any], items: list[str]) -> dict[str, Any]:
    """Apply `--set` overrides to config data, rejecting keys the config does not have."""
    valid = reference_keys()
    for item in items:
        keys, value = parse_override(item)
        dotted = ".".join(keys)
        if dotted not in valid and not (keys[0] == "rewards" and len(keys) == 2):
            close = [k for k in valid if k.endswith("." + keys[-1]) or k == keys[-1]]
            hint = (
                f"; did you mean {', '.join(close)}?"
                if close
                else "; see `grpo-workbench config --reference`"
            )
            raise ConfigError([Problem(dotted, f"is not a known setting{hint}")])
        node = data
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    return data


def reference_keys() -> list[str]:
    """Every dotted settable key."""
    keys = []
    for name, field in RunConfig.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys += [f"{name}.{sub}" for sub in annotation.model_fields]
        elif name == "rewards":
            keys += [f"rewards.{r}" for r in REWARD_NAMES]
        else:
            keys.append(name)
    return keys


def reference_markdown() -> str:
    """The config reference, generated from the models so it cannot drift from the code."""
    default = RunConfig().model_dump(mode="json")
    lines = [
        "# Run configuration reference",
        "",
        "Generated by `grpo-workbench config --reference`; every key can be set in a TOML file",
        "(`--config FILE`) or on the command line (`--set section.key=value`). A file is laid over this",
        "machine's defaults (the offline demo without a GPU, the 1B model with one), as `--set` is: it",
        "changes the settings it names. The defaults below are the schema's, before that layer.",
        "",
    ]
    for name, field in RunConfig.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            lines += [
                f"## [{name}]",
                "",
                (annotation.__doc__ or "").strip(),
                "",
                "| key | default | meaning |",
                "| --- | --- | --- |",
            ]
            for sub, subfield in annotation.model_fields.items():
                desc = " ".join((subfield.description or "").split())
                lines.append(f"| `{name}.{sub}` | `{default[name][sub]!r}` | {desc} |")
            lines.append("")
        elif name == "rewards":
            lines += [
                "## [rewards]",
                "",
                " ".join((field.description or "").split()),
                "",
                "| key | default |",
                "| --- | --- |",
            ]
            lines += [f"| `rewards.{r}` | `{w!r}` |" for r, w in default["rewards"].items()]
            lines += ["| `rewards.<function>` | `1.0` (a custom reward's weight) |", ""]
        elif name == "custom_rewards":
            lines += [
                "## [[custom_rewards]]",
                "",
                " ".join(f"{field.description} {CustomReward.__doc__}".split()),
                "",
                "| key | meaning |",
                "| --- | --- |",
            ]
            for sub, subfield in CustomReward.model_fields.items():
                lines.append(f"| `{sub}` | {' '.join((subfield.description or '').split())} |")
            lines += [
                "",
                "```toml",
                "[[custom_rewards]]",
                'file = "examples/custom_rewards.py"',
                'function = "vietnamese_reward"',
                "",
                "[rewards]",
                "vietnamese_reward = 0.5",
                "```",
                "",
                "Each file is checked before launch in a separate process, within grpo.reward_timeout_s per "
                "step: it imports, the function takes the keyword arguments TRL passes (`prompts`, "
                "`completions` as chat messages, `completion_ids`, `answer`, `type`, `trainer_state`, "
                "`log_extra`, `log_metric`) on a few bundled rows and returns one number or None per "
                "completion. A failure names the file, the function, what went wrong and the fix, and no run "
                "starts. In training, a function that raises, returns anything else or runs past the limit "
                "fails the run with its name in status.json.",
                "",
            ]
        else:
            lines += [
                f"## `{name}`",
                "",
                f"Default `{default[name]!r}`. " + " ".join((field.description or "").split()),
                "",
            ]
    return "\n".join(lines)


OFFLINE_OVERRIDES = [
    "grpo.max_completion_length=96",
    "grpo.max_steps=200",
    "grpo.save_steps=20",
    "grpo.learning_rate=0.001",
    "grpo.temperature=0.8",
]
"""The offline default: the tutorial's settings on the tiny (warm-started) model and the bundled rows,
with completions short enough that a 2-core CPU shows a step every second or so, a learning rate for a
0.2M-parameter LoRA rather than the tutorial's 5e-6 for a 1B model (at 5e-6 the tiny model's rewards do
not move in 200 steps), and rollouts sampled at 0.8, the evaluation's sampling temperature: at 1.0 the
tiny model's samples are mostly noise from its long tail, and GRPO learned to cut completions short
instead of learning the tags (held-out format no better than the base's; issue 19)."""
GPU_OVERRIDES = [
    "model.name=llama-3.2-1b",
    f"data.source={HUB_DATASET}",
    "grpo.completions_per_step=128",
    "grpo.save_steps=50",
]
"""The GPU default: the real 1B model and dataset, 128 completions per step shaped to fit the GPU."""


def machine_default(gpus: int) -> RunConfig:
    """The config a new user starts from: the offline demo without a GPU, the real model with one."""
    return validate(apply_overrides({}, GPU_OVERRIDES if gpus else OFFLINE_OVERRIDES))


def default_config_path() -> Path:
    """Where the workbench keeps the user's last-used config (`workbench.paths.last_config_path`)."""
    return paths.last_config_path()

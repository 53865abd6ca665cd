"""Offline model building: random-init Llama-architecture models plus a locally trained tokenizer.

The workbench must train, serve and benchmark without downloading weights, so this module builds, with no
network and no hub, a directory that `AutoModelForCausalLM.from_pretrained` and
`AutoTokenizer.from_pretrained` load exactly like a real Llama 3.2 Instruct checkpoint:

* `config.json` and `model.safetensors`: the architecture (`tiny`, or the exact Llama-3.2-1B/3B shapes),
  weights drawn by transformers' own initialiser from a fixed seed;
* a byte-level BPE tokenizer (Llama-3 pre-tokenisation) trained on a small Vietnamese + English math text,
  padded to the architecture's vocabulary size so that *every* id decodes to text (a random-init model
  samples every id, and vLLM must detokenize them), with the 256 Llama-3 special tokens on the last 256
  ids, i.e. on their real ids for the 128256-token vocabulary, and Llama 3's chat template;
* `generation_config.json` as Llama 3.2 ships it, and `workbench_model.json` recording how it was built.

The directory is built next to its destination (`<name>.partial`) and renamed into place only when
complete, so a crash never leaves a half model where a reader expects a whole one.

Nothing here imports torch, transformers or tokenizers at module import time: the TUI imports this module
to list architectures and must start fast.
"""

from __future__ import annotations

import itertools
import json
import shutil
import string
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

LLAMA3_ROPE_SCALING: dict[str, Any] = {
    "factor": 32.0,
    "high_freq_factor": 4.0,
    "low_freq_factor": 1.0,
    "original_max_position_embeddings": 8192,
    "rope_type": "llama3",
}
"""The `rope_scaling` block of Llama 3.2 1B/3B Instruct's config.json."""

LLAMA3_SPECIAL_TOKENS: tuple[str, ...] = (
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|reserved_special_token_0|>",
    "<|reserved_special_token_1|>",
    "<|finetune_right_pad_id|>",
    "<|reserved_special_token_2|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eom_id|>",
    "<|eot_id|>",
    "<|python_tag|>",
    *(f"<|reserved_special_token_{i}|>" for i in range(3, 248)),
)
"""Llama 3's 256 special tokens in id order (128000 .. 128255 in the real vocabulary)."""

NUM_SPECIAL_TOKENS = len(LLAMA3_SPECIAL_TOKENS)
BOS_TOKEN = "<|begin_of_text|>"
EOS_TOKEN = "<|eot_id|>"
PAD_TOKEN = "<|finetune_right_pad_id|>"
GENERATION_EOS_TOKENS: tuple[str, ...] = ("<|end_of_text|>", "<|eom_id|>", "<|eot_id|>")
"""The tokens that end generation (Llama 3.2's `eos_token_id` list: 128001, 128008, 128009)."""

LLAMA3_CHAT_TEMPLATE = (
    "{{- bos_token }}"
    "{%- for message in messages %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}"
    "{{- message['content'] | trim }}"
    "{{- '<|eot_id|>' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{%- endif %}"
)
"""Llama 3's chat format: `<|begin_of_text|>`, then per message
`<|start_header_id|>{role}<|end_header_id|>\\n\\n{content stripped}<|eot_id|>`, then the assistant header
when a generation prompt is asked for."""

LLAMA3_SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
"""Llama 3's pre-tokenisation regex (GPT-4 style: contractions, words, 1-3 digit groups, punctuation)."""

DTYPES = ("bfloat16", "float16", "float32")
MANIFEST_FILE = "workbench_model.json"
PARTIAL_SUFFIX = ".partial"
_MIN_VOCAB = 2 * NUM_SPECIAL_TOKENS
"""Smallest vocabulary: the 256 byte-level symbols plus the 256 special tokens."""


@dataclass(frozen=True)
class ModelShape:
    """The dimensions of a Llama-architecture decoder: what its parameter count, its LoRA adapter and its
    GPU memory (`workbench.memory`) depend on. A buildable `Architecture` is one; a local model's is read
    from its `config.json`.

    Attributes:
        hidden_size: Width of the residual stream.
        intermediate_size: Width of the SwiGLU MLP.
        num_hidden_layers: Number of decoder layers.
        num_attention_heads: Query heads per layer; `hidden_size` must be divisible by it.
        num_key_value_heads: Key/value heads (grouped-query attention).
        vocab_size: Total vocabulary (with the 256 special tokens for a Llama 3 tokenizer).
        tie_word_embeddings: Whether the LM head shares the input embedding matrix.
    """

    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    vocab_size: int
    tie_word_embeddings: bool = True

    @classmethod
    def of(cls, arch: str | ModelShape) -> ModelShape:
        """The shape of an architecture: a key of `ARCHITECTURES`, or a shape (an `Architecture`) itself.

        Raises:
            ValueError: The name is unknown (the message lists the known ones).
        """
        return arch if isinstance(arch, ModelShape) else resolve_architecture(arch)

    @classmethod
    def from_hf_config(cls, config: Mapping[str, Any]) -> ModelShape:
        """The shape from a Hugging Face `config.json` (raises ValueError when a field is missing)."""
        try:
            heads = int(config["num_attention_heads"])
            return cls(
                hidden_size=int(config["hidden_size"]),
                intermediate_size=int(config["intermediate_size"]),
                num_hidden_layers=int(config["num_hidden_layers"]),
                num_attention_heads=heads,
                num_key_value_heads=int(config.get("num_key_value_heads") or heads),
                vocab_size=int(config["vocab_size"]),
                tie_word_embeddings=bool(config.get("tie_word_embeddings", False)),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"config.json lacks a field the memory estimate needs: {exc}") from None

    @property
    def head_dim(self) -> int:
        """Width of one attention head."""
        return self.hidden_size // self.num_attention_heads

    def parameter_count(self) -> int:
        """The exact number of parameters of the model, computed without torch.

        Returns:
            Embeddings + per-layer (q/k/v/o projections, gate/up/down MLP, two RMSNorms) + final norm
            + the LM head when it is not tied.
        """
        hidden = self.hidden_size
        attention = hidden * self.head_dim * (2 * self.num_attention_heads + 2 * self.num_key_value_heads)
        per_layer = attention + 3 * hidden * self.intermediate_size + 2 * hidden
        embeddings = self.vocab_size * hidden
        return (
            embeddings
            + self.num_hidden_layers * per_layer
            + hidden
            + (0 if self.tie_word_embeddings else embeddings)
        )

    def projection_dims(self, module: str) -> tuple[int, int]:
        """(in_features, out_features) of one projection.

        Raises:
            ValueError: not one of the seven Llama projections.
        """
        hidden, inter = self.hidden_size, self.intermediate_size
        q = self.num_attention_heads * self.head_dim
        kv = self.num_key_value_heads * self.head_dim
        dims = {
            "q_proj": (hidden, q),
            "k_proj": (hidden, kv),
            "v_proj": (hidden, kv),
            "o_proj": (q, hidden),
            "gate_proj": (hidden, inter),
            "up_proj": (hidden, inter),
            "down_proj": (inter, hidden),
        }
        try:
            return dims[module]
        except KeyError:
            raise ValueError(f"unknown projection {module!r}; use one of {', '.join(dims)}") from None

    def lora_parameters(self, rank: int, target_modules: Sequence[str]) -> int:
        """Trainable LoRA parameters: `rank x (in + out)` per targeted projection per layer."""
        per_layer = sum(rank * sum(self.projection_dims(m)) for m in dict.fromkeys(target_modules))
        return per_layer * self.num_hidden_layers


@dataclass(frozen=True, kw_only=True)
class Architecture(ModelShape):
    """A shape this module can build: the `ModelShape` plus the rest of its `LlamaConfig`.

    Attributes:
        name: The key in `ARCHITECTURES` (recorded in `workbench_model.json`).
        max_position_embeddings: Longest sequence the config advertises.
        rope_theta: RoPE base frequency.
        rope_scaling: The RoPE scaling block (Llama 3's `llama3` type), or None for plain RoPE.
        rms_norm_eps: Epsilon of the RMSNorm layers.
    """

    name: str
    max_position_embeddings: int
    rope_theta: float
    rope_scaling: dict[str, Any] | None = field(hash=False)
    rms_norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        """Reject shapes transformers would build wrongly or not at all."""
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"architecture {self.name!r}: hidden_size {self.hidden_size} is not divisible by "
                f"num_attention_heads {self.num_attention_heads}"
            )
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError(
                f"architecture {self.name!r}: num_attention_heads {self.num_attention_heads} is not "
                f"divisible by num_key_value_heads {self.num_key_value_heads}"
            )
        if self.vocab_size < _MIN_VOCAB:
            raise ValueError(
                f"architecture {self.name!r}: vocab_size {self.vocab_size} is below {_MIN_VOCAB} "
                "(256 byte symbols + 256 special tokens)"
            )

    def rope_parameters(self) -> dict[str, Any]:
        """The RoPE block in transformers 5's `rope_parameters` form (theta folded into the scaling dict)."""
        scaling = dict(self.rope_scaling) if self.rope_scaling else {"rope_type": "default"}
        return {**scaling, "rope_theta": self.rope_theta}


ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in (
        Architecture(
            name="tiny",
            hidden_size=64,
            intermediate_size=256,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            vocab_size=4096,
            max_position_embeddings=4096,
            tie_word_embeddings=True,
            rope_theta=500000.0,
            rope_scaling=None,
        ),
        Architecture(
            name="1b",
            hidden_size=2048,
            intermediate_size=8192,
            num_hidden_layers=16,
            num_attention_heads=32,
            num_key_value_heads=8,
            vocab_size=128256,
            max_position_embeddings=131072,
            tie_word_embeddings=True,
            rope_theta=500000.0,
            rope_scaling=dict(LLAMA3_ROPE_SCALING),
        ),
        Architecture(
            name="3b",
            hidden_size=3072,
            intermediate_size=8192,
            num_hidden_layers=28,
            num_attention_heads=24,
            num_key_value_heads=8,
            vocab_size=128256,
            max_position_embeddings=131072,
            tie_word_embeddings=True,
            rope_theta=500000.0,
            rope_scaling=dict(LLAMA3_ROPE_SCALING),
        ),
    )
}
"""The buildable architectures: `tiny` (CPU demo) and the exact Llama-3.2-1B/3B-Instruct shapes."""


def special_token_ids(vocab_size: int) -> dict[str, int]:
    """Where the 256 Llama-3 special tokens sit in a vocabulary of `vocab_size` ids: the last 256.

    Args:
        vocab_size: Total vocabulary size (128256 gives Llama 3's real ids, `<|begin_of_text|>` = 128000).

    Returns:
        Token string -> id, in Llama 3's order.
    """
    if vocab_size < _MIN_VOCAB:
        raise ValueError(
            f"vocab_size {vocab_size} is below {_MIN_VOCAB} (256 byte symbols + 256 special tokens)"
        )
    base = vocab_size - NUM_SPECIAL_TOKENS
    return {token: base + i for i, token in enumerate(LLAMA3_SPECIAL_TOKENS)}


def resolve_architecture(arch: str | Architecture) -> Architecture:
    """An `Architecture` from itself or its name.

    Args:
        arch: A key of `ARCHITECTURES` or an `Architecture`.

    Raises:
        ValueError: The name is unknown (the message lists the known ones).
    """
    if isinstance(arch, Architecture):
        return arch
    try:
        return ARCHITECTURES[arch]
    except KeyError:
        raise ValueError(
            f"unknown architecture {arch!r}; fix: use one of {', '.join(ARCHITECTURES)}"
        ) from None


# --------------------------------------------------------------------------------------------------------
# Tokenizer
# --------------------------------------------------------------------------------------------------------

_BUILTIN_SENTENCES = (
    # Vietnamese math word problems and solutions.
    "Tính tổng của 12 và 35. Tổng của 12 và 35 là 47.",
    "Một cửa hàng bán được 125 quyển sách vào thứ Hai và 87 quyển vào thứ Ba. Hỏi cả hai ngày bán được bao "
    "nhiêu quyển sách?",
    "Lan có 24 cái kẹo, Lan cho bạn 9 cái. Hỏi Lan còn lại bao nhiêu cái kẹo? "
    "Lan còn lại 24 - 9 = 15 cái kẹo.",
    "Một hình chữ nhật có chiều dài 8 cm và chiều rộng 5 cm. Diện tích hình chữ nhật là 8 × 5 = 40 cm².",
    "Chu vi của hình vuông có cạnh 6 m là 4 × 6 = 24 m.",
    "Giải phương trình 2x + 3 = 11. Ta có 2x = 8, vậy x = 4.",
    "Nếu một chiếc xe đi được 60 km mỗi giờ thì trong 3 giờ xe đi được 180 km.",
    "Giá của một cái bút là 5.000 đồng. Mua 7 cái bút hết bao nhiêu tiền? Hết 35.000 đồng.",
    "Trung bình cộng của các số 4, 8 và 12 là (4 + 8 + 12) : 3 = 8.",
    "Một lớp học có 32 học sinh, trong đó 3/4 là học sinh nữ. Số học sinh nữ là 24.",
    "Hãy suy nghĩ từng bước một. Đầu tiên, chúng ta tính số lượng. Sau đó, chúng ta cộng các kết quả lại.",
    "Vậy đáp án là 42. Câu trả lời là: 42",
    "Tỉ lệ phần trăm của 18 trên 72 là 25%.",
    "Số nguyên tố nhỏ nhất lớn hơn 10 là 11.",
    "Bình phương của 9 là 81 và căn bậc hai của 144 là 12.",
    "Anh ấy tiết kiệm được 150 nghìn đồng mỗi tuần. Sau 6 tuần anh ấy tiết kiệm được 900 nghìn đồng.",
    "Một bể nước chứa 500 lít nước. Mỗi ngày dùng hết 45 lít. Sau 8 ngày, bể còn lại 140 lít nước.",
    "Phân số 6/8 rút gọn được 3/4. Số thập phân 0,75 bằng 75%.",
    "Mẹ mua 3 kg táo và 2 kg cam. Mỗi ki-lô-gam táo giá 40.000 đồng, mỗi ki-lô-gam cam giá 30.000 đồng.",
    "Tuổi của bố gấp 3 lần tuổi của con. Tổng số tuổi của hai bố con là 48. Con 12 tuổi, bố 36 tuổi.",
    "Bạn là một trợ lý hữu ích. Hãy giải bài toán sau và đưa ra đáp án cuối cùng.",
    "Xin chào! Tôi có thể giúp gì cho bạn hôm nay?",
    # English math problems and solutions.
    "What is the sum of 12 and 35? The sum of 12 and 35 is 47.",
    "A store sold 125 books on Monday and 87 books on Tuesday. How many books did it sell in total?",
    "Lan has 24 candies and gives 9 to a friend, so she has 24 - 9 = 15 candies left.",
    "A rectangle is 8 cm long and 5 cm wide, so its area is 8 * 5 = 40 square centimeters.",
    "Solve the equation 2x + 3 = 11. Subtracting 3 gives 2x = 8, so x = 4.",
    "If a car travels 60 miles per hour, in 3 hours it travels 180 miles.",
    "The average of 4, 8 and 12 is (4 + 8 + 12) / 3 = 8.",
    "Let's think step by step. First, we compute the total. Then we subtract the cost.",
    "Therefore, the answer is 42. The answer is: 42",
    "What is 25% of 80? 25% of 80 is 0.25 * 80 = 20.",
    "The smallest prime number greater than 10 is 11.",
    "The square of 9 is 81 and the square root of 144 is 12.",
    "We have $\\frac{3}{4} \\cdot 12 = 9$, so the final answer is $\\boxed{9}$.",
    "You are a helpful assistant. Solve the following problem and give the final answer.",
    "<reasoning>First add the numbers, then divide by the count.</reasoning>\n<answer>8</answer>",
    "system\nuser\nassistant\n",
)


def _builtin_corpus() -> list[str]:
    """The built-in text: math sentences in both languages plus generated arithmetic and digits."""
    lines = list(_BUILTIN_SENTENCES)
    for a in range(0, 100, 7):
        for b in range(1, 60, 11):
            lines.append(f"{a} + {b} = {a + b}; {a} - {b} = {a - b}; {a} × {b} = {a * b}")
            lines.append(f"Tổng của {a} và {b} là {a + b}. The product of {a} and {b} is {a * b}.")
    for role, sentence in zip(
        itertools.cycle(("system", "user", "assistant")), _BUILTIN_SENTENCES, strict=False
    ):
        lines.append(f"{role}\n\n{sentence}\n\n")
    lines.append(" ".join(str(n) for n in range(1000)))
    lines.append(string.digits + " " + string.ascii_letters + " " + string.punctuation)
    return lines


def _sample_corpus() -> list[str]:
    """Text of the bundled sample rows (`query_vi`, `response_vi`, `response_en`), or [] without them."""
    from workbench import paths

    sample = paths.bundled_sample()
    texts: list[str] = []
    try:
        with sample.open(encoding="utf-8") as fh:
            for line in fh:
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                if isinstance(row, dict):
                    texts.extend(
                        value
                        for key in ("query_vi", "response_vi", "response_en")
                        if isinstance(value := row.get(key), str) and value
                    )
    except OSError:
        return []
    return texts


def default_corpus() -> list[str]:
    """The tokenizer training text used when none is given.

    Returns:
        The built-in Vietnamese + English math text, plus the bundled sample rows when they exist.
    """
    return _builtin_corpus() + _sample_corpus()


def _filler_tokens() -> Iterator[str]:
    """Distinct multi-character byte-level strings, in a fixed order, to pad the base vocabulary.

    They are lowercase ASCII words with and without the byte-level space marker `Ġ`, so every filler id
    decodes to clean, printable text (a random-init model samples them, and vLLM detokenizes them).
    """
    for length in itertools.count(2):
        for prefix in ("", "Ġ"):
            for letters in itertools.product(string.ascii_lowercase, repeat=length):
                yield prefix + "".join(letters)


def build_tokenizer(
    vocab_size: int,
    corpus: Iterable[str] | None = None,
    *,
    model_max_length: int = 131072,
) -> PreTrainedTokenizerFast:
    """Train a Llama-3 style byte-level BPE tokenizer of exactly `vocab_size` ids, offline.

    Base tokens take ids 0 .. vocab_size-257: the BPE learned from `corpus`, then distinct filler tokens
    when the corpus yields fewer merges than that. The 256 Llama-3 special tokens take the last 256 ids in
    Llama 3's order (so vocab 128256 gives `<|begin_of_text|>` = 128000 and `<|eot_id|>` = 128009).

    Args:
        vocab_size: Total vocabulary size, special tokens included (at least 512).
        corpus: Training text; None uses `default_corpus()`.
        model_max_length: The tokenizer's advertised maximum sequence length.

    Returns:
        The tokenizer, with bos `<|begin_of_text|>` (added to every encoding, as Llama 3 does), eos
        `<|eot_id|>`, pad `<|finetune_right_pad_id|>` and Llama 3's chat template.
    """
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    ids = special_token_ids(vocab_size)
    base_size = vocab_size - NUM_SPECIAL_TOKENS
    texts = default_corpus() if corpus is None else [text for text in corpus if text]

    def pre_tokenizer() -> Any:
        return pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(LLAMA3_SPLIT_PATTERN), behavior="isolated", invert=False),
                pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
            ]
        )

    trained = Tokenizer(models.BPE(ignore_merges=True))
    trained.pre_tokenizer = pre_tokenizer()
    trainer = trainers.BpeTrainer(
        vocab_size=base_size,
        min_frequency=2,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
    )
    trained.train_from_iterator(texts, trainer=trainer)
    model_json = json.loads(trained.to_str())["model"]
    vocab: dict[str, int] = dict(model_json["vocab"])
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ", 1)) for m in model_json["merges"]]
    if len(vocab) > base_size:  # guard only: base_size >= 256 (the alphabet) and the trainer stops there
        raise RuntimeError(f"trained vocabulary has {len(vocab)} tokens, more than the {base_size} asked for")
    fillers = _filler_tokens()
    while len(vocab) < base_size:
        token = next(fillers)
        if token not in vocab:
            vocab[token] = len(vocab)

    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizer()
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in LLAMA3_SPECIAL_TOKENS])
    tok.post_processor = processors.Sequence(
        [
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(
                single=f"{BOS_TOKEN} $A",
                pair=f"{BOS_TOKEN} $A:0 {BOS_TOKEN}:1 $B:1",
                special_tokens=[(BOS_TOKEN, ids[BOS_TOKEN])],
            ),
        ]
    )
    if tok.get_vocab_size() != vocab_size or tok.token_to_id(BOS_TOKEN) != ids[BOS_TOKEN]:
        raise RuntimeError(
            f"tokenizer came out with {tok.get_vocab_size()} ids and bos at {tok.token_to_id(BOS_TOKEN)}, "
            f"expected {vocab_size} and {ids[BOS_TOKEN]}"
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        chat_template=LLAMA3_CHAT_TEMPLATE,
        model_max_length=model_max_length,
        clean_up_tokenization_spaces=False,
    )


def _patch_tokenizer_config(directory: Path) -> None:
    """Make the saved tokenizer loadable by transformers 4 readers too (vLLM may bundle one).

    transformers 5 names its class `TokenizersBackend` and keeps the template in `chat_template.jinja`;
    Llama 3.2 itself ships `PreTrainedTokenizerFast` with the template inside tokenizer_config.json, which
    both major versions read.
    """
    path = directory / "tokenizer_config.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["tokenizer_class"] = "PreTrainedTokenizerFast"
    data.setdefault("chat_template", LLAMA3_CHAT_TEMPLATE)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _patch_model_config(directory: Path, arch: Architecture, dtype: str) -> None:
    """Add the transformers-4 spellings (`rope_theta`, `rope_scaling`, `torch_dtype`) to config.json.

    transformers 5 writes `rope_parameters` and `dtype` only; readers on transformers 4 (a vLLM image, for
    one) would silently fall back to RoPE theta 10000 without the old keys. transformers 5 accepts both.
    """
    path = directory / "config.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["rope_theta"] = arch.rope_theta
    data["rope_scaling"] = dict(arch.rope_scaling) if arch.rope_scaling else None
    data["torch_dtype"] = dtype
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------------------


def build_model(
    arch: str | Architecture,
    out_dir: Path,
    *,
    seed: int = 0,
    dtype: str = "bfloat16",
    tokenizer_corpus: Iterable[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Build a random-init model of `arch` with its tokenizer into `out_dir`, offline.

    Weights are initialised by transformers' own initialiser, directly in `dtype` (no float32 copy, so
    the 3B model needs about 6.4 GB of RAM in bfloat16), under `seed` without disturbing the caller's
    global RNG. The directory is assembled as `<out_dir>.partial` and renamed into place when complete;
    a stale `.partial` from an earlier crash is removed first, and a failed build removes its own.

    Args:
        arch: A key of `ARCHITECTURES` ("tiny", "1b", "3b") or an `Architecture`.
        out_dir: The model directory to create; it must not exist yet. Its parent is created if needed.
        seed: Seed for the weight initialisation.
        dtype: Storage dtype of the weights: "bfloat16", "float16" or "float32".
        tokenizer_corpus: Tokenizer training text; None uses `default_corpus()`.
        progress: Receives short human messages as the build proceeds.

    Returns:
        `out_dir`, holding config.json, model.safetensors, the tokenizer files, generation_config.json
        and workbench_model.json.

    Raises:
        ValueError: Unknown architecture or dtype.
        FileExistsError: `out_dir` already exists.
    """
    architecture = resolve_architecture(arch)
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; fix: use one of {', '.join(DTYPES)}")
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise FileExistsError(f"{out_dir} already exists; fix: delete it to rebuild, or load it as it is")
    say = progress or (lambda _message: None)
    partial = out_dir.with_name(out_dir.name + PARTIAL_SUFFIX)
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    try:
        _build_into(architecture, partial, seed=seed, dtype=dtype, corpus=tokenizer_corpus, say=say)
        partial.rename(out_dir)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    say(f"done: {out_dir}")
    return out_dir


def _build_into(
    arch: Architecture,
    directory: Path,
    *,
    seed: int,
    dtype: str,
    corpus: Iterable[str] | None,
    say: Callable[[str], None],
) -> None:
    """Write every file of the model directory into `directory` (the `.partial` one)."""
    import tokenizers
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, GenerationConfig, LlamaConfig

    say("training tokenizer")
    corpus_kind = "custom" if corpus is not None else ("builtin+sample" if _sample_corpus() else "builtin")
    tokenizer = build_tokenizer(arch.vocab_size, corpus, model_max_length=arch.max_position_embeddings)
    ids = special_token_ids(arch.vocab_size)
    eos_ids = [ids[t] for t in GENERATION_EOS_TOKENS]

    config = LlamaConfig(
        vocab_size=arch.vocab_size,
        hidden_size=arch.hidden_size,
        intermediate_size=arch.intermediate_size,
        num_hidden_layers=arch.num_hidden_layers,
        num_attention_heads=arch.num_attention_heads,
        num_key_value_heads=arch.num_key_value_heads,
        head_dim=arch.head_dim,
        hidden_act="silu",
        max_position_embeddings=arch.max_position_embeddings,
        initializer_range=0.02,
        rms_norm_eps=arch.rms_norm_eps,
        tie_word_embeddings=arch.tie_word_embeddings,
        rope_parameters=arch.rope_parameters(),
        attention_bias=False,
        mlp_bias=False,
        bos_token_id=ids[BOS_TOKEN],
        eos_token_id=eos_ids,
        dtype=dtype,
    )

    say(f"initialising weights ({arch.parameter_count():,} parameters, {dtype})")
    torch_dtype = getattr(torch, dtype)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config, dtype=torch_dtype)
    model.eval()
    parameters = sum(p.numel() for p in model.parameters())
    model.generation_config = GenerationConfig(
        bos_token_id=ids[BOS_TOKEN],
        eos_token_id=eos_ids,
        pad_token_id=ids[PAD_TOKEN],
        do_sample=True,
        temperature=0.6,
        top_p=0.9,
    )

    say("saving")
    model.save_pretrained(directory, max_shard_size="100GB")
    del model
    _patch_model_config(directory, arch, dtype)
    tokenizer.save_pretrained(directory)
    _patch_tokenizer_config(directory)
    manifest = {
        "architecture": arch.name,
        "parameters": parameters,
        "seed": seed,
        "vocab_size": arch.vocab_size,
        "dtype": dtype,
        "tokenizer_corpus": corpus_kind,
        "built_with": {
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "tokenizers": tokenizers.__version__,
        },
    }
    (directory / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")

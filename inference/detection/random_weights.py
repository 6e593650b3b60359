"""Detectors with random weights: demo mode, tests and benchmarks run the real architecture with a
tokenizer over a vocabulary generated in memory (nothing downloaded)."""

from __future__ import annotations

import logging
import string
from typing import Any

import torch
from transformers import (
    BertConfig,
    BertTokenizer,
    GroundingDinoConfig,
    GroundingDinoImageProcessor,
    MMGroundingDinoConfig,
    SwinConfig,
)

from inference.choices import DEFAULT_DETECTOR
from inference.detection.detector import (
    BERT_DELIMITER_IDS,
    DELIMITER_TOKENS,
    RANDOM_WARNING,
    Detector,
    DetectorSettings,
)
from inference.detection.kinds import detector_kind

log = logging.getLogger(__name__)


def build_random_detector(
    device: torch.device,
    settings: DetectorSettings | None = None,
    *,
    seed: int = 0,
    tiny: bool = False,
    runtime: str = "torch",
) -> Detector:
    """The architecture `settings.model` names (default Grounding DINO) with random weights,
    for load tests and tests.

    Full size (the config class's defaults: Swin-T + BERT-base, 900 queries) by default;
    `tiny=True` builds a very small configuration of the same classes for unit tests. The
    tokenizer is a BERT WordPiece tokenizer over a generated vocabulary (`generated_vocabulary()`).
    Weights depend only on `seed`; the global torch RNG is left as it was.
    """
    kind = detector_kind((settings or DetectorSettings()).model)
    vocab = generated_vocabulary()
    config = tiny_config(len(vocab), kind.name) if tiny else full_config(kind.name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        build: Any = kind.model_class  # its config class matches `config` (DetectorKind)
        model = build(config)
    tokenizer = BertTokenizer(vocab=vocab, do_lower_case=True)
    image_processor = GroundingDinoImageProcessor()
    name = f"{kind.name}-test" if tiny else kind.name
    log.warning("detector %s: %s (seed %d)", name, RANDOM_WARNING, seed)
    return Detector(
        model,
        tokenizer,
        image_processor,
        device,
        settings,
        weights="random",
        name=name,
        runtime=runtime,
    )


def full_config(
    detector: str = DEFAULT_DETECTOR,
) -> GroundingDinoConfig | MMGroundingDinoConfig:
    """The published architecture of `detector` (Swin-T backbone, BERT-base text, 900 queries;
    both tiny detectors use their config class's defaults)."""
    return detector_kind(detector).config_class()


def tiny_config(
    vocab_size: int, detector: str = DEFAULT_DETECTOR
) -> GroundingDinoConfig | MMGroundingDinoConfig:
    """A ~0.9 M-parameter model of `detector`'s classes (a forward at 200 px ≪ 1 s)."""
    swin: dict[str, Any] = {  # a dict: SwinConfig's typed signature hides `out_indices`
        "embed_dim": 24,
        "depths": [1, 1, 1, 1],
        "num_heads": [1, 2, 3, 6],
        "window_size": 7,
        "out_indices": [2, 3, 4],
    }
    backbone = SwinConfig(**swin)
    text = BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=256,
    )
    return detector_kind(detector).config_class(
        backbone_config=backbone,
        text_config=text,
        num_queries=30,
        d_model=32,
        encoder_layers=1,
        decoder_layers=2,  # 1 breaks transformers' tied bbox_embed keys
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        encoder_n_points=2,
        decoder_n_points=2,
    )


# English object words a child might name: all COCO class names and everyday things.
COCO_CLASSES = (
    "person, bicycle, car, motorcycle, airplane, bus, train, truck, boat, traffic light, "
    "fire hydrant, stop sign, parking meter, bench, bird, cat, dog, horse, sheep, cow, elephant, "
    "bear, zebra, giraffe, backpack, umbrella, handbag, tie, suitcase, frisbee, skis, snowboard, "
    "sports ball, kite, baseball bat, baseball glove, skateboard, surfboard, tennis racket, "
    "bottle, wine glass, cup, fork, knife, spoon, bowl, banana, apple, sandwich, orange, "
    "broccoli, carrot, hot dog, pizza, donut, cake, chair, couch, potted plant, bed, "
    "dining table, toilet, tv, laptop, mouse, remote, keyboard, cell phone, microwave, oven, "
    "toaster, sink, refrigerator, book, clock, vase, scissors, teddy bear, hair drier, toothbrush"
)
EVERYDAY_WORDS = (
    "a an the and of with on in my your this that is it what who where thing things object "
    "cats dogs cups toy toys ball balls block blocks doll car cars duck fish rabbit bunny mouse "
    "lion tiger monkey pig chicken frog turtle snake owl penguin butterfly bee spider animal "
    "animals fruit fruits pear grape grapes strawberry lemon peach cherry melon watermelon "
    "tomato potato egg bread cookie cheese milk juice water glass mug plate table desk door "
    "window wall floor lamp light pen pencil crayon crayons paper box bag hat cap shoe shoes "
    "sock shirt coat jacket dress glasses phone tablet computer screen television camera "
    "plant flower flowers tree leaf leaves grass sun moon star sky cloud rocket astronaut "
    "coffee tea spoon bowl bucket shovel sand hand face eye eyes nose mouth hair head foot "
    "baby boy girl man woman child children teacher mom dad family friend red blue green "
    "yellow black white pink purple brown big small little one two three four five"
)


def generated_vocabulary() -> dict[str, int]:
    """A BERT-uncased-style WordPiece vocabulary, token → id, generated in memory.

    Layout follows bert-base-uncased where Grounding DINO depends on it: [PAD] 0, [UNK] 100,
    [CLS] 101, [SEP] 102, [MASK] 103, ASCII punctuation from id 999 (so "." is 1012 and "?" is
    1029), then single characters, "##" word pieces for letters and digits, and whole words.
    """
    tokens = ["[PAD]", *(f"[unused{i}]" for i in range(99))]
    tokens += ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokens += [f"[unused{i}]" for i in range(99, 99 + 999 - len(tokens))]
    singles = [chr(c) for c in range(0x21, 0x7F) if not chr(c).isupper()]
    tokens += singles
    tokens += [f"##{ch}" for ch in string.ascii_lowercase + string.digits]
    words = COCO_CLASSES.replace(",", " ").split() + EVERYDAY_WORDS.split()
    tokens += [word for word in dict.fromkeys(words) if word not in singles]
    vocab = {token: i for i, token in enumerate(tokens)}
    assert tuple(vocab[t] for t in DELIMITER_TOKENS) == BERT_DELIMITER_IDS
    return vocab

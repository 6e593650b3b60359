"""The caption's side of Grounding DINO, computed once per vocabulary and reused on every frame:
token embeddings, masks, position embeddings and the encoder's attention bias."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from transformers.models.grounding_dino.modeling_grounding_dino import (
    encode_sinusoidal_position_embedding,
    generate_masks_with_special_tokens_and_transfer_map,
)


@dataclass(frozen=True)
class TextSide:
    """Everything the image side needs from one caption (batch 1; expand to B when used).

    features:           (1, T, D) float, BERT's last hidden state through `text_projection`
    padding:            (1, T) bool, True for padding tokens (none for our captions)
    position_embedding: (1, T, D) float, sine embedding of the phrase position ids
    enhancer_bias:      (1, 1, T, T) float, 0 where token i may attend token j (same phrase or
                        itself), the dtype's minimum elsewhere (the text enhancer's additive mask)
    """

    features: torch.Tensor
    padding: torch.Tensor
    position_embedding: torch.Tensor
    enhancer_bias: torch.Tensor

    @property
    def token_count(self) -> int:
        return int(self.features.shape[1])

    def expand(self, batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The four tensors with batch size `batch` (views, no copies), in forward's order."""
        return (
            self.features.expand(batch, -1, -1),
            self.padding.expand(batch, -1),
            self.position_embedding.expand(batch, -1, -1),
            self.enhancer_bias.expand(batch, -1, -1, -1),
        )


@torch.inference_mode()
def compute_text_side(
    detection_model: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    token_type_ids: torch.Tensor,
) -> TextSide:
    """Run the caption-only part of `GroundingDinoModel.forward` once.

    detection_model: a `GroundingDinoForObjectDetection`
    input_ids, attention_mask, token_type_ids: (1, T) int64 on the model's device, T at most
        `config.max_text_len` (the caller rejects longer captions)
    """
    model: Any = detection_model.model
    config: Any = detection_model.config
    if input_ids.shape[1] > int(config.max_text_len):
        raise ValueError(f"{input_ids.shape[1]} tokens exceed max_text_len {config.max_text_len}")
    ids: Any = input_ids
    phrase_mask, position_ids = generate_masks_with_special_tokens_and_transfer_map(
        ids, special_tokens=model.special_tokens
    )  # (1, T, T) bool, (1, T) int64
    hidden = model.text_backbone(
        input_ids=input_ids,
        attention_mask=phrase_mask[:, None, :, :],
        token_type_ids=token_type_ids,
        position_ids=position_ids,
        return_dict=True,
    ).last_hidden_state
    features = model.text_projection(hidden)  # (1, T, D)
    dtype = features.dtype
    position_embedding = encode_sinusoidal_position_embedding(
        position_ids[..., None].to(dtype), num_pos_feats=int(config.d_model)
    )
    enhancer_bias = (1.0 - phrase_mask[:, None, :, :].to(dtype)) * torch.finfo(dtype).min
    return TextSide(
        features=features.clone(),
        padding=~attention_mask.bool(),
        position_embedding=position_embedding.clone(),
        enhancer_bias=enhancer_bias.clone(),
    )

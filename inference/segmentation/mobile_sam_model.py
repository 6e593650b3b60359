"""MobileSAM built at any encoder size: plain `nn.Module` code and a builder registry.

The stock TinyViT in `mobile_sam` hard-codes a 64×64 token grid in `forward_features`, which only
fits 1024-pixel inputs. `ResizableTinyViT` derives the grid from its own `img_size`, so the same
weights (the 1024 checkpoint loads strictly) run at 512 — about 6× cheaper on CPU.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch

with warnings.catch_warnings():
    # mobile_sam imports timm through deprecated paths and re-registers TinyViT names: harmless.
    warnings.simplefilter("ignore")
    from mobile_sam.modeling import MaskDecoder, PromptEncoder, Sam, TinyViT, TwoWayTransformer

# TinyViT reduces the input 16× (patch embed 4×, then two 2× merges) before its neck.
ENCODER_STRIDE = 16
PROMPT_EMBED_DIM = 256
SIZE_STEP = 64  # windowed attention and the 16× stride need sizes that divide evenly
MIN_SIZE, MAX_SIZE = 256, 2048


class ResizableTinyViT(TinyViT):
    """TinyViT whose output grid follows `img_size` instead of a fixed 64×64."""

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) normalised image → (B, 256, S/16, S/16) embedding."""
        x = self.patch_embed(x)
        for layer in self.layers:
            x = layer(x)
        batch, _, channels = x.shape
        side = self.img_size // ENCODER_STRIDE
        x = x.view(batch, side, side, channels).permute(0, 3, 1, 2)
        out: torch.Tensor = self.neck(x)
        return out


def check_image_size(image_size: int) -> int:
    if not isinstance(image_size, int) or isinstance(image_size, bool):
        raise ValueError(f"segmenter size must be an integer, got {image_size!r}")
    if image_size % SIZE_STEP or not MIN_SIZE <= image_size <= MAX_SIZE:
        raise ValueError(
            f"segmenter size {image_size} is not supported: use a multiple of {SIZE_STEP} "
            f"between {MIN_SIZE} and {MAX_SIZE} (512 and 1024 are the tested ones)"
        )
    return image_size


def build_mobile_sam_vit_t(image_size: int = 1024) -> Sam:
    """MobileSAM (TinyViT-5M encoder, SAM prompt encoder and mask decoder), random weights.

    `image_size` S: the encoder input is (B, 3, S, S), the embedding (B, 256, S/16, S/16) and the
    decoder's low-resolution masks (B, k, S/4, S/4).
    """
    image_size = check_image_size(image_size)
    grid = image_size // ENCODER_STRIDE
    sam = Sam(
        image_encoder=ResizableTinyViT(
            img_size=image_size,
            in_chans=3,
            num_classes=1000,
            embed_dims=[64, 128, 160, 320],
            depths=[2, 2, 6, 2],
            num_heads=[2, 4, 5, 10],
            window_sizes=[7, 7, 14, 7],
            mlp_ratio=4.0,
            drop_rate=0.0,
            drop_path_rate=0.0,
            use_checkpoint=False,
            mbconv_expand_ratio=4.0,
            local_conv_size=3,
            layer_lr_decay=0.8,
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=PROMPT_EMBED_DIM,
            image_embedding_size=(grid, grid),
            input_image_size=(image_size, image_size),
            mask_in_chans=16,
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(
                depth=2, embedding_dim=PROMPT_EMBED_DIM, mlp_dim=2048, num_heads=8
            ),
            transformer_dim=PROMPT_EMBED_DIM,
            iou_head_depth=3,
            iou_head_hidden_dim=256,
        ),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    )
    return sam.eval()


SEGMENTER_BUILDERS: dict[str, Callable[[int], Sam]] = {
    "mobile_sam_vit_t": build_mobile_sam_vit_t,
}

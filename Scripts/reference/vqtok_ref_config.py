"""config.json for the PyTorch reference (``vqtok_ref``): the schema of Models/README.md as
dataclasses, read, validated and written the way the Swift side's ``ModelConfig`` reads them.
Import it through ``vqtok_ref``, which re-exports every name here."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import List, Optional

SCHEMA_VERSION = 1
FAMILIES = ("taming", "vqgan_lc", "llamagen", "gsq")
QUANTIZER_KINDS = ("l2", "projected_l2", "cosine", "grouped_spherical")
PLACEMENTS = ("resolution", "lowest_level", "downsample_factor")


# --------------------------------------------------------------------------------------------
# config.json
# --------------------------------------------------------------------------------------------

@dataclass
class EncoderDecoderConfig:
    ch: int
    ch_mult: List[int]
    attn_resolutions: List[int]
    resolution: int
    z_channels: int
    num_res_blocks: Optional[int] = None        # taming, vqgan_lc, llamagen (required there)
    in_channels: int = 3
    out_channels: int = 3
    attention_placement: str = "resolution"
    norm_groups: int = 32
    norm_eps: float = 1e-6
    # gsq only: res blocks per level then the middle (len(ch_mult) + 1 each, upstream's
    # encoder_layer_configs / decoder_layer_configs), mid_block_attn, use_adaptive_norm,
    # use_learnable_up_down_sample
    encoder_blocks: Optional[List[int]] = None
    decoder_blocks: Optional[List[int]] = None
    mid_attention: Optional[bool] = None
    adaptive_norm: Optional[bool] = None
    depth_to_space: Optional[bool] = None


@dataclass
class QuantizerConfig:
    kind: str
    codebook_size: int
    embed_dim: int
    frozen_codebook_dim: Optional[int] = None
    groups: Optional[int] = None                # grouped_spherical: G codes per position


@dataclass
class PreprocessingConfig:
    resolution: int
    interpolation: str = "bilinear"
    shortest_side: Optional[int] = None     # resize the shortest side to this before the crop
    center_crop: Optional[str] = None       # "shortest_side" (default) or "adm" (LlamaGen's center_crop_arr)


@dataclass
class ModelConfig:
    name: str
    family: str
    encoder_decoder: EncoderDecoderConfig
    quantizer: QuantizerConfig
    preprocessing: PreprocessingConfig
    schema_version: int = SCHEMA_VERSION

    @staticmethod
    def from_dict(d: dict) -> "ModelConfig":
        if d.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"config.json: schema_version {d.get('schema_version')!r}, expected {SCHEMA_VERSION}")
        cfg = ModelConfig(
            name=d["name"], family=d["family"],
            encoder_decoder=EncoderDecoderConfig(**d["encoder_decoder"]),
            quantizer=QuantizerConfig(**d["quantizer"]),
            preprocessing=PreprocessingConfig(**d["preprocessing"]),
            schema_version=d["schema_version"])
        cfg.validate()
        return cfg

    @staticmethod
    def load(path: str) -> "ModelConfig":
        with open(path) as f:
            return ModelConfig.from_dict(json.load(f))

    def to_dict(self) -> dict:
        q = {"kind": self.quantizer.kind, "codebook_size": self.quantizer.codebook_size,
             "embed_dim": self.quantizer.embed_dim}
        if self.quantizer.kind == "projected_l2":
            q["frozen_codebook_dim"] = self.quantizer.frozen_codebook_dim
        if self.quantizer.groups is not None:
            q["groups"] = self.quantizer.groups
        ed = self.encoder_decoder
        # Optional keys are written only when set, so the other families' files do not change.
        e = {"ch": ed.ch, "ch_mult": list(ed.ch_mult)}
        if ed.num_res_blocks is not None:
            e["num_res_blocks"] = ed.num_res_blocks
        for k in ("encoder_blocks", "decoder_blocks"):
            if getattr(ed, k) is not None:
                e[k] = list(getattr(ed, k))
        e.update({"attn_resolutions": list(ed.attn_resolutions), "resolution": ed.resolution,
                  "z_channels": ed.z_channels, "in_channels": ed.in_channels,
                  "out_channels": ed.out_channels, "attention_placement": ed.attention_placement})
        for k in ("mid_attention", "adaptive_norm", "depth_to_space"):
            if getattr(ed, k) is not None:
                e[k] = getattr(ed, k)
        e.update({"norm_groups": ed.norm_groups, "norm_eps": ed.norm_eps})
        return {
            "schema_version": self.schema_version, "name": self.name, "family": self.family,
            "encoder_decoder": e,
            "quantizer": q,
            "preprocessing": {"resolution": self.preprocessing.resolution,
                              "interpolation": self.preprocessing.interpolation,
                              **({"shortest_side": self.preprocessing.shortest_side}
                                 if self.preprocessing.shortest_side is not None else {}),
                              **({"center_crop": self.preprocessing.center_crop}
                                 if self.preprocessing.center_crop is not None else {})},
        }

    def save(self, path: str) -> None:
        text = json.dumps(self.to_dict(), indent=2)
        # Keep lists of numbers on one line: "ch_mult": [1, 1, 2, 2, 4].
        text = re.sub(r"\[\s*([-0-9.e,\s]*?)\s*\]",
                      lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",") if x.strip()) + "]", text)
        with open(path, "w") as f:
            f.write(text + "\n")

    def validate(self) -> None:
        ed, q = self.encoder_decoder, self.quantizer
        if self.family not in FAMILIES:
            raise ValueError(f"family {self.family!r} not in {FAMILIES}")
        if q.kind not in QUANTIZER_KINDS:
            raise ValueError(f"quantizer.kind {q.kind!r} not in {QUANTIZER_KINDS}")
        if ed.attention_placement not in PLACEMENTS:
            raise ValueError(f"attention_placement {ed.attention_placement!r} not in {PLACEMENTS}")
        if q.kind == "projected_l2" and not q.frozen_codebook_dim:
            raise ValueError("projected_l2 needs quantizer.frozen_codebook_dim")
        if (self.family == "gsq") != (q.kind == "grouped_spherical"):
            raise ValueError(f"family {self.family!r} with quantizer.kind {q.kind!r}: gsq goes "
                             "with grouped_spherical and only with it")
        if self.family == "gsq":
            self._validate_gsq()
        elif ed.num_res_blocks is None:
            raise ValueError(f"family {self.family!r} needs encoder_decoder.num_res_blocks")
        for m in ed.ch_mult:
            if (ed.ch * m) % ed.norm_groups:
                raise ValueError(f"channels {ed.ch * m} not divisible by norm_groups {ed.norm_groups}")
        if self.preprocessing.interpolation not in ("bilinear", "bicubic"):
            raise ValueError(f"interpolation {self.preprocessing.interpolation!r}")
        side, res = self.preprocessing.shortest_side, self.preprocessing.resolution
        if side is not None and not res <= side <= 16 * res:
            raise ValueError(f"preprocessing.shortest_side {side} must be from resolution {res} to 16 times it")
        if self.preprocessing.center_crop not in (None, "shortest_side", "adm"):
            raise ValueError(f"preprocessing.center_crop {self.preprocessing.center_crop!r}")
        if self.preprocessing.center_crop == "adm" and (self.preprocessing.interpolation != "bicubic" or side is not None):
            raise ValueError("preprocessing.center_crop adm needs interpolation bicubic and no shortest_side")

    def _validate_gsq(self) -> None:
        ed, q = self.encoder_decoder, self.quantizer
        levels = len(ed.ch_mult)
        for k in ("encoder_blocks", "decoder_blocks"):
            v = getattr(ed, k)
            if v is None or len(v) != levels + 1:
                raise ValueError(f"gsq needs encoder_decoder.{k} with {levels + 1} entries")
        for k in ("mid_attention", "adaptive_norm", "depth_to_space"):
            if not isinstance(getattr(ed, k), bool):
                raise ValueError(f"gsq needs encoder_decoder.{k} (true or false)")
        if ed.attention_placement != "downsample_factor":
            raise ValueError("gsq needs attention_placement downsample_factor")
        if not q.groups or q.embed_dim % q.groups:
            raise ValueError(f"grouped_spherical: embed_dim {q.embed_dim} not divisible by groups {q.groups}")
        if q.embed_dim != ed.z_channels:
            raise ValueError(f"gsq has no quant_conv: embed_dim {q.embed_dim} must equal z_channels {ed.z_channels}")

    @property
    def downsample_factor(self) -> int:
        return 2 ** (len(self.encoder_decoder.ch_mult) - 1)
